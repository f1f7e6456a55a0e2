/**
 * Hitless reload of the health checks (issue 10): the scheduler's in-place reload against a fake clock
 * (kept checkers keep their state object, schedule and attempt in flight; removed ones leave the queue and
 * their late completions are ignored; new and changed ones start fresh; real-server aggregates stay equal
 * to a recount; events only for real changes), then the engine around it with a fake checker (running
 * attempts of kept checkers go on, those of removed or changed ones are aborted and dropped, FILE_CHECK
 * watches and ha_suspend follow the new plan).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it, mock } from 'node:test';
import fc from 'fast-check';
import type { StartCheck } from '../../src/check/checkers/index.js';
import { type AttemptEvent, CheckEngine, type SuspendEvent } from '../../src/check/engine.js';
import {
  type CheckerSnapshot,
  CheckScheduler,
  type PassiveState,
  type SchedCheckerSpec,
  type SchedulerAction,
  type SchedVirtualServerSpec,
  type ServerStateAction,
  type WeightAction,
} from '../../src/check/scheduler.js';
import type { CheckPlan, CheckResult, CheckTiming, FileTarget } from '../../src/check/types.js';
import { testPlan } from '../helpers/check-plan.js';

const OK: CheckResult = { ok: true, reason: 'connected' };
const REFUSED: CheckResult = { ok: false, reason: 'connection refused' };

function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return { delayLoopMs: 1000, delayBeforeRetryMs: 300, retry: 1, warmupMs: 0, alpha: false, ...over };
}

const tcp = (id: string, over: Partial<CheckTiming> = {}, definition = 'port 80'): SchedCheckerSpec => ({
  id,
  type: 'TCP_CHECK',
  timing: timing(over),
  definition,
});

function vs(key: string, realServers: SchedVirtualServerSpec['realServers'], suspended?: boolean) {
  return { key, omega: false, realServers, ...(suspended !== undefined ? { suspended } : {}) };
}

const copy = <T>(v: T): T => structuredClone(v);

/**
 * A fake-clock driver: starts become completions `duration` later with `result`; everything the
 * scheduler returns is recorded with its time, and the scheduler's structures are audited after each step.
 */
class Driver {
  now = 0;
  readonly starts: Array<{ t: number; id: string; attempt: number; due: number; retry: number }> = [];
  readonly events: Array<SchedulerAction & { t: number }> = [];
  readonly pending: Array<{ at: number; id: string; attempt: number; n: number }> = [];
  private readonly counts = new Map<string, number>();
  /** Sees every batch of actions (the property tests' model). */
  onActions: ((actions: SchedulerAction[]) => void) | undefined;

  constructor(
    readonly sched: CheckScheduler,
    private readonly result: (id: string, n: number) => CheckResult,
    private readonly duration: (id: string, n: number) => number = () => 100,
  ) {}

  handle(actions: SchedulerAction[]): SchedulerAction[] {
    for (const a of actions) {
      if (a.type === 'start-check') {
        const n = (this.counts.get(a.checkerId) ?? 0) + 1;
        this.counts.set(a.checkerId, n);
        this.starts.push({ t: this.now, id: a.checkerId, attempt: a.attempt, due: a.dueAt, retry: a.retry });
        this.pending.push({
          at: this.now + this.duration(a.checkerId, n),
          id: a.checkerId,
          attempt: a.attempt,
          n,
        });
      } else this.events.push({ ...a, t: this.now });
    }
    this.onActions?.(actions);
    assert.deepEqual(this.sched.audit(), [], `audit at ${this.now}`);
    return actions;
  }

  /** Run every deadline and completion up to and including `until`. */
  runUntil(
    until: number,
    onComplete?: (c: { id: string; attempt: number }, actions: SchedulerAction[]) => void,
  ) {
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at);
      const deadline = this.sched.nextDeadline() ?? Number.POSITIVE_INFINITY;
      const next = this.pending[0];
      const t = Math.min(deadline, next ? next.at : Number.POSITIVE_INFINITY);
      if (t > until) break;
      this.now = t;
      if (next && next.at <= deadline) {
        this.pending.shift();
        const actions = this.handle(
          this.sched.complete(next.id, next.attempt, this.result(next.id, next.n), this.now),
        );
        onComplete?.(next, actions);
      } else this.handle(this.sched.poll(this.now));
    }
    this.now = until;
  }
}

const byId = (snap: CheckerSnapshot[]) => new Map(snap.map((c) => [c.id, c]));

