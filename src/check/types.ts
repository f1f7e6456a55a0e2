/**
 * Plain data the health-check engine works on: what to check (targets) and
 * when (timing), independent of the config syntax. src/plan/check.ts builds
 * the plan from the normalised config model; tests and benchmarks build it
 * directly.
 */

import type { CHECKER_TYPES } from '../config/model.js';
import type {
  CheckerId,
  CheckerKey,
  RealServerId,
  RealServerKey,
  VirtualServerId,
  VirtualServerKey,
} from '../plan/ids.js';
import type { AddressRange } from './ha-suspend.js';

/** The checker kinds, as the config model names them (one list for the whole project). */
export type CheckerType = (typeof CHECKER_TYPES)[number];

/** What one check attempt reports. `weight` only for MISC_CHECK with misc_dynamic. */
export interface CheckResult {
  ok: boolean;
  reason: string;
  /** The attempt failed because a timeout ran out (metrics count these apart from other failures). */
  timedOut?: boolean;
  weight?: number;
}

/** Connection options shared by the network checkers (keepalived conn_opts_t). */
export interface ConnectOptions {
  /** Destination address (connect_ip, else the real server's address). */
  host: string;
  /** Destination port (connect_port, else the real server's port). */
  port: number;
  /** bindto: local source address. */
  bindTo?: string;
  /** bind_port: local source port. */
  bindPort?: number;
  /** bind_if: needed for link-local IPv6 destinations. */
  bindIf?: string;
  /** connect_timeout in ms; keepalived applies it to each I/O step (connect, write, each read). */
  connectTimeoutMs: number;
}

export interface TcpTarget extends ConnectOptions {
  type: 'TCP_CHECK';
}

/**
 * url { regex ... }: what the body must match (or, with regex_no_match, must
 * not). keepalived compiles the pattern with PCRE2; halo translates it to a
 * JS RegExp when the plan is built (src/check/pcre.ts), so the checker only
 * runs `exec`.
 */
export interface HttpRegexTarget {
  /** JS RegExp source (translated from the PCRE2 pattern). */
  source: string;
  /** JS flags from regex_options: i (caseless), m (multiline), s (dotall), u (utf). 'g' is the checker's. */
  flags: string;
  /** regex_no_match: the attempt fails when the body matches. */
  noMatch: boolean;
  /** regex_min_offset: first body byte a match may start at (0 = the start of the body). */
  minOffset: number;
  /** regex_max_offset: last body byte a match may start at; undefined = no limit (within the read bound). */
  maxOffset?: number;
  /** regex_options firstline: the match must start at or before the first newline after minOffset. */
  firstLine: boolean;
  /** regex_options utf: the body is UTF-8 text; otherwise one character per byte (as PCRE2 sees it). */
  utf8: boolean;
}

export interface HttpUrlTarget {
  path: string;
  /** Lower-case MD5 hex of the body, if the url has a digest. */
  digest?: string;
  /** Accepted status code ranges, inclusive. */
  statusCodes: Array<{ from: number; to: number }>;
  virtualhost?: string;
  regex?: HttpRegexTarget;
}

export type HttpProtocol = '1.0' | '1.0C' | '1.0K' | '1.1';

export interface HttpTarget extends ConnectOptions {
  type: 'HTTP_GET' | 'SSL_GET';
  urls: HttpUrlTarget[];
  /** Host header: url virtualhost, else this (checker -> real server -> virtual server chain, resolved by the mapper). */
  virtualhost?: string;
  httpProtocol: HttpProtocol;
  /** SSL_GET: send SNI (the virtualhost) in the TLS handshake. */
  enableSni?: boolean;
}

export interface MiscTarget {
  type: 'MISC_CHECK';
  /** The command line (split like keepalived) or an argv. */
  command: string | string[];
  /** misc_timeout in ms (keepalived default: the virtual server's delay_loop). */
  timeoutMs: number;
  /** misc_dynamic: exit 2..255 sets the weight to code-2. */
  dynamic: boolean;
  user?: string;
  group?: string;
  /** enable_script_security: refuse scripts that non-root users can modify. */
  scriptSecurity?: boolean;
}

