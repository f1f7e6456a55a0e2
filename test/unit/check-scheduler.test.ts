/**
 * The health-check scheduler against a fake clock: exact attempt times,
 * retries and state changes per keepalived 2.2.7's checker epilogues.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CheckScheduler,
  type ResumedChecker,
  type SchedCheckerSpec,
  type SchedulerAction,
  type SchedVirtualServerSpec,
} from '../../src/check/scheduler.js';
import { resolveTiming } from '../../src/check/timing.js';
import type { CheckerType, CheckResult, CheckTiming } from '../../src/check/types.js';

interface Start {
  t: number;
  id: string;
  retry: number;
  url: number;
  due: number;
}

interface Sim {
  starts: Start[];
  events: Array<SchedulerAction & { t: number }>;
  maxInFlight: number;
  sched: CheckScheduler;
}

/**
 * Drive a scheduler to `until` ms. `result(id, n, t)` gives the n-th attempt's
 * (1-based) result of checker `id` started at t; `duration(id)` its length.
 */
function simulate(
  vss: SchedVirtualServerSpec[],
  opts: {
    until: number;
    result: (id: string, n: number, t: number, url: number) => CheckResult;
    duration?: (id: string) => number;
    maxInFlight?: number;
    random?: () => number;
    bootstrapDelayMs?: number;
    resume?: ReadonlyMap<string, ResumedChecker>;
  },
): Sim {
  const sched = new CheckScheduler(vss, {
    maxInFlight: opts.maxInFlight,
    random: opts.random ?? (() => 0),
    bootstrapDelayMs: opts.bootstrapDelayMs ?? 1000,
    resume: opts.resume,
  });
  const sim: Sim = { starts: [], events: [], maxInFlight: 0, sched };
  const completions: Array<{ at: number; id: string; attempt: number; n: number; t0: number; url: number }> =
    [];
  const counts = new Map<string, number>();
  let now = 0;
  const handle = (actions: SchedulerAction[]) => {
    for (const a of actions) {
      if (a.type === 'start-check') {
        const n = (counts.get(a.checkerId) ?? 0) + 1;
        counts.set(a.checkerId, n);
        sim.starts.push({ t: now, id: a.checkerId, retry: a.retry, url: a.urlIndex, due: a.dueAt });
        completions.push({
          at: now + (opts.duration?.(a.checkerId) ?? 100),
          id: a.checkerId,
          attempt: a.attempt,
          n,
          t0: now,
          url: a.urlIndex,
        });
      } else sim.events.push({ ...a, t: now });
    }
    sim.maxInFlight = Math.max(sim.maxInFlight, sched.inFlight);
  };
  handle(sched.start(0));
  for (;;) {
    completions.sort((a, b) => a.at - b.at);
    const deadline = sched.nextDeadline() ?? Number.POSITIVE_INFINITY;
    const next = completions[0];
    const t = Math.min(deadline, next ? next.at : Number.POSITIVE_INFINITY);
    if (t > opts.until) break;
    now = t;
    if (next && next.at <= deadline) {
      completions.shift();
      handle(sched.complete(next.id, next.attempt, opts.result(next.id, next.n, next.t0, next.url), now));
    } else handle(sched.poll(now));
  }
  return sim;
}

function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return { delayLoopMs: 5000, delayBeforeRetryMs: 1000, retry: 2, warmupMs: 0, alpha: false, ...over };
}

function oneServer(checkers: SchedCheckerSpec[], omega = false, weight = 1): SchedVirtualServerSpec[] {
  return [{ key: 'vs1', omega, realServers: [{ key: 'rs1', weight, checkers }] }];
}

const OK: CheckResult = { ok: true, reason: 'connected' };
const REFUSED: CheckResult = { ok: false, reason: 'connection refused' };

function startsOf(sim: Sim, id = 'c1'): number[] {
  return sim.starts.filter((s) => s.id === id).map((s) => s.t);
}

function serverEvents(sim: Sim) {
  return sim.events
    .filter((e) => e.type === 'server-state-changed')
    .map((e) => ({ t: e.t, up: (e as { up: boolean }).up, reason: (e as { reason: string }).reason }));
}