describe('scheduler reload: examples', () => {
  it('the identical plan: no action, same state, same schedule', () => {
    const plan = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a'), tcp('b', { delayLoopMs: 700 })] }])];
    const d = new Driver(new CheckScheduler(plan, { random: () => 0, bootstrapDelayMs: 1000 }), (id, n) =>
      id === 'b' && n > 1 ? REFUSED : OK,
    );
    d.handle(d.sched.start(0));
    d.runUntil(2350);
    const checkers = d.sched.checkerSnapshot();
    const servers = d.sched.serverSnapshot();
    const deadline = d.sched.nextDeadline();
    const r = d.sched.reload(copy(plan), d.now);
    assert.deepEqual(r, { actions: [], kept: ['a', 'b'], started: [], stopped: [], restarted: [] });
    assert.deepEqual(d.sched.checkerSnapshot(), checkers);
    assert.deepEqual(d.sched.serverSnapshot(), servers);
    assert.equal(d.sched.nextDeadline(), deadline);
  });

  it('a down real server stays down: its changed checker starts down and brings it up on its first success', () => {
    const before = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a', { retry: 0 })] }])];
    let up = false;
    const d = new Driver(new CheckScheduler(before, { random: () => 0, bootstrapDelayMs: 1000 }), () =>
      up ? OK : REFUSED,
    );
    d.handle(d.sched.start(0));
    d.runUntil(1500);
    assert.equal(d.sched.serverSnapshot()[0].up, false);
    const after = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a', { retry: 0 }, 'port 81')] }])];
    const r = d.sched.reload(after, 1500);
    assert.deepEqual([r.kept, r.started, r.stopped, r.restarted], [[], [], [], ['a']]);
    assert.deepEqual(r.actions, [], 'nothing changed for the real server');
    const a = byId(d.sched.checkerSnapshot()).get('a');
    assert.deepEqual([a?.up, a?.hasRun, a?.inFlight, a?.dueAt], [false, false, false, 2500]);
    up = true;
    d.runUntil(3000);
    assert.deepEqual(
      d.events.filter((e) => e.type === 'server-state-changed').map((e) => [e.t, e.up, e.cause]),
      [
        [0, true, 'initial'],
        [1100, false, 'check'],
        [2600, true, 'check'],
      ],
    );
  });

  it('an up real server: a new or changed checker starts up (one failure enough), even with alpha', () => {
    const before = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a')] }])];
    const d = new Driver(new CheckScheduler(before, { random: () => 0, bootstrapDelayMs: 1000 }), (id) =>
      id === 'b' ? REFUSED : OK,
    );
    d.handle(d.sched.start(0));
    d.runUntil(1500);
    const r = d.sched.reload(
      [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a'), tcp('b', { alpha: true, retry: 3 })] }])],
      1500,
    );
    assert.deepEqual([r.kept, r.started, r.actions], [['a'], ['b'], []]);
    d.runUntil(3000);
    // b's first attempt at 2500 fails: down at once, no retries (keepalived: one failure is enough initially).
    assert.deepEqual(
      d.starts.filter((s) => s.id === 'b').map((s) => s.t),
      [2500],
    );
    assert.deepEqual(
      d.events.filter((e) => e.type === 'server-state-changed').map((e) => [e.t, e.up]),
      [
        [0, true],
        [2600, false],
      ],
    );
  });

  it('a removed checker leaves the queue; its late completion is ignored and its in-flight slot is free', () => {
    const before = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a'), tcp('b')] }])];
    const sched = new CheckScheduler(before, { random: () => 0, bootstrapDelayMs: 0, maxInFlight: 1 });
    const started = sched.start(0).filter((a) => a.type === 'start-check');
    assert.deepEqual(
      started.map((a) => a.checkerId),
      ['a'],
      'the bound holds b back',
    );
    const attempt = started[0].type === 'start-check' ? started[0].attempt : -1;
    const r = sched.reload([vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('b')] }])], 10);
    assert.deepEqual([r.kept, r.stopped], [['b'], ['a']]);
    assert.equal(sched.inFlight, 0);
    assert.deepEqual(sched.audit(), []);
    assert.deepEqual(sched.complete('a', attempt, REFUSED, 50), [], 'the removed checker result is ignored');
    // b was due at 0 and waits for a slot: the next poll starts it (reload itself starts nothing).
    assert.equal(sched.nextDeadline(), 0);
    assert.deepEqual(
      sched.poll(60).map((a) => a.type === 'start-check' && a.checkerId),
      ['b'],
    );
  });

  it('a restarted checker never takes its predecessor result (attempt numbers are not reused)', () => {
    const sched = new CheckScheduler([vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a')] }])], {
      random: () => 0,
      bootstrapDelayMs: 0,
    });
    const [old] = sched.start(0).filter((a) => a.type === 'start-check');
    sched.reload([vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a', {}, 'port 81')] }])], 10);
    const [fresh] = sched.poll(10).filter((a) => a.type === 'start-check');
    assert.ok(old.type === 'start-check' && fresh.type === 'start-check');
    assert.notEqual(fresh.attempt, old.attempt);
    assert.deepEqual(sched.complete('a', old.attempt, REFUSED, 20), []);
    assert.equal(byId(sched.checkerSnapshot()).get('a')?.inFlight, true, 'the new attempt still runs');
  });

  it('a down real server whose failed checker is removed comes up (cause reload)', () => {
    const before = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('ok'), tcp('bad', { retry: 0 })] }])];
    const d = new Driver(new CheckScheduler(before, { random: () => 0, bootstrapDelayMs: 0 }), (id) =>
      id === 'bad' ? REFUSED : OK,
    );
    d.handle(d.sched.start(0));
    d.runUntil(200);
    assert.equal(d.sched.serverSnapshot()[0].up, false);
    const r = d.sched.reload([vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('ok')] }])], 200);
    assert.deepEqual(r.actions, [
      {
        type: 'server-state-changed',
        vs: 'v',
        rs: 'r1',
        up: true,
        cause: 'reload',
        reason: 'reload: no failed checker left',
        notify: true,
      },
    ]);
  });

  it('weights: a configured change is one event; a misc_dynamic weight stays what the script set', () => {
    const misc = (id: string): SchedCheckerSpec => ({ id, type: 'MISC_CHECK', timing: timing({ retry: 0 }) });
    const plan = (w1: number, w2: number) => [
      vs('v', [
        { key: 'plain', weight: w1, checkers: [tcp('a')] },
        { key: 'dyn', weight: w2, checkers: [misc('m')] },
      ]),
    ];
    const d = new Driver(new CheckScheduler(plan(1, 1), { random: () => 0, bootstrapDelayMs: 0 }), (id) =>
      id === 'm' ? { ok: true, reason: 'exit 9', weight: 7 } : OK,
    );
    d.handle(d.sched.start(0));
    d.runUntil(200);
    assert.deepEqual(
      d.sched.serverSnapshot().map((s) => s.weight),
      [1, 7],
    );
    const r = d.sched.reload(plan(3, 5), 200);
    assert.deepEqual(r.actions, [
      { type: 'weight-changed', vs: 'v', rs: 'plain', weight: 3, previous: 1, checkerId: '' },
    ]);
    assert.deepEqual(
      d.sched.serverSnapshot().map((s) => s.weight),
      [3, 7],
    );
  });

  it('new real servers are announced like at start (alpha: down); removed ones go without an event', () => {
    const d = new Driver(
      new CheckScheduler([vs('v', [{ key: 'old', weight: 1, checkers: [tcp('o')] }])], { random: () => 0 }),
      () => OK,
    );
    d.handle(d.sched.start(0));
    const r = d.sched.reload(
      [
        vs('v', [
          { key: 'n1', weight: 1, checkers: [tcp('x')] },
          { key: 'n2', weight: 1, checkers: [tcp('y', { alpha: true })] },
        ]),
      ],
      10,
    );
    assert.deepEqual(
      r.actions.map((a) => a.type === 'server-state-changed' && [a.rs, a.up, a.cause]),
      [
        ['n1', true, 'initial'],
        ['n2', false, 'initial'],
      ],
    );
    assert.deepEqual([r.started, r.stopped], [['x', 'y'], ['o']]);
  });

  it('ha_suspend: a kept virtual server keeps its suspension, a new one takes the spec', () => {
    const sched = new CheckScheduler([vs('kept', [], true)]);
    sched.start(0);
    sched.reload([vs('kept', [], false), vs('new', [], true)], 10);
    assert.equal(sched.isSuspended('kept'), true);
    assert.equal(sched.isSuspended('new'), true);
  });

  it('invalid input throws and changes nothing', () => {
    const plan = [vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('a')] }])];
    const sched = new CheckScheduler(plan, { random: () => 0 });
    sched.start(0);
    const before = sched.checkerSnapshot();
    assert.throws(
      () => sched.reload([vs('v', [{ key: 'r1', weight: 1, checkers: [tcp('b'), tcp('b')] }])], 5),
      /duplicate checker id b/,
    );
    assert.deepEqual(sched.checkerSnapshot(), before);
    assert.deepEqual(sched.audit(), []);
  });
});

