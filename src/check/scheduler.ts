/**
 * The health-check scheduler: a sans-IO core. It owns every checker's
 * up/down state, retry counters and next due time, and turns time and
 * completion events into actions (start a check attempt, a checker / real
 * server changed state, a weight changed). No sockets, timers or processes:
 * the driver (engine.ts) asks `nextDeadline()`, calls `poll(now)` when it is
 * reached and `complete(...)` when an attempt ends. Randomness (warmup) comes
 * from an injected `random()`, so tests are deterministic with a fake clock.
 *
 * Retry semantics follow keepalived 2.2.7 exactly, and keepalived is not
 * uniform across checker types; each type's epilogue is reproduced:
 *  - TCP_CHECK (check_tcp.c tcp_epilog): a failure retries after
 *    delay_before_retry until `retry` retries have failed, then the checker is
 *    down and the next check is a delay_loop later. This retry cycle also runs
 *    while the checker is already down (no state change).
 *  - UDP_CHECK, PING_CHECK, DNS_CHECK, MISC_CHECK (udp_epilog, icmp_epilog,
 *    dns_final, misc_check_child_thread): retries only while the checker is
 *    up; a down checker is simply re-checked every delay_loop.
 *  - SMTP_CHECK (smtp_final, smtp_start_check_thread): the retry counter is
 *    reset at every regular check, so the very first check and a down checker
 *    also retry.
 *  - HTTP_GET/SSL_GET (check_http.c epilog, timeout_epilog): one url per
 *    attempt, urls walked one delay_loop apart; a failing url is retried while
 *    the checker is up; once down, the failed url is re-checked every
 *    max(delay_before_retry, delay_loop), and after it passes every url is
 *    checked again from the first before the checker comes up. fast_recovery
 *    re-checks at once instead of waiting.
 * Common to all (check_data.c validate_check_config, ipwrapper.c
 * update_svr_checker_state): before its first completed check a non-alpha
 * checker needs just one failure to go down (retry_it starts at `retry`); an
 * alpha checker starts down; a down checker comes up after one success
 * (HTTP: after all urls pass). A real server is up when none of its checkers
 * is down.
 *
 * Timing, where halo deliberately differs: keepalived re-arms most checkers a
 * delay *after the attempt completed* (thread_add_timer in each epilogue), so
 * the period drifts by the check's duration and by event-loop lag. Only
 * MISC_CHECK schedules from the attempt's start (misc_check_child_thread:
 * last_ran + delay). halo applies that MISC_CHECK rule to every checker and
 * goes one step further: the next attempt is due at the previous attempt's
 * *scheduled* time + delay, so neither slow checks nor a saturated in-flight
 * bound shift the grid. An attempt that is already overdue when the previous
 * one completes starts at once (as keepalived's MISC_CHECK does).
 * First runs: keepalived starts each checker BOOTSTRAP_DELAY (1 s) +
 * random(0..warmup) after start, warmup defaulting to the delay loop
 * (check_api.c register_checkers_thread); halo does the same.
 *
 * FILE_CHECK checkers are passive: never started, their state and weight
 * set by setPassive() from the file's value (file-check.ts); keepalived
 * clears their alpha, and they count as run from the start.
 * ha_suspend: a suspended virtual server's checkers keep their state and
 * skip their due attempts, one delay_loop at a time (keepalived's disabled
 * checker thread re-arms itself every delay_loop without checking); after
 * resume they run at their next due time.
 */
import { BOOTSTRAP_DELAY_MS } from './timing.js';
import type { CheckerType, CheckPlan, CheckResult, CheckTiming } from './types.js';

/** "connect timeout after 3s (after 2 retries)": how many attempts failed in a row. */
function withRetries(reason: string, failStreak: number): string {
  return failStreak > 1 ? `${reason} (after ${failStreak - 1} retries)` : reason;
}

export type RetryFlavour = 'cycle' | 'up-only' | 'smtp' | 'http' | 'passive';

export function retryFlavour(type: CheckerType): RetryFlavour {
  switch (type) {
    case 'FILE_CHECK':
      return 'passive';
    case 'TCP_CHECK':
      return 'cycle';
    case 'SMTP_CHECK':
      return 'smtp';
    case 'HTTP_GET':
    case 'SSL_GET':
      return 'http';
    default:
      return 'up-only';
  }
}

