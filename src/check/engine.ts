/**
 * The health-check driver: real time and real checkers around the pure
 * CheckScheduler. One timer, armed for the scheduler's next deadline.
 * Completions are delivered in batches: a checker calls back from its I/O
 * callback, the result is queued, and once per event-loop turn (setImmediate,
 * after every I/O callback of that turn) the whole batch goes through the
 * scheduler and the timer is re-armed once. So an attempt costs its I/O
 * callbacks and nothing per attempt beyond them. Everything interesting
 * (retries, state, staggering, the in-flight bound, ha_suspend skips) is
 * decided by the scheduler; this file only does I/O and bookkeeping.
 *
 * FILE_CHECK checkers are fed from a TrackFileWatcher (file-check.ts);
 * ha_suspend follows the host's addresses through a HaSuspendTracker
 * (ha-suspend.ts), given by the caller (setHostAddresses / addressAdded /
 * addressRemoved), or directly with suspendVirtualServer / resume.
 *
 * reload(plan) applies a new plan in place (issue 10, hitless reload): the
 * scheduler keeps every checker whose definition is unchanged (definition.ts,
 * the same rule `halo reload --plan` prints) with its state, counters,
 * schedule and running attempt; only new and changed checkers start, and the
 * attempts of removed and changed ones are aborted and their results dropped.
 * Each attempt has its own abort signal so that one checker's attempt can be
 * aborted alone; the controllers are pooled (one per attempt in flight, reused
 * once the attempt is done), so an attempt allocates none.
 *
 * Events (all synchronous, in scheduler order):
 *  'server'  ServerStateAction   a real server went up/down (feeds IPVS + notify)
 *  'checker' CheckerStateAction  one checker went up/down
 *  'weight'  WeightAction        misc_dynamic or FILE_CHECK changed a real server's weight
 *  'attempt' AttemptEvent        one attempt finished (result, lag, duration)
 *  'suspend' SuspendEvent        ha_suspend suspended or resumed a virtual server's checkers
 *  'warning' EngineWarning       something the operator should know (a track file that cannot be watched, ...)
 *  'settled' (no argument)       the 'server'/'weight' events of one batch are all out: recompute
 *                                derived state (the IPVS table) once here, not once per event
 *                                (at start every real server reports at once)
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  type CheckDone,
  checkerError,
  startCheck as defaultStartCheck,
  fromPromise,
  type RunCheck,
  type StartCheck,
} from './checkers/index.js';
import { fileCheckReason, fileCheckState, TrackFileWatcher, type WatchedFile } from './file-check.js';
import { HaSuspendTracker } from './ha-suspend.js';
import {
  type CheckerSnapshot,
  type CheckerStateAction,
  CheckScheduler,
  type PassiveState,
  type RealServerSnapshot,
  type SchedulerAction,
  type SchedulerOptions,
  type ServerStateAction,
  type StartCheckAction,
  schedulerSpecs,
  validateSpecs,
  type WeightAction,
} from './scheduler.js';
import type { CheckPlan, CheckResult, FileTarget, PlanChecker } from './types.js';

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

export interface SuspendEvent {
  vs: string;
  suspended: boolean;
  /** Checkers (not FILE_CHECK) that stop or start running. */
  checkers: number;
}

export interface EngineWarning {
  message: string;
  vs?: string;
  checkerId?: string;
}

export interface EngineOptions extends SchedulerOptions {
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Checker dispatch, promise style (tests). */
  runCheck?: RunCheck;
  /** Checker dispatch, callback style (default: the real checkers). */
  startCheck?: StartCheck;
  /**
   * ha_suspend: the host's addresses at start (one entry per address per
   * interface). Without them, ha_suspend virtual servers are not suspended
   * until setHostAddresses() is called (and a 'warning' says so).
   */
  hostAddresses?: string[];
  /** FILE_CHECK: delay between a change event and reading the file (default file-check.ts SETTLE_MS). */
  fileSettleMs?: number;
  /** Restarted after a reload: init_file does not overwrite existing files (keepalived). */
  reload?: boolean;
}

