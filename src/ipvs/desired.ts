/**
 * Desired IPVS state from the IPVS plan (src/plan/ipvs.ts) plus the live health of each real server (pure).
 *
 * Semantics follow keepalived 2.2.x check/ipwrapper.c:
 *  - a real server without checkers is always alive; one with checkers starts alive unless a checker has
 *    `alpha` (then it starts failed and waits for a success), and afterwards follows its checkers' verdict;
 *  - effective weight = the MISC_CHECK misc_dynamic weight when one was reported, else the configured weight;
 *  - quorum: weight_sum = sum of effective weights of alive real servers. At start (no previous state)
 *    quorum is up iff weight_sum >= quorum + hysteresis (set_quorum_states). Afterwards the threshold is
 *    quorum - hysteresis while up (lost when weight_sum < threshold, or weight_sum == 0) and
 *    quorum + hysteresis while down (regained when weight_sum >= threshold) (update_quorum_state);
 *  - quorum lost with a sorry server: alive real servers leave the pool and the sorry server joins it;
 *    without a sorry server nothing changes in the pool, only quorum_down runs;
 *  - a real server that is not in the pool but has inhibit_on_failure stays in the kernel with weight 0;
 *    a sorry server with `inhibit` (sorry_server_inhibit) stays with weight 0 while quorum is up;
 *  - quorum_up / quorum_down scripts are returned as actions for the shell to run (never run here); at start
 *    quorum_down is announced only when a sorry server exists (keepalived's init branch).
 * ha_suspend does not change this mapping: it suspends the checkers (the health input), which the check
 * scheduler owns.
 *
 * Operator overrides (`halo rs drain|disable|weight`, kept by src/daemon/rs-overrides.ts) come last, on top
 * of health: drain keeps an alive real server in the kernel with weight 0 (keepalived's inhibit: no new
 * connections, the open ones finish); disable keeps it out of the kernel even when alive (and even with
 * inhibit_on_failure); weight N replaces the configured (and misc_dynamic) weight while it is alive. A
 * failed checker still takes a drained or re-weighted server out (or to 0 with inhibit_on_failure), as it
 * would without the override. Quorum sees the effect: a drained or disabled server adds nothing to the
 * weight sum, a re-weighted one adds N.
 *
 * Health is keyed by the real server's typed identity (which includes its virtual server's), so it
 * survives reloads: a real server that was down stays down in the new config until its checker says
 * otherwise.
 */
import type { RealServerKey, VirtualServerKey } from '../plan/ids.js';
import type { IpvsRealServerPlan, IpvsVirtualServerPlan } from '../plan/ipvs.js';
import { type DestConfig, destKeyString, type IpvsTable, makeDest, serviceKeyString } from './types.js';

/** Verdict of a real server's checkers, as the check scheduler reports it. */
export interface RealServerHealth {
  alive: boolean;
  /** misc_dynamic weight (exit status - 2), if the MISC_CHECK reported one */
  dynamicWeight?: number;
}

/** An operator's override of one real server, as computeDesired() applies it. */
export type RealServerOverride = { kind: 'drain' } | { kind: 'disable' } | { kind: 'weight'; weight: number };

export interface VirtualServerState {
  quorumUp: boolean;
}

export type QuorumAction = {
  kind: 'quorum-up' | 'quorum-down';
  virtualServer: IpvsVirtualServerPlan;
  /** The first evaluation of this virtual server (start, or a reload that added it). */
  init: boolean;
  /** the quorum_up / quorum_down command line, if configured */
  script?: string;
  weightSum: number;
  threshold: number;
};

/** Why each real server (or the sorry server) is or is not in the kernel (shown by `halo ipvs list`). */
export interface RealServerStatus {
  virtualServer: VirtualServerKey;
  /** The real server; undefined for the sorry server. */
  realServer: RealServerKey | undefined;
  /** address:port as the kernel table shows it (destKeyString). */
  endpoint: string;
  inKernel: boolean;
  weight: number;
  reason: string;
}