/** Input per checker: what the scheduler needs (the target itself stays with the driver). */
export interface SchedCheckerSpec {
  id: string;
  type: CheckerType;
  timing: CheckTiming;
  /** HTTP_GET/SSL_GET: number of urls (attempts walk them). */
  urlCount?: number;
  fastRecovery?: boolean;
}

export interface SchedRealServerSpec {
  key: string;
  weight: number;
  checkers: SchedCheckerSpec[];
}

export interface SchedVirtualServerSpec {
  key: string;
  omega: boolean;
  realServers: SchedRealServerSpec[];
  /** ha_suspend: start with the checkers suspended. */
  suspended?: boolean;
}

export interface StartCheckAction {
  type: 'start-check';
  checkerId: string;
  /** Sequence number of this attempt for this checker; pass it back to complete(). */
  attempt: number;
  /** 0 for a regular check, n for the n-th retry after a failure. */
  retry: number;
  /** HTTP_GET/SSL_GET: which url this attempt checks. */
  urlIndex: number;
  /** When the attempt was due (ms); now - dueAt is the scheduling lag. */
  dueAt: number;
}

export interface CheckerStateAction {
  type: 'checker-state-changed';
  checkerId: string;
  vs: string;
  rs: string;
  up: boolean;
  reason: string;
}

export interface ServerStateAction {
  type: 'server-state-changed';
  vs: string;
  rs: string;
  up: boolean;
  /** What caused it: the start-up announcement, a check result, or the scheduler stopping. */
  cause: 'initial' | 'check' | 'shutdown';
  reason: string;
  /** Checker whose result caused the change (undefined at start / stop). */
  checkerId?: string;
  /** Run notify scripts for this change: always, except at stop without omega. */
  notify: boolean;
}

export interface WeightAction {
  type: 'weight-changed';
  vs: string;
  rs: string;
  weight: number;
  previous: number;
  checkerId: string;
}

export type SchedulerAction = StartCheckAction | CheckerStateAction | ServerStateAction | WeightAction;

export interface SchedulerOptions {
  /**
   * Bound on attempts in flight at once (each holds a socket or a process); due attempts beyond it
   * wait (default 1024). At 11,000 checks/s a loaded host's attempts average ~20 ms end to end, so
   * 256 was reached often and the schedule slipped; 1024 keeps 4x headroom within common fd limits.
   */
  maxInFlight?: number;
  /** Delay before any first run (keepalived BOOTSTRAP_DELAY, 1 s). */
  bootstrapDelayMs?: number;
  /** Uniform random in [0, 1); default Math.random. */
  random?: () => number;
}

interface VirtualServerState {
  suspended: boolean;
}

interface RealServerState {
  vs: string;
  vsState: VirtualServerState;
  rs: string;
  omega: boolean;
  configuredWeight: number;
  failedCheckers: number;
  alive: boolean;
  checkers: CheckerState[];
}

interface CheckerState {
  spec: SchedCheckerSpec;
  flavour: RetryFlavour;
  server: RealServerState;
  up: boolean;
  hasRun: boolean;
  retryIt: number;
  /** Next attempt is a retry (not a regular, delay_loop-spaced check). */
  nextIsRetry: boolean;
  urlIndex: number;
  failedUrl: number | null;
  /** misc_dynamic: this checker's contribution to the effective weight. */
  weightDelta: number;
  /** Consecutive failed attempts (for "after N retries" in reasons). */
  failStreak: number;
  attempt: number;
  inFlight: boolean;
  dueAt: number;
  /** Heap slot, -1 when not queued. */
  heapIndex: number;
  queueSeq: number;
}

/** Binary min-heap on (dueAt, queueSeq): earliest due first, FIFO among equals. */
class DueQueue {
  private readonly items: CheckerState[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): CheckerState | undefined {
    return this.items[0];
  }

  push(c: CheckerState): void {
    c.heapIndex = this.items.length;
    this.items.push(c);
    this.up(c.heapIndex);
  }

