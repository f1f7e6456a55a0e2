/**
 * The VRRP instance state machine: pure, sans-IO. Behaviour anchor: keepalived 2.2.7 (vrrp.c, vrrp_scheduler.c,
 * vrrp_track.c), RFC 3768 (v2) and RFC 5798 / RFC 9568 (v3). Where keepalived and the RFC differ we follow
 * keepalived (halo must interoperate with it and operators expect its behaviour); each place says so below.
 *
 * ## How the I/O shell drives it
 *
 *   let s = createInstance(params);                          // state INIT, no deadline
 *   ({ state: s, actions } = step(s, { type: 'start', tracking }, now));   // tracking: evaluateTracking(...) result
 *   loop:
 *     - a VRRP packet arrived for this VRID:     step(s, { type: 'packet', packet }, now)
 *         packet = { data (L4 payload), family, source, destination, ttl, protocol?, ipHeaderLength?, ipTotalLength? }
 *         (route packets with VrrpDispatcher from ./dispatch.js; unknown VRIDs are the shell's to count)
 *     - now >= nextDeadline(s):                  step(s, { type: 'timer' }, now)
 *     - tracking changed (link up/down, vrrp_script rise/fall, track_file value):
 *                                                step(s, { type: 'track', ...evaluateTracking(cfg, inputs) }, now)
 *     - shutting down:                           step(s, { type: 'stop' }, now)
 *   and execute every returned action, in order:
 *     send-advert  -> for each packets[i]: RawSocket.send(data, destination, { source }) (TTL 255, TOS 0xc0)
 *     add-vips / remove-vips -> rtnetlink address add / remove (the shell knows prefix, label, ...)
 *     send-garp    -> `count` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for each address, now
 *     transition   -> log `message` (keepalived's words), update status / metrics
 *     notify       -> run notify scripts / FIFO (state MASTER | BACKUP | FAULT | STOP)
 *     notify-event -> e.g. notify_master_rx_lower_pri
 *     log          -> log `message`
 *     drop         -> a received packet was rejected: count / log `reason` (already counted in state.stats)
 *
 * `nowMs` is any monotonic millisecond clock (performance.now()); the core never reads a clock itself. Times are
 * plain numbers so tests use a fake clock. `nextDeadline(s)` is the earliest time the shell must call `timer`
 * (undefined: no timer needed); calling `timer` early or twice is harmless.
 *
 * Sync groups: drive member instances through src/vrrp/sync-group.ts (stepSyncGroup) instead of step().
 *
 * ## Where keepalived 2.2.7 and the RFCs differ (we follow keepalived unless noted; details at each place)
 *   - A MASTER answers a lower-priority advert with an immediate advert (+ garp_lower_prio GARPs); the RFCs
 *     just discard it. `lower_prio_no_advert` restores the RFC behaviour.
 *   - `state MASTER` below priority 255 starts as BACKUP and waits the full master-down interval (only the
 *     address owner starts as MASTER at once, via a 1 us master-down timer).
 *   - Unicast mode (not in the RFCs): no TTL check unless check_unicast_src, then the peer's min/max TTL.
 *   - preempt_delay, nopreempt handling, garp_master_delay/repeat/refresh: keepalived features.
 *   - Deviations from keepalived (robustness): a MASTER's advert timer is only re-armed when it actually sends
 *     (keepalived re-arms it on any received packet, even a rejected one); a v3 master advertising interval 0
 *     is treated as 10 ms; Master_Adver_Interval is reset to ours when becoming MASTER (RFC 5798; keepalived
 *     only does it with detailed logging on); one priority-0 advert on MASTER->FAULT (keepalived sends two).
 *
 * ## Mapping from the config model (src/config/model.ts VrrpInstance, normalised)
 *   name, virtualRouterId, priority, advertIntervalMs, version, family, preempt, preemptDelayMs, state,
 *   unicastPeers, garp*, lowerPrioNoAdvert, higherPrioSendAdvert, skipCheckAdvAddr, checkUnicastSrc: same names;
 *   authentication: same shape (PASS is sent and checked; v3 ignores it, as keepalived does);
 *   virtualIpaddresses[].address (of the instance's family) -> virtualAddresses (advertised);
 *   virtualIpaddressesExcluded[].address + VIPs of the other family -> excludedAddresses (added, not advertised);
 *   sourceAddress = unicastSrcIp ?? mcastSrcIp ?? the interface's primary address (resolved by the shell);
 *   multicastGroup = global vrrpMcastGroup4 / vrrpMcastGroup6; downTimerAdverts = global vrrpDownTimerAdverts.
 *   `state` should be left undefined when the config did not say (keepalived then derives it from priority 255).
 */
import { canonicalIp, compareIpText, type IpFamily } from './addr.js';
import {
  type AdvertExpectations,
  type DropReason,
  emptyDropCounters,
  encodeAdvert,
  type ReceivedAdvertPacket,
  VRRP_MULTICAST_V4,
  VRRP_MULTICAST_V6,
  type VrrpAdvert,
  validateAdvert,
} from './codec.js';
import { PRIORITY_OWNER } from './tracking.js';

export type VrrpStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

export interface UnicastPeerParams {
  address: string;
  minTtl?: number;
  maxTtl?: number;
}

export interface VrrpInstanceParams {
  /** Instance name, used in every message: "(VI_1) Entering MASTER STATE". */
  name: string;
  virtualRouterId: number;
  version: 2 | 3;
  family: IpFamily;
  /** Configured (base) priority 1..255; 255 = address owner. */
  priority: number;
  advertIntervalMs: number;
  /** Configured initial state; undefined = derived from priority (255 -> MASTER), as keepalived does. */
  state?: 'MASTER' | 'BACKUP';
  /** false = nopreempt. */
  preempt: boolean;
  preemptDelayMs: number;
  /** v2 only (keepalived ignores auth for v3). AH can be configured in keepalived but halo cannot verify it. */
  authentication?: { type: 'PASS' | 'AH'; password: string };
  /** The same in the core's own spelling (kept for existing callers); `authentication` wins when both are set. */
  auth?: { type: 'pass' | 'ah'; password: string };
  /** Advertised VIPs (same family as the instance). */
  virtualAddresses: string[];
  /** Added with the VIPs but not advertised (virtual_ipaddress_excluded, other-family VIPs). */
  excludedAddresses?: string[];
  /** Source address of our adverts, and our side of the equal-priority tie-break. */
  sourceAddress: string;
  /** Non-empty = unicast mode. */
  unicastPeers?: UnicastPeerParams[];
  multicastGroup?: string;
  checkUnicastSrc?: boolean;
  skipCheckAdvAddr?: boolean;
  garpMasterDelayMs?: number;
  garpMasterRepeat?: number;
  garpMasterRefreshMs?: number;
  garpMasterRefreshRepeat?: number;
  garpLowerPrioDelayMs?: number;
  garpLowerPrioRepeat?: number;
  /** Spacing the shell should leave between the gratuitous ARPs / unsolicited NAs of one burst. */
  garpIntervalMs?: number;
  gnaIntervalMs?: number;
  lowerPrioNoAdvert?: boolean;
  higherPrioSendAdvert?: boolean;
  downTimerAdverts?: number;
  /**
   * vrrp_strict / strict_mode: an advert whose address list differs from ours is dropped (RFC 3768/5798
   * and keepalived 2.2.7). Without it halo lets such an advert count for the election and reports the
   * drift once per change (RFC 5798 6.4.2 makes the check a MAY), so a rolling VIP change across a pair
   * cannot make both sides MASTER.
   */
  strictMode?: boolean;
  /** v3/IPv4: checksum without the pseudo-header: RFC 9568, Cisco/Juniper, keepalived >= 2.2.8 `v3_checksum_as_v2`. */
  v3ChecksumAsV2?: boolean;
  /**
   * v3/IPv4 unicast: keepalived's `old_unicast_checksum`. 'auto' (default): standard checksum, switching to the
   * old one (pseudo-header destination = 224.0.0.18) if a peer is seen using it; 'never': no auto switch;
   * 'always': old checksum from the start.
   */
  unicastChecksumCompat?: 'auto' | 'never' | 'always';
}