describe('check scheduler: TCP_CHECK (tcp_epilog)', () => {
  it('an up checker retries `retry` times delay_before_retry apart, then goes down', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing() }]), {
      until: 30_000,
      result: (_id, _n, t) => (t < 10_000 ? OK : REFUSED),
    });
    // Grid start-to-start: 1000 (bootstrap), 6000, 11000 fails, retries at 12000, 13000;
    // down when the 2nd retry completes (13100); the cycle continues while down:
    // 18000, 19000, 20000, 25000, 26000, 27000.
    assert.deepEqual(
      startsOf(sim),
      [1000, 6000, 11000, 12000, 13000, 18000, 19000, 20000, 25000, 26000, 27000],
    );
    assert.deepEqual(
      sim.starts.map((s) => s.retry),
      [0, 0, 0, 1, 2, 0, 1, 2, 0, 1, 2],
    );
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 13_100, up: false, reason: 'connection refused (after 2 retries)' },
    ]);
  });

  it('the first check of a non-alpha checker needs just one failure', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing() }]), {
      until: 7000,
      result: () => REFUSED,
    });
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 1100, up: false, reason: 'connection refused' },
    ]);
    // After going down the retry cycle starts at the next loop.
    assert.deepEqual(startsOf(sim), [1000, 6000, 7000]);
  });

  it('a down checker comes up after one success', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ retry: 0 }) }]), {
      until: 20_000,
      result: (_id, _n, t) => (t >= 5000 && t < 12_000 ? REFUSED : OK),
    });
    assert.deepEqual(startsOf(sim), [1000, 6000, 11000, 16000]);
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 6100, up: false, reason: 'connection refused' },
      { t: 16_100, up: true, reason: 'connected' },
    ]);
  });

  it('a failure in the middle of the retries that then succeeds never goes down', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ retry: 3 }) }]), {
      until: 20_000,
      result: (_id, n) => (n === 3 || n === 4 ? REFUSED : OK),
    });
    // 1000 ok, 6000 ok, 11000 fail, 12000 fail (retry 1), 13000 ok (retry 2), then the loop from 13000.
    assert.deepEqual(startsOf(sim), [1000, 6000, 11000, 12000, 13000, 18000]);
    assert.equal(serverEvents(sim).length, 1);
  });

  it('property: an up checker goes down after exactly retry+1 consecutive failures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 200, max: 20_000 }),
        (retry, dbr, loop) => {
          const sim = simulate(
            oneServer([
              {
                id: 'c1',
                type: 'TCP_CHECK',
                timing: timing({ retry, delayBeforeRetryMs: dbr, delayLoopMs: loop }),
              },
            ]),
            {
              until: 1000 + loop + retry * Math.max(dbr, 100) + 1000,
              result: (_id, n) => (n === 1 ? OK : REFUSED),
              duration: () => 50,
            },
          );
          const starts = startsOf(sim);
          const down = serverEvents(sim).find((e) => !e.up);
          assert.ok(down, 'went down');
          const failedBeforeDown = starts.filter((t) => t >= starts[1] && t < down.t).length;
          assert.equal(failedBeforeDown, retry + 1);
          // Spacing: the first failure is a loop after the success, retries are dbr (or 50 ms duration) apart.
          for (let k = 2; k < 2 + retry; k++) assert.equal(starts[k] - starts[k - 1], Math.max(dbr, 50));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('check scheduler: per-type retry flavours', () => {
  it('UDP/PING/DNS/MISC: a down checker is not retried, just re-checked every delay_loop', () => {
    for (const type of ['UDP_CHECK', 'PING_CHECK', 'DNS_CHECK', 'MISC_CHECK'] as CheckerType[]) {
      const sim = simulate(oneServer([{ id: 'c1', type, timing: timing() }]), {
        until: 30_000,
        result: (_id, _n, t) => (t < 10_000 ? OK : REFUSED),
      });
      // Up: fail at 11000, retries 12000 and 13000 -> down at 13100; then only 18000, 23000, 28000.
      assert.deepEqual(startsOf(sim), [1000, 6000, 11000, 12000, 13000, 18000, 23000, 28000], type);
      assert.equal(serverEvents(sim)[1]?.t, 13_100, type);
    }
  });

  it('SMTP_CHECK: the counter resets at every regular check, so even the first check retries', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'SMTP_CHECK', timing: timing() }]), {
      until: 14_000,
      result: () => REFUSED,
    });
    // 1000, 2000, 3000 -> down at 3100; then 8000, 9000, 10000 (down checker retries too), 15000...
    assert.deepEqual(startsOf(sim), [1000, 2000, 3000, 8000, 9000, 10000]);
    assert.deepEqual(serverEvents(sim)[1], {
      t: 3100,
      up: false,
      reason: 'connection refused (after 2 retries)',
    });
  });

  it('HTTP_GET: urls are walked a delay_loop apart; a failing url is retried, then re-checked at max(dbr, loop)', () => {
    const fail503: CheckResult = { ok: false, reason: 'HTTP status 503 for /b' };
    // url 1 (/b) fails from t=10000 until t=30000.
    const sim = simulate(
      oneServer([
        { id: 'c1', type: 'HTTP_GET', urlCount: 2, timing: timing({ delayBeforeRetryMs: 3000, retry: 1 }) },
      ]),
      {
        until: 60_000,
        result: (_id, _n, t, url) =>
          url === 1 && t >= 10_000 && t < 30_000
            ? fail503
            : { ok: true, reason: `HTTP status 200 url ${url}` },
      },
    );
    const starts = sim.starts.map((s) => [s.t, s.url]);
    // 1000 /a, 6000 /b, 11000 /a, 16000 /b fails, 19000 /b retry fails -> down (19100),
    // 24000 /b (max(3000,5000) after 19000) fails, 29000 /b fails, 34000 /b ok -> restart from /a:
    // 39000 /a, 44000 /b ok -> up (44100), 49000 /a, 54000 /b, 59000 /a.
    assert.deepEqual(starts, [
      [1000, 0],
      [6000, 1],
      [11000, 0],
      [16000, 1],
      [19000, 1],
      [24000, 1],
      [29000, 1],
      [34000, 1],
      [39000, 0],
      [44000, 1],
      [49000, 0],
      [54000, 1],
      [59000, 0],
    ]);
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 19_100, up: false, reason: 'HTTP status 503 for /b (after 1 retries)' },
      { t: 44_100, up: true, reason: 'HTTP status 200 url 1' },
    ]);
  });

  it('HTTP_GET fast_recovery re-checks at once after the failed url passes', () => {
    const sim = simulate(
      oneServer([
        {
          id: 'c1',
          type: 'HTTP_GET',
          urlCount: 1,
          fastRecovery: true,
          timing: timing({ retry: 0, delayBeforeRetryMs: 3000 }),
        },
      ]),
      { until: 20_000, result: (_id, n) => (n === 2 ? { ok: false, reason: 'HTTP status 500 for /' } : OK) },
    );
    // 1000 ok, 6000 fail -> down, 11000 ok (failed url passes), then at once (11100) ok -> up.
    assert.deepEqual(startsOf(sim), [1000, 6000, 11000, 11100, 16100]);
    assert.deepEqual(
      serverEvents(sim).map((e) => [e.t, e.up]),
      [
        [0, true],
        [6100, false],
        [11200, true],
      ],
    );
  });
});

