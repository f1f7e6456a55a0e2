/**
 * One line of virtual_routes / static_routes and of virtual_rules / static_rules, with the options keepalived
 * 2.2.7 reads (vrrp_iproute.c alloc_route / parse_nexthops, vrrp_iprule.c alloc_rule), into the model's input
 * shape. Names of tables, protocols, realms and DS fields are kept as written and resolved against
 * /etc/iproute2 when the route is installed (src/net/rt-names.ts), so a config can be checked on another host.
 *
 * Where keepalived reports an error and drops the route or rule, halo reports a located error; options
 * keepalived knows but halo does not do (encap, vrf, track_group) are named in a warning (an error with
 * --strict) and the route is dropped, except track_group which only affects tracking.
 */
import { didYouMean, type Position } from './diagnostics.js';
import type { BuildContext, Obj } from './keywords.js';
import type { ConfNode, WordToken } from './tree.js';
import { parseCidr, semicolonHint } from './values.js';

const ROUTE_TYPE_NAMES = [
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
] as const;
const SCOPE_NAMES = ['global', 'site', 'link', 'host', 'nowhere'] as const;
/** Metrics that take an optional 'lock' before the value. */
const LOCKABLE = new Set([
  'mtu',
  'advmss',
  'rtt',
  'rttvar',
  'reordering',
  'cwnd',
  'ssthresh',
  'rto_min',
  'congctl',
]);

/** IP protocol names for `ipproto` (getprotobyname without /etc/protocols). */
const IP_PROTOCOLS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  icmpv6: 58,
  ospf: 89,
  pim: 103,
  vrrp: 112,
  sctp: 132,
  udplite: 136,
};

function warnOrError(cx: BuildContext, pos: Position, message: string, hint?: string): void {
  if (cx.strict) cx.sink.error(pos, message, hint);
  else cx.sink.warning(pos, message, hint);
}

/** The line as one word list (keyword first), positions kept. */
function wordsOf(line: ConfNode): WordToken[] {
  return [{ text: line.keyword, pos: line.pos, kind: 'word', quoted: false } as WordToken, ...line.args];
}

/** A cursor over a line's words that reports a missing value at the option that needed it. */
class Words {
  i = 0;
  constructor(
    readonly cx: BuildContext,
    readonly list: WordToken[],
  ) {}
  get done(): boolean {
    return this.i >= this.list.length;
  }
  peek(): WordToken | undefined {
    return this.list[this.i];
  }
  take(): WordToken {
    return this.list[this.i++];
  }
  /** The value after option `opt`; undefined (reported) if the line ends. */
  value(opt: WordToken): WordToken | undefined {
    const v = this.list[this.i];
    if (!v) {
      this.cx.sink.error(opt.pos, `'${opt.text}' needs a value`);
      return undefined;
    }
    this.i++;
    return v;
  }
}

/** Tracks the family the addresses and inet/inet6 words imply, reporting a mix. */
class FamilyOf {
  family: 4 | 6 | undefined;
  constructor(
    readonly cx: BuildContext,
    readonly what: string,
  ) {}
  set(f: 4 | 6, at: WordToken): boolean {
    if (this.family === undefined) this.family = f;
    else if (this.family !== f) {
      this.cx.sink.error(at.pos, `cannot mix IPv4 and IPv6 in a ${this.what} ('${at.text}')`);
      return false;
    }
    return true;
  }
}

function uint(cx: BuildContext, tok: WordToken, max: number, what: string, min = 0): number | undefined {
  // keepalived's read_unsigned accepts decimal only for these options, hex (0x..) for fwmark/tos.
  if (!/^\d+$/.test(tok.text)) {
    cx.sink.error(tok.pos, `${what}: '${tok.text}' is not a whole number`, semicolonHint(tok.text));
    return undefined;
  }
  const n = Number(tok.text);
  if (n < min || n > max) {
    cx.sink.error(tok.pos, `${what}: ${tok.text} is outside the range [${min}, ${max}]`);
    return undefined;
  }
  return n;
}

