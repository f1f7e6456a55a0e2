/**
 * The ONE normalised halo configuration model.
 *
 * Both syntaxes (keepalived.conf and YAML) are turned into the *input* shape of
 * `HaloConfigSchema` (only what the user wrote). Normalisation (normalise.ts)
 * copies inherited values down (global_defs -> vrrp_instance, virtual_server ->
 * real_server -> checker), the zod schema fills the plain defaults, and the
 * result is checked against `NormalisedHaloConfigSchema`, whose inferred type
 * `HaloConfig` has every default filled in: consumers never need to know
 * keepalived's defaults or inheritance rules.
 *
 * Conventions: durations are milliseconds (`...Ms`), names are camelCase,
 * defaults are keepalived 2.2.7's (the behaviour anchor), noted per field.
 */
import { z } from 'zod';

/** Where an object came from in keepalived.conf (or YAML), for messages. */
export const SourceSchema = z
  .object({ file: z.string(), line: z.number().int(), col: z.number().int().optional() })
  .describe('Where this object was defined (filled by the loader; ignored on input).');
export type Source = z.infer<typeof SourceSchema>;

const source = SourceSchema.optional();
const durationMs = z.number().nonnegative().describe('milliseconds');
const script = z.string().min(1).describe('a command line: program path and arguments');
const ipAddress = z.string().min(1);
const port = z.number().int().min(0).max(65535);
const weight = z.number().int().min(-253).max(253);

/* ------------------------------------------------------------------ global_defs */

/** halo's realtime priority for the VRRP threads when vrrp_rt_priority is not written (see vrrpRtPriority). */
export const DEFAULT_VRRP_RT_PRIORITY = 10;

export const SmtpServerSchema = z.object({ host: z.string().min(1), port: port.default(25) });

/**
 * notify_fifo PATH [user [group]] and notify_fifo_script COMMAND [user [group]] (same for vrrp_ and lvs_):
 * the FIFO is created (mode 0644, owned by user:group) when missing, and the script gets its path as the
 * last argument.
 */
export const NotifyFifoSchema = z
  .object({
    path: z.string().min(1),
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    script: script.optional(),
    scriptUser: z.string().min(1).optional(),
    scriptGroup: z.string().min(1).optional(),
  })
  .strict();
export type NotifyFifo = z.infer<typeof NotifyFifoSchema>;

export const GlobalDefsSchema = z
  .object({
    /** router_id; undefined means the host name at run time (keepalived does the same). */
    routerId: z.string().optional(),
    notificationEmail: z.array(z.string()).default([]),
    /** undefined means <user running halo>@<host name> at run time (keepalived's default). */
    notificationEmailFrom: z.string().optional(),
    smtpServer: SmtpServerSchema.optional(),
    smtpHeloName: z.string().optional(),
    smtpConnectTimeoutMs: durationMs.default(30_000),
    /**
     * smtp_alert / smtp_alert_vrrp / smtp_alert_checker: the defaults of the per-object smtp_alert flags
     * (undefined = not written; normalisation resolves them as keepalived 2.2.7 does, see normalise.ts).
     */
    smtpAlert: z.boolean().optional(),
    smtpAlertVrrp: z.boolean().optional(),
    smtpAlertChecker: z.boolean().optional(),
    /** no_email_faults: no mail for an instance or sync group entering FAULT. */
    noEmailFaults: z.boolean().default(false),
    /** no_checker_emails: checker mails only when the real server itself goes up or down. */
    noCheckerEmails: z.boolean().default(false),
    enableScriptSecurity: z.boolean().default(false),
    /** script_user; undefined means keepalived_script if that user exists, else root. */
    scriptUser: z.object({ user: z.string().min(1), group: z.string().optional() }).optional(),
    defaultInterface: z.string().optional(),
    dynamicInterfaces: z.boolean().default(false),
    vrrpVersion: z.literal([2, 3]).default(2),
    vrrpMcastGroup4: z.string().default('224.0.0.18'),
    vrrpMcastGroup6: z.string().default('ff02::12'),
    vrrpStrict: z.boolean().default(false),
    vrrpSkipCheckAdvAddr: z.boolean().default(false),
    vrrpCheckUnicastSrc: z.boolean().default(false),
    vrrpGarpMasterDelayMs: durationMs.default(5000),
    vrrpGarpMasterRepeat: z.number().int().min(1).default(5),
    vrrpGarpMasterRefreshMs: durationMs.default(0),
    vrrpGarpMasterRefreshRepeat: z.number().int().min(1).default(1),
    vrrpGarpLowerPrioDelayMs: durationMs.optional(),
    vrrpGarpLowerPrioRepeat: z.number().int().min(0).optional(),
    vrrpGarpIntervalMs: durationMs.default(0),
    vrrpGnaIntervalMs: durationMs.default(0),
    vrrpLowerPrioNoAdvert: z.boolean().default(false),
    vrrpHigherPrioSendAdvert: z.boolean().default(false),
    vrrpDownTimerAdverts: z.number().int().min(1).max(100).default(3),
    vrrpStartupDelayMs: durationMs.default(0),
    lvsFlush: z.boolean().default(false),
    /**
     * At stop: off (remove halo's services, the default), full (bare lvs_flush_on_stop: flush the whole
     * table), vs (remove halo's services only, as keepalived's VS), rs (remove halo's real servers only).
     */
    lvsFlushOnStop: z.enum(['off', 'full', 'vs', 'rs']).default('off'),
    lvsTimeouts: z
      .object({ tcpMs: durationMs.optional(), tcpFinMs: durationMs.optional(), udpMs: durationMs.optional() })
      .optional(),
    /**
     * lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]: the kernel's
     * IPVS connection sync daemon, master or backup following `instance` (always master without one).
     */
    lvsSyncDaemon: z
      .object({
        interface: z.string().min(1),
        instance: z.string().min(1).optional(),
        syncId: z.number().int().min(0).max(255).default(0),
        maxLen: z.number().int().min(1).max(65507).optional(),
        port: z.number().int().min(1).max(65535).optional(),
        ttl: z.number().int().min(1).max(255).optional(),
        group: z.string().optional(),
      })
      .strict()
      .optional(),
    notifyFifo: NotifyFifoSchema.optional(),
    vrrpNotifyFifo: NotifyFifoSchema.optional(),
    lvsNotifyFifo: NotifyFifoSchema.optional(),
    checkerLogAllFailures: z.boolean().default(false),
    /** v3_checksum_as_v2 (keepalived 2.2.8): the default for every instance's v3ChecksumAsV2. */
    v3ChecksumAsV2: z.boolean().default(false),
    /*
     * Scheduling (keepalived's vrrp_* / checker_* process settings). keepalived applies them to its VRRP and
     * checker child processes; halo applies them per thread: the VRRP settings to the VRRP worker thread and
     * its advert timer threads, the checker settings to the main thread (checks, IPVS). RLIMIT_RTTIME is per
     * process in Linux, so it covers the whole halo process.
     */
    /**
     * vrrp_rt_priority: SCHED_RR priority 1..99 of the VRRP threads. halo defaults to realtime (keepalived does
     * not): DEFAULT_VRRP_RT_PRIORITY is above every normal task and below threaded IRQ handlers (50), so an
     * advert is never held up by a busy host. 0 turns realtime off (keepalived rejects 0 and uses 1).
     */
    vrrpRtPriority: z.number().int().min(0).max(99).default(DEFAULT_VRRP_RT_PRIORITY),
    /** vrrp_priority: nice value -20..19 of the VRRP threads, applied when they are not realtime (as keepalived). */
    vrrpPriority: z.number().int().min(-20).max(19).optional(),
    /**
     * vrrp_no_swap: keep the advert path in RAM: the advert timer threads' stacks, state and packets, and the
     * code they run. keepalived calls mlockall(); halo cannot (V8 aborts when it cannot give locked memory
     * back), so the JavaScript threads are not locked. halo defaults to on (keepalived: off).
     */
    vrrpNoSwap: z.boolean().default(true),
    /** vrrp_cpu_affinity: the CPUs the VRRP threads may run on; undefined = all. */
    vrrpCpuAffinity: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
    /**
     * vrrp_rlimit_rttime, microseconds: RLIMIT_RTTIME while realtime, hard limit (SIGKILL) N, soft limit
     * (SIGXCPU, logged) N/2, as keepalived. keepalived defaults to 10000; halo sets only the soft limit
     * (5000 us, a logged warning) unless this is written, because a garbage collection in a JavaScript thread
     * may exceed 10 ms and a hard limit kills the whole daemon.
     */
    vrrpRlimitRttimeUs: z.number().int().min(2).max(4_294_967_295).optional(),
    /** checker_rt_priority: SCHED_RR priority of the main (checker) thread; 0 (the default) = not realtime. */
    checkerRtPriority: z.number().int().min(0).max(99).default(0),
    checkerPriority: z.number().int().min(-20).max(19).optional(),
    checkerCpuAffinity: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
    checkerRlimitRttimeUs: z.number().int().min(2).max(4_294_967_295).optional(),
    source,
  })
  .strict();