describe('check scheduler: server state, alpha, omega, weights', () => {
  it('alpha: the real server starts down and comes up after the first success', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ alpha: true }) }]), {
      until: 3000,
      result: () => OK,
    });
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: false, reason: 'initial state (alpha: down until checks succeed)' },
      { t: 1100, up: true, reason: 'connected' },
    ]);
  });

  it('alpha: a failing first check keeps it down without retries or events', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'UDP_CHECK', timing: timing({ alpha: true }) }]), {
      until: 12_000,
      result: () => REFUSED,
    });
    assert.deepEqual(startsOf(sim), [1000, 6000, 11000]);
    assert.equal(serverEvents(sim).length, 1);
  });

  it('a real server is up only when all its checkers are up', () => {
    const sim = simulate(
      oneServer([
        { id: 'a', type: 'TCP_CHECK', timing: timing({ retry: 0 }) },
        { id: 'b', type: 'TCP_CHECK', timing: timing({ retry: 0 }) },
      ]),
      {
        until: 40_000,
        // a fails in [5000, 20000), b fails in [10000, 30000)
        result: (id, _n, t) =>
          (id === 'a' && t >= 5000 && t < 20_000) || (id === 'b' && t >= 10_000 && t < 30_000)
            ? { ok: false, reason: `${id} refused` }
            : OK,
      },
    );
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 6100, up: false, reason: 'a refused' },
      { t: 31_100, up: true, reason: 'connected' },
    ]);
    const checkerEvents = sim.events
      .filter((e) => e.type === 'checker-state-changed')
      .map((e) => [e.t, (e as { checkerId: string }).checkerId, (e as { up: boolean }).up]);
    assert.deepEqual(checkerEvents, [
      [6100, 'a', false],
      [11_100, 'b', false],
      [21_100, 'a', true],
      [31_100, 'b', true],
    ]);
  });

  it('misc_dynamic: exit 2..255 sets weight code-2, exit 0 restores it, a failure resets it when down', () => {
    const results: CheckResult[] = [
      { ok: true, reason: 'script exit 12 (weight 10)', weight: 10 },
      { ok: true, reason: 'script exit 12 (weight 10)', weight: 10 },
      { ok: true, reason: 'script exit 0' },
      { ok: true, reason: 'script exit 7 (weight 5)', weight: 5 },
      { ok: false, reason: 'script exit 1' },
    ];
    const sim = simulate(
      oneServer([{ id: 'c1', type: 'MISC_CHECK', timing: timing({ retry: 0 }) }], false, 3),
      { until: 22_000, result: (_id, n) => results[n - 1] ?? OK },
    );
    const weights = sim.events
      .filter((e) => e.type === 'weight-changed')
      .map((e) => [e.t, (e as { weight: number }).weight, (e as { previous: number }).previous]);
    assert.deepEqual(weights, [
      [1100, 10, 3],
      [11_100, 3, 10],
      [16_100, 5, 3],
      [21_100, 3, 5],
    ]);
    assert.deepEqual(serverEvents(sim).at(-1), { t: 21_100, up: false, reason: 'script exit 1' });
    assert.deepEqual(sim.sched.serverSnapshot()[0], {
      vs: 'vs1',
      rs: 'rs1',
      up: false,
      weight: 3,
      failedCheckers: 1,
    });
  });

  it('stop: alive servers go down; notifications only for omega virtual servers', () => {
    const vss: SchedVirtualServerSpec[] = [
      { key: 'plain', omega: false, realServers: [{ key: 'r', weight: 1, checkers: [] }] },
      { key: 'omega', omega: true, realServers: [{ key: 'r', weight: 1, checkers: [] }] },
    ];
    const s = new CheckScheduler(vss);
    s.start(0);
    const actions = s.stop();
    assert.deepEqual(
      actions.map((a) => a.type === 'server-state-changed' && [a.vs, a.up, a.notify]),
      [
        ['plain', false, false],
        ['omega', false, true],
      ],
    );
    assert.equal(s.nextDeadline(), undefined);
  });

  it('ignores stale or unknown completions', () => {
    const s = new CheckScheduler(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing() }]), {
      random: () => 0,
    });
    s.start(0);
    const [start] = s.poll(1000);
    assert.equal(start?.type, 'start-check');
    assert.deepEqual(s.complete('c1', 99, REFUSED, 1100), []);
    assert.deepEqual(s.complete('nope', 1, REFUSED, 1100), []);
    assert.equal(s.inFlight, 1);
  });
});

