/**
 * Typed codec for the IPVS generic netlink family ("IPVS", version 1).
 *
 * Command and attribute numbers, and the attribute payload types, are from
 * linux/include/uapi/linux/ip_vs.h and the nla_policy tables in net/netfilter/ipvs/ip_vs_ctl.c:
 *  - addresses (SVC/DEST ADDR) are a union nf_inet_addr: 16 bytes, IPv4 in the first 4;
 *  - ports (SVC/DEST PORT, DEST TUN_PORT) are big-endian u16; other integers are host-order;
 *  - SVC FLAGS is struct ip_vs_flags { u32 flags; u32 mask; };
 *  - SVC NETMASK is a raw be32: an IPv4 mask in network order, or for IPv6 a prefix length (the kernel
 *    reads it with nla_get_be32 and no byte swap, and ipvsadm writes 128 with NLA_PUT_U32).
 */
import { anyAddress, bytesToIpv4, bytesToIpv6, ipToBytes, prefixToV4Mask, v4MaskToPrefix } from './addr.js';
import {
  type AttrMap,
  getBe16,
  getBytes,
  getString,
  getU8,
  getU16,
  getU32,
  getU64,
  NetlinkDecodeError,
  nla,
  nlaBe16,
  nlaNested,
  nlaString,
  nlaU8,
  nlaU16,
  nlaU32,
  parseAttrs,
} from './netlink.js';
import {
  type DestConfig,
  type DestEntry,
  type DestKey,
  type Family,
  type ForwardMethod,
  type IpvsInfo,
  type Protocol,
  type ServiceConfig,
  type ServiceEntry,
  type ServiceKey,
  type Stats,
  SVC_F_HASHED,
  type SyncDaemon,
  type Timeouts,
  type TunnelType,
} from './types.js';

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

export const IPVS_CMD_ATTR = {
  SERVICE: 1,
  DEST: 2,
  DAEMON: 3,
  TIMEOUT_TCP: 4,
  TIMEOUT_TCP_FIN: 5,
  TIMEOUT_UDP: 6,
} as const;

export const IPVS_SVC_ATTR = {
  AF: 1,
  PROTOCOL: 2,
  ADDR: 3,
  PORT: 4,
  FWMARK: 5,
  SCHED_NAME: 6,
  FLAGS: 7,
  TIMEOUT: 8,
  NETMASK: 9,
  STATS: 10,
  PE_NAME: 11,
  STATS64: 12,
} as const;

export const IPVS_DEST_ATTR = {
  ADDR: 1,
  PORT: 2,
  FWD_METHOD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  PERSIST_CONNS: 9,
  STATS: 10,
  ADDR_FAMILY: 11,
  STATS64: 12,
  TUN_TYPE: 13,
  TUN_PORT: 14,
  TUN_FLAGS: 15,
} as const;

export const IPVS_DAEMON_ATTR = {
  STATE: 1,
  MCAST_IFN: 2,
  SYNC_ID: 3,
  SYNC_MAXLEN: 4,
  MCAST_GROUP: 5,
  MCAST_GROUP6: 6,
  MCAST_PORT: 7,
  MCAST_TTL: 8,
} as const;

export const IPVS_STATS_ATTR = {
  CONNS: 1,
  INPKTS: 2,
  OUTPKTS: 3,
  INBYTES: 4,
  OUTBYTES: 5,
  CPS: 6,
  INPPS: 7,
  OUTPPS: 8,
  INBPS: 9,
  OUTBPS: 10,
  PAD: 11,
} as const;

export const IPVS_INFO_ATTR = { VERSION: 1, CONN_TAB_SIZE: 2 } as const;