export type GlobalDefs = z.infer<typeof GlobalDefsSchema>;

/* ------------------------------------------------------------------ tracking */

export const VrrpScriptSchema = z
  .object({
    name: z.string().min(1),
    script,
    intervalMs: durationMs.min(1).default(1000),
    /** 0 means "the interval" (keepalived: timeout 0 -> interval). Normalised to the interval. */
    timeoutMs: durationMs.optional(),
    weight: weight.default(0),
    /** weight ... reverse: a failing script raises the priority instead. */
    weightReverse: z.boolean().default(false),
    rise: z.number().int().min(1).default(1),
    fall: z.number().int().min(1).default(1),
    user: z.string().optional(),
    group: z.string().optional(),
    initFail: z.boolean().default(false),
    source,
  })
  .strict();

export const TrackFileSchema = z
  .object({
    name: z.string().min(1),
    file: z.string().min(1),
    weight: weight.default(1),
    weightReverse: z.boolean().default(false),
    /** init_file [VALUE] [overwrite]: create the file at start with VALUE (default 0). */
    initFile: z
      .object({ value: z.number().int().default(0), overwrite: z.boolean().default(false) })
      .optional(),
    source,
  })
  .strict();
export type TrackFile = z.infer<typeof TrackFileSchema>;

export const TrackInterfaceSchema = z
  .object({ name: z.string().min(1), weight: weight.default(0), weightReverse: z.boolean().default(false) })
  .strict();
/** A reference to a vrrp_script or vrrp_track_file; weight undefined means the referenced object's weight. */
export const TrackRefSchema = z
  .object({ name: z.string().min(1), weight: weight.optional(), weightReverse: z.boolean().optional() })
  .strict();
export type TrackInterface = z.infer<typeof TrackInterfaceSchema>;
export type TrackRef = z.infer<typeof TrackRefSchema>;

/**
 * vrrp_track_process NAME { process PATH [ARGS...]; param_match; weight; quorum; quorum_max; delay; fork_delay;
 * terminate_delay; full_command } (keepalived 2.2.x track_process.c). The process is matched exactly against
 * /proc/PID/comm (at most 15 characters), or with full_command against /proc/PID/cmdline: argv[0] exactly, then
 * the parameters as param_match says.
 */
