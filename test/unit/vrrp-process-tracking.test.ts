/**
 * track_process, the pure part: which processes match (keepalived's exact, not pgrep-like, matching and its
 * param_match modes), the quorum with fork_delay / terminate_delay on a fake clock, and the priority / FAULT
 * effect through evaluateTracking().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  initialQuorum,
  inQuorum,
  matchesProcess,
  nextQuorumTimer,
  type ProcessMatchSpec,
  paramsMatch,
  type QuorumEvent,
  type QuorumParams,
  type QuorumState,
  stepQuorum,
  trackedProcessesFor,
} from '../../src/vrrp/process-tracking.js';
import { evaluateTracking } from '../../src/vrrp/tracking.js';

const byName = (process: string): ProcessMatchSpec => ({
  process,
  params: [],
  paramMatch: 'none',
  fullCommand: false,
});

describe('process matching', () => {
  it('compares the process name exactly, not as pgrep does', () => {
    assert.ok(matchesProcess(byName('ssh'), { comm: 'ssh' }));
    assert.ok(!matchesProcess(byName('ssh'), { comm: 'sshd' }), "'ssh' does not match sshd");
    assert.ok(!matchesProcess(byName('sshd'), { comm: 'ssh' }));
    assert.ok(!matchesProcess(byName('haproxy'), { comm: 'haproxy', zombie: true }), 'zombies do not count');
    assert.ok(!matchesProcess(byName('haproxy'), { argv: ['haproxy'] }), 'no comm, no match');
  });

  it('with full_command compares argv[0] exactly', () => {
    const spec: ProcessMatchSpec = {
      process: '/usr/sbin/haproxy',
      params: [],
      paramMatch: 'none',
      fullCommand: true,
    };
    assert.ok(matchesProcess(spec, { argv: ['/usr/sbin/haproxy', '-f', 'x.cfg'], comm: 'haproxy' }));
    assert.ok(!matchesProcess(spec, { argv: ['haproxy', '-f', 'x.cfg'], comm: 'haproxy' }));
    assert.ok(!matchesProcess(spec, { argv: [] }), 'a zombie has an empty command line');
  });

  it('param_match exact / partial / initial as keepalived check_params', () => {
    const exact = { params: ['-f', 'a.cfg'], paramMatch: 'exact' as const };
    assert.ok(paramsMatch(exact, ['-f', 'a.cfg']));
    assert.ok(!paramsMatch(exact, ['-f', 'a.cfg', '-d']), 'exact: no extra parameters');
    assert.ok(!paramsMatch(exact, ['-f']));
    assert.ok(!paramsMatch(exact, ['-f', 'a.cfgx']));
    const none = { params: [], paramMatch: 'exact' as const };
    assert.ok(paramsMatch(none, []), "param_match with no parameters: 'must have none'");
    assert.ok(!paramsMatch(none, ['-d']));
    const partial = { params: ['-f', 'a.cfg'], paramMatch: 'partial' as const };
    assert.ok(paramsMatch(partial, ['-f', 'a.cfg', '-d']));
    assert.ok(!paramsMatch(partial, ['-f', 'a.cfgx']), 'partial: whole parameters');
    assert.ok(!paramsMatch(partial, ['-d', '-f', 'a.cfg']));
    const initial = { params: ['-f', 'a.c'], paramMatch: 'initial' as const };
    assert.ok(paramsMatch(initial, ['-f', 'a.cfg']), 'initial: the last one may be longer');
    assert.ok(paramsMatch(initial, ['-f', 'a.c', 'more']));
    assert.ok(!paramsMatch(initial, ['-x', 'a.cfg']));
    assert.ok(!paramsMatch({ params: ['-f', 'a.c'], paramMatch: 'partial' }, ['-f', 'a.cfg']));
    assert.ok(paramsMatch({ params: ['x'], paramMatch: 'none' }, ['y']), 'none: not compared');
  });
});

const P = (over: Partial<QuorumParams> = {}): QuorumParams => ({
  name: 'haproxy',
  quorum: 1,
  forkDelayMs: 0,
  terminateDelayMs: 0,
  ...over,
});

/** Runs events on a fake clock: [atMs, event]; ticks are inserted where timers fall due. */
function run(p: QuorumParams, initialCount: number, events: [number, QuorumEvent][]) {
  let s: QuorumState = initialQuorum(p, initialCount);
  const flips: [number, boolean][] = [];
  const apply = (at: number, ev: QuorumEvent) => {
    const r = stepQuorum(p, s, ev, at);
    s = r.state;
    if (r.changed) flips.push([at, r.changed.haveQuorum]);
  };
  for (const [at, ev] of events) {
    for (let t = nextQuorumTimer(s); t !== undefined && t <= at; t = nextQuorumTimer(s))
      apply(t, { type: 'tick' });
    apply(at, ev);
  }
  for (let t = nextQuorumTimer(s); t !== undefined; t = nextQuorumTimer(s)) apply(t, { type: 'tick' });
  return { state: s, flips };
}

