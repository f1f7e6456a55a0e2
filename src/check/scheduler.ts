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
 *
 * Reload (reload()): the scheduler takes a new list of virtual servers in place. A checker whose id is in
 * both lists, on the same real server, with an identical spec (`definition` included) keeps its state
 * object as it is: up/down, retry counters, the url it is at, its due time and an attempt in flight.
 * Everything else about the reload follows from that; see reload() for the rules.
 */

import { checkerDefinition } from './definition.js';
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
  /**
   * The rest of the checker's definition (its target), as opaque text: a reload keeps a checker only
   * when this is equal too (src/check/definition.ts makes it from the plan).
   */
  definition?: string;
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
  /**
   * Sequence number of this attempt, unique across the scheduler (not per checker: an attempt of a
   * checker that a reload replaced can never be taken for one of its successor); pass it back to complete().
   */
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
  /**
   * What caused it: the start-up announcement (also for a real server a reload adds), a check result,
   * a reload (a kept real server whose failed checkers were removed, or that gained a FILE_CHECK whose
   * file says down), or the scheduler stopping.
   */
  cause: 'initial' | 'check' | 'reload' | 'shutdown';
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

/** A FILE_CHECK checker's state from its file (what setPassive() sets). */
export interface PassiveState {
  up: boolean;
  weightDelta: number;
}

/** What a reload did, checker by checker (ids), and the state/weight actions that follow from it. */
export interface SchedulerReload {
  actions: SchedulerAction[];
  /** Kept as they were: state, counters, schedule, attempt in flight. */
  kept: string[];
  /** New ids: start fresh. */
  started: string[];
  /** Ids that are gone: dequeued, their attempt in flight (if any) forgotten. */
  stopped: string[];
  /** Ids in both lists whose spec changed: the old checker stops, a new one starts fresh. */
  restarted: string[];
}

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
  /**
   * The checkers' states to resume from (by checker id) instead of their config's initial state: the
   * checker + IPVS part restarted after its worker died (src/daemon/lvs-host.ts). A resumed checker starts
   * up or down as it was, counts as having run (a failure of an up checker goes through its retries, a
   * failure of a down one changes nothing), and keeps its misc_dynamic weight. Checkers not listed, and
   * FILE_CHECKs (their file says), start as at a first start.
   */
  resume?: ReadonlyMap<string, ResumedChecker>;
}

/** A checker's state carried across a restart of the checker part (SchedulerOptions.resume). */
export interface ResumedChecker {
  readonly up: boolean;
  /** misc_dynamic: the weight its last result set. */
  readonly dynamicWeight?: number;
}

interface VirtualServerState {
  suspended: boolean;
}

interface RealServerState {
  vs: string;
  vsState: VirtualServerState;
  rs: string;
  /** Read at stop only; a reload updates it in place. */
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
  /**
   * misc_dynamic: the absolute weight the last result set (undefined: none, the configured weight
   * applies). Kept so that a reload that changes the configured weight keeps the script's weight, as
   * keepalived's migrate_misc_check does.
   */
  dynamicWeight: number | undefined;
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

  /** The item in heap slot i (audit). */
  at(i: number): CheckerState | undefined {
    return this.items[i];
  }

  /** Take `c` out wherever it is in the heap. */
  remove(c: CheckerState): void {
    const i = c.heapIndex;
    if (i < 0 || this.items[i] !== c) return;
    const last = this.items.pop() as CheckerState;
    c.heapIndex = -1;
    if (last === c) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
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
  /** What this checker adds to its real server's weight (misc_dynamic, FILE_CHECK). */
  weightDelta: number;
  /** misc_dynamic: the weight the last result set (undefined: none). */
  dynamicWeight: number | undefined;
}

export interface RealServerSnapshot {
  vs: string;
  rs: string;
  up: boolean;
  weight: number;
  failedCheckers: number;
}

/** The scheduler's input for a check plan (checker ids are the plan's checker keys). */
export function schedulerSpecs(plan: CheckPlan): SchedVirtualServerSpec[] {
  return plan.virtualServers.map((vs) => ({
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
        definition: checkerDefinition(c),
      })),
    })),
  }));
}