export const VrrpTrackProcessSchema = z
  .object({
    name: z.string().min(1),
    /** The command name (comm) or, with fullCommand, argv[0]. */
    process: z.string().min(1),
    /** Parameters after argv[0]; giving any implies fullCommand and paramMatch 'exact' unless set. */
    params: z.array(z.string()).default([]),
    /**
     * none: parameters are not compared; exact: the same parameters (none if none given); partial: the first
     * parameters are these; initial: as partial, but the last one may be longer. Anything but none implies
     * fullCommand. Normalised from params when unset.
     */
    paramMatch: z.enum(['none', 'exact', 'partial', 'initial']).optional(),
    fullCommand: z.boolean().default(false),
    /** keepalived 2.2.7's default is 0 (the man page's "default 1" is not what the code does). */
    weight: z.number().int().min(-254).max(254).default(0),
    weightReverse: z.boolean().default(false),
    /** Quorum: at least `quorum` and at most `quorumMax` matching processes; quorum 0 only with quorumMax 0. */
    quorum: z.number().int().min(0).max(65535).default(1),
    /** undefined: no upper limit. */
    quorumMax: z.number().int().min(0).max(65535).optional(),
    /** Wait this long after quorum is gained through a fork before it counts (fork_delay / delay). */
    forkDelayMs: durationMs.max(3_600_000).default(0),
    /** Wait this long after quorum is lost through an exit before it counts (terminate_delay / delay). */
    terminateDelayMs: durationMs.max(3_600_000).default(0),
    source,
  })
  .strict();
export type VrrpTrackProcess = z.infer<typeof VrrpTrackProcessSchema>;

/* ------------------------------------------------------------------ vrrp_instance */

export const ScopeSchema = z.union([z.enum(['global', 'site', 'link', 'host', 'nowhere']), z.number().int()]);

export const VirtualIpSchema = z
  .object({
    address: ipAddress,
    /** Defaults to 32 (IPv4) / 128 (IPv6), as keepalived does when no /len is given. */
    prefixLength: z.number().int().min(0).max(128).optional(),
    family: z.union([z.literal(4), z.literal(6)]).optional(),
    broadcast: z.string().optional(),
    dev: z.string().optional(),
    label: z.string().optional(),
    scope: ScopeSchema.optional(),
    peer: z.string().optional(),
    noTrack: z.boolean().default(false),
    noprefixroute: z.boolean().default(false),
    homeaddress: z.boolean().default(false),
    nodad: z.boolean().default(false),
    preferredLft: z.number().int().min(0).optional(),
    source,
  })
  .strict();

/** A routing table, protocol, realm or DS field: a number, or a name from /etc/iproute2 (resolved at run time). */
const rtName = z.union([z.number().int().min(0), z.string().min(1)]);
const family = z.union([z.literal(4), z.literal(6)]);