export interface EngineReloadOptions {
  /** ha_suspend: the host's addresses now (else the ones the engine was last told). */
  hostAddresses?: string[];
}

/** What a reload did, by checker key (as in the plan). */
export interface EngineReload {
  /** Checkers that kept running with their state, counters and schedule. */
  kept: number;
  /** New checkers (started fresh). */
  started: string[];
  /** Removed checkers (their attempt in flight aborted). */
  stopped: string[];
  /** Changed checkers: the old one stopped (attempt aborted), the new one started fresh. */
  restarted: string[];
}

/** One checker as the driver knows it; the object lives as long as the checker (a reload keeps it). */
interface Target {
  spec: PlanChecker;
  /** Actual start and due time of the previous attempt (interval errors). */
  prevStart: number;
  prevDue: number;
  /** The abort controller of the attempt in flight. */
  ctl: AbortController | undefined;
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

interface Completion {
  a: StartCheckAction;
  t: Target;
  started: number;
  lagMs: number;
  result: CheckResult;
  end: number;
}

export class CheckEngine extends EventEmitter {
  private readonly scheduler: CheckScheduler;
  private targets = new Map<string, Target>();
  private readonly now: () => number;
  private readonly start_: StartCheck;
  /** Abort controllers of finished (not aborted) attempts, for the next attempts. */
  private readonly spareControllers: AbortController[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private stopped = false;
  /** Attempts started and not yet called back. */
  private outstanding = 0;
  private drained: (() => void) | undefined;
  /** Completions waiting for the next flush; `flushing` is the batch being applied. */
  private completed: Completion[] = [];
  private spare: Completion[] = [];
  private flushQueued = false;
  private readonly flushBound = () => this.flush();
  private readonly lag = new LagHistogram();
  private readonly intervalError = new LagHistogram();
  private attempts = 0;
  private failures = 0;
  /** FILE_CHECK checkers by watched path. */
  private fileCheckers = new Map<string, Array<{ id: string; target: FileTarget }>>();
  private fileWatcher: TrackFileWatcher | undefined;
  private haSuspend: HaSuspendTracker | undefined;
  /** The virtual servers whose checkers follow ha_suspend. */
  private haSuspendKeys = new Set<string>();
  private checkersPerVs = new Map<string, number>();
  /** ha_suspend: the host's addresses (one entry per address per interface); undefined until known. */
  private hostAddresses: string[] | undefined;

  constructor(
    plan: CheckPlan,
    private readonly opts: EngineOptions = {},
  ) {
    super();
    this.scheduler = CheckScheduler.fromPlan(plan, opts);
    for (const vs of plan.virtualServers)
      for (const rs of vs.realServers)
        for (const c of rs.checkers)
          this.targets.set(c.key, { spec: c, prevStart: Number.NaN, prevDue: 0, ctl: undefined });
    this.index(plan);
    this.hostAddresses = opts.hostAddresses && [...opts.hostAddresses];
    this.now = opts.now ?? (() => performance.now());
    this.start_ = opts.startCheck ?? (opts.runCheck ? fromPromise(opts.runCheck) : defaultStartCheck);
  }

  /** FILE_CHECK paths, polled checkers per virtual server and the ha_suspend tracker of a plan. */
  private index(plan: CheckPlan): void {
    this.fileCheckers = new Map();
    this.checkersPerVs = new Map();
    for (const vs of plan.virtualServers) {
      let polled = 0;
      for (const rs of vs.realServers) {
        for (const c of rs.checkers) {
          if (c.target.type === 'FILE_CHECK') {
            const list = this.fileCheckers.get(c.target.path) ?? [];
            list.push({ id: c.key, target: c.target });
            this.fileCheckers.set(c.target.path, list);
          } else polled++;
        }
      }
      this.checkersPerVs.set(vs.key, (this.checkersPerVs.get(vs.key) ?? 0) + polled);
    }
    const suspendable = plan.virtualServers.filter((vs) => vs.haSuspend !== undefined);
    this.haSuspendKeys = new Set(suspendable.map((vs) => vs.key));
    this.haSuspend =
      suspendable.length > 0
        ? new HaSuspendTracker(suspendable.map((vs) => ({ vs: vs.key, ranges: vs.haSuspend ?? [] })))
        : undefined;
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.startFileChecks();
    this.suspendFromAddresses();
    this.apply(this.scheduler.start(this.now()));
    this.settle();
    this.arm();
  }

  /**
   * Apply a new plan in place (see the file comment and CheckScheduler.reload): kept checkers go on as
   * if nothing happened; new and changed ones start fresh; attempts of removed and changed ones are
   * aborted and their results dropped. FILE_CHECK: kept paths stay watched with their value, new paths
   * are read and watched, dropped ones are no longer watched; init_file only creates missing files (it
   * never overwrites on a reload). ha_suspend: the new address ranges are evaluated against the host's
   * addresses (kept virtual servers keep their state unless the new ranges say otherwise; a virtual server
   * that no longer has ha_suspend resumes). The resulting 'server' / 'weight' / 'suspend' events go out
   * before this returns, followed by one 'settled' if any of them did. Before start() it only replaces
   * the plan. Invalid plans (duplicate keys, an HTTP checker without urls) throw and change nothing.
   */
  reload(plan: CheckPlan, opts: EngineReloadOptions = {}): EngineReload {
    if (this.stopped) throw new Error('the check engine is stopped');
    const specs = schedulerSpecs(plan);
    validateSpecs(specs); // before anything changes: an invalid plan leaves the engine as it was
    const hadHaSuspend = this.haSuspendKeys;
    this.index(plan);
    // FILE_CHECK: the value of every file of the new plan, as the state a new or changed FILE_CHECK starts in.
    const passive = new Map<string, PassiveState>();
    if (this.running) {
      for (const [path, value] of this.followFiles()) {
        for (const c of this.fileCheckers.get(path) ?? []) {
          passive.set(c.id, fileCheckState(value, c.target.weight, c.target.reverse));
        }
      }
    }
    const r = this.scheduler.reload(specs, this.now(), passive);
    const restarted = new Set(r.restarted);
    const targets = new Map<string, Target>();
    for (const vs of plan.virtualServers)
      for (const rs of vs.realServers)
        for (const c of rs.checkers) {
          const kept = restarted.has(c.key) ? undefined : this.targets.get(c.key);
          // Kept: the same record (its attempt in flight, its interval statistics), with the new plan's
          // spec object (same definition; log settings may differ).
          if (kept) kept.spec = c;
          targets.set(c.key, kept ?? { spec: c, prevStart: Number.NaN, prevDue: 0, ctl: undefined });
        }
    for (const id of [...r.stopped, ...r.restarted]) {
      const t = this.targets.get(id);
      t?.ctl?.abort();
      if (t) t.ctl = undefined;
    }
    this.targets = targets;
    if (opts.hostAddresses) this.hostAddresses = [...opts.hostAddresses];
    if (this.running) {
      this.suspendFromAddresses();
      // A virtual server that lost ha_suspend in this reload runs again (one suspended directly stays so).
      for (const key of hadHaSuspend) if (!this.haSuspendKeys.has(key)) this.setSuspended(key, false);
      this.apply(r.actions);
      this.settle();
      this.arm();
    }
    return { kept: r.kept.length, started: r.started, stopped: r.stopped, restarted: r.restarted };
  }

  /** Stop checking; in-flight attempts are aborted. Returns the final 'server' events' actions. */
  async stop(): Promise<ServerStateAction[]> {
    if (!this.running) return [];
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.fileWatcher?.stop();
    const final = this.scheduler.stop();
    for (const t of this.targets.values()) t.ctl?.abort();
    if (this.outstanding > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.completed.length = 0;
    this.apply(final);
    this.settle();
    return final.filter((a): a is ServerStateAction => a.type === 'server-state-changed');
  }

  servers(): RealServerSnapshot[] {
    return this.scheduler.serverSnapshot();
  }

  /** Every checker's state (what a restarted checker part resumes from: EngineOptions.resume). */
  checkers(): CheckerSnapshot[] {
    return this.scheduler.checkerSnapshot();
  }

  /* ---------------------------------------------------------------- ha_suspend */

  /** ha_suspend: the host's addresses now (e.g. from an address dump); suspends/resumes to match. */
  setHostAddresses(addresses: string[]): void {
    this.hostAddresses = [...addresses];
    if (this.haSuspend) this.applySuspend(this.haSuspend.initial(addresses));
  }

  /** ha_suspend: an address appeared on an interface of this host. */
  addressAdded(address: string): void {
    this.hostAddresses?.push(address);
    if (this.haSuspend) this.applySuspend(this.haSuspend.added(address));
  }

  /** ha_suspend: an address left an interface of this host. */
  addressRemoved(address: string): void {
    const i = this.hostAddresses?.indexOf(address) ?? -1;
    if (i >= 0) this.hostAddresses?.splice(i, 1);
    if (this.haSuspend) this.applySuspend(this.haSuspend.removed(address));
  }

  /** ha_suspend from the known host addresses (at start and after a reload), or a warning that they are unknown. */
  private suspendFromAddresses(): void {
    if (!this.haSuspend) return;
    if (this.hostAddresses) this.applySuspend(this.haSuspend.initial(this.hostAddresses));
    else {
      this.emit('warning', {
        message:
          'ha_suspend: the host addresses are not known yet, so the checkers of ha_suspend virtual servers run until they are',
      } satisfies EngineWarning);
    }
  }

  /** Suspend a virtual server's checkers directly; false when unknown or already suspended. */
  suspendVirtualServer(vs: string): boolean {
    return this.setSuspended(vs, true);
  }

  resumeVirtualServer(vs: string): boolean {
    return this.setSuspended(vs, false);
  }

  isSuspended(vs: string): boolean {
    return this.scheduler.isSuspended(vs);
  }

  private applySuspend(changes: Array<{ vs: string; suspended: boolean }>): void {
    for (const c of changes) this.setSuspended(c.vs, c.suspended);
  }

  private setSuspended(vs: string, suspended: boolean): boolean {
    if (!this.scheduler.setSuspended(vs, suspended)) return false;
    this.emit('suspend', { vs, suspended, checkers: this.checkersPerVs.get(vs) ?? 0 } satisfies SuspendEvent);
    return true;
  }

  /* ---------------------------------------------------------------- FILE_CHECK */

  /** The files of the current plan, one entry per path. */
  private watchedFiles(): WatchedFile[] {
    return [...this.fileCheckers.values()].map((list) => ({
      path: list[0].target.path,
      initFile: list.find((c) => c.target.initFile)?.target.initFile,
    }));
  }

  private newFileWatcher(): TrackFileWatcher {
    return new TrackFileWatcher(
      this.watchedFiles(),
      (path, value) => this.onFileValue(path, value),
      (path, message) => {
        const ids = this.fileCheckers.get(path)?.map((c) => c.id) ?? [];
        this.emit('warning', { message, checkerId: ids[0] } satisfies EngineWarning);
      },
      this.opts.fileSettleMs,
    );
  }

  private startFileChecks(): void {
    if (this.fileCheckers.size === 0) return;
    this.fileWatcher = this.newFileWatcher();
    const values = this.fileWatcher.start(this.opts.reload ?? false);
    // Before the scheduler starts: this sets the initial states and weights silently.
    for (const [path, value] of values) this.onFileValue(path, value);
  }

  /** Reload: the watcher follows the new plan's files; returns every file's value. */
  private followFiles(): Map<string, number> {
    if (this.fileCheckers.size === 0) {
      this.fileWatcher?.stop();
      this.fileWatcher = undefined;
      return new Map();
    }
    if (this.fileWatcher) return this.fileWatcher.update(this.watchedFiles());
    this.fileWatcher = this.newFileWatcher();
    return this.fileWatcher.start(true);
  }

  private onFileValue(path: string, value: number): void {
    if (this.stopped) return;
    for (const c of this.fileCheckers.get(path) ?? []) {
      const st = fileCheckState(value, c.target.weight, c.target.reverse);
      this.apply(
        this.scheduler.setPassive(c.id, st.up, st.weightDelta, fileCheckReason(c.target.name, value, st)),
      );
    }
    if (this.running) this.settle();
  }

  /* ---------------------------------------------------------------- stats */

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
    this.settle();
    this.arm();
  }

  /** A 'server' or 'weight' event went out since the last 'settled'. */
  private unsettled = false;

  private settle(): void {
    if (!this.unsettled) return;
    this.unsettled = false;
    this.emit('settled');
  }

  private apply(actions: SchedulerAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'start-check':
          this.launch(a);
          break;
        case 'server-state-changed':
          this.unsettled = true;
          this.emit('server', a satisfies ServerStateAction);
          break;
        case 'checker-state-changed':
          this.emit('checker', a satisfies CheckerStateAction);
          break;
        case 'weight-changed':
          this.unsettled = true;
          this.emit('weight', a satisfies WeightAction);
          break;
      }
    }
  }

