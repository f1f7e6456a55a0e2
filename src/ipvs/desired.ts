/**
 * Desired IPVS state from the config model plus the live health of each real server (pure).
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
 * Health is keyed by (virtual server identity, real server identity) so it survives reloads: a real server
 * that was down stays down in the new config until its checker says otherwise.
 */
import type { RealServer, VirtualServer, VirtualServerGroup } from '../config/model.js';
import { addressFamily, anyAddress, bytesToIpv4, bytesToIpv6, canonicalAddress, ipToBytes } from './addr.js';
import {
  type DestConfig,
  destKeyString,
  type Family,
  type ForwardMethod,
  type IpvsTable,
  makeDest,
  type Protocol,
  type ServiceConfig,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  serviceKeyString,
} from './types.js';

/** Verdict of a real server's checkers, as the check scheduler reports it. */
export interface RealServerHealth {
  alive: boolean;
  /** misc_dynamic weight (exit status - 2), if the MISC_CHECK reported one */
  dynamicWeight?: number;
}

export interface VirtualServerState {
  quorumUp: boolean;
}

export type QuorumAction = {
  kind: 'quorum-up' | 'quorum-down';
  virtualServer: string;
  /** the quorum_up / quorum_down command line, if configured */
  script?: string;
  weightSum: number;
  threshold: number;
};

/** Why each real server is or is not in the kernel (shown by `halo ipvs list`). */
export interface RealServerStatus {
  virtualServer: string;
  realServer: string;
  inKernel: boolean;
  weight: number;
  reason: string;
}

export interface DesiredResult {
  table: IpvsTable;
  /** service keys (serviceKeyString) halo owns: every desired service */
  owned: Set<string>;
  state: Map<string, VirtualServerState>;
  actions: QuorumAction[];
  status: RealServerStatus[];
  /** service key -> the virtual server identity it comes from */
  serviceOwner: Map<string, string>;
}

export interface DesiredInput {
  virtualServers: VirtualServer[];
  virtualServerGroups: VirtualServerGroup[];
}

const FORWARD: Record<'NAT' | 'DR' | 'TUN', ForwardMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };
const WEIGHT_MAX = 2_147_483_647;

/** Stable identity of a virtual server across reloads. */
export function virtualServerId(vs: VirtualServer): string {
  const proto = vs.protocol.toLowerCase();
  if (vs.group) return `group:${vs.group}:${proto}:${vs.family}`;
  if (vs.fwmark) return `fwm:${vs.family}:${vs.fwmark}`;
  const a = canonicalAddress(vs.address ?? '');
  return vs.family === 6 ? `${proto}:[${a}]:${vs.port}` : `${proto}:${a}:${vs.port}`;
}

export function realServerId(rs: { address: string; port: number }): string {
  return destKeyString({ address: canonicalAddress(rs.address), port: rs.port });
}

export function healthKey(vs: VirtualServer, rs: RealServer): string {
  return `${virtualServerId(vs)}|${realServerId(rs)}`;
}

function clampWeight(w: number): number {
  return Math.max(0, Math.min(WEIGHT_MAX, Math.trunc(w)));
}