describe('check scheduler: timing', () => {
  it('keeps the grid: start-to-start spacing does not depend on how long checks take', () => {
    const sim = simulate(
      oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ delayLoopMs: 1000 }) }]),
      {
        until: 6500,
        result: () => OK,
        duration: () => 700,
      },
    );
    assert.deepEqual(startsOf(sim), [1000, 2000, 3000, 4000, 5000, 6000]);
  });

  it('an attempt already overdue when the previous one completes starts at once', () => {
    const sim = simulate(
      oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ delayLoopMs: 1000 }) }]),
      {
        until: 5000,
        result: () => OK,
        duration: () => 1500,
      },
    );
    assert.deepEqual(startsOf(sim), [1000, 2500, 4000]);
  });

  it('warmup: first runs fall in [bootstrap, bootstrap + warmup) for any random source', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 0, max: 60_000 }),
        (randoms, warmup) => {
          let i = 0;
          const checkers = randoms.map((_, k) => ({
            id: `c${k}`,
            type: 'TCP_CHECK' as const,
            timing: timing({ warmupMs: warmup, delayLoopMs: 60_000 }),
          }));
          const s = new CheckScheduler(oneServer(checkers), { random: () => randoms[i++ % randoms.length] });
          s.start(0);
          for (const c of s.checkerSnapshot()) {
            assert.ok(c.dueAt >= 1000 && (c.dueAt < 1000 + warmup || (warmup === 0 && c.dueAt === 1000)));
          }
        },
      ),
    );
  });

  it('staggering: with the default warmup (= delay_loop) first runs spread over one loop', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const checkers = Array.from({ length: 1000 }, (_, k) => {
      const t = resolveTiming('TCP_CHECK', { delayLoopMs: 1000 }, {}, {});
      return { id: `c${k}`, type: 'TCP_CHECK' as const, timing: t };
    });
    const s = new CheckScheduler(oneServer(checkers), { random });
    s.start(0);
    const perSlot = new Array(10).fill(0);
    for (const c of s.checkerSnapshot()) perSlot[Math.floor((c.dueAt - 1000) / 100)]++;
    // 1000 checks over 10 slots of 100 ms: none empty, none holding more than a quarter.
    for (const n of perSlot) assert.ok(n > 0 && n < 250, `slot count ${n}`);
  });

  it('in-flight bound: never more than maxInFlight attempts, the rest start as slots free up', () => {
    const checkers = Array.from({ length: 10 }, (_, k) => ({
      id: `c${k}`,
      type: 'TCP_CHECK' as const,
      timing: timing({ delayLoopMs: 1000 }),
    }));
    const sim = simulate(oneServer(checkers), {
      until: 1500,
      result: () => OK,
      maxInFlight: 3,
      duration: () => 100,
    });
    assert.equal(sim.maxInFlight, 3);
    const first = sim.starts.filter((s) => s.t < 1500);
    assert.deepEqual(
      first.map((s) => s.t),
      [1000, 1000, 1000, 1100, 1100, 1100, 1200, 1200, 1200, 1300],
    );
    // Lateness is visible (due 1000) and the next run stays on the grid: due 2000, not start + 1000.
    assert.ok(first.every((s) => s.due === 1000));
    const snapshot = sim.sched.checkerSnapshot();
    assert.ok(snapshot.filter((c) => !c.inFlight).every((c) => c.dueAt === 2000));
  });
});