/** A number (decimal or 0x hex) or an iproute2 name, kept for resolution at run time. */
function nameOrNumber(
  cx: BuildContext,
  tok: WordToken,
  max: number,
  what: string,
): number | string | undefined {
  const t = tok.text;
  if (/^\d+$/.test(t) || /^0x[0-9a-f]+$/i.test(t)) {
    const n = Number(t);
    if (n > max) {
      cx.sink.error(tok.pos, `${what}: ${t} is above the maximum ${max}`);
      return undefined;
    }
    return n;
  }
  if (!/^[A-Za-z_][\w.-]*$/.test(t)) {
    cx.sink.error(tok.pos, `${what}: '${t}' is not a number or a name`, semicolonHint(t));
    return undefined;
  }
  return t;
}

/** realms FROM/TO or TO: names or numbers, kept as written. */
function realms(cx: BuildContext, tok: WordToken): string | number | undefined {
  const parts = tok.text.split('/');
  if (parts.length > 2 || parts.some((p) => !/^(\d+|[A-Za-z_][\w.-]*)$/.test(p))) {
    cx.sink.error(tok.pos, `invalid realms '${tok.text}'`);
    return undefined;
  }
  return /^\d+$/.test(tok.text) ? Number(tok.text) : tok.text;
}

/** rtt / rttvar / rto_min: milliseconds, written N, Nms or Ns (keepalived's get_time_rtt). */
function rttMs(cx: BuildContext, tok: WordToken, what: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|sec|secs)?$/i.exec(tok.text);
  if (!m) {
    cx.sink.error(tok.pos, `${what}: '${tok.text}' is not a time (N, Nms or Ns)`);
    return undefined;
  }
  const unit = (m[2] ?? 'ms').toLowerCase();
  const ms = Number(m[1]) * (unit === 'ms' ? 1 : 1000);
  if (ms > 120_000) {
    cx.sink.error(tok.pos, `${what}: ${tok.text} is above 120 s`);
    return undefined;
  }
  return ms;
}

/** A route or rule prefix: CIDR, or default / any / all (0/0 of the route's family). */
function prefix(text: string): { text: string; family?: 4 | 6 } | undefined {
  if (text === 'default' || text === 'any' || text === 'all') return { text: 'default' };
  if (text === 'default6') return { text: 'default', family: 6 };
  const c = parseCidr(text);
  return c ? { text, family: c.family } : undefined;
}

export interface LineOptions {
  /** static_routes / static_rules / static_ipaddress: track_group is known (and not implemented). */
  isStatic: boolean;
}

/* ------------------------------------------------------------------ routes */

const ROUTE_OPTIONS = [
  'inet',
  'inet6',
  'src',
  'from',
  'to',
  'via',
  'gw',
  'dev',
  'oif',
  'table',
  'protocol',
  'proto',
  'scope',
  'metric',
  'priority',
  'preference',
  'tos',
  'dsfield',
  'onlink',
  'expires',
  'mtu',
  'hoplimit',
  'advmss',
  'rtt',
  'rttvar',
  'reordering',
  'window',
  'cwnd',
  'ssthresh',
  'realms',
  'rto_min',
  'initcwnd',
  'initrwnd',
  'features',
  'quickack',
  'congctl',
  'pref',
  'ttl-propagate',
  'fastopen_no_cookie',
  'add',
  'prepend',
  'append',
  'nexthop',
  'or',
  'no_track',
  ...ROUTE_TYPE_NAMES,
];

/**
 * `[inet|inet6] [TYPE] [to] DEST [src A] [from P] [via [inet|inet6] GW] [dev IF] [table T] [metric N]
 * [scope S] [protocol P] [tos T] [onlink] [METRIC [lock] V ...] [add|prepend|append] [no_track]
 * [nexthop via GW dev IF weight W onlink ...]`
 */
