/**
 * Watches addresses and links (and, with RouteWatcher, routes and rules) through rtnetlink notifications:
 * RTNLGRP_IPV4_IFADDR / RTNLGRP_IPV6_IFADDR for addresses, RTNLGRP_LINK for interfaces, RTNLGRP_IPV4_ROUTE /
 * IPV6_ROUTE and IPV4_RULE / IPV6_RULE for routes and rules. No polling: the kernel tells us.
 *
 * What it is for (issue 17, dynamic_interfaces): a VIP deleted behind halo's back on a MASTER is put back at
 * once; a VIP that appears on a BACKUP is removed; a static address / route / rule deleted by hand is
 * restored; an interface that appears after start is picked up. The watcher only reports; deciding is the
 * caller's job.
 *
 * Subscription happens before the initial dump, so nothing between the two is lost. If the kernel drops
 * notifications (ENOBUFS: the socket buffer overflowed), the watcher re-dumps and reports the difference
 * as ordinary events, counting the overrun, so a consumer's view never silently diverges.
 *
 * Every event carries `at`, process.hrtime.bigint() when it was read: CLOCK_MONOTONIC, comparable across
 * processes on the host, which is how bench/net-watch.ts measures the latency from `ip addr del`.
 */
import { EventEmitter } from 'node:events';
import { rt } from 'netlink';
import { formatIp } from './frames.js';
import { netlinkError, rtnetlink } from './link.js';
import { NETLINK_ROUTE, NetlinkListener, RTNLGRP, splitMessages } from './nl-listener.js';
import { parseRouteMessage, parseRuleMessage, type RouteEntry, type RuleEntry } from './route.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;

export interface WatchedAddress {
  ifname: string;
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefixLength: number;
  /** rtnetlink scope: 0 global, 200 site, 253 link, 254 host. */
  scope: number;
  label?: string;
  secondary: boolean;
}

export interface AddressEvent extends WatchedAddress {
  type: 'added' | 'removed';
  /** process.hrtime.bigint() when the notification was read (or the resync found it). */
  at: bigint;
}

export interface WatchedLink {
  ifname: string;
  ifindex: number;
  /** IFF_UP && IFF_RUNNING */
  up: boolean;
  /** The link's kind from IFLA_INFO_KIND (veth, macvlan, bridge, ...), when it has one. */
  kind?: string;
}

export interface LinkEvent extends WatchedLink {
  /** added: a new ifindex; removed: RTM_DELLINK; changed: its name or up state changed. */
  type: 'added' | 'removed' | 'changed';
  at: bigint;
}

interface AddressWatcherEvents {
  address: [AddressEvent];
  link: [LinkEvent];
  /** The socket overflowed; a resync follows (its differences arrive as ordinary events). */
  overrun: [];
  error: [Error];
}

export interface AddressWatcherOptions {
  /** Which families' addresses to watch (default both). */
  families?: (4 | 6)[];
  /** Keep the event loop alive while watching (default true). */
  ref?: boolean;
  /** SO_RCVBUF in bytes (default 1 MiB, capped by net.core.rmem_max): how many changes fit in a burst. */
  recvBufferSize?: number;
}

const addrKey = (ifindex: number, address: string, prefixLength: number) =>
  `${ifindex}|${address}|${prefixLength}`;

/**
 * Emits 'address' (added / removed) and 'link' (added / removed / changed) events. `ready` resolves once the
 * initial addresses and links are known; `addresses()` and `links()` answer from the latest state.
 */
export class AddressWatcher extends EventEmitter<AddressWatcherEvents> {
  readonly ready: Promise<void>;
  /** Notifications that could not be parsed (dropped). */
  invalidMessages = 0;
  /** Times the kernel dropped notifications (ENOBUFS) and the state was re-dumped. */
  overruns = 0;
  private readonly addrs = new Map<string, WatchedAddress>();
  private readonly linkState = new Map<number, WatchedLink>();
  private readonly sock: NetlinkListener;
  private readonly families: (4 | 6)[];
  private closed = false;
  private resyncing: Promise<void> | undefined;
  /** Notifications read while a dump is in flight, applied after it (in order). */
  private held: { type: number; data: Buffer; at: bigint }[] | undefined;

  constructor(opts: AddressWatcherOptions = {}) {
    super();
    this.families = opts.families ?? [4, 6];
    const groups: number[] = [RTNLGRP.LINK];
    if (this.families.includes(4)) groups.push(RTNLGRP.IPV4_IFADDR);
    if (this.families.includes(6)) groups.push(RTNLGRP.IPV6_IFADDR);
    this.sock = NetlinkListener.open(NETLINK_ROUTE, groups, { rcvbuf: opts.recvBufferSize ?? 1 << 20 });
    this.sock.start(
      (datagram) => {
        const at = process.hrtime.bigint();
        for (const m of splitMessages(datagram)) {
          if (this.held) this.held.push({ type: m.type, data: m.data, at });
          else this.onMessage(m.type, m.data, at);
        }
      },
      (err) => {
        if (err.code === 'ENOBUFS') {
          this.overruns++;
          this.emit('overrun');
          void this.resync();
        } else this.emit('error', err);
      },
    );
    if (opts.ref === false) this.sock.unref();
    this.ready = this.dump(false);
  }