export const AF_INET = 2;
export const AF_INET6 = 10;
const PROTO_NUM: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };
const PROTO_NAME = new Map<number, Protocol>([
  [6, 'tcp'],
  [17, 'udp'],
  [132, 'sctp'],
]);
/** IP_VS_CONN_F_* values under IP_VS_CONN_F_FWD_MASK (0x7). */
const FWD_NUM: Record<ForwardMethod, number> = { masq: 0, local: 1, tunnel: 2, route: 3, bypass: 4 };
const FWD_NAME: ForwardMethod[] = ['masq', 'local', 'tunnel', 'route', 'bypass'];
const TUN_NUM: Record<TunnelType, number> = { ipip: 0, gue: 1, gre: 2 };
const TUN_NAME: TunnelType[] = ['ipip', 'gue', 'gre'];
export const IP_VS_STATE_MASTER = 1;
export const IP_VS_STATE_BACKUP = 2;

const familyToAf = (f: Family) => (f === 4 ? AF_INET : AF_INET6);

function afToFamily(af: number, where: string): Family {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  throw new NetlinkDecodeError(`${where}: unknown address family ${af}`);
}

function addrBytes(address: string): Buffer {
  const raw = ipToBytes(address);
  const out = Buffer.alloc(16);
  raw.copy(out);
  return out;
}

function decodeAddr(b: Buffer, family: Family): string {
  return family === 4 ? bytesToIpv4(b) : bytesToIpv6(b);
}

/** Reads an address attribute in place (no slice): IPv4 dotted quad straight from the buffer. */
function getAddr(a: AttrMap, t: number, family: Family, where: string, name: string): string {
  if (family === 4) {
    const o = a.offset(t);
    if (o === undefined) throw new NetlinkDecodeError(`${where}: missing ${name}`);
    if (a.length(t) < 4)
      throw new NetlinkDecodeError(`${where}: ${name} is ${a.length(t)} bytes, expected 4`);
    const b = a.buf;
    return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  }
  return decodeAddr(getBytes(a, t, 16, where, name), family);
}

// ---- encoding ----

/** The nested IPVS_CMD_ATTR_SERVICE. `full` adds the non-key fields the kernel needs for NEW/SET. */
export function encodeService(svc: ServiceKey | ServiceConfig, full: boolean): Buffer {
  const A = IPVS_SVC_ATTR;
  const parts = [nlaU16(A.AF, familyToAf(svc.family))];
  if (svc.fwmark) {
    parts.push(nlaU32(A.FWMARK, svc.fwmark));
  } else {
    parts.push(
      nlaU16(A.PROTOCOL, PROTO_NUM[svc.protocol]),
      nla(A.ADDR, addrBytes(svc.address)),
      nlaBe16(A.PORT, svc.port),
    );
  }
  if (full) {
    const c = svc as ServiceConfig;
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(c.flags >>> 0, 0);
    // mask ~0: the request states every flag, so the kernel result does not depend on the old value.
    flags.writeUInt32LE(0xffffffff, 4);
    const netmask = Buffer.alloc(4);
    if (c.family === 4) netmask.writeUInt32BE(prefixToV4Mask(c.netmask));
    else netmask.writeUInt32LE(c.netmask);
    parts.push(
      nlaString(A.SCHED_NAME, c.scheduler),
      nla(A.FLAGS, flags),
      nlaU32(A.TIMEOUT, c.timeout),
      nla(A.NETMASK, netmask),
    );
    if (c.peName) parts.push(nlaString(A.PE_NAME, c.peName));
  }
  return nlaNested(IPVS_CMD_ATTR.SERVICE, parts);
}

export function encodeDest(dest: DestKey | DestConfig, full: boolean): Buffer {
  const A = IPVS_DEST_ATTR;
  const family: Family = dest.address.includes(':') ? 6 : 4;
  const parts = [nla(A.ADDR, addrBytes(dest.address)), nlaBe16(A.PORT, dest.port)];
  parts.push(nlaU16(A.ADDR_FAMILY, familyToAf(family)));
  if (full) {
    const d = dest as DestConfig;
    parts.push(
      nlaU32(A.FWD_METHOD, FWD_NUM[d.forward]),
      nlaU32(A.WEIGHT, d.weight),
      nlaU32(A.U_THRESH, d.upperThreshold),
      nlaU32(A.L_THRESH, d.lowerThreshold),
    );
    if (d.forward === 'tunnel') {
      parts.push(
        nlaU8(A.TUN_TYPE, TUN_NUM[d.tunnelType]),
        nlaBe16(A.TUN_PORT, d.tunnelPort),
        nlaU16(A.TUN_FLAGS, d.tunnelFlags),
      );
    }
  }
  return nlaNested(IPVS_CMD_ATTR.DEST, parts);
}

