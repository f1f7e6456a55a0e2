/**
 * The announce/withdraw decision core (pure): `step(plan, state, event, nowMs) -> { state, actions, wakeAt }`.
 * No sockets, no timers, no speaker: the shell (part.ts) feeds it events and a clock, carries out the
 * actions, and calls it again with a `tick` at `wakeAt`.
 *
 * Rules:
 *  - Health: a VIP is healthy while every virtual server serving it has quorum. Quorum is keepalived's
 *    (check/ipwrapper.c, the same rule ipvs/desired.ts applies to the pool): weight sum = the effective
 *    weights of the alive real servers; at first sight quorum is up iff sum >= quorum + hysteresis; then,
 *    while up, it is lost when sum < quorum - hysteresis or sum == 0; while down, regained when
 *    sum >= quorum + hysteresis. `quorumStep` below is that rule; a unit test checks it against
 *    computeDesired() on random histories.
 *  - Announce when healthy for `announceDelayMs` (0: at once); withdraw at once when health is lost.
 *  - Maintenance (`drain`): withdraw everything and announce nothing until `resume`; the VIPs stay so
 *    connections already here finish.
 *  - Stop: withdraw everything, wait until the speaker reports none of our routes (or `withdrawTimeoutMs`),
 *    then keep serving for `withdrawDelayMs` while the routers converge, then remove the VIPs. The VIPs
 *    are added at start and stay until then, so a director never announces an address it does not hold.
 */
import type { RealServerHealth } from '../ipvs/desired.js';
import type { RealServerKey } from '../plan/ids.js';
import type { AnnouncementPlan, BgpPlan, RouteSpec, VirtualServerRule } from './plan.js';

export interface AnnouncementState {
  /** Quorum per virtual server id (absent: not evaluated yet). */
  quorum: Record<string, boolean>;
  healthy: boolean;
  /** When health last became true (for announce_delay); null while unhealthy. */
  healthySince: number | null;
  announced: boolean;
  /** Why it is (not) announced, for status and logs. */
  reason: string;
  since: number;
}

export interface StopState {
  startedAt: number;
  /** When the speaker first reported none of our routes; null until then. */
  confirmedAt: number | null;
  done: boolean;
}

export interface BgpCoreState {
  /** Keyed by route prefix. */
  announcements: Record<string, AnnouncementState>;
  maintenance: boolean;
  stop: StopState | null;
  /** Last health report (kept so a reload can re-evaluate at once). */
  health: ReadonlyMap<RealServerKey, RealServerHealth>;
}

export type BgpEvent =
  | { kind: 'health'; health: ReadonlyMap<RealServerKey, RealServerHealth> }
  | { kind: 'drain' }
  | { kind: 'resume' }
  | { kind: 'stop' }
  /** What the speaker originates now; null when it cannot be read. */
  | { kind: 'speaker'; originated: ReadonlySet<string> | null }
  /** A new plan (reload): VIPs that left the config are withdrawn, new ones evaluated. */
  | { kind: 'reload' }
  | { kind: 'tick' };

export type BgpAction =
  | { kind: 'announce'; prefix: string; reason: string }
  | { kind: 'withdraw'; prefix: string; reason: string }
  | {
      kind: 'quorum';
      prefix: string;
      virtualServer: string;
      up: boolean;
      weightSum: number;
      threshold: number;
    }
  /** Stop sequence finished: remove the VIPs now. */
  | { kind: 'stopped'; confirmed: boolean; waitedMs: number };

export interface StepResult {
  state: BgpCoreState;
  actions: BgpAction[];
  /** Call step() with a tick at this time (null: nothing pending). */
  wakeAt: number | null;
}

export function initialState(): BgpCoreState {
  return { announcements: {}, maintenance: false, stop: null, health: new Map() };
}

/** keepalived's quorum rule with hysteresis (see the header). */
export function quorumStep(
  prev: boolean | undefined,
  weightSum: number,
  quorum: number,
  hysteresis: number,
): { up: boolean; threshold: number } {
  if (prev === undefined) {
    const threshold = quorum + hysteresis;
    return { up: weightSum >= threshold, threshold };
  }
  const threshold = quorum + (prev ? -1 : 1) * hysteresis;
  if (!prev && weightSum >= threshold) return { up: true, threshold };
  if (prev && (weightSum === 0 || weightSum < threshold)) return { up: false, threshold };
  return { up: prev, threshold };
}

/** Sum of effective weights of the alive real servers of a virtual server (ipvs/desired.ts's rule). */
export function weightSum(
  rule: VirtualServerRule,
  health: ReadonlyMap<RealServerKey, RealServerHealth>,
): number {
  let sum = 0;
  for (const rs of rule.realServers) {
    const h = health.get(rs.healthKey);
    const alive = rs.alwaysAlive ? true : h ? h.alive : rs.startsAlive;
    if (alive) sum += Math.max(0, Math.min(2_147_483_647, Math.trunc(h?.dynamicWeight ?? rs.weight)));
  }
  return sum;
}

/** The routes the speaker must originate now. */
export function desiredRoutes(plan: BgpPlan, state: BgpCoreState): RouteSpec[] {
  return plan.announcements.filter((a) => state.announcements[a.route.prefix]?.announced).map((a) => a.route);
}