  pop(): CheckerState | undefined {
    const top = this.items[0];
    if (!top) return undefined;
    const last = this.items.pop() as CheckerState;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    top.heapIndex = -1;
    return top;
  }

  private less(a: CheckerState, b: CheckerState): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.queueSeq < b.queueSeq);
  }

  private swap(i: number, j: number): void {
    const a = this.items[i];
    const b = this.items[j];
    this.items[i] = b;
    this.items[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.items[i], this.items[p])) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.items[l], this.items[m])) m = l;
      if (r < n && this.less(this.items[r], this.items[m])) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

export interface CheckerSnapshot {
  id: string;
  vs: string;
  rs: string;
  up: boolean;
  hasRun: boolean;
  retryIt: number;
  inFlight: boolean;
  dueAt: number;
}

export interface RealServerSnapshot {
  vs: string;
  rs: string;
  up: boolean;
  weight: number;
  failedCheckers: number;
}

export class CheckScheduler {
  private readonly checkers = new Map<string, CheckerState>();
  private readonly servers: RealServerState[] = [];
  private readonly virtualServers = new Map<string, VirtualServerState>();
  private readonly queue = new DueQueue();
  private readonly maxInFlight: number;
  private readonly bootstrapDelayMs: number;
  private readonly random: () => number;
  private inFlightCount = 0;
  private queueSeq = 0;
  private started = false;
  private stopped = false;

