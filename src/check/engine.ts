/**
 * The health-check driver: real time and real checkers around the pure
 * CheckScheduler. One timer, armed for the scheduler's next deadline; each
 * attempt's completion is fed back at once. Everything interesting
 * (retries, state, staggering, the in-flight bound) is decided by the
 * scheduler; this file only does I/O and bookkeeping.
 *
 * Events (all synchronous, in scheduler order):
 *  'server'  ServerStateAction   a real server went up/down (feeds IPVS + notify)
 *  'checker' CheckerStateAction  one checker went up/down
 *  'weight'  WeightAction        misc_dynamic changed a real server's weight
 *  'attempt' AttemptEvent        one attempt finished (result, lag, duration)
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { runCheck as defaultRunCheck, type RunCheck } from './checkers/index.js';
import {
  type CheckerStateAction,
  CheckScheduler,
  type RealServerSnapshot,
  type SchedulerAction,
  type SchedulerOptions,
  type ServerStateAction,
  type StartCheckAction,
  type WeightAction,
} from './scheduler.js';
import type { CheckPlan, CheckResult, CheckTarget, PlanChecker } from './types.js';

export interface AttemptEvent {
  checkerId: string;
  attempt: number;
  retry: number;
  urlIndex: number;
  result: CheckResult;
  /** Start time minus due time (ms): how late the attempt started. */
  lagMs: number;
  durationMs: number;
}

export interface EngineOptions extends SchedulerOptions {
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Checker dispatch (default: the real checkers). */
  runCheck?: RunCheck;
}

/** Start-lag histogram with 0.1 ms buckets up to 10 s. */
class LagHistogram {
  private readonly buckets = new Uint32Array(100_001);
  count = 0;
  max = 0;

  add(ms: number): void {
    const v = Math.max(0, ms);
    this.buckets[Math.min(this.buckets.length - 1, Math.floor(v * 10))]++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= target) return (i + 1) / 10;
    }
    return this.max;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

export interface EngineStats {
  attempts: number;
  failures: number;
  inFlight: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** |actual - configured| start-to-start interval of consecutive regular checks of a checker. */
  intervalErrorP50Ms: number;
  intervalErrorP99Ms: number;
  intervalErrorMaxMs: number;
}

export class CheckEngine extends EventEmitter {
  private readonly scheduler: CheckScheduler;
  private readonly targets = new Map<string, PlanChecker>();
  private readonly now: () => number;
  private readonly run: RunCheck;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly lag = new LagHistogram();
  private readonly intervalError = new LagHistogram();
  /** Per checker: [actual start, due] of its previous attempt, for interval errors. */
  private readonly previousStart = new Map<string, [number, number]>();
  private attempts = 0;
  private failures = 0;

  constructor(plan: CheckPlan, opts: EngineOptions = {}) {
    super();
    this.scheduler = CheckScheduler.fromPlan(plan, opts);
    for (const vs of plan.virtualServers) {
      for (const rs of vs.realServers) for (const c of rs.checkers) this.targets.set(c.key, c);
    }
    this.now = opts.now ?? (() => performance.now());
    this.run = opts.runCheck ?? defaultRunCheck;
    setMaxListeners(0, this.abort.signal);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.apply(this.scheduler.start(this.now()));
    this.arm();
  }

  /** Stop checking; in-flight attempts are aborted. Returns the final 'server' events' actions. */
  async stop(): Promise<ServerStateAction[]> {
    if (!this.running) return [];
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const final = this.scheduler.stop();
    this.abort.abort();
    await Promise.allSettled([...this.pending]);
    this.apply(final);
    return final.filter((a): a is ServerStateAction => a.type === 'server-state-changed');
  }

  servers(): RealServerSnapshot[] {
    return this.scheduler.serverSnapshot();
  }

  stats(): EngineStats {
    return {
      attempts: this.attempts,
      failures: this.failures,
      inFlight: this.scheduler.inFlight,
      lagP50Ms: this.lag.quantile(0.5),
      lagP99Ms: this.lag.quantile(0.99),
      lagMaxMs: this.lag.max,
      intervalErrorP50Ms: this.intervalError.quantile(0.5),
      intervalErrorP99Ms: this.intervalError.quantile(0.99),
      intervalErrorMaxMs: this.intervalError.max,
    };
  }

  resetStats(): void {
    this.lag.reset();
    this.intervalError.reset();
    this.attempts = 0;
    this.failures = 0;
  }

  private arm(): void {
    if (!this.running) return;
    const at = this.scheduler.nextDeadline();
    if (at === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer && at >= this.timerAt) return; // the armed timer fires first anyway
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - this.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (!this.running) return;
    this.apply(this.scheduler.poll(this.now()));
    this.arm();
  }

  private apply(actions: SchedulerAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'start-check':
          this.launch(a);
          break;
        case 'server-state-changed':
          this.emit('server', a satisfies ServerStateAction);
          break;
        case 'checker-state-changed':
          this.emit('checker', a satisfies CheckerStateAction);
          break;
        case 'weight-changed':
          this.emit('weight', a satisfies WeightAction);
          break;
      }
    }
  }

  private launch(a: StartCheckAction): void {
    const spec = this.targets.get(a.checkerId) as PlanChecker;
    const started = this.now();
    const lagMs = started - a.dueAt;
    this.lag.add(lagMs);
    const prev = this.previousStart.get(a.checkerId);
    if (prev && a.retry === 0) this.intervalError.add(Math.abs(started - prev[0] - (a.dueAt - prev[1])));
    if (prev) {
      prev[0] = started;
      prev[1] = a.dueAt;
    } else this.previousStart.set(a.checkerId, [started, a.dueAt]);
    const p = this.safeRun(spec.target, a.urlIndex).then((result) => {
      this.pending.delete(p);
      if (!this.running) return;
      this.attempts++;
      if (!result.ok) this.failures++;
      const end = this.now();
      if (this.listenerCount('attempt') > 0) {
        this.emit('attempt', {
          checkerId: a.checkerId,
          attempt: a.attempt,
          retry: a.retry,
          urlIndex: a.urlIndex,
          result,
          lagMs,
          durationMs: end - started,
        } satisfies AttemptEvent);
      }
      this.apply(this.scheduler.complete(a.checkerId, a.attempt, result, end));
      this.arm();
    });
    this.pending.add(p);
  }

  /** A checker that throws is a failed attempt, never a crashed engine. */
  private async safeRun(target: CheckTarget, urlIndex: number): Promise<CheckResult> {
    try {
      return await this.run(target, urlIndex, this.abort.signal);
    } catch (err) {
      return { ok: false, reason: `checker error: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}
