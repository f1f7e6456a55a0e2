/**
 * Interfaces and addresses through rtnetlink (the `netlink` package): look up
 * links, list/add/remove addresses, and watch link state from RTNLGRP_LINK
 * notifications (no polling).
 *
 * Everything acts on the network namespace of the calling process.
 */
import { EventEmitter } from 'node:events';
import { FlagsNew, type RtNetlinkSocket, rt } from 'netlink';
import { formatIp, formatMac, parseIpv4, parseIpv6 } from './frames.js';
import { createRtNetlinkSocket } from './netlink-socket.js';
import { NETLINK_ROUTE, NetlinkListener, RTNLGRP, splitMessages } from './nl-listener.js';

export type AddressScope = 'global' | 'host' | 'link' | 'site' | number;

export interface AddressSpec {
  address: string;
  prefixLength: number;
  broadcast?: string;
  label?: string;
  scope?: AddressScope;
  noprefixroute?: boolean;
  /** IPv6 only: skip duplicate address detection (default true, as keepalived does for VIPs). */
  nodad?: boolean;
  /**
   * IPv6 only: add with preferred lifetime 0 so the kernel does not pick it as a source address
   * (keepalived does this for /128 VIPs so health checks do not originate from the VIP).
   */
  deprecated?: boolean;
}

export interface InterfaceAddress {
  family: 4 | 6;
  address: string;
  prefixLength: number;
  broadcast?: string;
  label?: string;
  /** Numeric rtnetlink scope: 0 global, 200 site, 253 link, 254 host. */
  scope: number;
  secondary: boolean;
  tentative: boolean;
}

export interface LinkChange {
  ifname: string;
  ifindex: number;
  /** IFF_UP and IFF_RUNNING (administratively up with carrier). */
  up: boolean;
}

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;

const SCOPES: Record<string, number> = { global: 0, site: 200, link: 253, host: 254 };

/** A netlink failure with the errno name as `code` (the package only puts it in the message). */
export function netlinkError(err: unknown, what: string): Error {
  const text = err instanceof Error ? err.message : String(err);
  const code = /Request rejected: (\w+)/.exec(text)?.[1];
  const e = new Error(`${what}: ${code ?? text}`) as Error & { code?: string };
  if (code) e.code = code;
  return e;
}

let shared: RtNetlinkSocket | undefined;
/** Receive errors on the shared request socket (ENOBUFS after a burst); its requests time out or fail on their own. */
export let requestSocketErrors = 0;

/**
 * One request at a time on a socket. A dump's reply spans several datagrams, which the kernel produces as
 * the socket is read; a second dump on the same socket fails with EBUSY, and any other reply read between
 * two parts of a dump makes the `netlink` package give up on it ("Multipart message not terminated
 * properly"). Queued, every request sees only its own replies. Requests are short (well under a
 * millisecond each), so the queue costs little.
 */
function serialized(sock: RtNetlinkSocket): RtNetlinkSocket {
  let chain: Promise<unknown> = Promise.resolve();
  return new Proxy(sock, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || !/^(get|new|del|set)/.test(prop))
        return value;
      return (...args: unknown[]) => {
        const run = () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        const result = chain.then(run, run);
        chain = result.catch(() => undefined);
        return result;
      };
    },
  });
}

/** One request socket per process (per thread); it does not keep the event loop alive when idle. */
function socket(): RtNetlinkSocket {
  if (!shared) {
    const sock = createRtNetlinkSocket();
    // Without a listener an 'error' event would throw out of the receive callback.
    sock.socket.on('error', () => {
      requestSocketErrors++;
    });
    shared = serialized(sock);
  }
  return shared;
}

/** The shared rtnetlink request socket, for the other src/net modules (routes, rules, VMACs). */
export const rtnetlink = socket;

export async function getLinkByName(ifname: string): Promise<rt.LinkMessage> {
  if (typeof ifname !== 'string' || ifname.length === 0 || ifname.length > 15) {
    throw new TypeError(`invalid interface name: ${JSON.stringify(ifname)}`);
  }
  let links: rt.LinkMessage[];
  try {
    links = await socket().getLink({}, { ifname });
  } catch (err) {
    throw netlinkError(err, `interface ${ifname}`);
  }
  if (links.length !== 1 || typeof links[0].data.index !== 'number') {
    throw Object.assign(new Error(`interface ${ifname}: ENODEV`), { code: 'ENODEV' });
  }
  return links[0];
}

