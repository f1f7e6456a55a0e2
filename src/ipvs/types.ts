/**
 * The IPVS table as halo models it: services (virtual servers) and their destinations (real servers).
 * Shared by the codec (kernel replies), diff (desired vs kernel) and desired-state builder.
 *
 * Addresses are canonical text (IPv4 dotted quad, IPv6 RFC 5952 compressed); see addr.ts.
 */

export type Family = 4 | 6;
export type Protocol = 'tcp' | 'udp' | 'sctp';
/** IP_VS_CONN_F_* forwarding methods. keepalived lb_kind NAT = masq, DR = route, TUN = tunnel. */
export type ForwardMethod = 'masq' | 'local' | 'tunnel' | 'route' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';

/** Virtual service flags (IP_VS_SVC_F_*, linux/include/uapi/linux/ip_vs.h). */
export const SVC_F_PERSISTENT = 0x0001;
/** Kernel-internal "hashed" flag: always set in dumps, never meaningful to us, masked out when decoding. */
export const SVC_F_HASHED = 0x0002;
export const SVC_F_ONEPACKET = 0x0004;
export const SVC_F_SCHED1 = 0x0008;
export const SVC_F_SCHED2 = 0x0010;
export const SVC_F_SCHED3 = 0x0020;
/** sh-fallback / mh-fallback share SCHED1, sh-port / mh-port share SCHED2 (the scheduler decides). */
export const SVC_F_SCHED_SH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_SH_PORT = SVC_F_SCHED2;
export const SVC_F_SCHED_MH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_MH_PORT = SVC_F_SCHED2;

/** Identity of a service in the kernel: (family, fwmark) or (family, protocol, address, port). */
export interface ServiceKey {
  family: Family;
  /** 0 for address/port services. For fwmark services protocol is 'tcp', address the any-address, port 0. */
  fwmark: number;
  protocol: Protocol;
  address: string;
  port: number;
}

/** Everything halo sets on a service. All non-key fields are editable in place (IPVS_CMD_SET_SERVICE). */
export interface ServiceConfig extends ServiceKey {
  scheduler: string;
  /** IP_VS_SVC_F_* without SVC_F_HASHED. */
  flags: number;
  /** Persistence timeout in seconds (meaningful with SVC_F_PERSISTENT). */
  timeout: number;
  /** Persistence granularity as a prefix length (IPv4: 0..32, IPv6: 1..128). */
  netmask: number;
  /** Persistence engine, e.g. 'sip'; '' for none. */
  peName: string;
}

export interface Stats {
  conns: bigint;
  inpkts: bigint;
  outpkts: bigint;
  inbytes: bigint;
  outbytes: bigint;
  cps: bigint;
  inpps: bigint;
  outpps: bigint;
  inbps: bigint;
  outbps: bigint;
}

export interface ServiceEntry extends ServiceConfig {
  stats?: Stats;
}

/** Identity of a destination inside a service: its address and port. */
export interface DestKey {
  address: string;
  port: number;
}

/** Everything halo sets on a destination. All non-key fields are editable in place (IPVS_CMD_SET_DEST). */
export interface DestConfig extends DestKey {
  /** Family of the destination address; may differ from the service's only with tunnelling. */
  family: Family;
  forward: ForwardMethod;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType: TunnelType;
  tunnelPort: number;
  tunnelFlags: number;
}

export interface DestEntry extends DestConfig {
  activeConns: number;
  inactiveConns: number;
  persistConns: number;
  stats?: Stats;
}

export interface KernelService {
  service: ServiceEntry;
  dests: DestEntry[];
}

/** A table of services with their destinations, as dumped from the kernel or as desired. */
export interface IpvsTable {
  services: { service: ServiceConfig; dests: DestConfig[] }[];
}

export interface Timeouts {
  /** Seconds; 0 in a SET request leaves the value unchanged. */
  tcp: number;
  tcpFin: number;
  udp: number;
}

export type SyncState = 'master' | 'backup';

export interface SyncDaemon {
  state: SyncState;
  mcastIfname: string;
  syncId: number;
  syncMaxLen?: number;
  mcastGroup?: string;
  mcastPort?: number;
  mcastTtl?: number;
}

export interface IpvsInfo {
  /** e.g. 0x010201 for 1.2.1 */
  version: number;
  connTableSize: number;
}

export function serviceKeyString(k: ServiceKey): string {
  if (k.fwmark) return `fwm:${k.family}:${k.fwmark}`;
  return k.family === 6 ? `${k.protocol}:[${k.address}]:${k.port}` : `${k.protocol}:${k.address}:${k.port}`;
}

export function destKeyString(k: DestKey): string {
  return k.address.includes(':') ? `[${k.address}]:${k.port}` : `${k.address}:${k.port}`;
}

export function serviceKeyOf(s: ServiceKey): ServiceKey {
  return { family: s.family, fwmark: s.fwmark, protocol: s.protocol, address: s.address, port: s.port };
}

export function destKeyOf(d: DestKey): DestKey {
  return { address: d.address, port: d.port };
}

export function serviceConfigOf(s: ServiceConfig): ServiceConfig {
  return {
    ...serviceKeyOf(s),
    scheduler: s.scheduler,
    flags: s.flags,
    timeout: s.timeout,
    netmask: s.netmask,
    peName: s.peName,
  };
}

export function destConfigOf(d: DestConfig): DestConfig {
  return {
    address: d.address,
    port: d.port,
    family: d.family,
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    tunnelType: d.tunnelType,
    tunnelPort: d.tunnelPort,
    tunnelFlags: d.tunnelFlags,
  };
}

/** Defaults for a destination the way ipvsadm/keepalived add one. */
export function makeDest(p: Partial<DestConfig> & DestKey): DestConfig {
  return {
    family: p.address.includes(':') ? 6 : 4,
    forward: 'masq',
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    tunnelType: 'ipip',
    tunnelPort: 0,
    tunnelFlags: 0,
    ...p,
  };
}

export function makeService(
  p: Partial<ServiceConfig> & Pick<ServiceConfig, 'address' | 'port'>,
): ServiceConfig {
  const family: Family = p.family ?? (p.address.includes(':') ? 6 : 4);
  return {
    family,
    fwmark: 0,
    protocol: 'tcp',
    scheduler: 'wlc',
    flags: 0,
    timeout: 0,
    netmask: family === 6 ? 128 : 32,
    peName: '',
    ...p,
  };
}
