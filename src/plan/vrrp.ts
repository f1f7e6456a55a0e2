/**
 * The VRRP engine's plan: everything the VRRP worker needs, built by one pure function from the
 * normalised config model. The engine never reads the config model; a reload hands it a new plan and
 * it applies the difference (see src/plan/vrrp-diff.ts).
 *
 * Every field is required (absent settings are `undefined` or empty, explicitly), so a keyword that
 * reaches the model but not this plan shows up in the keyword-effect test
 * (test/unit/plan-keyword-effect.test.ts).
 *
 * The core's per-instance parameters (`core`) are the pure state machine's `VrrpInstanceParams` minus
 * the one host fact the engine resolves at run time: the source address when no unicast_src_ip /
 * mcast_src_ip is configured (the interface's primary address).
 */
import type {
  HaloConfig,
  NormalisedVirtualRoute,
  NormalisedVirtualRule,
  NormalisedVrrpTrackProcess,
  Notify,
  VirtualIp,
  VrrpInstance,
} from '../config/model.js';
import type { VrrpInstanceParams } from '../vrrp/instance.js';
import { trackedProcessesFor } from '../vrrp/process-tracking.js';
import { normaliseTracking, type TrackingConfig } from '../vrrp/tracking.js';
import type { Family, InstanceName } from './ids.js';
import { type PartScheduling, schedulingOf } from './scheduling.js';

/** A virtual address with the options it is added with. */
export interface VipPlan {
  readonly address: string;
  readonly prefixLength: number;
  readonly family: Family;
  /** The interface it lives on (`dev`), else the instance's interface. */
  readonly interface: string;
  readonly broadcast: string | undefined;
  readonly label: string | undefined;
  readonly scope: VirtualIp['scope'];
  readonly peer: string | undefined;
  readonly noprefixroute: boolean;
  readonly homeaddress: boolean;
  readonly nodad: boolean;
  readonly preferredLft: number | undefined;
  /** Carried in our adverts (the instance's family, virtual_ipaddress); else only added (excluded). */
  readonly advertised: boolean;
}

export type RoutePlan = Omit<NormalisedVirtualRoute, 'source'>;
export type RulePlan = Omit<NormalisedVirtualRule, 'source'>;
export type TrackProcessPlan = Omit<NormalisedVrrpTrackProcess, 'source'>;

/** use_vmac: the VIPs and adverts live on a macvlan with the VRRP MAC 00:00:5e:00:01|02:VRID. */
export interface VmacPlan {
  /** The macvlan's name (use_vmac NAME, else vrrp.VRID). */
  readonly name: string;
  /** vmac_xmit_base: adverts leave through the base interface, not the macvlan. */
  readonly xmitBase: boolean;
}

export interface ScriptUserPlan {
  readonly user: string;
  readonly group: string | undefined;
}

export interface TrackScriptPlan {
  readonly name: string;
  readonly command: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly initFail: boolean;
  /** Runs as (the script's `user`, else global script_user). */
  readonly runAs: ScriptUserPlan | undefined;
}

export interface TrackFilePlan {
  readonly name: string;
  readonly path: string;
  /** init_file: create the file at start with this value (overwrite: even if it exists). */
  readonly init: { readonly value: number; readonly overwrite: boolean } | undefined;
}

export interface NotifyPlan {
  readonly master: string | undefined;
  readonly backup: string | undefined;
  readonly fault: string | undefined;
  readonly stop: string | undefined;
  /** notify_deleted SCRIPT (only instances). */
  readonly deleted: string | undefined;
  /** `notify`: called for every state with TYPE NAME STATE PRIORITY. */
  readonly any: string | undefined;
  readonly masterRxLowerPri: string | undefined;
}

export type CoreParams = Omit<VrrpInstanceParams, 'sourceAddress'>;

export interface VrrpInstancePlan {
  readonly name: InstanceName;
  readonly interface: string;
  readonly family: Family;
  readonly syncGroup: string | undefined;
  /** The pure core's parameters, but for the source address. */
  readonly core: CoreParams;
  /** unicast_src_ip, else mcast_src_ip; undefined: the interface's primary address at run time. */
  readonly sourceAddress: string | undefined;
  readonly vips: readonly VipPlan[];
  /** virtual_routes / virtual_rules: set while MASTER, after the VIPs; removed before them. */
  readonly routes: readonly RoutePlan[];
  readonly rules: readonly RulePlan[];
  readonly vmac: VmacPlan | undefined;
  /** What moves the effective priority or forces FAULT (own interface, tracked objects, the sync group's). */
  readonly tracking: TrackingConfig;
  /** Config-time tracking notes (keepalived's "ignoring ... due to SYNC group"), logged at start. */
  readonly trackingNotes: readonly string[];
  readonly notify: NotifyPlan;
  /** notify_deleted: a reload that removes the instance notifies DELETED; else FAULT (keepalived). */
  readonly notifyDeleted: boolean;
}

