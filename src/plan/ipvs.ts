/**
 * The IPVS part's plan: the kernel services each virtual server maps to, its real servers with what the
 * kernel gets for them, quorum and sorry-server rules, and the kernel-wide settings from global_defs.
 * Built by one pure function from the normalised config; computeDesired() (src/ipvs/desired.ts) turns
 * it plus live health into the table halo wants, and never reads the config.
 */
import type { HaloConfig, RealServer, VirtualServer, VirtualServerGroup } from '../config/model.js';
import {
  addressFamily,
  anyAddress,
  bytesToIpv4,
  bytesToIpv6,
  canonicalAddress,
  ipToBytes,
} from '../ipvs/addr.js';
import {
  type ForwardMethod,
  type ServiceConfig,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  type Timeouts,
} from '../ipvs/types.js';
import {
  describeVirtualServer,
  type Family,
  type Protocol,
  type RealServerId,
  type RealServerKey,
  realServerKey,
  type VirtualServerId,
  type VirtualServerKey,
  virtualServerKey,
} from './ids.js';

export interface IpvsRealServerPlan {
  readonly id: RealServerId;
  readonly key: RealServerKey;
  readonly address: string;
  readonly port: number;
  /** Configured weight (keepalived iweight); a misc_dynamic result overrides it at run time. */
  readonly weight: number;
  readonly forward: ForwardMethod;
  readonly inhibitOnFailure: boolean;
  readonly upperThreshold: number;
  readonly lowerThreshold: number;
  /** Without checkers a real server is always alive. */
  readonly checked: boolean;
  /** Alive before its first check: no checker has `alpha`. */
  readonly startsAlive: boolean;
  readonly notifyUp: string | undefined;
  readonly notifyDown: string | undefined;
}

export interface SorryServerPlan {
  readonly address: string;
  readonly port: number;
  readonly forward: ForwardMethod;
  /** sorry_server_inhibit: kept in the kernel with weight 0 while quorum is up. */
  readonly inhibit: boolean;
}

export interface IpvsVirtualServerPlan {
  readonly id: VirtualServerId;
  readonly key: VirtualServerKey;
  /** keepalived's spelling, for logs and status. */
  readonly name: string;
  /** The kernel services it maps to (several for a virtual_server_group). */
  readonly services: readonly ServiceConfig[];
  readonly scheduler: string;
  readonly forwarding: 'NAT' | 'DR' | 'TUN';
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorumUp: string | undefined;
  readonly quorumDown: string | undefined;
  readonly sorryServer: SorryServerPlan | undefined;
  readonly realServers: readonly IpvsRealServerPlan[];
}

export interface SyncDaemonPlan {
  readonly interface: string;
  /** The VRRP instance whose state it follows (master when MASTER); none: always master. */
  readonly instance: string | undefined;
  readonly syncId: number;
  readonly maxLen: number | undefined;
  readonly port: number | undefined;
  readonly ttl: number | undefined;
  readonly group: string | undefined;
}

export interface IpvsPlan {
  readonly virtualServers: readonly IpvsVirtualServerPlan[];
  /** lvs_flush: empty the whole kernel table at start. */
  readonly flushAtStart: boolean;
  /** lvs_flush_on_stop (see the model). */
  readonly flushOnStop: 'off' | 'full' | 'vs' | 'rs';
  /** lvs_timeouts in seconds (0 = leave the kernel's value); undefined when none is set. */
  readonly timeouts: Timeouts | undefined;
  readonly syncDaemon: SyncDaemonPlan | undefined;
  /** quorum_up / quorum_down / notify_up / notify_down run as this user. */
  readonly scriptUser: { readonly user: string; readonly group: string | undefined } | undefined;
}

const FORWARD: Record<'NAT' | 'DR' | 'TUN', ForwardMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