describe('timing inheritance (check_data.c validate_check_config)', () => {
  it('checker > real server > virtual server > type default', () => {
    assert.deepEqual(resolveTiming('TCP_CHECK', {}, {}, {}), {
      alpha: false,
      retry: 1,
      connectTimeoutMs: 5000,
      delayLoopMs: 60_000,
      warmupMs: 60_000,
      delayBeforeRetryMs: 1000,
      virtualServerDelayLoopMs: 60_000,
    });
    const t = resolveTiming(
      'HTTP_GET',
      { delayLoopMs: 10_000, retry: 4, connectTimeoutMs: 2000, alpha: true },
      { delayLoopMs: 8000, warmupMs: 500 },
      { connectTimeoutMs: 1500 },
    );
    assert.deepEqual(t, {
      alpha: true,
      retry: 4,
      connectTimeoutMs: 1500,
      delayLoopMs: 8000,
      warmupMs: 500,
      delayBeforeRetryMs: 3000,
      virtualServerDelayLoopMs: 10_000,
    });
  });

  it('per-type defaults: MISC retry 0, DNS retry 3 and delay_before_retry = delay loop, HTTP/SSL dbr 3 s', () => {
    assert.equal(resolveTiming('MISC_CHECK', {}, {}, {}).retry, 0);
    const dns = resolveTiming('DNS_CHECK', {}, {}, { delayLoopMs: 7000 });
    assert.equal(dns.retry, 3);
    assert.equal(dns.delayBeforeRetryMs, 7000);
    assert.equal(resolveTiming('SSL_GET', {}, {}, {}).delayBeforeRetryMs, 3000);
    assert.equal(resolveTiming('UDP_CHECK', {}, {}, {}).delayBeforeRetryMs, 1000);
  });

  it('warmup defaults to the checker delay loop, an explicit 0 disables it', () => {
    assert.equal(resolveTiming('TCP_CHECK', { delayLoopMs: 3000 }, {}, { delayLoopMs: 2000 }).warmupMs, 2000);
    assert.equal(resolveTiming('TCP_CHECK', { warmupMs: 0 }, {}, {}).warmupMs, 0);
    assert.equal(resolveTiming('TCP_CHECK', {}, { retry: 0 }, { retry: 5 }).retry, 5);
    assert.equal(resolveTiming('TCP_CHECK', { delayBeforeRetryMs: 250 }, {}, {}).delayBeforeRetryMs, 250);
  });
});