/* ---------------------------------------------------------------- properties */

/** A small universe of checker variants; equal variants are identical specs. */
const VARIANTS: Array<Omit<SchedCheckerSpec, 'id'>> = [
  { type: 'TCP_CHECK', timing: timing(), definition: 'p80' },
  { type: 'TCP_CHECK', timing: timing(), definition: 'p81' },
  { type: 'TCP_CHECK', timing: timing({ alpha: true, retry: 2 }), definition: 'p80' },
  { type: 'HTTP_GET', timing: timing({ delayBeforeRetryMs: 500 }), urlCount: 2, definition: 'u' },
  { type: 'HTTP_GET', timing: timing(), urlCount: 1, fastRecovery: true, definition: 'u' },
  { type: 'MISC_CHECK', timing: timing({ delayLoopMs: 700, retry: 0 }), definition: 'script' },
  { type: 'SMTP_CHECK', timing: timing({ delayLoopMs: 1200 }), definition: 'smtp' },
  { type: 'UDP_CHECK', timing: timing({ delayLoopMs: 900, retry: 2, warmupMs: 500 }), definition: 'udp' },
  { type: 'FILE_CHECK', timing: timing(), definition: 'file' },
];

const planArb = fc
  .array(
    fc.record({
      rs: fc.subarray(['r0', 'r1', 'r2']),
      weight: fc.constantFrom(1, 2, 5),
      checkers: fc.array(fc.integer({ min: 0, max: VARIANTS.length - 1 }), { maxLength: 2 }),
    }),
    { minLength: 2, maxLength: 2 },
  )
  .map((perVs) =>
    perVs.map(
      (v, i): SchedVirtualServerSpec => ({
        key: `v${i}`,
        omega: i === 1,
        realServers: v.rs.map((rs) => ({
          key: rs,
          weight: v.weight,
          checkers: v.checkers.map((variant, k) => ({ ...copy(VARIANTS[variant]), id: `v${i}/${rs}#${k}` })),
        })),
      }),
    ),
  );

