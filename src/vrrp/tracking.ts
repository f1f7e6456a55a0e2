/**
 * Effective priority and FAULT from tracked objects (pure), as keepalived 2.2.7 computes them
 * (vrrp_track.c, trackers/track_file.c, vrrp_scheduler.c script result handling).
 *
 * keepalived keeps a running `total_priority` and adds/subtracts deltas on every change; we compute the same
 * number declaratively from the current status of every tracked object, which gives identical results and
 * cannot drift:
 *
 *   contribution (interface up/down, script ok/failed, "good" = up/ok):
 *     weight > 0: good ? weight * m : 0          (m = -1 with `weight ... reverse`, else 1)
 *     weight < 0: good ? 0 : weight * m
 *     weight = 0: no priority change; (good XOR reverse) false => FAULT
 *   track_process (quorum up = good) works like an interface; see process-tracking.ts for the quorum itself.
 *   track_file with value v:
 *     weight != 0: status = clamp(v * weight * m, -254, 253); status == -254 => FAULT, else contribution = status
 *     weight = 0:  (v != 0) == !reverse => FAULT      (a non-zero value means failure)
 *   effective priority = clamp(base + sum, 1, 254); an address owner (base 255) keeps 255 whatever the weights.
 *
 * The owner / sync-group rules keepalived applies at config time (weights ignored, weighted interfaces turned
 * into weight 0, default-weight files turned to weight 0) are in normaliseTracking().
 *
 * vrrp_script rise/fall: ScriptTracker below reproduces vrrp_script_child_thread()'s counter exactly. Running the
 * script is src/check/script-runner.ts's job; feed each outcome to recordScriptResult().
 */

export interface TrackedInterface {
  name: string;
  weight: number;
  reverse?: boolean;
}
export interface TrackedScript {
  name: string;
  weight: number;
  reverse?: boolean;
}
export interface TrackedFile {
  name: string;
  weight: number;
  reverse?: boolean;
}
/** A vrrp_track_process reference (instance or sync group track_process). */
export interface TrackedProcess {
  name: string;
  weight: number;
  reverse?: boolean;
}

export interface TrackingConfig {
  /** Configured priority (1..255). */
  basePriority: number;
  /** Including the instance's own interface with weight 0 unless dont_track_primary. */
  interfaces: TrackedInterface[];
  scripts: TrackedScript[];
  files: TrackedFile[];
  /** track_process (optional so callers that track none need not say so). */
  processes?: TrackedProcess[];
}

export type ScriptStatus = 'init' | 'ok' | 'failed';

export interface TrackingInputs {
  /** Interface name -> up (IFF_UP && RUNNING). A tracked interface that is absent counts as down. */
  interfaces: Readonly<Record<string, boolean>>;
  /** Script name -> status. Absent counts as 'init' (no result yet). */
  scripts: Readonly<Record<string, ScriptStatus>>;
  /** Track-file name -> the integer read from it. Absent counts as 0 (keepalived: unreadable file reads as 0). */
  files: Readonly<Record<string, number>>;
  /**
   * vrrp_track_process name -> quorum held (ProcessTracker's view). Absent counts as no quorum: before the
   * first scan has answered, the node must not claim a healthy process.
   */
  processes?: Readonly<Record<string, boolean>>;
}

export interface TrackingResult {
  /** base + all contributions, unclamped (keepalived's total_priority). */
  totalPriority: number;
  /** The priority to advertise. */
  effectivePriority: number;
  /** True when the instance must be in FAULT. */
  fault: boolean;
  /** Human reasons for the fault, e.g. "interface eth0 down", "script chk_nginx failed". */
  faultReasons: string[];
}

export const PRIORITY_OWNER = 255;

function multiplier(reverse: boolean | undefined): number {
  return reverse ? -1 : 1;
}

/** keepalived's vrrp_set_effective_priority() clamp (owner excluded). */
export function clampPriority(total: number, basePriority: number): number {
  if (basePriority === PRIORITY_OWNER) return PRIORITY_OWNER;
  if (total < 1) return 1;
  if (total >= PRIORITY_OWNER) return PRIORITY_OWNER - 1;
  return total;
}

