/**
 * Routes and policy-routing rules through rtnetlink (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE and
 * RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE), with the options keepalived's virtual_routes / virtual_rules
 * accept. The request layout follows keepalived 2.2.7's netlink_route() / netlink_rule():
 *
 * - a route is added with NLM_F_CREATE, plus NLM_F_EXCL ('add'), NLM_F_APPEND ('append') or NLM_F_REPLACE
 *   ('replace'); 'prepend' (keepalived's default) is NLM_F_CREATE alone;
 * - its protocol is 18 (RTPROT_KEEPALIVED) unless one is given: a tracked route must keep 18, since that is
 *   how its notifications are recognised; the scope is RT_SCOPE_UNIVERSE unless given (host for local,
 *   link for broadcast/anycast/multicast routes, which the kernel refuses with universe scope);
 * - a delete carries scope NOWHERE and the type only when one was configured, so the kernel matches the
 *   route whatever scope it chose;
 * - a rule is added with NLM_F_CREATE | NLM_F_EXCL; its table goes in the header when below 256, else in
 *   FRA_TABLE.
 *
 * The specs here are resolved (numbers, interface names); routeSpecFromConfig() / ruleSpecFromConfig() turn
 * the config model into them. Everything acts on the network namespace of the calling process.
 */
import { FlagsGet, FlagsNew, rt } from 'netlink';
import type { NormalisedVirtualRoute, NormalisedVirtualRule, RouteMetrics } from '../config/model.js';
import { formatIp, parseIpv4, parseIpv6 } from './frames.js';
import { ifindex, netlinkError, rtnetlink } from './link.js';
import { type RtNames, rtNames } from './rt-names.js';

/** keepalived's routing protocol number (RTPROT_KEEPALIVED): marks routes and rules halo manages. */
export const RTPROT_KEEPALIVED = 18;
export const RT_TABLE_MAIN = 254;

export const ROUTE_TYPE_NUMBERS = {
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
} as const;
export type RouteType = keyof typeof ROUTE_TYPE_NUMBERS;

const SCOPE_NUMBERS: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };

export interface NextHopSpec {
  via?: string;
  dev?: string;
  /** 1..256 */
  weight?: number;
  onlink?: boolean;
  realms?: number;
}

export interface RouteSpec {
  family: 4 | 6;
  /** CIDR or 'default'. */
  destination: string;
  type?: RouteType;
  /** Default 254 (main). */
  table?: number;
  /** Default 18 (keepalived). */
  protocol?: number;
  /** Default 0 (universe) when adding. */
  scope?: number;
  metric?: number;
  tos?: number;
  dev?: string;
  via?: string;
  /** Preferred source address (RTA_PREFSRC, `ip route ... src`). */
  src?: string;
  /** Source prefix (RTA_SRC), IPv6 only. */
  from?: string;
  onlink?: boolean;
  realms?: number;
  expires?: number;
  metrics?: RouteMetrics;
  pref?: number;
  ttlPropagate?: boolean;
  nexthops?: NextHopSpec[];
  /** How to add (default 'prepend'). */
  mode?: 'prepend' | 'add' | 'append' | 'replace';
}

/** A route as the kernel lists it. */
export interface RouteEntry {
  family: 4 | 6;
  destination: string;
  type: string;
  table: number;
  protocol: number;
  scope: number;
  metric?: number;
  tos: number;
  ifindex?: number;
  via?: string;
  src?: string;
  from?: string;
  nexthops?: { via?: string; ifindex: number; weight: number }[];
}

export type RuleAction = 'table' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

export interface RuleSpec {
  family: 4 | 6;
  priority: number;
  action: RuleAction;
  /** For 'table' (default 254 main, as keepalived). */
  table?: number;
  goto?: number;
  /** CIDR or 'all'. */
  from?: string;
  to?: string;
  invert?: boolean;
  tos?: number;
  fwmark?: number;
  fwmask?: number;
  realms?: number;
  suppressPrefixLength?: number;
  suppressIfgroup?: number;
  iif?: string;
  oif?: string;
  tunnelId?: number;
  uidRange?: { start: number; end: number };
  l3mdev?: boolean;
  /** FRA_PROTOCOL; undefined sends none (the kernel records 0). */
  protocol?: number;
  ipProto?: number;
  sport?: { start: number; end: number };
  dport?: { start: number; end: number };
}