/** persistence_granularity: an IPv4 netmask, or an IPv6 prefix length. */
export function granularityToPrefix(g: string | undefined, family: Family): number {
  if (g === undefined) return family === 6 ? 128 : 32;
  if (g.includes('.')) {
    const b = ipToBytes(g);
    const m = b.readUInt32BE(0);
    let n = 0;
    while (n < 32 && (m & (0x80000000 >>> n)) !== 0) n++;
    return n;
  }
  const n = Number(g.replace(/^\//, ''));
  if (!Number.isInteger(n) || n < 0 || n > (family === 6 ? 128 : 32))
    throw new Error(`bad persistence_granularity '${g}'`);
  return n;
}

function serviceFlags(vs: VirtualServer): number {
  let f = 0;
  if (vs.persistence) f |= SVC_F_PERSISTENT;
  if (vs.ops) f |= SVC_F_ONEPACKET;
  for (const s of vs.schedulerFlags) {
    if (s === 'flag-1' || s === 'sh-fallback' || s === 'mh-fallback') f |= SVC_F_SCHED1;
    else if (s === 'flag-2' || s === 'sh-port' || s === 'mh-port') f |= SVC_F_SCHED2;
    else if (s === 'flag-3') f |= SVC_F_SCHED3;
  }
  return f;
}

/** Addresses of a range "a-b": the last IPv4 octet (or last IPv6 group) counts up from a to b. */
export function expandRange(start: string, end: string | undefined): string[] {
  const first = ipToBytes(start);
  if (!end) return [canonicalAddress(start)];
  const last = ipToBytes(end);
  if (first.length !== last.length) throw new Error(`address range ${start}-${end} mixes families`);
  const v6 = first.length === 16;
  const from = v6 ? first.readUInt16BE(14) : first[3];
  const to = v6 ? last.readUInt16BE(14) : last[3];
  if (to < from) throw new Error(`address range ${start}-${end} runs backwards`);
  const out: string[] = [];
  for (let i = from; i <= to; i++) {
    const b = Buffer.from(first);
    if (v6) b.writeUInt16BE(i, 14);
    else b[3] = i;
    out.push(v6 ? bytesToIpv6(b) : bytesToIpv4(b));
  }
  return out;
}

/** The kernel services a virtual server maps to (several for a virtual_server_group). */
export function servicesOf(vs: VirtualServer, groups: VirtualServerGroup[]): ServiceConfig[] {
  const protocol = vs.protocol.toLowerCase() as Protocol;
  const base = {
    scheduler: vs.scheduler,
    flags: serviceFlags(vs),
    timeout: vs.persistence ? Math.round(vs.persistence.timeoutMs / 1000) : 0,
    peName: '',
  };
  const fwmarkService = (fwmark: number, family: Family): ServiceConfig => ({
    family,
    fwmark,
    protocol: 'tcp',
    address: anyAddress(family),
    port: 0,
    ...base,
    netmask: granularityToPrefix(vs.persistence?.granularity, family),
  });
  const addrService = (address: string, port: number): ServiceConfig => {
    const family = addressFamily(address);
    return {
      family,
      fwmark: 0,
      protocol,
      address: canonicalAddress(address),
      port,
      ...base,
      netmask: granularityToPrefix(vs.persistence?.granularity, family),
    };
  };
  if (vs.group) {
    const g = groups.find((x) => x.name === vs.group);
    if (!g) throw new Error(`virtual_server_group ${vs.group} is not defined`);
    const out: ServiceConfig[] = [];
    for (const m of g.members) {
      if (m.type === 'fwmark') out.push(fwmarkService(m.fwmark, vs.family));
      else for (const a of expandRange(m.address, m.rangeEnd)) out.push(addrService(a, m.port || vs.port));
    }
    return out;
  }
  if (vs.fwmark) return [fwmarkService(vs.fwmark, vs.family)];
  return [addrService(vs.address ?? '', vs.port)];
}

/**
 * global_defs lvs_timeouts -> IPVS_CMD_SET_CONFIG values in seconds (0 = leave the kernel's value, as
 * ipvsadm --set does); undefined when the config sets none.
 */
export function timeoutsFromConfig(
  lvsTimeouts: { tcpMs?: number; tcpFinMs?: number; udpMs?: number } | undefined,
) {
  if (!lvsTimeouts) return undefined;
  const s = (ms: number | undefined) => (ms === undefined ? 0 : Math.round(ms / 1000));
  return { tcp: s(lvsTimeouts.tcpMs), tcpFin: s(lvsTimeouts.tcpFinMs), udp: s(lvsTimeouts.udpMs) };
}

function startsAlive(rs: RealServer): boolean {
  return !rs.checkers.some((c) => c.type !== 'FILE_CHECK' && c.alpha);
}

export function computeDesired(
  input: DesiredInput,
  health: ReadonlyMap<string, RealServerHealth>,
  previous: ReadonlyMap<string, VirtualServerState> = new Map(),
): DesiredResult {
  const table: IpvsTable = { services: [] };
  const owned = new Set<string>();
  const state = new Map<string, VirtualServerState>();
  const actions: QuorumAction[] = [];
  const status: RealServerStatus[] = [];
  const serviceOwner = new Map<string, string>();

  for (const vs of input.virtualServers) {
    const vsId = virtualServerId(vs);
    const rsInfo = vs.realServers.map((rs) => {
      const h = health.get(healthKey(vs, rs));
      const alive = rs.checkers.length === 0 ? true : h ? h.alive : startsAlive(rs);
      const weight = clampWeight(h?.dynamicWeight ?? rs.weight);
      const why =
        rs.checkers.length === 0
          ? 'no checker: always alive'
          : h
            ? h.alive
              ? 'checkers pass'
              : 'checker failed'
            : alive
              ? 'not checked yet (starts up)'
              : 'not checked yet (alpha: starts down)';
      return { rs, alive, weight, why };
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
          virtualServer: vsId,
          script: vs.quorumDown,
          weightSum,
          threshold,
        });
    } else {
      threshold = vs.quorum + (prev.quorumUp ? -1 : 1) * vs.hysteresis;
      quorumUp = prev.quorumUp;
      if (!prev.quorumUp && weightSum >= threshold) {
        quorumUp = true;
        actions.push({ kind: 'quorum-up', virtualServer: vsId, script: vs.quorumUp, weightSum, threshold });
      } else if (prev.quorumUp && (weightSum === 0 || weightSum < threshold)) {
        quorumUp = false;
        actions.push({
          kind: 'quorum-down',
          virtualServer: vsId,
          script: vs.quorumDown,
          weightSum,
          threshold,
        });
      }
    }
    state.set(vsId, { quorumUp });
    const sorryActive = !quorumUp && vs.sorryServer !== undefined;

    const services = servicesOf(vs, input.virtualServerGroups);
    for (const svc of services) {
      const dests = new Map<string, DestConfig>();
      const destFor = (
        address: string,
        port: number,
        forward: ForwardMethod,
        weight: number,
        rs?: RealServer,
      ) =>
        makeDest({
          address: canonicalAddress(address),
          port: port || (svc.fwmark ? 0 : svc.port),
          forward,
          weight,
          upperThreshold: rs?.uthreshold ?? 0,
          lowerThreshold: rs?.lthreshold ?? 0,
        });
      for (const r of rsInfo) {
        const forward = FORWARD[r.rs.forwardingMethod];
        let weight: number | undefined;
        let reason: string;
        if (r.alive && !sorryActive) {
          weight = r.weight;
          reason = r.why;
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
            realServer: realServerId(r.rs),
            inKernel: weight !== undefined,
            weight: weight ?? 0,
            reason,
          });
      }
      if (vs.sorryServer) {
        const s = vs.sorryServer;
        const forward = FORWARD[s.forwardingMethod ?? vs.forwardingMethod];
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
            realServer: `sorry ${realServerId(s)}`,
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
      if (owned.has(key)) throw new Error(`virtual server ${vsId} duplicates service ${key}`);
      owned.add(key);
      serviceOwner.set(key, vsId);
      table.services.push({ service: svc, dests: [...dests.values()] });
    }
  }
  return { table, owned, state, actions, status, serviceOwner };
}