function binaryContribution(weight: number, reverse: boolean | undefined, good: boolean): number {
  const m = multiplier(reverse);
  if (weight > 0) return good ? weight * m : 0;
  if (weight < 0) return good ? 0 : weight * m;
  return 0;
}

/** track_file status for a non-zero weight, clamped as process_update_vrrp_track_file_status() does. */
export function fileStatus(value: number, weight: number, reverse?: boolean): number {
  const s = value * weight * multiplier(reverse);
  return Math.max(-254, Math.min(253, s));
}

export function evaluateTracking(cfg: TrackingConfig, inputs: TrackingInputs): TrackingResult {
  let total = cfg.basePriority;
  const faultReasons: string[] = [];
  for (const t of cfg.interfaces) {
    const up = inputs.interfaces[t.name] ?? false;
    if (t.weight === 0) {
      if (up !== !t.reverse) faultReasons.push(`interface ${t.name} ${up ? 'up (reverse)' : 'down'}`);
    } else {
      total += binaryContribution(t.weight, t.reverse, up);
    }
  }
  for (const t of cfg.scripts) {
    const st = inputs.scripts[t.name] ?? 'init';
    if (t.weight === 0) {
      // An unweighted script that has not reported yet holds the instance down (keepalived num_script_init).
      if (st === 'init') faultReasons.push(`script ${t.name} has not completed yet`);
      else if ((st === 'ok') !== !t.reverse)
        faultReasons.push(`script ${t.name} ${st === 'ok' ? 'ok (reverse)' : 'failed'}`);
    } else if (st !== 'init') {
      total += binaryContribution(t.weight, t.reverse, st === 'ok');
    }
  }
  for (const t of cfg.files) {
    const v = inputs.files[t.name] ?? 0;
    if (t.weight === 0) {
      if ((v !== 0) === !t.reverse) faultReasons.push(`tracked file ${t.name} has value ${v}`);
    } else {
      const s = fileStatus(v, t.weight, t.reverse);
      if (s <= -254) faultReasons.push(`tracked file ${t.name} has status ${s}`);
      else total += s;
    }
  }
  for (const t of cfg.processes ?? []) {
    const up = inputs.processes?.[t.name] ?? false;
    if (t.weight === 0) {
      // keepalived: "entering FAULT state (tracked process NAME quorum not achieved)".
      if (up !== !t.reverse)
        faultReasons.push(
          `tracked process ${t.name} ${up ? 'quorum held (reverse)' : 'quorum not achieved'}`,
        );
    } else {
      total += binaryContribution(t.weight, t.reverse, up);
    }
  }
  return {
    totalPriority: total,
    effectivePriority: clampPriority(total, cfg.basePriority),
    fault: faultReasons.length > 0,
    faultReasons,
  };
}

/**
 * keepalived's vrrp_complete_instance() rules for an address owner (priority 255) or a member of a sync group
 * without `track_weight` (sgroup_tracking_weight): weighted interfaces become weight 0 in a sync group (and are
 * dropped for an owner), weighted scripts are dropped, files with the default weight 1 become weight 0 and files
 * with another weight are dropped. Returns the adjusted config and the warnings keepalived would print.
 */
