/**
 * FILE_CHECK: keepalived's reading of a track file (strtol base 0, range
 * rules), the state a value gives a checker for each weight / reverse, and
 * the engine driving real servers from a real file written, rewritten and
 * removed while it runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CheckEngine, type EngineWarning } from '../../src/check/engine.js';
import { fileCheckState, parseTrackFileValue, WEIGHT_FAULT } from '../../src/check/file-check.js';
import { CheckScheduler, type ServerStateAction, type WeightAction } from '../../src/check/scheduler.js';
import type { CheckPlan, FileTarget } from '../../src/check/types.js';
import { testPlan } from '../helpers/check-plan.js';

describe('track file values (keepalived process_track_file: strtol base 0)', () => {
  it('reads what strtol reads', () => {
    const cases: Array<[string, number | undefined]> = [
      ['5\n', 5],
      ['  -3 apples', -3],
      ['+7', 7],
      ['0x10', 16],
      ['0X1f\n', 31],
      ['010', 8],
      ['0', 0],
      ['0x', 0],
      ['09', 0],
      ['abc', 0],
      ['', 0],
      ['\n\t 12abc', 12],
      ['2147483648', 2147483648],
      ['-2147483648', -2147483648],
      ['2147483649', undefined],
      ['-2147483649', undefined],
      ['99999999999999999999999', undefined],
      [`${' '.repeat(130)}5`, 0],
    ];
    for (const [text, want] of cases) assert.equal(parseTrackFileValue(text), want, JSON.stringify(text));
  });

  it('turns a value into the checker state for each weight and reverse', () => {
    const st = (v: number, w: number, rev = false) => {
      const s = fileCheckState(v, w, rev);
      return s.up ? s.weightDelta : 'down';
    };
    // weight 0: non-zero is down (zero with reverse).
    assert.equal(st(0, 0), 0);
    assert.equal(st(3, 0), 'down');
    assert.equal(st(-1, 0), 'down');
    assert.equal(st(0, 0, true), 'down');
    assert.equal(st(3, 0, true), 0);
    // weight w: value x w (x -1 reverse) is added; only -2^31 is down.
    assert.equal(st(5, 2), 10);
    assert.equal(st(5, 2, true), -10);
    assert.equal(st(-100, 1), -100);
    assert.equal(st(-(2 ** 30), 2), 'down');
    assert.equal(st(2 ** 30, 3), 2 ** 31 - 1);
    assert.equal(st(2 ** 31, -1), 'down');
    assert.equal(fileCheckState(-(2 ** 31), 1, false).status, WEIGHT_FAULT);
  });
});

describe('FILE_CHECK in the scheduler (passive: set from outside, never started)', () => {
  it('goes down with the weight reset, and comes back weight first, then up; other checkers still count', () => {
    const s = new CheckScheduler(
      [
        {
          key: 'vs',
          omega: false,
          realServers: [
            {
              key: 'rs',
              weight: 1,
              checkers: [
                {
                  id: 'file',
                  type: 'FILE_CHECK',
                  timing: { delayLoopMs: 0, delayBeforeRetryMs: 0, retry: 0, warmupMs: 0, alpha: true },
                },
                {
                  id: 'tcp',
                  type: 'TCP_CHECK',
                  timing: { delayLoopMs: 1000, delayBeforeRetryMs: 100, retry: 0, warmupMs: 0, alpha: false },
                },
              ],
            },
          ],
        },
      ],
      { bootstrapDelayMs: 0 },
    );
    assert.deepEqual(s.setPassive('file', true, 3, 'before start'), [], 'before start: silent');
    const start = s.start(0);
    // alpha is ignored for FILE_CHECK; its weight is announced at start; only the TCP checker is started.
    assert.deepEqual(
      start.map((a) => [
        a.type,
        'checkerId' in a ? a.checkerId : '',
        'up' in a ? a.up : '',
        'weight' in a ? a.weight : '',
      ]),
      [
        ['server-state-changed', '', true, ''],
        ['weight-changed', 'file', '', 4],
        ['start-check', 'tcp', '', ''],
      ],
    );
    const down = s.setPassive('file', false, 0, 'track_file f value 1: down');
    assert.deepEqual(
      down.map((a) => [a.type, 'weight' in a ? a.weight : 'up' in a ? a.up : '']),
      [
        ['checker-state-changed', false],
        ['weight-changed', 1],
        ['server-state-changed', false],
      ],
    );
    const up = s.setPassive('file', true, -1, 'track_file f value -1: weight -1');
    assert.deepEqual(
      up.map((a) => [a.type, 'weight' in a ? a.weight : 'up' in a ? a.up : '']),
      [
        ['weight-changed', 0],
        ['checker-state-changed', true],
        ['server-state-changed', true],
      ],
    );
    assert.deepEqual(s.setPassive('tcp', false, 0, 'not passive'), [], 'only FILE_CHECK is set from outside');
    s.complete('tcp', 1, { ok: false, reason: 'connection refused' }, 5);
    assert.equal(
      s.setPassive('file', true, 7, 'value 7').some((a) => a.type === 'server-state-changed'),
      false,
    );
    assert.deepEqual(s.serverSnapshot()[0], { vs: 'vs', rs: 'rs', up: false, weight: 8, failedCheckers: 1 });
  });
});

describe('FILE_CHECK in the engine, with a real file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-file-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fileChecker = (id: string, target: Omit<FileTarget, 'type' | 'name'>) => ({
    key: id,
    timing: { delayLoopMs: 0, delayBeforeRetryMs: 0, retry: 0, warmupMs: 0, alpha: false },
    target: { type: 'FILE_CHECK' as const, name: id, ...target },
  });

  /** Resolves when `pred` holds for the collected events (the watcher is asynchronous). */
  function until<T>(list: T[], pred: (l: T[]) => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const give = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(list)}`)),
        5000,
      );
      const poll = setInterval(() => {
        if (pred(list)) {
          clearTimeout(give);
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
  }

  it('sets weights and states from the file at start and on every change; a removed file counts as 0', async () => {
    const drain = join(dir, 'drain');
    const gate = join(dir, 'gate');
    writeFileSync(drain, '-5\n');
    writeFileSync(gate, '1\n');
    const plan: CheckPlan = testPlan({
      virtualServers: [
        {
          key: 'vs',
          omega: false,
          realServers: [
            // weight 1: the value is added to the configured weight 10.
            {
              key: 'weighted',
              weight: 10,
              checkers: [fileChecker('weighted#0', { path: drain, weight: 1, reverse: false })],
            },
            // weight 0: a non-zero value takes the server out.
            {
              key: 'gated',
              weight: 1,
              checkers: [fileChecker('gated#0', { path: gate, weight: 0, reverse: false })],
            },
            // the same file, reversed: a zero value takes it out.
            {
              key: 'inverse',
              weight: 1,
              checkers: [fileChecker('inverse#0', { path: gate, weight: 0, reverse: true })],
            },
          ],
        },
      ],
    });
    const engine = new CheckEngine(plan, { fileSettleMs: 10 });
    const servers: ServerStateAction[] = [];
    const weights: WeightAction[] = [];
    engine.on('server', (a) => servers.push(a));
    engine.on('weight', (a) => weights.push(a));
    engine.start();
    // Initial states and weights come from the file contents at start.
    assert.deepEqual(
      servers.map((s) => [s.rs, s.up]),
      [
        ['weighted', true],
        ['gated', false],
        ['inverse', true],
      ],
    );
    assert.deepEqual(
      weights.map((w) => [w.rs, w.weight, w.previous]),
      [['weighted', 5, 10]],
    );
    assert.deepEqual(
      engine.servers().map((s) => [s.rs, s.up, s.weight]),
      [
        ['weighted', true, 5],
        ['gated', false, 1],
        ['inverse', true, 1],
      ],
    );

    writeFileSync(drain, '-20\n');
    await until(weights, (l) => l.length === 2, 'the -20 weight');
    assert.deepEqual(weights[1], {
      type: 'weight-changed',
      vs: 'vs',
      rs: 'weighted',
      weight: -10,
      previous: 5,
      checkerId: 'weighted#0',
    });

    writeFileSync(gate, '0\n');
    await until(servers, (l) => l.length === 5, 'gate 0');
    assert.deepEqual(
      servers.slice(3).map((s) => [s.rs, s.up, s.reason]),
      [
        ['gated', true, 'track_file gated#0 value 0'],
        ['inverse', false, 'track_file inverse#0 value 0: down'],
      ],
    );

    // Replaced by rename (how tools update files atomically), then removed: 0 again.
    writeFileSync(join(dir, 'gate.tmp'), '7\n');
    renameSync(join(dir, 'gate.tmp'), gate);
    await until(servers, (l) => l.length === 7, 'gate 7');
    assert.deepEqual(
      servers.slice(5).map((s) => [s.rs, s.up]),
      [
        ['gated', false],
        ['inverse', true],
      ],
    );
    rmSync(gate);
    await until(servers, (l) => l.length === 9, 'gate removed');
    assert.deepEqual(
      servers.slice(7).map((s) => [s.rs, s.up]),
      [
        ['gated', true],
        ['inverse', false],
      ],
    );

    // An invalid number is ignored (the last value stays) and reported.
    const warnings: EngineWarning[] = [];
    engine.on('warning', (w) => warnings.push(w));
    writeFileSync(drain, '99999999999\n');
    await until(warnings, (l) => l.length === 1, 'the invalid number warning');
    assert.match(warnings[0].message, /invalid number read from .*drain - ignoring \(value stays -20\)/);
    assert.equal(engine.servers()[0].weight, -10);

    await engine.stop();
    writeFileSync(drain, '1\n');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(weights.length, 2, 'no events after stop');
  });

  it('init_file creates a missing file (and overwrites only with overwrite, never on reload)', async () => {
    const created = join(dir, 'created');
    const kept = join(dir, 'kept');
    const overwritten = join(dir, 'overwritten');
    writeFileSync(kept, '4\n');
    writeFileSync(overwritten, '4\n');
    const plan = (reload: boolean) =>
      new CheckEngine(
        testPlan({
          virtualServers: [
            {
              key: 'vs',
              omega: false,
              realServers: [
                {
                  key: 'a',
                  weight: 1,
                  checkers: [
                    fileChecker('a#0', {
                      path: created,
                      weight: 1,
                      reverse: false,
                      initFile: { value: 2, overwrite: false },
                    }),
                    fileChecker('a#1', {
                      path: kept,
                      weight: 1,
                      reverse: false,
                      initFile: { value: 2, overwrite: false },
                    }),
                    fileChecker('a#2', {
                      path: overwritten,
                      weight: 1,
                      reverse: false,
                      initFile: { value: 2, overwrite: true },
                    }),
                  ],
                },
              ],
            },
          ],
        }),
        { reload },
      );
    const reloaded = plan(true);
    reloaded.start();
    await reloaded.stop();
    assert.equal(readFileSync(created, 'utf8'), '2\n');
    assert.equal(readFileSync(overwritten, 'utf8'), '4\n', 'not overwritten on reload');
    const fresh = plan(false);
    fresh.start();
    assert.equal(readFileSync(kept, 'utf8'), '4\n');
    assert.equal(readFileSync(overwritten, 'utf8'), '2\n');
    // 1 + 2 + 4 + 2
    assert.equal(fresh.servers()[0].weight, 9);
    await fresh.stop();
  });
});