export function parseRouteLine(cx: BuildContext, line: ConfNode, opts: LineOptions): Obj | undefined {
  const w = new Words(cx, wordsOf(line));
  const fam = new FamilyOf(cx, 'route');
  const route: Obj = { source: { file: line.pos.file, line: line.pos.line, col: line.pos.col } };
  cx.positions.setObject(route, line.pos);
  const metrics: Obj = {};
  const lock: string[] = [];

  const address = (tok: WordToken, what: string): string | undefined => {
    const c = parseCidr(tok.text);
    if (!c || tok.text.includes('/')) {
      cx.sink.error(tok.pos, `${what}: '${tok.text}' is not a valid IP address`, semicolonHint(tok.text));
      return undefined;
    }
    return fam.set(c.family, tok) ? c.address : undefined;
  };

  while (!w.done) {
    const opt = w.take();
    let v: WordToken | undefined;
    switch (opt.text) {
      case 'inet':
      case 'inet6':
        if (!fam.set(opt.text === 'inet' ? 4 : 6, opt)) return undefined;
        break;
      case 'src': {
        v = w.value(opt);
        if (!v) return undefined;
        const a = address(v, 'route src');
        if (!a) return undefined;
        route.src = a;
        break;
      }
      case 'from': {
        v = w.value(opt);
        if (!v) return undefined;
        const p = prefix(v.text);
        if (!p || p.text === 'default') {
          cx.sink.error(v.pos, `invalid route from prefix '${v.text}'`);
          return undefined;
        }
        if (p.family !== 6) {
          cx.sink.error(v.pos, `route 'from' is only supported with IPv6 ('${v.text}')`);
          return undefined;
        }
        if (!fam.set(6, v)) return undefined;
        route.from = p.text;
        break;
      }
      case 'as':
        // keepalived: "as to" is MPLS only and ignored.
        if (w.peek()?.text === 'to') w.take();
        v = w.value(opt);
        if (!v) return undefined;
        warnOrError(cx, opt.pos, "route option 'as [to]' (MPLS) is ignored, as keepalived does");
        break;
      case 'via':
      case 'gw': {
        if (opt.text === 'gw')
          warnOrError(cx, opt.pos, "'gw' in a route is deprecated (keepalived still reads it)", "use 'via'");
        v = w.value(opt);
        if (!v) return undefined;
        if (v.text === 'inet' || v.text === 'inet6') {
          if (!fam.set(v.text === 'inet' ? 4 : 6, v)) return undefined;
          v = w.value(v);
          if (!v) return undefined;
        }
        const a = address(v, 'route via');
        if (!a) return undefined;
        route.via = a;
        break;
      }
      case 'dev':
      case 'oif':
        v = w.value(opt);
        if (!v) return undefined;
        route.dev = v.text;
        cx.positions.set(route, 'dev', v.pos);
        break;
      case 'table':
        v = w.value(opt);
        if (!v) return undefined;
        route.table = nameOrNumber(cx, v, 4_294_967_295, 'route table');
        if (route.table === undefined) return undefined;
        break;
      case 'protocol':
      case 'proto':
        v = w.value(opt);
        if (!v) return undefined;
        route.protocol = nameOrNumber(cx, v, 255, 'route protocol');
        if (route.protocol === undefined) return undefined;
        cx.positions.set(route, 'protocol', v.pos);
        break;
      case 'scope':
        v = w.value(opt);
        if (!v) return undefined;
        if (/^\d+$/.test(v.text)) route.scope = uint(cx, v, 255, 'route scope');
        else if ((SCOPE_NAMES as readonly string[]).includes(v.text)) route.scope = v.text;
        else {
          cx.sink.error(
            v.pos,
            `route scope: '${v.text}' is not one of ${SCOPE_NAMES.join(', ')} or a number`,
          );
          return undefined;
        }
        if (route.scope === undefined) return undefined;
        break;
      case 'metric':
      case 'priority':
      case 'preference':
        v = w.value(opt);
        if (!v) return undefined;
        route.metric = uint(cx, v, 4_294_967_295, 'route metric');
        if (route.metric === undefined) return undefined;
        break;
      case 'tos':
      case 'dsfield':
        v = w.value(opt);
        if (!v) return undefined;
        route.tos = nameOrNumber(cx, v, 255, 'route tos');
        if (route.tos === undefined) return undefined;
        break;
      case 'onlink':
        route.onlink = true;
        break;
      case 'expires':
        v = w.value(opt);
        if (!v || !fam.set(6, opt)) return undefined;
        route.expires = uint(cx, v, 4_294_967_295, 'route expires');
        if (route.expires === undefined) return undefined;
        break;
      case 'realms':
        v = w.value(opt);
        if (!v || !fam.set(4, opt)) return undefined;
        route.realms = realms(cx, v);
        if (route.realms === undefined) return undefined;
        break;
      case 'features':
        v = w.value(opt);
        if (!v) return undefined;
        if (v.text !== 'ecn') {
          cx.sink.error(v.pos, `route features: '${v.text}' is not supported (only 'ecn')`);
          return undefined;
        }
        metrics.ecn = true;
        break;
      case 'quickack':
      case 'fastopen_no_cookie': {
        v = w.value(opt);
        if (!v) return undefined;
        const n = uint(cx, v, 1, `route ${opt.text}`);
        if (n === undefined) return undefined;
        metrics[opt.text === 'quickack' ? 'quickack' : 'fastopenNoCookie'] = n === 1;
        break;
      }
      case 'pref':
        v = w.value(opt);
        if (!v || !fam.set(6, opt)) return undefined;
        if (v.text === 'low' || v.text === 'medium' || v.text === 'high') route.pref = v.text;
        else route.pref = uint(cx, v, 255, 'route pref');
        if (route.pref === undefined) return undefined;
        break;
      case 'ttl-propagate':
        v = w.value(opt);
        if (!v) return undefined;
        if (v.text !== 'enabled' && v.text !== 'disabled') {
          cx.sink.error(v.pos, `route ttl-propagate: '${v.text}' is not one of enabled, disabled`);
          return undefined;
        }
        route.ttlPropagate = v.text === 'enabled';
        break;
      case 'add':
      case 'prepend':
      case 'append':
        route.mode = opt.text;
        break;
      case 'no_track':
        route.noTrack = true;
        break;
      case 'track_group':
        v = w.value(opt);
        if (!v) return undefined;
        if (!opts.isStatic) {
          cx.sink.error(opt.pos, "'track_group' is only valid in static_routes");
          return undefined;
        }
        warnOrError(cx, opt.pos, "route option 'track_group' is not implemented by halo yet and is ignored");
        break;
      case 'encap':
      case 'vrf':
        warnOrError(
          cx,
          opt.pos,
          `route option '${opt.text}' is not implemented by halo yet; this route is ignored`,
        );
        return undefined;
      case 'or': {
        // keepalived < 2.0 multipath: "via A or B"; kept for compatibility.
        warnOrError(
          cx,
          opt.pos,
          "'or' in a route is deprecated (keepalived still reads it)",
          "use 'nexthop'",
        );
        v = w.value(opt);
        if (!v) return undefined;
        const a = address(v, "route 'or'");
        if (!a) return undefined;
        if (route.nexthops !== undefined) {
          cx.sink.error(opt.pos, "only one 'or' is allowed in a route");
          return undefined;
        }
        route.nexthops = [{ via: route.via }, { via: a }];
        delete route.via;
        break;
      }
      case 'nexthop': {
        w.i--;
        const hops = parseNexthops(cx, w, fam);
        if (!hops) return undefined;
        if (route.nexthops !== undefined) {
          cx.sink.error(opt.pos, "cannot give 'nexthop' with an 'or' route");
          return undefined;
        }
        route.nexthops = hops;
        break;
      }
      default: {
        if (LOCKABLE.has(opt.text) || ['hoplimit', 'window', 'initcwnd', 'initrwnd'].includes(opt.text)) {
          v = w.value(opt);
          if (!v) return undefined;
          if (v.text === 'lock' && LOCKABLE.has(opt.text)) {
            lock.push(opt.text === 'rto_min' ? 'rtoMin' : opt.text);
            v = w.value(v);
            if (!v) return undefined;
          }
          if (!metric(cx, metrics, opt.text, v)) return undefined;
          break;
        }
        let tok = opt;
        if (tok.text === 'to') {
          const next = w.value(tok);
          if (!next) return undefined;
          tok = next;
        } else if ((ROUTE_TYPE_NAMES as readonly string[]).includes(tok.text)) {
          route.type = tok.text;
          const next = w.value(tok);
          if (!next) return undefined;
          tok = next;
        }
        const p = prefix(tok.text);
        if (!p) {
          // After 'to' or a type a destination must follow; elsewhere an unknown word is most likely a typo.
          const what =
            tok !== opt
              ? 'invalid route destination'
              : route.destination === undefined
                ? 'unknown route option or invalid destination'
                : 'unknown route option';
          cx.sink.error(
            tok.pos,
            `${what} '${tok.text}'`,
            didYouMean(tok.text, ROUTE_OPTIONS) ?? semicolonHint(tok.text),
          );
          return undefined;
        }
        if (route.destination !== undefined) {
          cx.sink.error(
            tok.pos,
            `route has two destinations ('${String(route.destination)}' and '${tok.text}')`,
          );
          return undefined;
        }
        if (p.family !== undefined && !fam.set(p.family, tok)) return undefined;
        route.destination = p.text;
        cx.positions.set(route, 'destination', tok.pos);
      }
    }
  }
  if (route.destination === undefined) {
    cx.sink.error(line.pos, 'route has no destination');
    return undefined;
  }
  if (fam.family !== undefined) route.family = fam.family;
  if (Object.keys(metrics).length > 0 || lock.length > 0)
    route.metrics = lock.length ? { ...metrics, lock } : metrics;
  return route;
}