export function normaliseTracking(
  name: string,
  cfg: TrackingConfig,
  opts: { inSyncGroupWithoutTrackingWeight: boolean },
): { config: TrackingConfig; warnings: string[] } {
  const owner = cfg.basePriority === PRIORITY_OWNER;
  const sync = opts.inSyncGroupWithoutTrackingWeight;
  if (!owner && !sync) return { config: cfg, warnings: [] };
  const why = sync ? 'SYNC group' : 'address owner';
  const warnings: string[] = [];
  const interfaces: TrackedInterface[] = [];
  for (const t of cfg.interfaces) {
    if (t.weight === 0) interfaces.push(t);
    else {
      warnings.push(`(${name}) ignoring ${t.name} tracked interface ${sync ? 'weight ' : ''}due to ${why}`);
      if (sync) interfaces.push({ ...t, weight: 0 });
    }
  }
  const scripts = cfg.scripts.filter((t) => {
    if (t.weight !== 0)
      warnings.push(`(${name}) ignoring tracked script ${t.name} with weights due to ${why}`);
    return t.weight === 0;
  });
  const files: TrackedFile[] = [];
  for (const t of cfg.files) {
    if (t.weight === 1) {
      warnings.push(`(${name}) ignoring weight from tracked file ${t.name} due to ${why}. specify weight 0`);
      files.push({ ...t, weight: 0 });
    } else if (t.weight !== 0) {
      warnings.push(`(${name}) ignoring tracked file ${t.name} with weight ${t.weight} due to ${why}`);
    } else files.push(t);
  }
  return { config: { ...cfg, interfaces, scripts, files }, warnings };
}

/* ------------------------------------------------------------------ vrrp_script rise / fall */

export interface ScriptTrackerParams {
  name: string;
  rise: number;
  fall: number;
  /** init_fail: assume failed until the first success (keepalived SCRIPT_INIT_STATE_FAILED). */
  initFail?: boolean;
}

/**
 * keepalived's vscript->result counter: 0..rise+fall-1, status ok iff result >= rise.
 * Starts at rise-1 ("one success is enough") in status 'init', or at 0 in status 'failed' with init_fail.
 */
export interface ScriptTrackerState {
  result: number;
  status: ScriptStatus;
}

export function initialScriptTracker(p: ScriptTrackerParams): ScriptTrackerState {
  return p.initFail ? { result: 0, status: 'failed' } : { result: p.rise - 1, status: 'init' };
}

export interface ScriptOutcome {
  exitCode: number | null;
  signal?: string | null;
  timedOut?: boolean;
}

/** keepalived: exit status 0 is success; any other status, a signal or a timeout is a failure. */
export function scriptSucceeded(o: ScriptOutcome): boolean {
  return !o.timedOut && o.exitCode === 0;
}

/**
 * One script run's outcome -> new tracker state. `changed` is true when the status flipped (or left 'init'),
 * with keepalived's log line ("VRRP_Script(chk) succeeded" / "failed" / "timed_out").
 */
export function recordScriptResult(
  p: ScriptTrackerParams,
  s: ScriptTrackerState,
  outcome: ScriptOutcome | boolean,
): { state: ScriptTrackerState; changed: boolean; message?: string } {
  const success = typeof outcome === 'boolean' ? outcome : scriptSucceeded(outcome);
  const top = p.rise + p.fall - 1;
  const inInit = s.status === 'init';
  if (success) {
    if (s.result < p.rise - 1) return { state: { result: s.result + 1, status: s.status }, changed: false };
    if (s.result !== top) {
      const flips = s.result < p.rise;
      return {
        state: { result: top, status: flips ? 'ok' : s.status },
        changed: flips,
        message: flips ? `VRRP_Script(${p.name}) succeeded` : undefined,
      };
    }
    return { state: { result: top, status: 'ok' }, changed: false };
  }
  if (s.result > p.rise) return { state: { result: s.result - 1, status: s.status }, changed: false };
  const flips = s.result === p.rise || inInit;
  let message: string | undefined;
  if (flips) {
    const o = typeof outcome === 'boolean' ? undefined : outcome;
    if (o?.timedOut) message = `VRRP_Script(${p.name}) timed_out`;
    else if (o?.signal) message = `VRRP_Script(${p.name}) failed (due to signal ${o.signal})`;
    else if (o && o.exitCode !== null)
      message = `VRRP_Script(${p.name}) failed (exited with status ${o.exitCode})`;
    else message = `VRRP_Script(${p.name}) failed`;
  }
  return { state: { result: 0, status: flips ? 'failed' : s.status }, changed: flips, message };
}