export const ROUTE_TYPES = [
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

/** Route metrics (RTA_METRICS), as `ip route` names them; times in milliseconds. */
export const RouteMetricsSchema = z
  .object({
    mtu: z.number().int().min(0).optional(),
    window: z.number().int().min(0).optional(),
    rttMs: durationMs.max(120_000).optional(),
    rttvarMs: durationMs.max(120_000).optional(),
    ssthresh: z.number().int().min(0).optional(),
    cwnd: z.number().int().min(0).optional(),
    advmss: z.number().int().min(0).optional(),
    reordering: z.number().int().min(0).optional(),
    hoplimit: z.number().int().min(0).max(255).optional(),
    initcwnd: z.number().int().min(0).optional(),
    rtoMinMs: durationMs.max(120_000).optional(),
    initrwnd: z.number().int().min(0).optional(),
    quickack: z.boolean().optional(),
    congctl: z.string().min(1).optional(),
    fastopenNoCookie: z.boolean().optional(),
    /** features ecn */
    ecn: z.boolean().optional(),
    /** Metrics given with 'lock' (the kernel will not change them). */
    lock: z
      .array(
        z.enum(['mtu', 'rtt', 'rttvar', 'ssthresh', 'cwnd', 'advmss', 'reordering', 'rtoMin', 'congctl']),
      )
      .optional(),
  })
  .strict();
export type RouteMetrics = z.infer<typeof RouteMetricsSchema>;

export const NextHopSchema = z
  .object({
    via: z.string().optional(),
    dev: z.string().optional(),
    /** 1..256 as `ip route` takes it (the kernel stores weight - 1). */
    weight: z.number().int().min(1).max(256).optional(),
    onlink: z.boolean().default(false),
    realms: rtName.optional(),
  })
  .strict();

/**
 * One line of virtual_routes / static_routes, keepalived 2.2.7's options (vrrp_iproute.c alloc_route).
 * `src` is the preferred source (RTA_PREFSRC, `ip route ... src`); `from` is the source prefix (RTA_SRC, IPv6).
 */
export const VirtualRouteSchema = z
  .object({
    /** CIDR destination, or 'default'. */
    destination: z.string().min(1),
    /** Derived from the addresses (or `inet`/`inet6`) during normalisation; 4 when nothing says. */
    family: family.optional(),
    via: z.string().optional(),
    src: z.string().optional(),
    from: z.string().optional(),
    dev: z.string().optional(),
    table: rtName.optional(),
    metric: z.number().int().min(0).max(4_294_967_295).optional(),
    scope: ScopeSchema.optional(),
    type: z.enum(ROUTE_TYPES).default('unicast'),
    /** Default: keepalived's own protocol number 18 (RTPROT_KEEPALIVED); a tracked route always uses 18. */
    protocol: rtName.optional(),
    tos: rtName.optional(),
    onlink: z.boolean().default(false),
    realms: rtName.optional(),
    /** IPv6 only: seconds until the kernel removes the route. */
    expires: z.number().int().min(0).max(4_294_967_295).optional(),
    metrics: RouteMetricsSchema.optional(),
    /** IPv6 router preference. */
    pref: z.union([z.enum(['low', 'medium', 'high']), z.number().int().min(0).max(255)]).optional(),
    ttlPropagate: z.boolean().optional(),
    /**
     * How the route is added: 'prepend' (keepalived's default: NLM_F_CREATE), 'add' (NLM_F_EXCL, fails if a
     * route with the same key exists) or 'append' (NLM_F_APPEND).
     */
    mode: z.enum(['prepend', 'add', 'append']).default('prepend'),
    nexthops: z.array(NextHopSchema).optional(),
    noTrack: z.boolean().default(false),
    source,
  })
  .strict();
export type VirtualRoute = z.infer<typeof VirtualRouteSchema>;

export const RULE_ACTIONS = ['table', 'goto', 'nop', 'blackhole', 'unreachable', 'prohibit'] as const;
const portRange = z.object({ start: port, end: port }).strict();

/** One line of virtual_rules / static_rules, keepalived 2.2.7's options (vrrp_iprule.c alloc_rule). */
export const VirtualRuleSchema = z
  .object({
    family: family.optional(),
    /** CIDR, or 'all' (also written default / any). */
    from: z.string().optional(),
    to: z.string().optional(),
    /** `not`: the rule matches when the selector does not. */
    invert: z.boolean().default(false),
    /**
     * preference / order / priority. keepalived gives a rule without one the next of 16384, 16383, ... per
     * family in file order and warns; halo does the same (see normalisation).
     */
    priority: z.number().int().min(0).max(4_294_967_295).optional(),
    tos: rtName.optional(),
    fwmark: z.number().int().min(0).max(4_294_967_295).optional(),
    fwmask: z.number().int().min(0).max(4_294_967_295).optional(),
    realms: rtName.optional(),
    suppressPrefixLength: z.number().int().min(0).max(2_147_483_647).optional(),
    suppressIfgroup: rtName.optional(),
    /** dev / iif */
    iif: z.string().optional(),
    oif: z.string().optional(),
    tunnelId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    uidRange: z
      .object({ start: z.number().int().min(0), end: z.number().int().min(0) })
      .strict()
      .optional(),
    l3mdev: z.boolean().default(false),
    /** FRA_PROTOCOL; default 18 (keepalived) for a tracked rule. */
    protocol: z.number().int().min(0).max(255).optional(),
    ipProto: z.number().int().min(0).max(255).optional(),
    sport: portRange.optional(),
    dport: portRange.optional(),
    action: z.enum(RULE_ACTIONS),
    /** For action 'table' (table / lookup N). */
    table: rtName.optional(),
    /** For action 'goto'. */
    goto: z.number().int().min(0).max(4_294_967_295).optional(),
    noTrack: z.boolean().default(false),
    source,
  })
  .strict();
export type VirtualRule = z.infer<typeof VirtualRuleSchema>;

export const UnicastPeerSchema = z
  .object({
    address: ipAddress,
    minTtl: z.number().int().min(0).max(255).optional(),
    maxTtl: z.number().int().min(0).max(255).optional(),
  })
  .strict();
export type UnicastPeer = z.infer<typeof UnicastPeerSchema>;

export const NotifySchema = z
  .object({
    master: script.optional(),
    backup: script.optional(),
    fault: script.optional(),
    stop: script.optional(),
    /** notify_deleted SCRIPT: run when a reload removes the instance. */
    deleted: script.optional(),
    /** `notify`: called for every transition with TYPE NAME STATE PRIORITY. */
    any: script.optional(),
    masterRxLowerPri: script.optional(),
  })
  .strict();
export type Notify = z.infer<typeof NotifySchema>;

export const VrrpInstanceSchema = z
  .object({
    name: z.string().min(1),
    /** Initial state wish; keepalived starts everything in BACKUP unless priority 255 / MASTER. */
    state: z.enum(['MASTER', 'BACKUP']).default('BACKUP'),
    /** Required unless global defaultInterface is set (normalisation copies it). */
    interface: z.string().min(1).optional(),
    virtualRouterId: z.number().int().min(1).max(255),
    priority: z.number().int().min(1).max(255).default(100),
    /** v2: whole seconds up to 255; v3: centiseconds up to 40.95 s (checked with the version). */
    advertIntervalMs: durationMs.min(10).max(255_000).default(1000),
    /** Inherited from global vrrpVersion. */
    version: z.literal([2, 3]).optional(),
    /** Address family of the VIPs / peers; derived during normalisation. */
    family: z.union([z.literal(4), z.literal(6)]).optional(),
    preempt: z.boolean().default(true),
    preemptDelayMs: durationMs.max(1_000_000).default(0),
    authentication: z
      .object({ type: z.enum(['PASS', 'AH']), password: z.string().min(1).max(8) })
      .strict()
      .optional(),
    virtualIpaddresses: z.array(VirtualIpSchema).default([]),
    virtualIpaddressesExcluded: z.array(VirtualIpSchema).default([]),
    virtualRoutes: z.array(VirtualRouteSchema).default([]),
    /** virtual_rules: policy routing rules added with the VIPs (MASTER) and removed with them. */
    virtualRules: z.array(VirtualRuleSchema).default([]),
    unicastSrcIp: z.string().optional(),
    unicastPeers: z.array(UnicastPeerSchema).default([]),
    mcastSrcIp: z.string().optional(),
    trackInterfaces: z.array(TrackInterfaceSchema).default([]),
    trackScripts: z.array(TrackRefSchema).default([]),
    trackFiles: z.array(TrackRefSchema).default([]),
    /** track_process: vrrp_track_process names; weight undefined means the process block's weight. */
    trackProcesses: z.array(TrackRefSchema).default([]),
    dontTrackPrimary: z.boolean().default(false),
    notify: NotifySchema.default({}),
    /**
     * notify_deleted: a reload that removes the instance notifies DELETED (and runs notify.deleted);
     * without it keepalived (and halo) notify FAULT, its old way.
     */
    notifyDeleted: z.boolean().default(false),
    smtpAlert: z.boolean().optional(),
    /** Inherited from the global vrrpGarp* settings. */
    garpMasterDelayMs: durationMs.optional(),
    garpMasterRepeat: z.number().int().min(1).optional(),
    garpMasterRefreshMs: durationMs.optional(),
    garpMasterRefreshRepeat: z.number().int().min(1).optional(),
    garpLowerPrioDelayMs: durationMs.optional(),
    garpLowerPrioRepeat: z.number().int().min(0).optional(),
    garpIntervalMs: durationMs.optional(),
    gnaIntervalMs: durationMs.optional(),
    lowerPrioNoAdvert: z.boolean().optional(),
    higherPrioSendAdvert: z.boolean().optional(),
    /** accept / no_accept. Default: true unless strict mode (keepalived 2.2.7 behaviour). */
    accept: z.boolean().optional(),
    strictMode: z.boolean().optional(),
    skipCheckAdvAddr: z.boolean().optional(),
    checkUnicastSrc: z.boolean().optional(),
    /** use_vmac [NAME]; name defaults to vrrp.<VRID> (keepalived's naming). */
    useVmac: z.object({ name: z.string().optional() }).strict().optional(),
    vmacXmitBase: z.boolean().default(false),
    /**
     * down_timer_adverts: adverts missed before the master is declared down (keepalived 1-100, default 3);
     * inherited from the global vrrpDownTimerAdverts.
     */
    downTimerAdverts: z.number().int().min(1).max(100).optional(),
    /**
     * v3_checksum_as_v2 (keepalived 2.2.8): VRRPv3 over IPv4 checksummed without the pseudo-header (RFC 9568
     * errata, Cisco/Juniper); inherited from the global v3ChecksumAsV2.
     */
    v3ChecksumAsV2: z.boolean().optional(),
    /**
     * old_unicast_checksum: v3/IPv4 unicast checksum compatibility with keepalived before 2.2.7. 'auto'
     * (default): standard, switching to the old one if a peer uses it; 'always' (bare keyword); 'never'.
     */
    unicastChecksumCompat: z.enum(['auto', 'never', 'always']).default('auto'),
    /** no_virtual_ipaddress (keepalived 2.2.8): the instance has no VIPs on purpose (no warning). */
    noVirtualIpaddress: z.boolean().default(false),
    /** v3 only: keepalived's unicast_ttl / debug etc. are not modelled. */
    source,
  })
  .strict();

export const SyncGroupSchema = z
  .object({
    name: z.string().min(1),
    group: z.array(z.string().min(1)).min(1),
    notify: NotifySchema.default({}),
    smtpAlert: z.boolean().optional(),
    trackInterfaces: z.array(TrackInterfaceSchema).default([]),
    trackScripts: z.array(TrackRefSchema).default([]),
    trackFiles: z.array(TrackRefSchema).default([]),
    trackProcesses: z.array(TrackRefSchema).default([]),
    source,
  })
  .strict();

/* ------------------------------------------------------------------ LVS */

export const SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'fo',
  'ovf',
  'mh',
  'twos',
] as const;
export const SchedulerSchema = z.enum(SCHEDULERS);
export const ForwardingMethodSchema = z.enum(['NAT', 'DR', 'TUN']);
export const ProtocolSchema = z.enum(['TCP', 'UDP', 'SCTP']);