function metric(cx: BuildContext, metrics: Obj, name: string, v: WordToken): boolean {
  const what = `route ${name}`;
  let value: number | string | undefined;
  switch (name) {
    case 'rtt':
      value = rttMs(cx, v, what);
      name = 'rttMs';
      break;
    case 'rttvar':
      value = rttMs(cx, v, what);
      name = 'rttvarMs';
      break;
    case 'rto_min':
      value = rttMs(cx, v, what);
      name = 'rtoMinMs';
      break;
    case 'hoplimit':
      value = uint(cx, v, 255, what);
      break;
    case 'congctl':
      value = /^[a-z][\w-]*$/i.test(v.text) ? v.text : undefined;
      if (value === undefined) cx.sink.error(v.pos, `${what}: '${v.text}' is not a congestion control name`);
      break;
    default:
      value = uint(cx, v, 4_294_967_295, what);
  }
  if (value === undefined) return false;
  metrics[name] = value;
  return true;
}

/** `nexthop [via [inet|inet6] GW] [dev IF] [weight 1..256] [onlink] [realms R] nexthop ...` to the line's end. */
function parseNexthops(cx: BuildContext, w: Words, fam: FamilyOf): Obj[] | undefined {
  const hops: Obj[] = [];
  while (!w.done) {
    const kw = w.take();
    if (kw.text !== 'nexthop') {
      cx.sink.error(kw.pos, `unexpected '${kw.text}' after nexthops`, 'nexthops must come last in a route');
      return undefined;
    }
    const hop: Obj = {};
    while (!w.done && w.peek()?.text !== 'nexthop') {
      const opt = w.take();
      let v: WordToken | undefined;
      switch (opt.text) {
        case 'via': {
          v = w.value(opt);
          if (!v) return undefined;
          if (v.text === 'inet' || v.text === 'inet6') {
            if (!fam.set(v.text === 'inet' ? 4 : 6, v)) return undefined;
            v = w.value(v);
            if (!v) return undefined;
          }
          const c = parseCidr(v.text);
          if (!c || v.text.includes('/')) {
            cx.sink.error(v.pos, `invalid nexthop address '${v.text}'`);
            return undefined;
          }
          if (!fam.set(c.family, v)) return undefined;
          hop.via = c.address;
          break;
        }
        case 'dev':
          v = w.value(opt);
          if (!v) return undefined;
          hop.dev = v.text;
          break;
        case 'weight':
          v = w.value(opt);
          if (!v) return undefined;
          hop.weight = uint(cx, v, 256, 'nexthop weight', 1);
          if (hop.weight === undefined) return undefined;
          break;
        case 'onlink':
          hop.onlink = true;
          break;
        case 'realms':
          v = w.value(opt);
          if (!v || !fam.set(4, opt)) return undefined;
          hop.realms = realms(cx, v);
          if (hop.realms === undefined) return undefined;
          break;
        case 'encap':
        case 'as':
          warnOrError(
            cx,
            opt.pos,
            `nexthop option '${opt.text}' is not implemented by halo; this route is ignored`,
          );
          return undefined;
        default:
          cx.sink.error(
            opt.pos,
            `unknown nexthop option '${opt.text}'`,
            didYouMean(opt.text, ['via', 'dev', 'weight', 'onlink', 'realms']),
          );
          return undefined;
      }
    }
    hops.push(hop);
  }
  return hops;
}

