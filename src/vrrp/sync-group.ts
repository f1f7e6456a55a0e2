/**
 * vrrp_sync_group coordination (pure), as keepalived 2.2.7 does it (vrrp_sync.c, the VRRP_TSM table in
 * vrrp_scheduler.c, down_instance()/try_up_instance()):
 *
 *  - A member may only become MASTER when the group is already MASTER or every other member wants MASTER
 *    (wantState, i.e. its own master-down timer expired too); otherwise it stays BACKUP and re-arms its timer
 *    ("prefer backup state to avoid thrashing").
 *  - When one member becomes MASTER (BACKUP->MASTER, FAULT->MASTER), all others are made MASTER
 *    ("VRRP_Group(G) Syncing instances to MASTER state").
 *  - When one member leaves MASTER for BACKUP (a higher-priority advert), all others go to BACKUP.
 *  - When one member faults by its own trackers, all others go to FAULT (a master among them sends priority 0);
 *    the group leaves FAULT only when no member is faulted by its own trackers, and then all go to BACKUP
 *    (or MASTER for an address owner configured MASTER).
 *
 * One deliberate simplification: keepalived's vrrp_sync_master() sets each member's wantstate and calls
 * goto_master one member at a time, re-checking vrrp_sync_can_goto_master() for each, so in a group of 3+ a
 * member can be left in BACKUP (until its own timer) when a later member still had wantstate BACKUP. We mark all
 * members as wanting MASTER first, so the whole group switches together, which is what the feature is for.
 *
 * Drive members through stepSyncGroup() (or stepSyncGroupTimers()) instead of instance.step(); every returned
 * action carries the member's name. Group notifications come as { type: 'group-notify' }.
 */
import {
  nextDeadline,
  type StepOptions,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceState,
} from './instance.js';
import { PRIORITY_OWNER } from './tracking.js';

export type SyncGroupStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';

export interface SyncGroupParams {
  name: string;
  /** Member instance names (keepalived `group { VI_1 VI_2 }`). */
  group: string[];
}

export interface SyncGroupState {
  params: SyncGroupParams;
  state: SyncGroupStateName;
  members: Record<string, VrrpInstanceState>;
}

export type SyncGroupAction =
  | (VrrpAction & { instance: string })
  | { type: 'group-notify'; group: string; state: 'MASTER' | 'BACKUP' | 'FAULT'; message: string };

export interface SyncGroupStepResult {
  group: SyncGroupState;
  actions: SyncGroupAction[];
}

/** keepalived vrrp_sync_set_group(): MASTER only if every member is an owner wanting MASTER. */
export function createSyncGroup(params: SyncGroupParams, members: VrrpInstanceState[]): SyncGroupState {
  const byName: Record<string, VrrpInstanceState> = {};
  for (const m of members) byName[m.params.name] = m;
  for (const n of params.group) {
    if (!byName[n]) throw new Error(`sync group ${params.name}: member ${n} not given`);
  }
  const allOwnersMaster = members.every((m) => m.wantState === 'MASTER' && m.basePriority === PRIORITY_OWNER);
  return { params, state: allOwnersMaster ? 'MASTER' : 'BACKUP', members: byName };
}

function othersOf(g: SyncGroupState, name: string): VrrpInstanceState[] {
  return g.params.group.filter((n) => n !== name).map((n) => g.members[n]);
}

function canGoMaster(g: SyncGroupState, name: string): boolean {
  if (g.state === 'MASTER') return true;
  return othersOf(g, name).every((m) => m.wantState === 'MASTER');
}

function optionsFor(g: SyncGroupState, name: string): StepOptions {
  return {
    inSyncGroup: true,
    syncCanGoMaster: canGoMaster(g, name),
    syncGroupFault: othersOf(g, name).some((m) => m.trackFault),
    syncGroupState: g.state,
  };
}

/** Step one member, then apply the group's transition rules to the others. */
export function stepSyncGroup(
  g0: SyncGroupState,
  name: string,
  ev: VrrpEvent,
  nowMs: number,
): SyncGroupStepResult {
  const member = g0.members[name];
  if (!member) throw new Error(`sync group ${g0.params.name}: no member ${name}`);
  const g: SyncGroupState = { ...g0, members: { ...g0.members } };
  const actions: SyncGroupAction[] = [];
  const apply = (n: string, e: VrrpEvent, o: StepOptions) => {
    const r = step(g.members[n], e, nowMs, o);
    g.members[n] = r.state;
    for (const a of r.actions) actions.push({ ...a, instance: n });
  };
  const groupNotify = (state: 'MASTER' | 'BACKUP' | 'FAULT') => {
    g.state = state;
    actions.push({
      type: 'group-notify',
      group: g.params.name,
      state,
      message: `VRRP_Group(${g.params.name}) Syncing instances to ${state} state`,
    });
  };

  const prev = member.state;
  const before = actions.length;
  apply(name, ev, optionsFor(g, name));
  const now = g.members[name];
  // keepalived vrrp_state_master_rx(): a master that hears a lower-priority advert also makes the other
  // members of its group send their garp_lower_prio GARPs.
  if (actions.slice(before).some((a) => a.type === 'notify-event' && a.event === 'master-rx-lower-pri')) {
    for (const o of othersOf(g, name))
      apply(o.params.name, { type: 'sync-lower-prio-garp' }, { inSyncGroup: true });
  }

  if (now.state === 'FAULT' && now.trackFault && g.state !== 'FAULT') {
    groupNotify('FAULT');
    for (const o of othersOf(g, name)) apply(o.params.name, { type: 'sync-fault' }, { inSyncGroup: true });
  } else if (now.state === 'MASTER' && prev !== 'MASTER' && g.state !== 'MASTER') {
    const others = othersOf(g, name);
    for (const o of others) g.members[o.params.name] = { ...g.members[o.params.name], wantState: 'MASTER' };
    groupNotify('MASTER');
    for (const o of others) apply(o.params.name, { type: 'sync-master' }, { inSyncGroup: true });
  } else if (now.state === 'BACKUP' && (prev === 'MASTER' || prev === 'FAULT') && g.state !== 'BACKUP') {
    groupNotify('BACKUP');
    for (const o of othersOf(g, name)) apply(o.params.name, { type: 'sync-backup' }, { inSyncGroup: true });
  }
  return { group: g, actions };
}

/** Earliest deadline over all members. */
export function syncGroupNextDeadline(g: SyncGroupState): number | undefined {
  let d: number | undefined;
  for (const n of g.params.group) {
    const t = nextDeadline(g.members[n]);
    if (t !== undefined && (d === undefined || t < d)) d = t;
  }
  return d;
}

/** Deliver `timer` to every member whose deadline has passed (earliest first). */
export function stepSyncGroupTimers(g0: SyncGroupState, nowMs: number): SyncGroupStepResult {
  let g = g0;
  const actions: SyncGroupAction[] = [];
  const due = g.params.group
    .map((n) => ({ n, t: nextDeadline(g.members[n]) }))
    .filter((x): x is { n: string; t: number } => x.t !== undefined && x.t <= nowMs)
    .sort((a, b) => a.t - b.t);
  for (const { n } of due) {
    const t = nextDeadline(g.members[n]);
    if (t === undefined || t > nowMs) continue; // a group transition already re-armed it
    const r = stepSyncGroup(g, n, { type: 'timer' }, nowMs);
    g = r.group;
    actions.push(...r.actions);
  }
  return { group: g, actions };
}