export interface DesiredResult {
  table: IpvsTable;
  /** service keys (serviceKeyString) halo owns: every desired service */
  owned: Set<string>;
  state: Map<VirtualServerKey, VirtualServerState>;
  actions: QuorumAction[];
  status: RealServerStatus[];
  /** service key -> the virtual server it comes from */
  serviceOwner: Map<string, IpvsVirtualServerPlan>;
}

const WEIGHT_MAX = 2_147_483_647;

function clampWeight(w: number): number {
  return Math.max(0, Math.min(WEIGHT_MAX, Math.trunc(w)));
}

/** Alive by its checkers' verdict; without checkers always; before the first verdict as the config says. */
function aliveOf(rs: IpvsRealServerPlan, h: RealServerHealth | undefined): boolean {
  return !rs.checked ? true : h ? h.alive : rs.startsAlive;
}

/**
 * The health map with the overrides folded in, for consumers that compute quorum from health alone (the
 * BGP part's weightSum): a drained or disabled real server weighs 0, a re-weighted one N. Every real server
 * with an override gets an entry (alive as computeDesired() judges it), so an unchecked or not yet checked
 * one is covered too; the weight sums it gives equal computeDesired()'s.
 */
export function healthWithOverrides(
  virtualServers: readonly IpvsVirtualServerPlan[],
  health: ReadonlyMap<RealServerKey, RealServerHealth>,
  overrides: ReadonlyMap<RealServerKey, RealServerOverride>,
): ReadonlyMap<RealServerKey, RealServerHealth> {
  if (overrides.size === 0) return health;
  const out = new Map(health);
  for (const vs of virtualServers) {
    for (const rs of vs.realServers) {
      const o = overrides.get(rs.key);
      if (!o) continue;
      const alive = aliveOf(rs, health.get(rs.key));
      out.set(rs.key, {
        alive: o.kind === 'disable' ? false : alive,
        dynamicWeight: o.kind === 'weight' ? o.weight : 0,
      });
    }
  }
  return out;
}