/** Same checker for a reload: nothing the scheduler or the attempt depends on differs. */
function sameSpec(a: SchedCheckerSpec, b: SchedCheckerSpec): boolean {
  const ta = a.timing;
  const tb = b.timing;
  return (
    a.type === b.type &&
    (a.urlCount ?? 0) === (b.urlCount ?? 0) &&
    (a.fastRecovery ?? false) === (b.fastRecovery ?? false) &&
    (a.definition ?? '') === (b.definition ?? '') &&
    ta.delayLoopMs === tb.delayLoopMs &&
    ta.delayBeforeRetryMs === tb.delayBeforeRetryMs &&
    ta.retry === tb.retry &&
    ta.warmupMs === tb.warmupMs &&
    ta.alpha === tb.alpha
  );
}

/** Throws on input the scheduler cannot run (the constructor and reload() call it before changing anything). */
export function validateSpecs(virtualServers: SchedVirtualServerSpec[]): void {
  const ids = new Set<string>();
  for (const vs of virtualServers)
    for (const rs of vs.realServers)
      for (const spec of rs.checkers) {
        if (ids.has(spec.id)) throw new Error(`duplicate checker id ${spec.id}`);
        ids.add(spec.id);
        if (retryFlavour(spec.type) === 'http' && !(spec.urlCount && spec.urlCount > 0)) {
          throw new Error(`checker ${spec.id}: ${spec.type} needs at least one url`);
        }
      }
}

export class CheckScheduler {
  private checkers = new Map<string, CheckerState>();
  private servers: RealServerState[] = [];
  private virtualServers = new Map<string, VirtualServerState>();
  private readonly queue = new DueQueue();
  private readonly maxInFlight: number;
  private readonly bootstrapDelayMs: number;
  private readonly random: () => number;
  private inFlightCount = 0;
  private queueSeq = 0;
  private attemptSeq = 0;
  private started = false;
  private stopped = false;