/** Deterministic pseudo-random integer from a seed and some text. */
function hash(seed: number, text: string): number {
  let h = seed ^ 0x9e3779b9;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return Math.imul(h, 0xc2b2ae35) >>> 0;
}

function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function resultsFor(seed: number) {
  return (id: string, n: number): CheckResult => {
    const h = hash(seed, `${id}@${n}`);
    if (h % 5 < 2) return REFUSED;
    if (id.endsWith('#0') && h % 7 === 0) return { ok: true, reason: 'exit', weight: h % 9 };
    return OK;
  };
}

/** What the actions say about each real server and checker; must equal the snapshots at all times. */
class Model {
  readonly servers = new Map<string, { up: boolean; weight: number }>();
  readonly checkers = new Map<string, boolean>();

  apply(actions: SchedulerAction[]): void {
    for (const a of actions) {
      if (a.type === 'server-state-changed') {
        const k = `${a.vs}|${a.rs}`;
        const m = this.servers.get(k);
        assert.ok(m, `event for unknown server ${k}`);
        assert.notEqual(a.up, m.up, `${k}: a state event that changes nothing`);
        m.up = a.up;
      } else if (a.type === 'weight-changed') {
        const m = this.servers.get(`${a.vs}|${a.rs}`);
        assert.ok(m);
        assert.equal(a.previous, m.weight, 'previous is the weight the events said');
        assert.notEqual(a.weight, a.previous, 'a weight event that changes nothing');
        m.weight = a.weight;
      } else if (a.type === 'checker-state-changed') {
        assert.notEqual(
          this.checkers.get(a.checkerId),
          a.up,
          `${a.checkerId}: a checker event that changes nothing`,
        );
        this.checkers.set(a.checkerId, a.up);
      }
    }
  }

  /**
   * After start / a reload: new servers start from their 'initial' actions, fresh checkers (`fresh`, and
   * any not seen yet) from their snapshot; then the actions apply.
   */
  adopt(
    specs: SchedVirtualServerSpec[],
    actions: SchedulerAction[],
    sched: CheckScheduler,
    fresh: string[] = [],
  ): void {
    for (const id of fresh) this.checkers.delete(id);
    const wanted = new Set(specs.flatMap((v) => v.realServers.map((r) => `${v.key}|${r.key}`)));
    for (const k of [...this.servers.keys()]) if (!wanted.has(k)) this.servers.delete(k);
    const ids = new Set(sched.checkerSnapshot().map((c) => c.id));
    for (const k of [...this.checkers.keys()]) if (!ids.has(k)) this.checkers.delete(k);
    for (const v of specs)
      for (const r of v.realServers) {
        const k = `${v.key}|${r.key}`;
        const initial = actions.find(
          (a): a is ServerStateAction =>
            a.type === 'server-state-changed' && a.cause === 'initial' && `${a.vs}|${a.rs}` === k,
        );
        if (!this.servers.has(k)) {
          assert.ok(initial, `${k}: a new real server is announced`);
          this.servers.set(k, { up: !initial.up, weight: r.weight }); // apply() flips it to initial.up
        } else assert.equal(initial, undefined, `${k}: a kept real server is not announced again`);
      }
    for (const c of sched.checkerSnapshot()) if (!this.checkers.has(c.id)) this.checkers.set(c.id, c.up);
    this.apply(actions);
  }

  verify(sched: CheckScheduler): void {
    const snap = sched.serverSnapshot();
    assert.equal(snap.length, this.servers.size);
    for (const s of snap) {
      const m = this.servers.get(`${s.vs}|${s.rs}`);
      assert.deepEqual([s.up, s.weight], [m?.up, m?.weight], `${s.vs}|${s.rs}: events and state agree`);
    }
    for (const c of sched.checkerSnapshot()) assert.equal(this.checkers.get(c.id), c.up, c.id);
  }
}