/** Settings a checker inherits from its real server, which inherits them from its virtual server. */
const inheritedCheckFields = {
  /** connect_timeout; default 5 s. */
  connectTimeoutMs: durationMs.min(1).optional(),
  /** delay_loop; default 60 s. */
  delayLoopMs: durationMs.min(1).optional(),
  /** retry (nb_get_retry); default 1 (DNS_CHECK 3, MISC_CHECK 0). */
  retry: z.number().int().min(0).optional(),
  /** delay_before_retry; default 1 s (HTTP_GET/SSL_GET 3 s, DNS_CHECK the delay loop). */
  delayBeforeRetryMs: durationMs.optional(),
  /** warmup; default the delay loop (a random start within it). */
  warmupMs: durationMs.optional(),
  alpha: z.boolean().optional(),
};

const checkerBase = {
  connectIp: z.string().optional(),
  connectPort: port.optional(),
  bindTo: z.string().optional(),
  bindPort: port.optional(),
  bindIf: z.string().optional(),
  fwmark: z.number().int().min(0).optional(),
  logAllFailures: z.boolean().default(false),
  ...inheritedCheckFields,
  source,
};

/** keepalived 2.2.7's regex_options words (check_http.c regex_options[], PCRE2 compile options). */
export const PCRE2_OPTIONS = [
  'allow_empty_class',
  'alt_bsux',
  'auto_callout',
  'caseless',
  'dollar_endonly',
  'dotall',
  'dupnames',
  'extended',
  'firstline',
  'match_unset_backref',
  'multiline',
  'never_ucp',
  'never_utf',
  'no_auto_capture',
  'no_auto_possess',
  'no_dotstar_anchor',
  'no_start_optimize',
  'ucp',
  'ungreedy',
  'utf',
  'never_backslash_c',
  'alt_circumflex',
  'alt_verbnames',
  'use_offset_limit',
] as const;
export type Pcre2Option = (typeof PCRE2_OPTIONS)[number];

export const HttpUrlSchema = z
  .object({
    path: z.string().min(1),
    digest: z
      .string()
      .regex(/^[0-9a-fA-F]{32}$/)
      .optional(),
    /** Accepted status code ranges (status_code 200-299 301); default 200-299. */
    statusCodes: z
      .array(
        z
          .object({ from: z.number().int().min(100).max(599), to: z.number().int().min(100).max(599) })
          .strict(),
      )
      .default([{ from: 200, to: 299 }]),
    virtualhost: z.string().optional(),
    /** PCRE2 pattern the body must match (halo runs it as a JS RegExp; see docs/config.md). */
    regex: z.string().optional(),
    regexNoMatch: z.boolean().default(false),
    /** regex_options: PCRE2 compile options by keepalived's names. */
    regexOptions: z.array(z.enum(PCRE2_OPTIONS)).default([]),
    /** regex_min_offset: first body byte a match may start at. */
    regexMinOffset: z.number().int().min(0).optional(),
    /** regex_max_offset: last body byte a match may start at. */
    regexMaxOffset: z.number().int().min(0).optional(),
    source,
  })
  .strict();
export type HttpUrl = z.infer<typeof HttpUrlSchema>;

const httpFields = {
  urls: z.array(HttpUrlSchema).min(1),
  virtualhost: z.string().optional(),
  httpProtocol: z.enum(['1.0', '1.0C', '1.0K', '1.1']).default('1.0'),
  enableSni: z.boolean().default(false),
  fastRecovery: z.boolean().default(false),
};