export function step(plan: BgpPlan, prev: BgpCoreState, event: BgpEvent, now: number): StepResult {
  const state: BgpCoreState = {
    ...prev,
    announcements: Object.fromEntries(
      Object.entries(prev.announcements).map(([k, v]) => [k, { ...v, quorum: { ...v.quorum } }]),
    ),
    stop: prev.stop ? { ...prev.stop } : null,
  };
  const actions: BgpAction[] = [];

  switch (event.kind) {
    case 'health':
      state.health = event.health;
      break;
    case 'drain':
      state.maintenance = true;
      break;
    case 'resume':
      state.maintenance = false;
      break;
    case 'stop':
      if (!state.stop) state.stop = { startedAt: now, confirmedAt: null, done: false };
      break;
    case 'speaker':
      if (state.stop && !state.stop.confirmedAt && event.originated) {
        const ours = plan.announcements.some((a) => event.originated?.has(a.route.prefix));
        const leftovers = Object.keys(prev.announcements).some((p) => event.originated?.has(p));
        if (!ours && !leftovers) state.stop.confirmedAt = now;
      }
      break;
    case 'reload':
      for (const [prefix, a] of Object.entries(state.announcements)) {
        if (plan.announcements.some((p) => p.route.prefix === prefix)) continue;
        if (a.announced) actions.push({ kind: 'withdraw', prefix, reason: 'removed from the config' });
        delete state.announcements[prefix];
      }
      break;
    case 'tick':
      break;
  }

  for (const a of plan.announcements) evaluate(plan, a, state, now, actions);
  const wakeAt = stopProgress(plan, state, now, actions) ?? nextAnnounceAt(plan, state);
  return { state, actions, wakeAt };
}

function evaluate(
  plan: BgpPlan,
  a: AnnouncementPlan,
  state: BgpCoreState,
  now: number,
  actions: BgpAction[],
): void {
  const prefix = a.route.prefix;
  const s: AnnouncementState = state.announcements[prefix] ?? {
    quorum: {},
    healthy: false,
    healthySince: null,
    announced: false,
    reason: 'starting',
    since: now,
  };
  state.announcements[prefix] = s;

  // Per-virtual-server quorum, with hysteresis; a change is reported once.
  const quorum: Record<string, boolean> = {};
  for (const vs of a.virtualServers) {
    const sum = weightSum(vs, state.health);
    const before = s.quorum[vs.id];
    const q = quorumStep(before, sum, vs.quorum, vs.hysteresis);
    quorum[vs.id] = q.up;
    if (before !== q.up && (before !== undefined || !q.up)) {
      actions.push({
        kind: 'quorum',
        prefix,
        virtualServer: vs.id,
        up: q.up,
        weightSum: sum,
        threshold: q.threshold,
      });
    }
  }
  s.quorum = quorum;
  const healthy = a.virtualServers.length > 0 && a.virtualServers.every((vs) => quorum[vs.id]);
  if (healthy && !s.healthy) s.healthySince = now;
  if (!healthy) s.healthySince = null;
  s.healthy = healthy;

  const lost = a.virtualServers.filter((vs) => !quorum[vs.id]).map((vs) => vs.id);
  let want: boolean;
  let reason: string;
  if (state.stop) {
    want = false;
    reason = 'stopping';
  } else if (state.maintenance) {
    want = false;
    reason = 'maintenance';
  } else if (!healthy) {
    want = false;
    reason =
      a.virtualServers.length === 0 ? 'no virtual server serves it' : `quorum lost: ${lost.join(', ')}`;
  } else if (s.healthySince !== null && now - s.healthySince < plan.announceDelayMs && !s.announced) {
    want = false;
    reason = `healthy, announcing after announce_delay (${plan.announceDelayMs} ms)`;
  } else {
    want = true;
    reason = 'quorum up';
  }
  if (want !== s.announced) {
    actions.push({ kind: want ? 'announce' : 'withdraw', prefix, reason });
    s.announced = want;
    s.since = now;
  }
  s.reason = reason;
}

/** Moves the stop sequence on; returns when to wake for it (undefined when not stopping). */
function stopProgress(
  plan: BgpPlan,
  state: BgpCoreState,
  now: number,
  actions: BgpAction[],
): number | null | undefined {
  const stop = state.stop;
  if (!stop) return undefined;
  if (stop.done) return null;
  if (stop.confirmedAt !== null) {
    const at = stop.confirmedAt + plan.withdrawDelayMs;
    if (now < at) return at;
    stop.done = true;
    actions.push({ kind: 'stopped', confirmed: true, waitedMs: now - stop.startedAt });
    return null;
  }
  const deadline = stop.startedAt + plan.withdrawTimeoutMs;
  if (now < deadline) return deadline;
  stop.done = true;
  actions.push({ kind: 'stopped', confirmed: false, waitedMs: now - stop.startedAt });
  return null;
}

function nextAnnounceAt(plan: BgpPlan, state: BgpCoreState): number | null {
  if (state.maintenance || state.stop) return null;
  let next: number | null = null;
  for (const a of plan.announcements) {
    const s = state.announcements[a.route.prefix];
    if (!s || s.announced || !s.healthy || s.healthySince === null) continue;
    const at = s.healthySince + plan.announceDelayMs;
    if (next === null || at < next) next = at;
  }
  return next;
}