describe('scheduler reload: properties', () => {
  it('a reload with the identical plan is a no-op: no action, same state, and the run goes on exactly as without it', () => {
    fc.assert(
      fc.property(
        planArb,
        fc.integer(),
        fc.array(fc.integer({ min: 0, max: 6000 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 6 }),
        (plan, seed, reloadTimes, maxInFlight) => {
          const run = (reloads: number[]) => {
            const sched = new CheckScheduler(copy(plan), {
              random: lcg(seed),
              bootstrapDelayMs: 500,
              maxInFlight,
            });
            const d = new Driver(sched, resultsFor(seed), (id, n) => 50 + (hash(seed, `d${id}${n}`) % 900));
            d.handle(sched.start(0));
            for (const t of [...reloads].sort((a, b) => a - b)) {
              d.runUntil(t);
              const checkers = sched.checkerSnapshot();
              const servers = sched.serverSnapshot();
              const deadline = sched.nextDeadline();
              const r = sched.reload(copy(plan), t);
              assert.deepEqual(r.actions, []);
              assert.deepEqual([r.started, r.stopped, r.restarted], [[], [], []]);
              assert.equal(r.kept.length, checkers.length);
              assert.deepEqual(sched.checkerSnapshot(), checkers);
              assert.deepEqual(sched.serverSnapshot(), servers);
              assert.equal(sched.nextDeadline(), deadline);
              assert.deepEqual(sched.audit(), []);
            }
            d.runUntil(8000);
            return { starts: d.starts, events: d.events };
          };
          assert.deepEqual(run(reloadTimes), run([]));
        },
      ),
      { numRuns: 150, includeErrorInReport: true },
    );
  });

  it('random add / remove / change sequences: kept checkers untouched, fresh ones fresh, aggregates and events consistent', () => {
    fc.assert(
      fc.property(
        planArb,
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), plan: planArb }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.integer(),
        fc.integer({ min: 1, max: 8 }),
        (first, steps, seed, maxInFlight) => {
          const bootstrap = 400;
          const sched = new CheckScheduler(copy(first), {
            random: lcg(seed),
            bootstrapDelayMs: bootstrap,
            maxInFlight,
          });
          const d = new Driver(sched, resultsFor(seed), (id, n) => 50 + (hash(seed, `d${id}${n}`) % 1500));
          const model = new Model();
          let current = first;
          model.adopt(current, d.handle(sched.start(0)), sched);
          model.verify(sched);
          d.onActions = (actions) => {
            model.apply(actions);
            model.verify(sched);
          };
          const retired = new Set<number>();
          const onComplete = (c: { id: string; attempt: number }, actions: SchedulerAction[]) => {
            if (retired.has(c.attempt)) assert.deepEqual(actions, [], 'a retired attempt changes nothing');
          };
          const drive = (until: number) => d.runUntil(until, onComplete);
          for (const step of steps) {
            drive(d.now + step.dt);
            const now = d.now;
            const specOf = (plan: SchedVirtualServerSpec[]) =>
              new Map(
                plan.flatMap((v) =>
                  v.realServers.flatMap((r) =>
                    r.checkers.map((c) => [c.id, { c, home: `${v.key}|${r.key}` }]),
                  ),
                ),
              );
            const oldSpecs = specOf(current);
            const newSpecs = specOf(step.plan);
            const beforeCheckers = byId(sched.checkerSnapshot());
            const beforeServers = new Map(sched.serverSnapshot().map((s) => [`${s.vs}|${s.rs}`, s]));
            const passive = new Map<string, PassiveState>();
            for (const [id, { c }] of newSpecs)
              if (c.type === 'FILE_CHECK') {
                const h = hash(seed, `f${id}${now}`);
                passive.set(id, { up: h % 3 !== 0, weightDelta: (h % 5) - 2 });
              }

            const r = sched.reload(copy(step.plan), now, passive);
            assert.deepEqual(sched.audit(), []);

            // Which checkers are kept is exactly "same id, same real server, same spec".
            const expectKept = [...newSpecs]
              .filter(([id, n]) => {
                const o = oldSpecs.get(id);
                return o && o.home === n.home && JSON.stringify(o.c) === JSON.stringify(n.c);
              })
              .map(([id]) => id);
            assert.deepEqual(r.kept, expectKept);
            assert.deepEqual(
              r.started,
              [...newSpecs.keys()].filter((id) => !oldSpecs.has(id)),
            );
            assert.deepEqual(
              [...r.stopped].sort(),
              [...oldSpecs.keys()].filter((id) => !newSpecs.has(id)).sort(),
            );
            assert.deepEqual(
              r.restarted,
              [...newSpecs.keys()].filter((id) => oldSpecs.has(id) && !expectKept.includes(id)),
            );

            const afterCheckers = byId(sched.checkerSnapshot());
            const weightOf = new Map(
              step.plan.flatMap((v) => v.realServers.map((r) => [`${v.key}|${r.key}`, r.weight])),
            );
            for (const id of r.kept) {
              const was = beforeCheckers.get(id) as CheckerSnapshot;
              const now = afterCheckers.get(id) as CheckerSnapshot;
              // A misc_dynamic weight stays the weight the script set, whatever the configured weight is now.
              const delta =
                was.dynamicWeight === undefined
                  ? was.weightDelta
                  : was.dynamicWeight - (weightOf.get(`${was.vs}|${was.rs}`) as number);
              assert.deepEqual(now, { ...was, weightDelta: delta }, `${id} kept as is`);
            }
            // Every attempt still out for a stopped or restarted checker belongs to no checker now.
            const gone = new Set([...r.stopped, ...r.restarted]);
            for (const p of d.pending) if (gone.has(p.id)) retired.add(p.attempt);
            for (const p of d.pending)
              if (!gone.has(p.id) && !retired.has(p.attempt)) assert.ok(afterCheckers.get(p.id)?.inFlight);
            for (const id of [...r.started, ...r.restarted]) {
              const c = afterCheckers.get(id) as CheckerSnapshot;
              const { c: spec, home } = newSpecs.get(id) as { c: SchedCheckerSpec; home: string };
              const was = beforeServers.get(home);
              assert.equal(c.inFlight, false);
              if (spec.type === 'FILE_CHECK') {
                assert.equal(c.up, passive.get(id)?.up, `${id}: a new FILE_CHECK starts from its file`);
                continue;
              }
              assert.equal(c.hasRun, false);
              assert.ok(
                c.dueAt >= now + bootstrap && c.dueAt <= now + bootstrap + spec.timing.warmupMs,
                `${id} due`,
              );
              // A kept real server: a fresh checker starts in the server's state; a new one: the config's alpha.
              assert.equal(c.up, was ? was.up : !spec.timing.alpha, `${id}: initial state`);
            }
            // A real server that was down stays down unless none of its checkers is down any more.
            for (const s of sched.serverSnapshot()) {
              const was = beforeServers.get(`${s.vs}|${s.rs}`);
              if (was && !was.up && s.up) assert.equal(s.failedCheckers, 0);
            }
            model.adopt(step.plan, r.actions, sched, [...r.started, ...r.restarted]);
            model.verify(sched);
            current = step.plan;
          }
          drive(d.now + 5000);
        },
      ),
      { numRuns: 200, includeErrorInReport: true },
    );
  });
});