export async function ifindex(ifname: string): Promise<number> {
  return (await getLinkByName(ifname)).data.index!;
}

/** The interface's hardware address as "aa:bb:cc:dd:ee:ff". */
export async function macAddress(ifname: string): Promise<string> {
  const link = await getLinkByName(ifname);
  const mac = link.attrs.address;
  if (mac?.length !== 6) {
    throw Object.assign(new Error(`interface ${ifname} has no Ethernet address`), { code: 'EINVAL' });
  }
  return formatMac(mac);
}

export async function listAddresses(ifname: string): Promise<InterfaceAddress[]> {
  const index = await ifindex(ifname);
  let all: rt.AddressMessage[];
  try {
    all = await socket().getAddresses();
  } catch (err) {
    throw netlinkError(err, 'list addresses');
  }
  const out: InterfaceAddress[] = [];
  for (const { data, attrs } of all) {
    // IFA_LOCAL is the local address on point-to-point links; IFA_ADDRESS otherwise.
    const raw = attrs.local ?? attrs.address;
    if (data.index !== index || !raw || (raw.length !== 4 && raw.length !== 16)) continue;
    const flags = attrs.flags ?? data.flags ?? {};
    out.push({
      family: raw.length === 4 ? 4 : 6,
      address: formatIp(raw),
      prefixLength: data.prefixlen ?? 0,
      ...(attrs.broadcast ? { broadcast: formatIp(attrs.broadcast) } : {}),
      ...(attrs.label ? { label: attrs.label } : {}),
      scope: data.scope ?? 0,
      secondary: !!flags.secondary,
      tentative: !!flags.tentative,
    });
  }
  return out;
}

function addressRequest(index: number, spec: AddressSpec): { data: rt.Address; attrs: rt.AddressAttrs } {
  const v6 = spec.address.includes(':');
  const bytes = v6 ? parseIpv6(spec.address) : parseIpv4(spec.address);
  const maxPrefix = v6 ? 128 : 32;
  if (!Number.isInteger(spec.prefixLength) || spec.prefixLength < 0 || spec.prefixLength > maxPrefix) {
    throw new TypeError(`prefix length must be 0..${maxPrefix}, got ${spec.prefixLength}`);
  }
  let scope = 0;
  if (typeof spec.scope === 'number') {
    if (!Number.isInteger(spec.scope) || spec.scope < 0 || spec.scope > 255) {
      throw new TypeError(`scope must be 0..255, got ${spec.scope}`);
    }
    scope = spec.scope;
  } else if (spec.scope !== undefined) {
    if (!(spec.scope in SCOPES)) throw new TypeError(`unknown scope ${JSON.stringify(spec.scope)}`);
    scope = SCOPES[spec.scope];
  }
  if (spec.label !== undefined && (spec.label.length === 0 || spec.label.length > 15 || v6)) {
    throw new TypeError('label must be 1..15 characters and is IPv4 only');
  }
  const flags: rt.AddressFlags = {};
  if (spec.noprefixroute) flags.noprefixroute = true;
  if (v6 && spec.nodad !== false) flags.nodad = true;
  const attrs: rt.AddressAttrs = { local: bytes, address: bytes, flags };
  if (spec.broadcast !== undefined) {
    if (v6) throw new TypeError('broadcast is IPv4 only');
    attrs.broadcast = parseIpv4(spec.broadcast);
  }
  if (spec.label !== undefined) attrs.label = spec.label;
  if (spec.deprecated) {
    if (!v6) throw new TypeError('deprecated is IPv6 only');
    attrs.cacheInfo = { ifaPrefered: 0, ifaValid: 0xffffffff };
  }
  return { data: { family: v6 ? 10 : 2, prefixlen: spec.prefixLength, scope, index }, attrs };
}