export function encodeTimeouts(t: Partial<Timeouts>): Buffer {
  const parts: Buffer[] = [];
  if (t.tcp !== undefined) parts.push(nlaU32(IPVS_CMD_ATTR.TIMEOUT_TCP, t.tcp));
  if (t.tcpFin !== undefined) parts.push(nlaU32(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin));
  if (t.udp !== undefined) parts.push(nlaU32(IPVS_CMD_ATTR.TIMEOUT_UDP, t.udp));
  return Buffer.concat(parts);
}

export function encodeDaemon(d: SyncDaemon): Buffer {
  const A = IPVS_DAEMON_ATTR;
  const parts = [
    nlaU32(A.STATE, d.state === 'master' ? IP_VS_STATE_MASTER : IP_VS_STATE_BACKUP),
    nlaString(A.MCAST_IFN, d.mcastIfname),
    nlaU32(A.SYNC_ID, d.syncId),
  ];
  if (d.syncMaxLen !== undefined) parts.push(nlaU16(A.SYNC_MAXLEN, d.syncMaxLen));
  if (d.mcastGroup !== undefined) {
    parts.push(
      d.mcastGroup.includes(':')
        ? nla(A.MCAST_GROUP6, ipToBytes(d.mcastGroup))
        : nla(A.MCAST_GROUP, ipToBytes(d.mcastGroup)),
    );
  }
  if (d.mcastPort !== undefined) parts.push(nlaU16(A.MCAST_PORT, d.mcastPort));
  if (d.mcastTtl !== undefined) parts.push(nlaU8(A.MCAST_TTL, d.mcastTtl));
  return nlaNested(IPVS_CMD_ATTR.DAEMON, parts);
}

/** DEL_DAEMON only needs the state to say which daemon stops. */
export function encodeDaemonState(state: 'master' | 'backup'): Buffer {
  return nlaNested(IPVS_CMD_ATTR.DAEMON, [
    nlaU32(IPVS_DAEMON_ATTR.STATE, state === 'master' ? IP_VS_STATE_MASTER : IP_VS_STATE_BACKUP),
  ]);
}

// ---- decoding ----

function decodeStats(buf: Buffer | undefined, wide: boolean, where: string): Stats | undefined {
  if (!buf) return undefined;
  const a = parseAttrs(buf, where);
  const S = IPVS_STATS_ATTR;
  const n = (t: number, name: string, is64: boolean): bigint => {
    if (!a.has(t)) return 0n;
    return is64 ? getU64(a, t, where, name) : BigInt(getU32(a, t, where, name));
  };
  return {
    conns: n(S.CONNS, 'CONNS', wide),
    inpkts: n(S.INPKTS, 'INPKTS', wide),
    outpkts: n(S.OUTPKTS, 'OUTPKTS', wide),
    inbytes: n(S.INBYTES, 'INBYTES', true),
    outbytes: n(S.OUTBYTES, 'OUTBYTES', true),
    cps: n(S.CPS, 'CPS', wide),
    inpps: n(S.INPPS, 'INPPS', wide),
    outpps: n(S.OUTPPS, 'OUTPPS', wide),
    inbps: n(S.INBPS, 'INBPS', wide),
    outbps: n(S.OUTBPS, 'OUTBPS', wide),
  };
}

function attrsOfCommand(attrs: Buffer, type: number, where: string): AttrMap {
  const top = parseAttrs(attrs, where);
  const inner = top.get(type);
  if (!inner) throw new NetlinkDecodeError(`${where}: missing nested attribute ${type}`);
  return parseAttrs(inner, where);
}