export interface SyncGroupPlan {
  readonly name: string;
  readonly members: readonly InstanceName[];
  readonly notify: NotifyPlan;
}

export interface VrrpPlan {
  readonly instances: readonly VrrpInstancePlan[];
  readonly syncGroups: readonly SyncGroupPlan[];
  /** Only the scripts, files and processes some instance tracks (keepalived does not run unused ones either). */
  readonly scripts: readonly TrackScriptPlan[];
  readonly trackFiles: readonly TrackFilePlan[];
  readonly trackProcesses: readonly TrackProcessPlan[];
  /** dynamic_interfaces: an instance whose interface is missing waits in FAULT until it appears. */
  readonly dynamicInterfaces: boolean;
  /** Scripts (notify, track) run as this user unless they name their own. */
  readonly scriptUser: ScriptUserPlan | undefined;
  /** enable_script_security: refuse scripts a non-root user could modify. */
  readonly scriptSecurity: boolean;
  /** vrrp_startup_delay: no instance leaves BACKUP before this long after start. */
  readonly startupDelayMs: number;
  /** vrrp_rt_priority, vrrp_priority, vrrp_cpu_affinity, vrrp_no_swap, vrrp_rlimit_rttime. */
  readonly scheduling: PartScheduling;
}

function notifyPlan(n: Notify): NotifyPlan {
  return {
    master: n.master,
    backup: n.backup,
    fault: n.fault,
    stop: n.stop,
    deleted: n.deleted,
    any: n.any,
    masterRxLowerPri: n.masterRxLowerPri,
  };
}

/** keepalived's VMAC name for an instance: use_vmac NAME, else vrrp.VRID. */
export function vmacInterface(inst: Pick<VrrpInstance, 'useVmac' | 'virtualRouterId'>): string | undefined {
  return inst.useVmac ? (inst.useVmac.name ?? `vrrp.${inst.virtualRouterId}`) : undefined;
}

function vipPlan(inst: VrrpInstance, v: VirtualIp, listedAsVip: boolean): VipPlan {
  return {
    address: v.address,
    prefixLength: v.prefixLength,
    family: v.family,
    // With use_vmac the VIPs live on the VMAC (their own `dev` still wins).
    interface: v.dev ?? vmacInterface(inst) ?? inst.interface,
    broadcast: v.broadcast,
    label: v.label,
    scope: v.scope,
    peer: v.peer,
    noprefixroute: v.noprefixroute,
    homeaddress: v.homeaddress,
    nodad: v.nodad,
    preferredLft: v.preferredLft,
    // keepalived adds VIPs of the other family and virtual_ipaddress_excluded, but does not advertise them.
    advertised: listedAsVip && v.family === inst.family,
  };
}

function coreParams(cfg: HaloConfig, inst: VrrpInstance, vips: readonly VipPlan[]): CoreParams {
  const g = cfg.global;
  return {
    name: inst.name,
    virtualRouterId: inst.virtualRouterId,
    version: inst.version,
    family: inst.family,
    priority: inst.priority,
    advertIntervalMs: inst.advertIntervalMs,
    // The model defaults `state` to BACKUP; the core derives the start state from priority 255 when the
    // config did not ask for MASTER, as keepalived does.
    state: inst.state === 'MASTER' ? 'MASTER' : inst.priority === 255 ? undefined : 'BACKUP',
    preempt: inst.preempt,
    preemptDelayMs: inst.preemptDelayMs,
    authentication: inst.authentication
      ? { type: inst.authentication.type, password: inst.authentication.password }
      : undefined,
    virtualAddresses: vips.filter((v) => v.advertised).map((v) => v.address),
    excludedAddresses: vips.filter((v) => !v.advertised).map((v) => v.address),
    unicastPeers: inst.unicastPeers.map((p) => ({ address: p.address, minTtl: p.minTtl, maxTtl: p.maxTtl })),
    multicastGroup: inst.family === 4 ? g.vrrpMcastGroup4 : g.vrrpMcastGroup6,
    checkUnicastSrc: inst.checkUnicastSrc,
    skipCheckAdvAddr: inst.skipCheckAdvAddr,
    garpMasterDelayMs: inst.garpMasterDelayMs,
    garpMasterRepeat: inst.garpMasterRepeat,
    garpMasterRefreshMs: inst.garpMasterRefreshMs,
    garpMasterRefreshRepeat: inst.garpMasterRefreshRepeat,
    garpLowerPrioDelayMs: inst.garpLowerPrioDelayMs ?? g.vrrpGarpLowerPrioDelayMs,
    garpLowerPrioRepeat: inst.garpLowerPrioRepeat ?? g.vrrpGarpLowerPrioRepeat,
    garpIntervalMs: inst.garpIntervalMs,
    gnaIntervalMs: inst.gnaIntervalMs,
    lowerPrioNoAdvert: inst.lowerPrioNoAdvert,
    higherPrioSendAdvert: inst.higherPrioSendAdvert,
    // Strict mode keeps RFC timing: keepalived resets down_timer_adverts to 3 for strict instances.
    downTimerAdverts: inst.strictMode ? 3 : inst.downTimerAdverts,
    strictMode: inst.strictMode,
    v3ChecksumAsV2: inst.v3ChecksumAsV2,
    unicastChecksumCompat: inst.unicastChecksumCompat,
  };
}

