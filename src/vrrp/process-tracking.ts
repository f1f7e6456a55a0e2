/**
 * vrrp_track_process, the pure part (keepalived 2.2.x core/track_process.c): which processes match a
 * vrrp_track_process, and when its quorum is gained or lost given the count of matching processes, the
 * fork_delay / terminate_delay timers and a clock. The I/O shell (src/net/process-watch.ts) learns process
 * starts and exits and feeds them here; the result (quorum up / down per name) goes into
 * tracking.ts evaluateTracking() as `processes`.
 *
 * Matching (check_process / check_params):
 * - without full_command the process name (/proc/PID/comm, at most 15 characters) must equal `process`
 *   exactly: unlike pgrep it is not a regular expression, 'ssh' does not match 'sshd';
 * - with full_command argv[0] must equal `process` exactly, then the parameters as param_match says:
 *   exact (the same parameters; none if none are configured), partial (the first parameters are the
 *   configured ones), initial (as partial, but the last configured one may be a prefix of the actual one),
 *   none (parameters not compared);
 * - zombies do not count.
 *
 * Quorum: the process is up while quorum <= count <= quorum_max. keepalived only re-evaluates when the
 * count crosses a boundary, and the timers work as in keepalived:
 * - a fork that reaches the quorum (or passes quorum_max) starts the fork_delay timer, unless a terminate
 *   timer is running, which is cancelled instead (a reload: old process gone, new one forked);
 * - an exec (a new matching program) or the start-up scan changes the status at once;
 * - an exit that loses the quorum (or comes back within quorum_max) starts the terminate_delay timer,
 *   unless a fork timer is running, which is cancelled instead;
 * - when a timer fires, the status is whatever the count says then.
 */

export type ParamMatch = 'none' | 'exact' | 'partial' | 'initial';

export interface ProcessMatchSpec {
  process: string;
  params: string[];
  paramMatch: ParamMatch;
  fullCommand: boolean;
}

export interface ProcessInfo {
  /** /proc/PID/comm (or the comm of a PROC_EVENT_COMM). */
  comm?: string;
  /** /proc/PID/cmdline split at NULs (argv). */
  argv?: string[];
  /** State 'Z' processes never match. */
  zombie?: boolean;
}

/** argv as the NUL-terminated byte block after argv[0], as /proc/PID/cmdline holds it. */
function paramBlock(params: string[]): Buffer {
  return Buffer.concat(params.map((p) => Buffer.from(`${p}\0`)));
}

/** keepalived's check_params() on the parameter blocks. */
export function paramsMatch(
  spec: Pick<ProcessMatchSpec, 'params' | 'paramMatch'>,
  actual: string[],
): boolean {
  if (spec.paramMatch === 'none') return true;
  const want = paramBlock(spec.params);
  const got = paramBlock(actual);
  if (spec.paramMatch === 'exact' && spec.params.length === 0 && got.length === 0) return true;
  if (got.length < want.length) return false;
  if (spec.paramMatch === 'exact') return got.length === want.length && got.equals(want);
  if (spec.params.length === 0) return true;
  if (spec.paramMatch === 'partial') return got.subarray(0, want.length).equals(want);
  // initial: all but the last configured parameter's terminating NUL must match.
  return want.length === 1 || got.subarray(0, want.length - 1).equals(want.subarray(0, want.length - 1));
}

/** Whether a process counts for a vrrp_track_process. */
export function matchesProcess(spec: ProcessMatchSpec, p: ProcessInfo): boolean {
  if (p.zombie) return false;
  if (spec.fullCommand) {
    if (!p.argv || p.argv.length === 0) return false;
    if (p.argv[0] !== spec.process) return false;
    return paramsMatch(spec, p.argv.slice(1));
  }
  return p.comm === spec.process;
}

/* ------------------------------------------------------------------ quorum */

export interface QuorumParams {
  name: string;
  quorum: number;
  /** undefined: no upper limit. */
  quorumMax?: number;
  forkDelayMs: number;
  terminateDelayMs: number;
}

export interface QuorumState {
  count: number;
  haveQuorum: boolean;
  /** Deadline (ms, same clock as nowMs) of the fork_delay timer. */
  forkTimerAt?: number;
  /** Deadline of the terminate_delay timer. */
  terminateTimerAt?: number;
}

export type QuorumEvent =
  /** A matching process appeared by exec (or by being found in a scan): status changes at once. */
  | { type: 'added'; via: 'exec' | 'scan' }
  /** A matching process was forked from a matching one: fork_delay applies. */
  | { type: 'added'; via: 'fork' }
  /** A matching process exited: terminate_delay applies. */
  | { type: 'removed'; via: 'exit' }
  /** A process stopped matching (exec'd something else, or renamed): status changes at once. */
  | { type: 'removed'; via: 'mismatch' }
  /** Re-counted from scratch (after lost notifications). */
  | { type: 'recount'; count: number }
  /** Time passed: fire due timers. */
  | { type: 'tick' };