export interface PingTarget {
  type: 'PING_CHECK';
  host: string;
  connectTimeoutMs: number;
  bindIf?: string;
}

export interface UdpTarget extends ConnectOptions {
  type: 'UDP_CHECK';
  /** Payload to send; keepalived sends 32 filler bytes when none is configured. */
  payload?: Buffer;
  /** Without require_reply, silence until the timeout is a success (only an ICMP error fails). */
  requireReply: boolean;
  /** Expected leading bytes of the reply (compared over min(len(reply), len(pattern))). */
  replyPattern?: Buffer;
  /** Mask of bits to ignore in the comparison (keepalived's reply_mask). */
  replyMask?: Buffer;
  /**
   * min_reply_length / max_reply_length (default 0 / 255). keepalived checks
   * them only when a reply pattern is given (check_udp.c udp_check_thread).
   */
  minReplyLength: number;
  maxReplyLength: number;
}

export type DnsQueryType = 'A' | 'NS' | 'CNAME' | 'SOA' | 'MX' | 'TXT' | 'AAAA' | 'RRSIG' | 'DNSKEY';

export interface DnsTarget extends ConnectOptions {
  type: 'DNS_CHECK';
  queryType: DnsQueryType;
  /** Query name; '' or '.' is the root. */
  name: string;
}

export interface SmtpTarget extends ConnectOptions {
  type: 'SMTP_CHECK';
  heloName: string;
}

/**
 * FILE_CHECK (keepalived check_file.c, trackers/track_file.c): not polled.
 * The file holds an integer; status = value x weight (x -1 with reverse).
 * With weight 0, a non-zero value (a zero one with reverse) takes the
 * checker down; otherwise the status is added to the real server's weight,
 * and a status at or below -2^31 (keepalived's IPVS_WEIGHT_FAULT) takes it
 * down.
 */
export interface FileTarget {
  type: 'FILE_CHECK';
  /** The track_file block's name (for reasons and logs). */
  name: string;
  /** The file it watches (track_file `file`). */
  path: string;
  /** FILE_CHECK weight, else the track_file's (default 1). */
  weight: number;
  /** weight ... reverse. */
  reverse: boolean;
  /** track_file init_file: write VALUE at start when the file is missing (or always with overwrite). */
  initFile?: { value: number; overwrite: boolean };
}

export type CheckTarget =
  | FileTarget
  | TcpTarget
  | HttpTarget
  | MiscTarget
  | PingTarget
  | UdpTarget
  | DnsTarget
  | SmtpTarget;

/** Fully resolved timing of one checker (all ms), after inheritance and defaults. */
export interface CheckTiming {
  delayLoopMs: number;
  delayBeforeRetryMs: number;
  retry: number;
  /** First run is at start + bootstrap + random(0..warmupMs). */
  warmupMs: number;
  /** alpha: the checker starts down, so its real server starts down. */
  alpha: boolean;
}

export interface PlanChecker {
  /** Unique across the plan (an opaque map key: never parsed). */
  key: CheckerKey;
  id: CheckerId;
  /** Unused for FILE_CHECK (it has no attempts; keepalived also clears its alpha). */
  timing: CheckTiming;
  target: CheckTarget;
  /** HTTP_GET/SSL_GET fast_recovery: a down checker re-checks at once after a success. */
  fastRecovery?: boolean;
  /** log_all_failures (or global checker_log_all_failures): log every failed attempt, not only state changes. */
  logAllFailures?: boolean;
}

export interface PlanRealServer {
  /** Unique across the plan (an opaque map key: never parsed). */
  key: RealServerKey;
  id: RealServerId;
  /** Configured weight (keepalived iweight); misc_dynamic results override it. */
  weight: number;
  checkers: PlanChecker[];
}

export interface PlanVirtualServer {
  key: VirtualServerKey;
  id: VirtualServerId;
  /** omega: run the down notifications for alive real servers when halo stops. */
  omega: boolean;
  realServers: PlanRealServer[];
  /**
   * ha_suspend: the checkers run only while one of these addresses is on
   * this host (src/check/ha-suspend.ts). Undefined: never suspended.
   */
  haSuspend?: AddressRange[];
}

export interface CheckPlan {
  virtualServers: PlanVirtualServer[];
}