export const CheckerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('TCP_CHECK'), ...checkerBase }).strict(),
  z.object({ type: z.literal('HTTP_GET'), ...checkerBase, ...httpFields }).strict(),
  z.object({ type: z.literal('SSL_GET'), ...checkerBase, ...httpFields }).strict(),
  z
    .object({
      type: z.literal('MISC_CHECK'),
      ...checkerBase,
      miscPath: script,
      /** misc_timeout; undefined means the delay loop (keepalived). */
      miscTimeoutMs: durationMs.optional(),
      miscDynamic: z.boolean().default(false),
      user: z.string().optional(),
      group: z.string().optional(),
    })
    .strict(),
  z.object({ type: z.literal('PING_CHECK'), ...checkerBase }).strict(),
  z
    .object({
      type: z.literal('UDP_CHECK'),
      ...checkerBase,
      /** payload as hex digits. */
      payload: z
        .string()
        .regex(/^([0-9a-fA-F]{2})*$/)
        .optional(),
      requireReply: z.boolean().default(false),
      /** require_reply PATTERN in hex. */
      replyPattern: z.string().optional(),
      /** min_reply_length / max_reply_length: checked with a reply pattern only, as keepalived does. */
      minReplyLength: z.number().int().min(0).max(65535).default(0),
      maxReplyLength: z.number().int().min(0).max(65535).default(255),
    })
    .strict(),
  z
    .object({
      type: z.literal('DNS_CHECK'),
      ...checkerBase,
      queryType: z.enum(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA', 'RRSIG', 'DNSKEY']).default('SOA'),
      name: z.string().default(''),
    })
    .strict(),
  z
    .object({
      type: z.literal('SMTP_CHECK'),
      ...checkerBase,
      heloName: z.string().default('smtpchecker.keepalived.org'),
    })
    .strict(),
  // Not polled, so none of the connection or timing fields: the file's value drives it.
  z
    .object({
      type: z.literal('FILE_CHECK'),
      /** track_file NAME: a top-level track_file (vrrp_track_file) block. */
      trackFile: z.string().min(1),
      /** weight N [reverse]: the file value's multiplier; default the track_file's weight and reverse. */
      weight: z.number().int().min(-2_147_483_647).max(2_147_483_647).optional(),
      weightReverse: z.boolean().optional(),
      source,
    })
    .strict(),
]);
export const CHECKER_TYPES = [
  'TCP_CHECK',
  'HTTP_GET',
  'SSL_GET',
  'MISC_CHECK',
  'PING_CHECK',
  'UDP_CHECK',
  'DNS_CHECK',
  'SMTP_CHECK',
  'FILE_CHECK',
] as const;

export const RealServerSchema = z
  .object({
    address: ipAddress,
    /** 0 = same as the virtual server's port (normalisation copies it for non-fwmark services). */
    port: port.default(0),
    weight: z.number().int().min(0).max(2_147_483_647).default(1),
    /** Inherited from the virtual server (lb_kind). */
    forwardingMethod: ForwardingMethodSchema.optional(),
    /** Inherited from the virtual server. */
    inhibitOnFailure: z.boolean().optional(),
    notifyUp: script.optional(),
    notifyDown: script.optional(),
    uthreshold: z.number().int().min(0).optional(),
    lthreshold: z.number().int().min(0).optional(),
    smtpAlert: z.boolean().optional(),
    virtualhost: z.string().optional(),
    ...inheritedCheckFields,
    checkers: z.array(CheckerSchema).default([]),
    source,
  })
  .strict();

export const VirtualServerGroupMemberSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('address'),
      address: ipAddress,
      /** Last address of a range "10.0.0.1-10" (the full address), undefined for one address. */
      rangeEnd: z.string().optional(),
      port: port.default(0),
      source,
    })
    .strict(),
  z.object({ type: z.literal('fwmark'), fwmark: z.number().int().min(1), source }).strict(),
]);
export type VirtualServerGroupMember = z.infer<typeof VirtualServerGroupMemberSchema>;

export const VirtualServerGroupSchema = z
  .object({ name: z.string().min(1), members: z.array(VirtualServerGroupMemberSchema).default([]), source })
  .strict();
export type VirtualServerGroup = z.infer<typeof VirtualServerGroupSchema>;

export const SorryServerSchema = z
  .object({
    address: ipAddress,
    port: port.default(0),
    forwardingMethod: ForwardingMethodSchema.optional(),
    inhibit: z.boolean().default(false),
  })
  .strict();

export const VirtualServerSchema = z
  .object({
    /** Exactly one of address (+port), fwmark, group is set. */
    address: ipAddress.optional(),
    port: port.default(0),
    fwmark: z.number().int().min(1).optional(),
    group: z.string().optional(),
    /** Derived from the address / real servers during normalisation; ip_family sets it explicitly. */
    family: z.union([z.literal(4), z.literal(6)]).optional(),
    /**
     * keepalived 2.2.7 leaves the protocol 0 when not given, which the kernel takes as UDP
     * ("no protocol set - defaulting to UDP"); halo does the same and warns. Unused for fwmark.
     */
    protocol: ProtocolSchema.optional(),
    scheduler: SchedulerSchema.default('wlc'),
    /** Scheduler flags by keepalived's names: flag-1/2/3, sh-port, sh-fallback, mh-port, mh-fallback. */
    schedulerFlags: z
      .array(z.enum(['flag-1', 'flag-2', 'flag-3', 'sh-port', 'sh-fallback', 'mh-port', 'mh-fallback']))
      .default([]),
    ops: z.boolean().default(false),
    forwardingMethod: ForwardingMethodSchema.default('NAT'),
    /** persistence_timeout (default 360 s once any persistence keyword is given). */
    persistence: z
      .object({ timeoutMs: durationMs.min(1000).default(360_000), granularity: z.string().optional() })
      .strict()
      .optional(),
    quorum: z.number().int().min(1).default(1),
    hysteresis: z.number().int().min(0).default(0),
    quorumUp: script.optional(),
    quorumDown: script.optional(),
    omega: z.boolean().default(false),
    haSuspend: z.boolean().default(false),
    inhibitOnFailure: z.boolean().default(false),
    virtualhost: z.string().optional(),
    sorryServer: SorryServerSchema.optional(),
    smtpAlert: z.boolean().optional(),
    connectTimeoutMs: durationMs.min(1).default(5000),
    delayLoopMs: durationMs.min(1).default(60_000),
    retry: z.number().int().min(0).optional(),
    delayBeforeRetryMs: durationMs.optional(),
    warmupMs: durationMs.optional(),
    alpha: z.boolean().default(false),
    realServers: z.array(RealServerSchema).default([]),
    source,
  })
  .strict();