/**
 * Make-before-break: after the new master's first advert we keep the VIPs for its advert interval (or its
 * second advert), at most this long: long enough for it to add them and send its gratuitous ARPs even on a
 * loaded host, short enough that a stop with 1 s adverts does not wait a whole second more.
 */
export const HANDOVER_LINGER_MAX_MS = 250;

/** keepalived defaults for the optional parameters. */
export const INSTANCE_DEFAULTS = {
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
  garpMasterRefreshMs: 0,
  garpMasterRefreshRepeat: 1,
  // keepalived: vrrp_garp_lower_prio_rep / _delay default to vrrp_garp_rep / vrrp_garp_delay (vrrp_complete_init)
  garpLowerPrioDelayMs: 5000,
  garpLowerPrioRepeat: 5,
  downTimerAdverts: 3,
} as const;

export interface VrrpStats {
  advertsReceived: number;
  advertsSent: number;
  priorityZeroReceived: number;
  priorityZeroSent: number;
  becameMaster: number;
  releasedMaster: number;
  drops: Record<DropReason, number>;
}

export interface VrrpInstanceState {
  params: VrrpInstanceParams;
  state: VrrpStateName;
  /** keepalived's wantstate: the state this instance would be in disregarding its sync group. */
  wantState: 'MASTER' | 'BACKUP' | 'FAULT';
  /** Base priority; only differs from params.priority after two address owners met (keepalived drops to 254). */
  basePriority: number;
  effectivePriority: number;
  /** Our own trackers (interfaces, scripts, files) say FAULT. */
  trackFault: boolean;
  faultReasons: string[];
  /** Master_Adver_Interval: ours, or (v3, in BACKUP) the master's advertised one. */
  masterAdverIntMs: number;
  /** keepalived's ms_down_timer: the interval last used to arm the BACKUP timer. */
  msDownTimerMs: number;
  /** keepalived's sands: BACKUP -> master-down expiry; MASTER -> next advert. */
  timerAt?: number;
  /** preempt_delay end (keepalived preempt_time), set by the first lower-priority advert seen. */
  preemptAt?: number;
  garpDelayAt?: number;
  garpRefreshAt?: number;
  garpLowerPrioAt?: number;
  masterAddress?: string;
  masterPriority?: number;
  vipsSet: boolean;
  /** v3/IPv4 unicast old checksum in use (configured 'always' or auto-detected). */
  oldUnicastChecksum: boolean;
  /** vrrp_startup_delay: until then, BACKUP timers count from this time (keepalived vrrp_delayed_start_time). */
  delayedStartUntil?: number;
  /** The last peer advert whose address list differed from ours (reported once per change). */
  peerDrift?: { peer: string; theirs: string[] };
  /**
   * Another router advertises as MASTER while we are MASTER (two masters: a partition healing, a
   * misconfigured peer): who, and when we last heard it. Cleared when we stop being MASTER or it goes
   * quiet for a master-down interval.
   */
  splitBrain?: { peer: string; priority: number; lastHeardAt: number };
  /** When we last became MASTER (to tell a preemption handoff from two masters). */
  masterSince?: number;
  /**
   * A lower-priority master whose adverts this BACKUP discards in order to preempt it (cleared by any
   * accepted advert): when the master-down timer then fires, the takeover is a preemption, not a master
   * that went silent, and the log says so.
   */
  preempting?: { address: string; priority: number };
  /**
   * Make-before-break (a planned stop, `halo failover`, maintenance): we sent priority 0 and keep the VIPs,
   * answering for them, until another router advertises as MASTER (or the deadline passes); then the VIPs
   * go. 'stop' ends in STOP, 'yield' in BACKUP.
   */
  handover?: {
    kind: 'stop' | 'yield';
    deadline: number;
    deleted: boolean;
    /** The router that announced itself as the new MASTER, and when our VIPs go (see onPacketMaster). */
    successor?: string;
    releaseAt?: number;
  };
  /**
   * Held in BACKUP by an operator. 'failover': no preemption (a lower-priority master is accepted), but a
   * master that goes silent is still taken over, so the VIPs are never left without a master.
   * 'maintenance': never MASTER, whatever happens to the peer.
   */
  hold?: HoldKind;
  /** The maintenance hold already said it kept us from taking over (said once per silence). */
  holdNoted?: boolean;
  stats: VrrpStats;
}

export type HoldKind = 'failover' | 'maintenance';

export interface TrackingUpdate {
  effectivePriority: number;
  fault: boolean;
  faultReasons?: string[];
}

export type VrrpEvent =
  | ({ type: 'start' } & Partial<{ tracking: TrackingUpdate; delayedStartUntil: number }>)
  | { type: 'timer' }
  | { type: 'packet'; packet: ReceivedAdvertPacket }
  | ({ type: 'track' } & TrackingUpdate)
  /** Shutting down; `deleted`: a reload removed the instance from the config (notify DELETED, not STOP). */
  /** handover: make-before-break (keep the VIPs until a new master announces itself); else keepalived's release. */
  | { type: 'stop'; deleted?: boolean; handover?: boolean }
  /** Hand mastership to a peer (make-before-break) and go BACKUP; nothing happens unless MASTER. */
  | { type: 'handover' }
  /** Set or clear an operator's hold in BACKUP (see VrrpInstanceState.hold). */
  | { type: 'hold'; hold: HoldKind | undefined }
  /**
   * A reload changed settings that apply in place (priority, VIPs, advert interval, preemption, peers,
   * garp settings, ...): no state change; a MASTER adds / removes the VIPs that came / went, announces the
   * new ones and advertises the new list at once. The shell sends a `track` event next with the new
   * base priority. Identity changes (VRID, family, version, mode) are a restart, not this.
   */
  | { type: 'reconfigure'; params: VrrpInstanceParams }
  /** Sync-group internal (sync-group.ts): keepalived's vrrp_sync_master / _backup / _fault on this member. */
  | { type: 'sync-master' }
  | { type: 'sync-backup' }
  | { type: 'sync-fault' }
  /** Another member (as MASTER) received a lower-priority advert: send our garp_lower_prio burst too. */
  | { type: 'sync-lower-prio-garp' };

export type TransitionReason =
  | 'startup'
  | 'master-down-timeout'
  | 'higher-priority-advert'
  /** A higher-priority backup took over from a lower-priority master it had waited out (preemption). */
  | 'preempt'
  | 'fault'
  | 'fault-recovered'
  | 'sync-group'
  | 'shutdown'
  /** Make-before-break: a new master announced itself after our priority 0 advert. */
  | 'handover';

export type GarpReason =
  | 'master'
  | 'master-delayed'
  | 'refresh'
  | 'lower-priority'
  | 'lower-priority-delayed';