/* ---------------------------------------------------------------- engine */

/** Let completions through: the engine applies them in a batch on the next setImmediate turn. */
const turn = async () => {
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
};

function tcpPlan(
  servers: Array<{ key: string; port?: number; weight?: number }>,
  haSuspend?: boolean,
): CheckPlan {
  const p = testPlan({
    virtualServers: [
      {
        key: 'vs',
        omega: false,
        realServers: servers.map((s) => ({
          key: s.key,
          weight: s.weight ?? 1,
          checkers: [
            {
              key: `${s.key}#0`,
              timing: timing({ delayLoopMs: 1000 }),
              target: { type: 'TCP_CHECK', host: s.key, port: s.port ?? 80, connectTimeoutMs: 500 },
            },
          ],
        })),
      },
    ],
  });
  if (haSuspend) p.virtualServers[0].haSuspend = [{ family: 4, first: '10.0.0.10', last: '10.0.0.10' }];
  return p;
}

describe('CheckEngine.reload', () => {
  let now = 0;
  beforeEach(() => {
    now = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());
  const advance = async (ms: number) => {
    for (let i = 0; i < ms; i += 50) {
      now += Math.min(50, ms - i);
      mock.timers.tick(Math.min(50, ms - i));
      await turn();
    }
  };

  /** A fake checker: each attempt takes `ms` (fake time), records its start and its abort. */
  function fakeChecker(ms: number, result: (host: string) => CheckResult = () => OK) {
    const log: string[] = [];
    const aborted: string[] = [];
    const startCheck: StartCheck = (target, _url, signal, done) => {
      const host = (target as { host: string; port: number }).host;
      const port = (target as { port: number }).port;
      log.push(`${now}:${host}:${port}`);
      // As the real checkers do: the listener goes before done() (the engine reuses the signal).
      const onAbort = () => {
        clearTimeout(t);
        aborted.push(`${now}:${host}:${port}`);
        done({ ok: false, reason: 'aborted' });
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        done(result(host));
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    };
    return { log, aborted, startCheck };
  }

  it('the identical plan keeps every checker: no attempt out of schedule, no event', async () => {
    const servers = ['a', 'b', 'c'].map((key) => ({ key }));
    const runs: string[][] = [];
    for (const reload of [false, true]) {
      now = 0;
      const f = fakeChecker(300);
      const engine = new CheckEngine(tcpPlan(servers), {
        now: () => now,
        startCheck: f.startCheck,
        random: () => 0,
        bootstrapDelayMs: 100,
      });
      const events: string[] = [];
      engine.on('server', (a: ServerStateAction) => events.push(`${now}:${a.rs}:${a.up}`));
      engine.on('weight', (a: WeightAction) => events.push(`${now}:${a.rs}:w${a.weight}`));
      engine.start();
      await advance(1250); // attempts of 1100 in flight
      if (reload) {
        const r = engine.reload(tcpPlan(servers));
        assert.deepEqual(r, { kept: 3, started: [], stopped: [], restarted: [] });
      }
      await advance(3000);
      runs.push([...f.log, ...events, `aborted ${f.aborted.length}`]);
      await engine.stop();
    }
    assert.deepEqual(runs[1], runs[0]);
  });

  it('changing one checker restarts only that one: its running attempt is aborted and its result dropped', async () => {
    const f = fakeChecker(300);
    const engine = new CheckEngine(tcpPlan([{ key: 'a' }, { key: 'b' }]), {
      now: () => now,
      startCheck: f.startCheck,
      random: () => 0,
      bootstrapDelayMs: 100,
    });
    const attempts: AttemptEvent[] = [];
    engine.on('attempt', (a) => attempts.push(a));
    engine.start();
    await advance(1150); // both attempts of 1100 in flight
    const r = engine.reload(tcpPlan([{ key: 'a' }, { key: 'b', port: 81 }]));
    assert.deepEqual(r, { kept: 1, started: [], stopped: [], restarted: ['b#0'] });
    assert.deepEqual(f.aborted, ['1150:b:80']);
    await advance(2000);
    // a: on its grid (100, 1100, 2100, 3100); b: restarted, first run bootstrap (100 ms) after the reload.
    assert.deepEqual(
      f.log.filter((l) => l.includes(':a:')).map((l) => Number(l.split(':')[0])),
      [100, 1100, 2100, 3100],
    );
    assert.deepEqual(
      f.log.filter((l) => l.includes(':b:')).map((l) => l.split(':').slice(0, 3).join(':')),
      ['100:b:80', '1100:b:80', '1250:b:81', '2250:b:81'],
    );
    assert.ok(
      attempts.every((a) => a.result.reason !== 'aborted'),
      'the aborted attempt is not reported as a result',
    );
    assert.equal(attempts.filter((a) => a.checkerId === 'a#0').length, 3);
    await engine.stop();
  });

  it('removing a real server stops its checker (aborted), adding one starts it; counts say so', async () => {
    const f = fakeChecker(300);
    const engine = new CheckEngine(tcpPlan([{ key: 'a' }, { key: 'b' }]), {
      now: () => now,
      startCheck: f.startCheck,
      random: () => 0,
      bootstrapDelayMs: 100,
    });
    const servers: ServerStateAction[] = [];
    engine.on('server', (a) => servers.push(a));
    engine.start();
    await advance(150);
    const settled: number[] = [];
    engine.on('settled', () => settled.push(servers.length));
    const r = engine.reload(tcpPlan([{ key: 'a' }, { key: 'c' }]));
    assert.deepEqual(r, { kept: 1, started: ['c#0'], stopped: ['b#0'], restarted: [] });
    assert.deepEqual(f.aborted, ['150:b:80']);
    assert.deepEqual(
      servers.slice(2).map((s) => [s.rs, s.up, s.cause]),
      [['c', true, 'initial']],
    );
    assert.deepEqual(settled, [3], 'one settled after the reload events');
    await advance(1000);
    assert.ok(f.log.includes('250:c:80'));
    assert.ok(!f.log.some((l) => l.startsWith('1100:b')), 'b is no longer checked');
    await engine.stop();
  });

  it('an invalid plan throws and leaves the engine running the old one', async () => {
    const f = fakeChecker(10);
    const engine = new CheckEngine(tcpPlan([{ key: 'a' }]), {
      now: () => now,
      startCheck: f.startCheck,
      random: () => 0,
      bootstrapDelayMs: 100,
    });
    engine.start();
    const bad = tcpPlan([{ key: 'a' }, { key: 'b' }]);
    bad.virtualServers[0].realServers[1].checkers[0].key =
      bad.virtualServers[0].realServers[0].checkers[0].key;
    assert.throws(() => engine.reload(bad), /duplicate checker id a#0/);
    await advance(1200);
    assert.deepEqual(f.log, ['100:a:80', '1100:a:80']);
    assert.deepEqual(engine.reload(tcpPlan([{ key: 'a' }])), {
      kept: 1,
      started: [],
      stopped: [],
      restarted: [],
    });
    await engine.stop();
  });

  it('ha_suspend follows the new ranges: added -> suspended without the address, removed -> resumes', async () => {
    const f = fakeChecker(10);
    const engine = new CheckEngine(tcpPlan([{ key: 'a' }]), {
      now: () => now,
      startCheck: f.startCheck,
      random: () => 0,
      bootstrapDelayMs: 0,
    });
    const events: SuspendEvent[] = [];
    engine.on('suspend', (e) => events.push(e));
    engine.start();
    engine.reload(tcpPlan([{ key: 'a' }], true), { hostAddresses: ['192.0.2.7'] });
    assert.deepEqual(events, [{ vs: 'vs', suspended: true, checkers: 1 }]);
    engine.addressAdded('10.0.0.10');
    assert.equal(engine.isSuspended('vs'), false, 'the new ranges are tracked');
    engine.addressRemoved('10.0.0.10');
    assert.equal(engine.isSuspended('vs'), true);
    // Reload again without new addresses: the engine remembers the host's (192.0.2.7 only): still suspended.
    engine.reload(tcpPlan([{ key: 'a' }], true));
    assert.equal(events.length, 3, 'no event when nothing changes');
    engine.reload(tcpPlan([{ key: 'a' }]));
    assert.equal(engine.isSuspended('vs'), false, 'without ha_suspend it runs again');
    assert.deepEqual(events.at(-1), { vs: 'vs', suspended: false, checkers: 1 });
    await engine.stop();
  });
});

describe('CheckEngine.reload with FILE_CHECK (real files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-reload-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fileChecker = (key: string, target: Omit<FileTarget, 'type' | 'name'>) => ({
    key,
    timing: timing(),
    target: { type: 'FILE_CHECK' as const, name: key, ...target },
  });
  const planOf = (checkers: ReturnType<typeof fileChecker>[]) =>
    testPlan({
      virtualServers: [
        {
          key: 'vs',
          omega: false,
          realServers: checkers.map((c) => ({ key: c.key, weight: 10, checkers: [c] })),
        },
      ],
    });

  async function until(pred: () => boolean, what: string): Promise<void> {
    const give = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > give) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('kept paths stay watched with their state; a new path is read; a dropped one is ignored; init_file never overwrites', async () => {
    const keep = join(dir, 'keep');
    const drop = join(dir, 'drop');
    const fresh = join(dir, 'fresh');
    const init = join(dir, 'init');
    writeFileSync(keep, '3\n');
    writeFileSync(drop, '0\n');
    writeFileSync(fresh, '-4\n');
    writeFileSync(init, '6\n');
    const keepC = fileChecker('k', { path: keep, weight: 1, reverse: false });
    const engine = new CheckEngine(
      planOf([keepC, fileChecker('d', { path: drop, weight: 0, reverse: false })]),
      {
        fileSettleMs: 10,
      },
    );
    const weights: WeightAction[] = [];
    const servers: ServerStateAction[] = [];
    engine.on('weight', (a) => weights.push(a));
    engine.on('server', (a) => servers.push(a));
    engine.start();
    assert.deepEqual(
      engine.servers().map((s) => [s.rs, s.weight]),
      [
        ['k', 13],
        ['d', 10],
      ],
    );
    weights.length = 0;
    servers.length = 0;
    const r = engine.reload(
      planOf([
        keepC,
        fileChecker('f', { path: fresh, weight: 2, reverse: false }),
        fileChecker('i', { path: init, weight: 1, reverse: false, initFile: { value: 1, overwrite: true } }),
      ]),
    );
    assert.deepEqual(r, { kept: 1, started: ['f', 'i'], stopped: ['d'], restarted: [] });
    assert.equal(readFileSync(init, 'utf8'), '6\n', 'init_file does not overwrite on reload');
    assert.deepEqual(
      engine.servers().map((s) => [s.rs, s.up, s.weight]),
      [
        ['k', true, 13],
        ['f', true, 2],
        ['i', true, 16],
      ],
    );
    assert.deepEqual(
      servers.map((s) => [s.rs, s.cause]),
      [
        ['f', 'initial'],
        ['i', 'initial'],
      ],
    );
    assert.deepEqual(
      weights.map((w) => [w.rs, w.weight]),
      [
        ['f', 2],
        ['i', 16],
      ],
    );
    // The kept path is still watched; the dropped one no longer matters.
    weights.length = 0;
    writeFileSync(drop, '1\n');
    writeFileSync(keep, '5\n');
    await until(() => weights.length > 0, 'the kept file change');
    assert.deepEqual(
      weights.map((w) => [w.rs, w.weight]),
      [['k', 15]],
    );
    writeFileSync(fresh, '1\n');
    await until(() => weights.length > 1, 'the new file change');
    assert.deepEqual(weights[1].rs, 'f');
    await engine.stop();
  });
});