  constructor(virtualServers: SchedVirtualServerSpec[], opts: SchedulerOptions = {}) {
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1024);
    this.bootstrapDelayMs = opts.bootstrapDelayMs ?? BOOTSTRAP_DELAY_MS;
    this.random = opts.random ?? Math.random;
    for (const vs of virtualServers) {
      let vsState = this.virtualServers.get(vs.key);
      if (!vsState) {
        vsState = { suspended: vs.suspended ?? false };
        this.virtualServers.set(vs.key, vsState);
      }
      for (const rs of vs.realServers) {
        const server: RealServerState = {
          vs: vs.key,
          vsState,
          rs: rs.key,
          omega: vs.omega,
          configuredWeight: rs.weight,
          failedCheckers: 0,
          alive: false,
          checkers: [],
        };
        for (const spec of rs.checkers) {
          if (this.checkers.has(spec.id)) throw new Error(`duplicate checker id ${spec.id}`);
          const flavour = retryFlavour(spec.type);
          if (flavour === 'http' && !(spec.urlCount && spec.urlCount > 0)) {
            throw new Error(`checker ${spec.id}: ${spec.type} needs at least one url`);
          }
          const passive = flavour === 'passive';
          const c: CheckerState = {
            spec,
            flavour,
            server,
            // check_data.c: alpha checkers start down (set_checker_state(checker, false));
            // check_file.c clears alpha for FILE_CHECK and marks it run.
            up: passive || !spec.timing.alpha,
            hasRun: passive,
            // check_data.c: "For non alpha mode, one failure is enough initially".
            retryIt: spec.timing.retry,
            nextIsRetry: false,
            urlIndex: 0,
            failedUrl: null,
            weightDelta: 0,
            failStreak: 0,
            attempt: 0,
            inFlight: false,
            dueAt: 0,
            heapIndex: -1,
            queueSeq: 0,
          };
          if (!c.up) server.failedCheckers++;
          server.checkers.push(c);
          this.checkers.set(spec.id, c);
        }
        this.servers.push(server);
      }
    }
  }

  /** Build a scheduler straight from an engine plan. */
  static fromPlan(plan: CheckPlan, opts: SchedulerOptions = {}): CheckScheduler {
    return new CheckScheduler(
      plan.virtualServers.map((vs) => ({
        key: vs.key,
        omega: vs.omega,
        realServers: vs.realServers.map((rs) => ({
          key: rs.key,
          weight: rs.weight,
          checkers: rs.checkers.map((c) => ({
            id: c.key,
            type: c.target.type,
            timing: c.timing,
            urlCount: c.target.type === 'HTTP_GET' || c.target.type === 'SSL_GET' ? c.target.urls.length : 0,
            fastRecovery: c.fastRecovery,
          })),
        })),
      })),
      opts,
    );
  }

  /**
   * A passive (FILE_CHECK) checker's state from outside: up with a weight
   * delta, or down. Before start() it only sets the initial state; after, it
   * returns the resulting actions (a weight change before the state change,
   * as keepalived adds the weight and then brings the checker up).
   */
  setPassive(checkerId: string, up: boolean, weightDelta: number, reason: string): SchedulerAction[] {
    const c = this.checkers.get(checkerId);
    if (c?.flavour !== 'passive' || this.stopped) return [];
    if (!this.started) {
      if (c.up !== up) c.server.failedCheckers += up ? -1 : 1;
      c.up = up;
      c.weightDelta = up ? weightDelta : 0;
      return [];
    }
    const actions: SchedulerAction[] = [];
    if (up && c.weightDelta !== weightDelta) {
      const s = c.server;
      const before = this.effectiveWeight(s);
      c.weightDelta = weightDelta;
      actions.push({
        type: 'weight-changed',
        vs: s.vs,
        rs: s.rs,
        weight: this.effectiveWeight(s),
        previous: before,
        checkerId,
      });
    }
    this.setCheckerState(c, up, reason, actions);
    return actions;
  }

  /**
   * ha_suspend: suspend or resume a virtual server's checkers. Returns whether
   * anything changed (unknown virtual servers: false).
   */
  setSuspended(vs: string, suspended: boolean): boolean {
    const v = this.virtualServers.get(vs);
    if (!v || v.suspended === suspended) return false;
    v.suspended = suspended;
    return true;
  }

  isSuspended(vs: string): boolean {
    return this.virtualServers.get(vs)?.suspended ?? false;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /**
   * Start: report every real server's initial state (up unless one of its
   * checkers is alpha, as ipwrapper.c init_service_rs adds only servers with
   * no failed checker) and schedule first runs at bootstrap + random(0..warmup).
   */
  start(now: number): SchedulerAction[] {
    if (this.started) throw new Error('scheduler already started');
    this.started = true;
    const actions: SchedulerAction[] = [];
    for (const s of this.servers) {
      s.alive = s.failedCheckers === 0;
      actions.push({
        type: 'server-state-changed',
        vs: s.vs,
        rs: s.rs,
        up: s.alive,
        cause: 'initial',
        reason: s.alive ? 'initial state' : 'initial state (alpha: down until checks succeed)',
        notify: true,
      });
      for (const c of s.checkers) {
        if (c.flavour === 'passive') continue;
        const warmup = c.spec.timing.warmupMs;
        const offset = warmup > 0 ? Math.floor(warmup * this.random()) : 0;
        this.enqueue(c, now + this.bootstrapDelayMs + offset);
      }
    }
    // Weights set before start (FILE_CHECK values): keepalived starts with them (set_track_file_weights).
    for (const s of this.servers) {
      const w = this.effectiveWeight(s);
      if (w === s.configuredWeight) continue;
      const by = s.checkers.find((c) => c.weightDelta !== 0);
      actions.push({
        type: 'weight-changed',
        vs: s.vs,
        rs: s.rs,
        weight: w,
        previous: s.configuredWeight,
        checkerId: by?.spec.id ?? '',
      });
    }
    this.drain(now, actions);
    return actions;
  }

  /** When the driver must call poll() next; undefined = only completions can make progress. */
  nextDeadline(): number | undefined {
    if (this.stopped || this.inFlightCount >= this.maxInFlight) return undefined;
    return this.queue.peek()?.dueAt;
  }

  /** Start whatever is due (within the in-flight bound). */
  poll(now: number): SchedulerAction[] {
    const actions: SchedulerAction[] = [];
    this.drain(now, actions);
    return actions;
  }

  /**
   * An attempt ended. Stale completions (unknown checker, wrong attempt) are
   * ignored and return no actions.
   */
  complete(checkerId: string, attempt: number, result: CheckResult, now: number): SchedulerAction[] {
    const c = this.checkers.get(checkerId);
    if (!c?.inFlight || c.attempt !== attempt || this.stopped) return [];
    c.inFlight = false;
    this.inFlightCount--;
    const actions: SchedulerAction[] = [];
    const delay = this.epilogue(c, result, actions);
    // Start-to-start spacing on the scheduled grid; overdue attempts start now.
    this.enqueue(c, Math.max(c.dueAt + delay, now));
    this.drain(now, actions);
    return actions;
  }

  /**
   * Stop: nothing more is started. Alive real servers are reported down; their
   * notifications run only with omega (ipwrapper.c clear_service_rs).
   */
  stop(): SchedulerAction[] {
    this.stopped = true;
    const actions: SchedulerAction[] = [];
    for (const s of this.servers) {
      if (!s.alive) continue;
      s.alive = false;
      actions.push({
        type: 'server-state-changed',
        vs: s.vs,
        rs: s.rs,
        up: false,
        cause: 'shutdown',
        reason: 'shutting down',
        notify: s.omega,
      });
    }
    return actions;
  }

  checkerSnapshot(): CheckerSnapshot[] {
    return [...this.checkers.values()].map((c) => ({
      id: c.spec.id,
      vs: c.server.vs,
      rs: c.server.rs,
      up: c.up,
      hasRun: c.hasRun,
      retryIt: c.retryIt,
      inFlight: c.inFlight,
      dueAt: c.dueAt,
    }));
  }

  serverSnapshot(): RealServerSnapshot[] {
    return this.servers.map((s) => ({
      vs: s.vs,
      rs: s.rs,
      up: s.alive,
      weight: this.effectiveWeight(s),
      failedCheckers: s.failedCheckers,
    }));
  }

  private effectiveWeight(s: RealServerState): number {
    let w = s.configuredWeight;
    for (const c of s.checkers) w += c.weightDelta;
    return w;
  }

  private enqueue(c: CheckerState, dueAt: number): void {
    c.dueAt = dueAt;
    c.queueSeq = this.queueSeq++;
    this.queue.push(c);
  }

  private drain(now: number, actions: SchedulerAction[]): void {
    if (this.stopped) return;
    while (this.inFlightCount < this.maxInFlight) {
      const next = this.queue.peek();
      if (!next || next.dueAt > now) return;
      this.queue.pop();
      const c = next;
      if (c.server.vsState.suspended) {
        // ha_suspend: skip this attempt; look again one delay_loop later (on the grid, past now).
        const loop = Math.max(1, c.spec.timing.delayLoopMs);
        this.enqueue(c, c.dueAt + loop * (Math.floor((now - c.dueAt) / loop) + 1));
        continue;
      }
      if (c.flavour === 'smtp' && !c.nextIsRetry) c.retryIt = 0; // smtp_start_check_thread
      c.inFlight = true;
      c.attempt++;
      this.inFlightCount++;
      actions.push({
        type: 'start-check',
        checkerId: c.spec.id,
        attempt: c.attempt,
        retry: c.nextIsRetry ? Math.max(1, c.retryIt) : 0,
        urlIndex: c.urlIndex,
        dueAt: c.dueAt,
      });
    }
  }

  /** Apply one result; returns the delay (ms) to the next attempt. */
  private epilogue(c: CheckerState, result: CheckResult, actions: SchedulerAction[]): number {
    const t = c.spec.timing;
    this.applyDynamicWeight(c, result, actions);
    c.failStreak = result.ok ? 0 : c.failStreak + 1;
    if (c.flavour === 'http') return this.httpEpilogue(c, result, actions);

    if (result.ok) {
      c.retryIt = 0;
      c.nextIsRetry = false;
      if (!c.up || !c.hasRun) this.setCheckerState(c, true, result.reason, actions);
      c.hasRun = true;
      return t.delayLoopMs;
    }

    let retry = false;
    let declareDown = false;
    switch (c.flavour) {
      case 'cycle':
        if (c.retryIt >= t.retry) {
          c.retryIt = 0;
          declareDown = c.up || !c.hasRun;
        } else {
          c.retryIt++;
          retry = true;
        }
        break;
      case 'up-only':
        if (c.up || !c.hasRun) {
          if (c.retryIt < t.retry) {
            c.retryIt++;
            retry = true;
          } else {
            c.retryIt = 0;
            declareDown = true;
          }
        }
        break;
      case 'smtp':
        c.retryIt++;
        if (c.retryIt <= t.retry) retry = true;
        else declareDown = c.up || !c.hasRun;
        break;
    }
    if (declareDown) {
      const reason = withRetries(result.reason, c.failStreak);
      this.setCheckerState(c, false, reason, actions);
    }
    c.hasRun = true;
    c.nextIsRetry = retry;
    return retry ? t.delayBeforeRetryMs : t.delayLoopMs;
  }

  private httpEpilogue(c: CheckerState, result: CheckResult, actions: SchedulerAction[]): number {
    const t = c.spec.timing;
    const urlCount = c.spec.urlCount as number;
    const longDelay = Math.max(t.delayBeforeRetryMs, t.delayLoopMs);
    let delay: number;
    if (result.ok) {
      const nextUrl = c.urlIndex + 1 < urlCount ? c.urlIndex + 1 : null;
      c.retryIt = 0;
      if (nextUrl === null && c.failedUrl === null) {
        // Every url passed in this round.
        if (!c.up || !c.hasRun) this.setCheckerState(c, true, result.reason, actions);
        c.hasRun = true;
        c.urlIndex = 0;
      } else if (c.failedUrl !== null) {
        // The failed url passes again: check all urls from the first.
        c.failedUrl = null;
        c.urlIndex = 0;
      } else {
        c.urlIndex = nextUrl as number;
      }
      delay = t.delayLoopMs;
      if (!c.hasRun) c.retryIt = t.retry;
      c.nextIsRetry = false;
    } else if (c.up || !c.hasRun) {
      c.hasRun = true;
      c.retryIt++;
      if (c.retryIt > t.retry) {
        if (c.up) {
          this.setCheckerState(c, false, withRetries(result.reason, c.failStreak), actions);
        }
        c.failedUrl = c.urlIndex;
      }
      delay = c.failedUrl !== null ? longDelay : t.delayBeforeRetryMs;
      c.nextIsRetry = c.failedUrl === null;
    } else {
      // Already known down: no retries (timeout_epilog -> REGISTER_CHECKER_FAILED).
      delay = c.failedUrl !== null ? longDelay : t.delayBeforeRetryMs;
      c.nextIsRetry = false;
    }
    if (c.spec.fastRecovery && (!c.hasRun || (!c.up && c.failedUrl === null))) delay = 0;
    return delay;
  }

  /** misc_dynamic: exit 0 restores the configured weight, 2..255 sets code-2 (check_misc.c). */
  private applyDynamicWeight(c: CheckerState, result: CheckResult, actions: SchedulerAction[]): void {
    if (result.weight === undefined && c.weightDelta === 0) return;
    const s = c.server;
    const before = this.effectiveWeight(s);
    if (result.ok) c.weightDelta = result.weight === undefined ? 0 : result.weight - s.configuredWeight;
    else return; // a failure resets the weight only when the checker goes down (setCheckerState)
    const after = this.effectiveWeight(s);
    if (after !== before) {
      actions.push({
        type: 'weight-changed',
        vs: s.vs,
        rs: s.rs,
        weight: after,
        previous: before,
        checkerId: c.spec.id,
      });
    }
  }

  /** ipwrapper.c update_svr_checker_state + set_checker_state. */
  private setCheckerState(c: CheckerState, up: boolean, reason: string, actions: SchedulerAction[]): void {
    if (c.up === up) return;
    const s = c.server;
    c.up = up;
    actions.push({ type: 'checker-state-changed', checkerId: c.spec.id, vs: s.vs, rs: s.rs, up, reason });
    if (!up && c.weightDelta !== 0) {
      const before = this.effectiveWeight(s);
      c.weightDelta = 0;
      actions.push({
        type: 'weight-changed',
        vs: s.vs,
        rs: s.rs,
        weight: this.effectiveWeight(s),
        previous: before,
        checkerId: c.spec.id,
      });
    }
    if (up) s.failedCheckers--;
    else s.failedCheckers++;
    const alive = s.failedCheckers === 0;
    if (alive !== s.alive) {
      s.alive = alive;
      actions.push({
        type: 'server-state-changed',
        vs: s.vs,
        rs: s.rs,
        up: alive,
        cause: 'check',
        reason,
        checkerId: c.spec.id,
        notify: true,
      });
    }
  }
}