describe('check scheduler: resuming carried checker states (the checker part restarted)', () => {
  const weights = (sim: Sim) =>
    sim.events
      .filter((e) => e.type === 'weight-changed')
      .map((e) => [e.t, (e as { weight: number }).weight, (e as { previous: number }).previous]);

  it('a checker carried down starts down: failures change nothing, the first success brings it up', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing() }]), {
      until: 20_000,
      resume: new Map([['c1', { up: false }]]),
      result: (_id, _n, t) => (t < 10_000 ? REFUSED : OK),
    });
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: false, reason: 'initial state (alpha: down until checks succeed)' },
      { t: 10_100, up: true, reason: 'connected' },
    ]);
  });

  it('without the carried state the same checker would start up and never report the server up again', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing() }]), {
      until: 20_000,
      result: (_id, _n, t) => (t < 10_000 ? REFUSED : OK),
    });
    assert.deepEqual(serverEvents(sim)[0], { t: 0, up: true, reason: 'initial state' });
  });

  it('a checker carried up starts up even when alpha, and goes through its retries before going down', () => {
    const sim = simulate(oneServer([{ id: 'c1', type: 'TCP_CHECK', timing: timing({ alpha: true }) }]), {
      until: 8000,
      resume: new Map([['c1', { up: true }]]),
      result: () => REFUSED,
    });
    assert.deepEqual(serverEvents(sim), [
      { t: 0, up: true, reason: 'initial state' },
      { t: 3100, up: false, reason: 'connection refused (after 2 retries)' },
    ]);
    assert.deepEqual(startsOf(sim), [1000, 2000, 3000, 8000]);
  });

  it('a carried misc_dynamic weight is the weight at start, and exit 0 restores the configured one', () => {
    const sim = simulate(
      oneServer([{ id: 'c1', type: 'MISC_CHECK', timing: timing({ retry: 0 }) }], false, 3),
      {
        until: 2000,
        resume: new Map([['c1', { up: true, dynamicWeight: 10 }]]),
        result: () => ({ ok: true, reason: 'script exit 0' }),
      },
    );
    assert.deepEqual(weights(sim), [
      [0, 10, 3],
      [1100, 3, 10],
    ]);
  });

  it('checkers the carried state does not name start as at a first start', () => {
    const spec = (id: string): SchedCheckerSpec => ({
      id,
      type: 'TCP_CHECK',
      timing: timing({ alpha: true }),
    });
    const s = new CheckScheduler(oneServer([spec('c1'), spec('c2')]), {
      resume: new Map([['c1', { up: true }]]),
    });
    s.start(0);
    assert.deepEqual(
      s.checkerSnapshot().map((c) => [c.id, c.up, c.hasRun]),
      [
        ['c1', true, true],
        ['c2', false, false],
      ],
    );
  });
});