/** Adds an address; adding one that is already there is not an error. */
export async function addAddress(ifname: string, spec: AddressSpec): Promise<void> {
  const index = await ifindex(ifname);
  const { data, attrs } = addressRequest(index, spec);
  try {
    await socket().newAddress(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
  } catch (err) {
    const e = netlinkError(err, `add ${spec.address}/${spec.prefixLength} to ${ifname}`) as Error & {
      code?: string;
    };
    if (e.code !== 'EEXIST') throw e;
  }
}

/** Removes an address; removing one that is not there is not an error. */
export async function removeAddress(ifname: string, spec: AddressSpec): Promise<void> {
  const index = await ifindex(ifname);
  const { data, attrs } = addressRequest(index, spec);
  try {
    await socket().delAddress(data, { local: attrs.local, address: attrs.address });
  } catch (err) {
    const e = netlinkError(err, `remove ${spec.address}/${spec.prefixLength} from ${ifname}`) as Error & {
      code?: string;
    };
    if (e.code !== 'EADDRNOTAVAIL') throw e;
  }
}

interface LinkWatcherEvents {
  change: [LinkChange];
  error: [Error];
}

/**
 * Emits 'change' whenever an interface's up state (IFF_UP && IFF_RUNNING)
 * changes, as the kernel announces it on RTNLGRP_LINK. A removed interface is
 * reported as down. `ready` resolves once the initial states are known; from
 * then on `isUp(ifname)` answers from the latest notification.
 */
export class LinkWatcher extends EventEmitter<LinkWatcherEvents> {
  readonly ready: Promise<void>;
  /** Link notifications that could not be parsed (dropped). */
  invalidMessages = 0;
  private readonly states = new Map<number, LinkChange>();
  private readonly sock: NetlinkListener;
  private closed = false;

  constructor() {
    super();
    // Subscribe before the dump so no change between the two is lost. The addon's listener, not the netlink
    // package's socket: that one aborts the process when the kernel reports an overrun (ENOBUFS).
    this.sock = NetlinkListener.open(NETLINK_ROUTE, [RTNLGRP.LINK], { rcvbuf: 1 << 20 });
    const held: Buffer[] = [];
    let dumping = true;
    const onDatagram = (d: Buffer) => {
      // The raw message type tells RTM_NEWLINK from RTM_DELLINK; the rt layer drops it.
      for (const m of splitMessages(d)) {
        if (m.type !== RTM_NEWLINK && m.type !== RTM_DELLINK) continue;
        let link: rt.LinkMessage;
        try {
          link = rt.parseLinkMessage(m.data);
        } catch {
          this.invalidMessages++;
          continue;
        }
        if (typeof link.data.index === 'number') this.update(link, m.type === RTM_DELLINK);
      }
    };
    this.sock.start(
      (d) => {
        if (dumping) held.push(d);
        else onDatagram(d);
      },
      (err) => {
        // An overrun: re-read every link so no up/down change is missed.
        if (err.code === 'ENOBUFS') void this.resync();
        else this.emit('error', err);
      },
    );
    this.ready = socket()
      .getLinks()
      .then(
        (links) => {
          for (const l of links) {
            if (typeof l.data.index === 'number') this.states.set(l.data.index, toChange(l, false));
          }
          // Changes read while the dump was in flight are newer than it.
          dumping = false;
          for (const d of held.splice(0)) onDatagram(d);
        },
        (err) => {
          dumping = false;
          throw netlinkError(err, 'list links');
        },
      );
  }

  /** Re-reads all links and reports what changed (after an overrun). */
  private async resync(): Promise<void> {
    let links: rt.LinkMessage[];
    try {
      links = await socket().getLinks();
    } catch (err) {
      if (!this.closed) this.emit('error', netlinkError(err, 'list links'));
      return;
    }
    const seen = new Set<number>();
    for (const l of links) {
      if (typeof l.data.index !== 'number') continue;
      seen.add(l.data.index);
      this.update(l, false);
    }
    for (const [index, s] of [...this.states]) {
      if (!seen.has(index)) {
        this.states.delete(index);
        if (s.up) this.emit('change', { ...s, up: false });
      }
    }
  }

  private update(m: rt.LinkMessage, deleted: boolean): void {
    const next = toChange(m, deleted);
    const prev = this.states.get(next.ifindex);
    if (deleted) this.states.delete(next.ifindex);
    else this.states.set(next.ifindex, next);
    if (!prev || prev.up !== next.up || prev.ifname !== next.ifname) this.emit('change', next);
  }

  /** Latest known state, or undefined for an unknown interface. */
  isUp(ifname: string): boolean | undefined {
    for (const s of this.states.values()) if (s.ifname === ifname) return s.up;
    return undefined;
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

function toChange(m: rt.LinkMessage, deleted: boolean): LinkChange {
  const flags = m.data.flags ?? {};
  return {
    ifname: m.attrs.ifname ?? `if${m.data.index}`,
    ifindex: m.data.index!,
    up: !deleted && !!flags.up && !!flags.running,
  };
}