export type VrrpAction =
  | {
      type: 'send-advert';
      priority: number;
      advertIntervalMs: number;
      addresses: string[];
      source: string;
      packets: { destination: string; data: Buffer }[];
      /**
       * The MASTER's regular advert from its advert timer (true), as opposed to one sent because of an event
       * (becoming MASTER, answering a lower-priority advert, priority 0 when leaving): a shell that repeats the
       * adverts on its own clock (src/net/advert-timer.ts) may leave the periodic ones to it.
       */
      periodic: boolean;
    }
  | { type: 'add-vips'; addresses: string[] }
  | { type: 'remove-vips'; addresses: string[] }
  | {
      type: 'send-garp';
      addresses: string[];
      /** How many ARPs (IPv4) / NAs (IPv6) per address, spaced by arpIntervalMs / naIntervalMs. */
      count: number;
      reason: GarpReason;
      arpIntervalMs: number;
      naIntervalMs: number;
    }
  | { type: 'transition'; from: VrrpStateName; to: VrrpStateName; reason: TransitionReason; message: string }
  /** DELETED: the instance was removed from the config by a reload (keepalived VRRP_STATE_DELETED). */
  | { type: 'notify'; state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED'; priority: number }
  | { type: 'notify-event'; event: 'master-rx-lower-pri' }
  | { type: 'log'; level: 'info' | 'warning'; message: string }
  | { type: 'drop'; reason: DropReason; message: string }
  /** A peer advertises another address list than ours (reported once per change; not in strict mode). */
  | { type: 'peer-drift'; peer: string; theirs: string[]; ours: string[] }
  /** The peer's address list matches ours again. */
  | { type: 'peer-drift-cleared'; peer: string }
  /** We are MASTER and another router advertises as MASTER too. */
  | { type: 'split-brain'; peer: string; peerPriority: number; ourPriority: number }
  /** Only one master again (we stepped down, or the other went quiet). */
  | { type: 'split-brain-cleared'; peer: string; how: 'we-stepped-down' | 'peer-quiet' };

export interface StepOptions {
  /** Sync group: may this member become MASTER now (keepalived vrrp_sync_can_goto_master)? Default true. */
  syncCanGoMaster?: boolean;
  /** Sync group: another member is faulted by its own trackers, so this one cannot leave FAULT. */
  syncGroupFault?: boolean;
  /** Sync group state at start-up (keepalived uses the group's state as the initial target). */
  syncGroupState?: 'MASTER' | 'BACKUP' | 'FAULT' | 'INIT';
  /** This instance is a sync group member (goto-master is gated by syncCanGoMaster). */
  inSyncGroup?: boolean;
}

export interface StepResult {
  state: VrrpInstanceState;
  actions: VrrpAction[];
}

/* ------------------------------------------------------------------ helpers */

function opt<K extends keyof typeof INSTANCE_DEFAULTS>(p: VrrpInstanceParams, k: K): number {
  return (p[k] as number | undefined) ?? INSTANCE_DEFAULTS[k];
}

export function isUnicast(p: VrrpInstanceParams): boolean {
  return (p.unicastPeers?.length ?? 0) > 0;
}

export function multicastGroup(p: VrrpInstanceParams): string {
  return p.multicastGroup ?? (p.family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6);
}

function configuredWantState(p: VrrpInstanceParams): 'MASTER' | 'BACKUP' {
  return p.state ?? (p.priority === PRIORITY_OWNER ? 'MASTER' : 'BACKUP');
}

/**
 * Skew_Time in ms, exactly as keepalived's integer-microsecond VRRP_TIMER_SKEW:
 *   v2: (256 - prio) * 1000000 / 256 us               (RFC 3768: (256 - Priority) / 256 s)
 *   v3: (256 - prio) * master_adver_int_cs * 625 / 16 us  (RFC 5798: ((256 - Priority) * Master_Adver_Interval) / 256)
 */
export function skewTimeMs(version: 2 | 3, priority: number, masterAdverIntMs: number): number {
  const p = 256 - priority;
  if (version === 2) return Math.floor((p * 1_000_000) / 256) / 1000;
  const cs = Math.floor(masterAdverIntMs / 10);
  return Math.floor((p * cs * 625) / 16) / 1000;
}

/** Master_Down_Interval = down_timer_adverts (3) * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(
  version: 2 | 3,
  priority: number,
  masterAdverIntMs: number,
  downTimerAdverts = 3,
): number {
  return downTimerAdverts * masterAdverIntMs + skewTimeMs(version, priority, masterAdverIntMs);
}

function skewOf(s: VrrpInstanceState, priority = s.effectivePriority): number {
  return skewTimeMs(s.params.version, priority, s.masterAdverIntMs);
}

function masterDownOf(s: VrrpInstanceState): number {
  return opt(s.params, 'downTimerAdverts') * s.masterAdverIntMs + skewOf(s);
}

/** v2 authentication in effect (keepalived ignores authentication for v3). */
function authOf(p: VrrpInstanceParams): { type: 'pass' | 'ah'; password: string } | undefined {
  if (p.version !== 2) return undefined;
  if (p.authentication) {
    return { type: p.authentication.type === 'PASS' ? 'pass' : 'ah', password: p.authentication.password };
  }
  return p.auth;
}

function allVips(p: VrrpInstanceParams): string[] {
  return [...p.virtualAddresses, ...(p.excludedAddresses ?? [])];
}

function fmtDelay(ms: number): string {
  // keepalived: "%lu.%6.6lu" of seconds and microseconds
  const us = Math.round(ms * 1000);
  return `${Math.floor(us / 1_000_000)}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/* ------------------------------------------------------------------ construction */

/** Canonical addresses and keepalived's config-time rules applied to the parameters. */
function prepareParams(params: VrrpInstanceParams): VrrpInstanceParams {
  if (params.family !== 4 && params.family !== 6) throw new Error(`(${params.name}) bad family`);
  const canon = (a: string) => {
    const c = canonicalIp(a, params.family);
    if (!c) throw new Error(`(${params.name}) ${a} is not an IPv${params.family} address`);
    return c;
  };
  const p: VrrpInstanceParams = {
    ...params,
    virtualAddresses: params.virtualAddresses.map(canon),
    sourceAddress: canon(params.sourceAddress),
    unicastPeers: params.unicastPeers?.map((u) => ({ ...u, address: canon(u.address) })),
  };
  const want = configuredWantState(p);
  // keepalived vrrp_complete_instance(): nopreempt and preempt_delay are cleared with initial state MASTER,
  // and nopreempt with priority 255.
  if (want === 'MASTER' || p.priority === PRIORITY_OWNER) p.preempt = true;
  if (want === 'MASTER' || !p.preempt) p.preemptDelayMs = 0;
  return p;
}

export function createInstance(params: VrrpInstanceParams): VrrpInstanceState {
  const p = prepareParams(params);
  const want = configuredWantState(p);
  return {
    params: p,
    state: 'INIT',
    wantState: want,
    basePriority: p.priority,
    effectivePriority: p.priority,
    trackFault: false,
    faultReasons: [],
    masterAdverIntMs: p.advertIntervalMs,
    msDownTimerMs: 0,
    // all fields present from the start: one object shape for every state (cheaper copies)
    timerAt: undefined,
    preemptAt: undefined,
    garpDelayAt: undefined,
    garpRefreshAt: undefined,
    garpLowerPrioAt: undefined,
    masterAddress: undefined,
    masterPriority: undefined,
    delayedStartUntil: undefined,
    peerDrift: undefined,
    splitBrain: undefined,
    masterSince: undefined,
    vipsSet: false,
    oldUnicastChecksum: p.unicastChecksumCompat === 'always',
    stats: {
      advertsReceived: 0,
      advertsSent: 0,
      priorityZeroReceived: 0,
      priorityZeroSent: 0,
      becameMaster: 0,
      releasedMaster: 0,
      drops: emptyDropCounters(),
    },
  };
}

/** Earliest time the shell must deliver a `timer` event; undefined when none is pending. */
export function nextDeadline(s: VrrpInstanceState): number | undefined {
  let d: number | undefined;
  const quiet = s.splitBrain ? s.splitBrain.lastHeardAt + splitBrainQuietMs(s) : undefined;
  for (const t of [s.timerAt, s.garpDelayAt, s.garpLowerPrioAt, quiet]) {
    if (t !== undefined && (d === undefined || t < d)) d = t;
  }
  return d;
}

/** How long the other master must stay quiet before a split brain counts as over. */
function splitBrainQuietMs(s: VrrpInstanceState): number {
  return opt(s.params, 'downTimerAdverts') * s.params.advertIntervalMs + s.params.advertIntervalMs;
}

/** The validation parameters for received adverts (exported for the shell's diagnostics and for tests). */
export function expectationsOf(s: VrrpInstanceState, checkAddresses: boolean): AdvertExpectations {
  const p = s.params;
  return {
    family: p.family,
    version: p.version,
    vrid: p.virtualRouterId,
    advertIntervalMs: p.advertIntervalMs,
    auth: authOf(p) ?? { type: 'none' },
    virtualAddresses: p.virtualAddresses,
    checkAddresses,
    unicast: isUnicast(p),
    unicastPeers: p.unicastPeers ?? [],
    checkUnicastSrc: p.checkUnicastSrc ?? false,
    v3ChecksumAsV2: p.v3ChecksumAsV2,
    pseudoHeaderDestination: s.oldUnicastChecksum ? VRRP_MULTICAST_V4 : undefined,
    addressMismatch: p.strictMode ? 'drop' : 'report',
  };
}

/* ------------------------------------------------------------------ step */

class Ctx {
  actions: VrrpAction[] = [];
  constructor(
    public s: VrrpInstanceState,
    public now: number,
    public opts: StepOptions,
  ) {}
  private statsCopied = false;
  get n(): string {
    return `(${this.s.params.name})`;
  }
  /** Copy-on-write access to the counters (the previous state object stays untouched). */
  stats(): VrrpStats {
    if (!this.statsCopied) {
      const o = this.s.stats;
      this.s.stats = {
        advertsReceived: o.advertsReceived,
        advertsSent: o.advertsSent,
        priorityZeroReceived: o.priorityZeroReceived,
        priorityZeroSent: o.priorityZeroSent,
        becameMaster: o.becameMaster,
        releasedMaster: o.releasedMaster,
        drops: Object.assign(emptyDropCounters(), o.drops),
      };
      this.statsCopied = true;
    }
    return this.s.stats;
  }
  log(message: string, level: 'info' | 'warning' = 'info') {
    this.actions.push({ type: 'log', level, message: `${this.n} ${message}` });
  }
  transition(to: VrrpStateName, reason: TransitionReason, message: string) {
    const from = this.s.state;
    this.s.state = to;
    this.actions.push({ type: 'transition', from, to, reason, message: `${this.n} ${message}` });
  }
  notify(state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED') {
    this.actions.push({ type: 'notify', state, priority: this.s.effectivePriority });
  }
}

function cloneState(s: VrrpInstanceState): VrrpInstanceState {
  // Shallow copy; stats are copied on first write (Ctx.stats()), faultReasons are replaced, never mutated.
  return { ...s };
}

/** Advance the instance by one event at time nowMs. Never throws on packet input. */
export function step(
  prev: VrrpInstanceState,
  ev: VrrpEvent,
  nowMs: number,
  opts: StepOptions = {},
): StepResult {
  const c = new Ctx(cloneState(prev), nowMs, opts);
  switch (ev.type) {
    case 'start':
      if (ev.delayedStartUntil !== undefined) c.s.delayedStartUntil = ev.delayedStartUntil;
      onStart(c, ev.tracking);
      break;
    case 'timer':
      onTimer(c);
      break;
    case 'packet':
      onPacket(c, ev.packet);
      break;
    case 'track':
      onTrack(c, ev);
      break;
    case 'stop':
      onStop(c, ev.deleted ?? false, ev.handover ?? false);
      break;
    case 'handover':
      if (c.s.state === 'MASTER' && !c.s.handover) beginHandover(c, 'yield', false);
      break;
    case 'hold':
      onHold(c, ev.hold);
      break;
    case 'reconfigure':
      onReconfigure(c, ev.params);
      break;
    case 'sync-master':
      if (
        c.s.state !== 'MASTER' &&
        c.s.state !== 'STOP' &&
        c.s.state !== 'INIT' &&
        !c.s.trackFault &&
        c.s.hold !== 'maintenance'
      ) {
        c.s.wantState = 'MASTER';
        becomeMaster(c, 'sync-group');
      }
      break;
    case 'sync-backup':
      syncBackup(c);
      break;
    case 'sync-fault':
      syncFault(c);
      break;
    case 'sync-lower-prio-garp':
      if (c.s.state === 'MASTER') lowerPrioGarp(c);
      break;
  }
  return { state: c.s, actions: c.actions };
}

/* ------------------------------------------------------------------ sending */

/**
 * The advert this instance sends now at `priority`: one datagram per destination (the multicast group, or each
 * unicast peer). Pure; the shell's native advert timer repeats exactly these bytes between the core's own sends.
 */
export function advertPackets(
  s: VrrpInstanceState,
  priority: number,
): { destination: string; data: Buffer }[] {
  const p = s.params;
  const destinations = isUnicast(p) ? (p.unicastPeers ?? []).map((u) => u.address) : [multicastGroup(p)];
  const advert = {
    version: p.version,
    vrid: p.virtualRouterId,
    priority,
    addresses: p.virtualAddresses,
    advertIntervalMs: p.advertIntervalMs,
    auth:
      authOf(p)?.type === 'pass' ? { type: 'pass' as const, password: authOf(p)?.password ?? '' } : undefined,
  };
  return destinations.map((destination) => ({
    destination,
    data: encodeAdvert(advert, {
      family: p.family,
      source: p.sourceAddress,
      destination,
      v3ChecksumAsV2: p.v3ChecksumAsV2,
      pseudoHeaderDestination: s.oldUnicastChecksum ? VRRP_MULTICAST_V4 : undefined,
    }),
  }));
}

/** `periodic`: the MASTER's regular advert (the advert timer's job), not one sent in answer to an event. */
function sendAdvert(c: Ctx, priority: number, periodic = false) {
  const s = c.s;
  const p = s.params;
  c.actions.push({
    type: 'send-advert',
    priority,
    advertIntervalMs: p.advertIntervalMs,
    addresses: [...p.virtualAddresses],
    source: p.sourceAddress,
    packets: advertPackets(s, priority),
    periodic,
  });
  const st = c.stats();
  st.advertsSent++;
  if (priority === 0) st.priorityZeroSent++;
}

function sendGarp(c: Ctx, count: number, reason: GarpReason) {
  const addresses = allVips(c.s.params);
  if (count > 0 && addresses.length > 0 && c.s.vipsSet) {
    const p = c.s.params;
    c.actions.push({
      type: 'send-garp',
      addresses,
      count,
      reason,
      arpIntervalMs: p.garpIntervalMs ?? 0,
      naIntervalMs: p.gnaIntervalMs ?? 0,
    });
  }
}

/* ------------------------------------------------------------------ transitions */

/**
 * Arms the BACKUP master-down timer from now, or - during vrrp_startup_delay - from the delayed start time
 * (keepalived vrrp_init_instance_sands()), so nobody takes over before the delay has passed.
 */
function armBackupTimer(c: Ctx) {
  const s = c.s;
  const from = s.delayedStartUntil !== undefined && c.now < s.delayedStartUntil ? s.delayedStartUntil : c.now;
  s.timerAt = from + s.msDownTimerMs;
}

/** keepalived vrrp_state_goto_master() + vrrp_state_master_tx() + vrrp_state_become_master(). */
function gotoMaster(c: Ctx, reason: TransitionReason) {
  const s = c.s;
  if (c.opts.inSyncGroup && c.opts.syncCanGoMaster === false) {
    // keepalived vrrp_sync_can_goto_master(): wait (another master-down interval) for the other members.
    s.wantState = 'MASTER';
    s.msDownTimerMs = masterDownOf(s);
    armBackupTimer(c);
    return;
  }
  becomeMaster(c, reason);
}

function becomeMaster(c: Ctx, reason: TransitionReason) {
  const s = c.s;
  const p = s.params;
  s.wantState = 'MASTER';
  s.masterSince = c.now;
  // RFC 5798 6.4.3: a master advertises (and times) with its own interval. keepalived only resets
  // master_adver_int here when detailed logging is on (a quirk); we always do, as the RFC says.
  s.masterAdverIntMs = p.advertIntervalMs;
  // The old master must drop the VIPs before our gratuitous ARPs, so the advert goes first (keepalived order).
  sendAdvert(c, s.effectivePriority);
  c.transition('MASTER', reason, 'Entering MASTER STATE');
  c.stats().becameMaster++;
  c.actions.push({ type: 'add-vips', addresses: allVips(p) });
  c.log('setting VIPs.');
  s.vipsSet = true;
  sendGarp(c, opt(p, 'garpMasterRepeat'), 'master');
  const refresh = opt(p, 'garpMasterRefreshMs');
  s.garpRefreshAt = refresh > 0 ? c.now + refresh : undefined;
  const delay = opt(p, 'garpMasterDelayMs');
  s.garpDelayAt = delay > 0 ? c.now + delay : undefined;
  s.garpLowerPrioAt = undefined;
  c.notify('MASTER');
  s.timerAt = c.now + p.advertIntervalMs;
}

/** keepalived vrrp_restore_interface(): optional priority-0 advert, then the VIPs go. */
function restoreInterface(c: Ctx, sendPriorityZero: boolean) {
  const s = c.s;
  if (sendPriorityZero) {
    sendAdvert(c, 0);
    c.log('sent 0 priority');
  }
  s.garpDelayAt = undefined;
  s.garpRefreshAt = undefined;
  s.garpLowerPrioAt = undefined;
  if (s.vipsSet) {
    c.log('removing VIPs.');
    c.actions.push({ type: 'remove-vips', addresses: allVips(s.params) });
    s.vipsSet = false;
  }
}

/** keepalived vrrp_state_leave_master(): to BACKUP (higher advert, sync) or FAULT (tracking, sync). */
function leaveMaster(c: Ctx, to: 'BACKUP' | 'FAULT', reason: TransitionReason, sendPriorityZero: boolean) {
  const s = c.s;
  s.handover = undefined;
  clearSplitBrain(c, 'we-stepped-down');
  if (to === 'BACKUP') {
    c.transition('BACKUP', reason, 'Entering BACKUP STATE');
    s.preemptAt = undefined;
    restoreInterface(c, sendPriorityZero);
  } else {
    // keepalived sends a priority 0 advert when a master goes to FAULT (and a second one from
    // vrrp_restore_interface when called from down_instance); one is enough to make the backup take over.
    c.transition('FAULT', reason, 'Entering FAULT STATE');
    sendAdvert(c, 0);
    c.log('sent 0 priority');
    restoreInterface(c, false);
  }
  s.wantState = to === 'BACKUP' ? s.wantState : 'FAULT';
  c.notify(to);
  s.msDownTimerMs = masterDownOf(s);
  if (to === 'BACKUP') armBackupTimer(c);
  else s.timerAt = undefined;
  c.stats().releasedMaster++;
}

function enterFault(c: Ctx, reason: TransitionReason) {
  const s = c.s;
  s.wantState = 'FAULT';
  if (s.state === 'MASTER') {
    leaveMaster(c, 'FAULT', reason, false);
    return;
  }
  if (s.state === 'FAULT' || s.state === 'STOP' || s.state === 'INIT') return;
  c.transition('FAULT', reason, 'Entering FAULT STATE');
  c.notify('FAULT');
  s.timerAt = undefined;
  s.masterAdverIntMs = s.params.advertIntervalMs;
  s.msDownTimerMs = masterDownOf(s);
}

/** keepalived vrrp_state_leave_fault() towards BACKUP. */
function leaveFaultToBackup(c: Ctx, reason: TransitionReason) {
  const s = c.s;
  s.wantState = 'BACKUP';
  if (s.state !== 'BACKUP') {
    c.transition('BACKUP', reason, 'Entering BACKUP STATE');
    c.notify('BACKUP');
  }
  s.preemptAt = undefined;
  s.masterAdverIntMs = s.params.advertIntervalMs;
  s.msDownTimerMs = masterDownOf(s);
  armBackupTimer(c);
}

/* ------------------------------------------------------------------ events */

/** keepalived vrrp_init_state() (+ initialise_tracking_priorities()). */
function onStart(c: Ctx, tracking: TrackingUpdate | undefined) {
  const s = c.s;
  if (s.state !== 'INIT') return;
  if (tracking) {
    s.effectivePriority = s.basePriority === PRIORITY_OWNER ? PRIORITY_OWNER : tracking.effectivePriority;
    s.trackFault = tracking.fault;
    s.faultReasons = [...(tracking.faultReasons ?? [])];
  }
  const fault = s.trackFault || c.opts.syncGroupState === 'FAULT' || c.opts.syncGroupFault === true;
  const target =
    c.opts.syncGroupState && c.opts.syncGroupState !== 'INIT' ? c.opts.syncGroupState : s.wantState;
  if (!fault && target === 'MASTER' && s.basePriority === PRIORITY_OWNER && s.wantState === 'MASTER') {
    // keepalived: "The simplest way to become master is to timeout from the backup state very quickly":
    // state BACKUP (not logged, no notify), master-down timer 1 us. Only the address owner starts this way.
    s.state = 'BACKUP';
    s.msDownTimerMs = 0.001;
    armBackupTimer(c);
    return;
  }
  // Everyone else - including `state MASTER` with priority < 255 - starts as BACKUP and waits the full
  // master-down interval (RFC 3768 6.4.1 says a non-owner starts in Backup too). In a sync group that is in
  // BACKUP while this member wants MASTER, keepalived waits one advert interval + minimal skew instead.
  s.msDownTimerMs =
    target === 'BACKUP' && s.wantState === 'MASTER' ? s.masterAdverIntMs + skewOf(s, 255) : masterDownOf(s);
  if (!fault) {
    c.transition('BACKUP', 'startup', 'Entering BACKUP STATE (init)');
    c.notify('BACKUP');
    armBackupTimer(c);
  } else {
    c.transition('FAULT', 'startup', 'Entering FAULT STATE (init)');
    if (s.trackFault) s.wantState = 'FAULT';
    c.notify('FAULT');
    s.timerAt = undefined;
  }
}

function onTimer(c: Ctx) {
  const s = c.s;
  const now = c.now;
  if (s.timerAt !== undefined && s.timerAt <= now) {
    if (s.state === 'BACKUP' && s.hold === 'maintenance') {
      // Maintenance: the VIPs stay away from this node whatever the peer does. Said once per silence.
      if (!s.holdNoted) {
        c.log('Receive advertisement timeout: staying BACKUP (maintenance mode)', 'warning');
        s.holdNoted = true;
      }
      armBackupTimer(c);
    } else if (s.state === 'BACKUP') {
      // keepalived says only "Receive advertisement timeout" here, also when this backup is preempting a
      // lower-priority master that is alive and advertising; halo keeps those words and adds which it is.
      if (s.hold === 'failover') {
        c.log(
          'Receive advertisement timeout while held in BACKUP by a failover: the master went silent, taking over',
        );
      }
      const pre = s.preempting;
      s.preempting = undefined;
      if (pre) {
        c.log(
          `Receive advertisement timeout (preempting lower-priority master ${pre.address}, priority ${pre.priority})`,
        );
        gotoMaster(c, 'preempt');
      } else {
        c.log('Receive advertisement timeout');
        gotoMaster(c, 'master-down-timeout');
      }
    } else if (s.state === 'MASTER' && s.handover) {
      if (s.handover.releaseAt !== undefined && now >= s.handover.releaseAt) {
        c.log(`${s.handover.successor} has been MASTER for a moment: releasing the VIPs`);
        finishHandover(c);
      } else if (now >= s.handover.deadline) {
        c.log('no new master announced itself after our priority 0 adverts: releasing the VIPs');
        finishHandover(c);
      } else {
        // Again, in case the first one was lost: the backup takes over one skew time after hearing it.
        sendAdvert(c, 0);
        s.timerAt = Math.min(
          now + s.params.advertIntervalMs,
          s.handover.deadline,
          s.handover.releaseAt ?? Infinity,
        );
      }
    } else if (s.state === 'MASTER') {
      // vrrp_state_master_tx(): the periodic advert, and the refresh GARPs when due.
      sendAdvert(c, s.effectivePriority, true);
      if (s.garpRefreshAt !== undefined && now > s.garpRefreshAt) {
        sendGarp(c, opt(s.params, 'garpMasterRefreshRepeat'), 'refresh');
        s.garpRefreshAt = now + opt(s.params, 'garpMasterRefreshMs');
      }
      s.timerAt = now + s.params.advertIntervalMs;
    } else {
      s.timerAt = undefined;
    }
  }
  if (s.garpDelayAt !== undefined && s.garpDelayAt <= now) {
    s.garpDelayAt = undefined;
    if (s.state === 'MASTER') sendGarp(c, opt(s.params, 'garpMasterRepeat'), 'master-delayed');
  }
  if (s.garpLowerPrioAt !== undefined && s.garpLowerPrioAt <= now) {
    s.garpLowerPrioAt = undefined;
    if (s.state === 'MASTER') sendGarp(c, opt(s.params, 'garpLowerPrioRepeat'), 'lower-priority-delayed');
  }
  if (s.splitBrain && now >= s.splitBrain.lastHeardAt + splitBrainQuietMs(s)) {
    clearSplitBrain(c, 'peer-quiet');
  }
}

/** Reports the end of a two-master episode (see VrrpInstanceState.splitBrain). */
function clearSplitBrain(c: Ctx, how: 'we-stepped-down' | 'peer-quiet') {
  const sb = c.s.splitBrain;
  if (!sb) return;
  c.s.splitBrain = undefined;
  c.log(
    `split brain with ${sb.peer} is over (${how === 'peer-quiet' ? 'it stopped advertising' : 'we stepped down'})`,
  );
  c.actions.push({ type: 'split-brain-cleared', peer: sb.peer, how });
}

function dropPacket(c: Ctx, reason: DropReason, message: string) {
  c.stats().drops[reason]++;
  c.actions.push({ type: 'drop', reason, message: `${c.n} ${message}` });
}

function validate(c: Ctx, pkt: ReceivedAdvertPacket, checkAddresses: boolean): VrrpAdvert | undefined {
  const s = c.s;
  let res = validateAdvert(pkt, expectationsOf(s, checkAddresses));
  if (
    !res.ok &&
    res.reason === 'checksum' &&
    s.params.version === 3 &&
    s.params.family === 4 &&
    isUnicast(s.params) &&
    !s.oldUnicastChecksum &&
    (s.params.unicastChecksumCompat ?? 'auto') === 'auto'
  ) {
    // keepalived: a unicast v3 advert whose checksum only matches with 224.0.0.18 in the pseudo-header comes
    // from keepalived <= 1.3.6; switch to that checksum for sending and receiving.
    const retry = validateAdvert(pkt, {
      ...expectationsOf(s, checkAddresses),
      pseudoHeaderDestination: VRRP_MULTICAST_V4,
    });
    if (retry.ok) {
      s.oldUnicastChecksum = true;
      c.log('Setting unicast VRRPv3 checksum to old version');
      res = retry;
    }
  }
  if (!res.ok) {
    dropPacket(c, res.reason, res.message);
    return undefined;
  }
  trackPeerDrift(c, canonicalIp(pkt.source, s.params.family) ?? pkt.source, res.addressDrift);
  const st = c.stats();
  st.advertsReceived++;
  if (res.advert.priority === 0) st.priorityZeroReceived++;
  return res.advert;
}

/** Reports a peer's differing address list once per change, and when it matches ours again. */
function trackPeerDrift(c: Ctx, peer: string, drift: { theirs: string[]; ours: string[] } | undefined) {
  const s = c.s;
  if (drift) {
    const known = s.peerDrift;
    if (known && known.peer === peer && known.theirs.join(' ') === drift.theirs.join(' ')) return;
    s.peerDrift = { peer, theirs: drift.theirs };
    c.log(
      `peer ${peer} advertises ${drift.theirs.length} VIP(s) [${drift.theirs.join(' ')}], we have ${drift.ours.length} [${drift.ours.join(' ')}]: config drift between peers, advert accepted`,
      'warning',
    );
    c.actions.push({ type: 'peer-drift', peer, theirs: drift.theirs, ours: drift.ours });
  } else if (s.peerDrift && s.peerDrift.peer === peer) {
    s.peerDrift = undefined;
    c.log(`peer ${peer} advertises the same VIPs as we do again`);
    c.actions.push({ type: 'peer-drift-cleared', peer });
  }
}

function onPacket(c: Ctx, pkt: ReceivedAdvertPacket) {
  const s = c.s;
  if (s.state !== 'BACKUP' && s.state !== 'MASTER') {
    // keepalived ignores adverts in FAULT / INIT ("We just ignore a message received when we are in fault state")
    dropPacket(c, 'not-running', `advert ignored in ${s.state} state`);
    return;
  }
  const source = canonicalIp(pkt.source, s.params.family) ?? pkt.source;
  if (s.state === 'BACKUP') onPacketBackup(c, pkt, source);
  else onPacketMaster(c, pkt, source);
}

/** keepalived vrrp_state_backup(). */
function onPacketBackup(c: Ctx, pkt: ReceivedAdvertPacket, source: string) {
  const s = c.s;
  const p = s.params;
  const checkAddresses = !p.skipCheckAdvAddr || s.masterAddress !== source;
  const a = validate(c, pkt, checkAddresses);
  // A rejected or discarded advert leaves the master-down timer running (keepalived shortens ms_down_timer to
  // the remaining time, which re-arms the same deadline).
  if (!a) return;
  if (a.priority === 0) {
    // RFC 3768 6.4.2 / RFC 5798 6.4.2: "set the Master_Down_Timer to Skew_Time".
    c.log('Backup received priority 0 advertisement');
    s.msDownTimerMs = skewOf(s);
    armBackupTimer(c);
    return;
  }
  const preemptDelayRunning = p.preemptDelayMs > 0 && (s.preemptAt === undefined || s.preemptAt > c.now);
  s.holdNoted = undefined;
  if (!p.preempt || s.hold !== undefined || a.priority >= s.effectivePriority || preemptDelayRunning) {
    if (p.version === 3) {
      // RFC 5798 6.4.2: Master_Adver_Interval := the advert's interval. A zero interval would make the
      // master-down timer zero (keepalived accepts it); we floor it at 1 centisecond.
      s.masterAdverIntMs = Math.max(10, a.advertIntervalMs);
    }
    s.msDownTimerMs = masterDownOf(s);
    armBackupTimer(c);
    s.masterAddress = source;
    s.masterPriority = a.priority;
    s.preempting = undefined;
    if (p.preemptDelayMs > 0) {
      if (a.priority >= s.effectivePriority) {
        if (s.preemptAt !== undefined) {
          c.log('stop preempt delay');
          s.preemptAt = undefined;
        }
      } else if (s.preemptAt === undefined) {
        c.log(`start preempt delay (${fmtDelay(p.preemptDelayMs)})`);
        s.preemptAt = c.now + p.preemptDelayMs;
      }
    }
    s.wantState = 'BACKUP';
    return;
  }
  // Preempt (RFC 3768/5798 6.4.2 and keepalived agree): discard the lower-priority advert and leave the
  // master-down timer running, so a starting higher-priority node waits the full master-down interval while the
  // lower master keeps advertising, and only then takes over.
  c.log(`received lower priority (${a.priority}) advert from ${source} - discarding`);
  s.masterAddress = source;
  s.preempting = { address: source, priority: a.priority };
}

/** keepalived vrrp_state_master_rx(). */
function onPacketMaster(c: Ctx, pkt: ReceivedAdvertPacket, source: string) {
  const s = c.s;
  const p = s.params;
  const a = validate(c, pkt, true);
  // keepalived also re-arms the master's advert timer after *any* packet, even a rejected one, so a stream of
  // bad packets could keep it from advertising; we only re-arm when we actually sent an advert.
  if (!a) return;
  const addrCmp = compareIpText(source, p.sourceAddress, p.family);
  if (s.handover) {
    // Handing over: the first advert of another router as MASTER means it holds the VIPs and has sent its
    // gratuitous ARPs / NAs; only now do ours go. Anything else waits for it (or for the deadline).
    if (a.priority > 0 && addrCmp !== 0) {
      s.masterAddress = source;
      s.masterPriority = a.priority;
      const h = s.handover;
      if (h.successor === source) {
        c.log(`${source} is MASTER (second advert): releasing the VIPs`);
        finishHandover(c);
      } else {
        // A new master sends its first advert *before* it adds the VIPs and sends its gratuitous ARPs (the
        // order keepalived uses too, so that a releasing master goes first). Letting go on that advert
        // races the new master's address add: under load a client packet landed on us after our VIPs
        // went and before the client's ARP entry moved (1 ping in 3 lost in CI). So we linger: until the
        // new master's second advert, or its advert interval (at most HANDOVER_LINGER_MAX_MS), whichever
        // comes first. Both hold the VIPs for that moment; the client's ARP entry already points there.
        const linger = Math.min(Math.max(a.advertIntervalMs, 10), HANDOVER_LINGER_MAX_MS);
        s.handover = { ...h, successor: source, releaseAt: c.now + linger };
        c.log(
          `${source} took over as MASTER (priority ${a.priority}): releasing the VIPs in ${fmtDelay(linger)}`,
        );
        s.timerAt = Math.min(s.timerAt ?? Infinity, c.now + linger);
      }
    }
    return;
  }
  const lower = a.priority < s.effectivePriority || (a.priority === s.effectivePriority && addrCmp < 0);
  const settled = s.masterSince !== undefined && c.now - s.masterSince > p.advertIntervalMs;
  if (a.priority > 0 && addrCmp !== 0 && lower && settled) {
    // A lower-priority router advertises as MASTER while we have been MASTER for a while: two masters (a
    // partition healing, or a peer that does not hear us). The election below answers it; until the other
    // goes quiet it is visible (log, metric, status). A higher-priority advert makes us step down at once,
    // and the handoff right after a preemption (we just became MASTER) is not two masters.
    if (!s.splitBrain || s.splitBrain.peer !== source) {
      c.log(
        `split brain: ${source} also advertises as MASTER (priority ${a.priority}, ours ${s.effectivePriority})`,
        'warning',
      );
      c.actions.push({
        type: 'split-brain',
        peer: source,
        peerPriority: a.priority,
        ourPriority: s.effectivePriority,
      });
    }
    s.splitBrain = { peer: source, priority: a.priority, lastHeardAt: c.now };
  }
  const higher = a.priority > s.effectivePriority || (a.priority === s.effectivePriority && addrCmp > 0);
  if (a.priority === 0 || (p.higherPrioSendAdvert && higher)) {
    sendAdvert(c, s.effectivePriority);
    s.timerAt = c.now + p.advertIntervalMs;
    if (a.priority === 0) {
      // RFC 5798 6.4.3: on priority 0, send an advert and reset the Adver_Timer.
      c.log('Master received priority 0 message');
      return;
    }
  }
  if (a.priority === s.effectivePriority) {
    if (addrCmp === 0) {
      c.log('WARNING - equal priority advert received from remote host with our IP address.', 'warning');
    } else if (s.effectivePriority === PRIORITY_OWNER) {
      c.log(
        'CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority',
        'warning',
      );
      s.effectivePriority = PRIORITY_OWNER - 1;
      s.basePriority = PRIORITY_OWNER - 1;
    }
  }
  if (a.priority < s.effectivePriority || (a.priority === s.effectivePriority && addrCmp < 0)) {
    // RFC 3768/5798 say a master simply discards a lower-priority advert; keepalived answers it with an advert
    // at once ("forcing new election") unless lower_prio_no_advert, plus gratuitous ARPs (garp_lower_prio_*).
    c.log(
      `Received advert from ${source} with lower priority ${a.priority}, ours ${s.effectivePriority}${
        p.lowerPrioNoAdvert ? '' : ', forcing new election'
      }`,
    );
    if (!p.lowerPrioNoAdvert) {
      sendAdvert(c, s.effectivePriority);
      s.timerAt = c.now + p.advertIntervalMs;
    }
    lowerPrioGarp(c);
    c.actions.push({ type: 'notify-event', event: 'master-rx-lower-pri' });
    return;
  }
  if (a.priority > s.effectivePriority || (a.priority === s.effectivePriority && addrCmp > 0)) {
    if (a.priority > s.effectivePriority) {
      c.log(
        `Master received advert from ${source} with higher priority ${a.priority}, ours ${s.effectivePriority}`,
      );
    } else {
      c.log(
        `Master received advert from ${source} with same priority ${a.priority} but higher IP address than ours`,
      );
    }
    if (p.version === 3) s.masterAdverIntMs = Math.max(10, a.advertIntervalMs);
    s.masterAddress = source;
    s.masterPriority = a.priority;
    s.wantState = 'BACKUP';
    // A parting advert at our own priority before we stand down: the winner hears a lower-priority master
    // and answers with its garp_lower_prio gratuitous ARPs / NAs (keepalived does the same), so clients
    // that followed our announcements during a partition come back to it at once instead of after their
    // ARP cache expires. Not in the RFCs (where a master stepping down just stops); not in strict mode.
    if (!p.strictMode) sendAdvert(c, s.effectivePriority);
    leaveMaster(c, 'BACKUP', 'higher-priority-advert', false);
  }
}

/** garp_lower_prio_repeat GARPs now and again after garp_lower_prio_delay. */
function lowerPrioGarp(c: Ctx) {
  const rep = opt(c.s.params, 'garpLowerPrioRepeat');
  if (rep > 0) {
    sendGarp(c, rep, 'lower-priority');
    const d = opt(c.s.params, 'garpLowerPrioDelayMs');
    if (d > 0) c.s.garpLowerPrioAt = c.now + d;
  }
}

function onTrack(c: Ctx, t: TrackingUpdate) {
  const s = c.s;
  if (s.state === 'STOP') return;
  s.faultReasons = [...(t.faultReasons ?? [])];
  // keepalived vrrp_set_effective_priority(): the owner's priority never changes.
  const newPrio =
    s.basePriority === PRIORITY_OWNER ? PRIORITY_OWNER : Math.max(1, Math.min(254, t.effectivePriority));
  if (newPrio !== s.effectivePriority) {
    c.log(`Changing effective priority from ${s.effectivePriority} to ${newPrio}`);
    s.effectivePriority = newPrio;
    const old = s.msDownTimerMs;
    s.msDownTimerMs = masterDownOf(s);
    // A lower priority means a longer skew: shift the running BACKUP timer by the difference, as keepalived does.
    // (A shift into the past means "expired": keepalived then fires at once; we clamp to now, same effect.)
    if (s.state === 'BACKUP' && s.timerAt !== undefined)
      s.timerAt = Math.max(c.now, s.timerAt + s.msDownTimerMs - old);
  }
  if (s.state === 'INIT') {
    s.trackFault = t.fault;
    return;
  }
  if (t.fault && !s.trackFault) {
    s.trackFault = true;
    for (const r of s.faultReasons) c.log(`entering FAULT state (${r})`);
    enterFault(c, 'fault');
  } else if (!t.fault && s.trackFault) {
    s.trackFault = false;
    tryUp(c);
  }
}

/** keepalived try_up_instance(). */
function tryUp(c: Ctx) {
  const s = c.s;
  if (c.opts.syncGroupFault) return; // another member still faulted: the group stays in FAULT
  const wantMaster = s.basePriority === PRIORITY_OWNER && configuredWantState(s.params) === 'MASTER';
  s.masterAdverIntMs = s.params.advertIntervalMs;
  if (wantMaster && s.hold === undefined && !(c.opts.inSyncGroup && c.opts.syncCanGoMaster === false)) {
    // leave_fault with wantstate MASTER goes straight to MASTER (the owner does not wait).
    becomeMaster(c, 'fault-recovered');
    return;
  }
  leaveFaultToBackup(c, 'fault-recovered');
}

/** See the 'reconfigure' event. */
function onReconfigure(c: Ctx, params: VrrpInstanceParams) {
  const s = c.s;
  if (s.state === 'STOP') return;
  const old = s.params;
  const p = prepareParams(params);
  s.params = p;
  // The effective priority follows with the shell's next `track` event (tracking is computed from the base).
  s.basePriority = p.priority === old.priority ? s.basePriority : p.priority;
  if (p.advertIntervalMs !== old.advertIntervalMs) {
    if (s.state === 'MASTER') {
      s.masterAdverIntMs = p.advertIntervalMs;
      if (s.timerAt !== undefined) s.timerAt = Math.min(s.timerAt, c.now + p.advertIntervalMs);
    } else if (p.version === 2) {
      // v2 has one interval for everyone; v3 backups keep the interval the master advertises.
      s.masterAdverIntMs = p.advertIntervalMs;
    }
    s.msDownTimerMs = masterDownOf(s);
  }
  const before = allVips(old);
  const after = allVips(p);
  const added = after.filter((a) => !before.includes(a));
  const removed = before.filter((a) => !after.includes(a));
  // Our list changed: a peer's differing list is news again.
  if (added.length || removed.length) s.peerDrift = undefined;
  if (s.vipsSet && (added.length || removed.length)) {
    if (removed.length) {
      c.log(`removing VIPs ${removed.join(' ')} (reload).`);
      c.actions.push({ type: 'remove-vips', addresses: removed });
    }
    if (added.length) {
      c.log(`setting VIPs ${added.join(' ')} (reload).`);
      c.actions.push({ type: 'add-vips', addresses: added });
      const rep = opt(p, 'garpMasterRepeat');
      c.actions.push({
        type: 'send-garp',
        addresses: added,
        count: rep,
        reason: 'master',
        arpIntervalMs: p.garpIntervalMs ?? 0,
        naIntervalMs: p.gnaIntervalMs ?? 0,
      });
    }
    // The backup learns the new list now rather than one interval later.
    sendAdvert(c, s.effectivePriority);
    s.timerAt = c.now + p.advertIntervalMs;
  }
}

function onStop(c: Ctx, deleted: boolean, handover: boolean) {
  const s = c.s;
  if (s.state === 'STOP') return;
  if (handover && s.state === 'MASTER') {
    // Already handing over (a failover): it now ends in STOP.
    if (s.handover) s.handover = { ...s.handover, kind: 'stop', deleted };
    else beginHandover(c, 'stop', deleted);
    return;
  }
  clearSplitBrain(c, 'we-stepped-down');
  if (s.state === 'MASTER') {
    // keepalived restore_vrrp_interfaces(): priority 0 so the backup takes over after Skew_Time. A stop
    // during a handover releases at once (the priority 0 adverts are out already).
    restoreInterface(c, !s.handover);
  }
  s.handover = undefined;
  c.transition('STOP', 'shutdown', deleted ? 'Stopped (removed from the config)' : 'Stopped');
  c.notify(deleted ? 'DELETED' : 'STOP');
  s.timerAt = undefined;
  s.garpDelayAt = undefined;
  s.garpRefreshAt = undefined;
  s.garpLowerPrioAt = undefined;
}

/**
 * Make-before-break: priority 0 now (the backup takes over one skew time after it), the VIPs kept until the
 * new master's first advert (onPacketMaster) or, with nobody answering, one master-down interval.
 * keepalived releases at once, so clients lose the skew time plus the new master's start; the RFCs only
 * say a stopping master sends priority 0, not when it must let go of the addresses.
 */
function beginHandover(c: Ctx, kind: 'stop' | 'yield', deleted: boolean) {
  const s = c.s;
  clearSplitBrain(c, 'we-stepped-down');
  const bound = masterDownOf(s);
  s.handover = { kind, deadline: c.now + bound, deleted };
  sendAdvert(c, 0);
  c.log(`sent 0 priority; keeping the VIPs until a new master announces itself (at most ${fmtDelay(bound)})`);
  s.garpDelayAt = undefined;
  s.garpRefreshAt = undefined;
  s.garpLowerPrioAt = undefined;
  s.timerAt = Math.min(c.now + s.params.advertIntervalMs, s.handover.deadline);
}

function finishHandover(c: Ctx) {
  const s = c.s;
  const h = s.handover;
  if (!h) return;
  if (h.kind === 'stop') {
    restoreInterface(c, false);
    s.handover = undefined;
    c.transition('STOP', 'shutdown', h.deleted ? 'Stopped (removed from the config)' : 'Stopped');
    c.notify(h.deleted ? 'DELETED' : 'STOP');
    s.timerAt = undefined;
    return;
  }
  s.wantState = 'BACKUP';
  leaveMaster(c, 'BACKUP', 'handover', false);
}

function onHold(c: Ctx, hold: HoldKind | undefined) {
  const s = c.s;
  if (s.hold === hold) return;
  s.hold = hold;
  s.holdNoted = undefined;
  c.log(hold ? `held in BACKUP (${hold})` : 'hold cleared: ordinary election');
  if (hold && s.state === 'MASTER' && !s.handover) beginHandover(c, 'yield', false);
}

function syncBackup(c: Ctx) {
  const s = c.s;
  if (s.state === 'BACKUP' || s.state === 'STOP' || s.trackFault) return;
  s.wantState = 'BACKUP';
  if (s.state === 'MASTER') leaveMaster(c, 'BACKUP', 'sync-group', false);
  else leaveFaultToBackup(c, 'sync-group');
}

function syncFault(c: Ctx) {
  const s = c.s;
  if (s.state === 'FAULT' || s.state === 'STOP') return;
  if (s.state === 'INIT') {
    s.wantState = 'FAULT';
    return;
  }
  enterFault(c, 'sync-group');
}
