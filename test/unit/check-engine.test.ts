/**
 * The engine driver around the scheduler, with mocked timers and a stub
 * checker: it starts attempts when due, feeds results back, emits events,
 * contains checker exceptions, and aborts in-flight attempts on stop.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { RunCheck } from '../../src/check/checkers/index.js';
import { type AttemptEvent, CheckEngine } from '../../src/check/engine.js';
import type { ServerStateAction } from '../../src/check/scheduler.js';
import type { CheckPlan, CheckResult } from '../../src/check/types.js';
import { testCheckerKey, testRealServer, testVirtualServer } from '../helpers/check-plan.js';

/** Let completions through: the engine applies them in a batch on the next setImmediate turn. */
const flush = async () => {
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
};

function plan(ids: string[]): CheckPlan {
  return {
    virtualServers: [
      testVirtualServer(
        'vs',
        ids.map((id) =>
          testRealServer(id, [
            {
              key: testCheckerKey(id),
              timing: { delayLoopMs: 1000, delayBeforeRetryMs: 500, retry: 1, warmupMs: 0, alpha: false },
              target: { type: 'TCP_CHECK', host: '192.0.2.1', port: 80, connectTimeoutMs: 100 },
            },
          ]),
        ),
        true,
      ),
    ],
  };
}

describe('CheckEngine', () => {
  let now = 0;
  beforeEach(() => {
    now = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());
  const advance = async (ms: number) => {
    now += ms;
    mock.timers.tick(ms);
    await flush();
  };

  it('runs attempts on schedule and reports state changes', async () => {
    const results: Record<string, CheckResult[]> = {
      a: [{ ok: true, reason: 'connected' }],
      b: [
        { ok: true, reason: 'connected' },
        { ok: false, reason: 'connection refused' },
        { ok: false, reason: 'connection refused' },
      ],
    };
    const calls: string[] = [];
    const runCheck: RunCheck = async (target, _url, _signal) => {
      const id = (target as { id?: string }).id ?? '';
      calls.push(`${now}:${id}`);
      return results[id]?.shift() ?? { ok: true, reason: 'connected' };
    };
    const p = plan(['a', 'b']);
    for (const rs of p.virtualServers[0].realServers) Object.assign(rs.checkers[0].target, { id: rs.key });
    const engine = new CheckEngine(p, { now: () => now, runCheck, random: () => 0, bootstrapDelayMs: 1000 });
    const servers: ServerStateAction[] = [];
    const attempts: AttemptEvent[] = [];
    engine.on('server', (a) => servers.push(a));
    engine.on('attempt', (a) => attempts.push(a));
    // 'settled' follows each batch of server/weight events, once (the daemon recomputes IPVS there).
    const settledAfter: number[] = [];
    engine.on('settled', () => settledAfter.push(servers.length));
    engine.start();
    assert.deepEqual(
      servers.map((s) => [s.rs, s.up]),
      [
        ['a', true],
        ['b', true],
      ],
    );
    assert.deepEqual(settledAfter, [2]);
    await advance(999);
    assert.deepEqual(calls, []);
    await advance(1);
    assert.deepEqual(calls, ['1000:a', '1000:b']);
    await advance(1000);
    await advance(500);
    // b failed at 2000, retried at 2500 and failed again: down.
    assert.deepEqual(calls, ['1000:a', '1000:b', '2000:a', '2000:b', '2500:b']);
    assert.deepEqual(servers.at(-1), {
      type: 'server-state-changed',
      cause: 'check',
      vs: 'vs',
      rs: 'b',
      up: false,
      reason: 'connection refused (after 1 retries)',
      checkerId: 'b',
      notify: true,
    });
    assert.deepEqual(
      attempts.filter((a) => a.checkerId === 'b').map((a) => [a.retry, a.result.ok]),
      [
        [0, true],
        [0, false],
        [1, false],
      ],
    );
    assert.deepEqual(settledAfter, [2, 3], 'no settled for batches without a state change');
    assert.equal(engine.stats().attempts, 5);
    assert.equal(engine.stats().lagMaxMs, 0);
    const final = await engine.stop();
    assert.deepEqual(
      final.map((s) => [s.rs, s.up, s.notify]),
      [['a', false, true]],
    );
  });

  it('a checker that throws is a failed attempt, and stop aborts attempts in flight', async () => {
    let aborted = 0;
    const runCheck: RunCheck = (target, _url, signal) => {
      if ((target as { id?: string }).id === 'boom') return Promise.reject(new Error('kaboom'));
      return new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted++;
          resolve({ ok: false, reason: 'aborted' });
        });
      });
    };
    const p = plan(['boom', 'hang']);
    for (const rs of p.virtualServers[0].realServers) Object.assign(rs.checkers[0].target, { id: rs.key });
    const engine = new CheckEngine(p, { now: () => now, runCheck, random: () => 0, bootstrapDelayMs: 0 });
    const servers: ServerStateAction[] = [];
    engine.on('server', (a) => servers.push(a));
    engine.start();
    await flush();
    await flush();
    assert.deepEqual(servers.at(-1), {
      type: 'server-state-changed',
      cause: 'check',
      vs: 'vs',
      rs: 'boom',
      up: false,
      reason: 'checker error: kaboom',
      checkerId: 'boom',
      notify: true,
    });
    assert.equal(engine.stats().inFlight, 1);
    await engine.stop();
    assert.equal(aborted, 1);
  });
});