export interface RuleEntry {
  family: 4 | 6;
  priority: number;
  action: string;
  table: number;
  from?: string;
  to?: string;
  invert: boolean;
  tos: number;
  fwmark?: number;
  fwmask?: number;
  iif?: string;
  oif?: string;
  protocol?: number;
  goto?: number;
}

const RULE_ACTION_NUMBERS: Record<RuleAction, number> = {
  table: 1,
  goto: 2,
  nop: 3,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
};

/* ------------------------------------------------------------------ encoding helpers */

function addr(text: string, family: 4 | 6): Buffer {
  return family === 4 ? parseIpv4(text) : parseIpv6(text);
}

/** 'default' / 'all' -> /0 with no address; 'A/len' or 'A' (full length). */
function prefixOf(text: string, family: 4 | 6): { bytes?: Buffer; len: number } {
  if (text === 'default' || text === 'all' || text === 'any') return { len: 0 };
  const slash = text.indexOf('/');
  const a = slash < 0 ? text : text.slice(0, slash);
  const len = slash < 0 ? (family === 4 ? 32 : 128) : Number(text.slice(slash + 1));
  if (a.includes(':') !== (family === 6)) throw new TypeError(`${text} is not an IPv${family} prefix`);
  if (!Number.isInteger(len) || len < 0 || len > (family === 4 ? 32 : 128))
    throw new TypeError(`invalid prefix length in ${text}`);
  return { bytes: addr(a, family), len };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** One netlink attribute (type, payload), padded to 4 bytes. */
function nlattr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

const METRIC_TYPES: Record<string, number> = {
  lock: 1,
  mtu: 2,
  window: 3,
  rtt: 4,
  rttvar: 5,
  ssthresh: 6,
  cwnd: 7,
  advmss: 8,
  reordering: 9,
  hoplimit: 10,
  initcwnd: 11,
  features: 12,
  rtoMin: 13,
  initrwnd: 14,
  quickack: 15,
  congctl: 16,
  fastopenNoCookie: 17,
};

/** RTA_METRICS payload: nested RTAX_* attributes; rtt in 1/8 ms and rttvar in 1/4 ms units, as iproute2. */
export function encodeMetrics(m: RouteMetrics): Buffer | undefined {
  const parts: Buffer[] = [];
  const put = (name: string, v: number | undefined) => {
    if (v !== undefined) parts.push(nlattr(METRIC_TYPES[name], u32(v)));
  };
  put('mtu', m.mtu);
  put('window', m.window);
  put('rtt', m.rttMs === undefined ? undefined : Math.round(m.rttMs * 8));
  put('rttvar', m.rttvarMs === undefined ? undefined : Math.round(m.rttvarMs * 4));
  put('ssthresh', m.ssthresh);
  put('cwnd', m.cwnd);
  put('advmss', m.advmss);
  put('reordering', m.reordering);
  put('hoplimit', m.hoplimit);
  put('initcwnd', m.initcwnd);
  put('features', m.ecn ? 1 : undefined);
  put('rtoMin', m.rtoMinMs === undefined ? undefined : Math.round(m.rtoMinMs));
  put('initrwnd', m.initrwnd);
  put('quickack', m.quickack === undefined ? undefined : m.quickack ? 1 : 0);
  if (m.congctl) parts.push(nlattr(METRIC_TYPES.congctl, Buffer.from(`${m.congctl}\0`)));
  put('fastopenNoCookie', m.fastopenNoCookie === undefined ? undefined : m.fastopenNoCookie ? 1 : 0);
  if (parts.length === 0) return undefined;
  if (m.lock?.length) {
    let bits = 0;
    for (const name of m.lock) bits |= 1 << METRIC_TYPES[name];
    parts.push(nlattr(METRIC_TYPES.lock, u32(bits)));
  }
  return Buffer.concat(parts);
}

/** RTA_MULTIPATH payload: struct rtnexthop { len u16, flags u8, hops u8, ifindex s32 } + its attributes. */
export function encodeNexthops(
  hops: { via?: Buffer; ifindex: number; weight?: number; onlink?: boolean; realms?: number }[],
): Buffer {
  return Buffer.concat(
    hops.map((h) => {
      const attrs = Buffer.concat([
        ...(h.via ? [nlattr(5 /* RTA_GATEWAY */, h.via)] : []),
        ...(h.realms ? [nlattr(11 /* RTA_FLOW */, u32(h.realms))] : []),
      ]);
      const head = Buffer.alloc(8);
      head.writeUInt16LE(8 + attrs.length, 0);
      head.writeUInt8(h.onlink ? 4 /* RTNH_F_ONLINK */ : 0, 2);
      head.writeUInt8(((h.weight ?? 1) - 1) & 0xff, 3);
      head.writeInt32LE(h.ifindex, 4);
      return Buffer.concat([head, attrs]);
    }),
  );
}

/**
 * Whether two prefixes are the same: 'default' / 'all' / 'any' are a /0, a bare address is a host prefix, and
 * IPv6 is compared in canonical form ('fd00:0050::/64' equals 'fd00:50::/64').
 */
export function samePrefix(a: string, b: string, family: 4 | 6): boolean {
  const norm = (x: string) => {
    if (x === 'default' || x === 'all' || x === 'any') return '/0';
    const [addr, len = String(family === 4 ? 32 : 128)] = x.split('/');
    if (len === '0') return '/0';
    try {
      return `${formatIp(family === 4 ? parseIpv4(addr) : parseIpv6(addr))}/${len}`;
    } catch {
      return `${addr.toLowerCase()}/${len}`;
    }
  };
  return norm(a) === norm(b);
}

/* ------------------------------------------------------------------ routes */

type RouteRequest = { data: rt.Route; attrs: rt.RouteAttrs };

/**
 * keepalived always sends RT_SCOPE_UNIVERSE, which the kernel refuses (EINVAL) for local, broadcast, anycast
 * and multicast routes; halo uses iproute2's scopes for those (host, link) and keepalived's universe otherwise.
 */
function defaultScope(type: RouteType): number {
  if (type === 'local') return 254;
  if (type === 'broadcast' || type === 'anycast' || type === 'multicast') return 253;
  return 0;
}

/** Builds the rtmsg header and attributes (interfaces already resolved to indexes). */
export function routeRequest(
  spec: RouteSpec,
  op: 'add' | 'delete',
  ifindexOf: (name: string) => number,
): RouteRequest {
  const f = spec.family;
  const dst = prefixOf(spec.destination, f);
  const table = spec.table ?? RT_TABLE_MAIN;
  const data: rt.Route = {
    family: f === 4 ? 2 : 10,
    dstLen: dst.len,
    protocol: (spec.protocol ?? RTPROT_KEEPALIVED) as rt.Route['protocol'],
  };
  const attrs: rt.RouteAttrs = {};
  if (table < 256) data.table = table;
  else attrs.table = table;
  if (op === 'delete') {
    data.scope = (spec.scope ?? 255) as rt.Route['scope'];
    if (spec.type) data.type = ROUTE_TYPE_NUMBERS[spec.type] as rt.Route['type'];
  } else {
    data.scope = (spec.scope ?? defaultScope(spec.type ?? 'unicast')) as rt.Route['scope'];
    data.type = ROUTE_TYPE_NUMBERS[spec.type ?? 'unicast'] as rt.Route['type'];
  }
  if (spec.tos !== undefined) data.tos = spec.tos;
  if (spec.onlink) data.flags = { __unknown: 4 /* RTNH_F_ONLINK */ };
  if (dst.bytes) attrs.dst = dst.bytes;
  if (spec.from) {
    const src = prefixOf(spec.from, f);
    data.srcLen = src.len;
    if (src.bytes) attrs.src = src.bytes;
  }
  if (spec.src) attrs.prefsrc = addr(spec.src, f);
  if (spec.via) attrs.gateway = addr(spec.via, f);
  if (spec.dev) attrs.oif = ifindexOf(spec.dev);
  if (spec.metric !== undefined) attrs.priority = spec.metric;
  if (spec.realms) attrs.flow = spec.realms;
  if (spec.expires !== undefined) attrs.expires = u32(spec.expires);
  if (spec.pref !== undefined) attrs.pref = Buffer.from([spec.pref]);
  if (spec.ttlPropagate !== undefined) attrs.ttlPropagate = spec.ttlPropagate ? 1 : 0;
  const metrics = spec.metrics ? encodeMetrics(spec.metrics) : undefined;
  // The package formats RTA_METRICS from an object; raw nested bytes go through __unparsed.
  const raw: [number, Buffer][] = [];
  if (metrics) raw.push([8 /* RTA_METRICS */, metrics]);
  if (spec.nexthops?.length) {
    raw.push([
      9 /* RTA_MULTIPATH */,
      encodeNexthops(
        spec.nexthops.map((h) => ({
          via: h.via ? addr(h.via, f) : undefined,
          ifindex: h.dev ? ifindexOf(h.dev) : 0,
          weight: h.weight,
          onlink: h.onlink,
          realms: h.realms,
        })),
      ),
    ]);
  }
  // Non-enumerable: the package's encoder rejects unknown enumerable keys but appends __unparsed as raw attributes.
  if (raw.length) Object.defineProperty(attrs, '__unparsed', { value: raw, enumerable: false });
  return { data, attrs };
}

async function interfaceIndexes(names: (string | undefined)[]): Promise<(name: string) => number> {
  const map = new Map<string, number>();
  for (const n of names) if (n && !map.has(n)) map.set(n, await ifindex(n));
  return (name) => map.get(name)!;
}

function routeInterfaces(spec: RouteSpec): (string | undefined)[] {
  return [spec.dev, ...(spec.nexthops ?? []).map((h) => h.dev)];
}

export function describeRoute(spec: RouteSpec): string {
  const parts = [spec.type && spec.type !== 'unicast' ? spec.type : '', spec.destination];
  if (spec.via) parts.push(`via ${spec.via}`);
  if (spec.dev) parts.push(`dev ${spec.dev}`);
  if (spec.table !== undefined && spec.table !== RT_TABLE_MAIN) parts.push(`table ${spec.table}`);
  if (spec.metric !== undefined) parts.push(`metric ${spec.metric}`);
  return parts.filter(Boolean).join(' ');
}

/**
 * Adds a route. Returns 'exists' (and changes nothing) when the kernel already has it (EEXIST), which only
 * happens for 'add' mode or an identical route.
 */
export async function addRoute(spec: RouteSpec): Promise<'added' | 'exists'> {
  const idx = await interfaceIndexes(routeInterfaces(spec));
  const { data, attrs } = routeRequest(spec, 'add', idx);
  const mode = spec.mode ?? 'prepend';
  let flags = FlagsNew.CREATE;
  if (mode === 'add') flags |= FlagsNew.EXCL;
  else if (mode === 'append') flags |= FlagsNew.APPEND;
  else if (mode === 'replace') flags |= FlagsNew.REPLACE;
  try {
    await rtnetlink().newRoute(data, attrs, { flags });
    return 'added';
  } catch (err) {
    const e = netlinkError(err, `add route ${describeRoute(spec)}`) as Error & { code?: string };
    if (e.code === 'EEXIST') return 'exists';
    throw e;
  }
}

/** Removes a route; 'absent' (not an error) when the kernel has no such route (ESRCH / ENOENT). */
export async function deleteRoute(spec: RouteSpec): Promise<'deleted' | 'absent'> {
  let idx: (name: string) => number;
  try {
    idx = await interfaceIndexes(routeInterfaces(spec));
  } catch (err) {
    // The interface is gone, and its routes with it.
    if ((err as { code?: string }).code === 'ENODEV') return 'absent';
    throw err;
  }
  const { data, attrs } = routeRequest(spec, 'delete', idx);
  try {
    await rtnetlink().delRoute(data, attrs);
    return 'deleted';
  } catch (err) {
    const e = netlinkError(err, `delete route ${describeRoute(spec)}`) as Error & { code?: string };
    if (e.code === 'ESRCH' || e.code === 'ENOENT') return 'absent';
    throw e;
  }
}

/** Parses an RTM_NEWROUTE / RTM_DELROUTE message (from a dump or a notification). */
export function parseRouteMessage(m: rt.RouteMessage): RouteEntry | undefined {
  const fam = m.data.family === 2 ? 4 : m.data.family === 10 ? 6 : undefined;
  if (!fam) return undefined;
  const a = m.attrs;
  const dstLen = m.data.dstLen ?? 0;
  const typeNum = typeof m.data.type === 'number' ? m.data.type : rt.RouteType[m.data.type ?? 'UNSPEC'];
  const typeName =
    (Object.entries(ROUTE_TYPE_NUMBERS).find(([, n]) => n === typeNum)?.[0] as string | undefined) ??
    String(typeNum);
  const protocolNum =
    typeof m.data.protocol === 'number'
      ? m.data.protocol
      : (rt.RouteProtocol[m.data.protocol ?? 'REDIRECT'] ?? 0);
  const scopeNum =
    typeof m.data.scope === 'number' ? m.data.scope : rt.RouteScope[m.data.scope ?? 'UNIVERSE'];
  const e: RouteEntry = {
    family: fam,
    destination: a.dst ? `${formatIp(a.dst)}/${dstLen}` : dstLen === 0 ? 'default' : `/${dstLen}`,
    type: typeName,
    table: a.table ?? m.data.table ?? 0,
    protocol: Number(protocolNum),
    scope: Number(scopeNum),
    tos: m.data.tos ?? 0,
  };
  if (a.priority !== undefined) e.metric = a.priority;
  if (a.oif !== undefined) e.ifindex = a.oif;
  if (a.gateway) e.via = formatIp(a.gateway);
  if (a.prefsrc) e.src = formatIp(a.prefsrc);
  if (a.src) e.from = `${formatIp(a.src)}/${m.data.srcLen ?? 0}`;
  if (a.multipath) e.nexthops = decodeNexthops(a.multipath);
  return e;
}

function decodeNexthops(buf: Buffer): { via?: string; ifindex: number; weight: number }[] {
  const out: { via?: string; ifindex: number; weight: number }[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 8 || off + len > buf.length) break;
    const hop: { via?: string; ifindex: number; weight: number } = {
      ifindex: buf.readInt32LE(off + 4),
      weight: buf.readUInt8(off + 3) + 1,
    };
    let a = off + 8;
    while (a + 4 <= off + len) {
      const alen = buf.readUInt16LE(a);
      const type = buf.readUInt16LE(a + 2);
      if (alen < 4) break;
      if (type === 5) hop.via = formatIp(buf.subarray(a + 4, a + alen));
      a += (alen + 3) & ~3;
    }
    out.push(hop);
    off += (len + 3) & ~3;
  }
  return out;
}