export interface QuorumStep {
  state: QuorumState;
  /** Set when the quorum status flipped, with keepalived's log line. */
  changed?: { haveQuorum: boolean; message: string };
}

const max = (p: QuorumParams) => p.quorumMax ?? Number.POSITIVE_INFINITY;

export function inQuorum(p: QuorumParams, count: number): boolean {
  return count >= p.quorum && count <= max(p);
}

/** State after the start-up scan found `count` matching processes (no timers). */
export function initialQuorum(p: QuorumParams, count: number): QuorumState {
  return { count, haveQuorum: inQuorum(p, count) };
}

/** The earliest pending timer, for the shell to schedule a 'tick'. */
export function nextQuorumTimer(s: QuorumState): number | undefined {
  const t = [s.forkTimerAt, s.terminateTimerAt].filter((x): x is number => x !== undefined);
  return t.length ? Math.min(...t) : undefined;
}

function update(p: QuorumParams, s: QuorumState, nowUp: boolean): QuorumStep {
  if (nowUp === s.haveQuorum) return { state: s };
  return {
    state: { ...s, haveQuorum: nowUp },
    changed: {
      haveQuorum: nowUp,
      message: `Quorum ${nowUp ? 'gained' : 'lost'} for tracked process ${p.name}`,
    },
  };
}

export function stepQuorum(p: QuorumParams, s0: QuorumState, ev: QuorumEvent, nowMs: number): QuorumStep {
  const s: QuorumState = { ...s0 };
  switch (ev.type) {
    case 'added': {
      s.count++;
      // keepalived only acts when the count crosses quorum upwards or passes quorum_max.
      if (s.count !== p.quorum && s.count !== max(p) + 1) return { state: s };
      if (ev.via === 'fork') {
        if (s.terminateTimerAt !== undefined) {
          s.terminateTimerAt = undefined;
        } else if (p.forkDelayMs > 0) {
          s.forkTimerAt = nowMs + p.forkDelayMs;
          return { state: s };
        }
      } else {
        s.terminateTimerAt = undefined;
      }
      return update(p, s, s.count === p.quorum);
    }
    case 'removed': {
      if (s.count === 0) return { state: s };
      const before = s.count--;
      if (before !== p.quorum && s.count !== max(p)) return { state: s };
      if (ev.via === 'exit') {
        if (s.forkTimerAt !== undefined) {
          s.forkTimerAt = undefined;
        } else if (p.terminateDelayMs > 0) {
          s.terminateTimerAt = nowMs + p.terminateDelayMs;
          return { state: s };
        }
      } else {
        s.forkTimerAt = undefined;
      }
      return update(p, s, s.count === max(p));
    }
    case 'recount': {
      s.count = ev.count;
      s.forkTimerAt = undefined;
      s.terminateTimerAt = undefined;
      return update(p, s, inQuorum(p, s.count));
    }
    case 'tick': {
      let due = false;
      if (s.forkTimerAt !== undefined && s.forkTimerAt <= nowMs) {
        s.forkTimerAt = undefined;
        due = true;
      }
      if (s.terminateTimerAt !== undefined && s.terminateTimerAt <= nowMs) {
        s.terminateTimerAt = undefined;
        due = true;
      }
      return due ? update(p, s, inQuorum(p, s.count)) : { state: s };
    }
  }
}

/* ------------------------------------------------------------------ instance + sync group */

export interface ProcessRef {
  name: string;
  weight: number;
  weightReverse: boolean;
}

/**
 * The vrrp_track_processes an instance tracks (for TrackingConfig.processes), keepalived's
 * add_vrrp_to_track_process(): its own track_process entries, then its sync group's. A process tracked by both
 * keeps the instance's entry, but takes the group's weight unless the instance's weight is 0 (keepalived logs
 * "track_process NAME is configured on VRRP instance and sync group. Remove vrrp instance config"; the
 * reverse flag stays the instance's).
 */
export function trackedProcessesFor(
  instance: { trackProcesses: ProcessRef[] },
  group?: { trackProcesses: ProcessRef[] },
): { processes: { name: string; weight: number; reverse: boolean }[]; warnings: string[] } {
  const out = instance.trackProcesses.map((t) => ({
    name: t.name,
    weight: t.weight,
    reverse: t.weightReverse,
  }));
  const warnings: string[] = [];
  for (const t of group?.trackProcesses ?? []) {
    const mine = out.find((x) => x.name === t.name);
    if (mine) {
      warnings.push(
        `track_process ${t.name} is configured on VRRP instance and sync group. Remove vrrp instance config`,
      );
      if (mine.weight !== 0) mine.weight = t.weight;
    } else out.push({ name: t.name, weight: t.weight, reverse: t.weightReverse });
  }
  return { processes: out, warnings };
}