function trackingOf(cfg: HaloConfig, inst: VrrpInstance): { config: TrackingConfig; warnings: string[] } {
  const group = cfg.syncGroups.find((g) => g.group.includes(inst.name));
  const processes = trackedProcessesFor(inst, group);
  const weighted = (t: { name: string; weight: number; weightReverse: boolean }) => ({
    name: t.name,
    weight: t.weight,
    reverse: t.weightReverse,
  });
  const t = normaliseTracking(
    inst.name,
    {
      basePriority: inst.priority,
      // The own interface is tracked with weight 0 (FAULT when it goes down) unless dont_track_primary.
      interfaces: [
        ...(inst.dontTrackPrimary ? [] : [{ name: inst.interface, weight: 0 }]),
        ...inst.trackInterfaces.map(weighted),
        ...(group?.trackInterfaces ?? []).map(weighted),
      ],
      // keepalived applies a sync group's tracking to every member.
      scripts: [...inst.trackScripts, ...(group?.trackScripts ?? [])].map(weighted),
      files: [...inst.trackFiles, ...(group?.trackFiles ?? [])].map(weighted),
      processes: processes.processes,
    },
    { inSyncGroupWithoutTrackingWeight: group !== undefined },
  );
  return {
    config: t.config,
    warnings: [...processes.warnings.map((w) => `(${inst.name}) ${w}`), ...t.warnings],
  };
}

export function buildVrrpInstancePlan(cfg: HaloConfig, inst: VrrpInstance): VrrpInstancePlan {
  const vips = [
    ...inst.virtualIpaddresses.map((v) => vipPlan(inst, v, true)),
    ...inst.virtualIpaddressesExcluded.map((v) => vipPlan(inst, v, false)),
  ];
  const tracking = trackingOf(cfg, inst);
  return {
    name: inst.name,
    interface: inst.interface,
    family: inst.family,
    syncGroup: cfg.syncGroups.find((g) => g.group.includes(inst.name))?.name,
    core: coreParams(cfg, inst, vips),
    sourceAddress: inst.unicastSrcIp ?? inst.mcastSrcIp,
    vips,
    routes: inst.virtualRoutes.map(({ source: _source, ...route }) => route),
    rules: inst.virtualRules.map(({ source: _source, ...rule }) => rule),
    vmac: inst.useVmac ? { name: vmacInterface(inst) as string, xmitBase: inst.vmacXmitBase } : undefined,
    tracking: tracking.config,
    trackingNotes: tracking.warnings,
    notify: notifyPlan(inst.notify),
    notifyDeleted: inst.notifyDeleted,
  };
}

/** The VRRP engine's plan for a config. Pure. */
export function buildVrrpPlan(cfg: HaloConfig): VrrpPlan {
  const instances = cfg.vrrpInstances.map((inst) => buildVrrpInstancePlan(cfg, inst));
  const g = cfg.global;
  const scriptUser = g.scriptUser ? { user: g.scriptUser.user, group: g.scriptUser.group } : undefined;
  const usedScripts = new Set(instances.flatMap((i) => i.tracking.scripts.map((s) => s.name)));
  const usedFiles = new Set(instances.flatMap((i) => i.tracking.files.map((f) => f.name)));
  const usedProcesses = new Set(instances.flatMap((i) => (i.tracking.processes ?? []).map((p) => p.name)));
  return {
    instances,
    syncGroups: cfg.syncGroups.map((sg) => ({
      name: sg.name,
      members: [...sg.group],
      notify: notifyPlan(sg.notify),
    })),
    scripts: cfg.vrrpScripts
      .filter((s) => usedScripts.has(s.name))
      .map((s) => ({
        name: s.name,
        command: s.script,
        intervalMs: s.intervalMs,
        timeoutMs: s.timeoutMs,
        rise: s.rise,
        fall: s.fall,
        initFail: s.initFail,
        runAs: s.user ? { user: s.user, group: s.group } : scriptUser,
      })),
    trackFiles: cfg.trackFiles
      .filter((f) => usedFiles.has(f.name))
      .map((f) => ({
        name: f.name,
        path: f.file,
        init: f.initFile ? { value: f.initFile.value, overwrite: f.initFile.overwrite } : undefined,
      })),
    trackProcesses: cfg.vrrpTrackProcesses
      .filter((t) => usedProcesses.has(t.name))
      .map(({ source: _source, ...t }) => t),
    dynamicInterfaces: g.dynamicInterfaces,
    scriptUser,
    scriptSecurity: g.enableScriptSecurity,
    startupDelayMs: g.vrrpStartupDelayMs,
    scheduling: schedulingOf(g, 'vrrp'),
  };
}
