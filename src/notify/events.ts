/**
 * What the engines tell the alert channels (mail, notify FIFOs), as typed events.
 *
 * Each event is raised where keepalived 2.2.7 raises the same notification, so the
 * engines decide *when* (they own the state) and src/notify decides *what is said
 * and to whom* (it owns the config rules and the wording):
 *  - `vrrp-instance` / `vrrp-group`: where keepalived calls send_instance_notifies /
 *    send_group_notifies (vrrp_notify.c), i.e. where halo runs notify_master/backup/...
 *    An instance in a sync group that is already in its group's state after its first
 *    notification raises nothing, as keepalived.
 *  - `vrrp-master-rx-lower-pri`: a master received a lower-priority advert (vrrp.c).
 *  - `checker`: a checker's result was applied (check_*.c, after update_svr_checker_state).
 *  - `real-server`: a real server went up or down, or its first check confirmed a down
 *    state (ipwrapper.c do_rs_notifies).
 *  - `real-server-removed`: an alive real server leaves IPVS because the config no longer
 *    has it (reload) or halo stops (ipwrapper.c clear_service_rs).
 *  - `quorum`: a virtual server gained or lost quorum, started with it, or stops
 *    (ipwrapper.c do_vs_notifies).
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A virtual server as keepalived names it: an address, a firewall mark or a virtual_server_group. */
export type VirtualServerRef =
  | { address: string; port: number; protocol: Protocol }
  | { fwmark: number; protocol: Protocol }
  | { group: string; port: number; protocol: Protocol };

export interface RealServerRef {
  address: string;
  port: number;
}

/** The states keepalived's notify FIFO and mails name for an instance. */
export type InstanceNotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED';
export type GroupNotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export type CheckerKind =
  | 'TCP_CHECK'
  | 'HTTP_GET'
  | 'SSL_GET'
  | 'MISC_CHECK'
  | 'PING_CHECK'
  | 'UDP_CHECK'
  | 'DNS_CHECK'
  | 'SMTP_CHECK'
  | 'FILE_CHECK'
  | 'BFD_CHECK';

export interface VrrpInstanceEvent {
  type: 'vrrp-instance';
  instance: string;
  state: InstanceNotifyState;
  /** The effective priority (what keepalived prints; 0 at STOP is not forced). */
  priority: number;
}

export interface VrrpGroupEvent {
  type: 'vrrp-group';
  group: string;
  state: GroupNotifyState;
}

export interface VrrpMasterRxLowerPriEvent {
  type: 'vrrp-master-rx-lower-pri';
  instance: string;
  priority: number;
}

export interface CheckerEvent {
  type: 'checker';
  virtualServer: VirtualServerRef;
  realServer: RealServerRef;
  checker: CheckerKind;
  /** The checker's state before and after this result. */
  wasUp: boolean;
  up: boolean;
  /** This was the checker's first result since start (keepalived's !has_run). */
  firstRun: boolean;
  /** The real server's state (all its checkers up) before and after this result. */
  realServerWasUp: boolean;
  realServerUp: boolean;
  /** MISC_CHECK: the script was killed at misc_timeout ("timed out" instead of "failed"). */
  timedOut?: boolean;
  /** SMTP_CHECK: what failed (keepalived puts it in the mail: "CHECK failed on service : DETAIL"). */
  detail?: string;
}

export interface RealServerEvent {
  type: 'real-server';
  virtualServer: VirtualServerRef;
  realServer: RealServerRef;
  up: boolean;
}

export interface RealServerRemovedEvent {
  type: 'real-server-removed';
  virtualServer: VirtualServerRef;
  realServer: RealServerRef;
  /** true: halo is stopping ("Shutting down"); false: a reload removed it ("Removing"). */
  stopping: boolean;
}

export interface QuorumEvent {
  type: 'quorum';
  virtualServer: VirtualServerRef;
  up: boolean;
  /** The first evaluation at start ("Starting with quorum up/down"). */
  init: boolean;
  /** halo is stopping (only reported for `omega` virtual servers, as keepalived). */
  stopping: boolean;
  /** quorum -/+ hysteresis, as compared. */
  threshold: number;
  /** Sum of the weights of the live real servers. */
  weightSum: number;
}

export type AlertEvent =
  | VrrpInstanceEvent
  | VrrpGroupEvent
  | VrrpMasterRxLowerPriEvent
  | CheckerEvent
  | RealServerEvent
  | RealServerRemovedEvent
  | QuorumEvent;

/* ------------------------------------------------------------------ keepalived's service words */

/** keepalived prints IPv6 addresses in their compressed, lower-case form (inet_ntop). */
function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

const protocolWord = (p: Protocol): string => p.toLowerCase();

/**
 * keepalived 2.2.7's FMT_VS (check_data.c format_vs): `[10.0.0.1]:tcp:80`, `FWM 7`, `[group]:0`.
 * The text is raw: callers escape it for their channel.
 */
export function formatVirtualServer(vs: VirtualServerRef): string {
  if ('fwmark' in vs) return `FWM ${vs.fwmark}`;
  if ('group' in vs) return `[${vs.group}]:${vs.port}`;
  return `[${canonicalAddress(vs.address)}]:${protocolWord(vs.protocol)}:${vs.port}`;
}

/** keepalived 2.2.7's FMT_RS: the real server's address and port with the virtual server's protocol. */
export function formatRealServer(rs: RealServerRef, vs: VirtualServerRef): string {
  return `[${canonicalAddress(rs.address)}]:${protocolWord(vs.protocol)}:${rs.port}`;
}