/* ------------------------------------------------------------------ bgp (halo's own, not keepalived's) */

/** A standard community "ASN:VALUE" (two 16-bit numbers). */
const community = z
  .string()
  .regex(/^\d{1,5}:\d{1,5}$/, 'a BGP community is ASN:VALUE, e.g. 65000:100')
  .refine((c) => c.split(':').every((n) => Number(n) <= 65535), 'each half of a community is 0-65535')
  .describe('a BGP community ASN:VALUE');
/** A large community "ASN:VALUE1:VALUE2" (three 32-bit numbers, RFC 8092). */
const largeCommunity = z
  .string()
  .regex(/^\d{1,10}:\d{1,10}:\d{1,10}$/, 'a BGP large community is ASN:VALUE1:VALUE2')
  .refine((c) => c.split(':').every((n) => Number(n) <= 4_294_967_295), 'each part is 0-4294967295')
  .describe('a BGP large community ASN:VALUE1:VALUE2');
const asn = z.number().int().min(1).max(4_294_967_295);

/**
 * One VIP announced over BGP (`announce ADDRESS { ... }`): its /32 or /128 is announced while every virtual
 * server on that address (address match or virtual_server_group member) has quorum.
 */
export const BgpAnnounceSchema = z
  .object({
    address: ipAddress,
    /** Override of the virtual servers' own quorum / hysteresis, for the announce decision only. */
    quorum: z.number().int().min(1).optional(),
    hysteresis: z.number().int().min(0).optional(),
    communities: z.array(community).default([]),
    largeCommunities: z.array(largeCommunity).default([]),
    /** MULTI_EXIT_DISC; lower is preferred by the router (primary/backup sites). */
    med: z.number().int().min(0).max(4_294_967_295).optional(),
    /** Extra copies of local_as at the front of the AS path (a backup site announces a longer path). */
    asPathPrepend: z.number().int().min(0).max(16).default(0),
    source,
  })
  .strict();
export type BgpAnnounce = z.infer<typeof BgpAnnounceSchema>;

/** The `bgp` block: halo drives an existing BGP speaker (BIRD 2) that talks to the routers. */
export const BgpSchema = z
  .object({
    /** The speaker halo drives; BIRD 2 is the supported one (docs/bgp.md says why). */
    speaker: z.enum(['bird']).default('bird'),
    /** The speaker's control socket (BIRD: bird -s PATH). */
    controlSocket: z.string().min(1).default('/run/bird/bird.ctl'),
    /** The file halo writes the VIP routes into; the speaker's config includes it. */
    routesFile: z.string().min(1).default('/run/halo/bird/halo-vips.conf'),
    /** The name of the speaker protocol holding the routes (BIRD static protocols NAME4 and NAME6). */
    protocolName: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('halo_vips'),
    /** This director's AS: needed for as_path_prepend, and checked against the speaker's sessions. */
    localAs: asn.optional(),
    /** The speaker's router id, checked at start (a wrong control socket is caught). */
    routerId: z.string().optional(),
    /** Where halo adds the VIPs locally (/32, /128). */
    vipInterface: z.string().min(1).default('lo'),
    /** Health must hold this long before a VIP is announced (damps a flapping pool). */
    announceDelayMs: durationMs.default(0),
    /** At stop: after the speaker stopped announcing, keep the VIPs this long so the routers converge. */
    withdrawDelayMs: durationMs.default(2000),
    /** At stop: give up waiting for the speaker to confirm the withdrawal after this long. */
    withdrawTimeoutMs: durationMs.min(1).default(10_000),
    /** How often halo reads the speaker's sessions and routes (restarts are found this way). */
    pollIntervalMs: durationMs.min(100).default(1000),
    announce: z.array(BgpAnnounceSchema).default([]),
    source,
  })
  .strict();
export type Bgp = z.infer<typeof BgpSchema>;

/* ------------------------------------------------------------------ top level */

export const HaloConfigSchema = z
  .object({
    global: GlobalDefsSchema.default(() => GlobalDefsSchema.parse({})),
    vrrpScripts: z.array(VrrpScriptSchema).default([]),
    trackFiles: z.array(TrackFileSchema).default([]),
    vrrpTrackProcesses: z.array(VrrpTrackProcessSchema).default([]),
    /** static_ipaddress: addresses set at start and kept (restored if deleted) whatever the VRRP state. */
    staticIpaddresses: z.array(VirtualIpSchema).default([]),
    /** static_routes: routes set at start, removed at stop. */
    staticRoutes: z.array(VirtualRouteSchema).default([]),
    /** static_rules: rules set at start, removed at stop. */
    staticRules: z.array(VirtualRuleSchema).default([]),
    vrrpInstances: z.array(VrrpInstanceSchema).default([]),
    syncGroups: z.array(SyncGroupSchema).default([]),
    virtualServerGroups: z.array(VirtualServerGroupSchema).default([]),
    virtualServers: z.array(VirtualServerSchema).default([]),
    bgp: BgpSchema.optional(),
  })
  .strict()
  .describe('halo configuration (the YAML form of keepalived.conf)');