  private onMessage(type: number, data: Buffer, at: bigint): void {
    try {
      if (type === RTM_NEWLINK || type === RTM_DELLINK) {
        const link = toLink(rt.parseLinkMessage(data));
        if (link) this.updateLink(link, type === RTM_DELLINK, at);
      } else if (type === RTM_NEWADDR || type === RTM_DELADDR) {
        const a = this.toAddress(rt.parseAddressMessage(data));
        if (a) this.updateAddress(a, type === RTM_NEWADDR, at);
      }
    } catch {
      this.invalidMessages++;
    }
  }

  private toAddress(m: rt.AddressMessage): WatchedAddress | undefined {
    const raw = m.attrs.local ?? m.attrs.address;
    if (!raw || (raw.length !== 4 && raw.length !== 16) || typeof m.data.index !== 'number') return undefined;
    const family = raw.length === 4 ? 4 : 6;
    if (!this.families.includes(family)) return undefined;
    const flags = m.attrs.flags ?? m.data.flags ?? {};
    const link = this.linkState.get(m.data.index);
    return {
      ifname: link?.ifname ?? m.attrs.label ?? `if${m.data.index}`,
      ifindex: m.data.index,
      family,
      address: formatIp(raw),
      prefixLength: m.data.prefixlen ?? 0,
      scope: m.data.scope ?? 0,
      ...(m.attrs.label ? { label: m.attrs.label } : {}),
      secondary: !!flags.secondary,
    };
  }

  private updateAddress(a: WatchedAddress, present: boolean, at: bigint): void {
    const key = addrKey(a.ifindex, a.address, a.prefixLength);
    const had = this.addrs.has(key);
    if (present) {
      this.addrs.set(key, a);
      // RTM_NEWADDR also announces changes (flags, lifetimes) of a known address: only a new one is 'added'.
      if (!had) this.emit('address', { type: 'added', ...a, at });
    } else {
      this.addrs.delete(key);
      if (had) this.emit('address', { type: 'removed', ...a, at });
    }
  }

  private updateLink(l: WatchedLink, deleted: boolean, at: bigint): void {
    const prev = this.linkState.get(l.ifindex);
    if (deleted) {
      this.linkState.delete(l.ifindex);
      // The kernel removes the addresses with the link and announces each; drop any it did not.
      for (const [k, a] of this.addrs) {
        if (a.ifindex === l.ifindex) {
          this.addrs.delete(k);
          this.emit('address', { type: 'removed', ...a, at });
        }
      }
      if (prev) this.emit('link', { type: 'removed', ...prev, up: false, at });
      return;
    }
    this.linkState.set(l.ifindex, l);
    if (!prev) this.emit('link', { type: 'added', ...l, at });
    else if (prev.ifname !== l.ifname || prev.up !== l.up) {
      if (prev.ifname !== l.ifname) {
        for (const a of this.addrs.values()) if (a.ifindex === l.ifindex) a.ifname = l.ifname;
      }
      this.emit('link', { type: 'changed', ...l, at });
    }
  }

  /**
   * Initial dump (no events) or a resync after an overrun (differences as events). The dump goes over the
   * request socket, not the subscribed one: a large reply must not overflow the notification buffer (which
   * would start the next overrun). Notifications read meanwhile are held and applied after the dump, so the
   * final state is the dump plus every later change, in order.
   */
  private async dump(emit: boolean): Promise<void> {
    this.held = [];
    let links: rt.LinkMessage[];
    let addrs: rt.AddressMessage[];
    try {
      links = await rtnetlink().getLinks();
      addrs = await rtnetlink().getAddresses();
    } catch (err) {
      this.releaseHeld();
      throw netlinkError(err, 'list links and addresses');
    }
    const at = process.hrtime.bigint();
    const seenLinks = new Set<number>();
    for (const m of links) {
      const l = toLink(m);
      if (!l) continue;
      seenLinks.add(l.ifindex);
      if (emit) this.updateLink(l, false, at);
      else this.linkState.set(l.ifindex, l);
    }
    const seenAddrs = new Set<string>();
    for (const m of addrs) {
      const a = this.toAddress(m);
      if (!a) continue;
      seenAddrs.add(addrKey(a.ifindex, a.address, a.prefixLength));
      if (emit) this.updateAddress(a, true, at);
      else this.addrs.set(addrKey(a.ifindex, a.address, a.prefixLength), a);
    }
    if (emit) {
      for (const [k, a] of [...this.addrs]) if (!seenAddrs.has(k)) this.updateAddress(a, false, at);
      for (const [i, l] of [...this.linkState]) if (!seenLinks.has(i)) this.updateLink(l, true, at);
    }
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const m of held) this.onMessage(m.type, m.data, m.at);
  }

  /** Re-reads links and addresses and reports what changed (after an overrun, or on demand). */
  resync(): Promise<void> {
    this.resyncing ??= this.dump(true)
      .catch((err) => {
        if (!this.closed) this.emit('error', err as Error);
      })
      .finally(() => {
        this.resyncing = undefined;
      });
    return this.resyncing;
  }

  /** Current addresses, optionally of one interface. */
  addresses(ifname?: string): WatchedAddress[] {
    return [...this.addrs.values()].filter((a) => ifname === undefined || a.ifname === ifname);
  }

  links(): WatchedLink[] {
    return [...this.linkState.values()];
  }

  link(ifname: string): WatchedLink | undefined {
    for (const l of this.linkState.values()) if (l.ifname === ifname) return l;
    return undefined;
  }

  hasAddress(ifname: string, address: string): boolean {
    for (const a of this.addrs.values()) if (a.ifname === ifname && a.address === address) return true;
    return false;
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

function toLink(m: rt.LinkMessage): WatchedLink | undefined {
  if (typeof m.data.index !== 'number') return undefined;
  const flags = m.data.flags ?? {};
  const kind = m.attrs.linkinfo ? linkKind(m.attrs.linkinfo) : undefined;
  return {
    ifname: m.attrs.ifname ?? `if${m.data.index}`,
    ifindex: m.data.index,
    up: !!flags.up && !!flags.running,
    ...(kind ? { kind } : {}),
  };
}

/** IFLA_INFO_KIND (1) inside IFLA_LINKINFO. */
export function linkKind(linkinfo: Buffer): string | undefined {
  let off = 0;
  while (off + 4 <= linkinfo.length) {
    const len = linkinfo.readUInt16LE(off);
    const type = linkinfo.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > linkinfo.length) return undefined;
    if (type === 1)
      return linkinfo
        .subarray(off + 4, off + len)
        .toString()
        .replace(/\0+$/, '');
    off += (len + 3) & ~3;
  }
  return undefined;
}