  constructor(virtualServers: SchedVirtualServerSpec[], opts: SchedulerOptions = {}) {
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1024);
    this.bootstrapDelayMs = opts.bootstrapDelayMs ?? BOOTSTRAP_DELAY_MS;
    this.random = opts.random ?? Math.random;
    validateSpecs(virtualServers);
    for (const vs of virtualServers) {
      let vsState = this.virtualServers.get(vs.key);
      if (!vsState) {
        vsState = { suspended: vs.suspended ?? false };
        this.virtualServers.set(vs.key, vsState);
      }
      for (const rs of vs.realServers) {
        const server = this.newServer(vs, rs, vsState);
        for (const spec of rs.checkers) {
          // check_data.c: alpha checkers start down (set_checker_state(checker, false));
          // check_file.c clears alpha for FILE_CHECK and marks it run.
          const passive = retryFlavour(spec.type) === 'passive';
          const resumed = passive ? undefined : opts.resume?.get(spec.id);
          const c = this.newChecker(spec, server, resumed ? resumed.up : passive || !spec.timing.alpha);
          if (resumed) {
            c.hasRun = true;
            c.retryIt = 0;
            if (resumed.up && resumed.dynamicWeight !== undefined) {
              c.dynamicWeight = resumed.dynamicWeight;
              c.weightDelta = resumed.dynamicWeight - rs.weight;
            }
          }
          if (!c.up) server.failedCheckers++;
        }
        this.servers.push(server);
      }
    }
  }

  /** Build a scheduler straight from an engine plan. */
  static fromPlan(plan: CheckPlan, opts: SchedulerOptions = {}): CheckScheduler {
    return new CheckScheduler(schedulerSpecs(plan), opts);
  }

  private newServer(
    vs: SchedVirtualServerSpec,
    rs: SchedRealServerSpec,
    vsState: VirtualServerState,
  ): RealServerState {
    return {
      vs: vs.key,
      vsState,
      rs: rs.key,
      omega: vs.omega,
      configuredWeight: rs.weight,
      failedCheckers: 0,
      alive: false,
      checkers: [],
    };
  }

  /** A checker that has not run yet, registered with its real server (the caller counts failedCheckers). */
  private newChecker(spec: SchedCheckerSpec, server: RealServerState, up: boolean): CheckerState {
    const flavour = retryFlavour(spec.type);
    const passive = flavour === 'passive';
    const c: CheckerState = {
      spec,
      flavour,
      server,
      up,
      hasRun: passive,
      // check_data.c: "For non alpha mode, one failure is enough initially".
      retryIt: spec.timing.retry,
      nextIsRetry: false,
      urlIndex: 0,
      failedUrl: null,
      weightDelta: 0,
      dynamicWeight: undefined,
      failStreak: 0,
      attempt: 0,
      inFlight: false,
      dueAt: 0,
      heapIndex: -1,
      queueSeq: 0,
    };
    server.checkers.push(c);
    this.checkers.set(spec.id, c);
    return c;
  }

  /** A first run the way start() schedules one: bootstrap delay + random(0..warmup). */
  private scheduleFirstRun(c: CheckerState, now: number): void {
    const warmup = c.spec.timing.warmupMs;
    const offset = warmup > 0 ? Math.floor(warmup * this.random()) : 0;
    this.enqueue(c, now + this.bootstrapDelayMs + offset);
  }

  /**
   * Reload in place: the new virtual servers replace the old ones, checker by checker.
   *  - Kept (same id, same real server, sameSpec): the CheckerState object stays as it is (up/down,
   *    retries, url, counters, due time, attempt in flight). A misc_dynamic weight stays the weight the
   *    script set, whatever the configured weight becomes (keepalived migrate_misc_check).
   *  - Removed or changed: the old checker leaves the queue; an attempt in flight is forgotten (its
   *    completion is ignored: attempt numbers are unique) and frees its in-flight slot.
   *  - New or changed: starts fresh (hasRun false, one failure enough), first run scheduled as start()
   *    does (bootstrap + random warmup). Its initial state: on a real server that existed before, the
   *    server's state (down -> down until a check passes, i.e. alpha; up -> up, whatever the config's
   *    alpha says, so adding a checker does not flap a serving real server); on a new real server, the
   *    config's alpha, as at start (keepalived check_new_rs_state). A FILE_CHECK takes its state from
   *    `passive` (its file's value) or else starts up.
   *  - Real servers: kept ones keep their alive state object; failedCheckers is recounted, alive =
   *    no failed checker (a down server with its failed checker removed comes up, as keepalived's
   *    migrate_checkers brings up a real server with no failed checker); the configured weight and omega
   *    are the new ones. New real servers are announced like at start ('initial').
   *  - Virtual servers: a kept one keeps its ha_suspend state (`suspended` in the spec applies to new
   *    ones only; the engine re-evaluates ha_suspend for the new address ranges).
   * Returns the state and weight actions that follow, only where something changed (a kept real server
   * whose alive state or effective weight differs), and what happened to each checker. Attempts are not
   * started here, even those already due: the next poll() starts them (so a reload with the same spec
   * returns no action at all and leaves the schedule as it was). Before start() a reload only replaces
   * the structure; start() then announces and schedules as usual. Invalid input throws and changes nothing.
   */
  reload(
    virtualServers: SchedVirtualServerSpec[],
    now: number,
    passive: ReadonlyMap<string, PassiveState> = new Map(),
  ): SchedulerReload {
    if (this.stopped) throw new Error('scheduler stopped');
    validateSpecs(virtualServers);
    const result: SchedulerReload = { actions: [], kept: [], started: [], stopped: [], restarted: [] };
    const oldServers = new Map<string, Map<string, RealServerState>>();
    for (const s of this.servers) {
      const m = oldServers.get(s.vs) ?? new Map<string, RealServerState>();
      oldServers.set(s.vs, m);
      if (!m.has(s.rs)) m.set(s.rs, s);
    }
    const oldCheckers = this.checkers;
    this.checkers = new Map();
    const vsStates = new Map<string, VirtualServerState>();
    const servers: RealServerState[] = [];
    /** Kept real servers: state and effective weight before the reload. */
    const before = new Map<RealServerState, { alive: boolean; weight: number }>();
    const fresh: CheckerState[] = [];

    for (const vs of virtualServers) {
      let vsState = vsStates.get(vs.key);
      if (!vsState) {
        vsState = this.virtualServers.get(vs.key) ?? { suspended: vs.suspended ?? false };
        vsStates.set(vs.key, vsState);
      }
      const oldOfVs = oldServers.get(vs.key);
      for (const rs of vs.realServers) {
        const prev = oldOfVs?.get(rs.key);
        oldOfVs?.delete(rs.key); // a real server listed twice: the second one is new
        let server: RealServerState;
        if (prev) {
          server = prev;
          before.set(server, { alive: server.alive, weight: this.effectiveWeight(server) });
          server.vsState = vsState;
          server.omega = vs.omega;
          server.configuredWeight = rs.weight;
          server.checkers = [];
        } else server = this.newServer(vs, rs, vsState);
        const wasAlive = before.get(server)?.alive;
        for (const spec of rs.checkers) {
          const old = oldCheckers.get(spec.id);
          if (old && old.server === server && sameSpec(old.spec, spec)) {
            old.spec = spec;
            if (old.dynamicWeight !== undefined)
              old.weightDelta = old.dynamicWeight - server.configuredWeight;
            server.checkers.push(old);
            this.checkers.set(spec.id, old);
            result.kept.push(spec.id);
            continue;
          }
          let up: boolean;
          const file = passive.get(spec.id);
          if (retryFlavour(spec.type) === 'passive') up = file?.up ?? true;
          else if (prev && this.started) up = wasAlive as boolean;
          else up = !spec.timing.alpha;
          const c = this.newChecker(spec, server, up);
          if (c.flavour === 'passive' && up) c.weightDelta = file?.weightDelta ?? 0;
          fresh.push(c);
          (old ? result.restarted : result.started).push(spec.id);
        }
        servers.push(server);
      }
    }

    // What is not carried over: out of the queue, out of the in-flight count.
    const restarted = new Set(result.restarted);
    for (const [id, c] of oldCheckers) {
      if (this.checkers.get(id) === c) continue;
      this.queue.remove(c);
      if (c.inFlight) {
        c.inFlight = false;
        this.inFlightCount--;
      }
      if (!restarted.has(id)) result.stopped.push(id);
    }
    this.servers = servers;
    this.virtualServers = vsStates;

    for (const s of servers) s.failedCheckers = s.checkers.reduce((n, c) => n + (c.up ? 0 : 1), 0);
    if (!this.started) return result;

    const actions = result.actions;
    for (const s of servers) {
      const was = before.get(s);
      const alive = s.failedCheckers === 0;
      const weight = this.effectiveWeight(s);
      if (!was) {
        // A new real server: announced like at start, then any weight its FILE_CHECKs set.
        s.alive = alive;
        actions.push({
          type: 'server-state-changed',
          vs: s.vs,
          rs: s.rs,
          up: alive,
          cause: 'initial',
          reason: alive ? 'initial state' : 'initial state (alpha: down until checks succeed)',
          notify: true,
        });
        if (weight !== s.configuredWeight) {
          const by = s.checkers.find((c) => c.weightDelta !== 0);
          actions.push({
            type: 'weight-changed',
            vs: s.vs,
            rs: s.rs,
            weight,
            previous: s.configuredWeight,
            checkerId: by?.spec.id ?? '',
          });
        }
        continue;
      }
      if (weight !== was.weight) {
        actions.push({
          type: 'weight-changed',
          vs: s.vs,
          rs: s.rs,
          weight,
          previous: was.weight,
          checkerId: '',
        });
      }
      if (alive !== was.alive) {
        s.alive = alive;
        const down = s.checkers.find((c) => !c.up);
        actions.push({
          type: 'server-state-changed',
          vs: s.vs,
          rs: s.rs,
          up: alive,
          cause: 'reload',
          reason: alive
            ? 'reload: no failed checker left'
            : `reload: checker ${down?.spec.id ?? '?'} starts down`,
          ...(down ? { checkerId: down.spec.id } : {}),
          notify: true,
        });
      }
    }
    for (const c of fresh) if (c.flavour !== 'passive') this.scheduleFirstRun(c, now);
    return result;
  }

  /**
   * Consistency of the internal structures (property tests, debugging): what is wrong, [] when all is
   * well. Every active checker is queued exactly once or in flight (after start, until stop), passive
   * ones never; the queue holds nothing else; the in-flight count and each real server's failed-checker
   * count and alive state equal a recount.
   */
  audit(): string[] {
    const bad: string[] = [];
    const servers = new Set(this.servers);
    let queued = 0;
    let inFlight = 0;
    for (const [id, c] of this.checkers) {
      if (c.spec.id !== id) bad.push(`${id}: filed under another id (${c.spec.id})`);
      if (!servers.has(c.server) || !c.server.checkers.includes(c)) bad.push(`${id}: not on its real server`);
      const inQueue = c.heapIndex >= 0 && this.queue.at(c.heapIndex) === c;
      if (c.heapIndex >= 0 && !inQueue) bad.push(`${id}: stale heap index ${c.heapIndex}`);
      if (inQueue) queued++;
      if (c.inFlight) inFlight++;
      if (c.flavour === 'passive') {
        if (inQueue || c.inFlight) bad.push(`${id}: a FILE_CHECK is scheduled`);
      } else if (this.started && !this.stopped && inQueue === c.inFlight) {
        bad.push(`${id}: ${inQueue ? 'both queued and in flight' : 'neither queued nor in flight'}`);
      }
    }
    if (queued !== this.queue.size)
      bad.push(`queue holds ${this.queue.size} items, ${queued} of them checkers`);
    if (inFlight !== this.inFlightCount)
      bad.push(`in-flight count ${this.inFlightCount}, recount ${inFlight}`);
    for (const s of this.servers) {
      const failed = s.checkers.filter((c) => !c.up).length;
      if (failed !== s.failedCheckers)
        bad.push(`${s.vs}/${s.rs}: failedCheckers ${s.failedCheckers}, recount ${failed}`);
      if (s.checkers.some((c) => c.server !== s)) bad.push(`${s.vs}/${s.rs}: holds another server's checker`);
      if (this.started && !this.stopped && s.alive !== (failed === 0))
        bad.push(`${s.vs}/${s.rs}: alive ${s.alive} with ${failed} failed checker(s)`);
    }
    return bad;
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
      for (const c of s.checkers) if (c.flavour !== 'passive') this.scheduleFirstRun(c, now);
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
      weightDelta: c.weightDelta,
      dynamicWeight: c.dynamicWeight,
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
      c.attempt = ++this.attemptSeq;
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
    if (result.weight === undefined && c.weightDelta === 0 && c.dynamicWeight === undefined) return;
    const s = c.server;
    const before = this.effectiveWeight(s);
    if (result.ok) {
      c.dynamicWeight = result.weight;
      c.weightDelta = result.weight === undefined ? 0 : result.weight - s.configuredWeight;
    } else return; // a failure resets the weight only when the checker goes down (setCheckerState)
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
    if (!up) c.dynamicWeight = undefined;
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
