/**
 * What a reload does to the VRRP engine, decided by comparing two VRRP plans (pure).
 *
 * An instance is restarted (priority 0, VIPs removed, started again as a new instance) only when the
 * change needs a new socket or a new identity on the wire: its interface, address family, VRID, VRRP
 * version, unicast vs multicast mode, multicast group, configured source address, or its sync group.
 * Everything else is applied in place, without a state change: VIPs added or removed on a live master
 * (with gratuitous ARP / NA for the new ones), priority, advert interval, preemption, authentication,
 * unicast peers, garp settings, tracking, notify scripts. A priority change may still move mastership,
 * through an ordinary election.
 *
 * Scripts and track files: a changed vrrp_script keeps its current result and is rescheduled; a changed
 * track_file is re-read. Engine-wide settings (notify FIFO, script user and security, startup delay)
 * are swapped in and restart nothing.
 */
import type { InstanceName } from './ids.js';
import type { VrrpInstancePlan, VrrpPlan } from './vrrp.js';

export type InstanceChangeKind = 'kept' | 'updated' | 'restarted' | 'added' | 'removed';

export interface InstanceChange {
  readonly name: InstanceName;
  readonly kind: InstanceChangeKind;
  /** What changed, for people: "priority 100 -> 150", "VIPs +10.0.0.2/32". Empty when kept. */
  readonly changes: readonly string[];
  /** restarted only: why the change cannot be applied in place. */
  readonly restartReason?: string;
}

export interface VrrpReloadReport {
  readonly instances: readonly InstanceChange[];
  /** vrrp_script names whose definition changed (rescheduled, result kept), added or removed. */
  readonly scripts: { readonly changed: string[]; readonly added: string[]; readonly removed: string[] };
  readonly trackFiles: { readonly changed: string[]; readonly added: string[]; readonly removed: string[] };
  /** Engine-wide settings that changed (swapped in, nothing restarted). */
  readonly engine: readonly string[];
}

const json = (v: unknown) => JSON.stringify(v);

/** Fields whose change needs a new socket or a new identity on the wire: the instance restarts. */
function restartReason(a: VrrpInstancePlan, b: VrrpInstancePlan): string | undefined {
  const unicast = (p: VrrpInstancePlan) => (p.core.unicastPeers?.length ?? 0) > 0;
  if (a.interface !== b.interface) return `interface ${a.interface} -> ${b.interface}`;
  if (a.family !== b.family) return `address family IPv${a.family} -> IPv${b.family}`;
  if (a.core.virtualRouterId !== b.core.virtualRouterId)
    return `VRID ${a.core.virtualRouterId} -> ${b.core.virtualRouterId}`;
  if (a.core.version !== b.core.version) return `VRRP version ${a.core.version} -> ${b.core.version}`;
  if (unicast(a) !== unicast(b)) return unicast(b) ? 'multicast -> unicast' : 'unicast -> multicast';
  if (!unicast(b) && a.core.multicastGroup !== b.core.multicastGroup)
    return `multicast group ${a.core.multicastGroup} -> ${b.core.multicastGroup}`;
  if (a.sourceAddress !== b.sourceAddress)
    return `source address ${a.sourceAddress ?? '(interface primary)'} -> ${b.sourceAddress ?? '(interface primary)'}`;
  if (a.syncGroup !== b.syncGroup)
    return `sync group ${a.syncGroup ?? '(none)'} -> ${b.syncGroup ?? '(none)'}`;
  if (json(a.vmac) !== json(b.vmac)) return 'use_vmac / vmac_xmit_base changed';
  return undefined;
}

function vipText(v: VrrpInstancePlan['vips'][number]): string {
  return `${v.address}/${v.prefixLength}`;
}

/** The in-place changes between two plans of one instance, in words. */
function describeChanges(a: VrrpInstancePlan, b: VrrpInstancePlan): string[] {
  const out: string[] = [];
  const vipsA = new Map(a.vips.map((v) => [v.address, v]));
  const vipsB = new Map(b.vips.map((v) => [v.address, v]));
  const added = b.vips.filter((v) => !vipsA.has(v.address)).map(vipText);
  const removed = a.vips.filter((v) => !vipsB.has(v.address)).map(vipText);
  const changed = b.vips.filter((v) => vipsA.has(v.address) && json(vipsA.get(v.address)) !== json(v));
  if (added.length) out.push(`VIPs +${added.join(' +')}`);
  if (removed.length) out.push(`VIPs -${removed.join(' -')}`);
  for (const v of changed) out.push(`VIP ${v.address} options changed`);
  if (json(a.routes) !== json(b.routes)) out.push('virtual routes changed');
  if (json(a.rules) !== json(b.rules)) out.push('virtual rules changed');
  const ca = a.core as unknown as Record<string, unknown>;
  const cb = b.core as unknown as Record<string, unknown>;
  const skip = new Set(['virtualAddresses', 'excludedAddresses', 'name']);
  for (const k of new Set([...Object.keys(ca), ...Object.keys(cb)])) {
    if (skip.has(k) || json(ca[k]) === json(cb[k])) continue;
    const fmt = (v: unknown) => (v === undefined ? 'unset' : typeof v === 'object' ? json(v) : String(v));
    // Secrets stay out of logs and plans.
    out.push(k === 'authentication' ? 'authentication changed' : `${k} ${fmt(ca[k])} -> ${fmt(cb[k])}`);
  }
  if (json(a.tracking) !== json(b.tracking)) out.push('tracking changed');
  if (json(a.notify) !== json(b.notify)) out.push('notify scripts changed');
  return out;
}

