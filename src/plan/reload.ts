/**
 * What a reload would do, decided from the running plans and the new ones (pure): which VRRP instances
 * are kept, updated in place or restarted (and why), which checkers start, stop or keep running, which
 * IPVS operations the kernel gets, and what changes for BGP and the static entries. `halo reload --plan`
 * and `halo config diff OLD NEW` print it; a reload logs the same.
 *
 * The IPVS part is computed with the health the caller knows (the daemon's live health, or, offline,
 * every real server in its start state), so its operations are the ones the reconciler would send.
 */
import { diffCheckPlans } from '../check/definition.js';
import type { PlanChecker } from '../check/types.js';
import {
  computeDesired,
  type RealServerHealth,
  type RealServerOverride,
  type VirtualServerState,
} from '../ipvs/desired.js';
import { describeOp, diff, type IpvsOp } from '../ipvs/diff.js';
import { describeChecker, type RealServerKey, type VirtualServerKey } from './ids.js';
import type { Plans } from './index.js';
import { diffVrrpPlans, type VrrpReloadReport } from './vrrp-diff.js';

export interface CheckerReload {
  /** Checkers that start (new, or changed: the old one stops). */
  readonly started: readonly string[];
  /** Checkers that stop (removed, or changed). */
  readonly stopped: readonly string[];
  /** Checkers whose definition changed (counted in started and stopped). */
  readonly changed: readonly string[];
  /** Checkers that keep running with their state, counters and schedule. */
  readonly kept: number;
}

export interface ReloadPlan {
  readonly vrrp: VrrpReloadReport;
  readonly checks: CheckerReload;
  readonly ipvs: readonly IpvsOp[];
  /** Engine-wide changes outside VRRP (IPVS globals, BGP, static entries, alerts). */
  readonly other: readonly string[];
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? [...x.entries()] : x));

/**
 * The checker-level difference: by typed key, a checker whose definition is unchanged keeps running
 * (src/check/definition.ts decides, for this plan and for the engine's in-place reload alike).
 */
export function diffCheckers(before: Plans, after: Plans): CheckerReload {
  const d = diffCheckPlans(before.check.plan, after.check.plan);
  const added = new Set<PlanChecker>(d.added);
  const changedSet = new Set<PlanChecker>(d.changed);
  const started: string[] = [];
  const stopped: string[] = [];
  const changed: string[] = [];
  // In the new plan's order, as an operator reads the config.
  for (const vs of after.check.plan.virtualServers)
    for (const rs of vs.realServers)
      for (const c of rs.checkers) {
        const name = describeChecker(c.id);
        if (changedSet.has(c)) {
          changed.push(name);
          started.push(name);
          stopped.push(name);
        } else if (added.has(c)) started.push(name);
      }
  for (const c of d.removed) stopped.push(describeChecker(c.id));
  return { started, stopped, changed, kept: d.kept.length };
}

export interface LiveState {
  health: ReadonlyMap<RealServerKey, RealServerHealth>;
  quorum: ReadonlyMap<VirtualServerKey, VirtualServerState>;
  /** Operators' real server overrides (`halo rs`): they stay across the reload. */
  overrides?: ReadonlyMap<RealServerKey, RealServerOverride>;
}

export function planReload(before: Plans, after: Plans, live?: LiveState): ReloadPlan {
  const health = live?.health ?? new Map();
  const quorum = live?.quorum ?? new Map();
  const overrides = live?.overrides ?? new Map();
  const was = computeDesired(before.ipvs.virtualServers, health, quorum, overrides);
  const will = computeDesired(after.ipvs.virtualServers, health, quorum, overrides);
  const owned = new Set([...was.owned, ...will.owned]);
  const other: string[] = [];
  const changed = (what: string, a: unknown, b: unknown) => {
    if (json(a) !== json(b)) other.push(what);
  };
  changed('lvs_timeouts', before.ipvs.timeouts, after.ipvs.timeouts);
  changed('lvs_sync_daemon', before.ipvs.syncDaemon, after.ipvs.syncDaemon);
  changed('lvs_flush_on_stop', before.ipvs.flushOnStop, after.ipvs.flushOnStop);
  changed('BGP', before.bgp, after.bgp);
  changed('static addresses / routes / rules', before.statics, after.statics);
  changed('mail alerts and notify FIFOs', before.alerts, after.alerts);
  return {
    vrrp: diffVrrpPlans(before.vrrp, after.vrrp),
    checks: diffCheckers(before, after),
    ipvs: diff(will.table, was.table, owned),
    other,
  };
}

/** The plan in words, one line each, for `halo reload --plan`, `halo config diff` and the reload log. */
export function renderReloadPlan(p: ReloadPlan): string {
  const out: string[] = [];
  const vrrp = p.vrrp.instances.filter((c) => c.kind !== 'kept');
  const kept = p.vrrp.instances.length - vrrp.length;
  out.push(
    `VRRP: ${vrrp.length ? `${vrrp.length} instance(s) change, ` : 'no instance changes, '}${kept} kept`,
  );
  for (const c of vrrp) {
    const why = c.restartReason ? ` (${c.restartReason})` : '';
    const what = c.changes.length ? `: ${c.changes.join('; ')}` : '';
    const verb = c.kind === 'updated' ? 'updated in place' : c.kind;
    out.push(`  ${c.name}: ${verb}${why}${what}`);
  }
  const s = p.vrrp.scripts;
  for (const [verb, list] of [
    ['rescheduled (result kept)', s.changed],
    ['added', s.added],
    ['removed', s.removed],
  ] as const)
    if (list.length) out.push(`  vrrp_script ${list.join(', ')}: ${verb}`);
  const f = p.vrrp.trackFiles;
  for (const [verb, list] of [
    ['re-read', f.changed],
    ['added', f.added],
    ['removed', f.removed],
  ] as const)
    if (list.length) out.push(`  track_file ${list.join(', ')}: ${verb}`);
  if (p.vrrp.engine.length) out.push(`  swapped in, nothing restarted: ${p.vrrp.engine.join(', ')}`);
  const c = p.checks;
  out.push(
    `checkers: ${c.kept} kept, ${c.started.length - c.changed.length} started, ${c.stopped.length - c.changed.length} stopped, ${c.changed.length} restarted (changed)`,
  );
  for (const x of c.changed) out.push(`  restart ${x}`);
  for (const x of c.started.filter((n) => !c.changed.includes(n))) out.push(`  start ${x}`);
  for (const x of c.stopped.filter((n) => !c.changed.includes(n))) out.push(`  stop ${x}`);
  out.push(`IPVS: ${p.ipvs.length} operation(s)`);
  for (const op of p.ipvs) out.push(`  ${describeOp(op)}`);
  if (p.other.length) out.push(`also changes: ${p.other.join(', ')}`);
  return `${out.join('\n')}\n`;
}