/** The kernel's routes of a family (all tables unless `table` is given). */
export async function listRoutes(family: 4 | 6, opts: { table?: number } = {}): Promise<RouteEntry[]> {
  let msgs: rt.RouteMessage[];
  try {
    msgs = await rtnetlink().getRoutes({ family: family === 4 ? 2 : 10 });
  } catch (err) {
    throw netlinkError(err, 'list routes');
  }
  return msgs
    .map(parseRouteMessage)
    .filter(
      (r): r is RouteEntry =>
        !!r && r.family === family && (opts.table === undefined || r.table === opts.table),
    );
}

/* ------------------------------------------------------------------ rules */

type RuleRequest = { data: rt.Rule; attrs: rt.RuleAttrs };

export function ruleRequest(spec: RuleSpec): RuleRequest {
  const f = spec.family;
  const data: rt.Rule = {
    family: f === 4 ? 2 : 10,
    action: RULE_ACTION_NUMBERS[spec.action] as rt.Rule['action'],
  };
  const attrs: rt.RuleAttrs = { priority: spec.priority };
  if (spec.action === 'table' && !spec.l3mdev) {
    const table = spec.table ?? RT_TABLE_MAIN;
    if (table < 256) data.table = table;
    else attrs.table = table;
  }
  if (spec.invert) data.flags = { invert: true };
  if (spec.tos !== undefined) data.tos = spec.tos;
  if (spec.from && spec.from !== 'all') {
    const p = prefixOf(spec.from, f);
    data.srcLen = p.len;
    if (p.bytes) attrs.src = p.bytes;
  }
  if (spec.to && spec.to !== 'all') {
    const p = prefixOf(spec.to, f);
    data.dstLen = p.len;
    if (p.bytes) attrs.dst = p.bytes;
  }
  if (spec.fwmark !== undefined) attrs.fwmark = spec.fwmark;
  if (spec.fwmask !== undefined) attrs.fwmask = spec.fwmask;
  if (spec.realms) attrs.flow = spec.realms;
  if (spec.suppressPrefixLength !== undefined) attrs.suppressPrefixlen = u32(spec.suppressPrefixLength);
  if (spec.suppressIfgroup !== undefined) attrs.suppressIfgroup = u32(spec.suppressIfgroup);
  if (spec.iif) attrs.iifname = spec.iif;
  if (spec.oif) attrs.oifname = spec.oif;
  if (spec.tunnelId !== undefined) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(spec.tunnelId));
    attrs.tunId = b;
  }
  if (spec.uidRange) attrs.uidRange = spec.uidRange;
  if (spec.l3mdev) attrs.l3Mdev = 1;
  if (spec.protocol !== undefined) attrs.protocol = spec.protocol;
  if (spec.ipProto !== undefined) attrs.ipProto = spec.ipProto;
  if (spec.sport) attrs.sportRange = spec.sport;
  if (spec.dport) attrs.dportRange = spec.dport;
  if (spec.action === 'goto') attrs.goto = spec.goto ?? 0;
  return { data, attrs };
}