function namedDiff<T extends { name: string }>(a: readonly T[], b: readonly T[]) {
  const before = new Map(a.map((x) => [x.name, x]));
  const after = new Map(b.map((x) => [x.name, x]));
  return {
    changed: b.filter((x) => before.has(x.name) && json(before.get(x.name)) !== json(x)).map((x) => x.name),
    added: b.filter((x) => !before.has(x.name)).map((x) => x.name),
    removed: a.filter((x) => !after.has(x.name)).map((x) => x.name),
  };
}

/** Sync groups whose member list differs between the plans: their members move as one new unit. */
function regroupedMembers(a: VrrpPlan, b: VrrpPlan): Map<InstanceName, string> {
  const members = (p: VrrpPlan) => new Map(p.syncGroups.map((g) => [g.name, json([...g.members].sort())]));
  const ma = members(a);
  const mb = members(b);
  const out = new Map<InstanceName, string>();
  for (const g of [...a.syncGroups, ...b.syncGroups]) {
    if (ma.get(g.name) === mb.get(g.name)) continue;
    for (const m of g.members) out.set(m, `sync group ${g.name} members changed`);
  }
  return out;
}

/** Sync group members move as one unit: one member restarted restarts the group's other kept members. */
function restartWholeGroups(b: VrrpPlan, instances: InstanceChange[]): void {
  for (const g of b.syncGroups) {
    const restarted = instances.find((c) => g.members.includes(c.name) && c.kind === 'restarted');
    if (!restarted) continue;
    instances.forEach((c, i) => {
      if (g.members.includes(c.name) && (c.kind === 'kept' || c.kind === 'updated')) {
        instances[i] = {
          ...c,
          kind: 'restarted',
          restartReason: `sync group ${g.name} member ${restarted.name} restarts`,
        };
      }
    });
  }
}

export function diffVrrpPlans(a: VrrpPlan, b: VrrpPlan): VrrpReloadReport {
  const before = new Map(a.instances.map((i) => [i.name, i]));
  const after = new Set(b.instances.map((i) => i.name));
  const regrouped = regroupedMembers(a, b);
  const instances: InstanceChange[] = [];
  for (const next of b.instances) {
    const prev = before.get(next.name);
    if (!prev) {
      instances.push({ name: next.name, kind: 'added', changes: [] });
      continue;
    }
    const groupReason = regrouped.get(next.name);
    if (json(prev) === json(next) && !groupReason) {
      instances.push({ name: next.name, kind: 'kept', changes: [] });
      continue;
    }
    const changes = describeChanges(prev, next);
    const reason = restartReason(prev, next) ?? groupReason;
    instances.push(
      reason
        ? { name: next.name, kind: 'restarted', changes, restartReason: reason }
        : { name: next.name, kind: 'updated', changes },
    );
  }
  for (const prev of a.instances) {
    if (!after.has(prev.name)) instances.push({ name: prev.name, kind: 'removed', changes: [] });
  }
  restartWholeGroups(b, instances);
  const engine: string[] = [];
  if (json(a.scriptUser) !== json(b.scriptUser)) engine.push('script_user');
  if (a.scriptSecurity !== b.scriptSecurity) engine.push('enable_script_security');
  if (a.startupDelayMs !== b.startupDelayMs) engine.push('vrrp_startup_delay');
  if (json(a.syncGroups) !== json(b.syncGroups)) engine.push('sync groups');
  if (json(a.trackProcesses) !== json(b.trackProcesses)) engine.push('vrrp_track_process');
  if (a.dynamicInterfaces !== b.dynamicInterfaces) engine.push('dynamic_interfaces');
  return {
    instances,
    scripts: namedDiff(a.scripts, b.scripts),
    trackFiles: namedDiff(a.trackFiles, b.trackFiles),
    engine,
  };
}

/** True when nothing in the VRRP plan changed. */
export function vrrpPlansEqual(a: VrrpPlan, b: VrrpPlan): boolean {
  return json(a) === json(b);
}