const add = (via: 'exec' | 'fork' | 'scan' = 'exec'): QuorumEvent => ({ type: 'added', via }) as QuorumEvent;
const exit: QuorumEvent = { type: 'removed', via: 'exit' };

describe('quorum', () => {
  it('starts from the scan and follows starts and exits at once without delays', () => {
    const r = run(P(), 0, [
      [100, add()],
      [200, add()],
      [300, exit],
      [400, exit],
    ]);
    assert.deepEqual(r.flips, [
      [100, true],
      [400, false],
    ]);
    assert.deepEqual(initialQuorum(P({ quorum: 2 }), 3), { count: 3, haveQuorum: true });
  });

  it('terminate_delay holds the quorum while a process restarts (exit then exec within the delay)', () => {
    const p = P({ terminateDelayMs: 1000 });
    const reload = run(p, 1, [
      [100, exit],
      [600, add('exec')],
    ]);
    assert.deepEqual(reload.flips, [], 'no flap on a quick restart');
    assert.equal(reload.state.terminateTimerAt, undefined);
    const death = run(p, 1, [[100, exit]]);
    assert.deepEqual(death.flips, [[1100, false]], 'a real death counts after the delay');
  });

  it('fork_delay: a forked process counts only after the delay; an exit in between cancels it', () => {
    const p = P({ quorum: 2, forkDelayMs: 500 });
    assert.deepEqual(run(p, 1, [[100, add('fork')]]).flips, [[600, true]]);
    const r = run(p, 1, [
      [100, add('fork')],
      [300, exit],
    ]);
    assert.deepEqual(r.flips, []);
    assert.equal(r.state.forkTimerAt, undefined);
    // exec (a new program) does not wait for fork_delay.
    assert.deepEqual(run(p, 1, [[100, add('exec')]]).flips, [[100, true]]);
  });

  it('quorum_max: too many processes is a failure; quorum_max 0 means the process must not run', () => {
    const p = P({ quorum: 1, quorumMax: 1 });
    assert.deepEqual(
      run(p, 1, [
        [100, add()],
        [200, exit],
      ]).flips,
      [
        [100, false],
        [200, true],
      ],
    );
    const never = P({ quorum: 0, quorumMax: 0 });
    assert.equal(initialQuorum(never, 0).haveQuorum, true);
    assert.deepEqual(
      run(never, 0, [
        [100, add()],
        [200, exit],
      ]).flips,
      [
        [100, false],
        [200, true],
      ],
    );
  });

  it('a recount after lost events sets the count and the status directly', () => {
    const p = P({ quorum: 2, terminateDelayMs: 1000 });
    const r = stepQuorum(
      p,
      { count: 2, haveQuorum: true, terminateTimerAt: 5000 },
      { type: 'recount', count: 0 },
      10,
    );
    assert.deepEqual(r.state, {
      count: 0,
      haveQuorum: false,
      forkTimerAt: undefined,
      terminateTimerAt: undefined,
    });
    assert.equal(r.changed?.message, 'Quorum lost for tracked process haproxy');
  });

  it('property: once events stop and timers fire, the status is what the count says', () => {
    const ev = fc.oneof(
      fc.constant<QuorumEvent>({ type: 'added', via: 'exec' }),
      fc.constant<QuorumEvent>({ type: 'added', via: 'fork' }),
      fc.constant<QuorumEvent>({ type: 'removed', via: 'exit' }),
      fc.constant<QuorumEvent>({ type: 'removed', via: 'mismatch' }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 300 }), ev), { maxLength: 30 }),
        (quorum, extra, start, forkDelayMs, terminateDelayMs, steps) => {
          const p = P({
            quorum,
            quorumMax: quorum === 0 ? 0 : quorum + extra,
            forkDelayMs,
            terminateDelayMs,
          });
          let at = 0;
          const events = steps.map(([gap, e]) => {
            at += gap;
            return [at, e] as [number, QuorumEvent];
          });
          const r = run(p, start, events);
          assert.equal(r.state.haveQuorum, inQuorum(p, r.state.count));
          assert.ok(r.state.count >= 0);
        },
      ),
    );
  });
});