/* ------------------------------------------------------------------ rules */

const RULE_OPTIONS = [
  'inet',
  'inet6',
  'from',
  'to',
  'table',
  'lookup',
  'not',
  'preference',
  'order',
  'priority',
  'tos',
  'dsfield',
  'fwmark',
  'realms',
  'suppress_prefixlength',
  'sup_pl',
  'suppress_ifgroup',
  'sup_group',
  'dev',
  'iif',
  'oif',
  'tunnel-id',
  'uidrange',
  'l3mdev',
  'protocol',
  'ipproto',
  'sport',
  'dport',
  'no_track',
  'type',
  'goto',
  'nop',
  'blackhole',
  'unreachable',
  'prohibit',
];

/**
 * `[inet|inet6] [not] [from P] [to P] [preference N] [tos T] [fwmark M[/MASK]] [realms R]
 * [suppress_prefixlength N] [suppress_ifgroup G] [dev|iif IF] [oif IF] [tunnel-id N] [uidrange A-B] [l3mdev]
 * [protocol N] [ipproto P] [sport A[-B]] [dport A[-B]] [no_track]` and one action: `table|lookup T`, `goto N`,
 * `nop`, `blackhole`, `unreachable`, `prohibit` (optionally after `type`).
 */
export function parseRuleLine(cx: BuildContext, line: ConfNode, opts: LineOptions): Obj | undefined {
  const w = new Words(cx, wordsOf(line));
  const fam = new FamilyOf(cx, 'rule');
  const rule: Obj = { source: { file: line.pos.file, line: line.pos.line, col: line.pos.col } };
  cx.positions.setObject(rule, line.pos);
  let tableOption: WordToken | undefined;

  const setAction = (action: string, at: WordToken): boolean => {
    if (rule.action !== undefined) {
      cx.sink.error(
        at.pos,
        'a rule takes one action: table/lookup, goto, nop, blackhole, unreachable or prohibit',
      );
      return false;
    }
    rule.action = action;
    return true;
  };
  const range = (v: WordToken, what: string): Obj | undefined => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(v.text);
    const start = m ? Number(m[1]) : Number.NaN;
    const end = m?.[2] !== undefined ? Number(m[2]) : start;
    if (!m || start > 65535 || end > 65535 || end < start) {
      cx.sink.error(v.pos, `invalid ${what} range '${v.text}'`);
      return undefined;
    }
    return { start, end };
  };

  while (!w.done) {
    const opt = w.take();
    let v: WordToken | undefined;
    switch (opt.text) {
      case 'inet':
      case 'inet6':
        if (!fam.set(opt.text === 'inet' ? 4 : 6, opt)) return undefined;
        break;
      case 'from':
      case 'to': {
        v = w.value(opt);
        if (!v) return undefined;
        const p = prefix(v.text);
        if (!p) {
          cx.sink.error(v.pos, `invalid rule ${opt.text} address '${v.text}'`, semicolonHint(v.text));
          return undefined;
        }
        if (p.family !== undefined && !fam.set(p.family, v)) return undefined;
        rule[opt.text] = p.text === 'default' ? 'all' : p.text;
        break;
      }
      case 'table':
      case 'lookup':
        v = w.value(opt);
        if (!v) return undefined;
        rule.table = nameOrNumber(cx, v, 4_294_967_295, 'rule table');
        if (rule.table === undefined) return undefined;
        if (rule.table === 0) {
          cx.sink.error(v.pos, 'table 0 is not valid for a rule');
          return undefined;
        }
        if (!setAction('table', opt)) return undefined;
        break;
      case 'not':
        rule.invert = true;
        break;
      case 'preference':
      case 'order':
      case 'priority':
        v = w.value(opt);
        if (!v) return undefined;
        rule.priority = /^0x[0-9a-f]+$/i.test(v.text)
          ? Number(v.text)
          : uint(cx, v, 4_294_967_295, 'rule preference');
        if (rule.priority === undefined || (rule.priority as number) > 4_294_967_295) return undefined;
        cx.positions.set(rule, 'priority', v.pos);
        break;
      case 'tos':
      case 'dsfield':
        v = w.value(opt);
        if (!v) return undefined;
        rule.tos = nameOrNumber(cx, v, 255, 'rule tos');
        if (rule.tos === undefined) return undefined;
        break;
      case 'fwmark': {
        v = w.value(opt);
        if (!v) return undefined;
        const m = /^(0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?$/i.exec(v.text);
        if (!m || Number(m[1]) > 4_294_967_295 || (m[2] !== undefined && Number(m[2]) > 4_294_967_295)) {
          cx.sink.error(v.pos, `invalid rule fwmark '${v.text}'`, 'write MARK or MARK/MASK');
          return undefined;
        }
        rule.fwmark = Number(m[1]);
        if (m[2] !== undefined) rule.fwmask = Number(m[2]);
        break;
      }
      case 'realms':
        v = w.value(opt);
        if (!v || !fam.set(4, opt)) return undefined;
        rule.realms = realms(cx, v);
        if (rule.realms === undefined) return undefined;
        tableOption = opt;
        break;
      case 'suppress_prefixlength':
      case 'sup_pl':
        v = w.value(opt);
        if (!v) return undefined;
        rule.suppressPrefixLength = uint(cx, v, 2_147_483_647, 'rule suppress_prefixlength');
        if (rule.suppressPrefixLength === undefined) return undefined;
        tableOption = opt;
        break;
      case 'suppress_ifgroup':
      case 'sup_group':
        v = w.value(opt);
        if (!v) return undefined;
        rule.suppressIfgroup = nameOrNumber(cx, v, 4_294_967_295, 'rule suppress_ifgroup');
        if (rule.suppressIfgroup === undefined) return undefined;
        tableOption = opt;
        break;
      case 'dev':
      case 'iif':
        v = w.value(opt);
        if (!v) return undefined;
        rule.iif = v.text;
        break;
      case 'oif':
        v = w.value(opt);
        if (!v) return undefined;
        rule.oif = v.text;
        break;
      case 'tunnel-id':
        v = w.value(opt);
        if (!v) return undefined;
        rule.tunnelId = uint(cx, v, Number.MAX_SAFE_INTEGER, 'rule tunnel-id');
        if (rule.tunnelId === undefined) return undefined;
        break;
      case 'uidrange': {
        v = w.value(opt);
        if (!v) return undefined;
        const m = /^(\d+)-(\d+)$/.exec(v.text);
        if (!m || Number(m[1]) > 4_294_967_295 || Number(m[2]) > 4_294_967_295) {
          cx.sink.error(v.pos, `invalid rule uidrange '${v.text}'`, 'write START-END');
          return undefined;
        }
        rule.uidRange = { start: Number(m[1]), end: Number(m[2]) };
        break;
      }
      case 'l3mdev':
        rule.l3mdev = true;
        if (!setAction('table', opt)) return undefined;
        break;
      case 'protocol':
        v = w.value(opt);
        if (!v) return undefined;
        rule.protocol = uint(cx, v, 255, 'rule protocol');
        if (rule.protocol === undefined) return undefined;
        cx.positions.set(rule, 'protocol', v.pos);
        break;
      case 'ipproto': {
        v = w.value(opt);
        if (!v) return undefined;
        const n = /^\d+$/.test(v.text) ? Number(v.text) : IP_PROTOCOLS[v.text.toLowerCase()];
        // keepalived's inet_proto_a2n caps numbers at INT8_MAX.
        if (n === undefined || n > 255) {
          cx.sink.error(
            v.pos,
            `invalid rule ipproto '${v.text}'`,
            didYouMean(v.text, Object.keys(IP_PROTOCOLS)),
          );
          return undefined;
        }
        rule.ipProto = n;
        break;
      }
      case 'sport':
      case 'dport':
        v = w.value(opt);
        if (!v) return undefined;
        rule[opt.text] = range(v, opt.text);
        if (rule[opt.text] === undefined) return undefined;
        break;
      case 'no_track':
        rule.noTrack = true;
        break;
      case 'track_group':
        v = w.value(opt);
        if (!v) return undefined;
        if (!opts.isStatic) {
          cx.sink.error(opt.pos, "'track_group' is only valid in static_rules");
          return undefined;
        }
        warnOrError(cx, opt.pos, "rule option 'track_group' is not implemented by halo yet and is ignored");
        break;
      default: {
        let tok = opt;
        if (tok.text === 'type') {
          const next = w.value(tok);
          if (!next) return undefined;
          tok = next;
        }
        if (tok.text === 'goto') {
          v = w.value(tok);
          if (!v) return undefined;
          rule.goto = uint(cx, v, 4_294_967_295, 'rule goto');
          if (rule.goto === undefined || !setAction('goto', tok)) return undefined;
        } else if (['nop', 'blackhole', 'unreachable', 'prohibit'].includes(tok.text)) {
          if (!setAction(tok.text, tok)) return undefined;
        } else {
          cx.sink.error(
            tok.pos,
            `unknown rule option '${tok.text}'`,
            didYouMean(tok.text, RULE_OPTIONS) ?? semicolonHint(tok.text),
          );
          return undefined;
        }
      }
    }
  }
  if (rule.action === undefined) {
    cx.sink.error(
      line.pos,
      'rule has no action',
      "add 'table N' (or goto, nop, blackhole, unreachable, prohibit)",
    );
    return undefined;
  }
  if (rule.action === 'goto') {
    if (rule.priority === undefined) {
      cx.sink.error(line.pos, `rule with 'goto ${String(rule.goto)}' needs a preference`);
      return undefined;
    }
    if ((rule.priority as number) >= (rule.goto as number)) {
      cx.sink.error(
        line.pos,
        `rule preference ${String(rule.priority)} must be below its goto target ${String(rule.goto)}`,
      );
      return undefined;
    }
  }
  if (tableOption && rule.action !== 'table') {
    cx.sink.error(tableOption.pos, `'${tableOption.text}' is only valid with a table action`);
    return undefined;
  }
  if (rule.l3mdev && rule.table !== undefined) {
    cx.sink.error(line.pos, 'a l3mdev rule cannot name a table');
    return undefined;
  }
  if (fam.family !== undefined) rule.family = fam.family;
  return rule;
}