/** Decodes one GET_SERVICE reply's attributes (after the genl header). */
export interface DecodeOptions {
  /** decode the (BigInt) counters; the reconciler does not need them (default true) */
  stats?: boolean;
}

export function decodeServiceReply(attrs: Buffer, opts: DecodeOptions = {}): ServiceEntry {
  const where = 'IPVS service';
  const a = attrsOfCommand(attrs, IPVS_CMD_ATTR.SERVICE, where);
  const A = IPVS_SVC_ATTR;
  const family = afToFamily(getU16(a, A.AF, where, 'AF'), where);
  let key: ServiceKey;
  if (a.has(A.FWMARK)) {
    key = {
      family,
      fwmark: getU32(a, A.FWMARK, where, 'FWMARK'),
      protocol: 'tcp',
      address: anyAddress(family),
      port: 0,
    };
  } else {
    const protoNum = getU16(a, A.PROTOCOL, where, 'PROTOCOL');
    const protocol = PROTO_NAME.get(protoNum);
    if (!protocol) throw new NetlinkDecodeError(`${where}: unsupported protocol ${protoNum}`);
    key = {
      family,
      fwmark: 0,
      protocol,
      address: getAddr(a, A.ADDR, family, where, 'ADDR'),
      port: getBe16(a, A.PORT, where, 'PORT'),
    };
  }
  const flagsBuf = getBytes(a, A.FLAGS, 8, where, 'FLAGS');
  const netmaskBuf = getBytes(a, A.NETMASK, 4, where, 'NETMASK');
  const svc: ServiceEntry = {
    ...key,
    scheduler: getString(a, A.SCHED_NAME, where, 'SCHED_NAME'),
    flags: (flagsBuf.readUInt32LE(0) & ~SVC_F_HASHED) >>> 0,
    timeout: getU32(a, A.TIMEOUT, where, 'TIMEOUT'),
    netmask: family === 4 ? v4MaskToPrefix(netmaskBuf.readUInt32BE(0)) : netmaskBuf.readUInt32LE(0),
    peName: a.has(A.PE_NAME) ? getString(a, A.PE_NAME, where, 'PE_NAME') : '',
  };
  if (opts.stats !== false) {
    const stats = a.has(A.STATS64)
      ? decodeStats(a.get(A.STATS64), true, `${where} stats64`)
      : decodeStats(a.get(A.STATS), false, `${where} stats`);
    if (stats) svc.stats = stats;
  }
  return svc;
}

/** Decodes one GET_DEST reply; `serviceFamily` is used when the kernel is too old to send ADDR_FAMILY. */
export function decodeDestReply(attrs: Buffer, serviceFamily: Family, opts: DecodeOptions = {}): DestEntry {
  const where = 'IPVS destination';
  const a = attrsOfCommand(attrs, IPVS_CMD_ATTR.DEST, where);
  const A = IPVS_DEST_ATTR;
  const family = a.has(A.ADDR_FAMILY)
    ? afToFamily(getU16(a, A.ADDR_FAMILY, where, 'ADDR_FAMILY'), where)
    : serviceFamily;
  const fwd = getU32(a, A.FWD_METHOD, where, 'FWD_METHOD') & 0x7;
  const forward = FWD_NAME[fwd];
  if (!forward) throw new NetlinkDecodeError(`${where}: unknown forwarding method ${fwd}`);
  const tunNum = a.has(A.TUN_TYPE) ? getU8(a, A.TUN_TYPE, where, 'TUN_TYPE') : 0;
  const tunnelType = TUN_NAME[tunNum];
  if (!tunnelType) throw new NetlinkDecodeError(`${where}: unknown tunnel type ${tunNum}`);
  const d: DestEntry = {
    address: getAddr(a, A.ADDR, family, where, 'ADDR'),
    port: getBe16(a, A.PORT, where, 'PORT'),
    family,
    forward,
    weight: getU32(a, A.WEIGHT, where, 'WEIGHT') | 0,
    upperThreshold: getU32(a, A.U_THRESH, where, 'U_THRESH'),
    lowerThreshold: getU32(a, A.L_THRESH, where, 'L_THRESH'),
    tunnelType,
    tunnelPort: a.has(A.TUN_PORT) ? getBe16(a, A.TUN_PORT, where, 'TUN_PORT') : 0,
    tunnelFlags: a.has(A.TUN_FLAGS) ? getU16(a, A.TUN_FLAGS, where, 'TUN_FLAGS') : 0,
    activeConns: a.has(A.ACTIVE_CONNS) ? getU32(a, A.ACTIVE_CONNS, where, 'ACTIVE_CONNS') : 0,
    inactiveConns: a.has(A.INACT_CONNS) ? getU32(a, A.INACT_CONNS, where, 'INACT_CONNS') : 0,
    persistConns: a.has(A.PERSIST_CONNS) ? getU32(a, A.PERSIST_CONNS, where, 'PERSIST_CONNS') : 0,
  };
  if (opts.stats !== false) {
    const stats = a.has(A.STATS64)
      ? decodeStats(a.get(A.STATS64), true, `${where} stats64`)
      : decodeStats(a.get(A.STATS), false, `${where} stats`);
    if (stats) d.stats = stats;
  }
  return d;
}