/** The typed identity of a virtual server. */
export function virtualServerIdOf(vs: VirtualServer): VirtualServerId {
  const protocol = vs.protocol.toLowerCase() as Protocol;
  const family = vs.family as Family;
  if (vs.group !== undefined) return { kind: 'group', family, protocol, group: vs.group };
  if (vs.fwmark !== undefined) return { kind: 'fwmark', family, fwmark: vs.fwmark };
  return { kind: 'address', family, protocol, address: canonicalAddress(vs.address ?? ''), port: vs.port };
}

/** The typed identity of a real server (its port is the effective one: the service's when not given). */
export function realServerIdOf(vs: VirtualServerId, rs: Pick<RealServer, 'address' | 'port'>): RealServerId {
  return { vs, address: canonicalAddress(rs.address), port: rs.port };
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
export function servicesOf(vs: VirtualServer, groups: readonly VirtualServerGroup[]): ServiceConfig[] {
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
): Timeouts | undefined {
  if (!lvsTimeouts) return undefined;
  const s = (ms: number | undefined) => (ms === undefined ? 0 : Math.round(ms / 1000));
  return { tcp: s(lvsTimeouts.tcpMs), tcpFin: s(lvsTimeouts.tcpFinMs), udp: s(lvsTimeouts.udpMs) };
}

export function buildIpvsVirtualServerPlan(
  vs: VirtualServer,
  groups: readonly VirtualServerGroup[],
): IpvsVirtualServerPlan {
  const id = virtualServerIdOf(vs);
  return {
    id,
    key: virtualServerKey(id),
    name: describeVirtualServer(id),
    services: servicesOf(vs, groups),
    scheduler: vs.scheduler,
    forwarding: vs.forwardingMethod,
    quorum: vs.quorum,
    hysteresis: vs.hysteresis,
    quorumUp: vs.quorumUp,
    quorumDown: vs.quorumDown,
    sorryServer: vs.sorryServer
      ? {
          address: canonicalAddress(vs.sorryServer.address),
          port: vs.sorryServer.port,
          forward: FORWARD[vs.sorryServer.forwardingMethod ?? vs.forwardingMethod],
          inhibit: vs.sorryServer.inhibit,
        }
      : undefined,
    realServers: vs.realServers.map((rs) => {
      const rid = realServerIdOf(id, rs);
      return {
        id: rid,
        key: realServerKey(rid),
        address: rid.address,
        port: rs.port,
        weight: rs.weight,
        forward: FORWARD[rs.forwardingMethod],
        inhibitOnFailure: rs.inhibitOnFailure,
        upperThreshold: rs.uthreshold ?? 0,
        lowerThreshold: rs.lthreshold ?? 0,
        checked: rs.checkers.length > 0,
        // FILE_CHECK has no alpha (keepalived clears it): its file decides from the start.
        startsAlive: !rs.checkers.some((c) => c.type !== 'FILE_CHECK' && c.alpha),
        notifyUp: rs.notifyUp,
        notifyDown: rs.notifyDown,
      };
    }),
  };
}

/** The IPVS part's plan for a config. Pure. */
export function buildIpvsPlan(cfg: HaloConfig): IpvsPlan {
  const g = cfg.global;
  const sync = g.lvsSyncDaemon;
  return {
    virtualServers: cfg.virtualServers.map((vs) => buildIpvsVirtualServerPlan(vs, cfg.virtualServerGroups)),
    flushAtStart: g.lvsFlush,
    flushOnStop: g.lvsFlushOnStop,
    timeouts: timeoutsFromConfig(g.lvsTimeouts),
    syncDaemon: sync
      ? {
          interface: sync.interface,
          instance: sync.instance,
          syncId: sync.syncId,
          maxLen: sync.maxLen,
          port: sync.port,
          ttl: sync.ttl,
          group: sync.group,
        }
      : undefined,
    scriptUser: g.scriptUser ? { user: g.scriptUser.user, group: g.scriptUser.group } : undefined,
  };
}