describe('track_process in the effective priority', () => {
  const base = { basePriority: 100, interfaces: [], scripts: [], files: [] };

  it('weight 0 puts the instance in FAULT without quorum (or with it, reversed)', () => {
    const cfg = { ...base, processes: [{ name: 'haproxy', weight: 0 }] };
    assert.deepEqual(
      evaluateTracking(cfg, { interfaces: {}, scripts: {}, files: {}, processes: { haproxy: true } }),
      {
        totalPriority: 100,
        effectivePriority: 100,
        fault: false,
        faultReasons: [],
      },
    );
    const down = evaluateTracking(cfg, {
      interfaces: {},
      scripts: {},
      files: {},
      processes: { haproxy: false },
    });
    assert.deepEqual(
      [down.fault, down.faultReasons],
      [true, ['tracked process haproxy quorum not achieved']],
    );
    const unknown = evaluateTracking(cfg, { interfaces: {}, scripts: {}, files: {} });
    assert.equal(unknown.fault, true, 'no report yet counts as no quorum');
    const rev = evaluateTracking(
      { ...base, processes: [{ name: 'haproxy', weight: 0, reverse: true }] },
      { interfaces: {}, scripts: {}, files: {}, processes: { haproxy: true } },
    );
    assert.deepEqual(rev.faultReasons, ['tracked process haproxy quorum held (reverse)']);
  });

  it('a weight moves the priority as keepalived does (positive when up, negative when down, reverse flips)', () => {
    const prio = (weight: number, up: boolean, reverse = false) =>
      evaluateTracking(
        { ...base, processes: [{ name: 'p', weight, reverse }] },
        { interfaces: {}, scripts: {}, files: {}, processes: { p: up } },
      ).effectivePriority;
    assert.deepEqual([prio(20, true), prio(20, false)], [120, 100]);
    assert.deepEqual([prio(-20, true), prio(-20, false)], [100, 80]);
    assert.deepEqual([prio(20, true, true), prio(-20, false, true)], [80, 120]);
    const owner = evaluateTracking(
      { ...base, basePriority: 255, processes: [{ name: 'p', weight: -50 }] },
      { interfaces: {}, scripts: {}, files: {}, processes: { p: false } },
    );
    assert.equal(owner.effectivePriority, 255, 'an address owner keeps 255');
  });
});

describe('instance and sync group track_process', () => {
  it('adds the group entries; a process in both keeps the instance entry with the group weight unless 0', () => {
    const r = trackedProcessesFor(
      {
        trackProcesses: [
          { name: 'a', weight: 10, weightReverse: true },
          { name: 'b', weight: 0, weightReverse: false },
        ],
      },
      {
        trackProcesses: [
          { name: 'a', weight: 5, weightReverse: false },
          { name: 'b', weight: 7, weightReverse: false },
          { name: 'c', weight: -3, weightReverse: true },
        ],
      },
    );
    assert.deepEqual(r.processes, [
      { name: 'a', weight: 5, reverse: true },
      { name: 'b', weight: 0, reverse: false },
      { name: 'c', weight: -3, reverse: true },
    ]);
    assert.equal(r.warnings.length, 2);
    assert.deepEqual(trackedProcessesFor({ trackProcesses: [] }).processes, []);
  });
});