  /** An abort controller for one attempt: a spare one, or a new one when all are in use. */
  private takeController(): AbortController {
    const spare = this.spareControllers.pop();
    if (spare) return spare;
    const ctl = new AbortController();
    setMaxListeners(0, ctl.signal);
    return ctl;
  }

  private launch(a: StartCheckAction): void {
    const t = this.targets.get(a.checkerId) as Target;
    const started = this.now();
    const lagMs = started - a.dueAt;
    this.lag.add(lagMs);
    if (a.retry === 0 && !Number.isNaN(t.prevStart)) {
      this.intervalError.add(Math.abs(started - t.prevStart - (a.dueAt - t.prevDue)));
    }
    t.prevStart = started;
    t.prevDue = a.dueAt;
    this.outstanding++;
    const ctl = this.takeController();
    t.ctl = ctl;
    let called = false;
    const done: CheckDone = (result) => {
      if (called) return; // a checker calling twice is a bug there, not a second result
      called = true;
      this.completedOne(a, t, ctl, started, lagMs, result);
    };
    try {
      this.start_(t.spec.target, a.urlIndex, ctl.signal, done);
    } catch (err) {
      done(checkerError(err));
    }
  }

  private completedOne(
    a: StartCheckAction,
    t: Target,
    ctl: AbortController,
    started: number,
    lagMs: number,
    result: CheckResult,
  ): void {
    this.outstanding--;
    if (t.ctl === ctl) t.ctl = undefined;
    if (!this.running) {
      if (this.outstanding === 0) this.drained?.();
      return;
    }
    // Aborted by a reload that removed or replaced its checker: the result belongs to no checker now.
    if (ctl.signal.aborted) return;
    this.spareControllers.push(ctl);
    this.completed.push({ a, t, started, lagMs, result, end: this.now() });
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flushBound);
    }
  }

  /** Apply every completion since the last flush, then re-arm the timer once. */
  private flush(): void {
    this.flushQueued = false;
    if (!this.running) return;
    const batch = this.completed;
    this.completed = this.spare;
    const wantAttempts = this.listenerCount('attempt') > 0;
    for (const c of batch) {
      // Done before a reload that removed or replaced its checker, applied after: it belongs to no checker.
      if (this.targets.get(c.a.checkerId) !== c.t) continue;
      this.attempts++;
      if (!c.result.ok) this.failures++;
      if (wantAttempts) {
        this.emit('attempt', {
          checkerId: c.a.checkerId,
          attempt: c.a.attempt,
          retry: c.a.retry,
          urlIndex: c.a.urlIndex,
          result: c.result,
          lagMs: c.lagMs,
          durationMs: c.end - c.started,
        } satisfies AttemptEvent);
      }
      this.apply(this.scheduler.complete(c.a.checkerId, c.a.attempt, c.result, c.end));
      if (!this.running) break;
    }
    batch.length = 0;
    this.spare = batch;
    this.settle();
    this.arm();
  }
}