/* ------------------------------------------------------------------ routes and rules */

export interface RouteEvent {
  type: 'added' | 'removed';
  route: RouteEntry;
  at: bigint;
}

export interface RuleEvent {
  type: 'added' | 'removed';
  rule: RuleEntry;
  at: bigint;
}

interface RouteWatcherEvents {
  route: [RouteEvent];
  rule: [RuleEvent];
  overrun: [];
  error: [Error];
}

export interface RouteWatcherOptions {
  families?: (4 | 6)[];
  routes?: boolean;
  rules?: boolean;
  /** Only report routes / rules with this protocol (default 18, keepalived's, which halo's tracked ones use). */
  protocol?: number | 'any';
  ref?: boolean;
  recvBufferSize?: number;
}

/**
 * Reports routes and rules added and removed (RTM_NEWROUTE / DELROUTE, RTM_NEWRULE / DELRULE), by default only
 * those with protocol 18, as keepalived's netlink_route_filter does: the routes halo tracks. An overrun is
 * counted and emitted; the consumer re-checks its own routes (there is no useful diff of a whole table).
 */
export class RouteWatcher extends EventEmitter<RouteWatcherEvents> {
  invalidMessages = 0;
  overruns = 0;
  private readonly sock: NetlinkListener;
  private readonly protocol: number | 'any';
  private closed = false;

  constructor(opts: RouteWatcherOptions = {}) {
    super();
    const families = opts.families ?? [4, 6];
    this.protocol = opts.protocol ?? 18;
    const groups: number[] = [];
    if (opts.routes !== false) {
      if (families.includes(4)) groups.push(RTNLGRP.IPV4_ROUTE);
      if (families.includes(6)) groups.push(RTNLGRP.IPV6_ROUTE);
    }
    if (opts.rules !== false) {
      if (families.includes(4)) groups.push(RTNLGRP.IPV4_RULE);
      if (families.includes(6)) groups.push(RTNLGRP.IPV6_RULE);
    }
    this.sock = NetlinkListener.open(NETLINK_ROUTE, groups, { rcvbuf: opts.recvBufferSize ?? 1 << 20 });
    this.sock.start(
      (datagram) => {
        const at = process.hrtime.bigint();
        for (const m of splitMessages(datagram)) {
          try {
            if (m.type === RTM_NEWROUTE || m.type === RTM_DELROUTE) {
              const route = parseRouteMessage(rt.parseRouteMessage(m.data));
              if (route && (this.protocol === 'any' || route.protocol === this.protocol))
                this.emit('route', { type: m.type === RTM_NEWROUTE ? 'added' : 'removed', route, at });
            } else if (m.type === RTM_NEWRULE || m.type === RTM_DELRULE) {
              const rule = parseRuleMessage(rt.parseRuleMessage(m.data));
              if (rule && (this.protocol === 'any' || rule.protocol === this.protocol))
                this.emit('rule', { type: m.type === RTM_NEWRULE ? 'added' : 'removed', rule, at });
            }
          } catch {
            this.invalidMessages++;
          }
        }
      },
      (err) => {
        if (err.code === 'ENOBUFS') {
          this.overruns++;
          this.emit('overrun');
        } else this.emit('error', err);
      },
    );
    if (opts.ref === false) this.sock.unref();
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
