/**
 * ha_suspend: which address events suspend and resume which virtual
 * servers (keepalived update_checker_activity), and what a suspended
 * virtual server's checkers do in the scheduler and the engine: keep their
 * state, skip due attempts one delay_loop at a time, run again at their
 * next due time after resume.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { RunCheck } from '../../src/check/checkers/index.js';
import { CheckEngine, type SuspendEvent } from '../../src/check/engine.js';
import { HaSuspendTracker } from '../../src/check/ha-suspend.js';
import { CheckScheduler, type SchedulerAction } from '../../src/check/scheduler.js';
import type { CheckPlan, CheckTiming } from '../../src/check/types.js';
import { testPlan } from '../helpers/check-plan.js';

describe('HaSuspendTracker', () => {
  const tracker = () =>
    new HaSuspendTracker([
      { vs: 'web', ranges: [{ family: 4, first: '10.0.0.10', last: '10.0.0.10' }] },
      { vs: 'v6', ranges: [{ family: 6, first: 'fd00::10', last: 'fd00::10' }] },
      {
        vs: 'group',
        ranges: [
          { family: 4, first: '10.0.1.20', last: '10.0.1.29' },
          { family: 4, first: '10.0.2.5', last: '10.0.2.5' },
        ],
      },
    ]);

  it('suspends at start the virtual servers whose address is not on the host', () => {
    const t = tracker();
    assert.deepEqual(t.initial(['192.0.2.1', '10.0.0.10', 'fd00:0:0::10']), [
      { vs: 'web', suspended: false },
      { vs: 'v6', suspended: false },
      { vs: 'group', suspended: true },
    ]);
    assert.deepEqual(t.suspended(), ['group']);
  });

  it('counts an address per interface: suspended only when the last one goes', () => {
    const t = tracker();
    t.initial([]);
    assert.deepEqual(t.added('10.0.0.10'), [{ vs: 'web', suspended: false }]);
    assert.deepEqual(t.added('10.0.0.10'), [], 'the same VIP on a second interface');
    assert.deepEqual(t.removed('10.0.0.10'), []);
    assert.deepEqual(t.removed('10.0.0.10'), [{ vs: 'web', suspended: true }]);
    assert.deepEqual(t.removed('10.0.0.10'), [], 'a removal never seen added changes nothing');
    assert.deepEqual(t.added('10.0.0.10'), [{ vs: 'web', suspended: false }]);
  });

  it('matches group ranges, the family and any spelling of an IPv6 address', () => {
    const t = tracker();
    t.initial([]);
    assert.deepEqual(t.added('10.0.1.19'), []);
    assert.deepEqual(t.added('10.0.1.25/24'), [{ vs: 'group', suspended: false }]);
    assert.deepEqual(t.added('10.0.2.5'), []);
    assert.deepEqual(t.removed('10.0.1.25'), []);
    assert.deepEqual(t.removed('10.0.2.5'), [{ vs: 'group', suspended: true }]);
    assert.deepEqual(t.added('FD00:0000::0010'), [{ vs: 'v6', suspended: false }]);
    assert.deepEqual(t.added('::ffff:10.0.0.10'), [], 'an IPv6 address is not the IPv4 VIP');
    assert.deepEqual(t.added('not an address'), []);
  });
});

const timing: CheckTiming = {
  delayLoopMs: 1000,
  delayBeforeRetryMs: 300,
  retry: 1,
  warmupMs: 0,
  alpha: false,
};

function plan(haSuspend = true): CheckPlan {
  return testPlan({
    virtualServers: [
      {
        key: 'web',
        omega: false,
        haSuspend: haSuspend ? [{ family: 4, first: '10.0.0.10', last: '10.0.0.10' }] : undefined,
        realServers: [
          {
            key: 'rs1',
            weight: 1,
            checkers: [
              {
                id: 'rs1#0',
                timing,
                target: { type: 'TCP_CHECK', host: '192.0.2.1', port: 80, connectTimeoutMs: 100 },
              },
            ],
          },
        ],
      },
      {
        key: 'other',
        omega: false,
        realServers: [
          {
            key: 'rs2',
            weight: 1,
            checkers: [
              {
                id: 'rs2#0',
                timing,
                target: { type: 'TCP_CHECK', host: '192.0.2.2', port: 80, connectTimeoutMs: 100 },
              },
            ],
          },
        ],
      },
    ],
  });
}

describe('a suspended virtual server in the scheduler', () => {
  const starts = (actions: SchedulerAction[]) =>
    actions.filter((a) => a.type === 'start-check').map((a) => (a.type === 'start-check' ? a.checkerId : ''));

  it('skips due attempts while suspended, keeps the checker state, and runs at the next due time after resume', () => {
    const s = CheckScheduler.fromPlan(plan(), { bootstrapDelayMs: 0, random: () => 0 });
    assert.equal(s.setSuspended('web', true), true);
    assert.equal(s.setSuspended('web', true), false);
    assert.equal(s.setSuspended('nope', true), false);
    assert.deepEqual(starts(s.start(0)), ['rs2#0']);
    s.complete('rs2#0', 1, { ok: true, reason: 'connected' }, 5);
    assert.deepEqual(starts(s.poll(1000)), ['rs2#0']);
    assert.equal(s.nextDeadline(), 2000, 'the suspended checker was skipped to its next due time');
    s.complete('rs2#0', 2, { ok: true, reason: 'connected' }, 1005);
    // Long stall: the suspended checker skips to the grid point after now, not once per missed loop.
    assert.deepEqual(starts(s.poll(5500)), ['rs2#0']);
    assert.equal(s.checkerSnapshot().find((c) => c.id === 'rs1#0')?.dueAt, 6000);
    s.setSuspended('web', false);
    assert.deepEqual(starts(s.poll(5999)), []);
    assert.deepEqual(starts(s.poll(6000)), ['rs1#0']);
  });

  it('an attempt in flight when suspended still counts; the state it leaves stays while suspended', () => {
    const s = CheckScheduler.fromPlan(plan(), { bootstrapDelayMs: 0, random: () => 0 });
    s.start(0);
    s.setSuspended('web', true);
    const after = s.complete('rs1#0', 1, { ok: false, reason: 'connection refused' }, 10);
    assert.ok(after.some((a) => a.type === 'server-state-changed' && a.rs === 'rs1' && !a.up));
    // The retry it scheduled (300 ms) is skipped while suspended.
    assert.deepEqual(starts(s.poll(300)), []);
    assert.deepEqual(starts(s.poll(2000)), []);
    assert.equal(s.serverSnapshot().find((r) => r.rs === 'rs1')?.up, false);
  });
});

describe('ha_suspend in the engine', () => {
  let now = 0;
  beforeEach(() => {
    now = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());
  const turn = async () => {
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
  };
  const advance = async (ms: number) => {
    now += ms;
    mock.timers.tick(ms);
    await turn();
  };

  it('follows the host addresses: suspended at start without the VIP, resumed when it is added, suspended when it goes', async () => {
    const calls: string[] = [];
    const runCheck: RunCheck = async (target) => {
      calls.push(`${now}:${(target as { host: string }).host}`);
      return { ok: true, reason: 'connected' };
    };
    const engine = new CheckEngine(plan(), {
      now: () => now,
      runCheck,
      random: () => 0,
      bootstrapDelayMs: 0,
      hostAddresses: ['192.0.2.99'],
    });
    const events: SuspendEvent[] = [];
    engine.on('suspend', (e) => events.push(e));
    engine.start();
    await turn();
    assert.deepEqual(events, [{ vs: 'web', suspended: true, checkers: 1 }]);
    assert.deepEqual(calls, ['0:192.0.2.2']);
    engine.addressAdded('10.0.0.10');
    assert.equal(engine.isSuspended('web'), false);
    await advance(1000);
    assert.deepEqual(calls, ['0:192.0.2.2', '1000:192.0.2.1', '1000:192.0.2.2']);
    engine.addressRemoved('10.0.0.10');
    await advance(1000);
    assert.deepEqual(calls.slice(3), ['2000:192.0.2.2']);
    assert.deepEqual(
      events.map((e) => [e.vs, e.suspended]),
      [
        ['web', true],
        ['web', false],
        ['web', true],
      ],
    );
    await engine.stop();
  });

  it('without host addresses nothing is suspended, and a warning says so', async () => {
    const warnings: string[] = [];
    const engine = new CheckEngine(plan(), {
      now: () => now,
      runCheck: async () => ({ ok: true, reason: 'connected' }),
      bootstrapDelayMs: 0,
    });
    engine.on('warning', (w) => warnings.push(w.message));
    engine.start();
    assert.equal(engine.isSuspended('web'), false);
    assert.match(warnings.join(), /ha_suspend: the host addresses are not known yet/);
    engine.setHostAddresses([]);
    assert.equal(engine.isSuspended('web'), true);
    assert.equal(engine.resumeVirtualServer('web'), true);
    assert.equal(engine.suspendVirtualServer('other'), true, 'direct control works on any virtual server');
    await engine.stop();
  });
});