export function decodeDaemonReply(attrs: Buffer): SyncDaemon {
  const where = 'IPVS sync daemon';
  const a = attrsOfCommand(attrs, IPVS_CMD_ATTR.DAEMON, where);
  const A = IPVS_DAEMON_ATTR;
  const stateNum = getU32(a, A.STATE, where, 'STATE');
  if (stateNum !== IP_VS_STATE_MASTER && stateNum !== IP_VS_STATE_BACKUP)
    throw new NetlinkDecodeError(`${where}: unknown state ${stateNum}`);
  const d: SyncDaemon = {
    state: stateNum === IP_VS_STATE_MASTER ? 'master' : 'backup',
    mcastIfname: getString(a, A.MCAST_IFN, where, 'MCAST_IFN'),
    syncId: getU32(a, A.SYNC_ID, where, 'SYNC_ID'),
  };
  if (a.has(A.SYNC_MAXLEN)) d.syncMaxLen = getU16(a, A.SYNC_MAXLEN, where, 'SYNC_MAXLEN');
  if (a.has(A.MCAST_GROUP6))
    d.mcastGroup = bytesToIpv6(getBytes(a, A.MCAST_GROUP6, 16, where, 'MCAST_GROUP6'));
  else if (a.has(A.MCAST_GROUP))
    d.mcastGroup = bytesToIpv4(getBytes(a, A.MCAST_GROUP, 4, where, 'MCAST_GROUP'));
  if (a.has(A.MCAST_PORT)) d.mcastPort = getU16(a, A.MCAST_PORT, where, 'MCAST_PORT');
  if (a.has(A.MCAST_TTL)) d.mcastTtl = getU8(a, A.MCAST_TTL, where, 'MCAST_TTL');
  return d;
}

export function decodeInfoReply(attrs: Buffer): IpvsInfo {
  const where = 'IPVS info';
  const a = parseAttrs(attrs, where);
  return {
    version: getU32(a, IPVS_INFO_ATTR.VERSION, where, 'VERSION'),
    connTableSize: getU32(a, IPVS_INFO_ATTR.CONN_TAB_SIZE, where, 'CONN_TAB_SIZE'),
  };
}

export function decodeConfigReply(attrs: Buffer): Timeouts {
  const where = 'IPVS config';
  const a = parseAttrs(attrs, where);
  const C = IPVS_CMD_ATTR;
  return {
    tcp: getU32(a, C.TIMEOUT_TCP, where, 'TIMEOUT_TCP'),
    tcpFin: getU32(a, C.TIMEOUT_TCP_FIN, where, 'TIMEOUT_TCP_FIN'),
    udp: getU32(a, C.TIMEOUT_UDP, where, 'TIMEOUT_UDP'),
  };
}

export function formatVersion(v: number): string {
  return `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`;
}