export function describeRule(spec: RuleSpec): string {
  const parts = [`pref ${spec.priority}`];
  if (spec.invert) parts.push('not');
  if (spec.from) parts.push(`from ${spec.from}`);
  if (spec.to) parts.push(`to ${spec.to}`);
  if (spec.fwmark !== undefined)
    parts.push(`fwmark ${spec.fwmark}${spec.fwmask !== undefined ? `/${spec.fwmask}` : ''}`);
  if (spec.iif) parts.push(`iif ${spec.iif}`);
  if (spec.oif) parts.push(`oif ${spec.oif}`);
  parts.push(
    spec.action === 'table'
      ? `lookup ${spec.table ?? RT_TABLE_MAIN}`
      : spec.action === 'goto'
        ? `goto ${spec.goto}`
        : spec.action,
  );
  return parts.join(' ');
}

/** Adds a rule (NLM_F_EXCL); 'exists' when an identical rule is already there. */
export async function addRule(spec: RuleSpec): Promise<'added' | 'exists'> {
  const { data, attrs } = ruleRequest(spec);
  try {
    await rtnetlink().newRule(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
    return 'added';
  } catch (err) {
    const e = netlinkError(err, `add rule ${describeRule(spec)}`) as Error & { code?: string };
    if (e.code === 'EEXIST') return 'exists';
    throw e;
  }
}

/** Removes a rule; 'absent' when there is no such rule (ENOENT). */
export async function deleteRule(spec: RuleSpec): Promise<'deleted' | 'absent'> {
  const { data, attrs } = ruleRequest(spec);
  try {
    await rtnetlink().delRule(data, attrs);
    return 'deleted';
  } catch (err) {
    const e = netlinkError(err, `delete rule ${describeRule(spec)}`) as Error & { code?: string };
    if (e.code === 'ENOENT' || e.code === 'ESRCH') return 'absent';
    throw e;
  }
}

export function parseRuleMessage(m: rt.RuleMessage): RuleEntry | undefined {
  const fam = m.data.family === 2 ? 4 : m.data.family === 10 ? 6 : undefined;
  if (!fam) return undefined;
  const a = m.attrs;
  const actionNum =
    typeof m.data.action === 'number' ? m.data.action : rt.RuleAction[m.data.action ?? 'unspec'];
  const action =
    (Object.entries(RULE_ACTION_NUMBERS).find(([, n]) => n === actionNum)?.[0] as string | undefined) ??
    String(actionNum);
  const e: RuleEntry = {
    family: fam,
    priority: a.priority ?? 0,
    action,
    table: a.table ?? m.data.table ?? 0,
    invert: !!m.data.flags?.invert,
    tos: m.data.tos ?? 0,
  };
  if (a.src) e.from = `${formatIp(a.src)}/${m.data.srcLen ?? 0}`;
  if (a.dst) e.to = `${formatIp(a.dst)}/${m.data.dstLen ?? 0}`;
  if (a.fwmark !== undefined) e.fwmark = a.fwmark;
  if (a.fwmask !== undefined) e.fwmask = a.fwmask;
  if (a.iifname) e.iif = a.iifname;
  if (a.oifname) e.oif = a.oifname;
  if (a.protocol !== undefined) e.protocol = a.protocol;
  if (a.goto !== undefined) e.goto = a.goto;
  return e;
}

export async function listRules(family: 4 | 6): Promise<RuleEntry[]> {
  let msgs: rt.RuleMessage[];
  try {
    msgs = await rtnetlink().getRules({ family: family === 4 ? 2 : 10 }, {}, { flags: FlagsGet.DUMP });
  } catch (err) {
    throw netlinkError(err, 'list rules');
  }
  return msgs.map(parseRuleMessage).filter((r): r is RuleEntry => !!r && r.family === family);
}

/* ------------------------------------------------------------------ from the config model */

/** A configured route as a spec: names resolved against /etc/iproute2 (throws RangeError for unknown ones). */
export function routeSpecFromConfig(r: NormalisedVirtualRoute, names: RtNames = rtNames): RouteSpec {
  const spec: RouteSpec = {
    family: r.family,
    destination: r.destination,
    type: r.type,
    mode: r.mode,
    // A tracked route is recognised by protocol 18 (keepalived resets any other, see config semantics).
    protocol: r.protocol === undefined ? RTPROT_KEEPALIVED : names.resolve('protocols', r.protocol),
  };
  if (r.table !== undefined) spec.table = names.resolve('tables', r.table);
  if (r.scope !== undefined) spec.scope = typeof r.scope === 'number' ? r.scope : SCOPE_NUMBERS[r.scope];
  if (r.metric !== undefined) spec.metric = r.metric;
  if (r.tos !== undefined) spec.tos = names.resolve('dsfield', r.tos);
  if (r.dev) spec.dev = r.dev;
  if (r.via) spec.via = r.via;
  if (r.src) spec.src = r.src;
  if (r.from) spec.from = r.from;
  if (r.onlink) spec.onlink = true;
  if (r.realms !== undefined) spec.realms = names.realms(r.realms);
  if (r.expires !== undefined) spec.expires = r.expires;
  if (r.metrics) spec.metrics = r.metrics;
  if (r.pref !== undefined)
    spec.pref = typeof r.pref === 'number' ? r.pref : { low: 3, medium: 0, high: 1 }[r.pref];
  if (r.ttlPropagate !== undefined) spec.ttlPropagate = r.ttlPropagate;
  if (r.nexthops?.length) {
    spec.nexthops = r.nexthops.map((h) => ({
      ...(h.via ? { via: h.via } : {}),
      ...(h.dev ? { dev: h.dev } : {}),
      ...(h.weight !== undefined ? { weight: h.weight } : {}),
      ...(h.onlink ? { onlink: true } : {}),
      ...(h.realms !== undefined ? { realms: names.realms(h.realms) } : {}),
    }));
  }
  return spec;
}

export function ruleSpecFromConfig(r: NormalisedVirtualRule, names: RtNames = rtNames): RuleSpec {
  const spec: RuleSpec = { family: r.family, priority: r.priority, action: r.action };
  if (r.action === 'table' && r.table !== undefined) spec.table = names.resolve('tables', r.table);
  if (r.goto !== undefined) spec.goto = r.goto;
  if (r.from) spec.from = r.from;
  if (r.to) spec.to = r.to;
  if (r.invert) spec.invert = true;
  if (r.tos !== undefined) spec.tos = names.resolve('dsfield', r.tos);
  if (r.fwmark !== undefined) spec.fwmark = r.fwmark;
  if (r.fwmask !== undefined) spec.fwmask = r.fwmask;
  if (r.realms !== undefined) spec.realms = names.realms(r.realms);
  if (r.suppressPrefixLength !== undefined) spec.suppressPrefixLength = r.suppressPrefixLength;
  if (r.suppressIfgroup !== undefined) spec.suppressIfgroup = names.resolve('groups', r.suppressIfgroup);
  if (r.iif) spec.iif = r.iif;
  if (r.oif) spec.oif = r.oif;
  if (r.tunnelId !== undefined) spec.tunnelId = r.tunnelId;
  if (r.uidRange) spec.uidRange = r.uidRange;
  if (r.l3mdev) spec.l3mdev = true;
  // keepalived marks a tracked rule with protocol 18 so its deletion is recognised.
  if (r.protocol !== undefined) spec.protocol = r.protocol;
  else if (!r.noTrack) spec.protocol = RTPROT_KEEPALIVED;
  if (r.ipProto !== undefined) spec.ipProto = r.ipProto;
  if (r.sport) spec.sport = r.sport;
  if (r.dport) spec.dport = r.dport;
  return spec;
}