/** What a user may write (YAML) / what the keepalived.conf reader produces before normalisation. */
export type HaloConfigInput = z.input<typeof HaloConfigSchema>;
/** The YAML schema's output: plain defaults filled, inherited fields possibly still unset. */
export type HaloConfigParsed = z.output<typeof HaloConfigSchema>;

/* ------------------------------------------------------------------ normalised (inheritance resolved) */

const inheritedRequired = {
  connectTimeoutMs: true,
  delayLoopMs: true,
  retry: true,
  delayBeforeRetryMs: true,
  warmupMs: true,
  alpha: true,
} as const;

export const NormalisedCheckerSchema = z.discriminatedUnion('type', [
  CheckerSchema.options[0].required(inheritedRequired),
  CheckerSchema.options[1].required(inheritedRequired),
  CheckerSchema.options[2].required(inheritedRequired),
  CheckerSchema.options[3].required({ ...inheritedRequired, miscTimeoutMs: true }),
  CheckerSchema.options[4].required(inheritedRequired),
  CheckerSchema.options[5].required(inheritedRequired),
  CheckerSchema.options[6].required(inheritedRequired),
  CheckerSchema.options[7].required(inheritedRequired),
  CheckerSchema.options[8].required({ weight: true, weightReverse: true }),
]);

export const NormalisedRealServerSchema = RealServerSchema.required({
  ...inheritedRequired,
  forwardingMethod: true,
  inhibitOnFailure: true,
  smtpAlert: true,
}).extend({ checkers: z.array(NormalisedCheckerSchema) });

export const NormalisedVirtualServerSchema = VirtualServerSchema.required({
  family: true,
  protocol: true,
  retry: true,
  delayBeforeRetryMs: true,
  warmupMs: true,
  smtpAlert: true,
}).extend({ realServers: z.array(NormalisedRealServerSchema) });

export const NormalisedVirtualIpSchema = VirtualIpSchema.required({ prefixLength: true, family: true });
/** A static address always names its interface (default: global default_interface, else eth0, as keepalived). */
export const NormalisedStaticAddressSchema = NormalisedVirtualIpSchema.required({ dev: true });
export const NormalisedVirtualRouteSchema = VirtualRouteSchema.required({ family: true });
export const NormalisedVirtualRuleSchema = VirtualRuleSchema.required({ family: true, priority: true });
export const NormalisedVrrpTrackProcessSchema = VrrpTrackProcessSchema.required({ paramMatch: true });

export const NormalisedVrrpInstanceSchema = VrrpInstanceSchema.required({
  interface: true,
  version: true,
  family: true,
  smtpAlert: true,
  garpMasterDelayMs: true,
  garpMasterRepeat: true,
  garpMasterRefreshMs: true,
  garpMasterRefreshRepeat: true,
  garpIntervalMs: true,
  gnaIntervalMs: true,
  lowerPrioNoAdvert: true,
  higherPrioSendAdvert: true,
  accept: true,
  strictMode: true,
  skipCheckAdvAddr: true,
  checkUnicastSrc: true,
  downTimerAdverts: true,
  v3ChecksumAsV2: true,
}).extend({
  virtualIpaddresses: z.array(NormalisedVirtualIpSchema),
  virtualIpaddressesExcluded: z.array(NormalisedVirtualIpSchema),
  /** Track references with the referenced script's / file's weight filled in. */
  trackScripts: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackFiles: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackProcesses: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  virtualRoutes: z.array(NormalisedVirtualRouteSchema),
  virtualRules: z.array(NormalisedVirtualRuleSchema),
});

export const NormalisedSyncGroupSchema = SyncGroupSchema.required({ smtpAlert: true }).extend({
  trackScripts: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackFiles: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackProcesses: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
});

export const NormalisedHaloConfigSchema = HaloConfigSchema.extend({
  global: GlobalDefsSchema,
  vrrpScripts: z.array(VrrpScriptSchema.required({ timeoutMs: true })),
  trackFiles: z.array(TrackFileSchema),
  vrrpTrackProcesses: z.array(NormalisedVrrpTrackProcessSchema),
  staticIpaddresses: z.array(NormalisedStaticAddressSchema),
  staticRoutes: z.array(NormalisedVirtualRouteSchema),
  staticRules: z.array(NormalisedVirtualRuleSchema),
  vrrpInstances: z.array(NormalisedVrrpInstanceSchema),
  syncGroups: z.array(NormalisedSyncGroupSchema),
  virtualServerGroups: z.array(VirtualServerGroupSchema),
  virtualServers: z.array(NormalisedVirtualServerSchema),
});

/** The normalised model, every default filled in (what `loadConfig` returns). */
export type HaloConfig = z.output<typeof NormalisedHaloConfigSchema>;
export type VrrpScript = HaloConfig['vrrpScripts'][number];
export type VrrpInstance = z.output<typeof NormalisedVrrpInstanceSchema>;
export type VirtualIp = z.output<typeof NormalisedVirtualIpSchema>;
export type SyncGroup = z.output<typeof NormalisedSyncGroupSchema>;
export type VirtualServer = z.output<typeof NormalisedVirtualServerSchema>;
export type RealServer = z.output<typeof NormalisedRealServerSchema>;
export type Checker = z.output<typeof NormalisedCheckerSchema>;
/** Every checker but FILE_CHECK: the ones with connection and timing settings. */
export type PolledChecker = Exclude<Checker, { type: 'FILE_CHECK' }>;
export type CheckerType = Checker['type'];
export type BgpConfig = NonNullable<HaloConfig['bgp']>;
export type ResolvedTrackRef = VrrpInstance['trackScripts'][number];
export type StaticAddress = HaloConfig['staticIpaddresses'][number];
export type NormalisedVirtualRoute = z.output<typeof NormalisedVirtualRouteSchema>;
export type NormalisedVirtualRule = z.output<typeof NormalisedVirtualRuleSchema>;
export type NormalisedVrrpTrackProcess = z.output<typeof NormalisedVrrpTrackProcessSchema>;