export function computeDesired(
  virtualServers: readonly IpvsVirtualServerPlan[],
  health: ReadonlyMap<RealServerKey, RealServerHealth>,
  previous: ReadonlyMap<VirtualServerKey, VirtualServerState> = new Map(),
  overrides: ReadonlyMap<RealServerKey, RealServerOverride> = new Map(),
): DesiredResult {
  const table: IpvsTable = { services: [] };
  const owned = new Set<string>();
  const state = new Map<VirtualServerKey, VirtualServerState>();
  const actions: QuorumAction[] = [];
  const status: RealServerStatus[] = [];
  const serviceOwner = new Map<string, IpvsVirtualServerPlan>();

  for (const vs of virtualServers) {
    const vsId = vs.key;
    const rsInfo = vs.realServers.map((rs) => {
      const h = health.get(rs.key);
      const alive = aliveOf(rs, h);
      const override = overrides.get(rs.key);
      const weight =
        override?.kind === 'weight'
          ? clampWeight(override.weight)
          : override
            ? 0
            : clampWeight(h?.dynamicWeight ?? rs.weight);
      const why = !rs.checked
        ? 'no checker: always alive'
        : h
          ? h.alive
            ? 'checkers pass'
            : 'checker failed'
          : alive
            ? 'not checked yet (starts up)'
            : 'not checked yet (alpha: starts down)';
      return { rs, alive, weight, why, override };
    });
    const weightSum = rsInfo.reduce((n, r) => n + (r.alive ? r.weight : 0), 0);

    // Quorum, with hysteresis (see header).
    const prev = previous.get(vsId);
    let quorumUp: boolean;
    let threshold: number;
    if (!prev) {
      threshold = vs.quorum + vs.hysteresis;
      quorumUp = weightSum >= threshold;
      if (!quorumUp && vs.sorryServer)
        actions.push({
          kind: 'quorum-down',
          virtualServer: vs,
          init: true,
          script: vs.quorumDown,
          weightSum,
          threshold,
        });
    } else {
      threshold = vs.quorum + (prev.quorumUp ? -1 : 1) * vs.hysteresis;
      quorumUp = prev.quorumUp;
      if (!prev.quorumUp && weightSum >= threshold) {
        quorumUp = true;
        actions.push({
          kind: 'quorum-up',
          virtualServer: vs,
          init: false,
          script: vs.quorumUp,
          weightSum,
          threshold,
        });
      } else if (prev.quorumUp && (weightSum === 0 || weightSum < threshold)) {
        quorumUp = false;
        actions.push({
          kind: 'quorum-down',
          virtualServer: vs,
          init: false,
          script: vs.quorumDown,
          weightSum,
          threshold,
        });
      }
    }
    state.set(vsId, { quorumUp });
    const sorryActive = !quorumUp && vs.sorryServer !== undefined;

    const services = vs.services;
    for (const svc of services) {
      const dests = new Map<string, DestConfig>();
      const destFor = (
        address: string,
        port: number,
        forward: DestConfig['forward'],
        weight: number,
        rs?: IpvsRealServerPlan,
      ) =>
        makeDest({
          address,
          port: port || (svc.fwmark ? 0 : svc.port),
          forward,
          weight,
          upperThreshold: rs?.upperThreshold ?? 0,
          lowerThreshold: rs?.lowerThreshold ?? 0,
        });
      for (const r of rsInfo) {
        const forward = r.rs.forward;
        let weight: number | undefined;
        let reason: string;
        const override = r.override;
        if (override?.kind === 'disable') {
          // Out even when alive, and even with inhibit_on_failure: the operator asked for it.
          reason = `${r.why}; disabled by the operator: not in IPVS`;
        } else if (r.alive && !sorryActive) {
          weight = r.weight;
          reason =
            override?.kind === 'drain'
              ? `${r.why}; drained by the operator: weight 0, no new connections`
              : override?.kind === 'weight'
                ? `${r.why}; weight ${r.weight} set by the operator`
                : r.why;
        } else {
          reason = r.alive ? 'quorum lost: sorry server in use' : r.why;
          if (r.rs.inhibitOnFailure) {
            weight = 0;
            reason += '; inhibit_on_failure: weight 0';
          }
        }
        if (weight !== undefined) {
          const d = destFor(r.rs.address, r.rs.port, forward, weight, r.rs);
          dests.set(destKeyString(d), d);
        }
        if (svc === services[0])
          status.push({
            virtualServer: vsId,
            realServer: r.rs.key,
            endpoint: destKeyString({ address: r.rs.address, port: r.rs.port }),
            inKernel: weight !== undefined,
            weight: weight ?? 0,
            reason,
          });
      }
      if (vs.sorryServer) {
        const s = vs.sorryServer;
        const forward = s.forward;
        // keepalived adds the sorry server with its default weight (1); sorry_server_inhibit keeps it at 0.
        const weight = sorryActive ? 1 : s.inhibit ? 0 : undefined;
        if (weight !== undefined) {
          const d = destFor(s.address, s.port, forward, weight);
          // A sorry server that duplicates a real server only takes over its entry while in use.
          if (sorryActive || !dests.has(destKeyString(d))) dests.set(destKeyString(d), d);
        }
        if (svc === services[0])
          status.push({
            virtualServer: vsId,
            realServer: undefined,
            endpoint: destKeyString({ address: s.address, port: s.port }),
            inKernel: weight !== undefined,
            weight: weight ?? 0,
            reason: sorryActive
              ? `quorum lost (${weightSum} < ${threshold})`
              : s.inhibit
                ? 'quorum up; sorry_server_inhibit: weight 0'
                : 'quorum up: not in use',
          });
      }
      const key = serviceKeyString(svc);
      if (owned.has(key)) throw new Error(`virtual server ${vs.name} duplicates service ${key}`);
      owned.add(key);
      serviceOwner.set(key, vs);
      table.services.push({ service: svc, dests: [...dests.values()] });
    }
  }
  return { table, owned, state, actions, status, serviceOwner };
}
