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

export const SmtpServerSchema = z.object({ host: z.string().min(1), port: port.default(25) });

export const GlobalDefsSchema = z
  .object({
    /** router_id; undefined means the host name at run time (keepalived does the same). */
    routerId: z.string().optional(),
    notificationEmail: z.array(z.string()).default([]),
    /** undefined means keepalived@<local host name> at run time. */
    notificationEmailFrom: z.string().optional(),
    smtpServer: SmtpServerSchema.optional(),
    smtpHeloName: z.string().optional(),
    smtpConnectTimeoutMs: durationMs.default(30_000),
    smtpAlert: z.boolean().default(false),
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
    notifyFifo: z.object({ path: z.string(), script: script.optional() }).optional(),
    vrrpNotifyFifo: z.object({ path: z.string(), script: script.optional() }).optional(),
    lvsNotifyFifo: z.object({ path: z.string(), script: script.optional() }).optional(),
    checkerLogAllFailures: z.boolean().default(false),
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

export const VirtualRouteSchema = z
  .object({
    /** CIDR destination, or 'default'. */
    destination: z.string().min(1),
    via: z.string().optional(),
    src: z.string().optional(),
    dev: z.string().optional(),
    table: z.union([z.number().int(), z.string()]).optional(),
    metric: z.number().int().min(0).optional(),
    scope: ScopeSchema.optional(),
    type: z.enum(['unicast', 'blackhole', 'unreachable', 'prohibit', 'local', 'throw']).default('unicast'),
    protocol: z.union([z.number().int(), z.string()]).optional(),
    noTrack: z.boolean().default(false),
    source,
  })
  .strict();
export type VirtualRoute = z.infer<typeof VirtualRouteSchema>;

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
    unicastSrcIp: z.string().optional(),
    unicastPeers: z.array(UnicastPeerSchema).default([]),
    mcastSrcIp: z.string().optional(),
    trackInterfaces: z.array(TrackInterfaceSchema).default([]),
    trackScripts: z.array(TrackRefSchema).default([]),
    trackFiles: z.array(TrackRefSchema).default([]),
    dontTrackPrimary: z.boolean().default(false),
    notify: NotifySchema.default({}),
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
    /** v3 only: keepalived's unicast_ttl / debug etc. are not modelled. */
    source,
  })
  .strict();

export const SyncGroupSchema = z
  .object({
    name: z.string().min(1),
    group: z.array(z.string().min(1)).min(1),
    notify: NotifySchema.default({}),
    smtpAlert: z.boolean().default(false),
    trackInterfaces: z.array(TrackInterfaceSchema).default([]),
    trackScripts: z.array(TrackRefSchema).default([]),
    trackFiles: z.array(TrackRefSchema).default([]),
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

/* ------------------------------------------------------------------ top level */

export const HaloConfigSchema = z
  .object({
    global: GlobalDefsSchema.default(() => GlobalDefsSchema.parse({})),
    vrrpScripts: z.array(VrrpScriptSchema).default([]),
    trackFiles: z.array(TrackFileSchema).default([]),
    vrrpInstances: z.array(VrrpInstanceSchema).default([]),
    syncGroups: z.array(SyncGroupSchema).default([]),
    virtualServerGroups: z.array(VirtualServerGroupSchema).default([]),
    virtualServers: z.array(VirtualServerSchema).default([]),
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
}).extend({
  virtualIpaddresses: z.array(NormalisedVirtualIpSchema),
  virtualIpaddressesExcluded: z.array(NormalisedVirtualIpSchema),
  /** Track references with the referenced script's / file's weight filled in. */
  trackScripts: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackFiles: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
});

export const NormalisedSyncGroupSchema = SyncGroupSchema.extend({
  trackScripts: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
  trackFiles: z.array(TrackRefSchema.required({ weight: true, weightReverse: true })),
});

export const NormalisedHaloConfigSchema = HaloConfigSchema.extend({
  global: GlobalDefsSchema,
  vrrpScripts: z.array(VrrpScriptSchema.required({ timeoutMs: true })),
  trackFiles: z.array(TrackFileSchema),
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
export type ResolvedTrackRef = VrrpInstance['trackScripts'][number];
