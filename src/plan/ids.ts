/**
 * Typed identities of the things halo manages, in one place: a virtual server (by address, fwmark or
 * group, always with its family and, where the kernel keys on it, its protocol), a real server inside a
 * virtual server, a checker of a real server, a VRRP instance.
 *
 * Every engine, event, log field, metric label and status line names objects through these. Each id has
 * an opaque map key (`...Key`) for Maps and Sets: keys are built here and compared for equality, never
 * parsed back (there is no function from a key to an id; keep the id beside the key instead). People
 * see ids through `describe...()`, in keepalived's own spelling.
 *
 * Why protocol is part of an address virtual server's identity: a DNS service is normally a TCP and a UDP
 * virtual server on the same address and port; they are two kernel services with their own real servers
 * and checkers. A fwmark service is keyed by (family, mark) only, as in the kernel.
 */

export type Family = 4 | 6;
export type Protocol = 'tcp' | 'udp' | 'sctp';

declare const keyBrand: unique symbol;
/** An opaque, stable map key for one kind of id. */
export type Key<Kind extends string> = string & { readonly [keyBrand]: Kind };

export type VirtualServerId =
  | {
      readonly kind: 'address';
      readonly family: Family;
      readonly protocol: Protocol;
      /** Canonical text (IPv4 dotted quad, IPv6 RFC 5952). */
      readonly address: string;
      readonly port: number;
    }
  | { readonly kind: 'fwmark'; readonly family: Family; readonly fwmark: number }
  | { readonly kind: 'group'; readonly family: Family; readonly protocol: Protocol; readonly group: string };

export interface RealServerId {
  readonly vs: VirtualServerId;
  /** Canonical text. */
  readonly address: string;
  /** The effective port (the service's port when the config gave none; 0 for fwmark services). */
  readonly port: number;
}

export interface CheckerId {
  readonly rs: RealServerId;
  /** Position among the real server's checkers, in config order. */
  readonly index: number;
}

/** VRRP instances are named by the operator; the name is their identity across reloads. */
export type InstanceName = string;

export type VirtualServerKey = Key<'virtual-server'>;
export type RealServerKey = Key<'real-server'>;
export type CheckerKey = Key<'checker'>;

export function virtualServerKey(id: VirtualServerId): VirtualServerKey {
  switch (id.kind) {
    case 'address':
      return `a/${id.family}/${id.protocol}/${id.address}/${id.port}` as VirtualServerKey;
    case 'fwmark':
      return `f/${id.family}/${id.fwmark}` as VirtualServerKey;
    case 'group':
      return `g/${id.family}/${id.protocol}/${id.group}` as VirtualServerKey;
  }
}

export function realServerKey(id: RealServerId): RealServerKey {
  return `${virtualServerKey(id.vs)}|${id.address}/${id.port}` as RealServerKey;
}

export function checkerKey(id: CheckerId): CheckerKey {
  return `${realServerKey(id.rs)}#${id.index}` as CheckerKey;
}

function hostPort(address: string, port: number): string {
  return `[${address}]:${port}`;
}

/**
 * keepalived 2.x's spelling: `[10.0.0.2]:tcp:80` (brackets for both families), `FWM 1`, `[group]`.
 * Logs, metric labels and status use the same text so one string finds a service everywhere.
 */
export function describeVirtualServer(id: VirtualServerId): string {
  switch (id.kind) {
    case 'address':
      return `[${id.address}]:${id.protocol}:${id.port}`;
    case 'fwmark':
      return `FWM ${id.fwmark}`;
    case 'group':
      return `[${id.group}]`;
  }
}

/** `[10.0.1.5]:tcp:80` for address services; `[10.0.1.5]:80` where the service has no protocol (fwmark). */
export function describeRealServer(id: RealServerId): string {
  return id.vs.kind === 'fwmark'
    ? hostPort(id.address, id.port)
    : `[${id.address}]:${id.vs.protocol}:${id.port}`;
}

/** `[10.0.0.100]:tcp:80 / [10.0.1.5]:tcp:80 #0` */
export function describeChecker(id: CheckerId): string {
  return `${describeVirtualServer(id.rs.vs)} / ${describeRealServer(id.rs)} #${id.index}`;
}

/** The real server as the `address:port` pair metrics and status show beside the virtual server. */
export function realServerEndpoint(id: RealServerId): string {
  return id.address.includes(':') ? `[${id.address}]:${id.port}` : `${id.address}:${id.port}`;
}
