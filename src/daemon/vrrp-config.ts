/**
 * From the config model to the pure VRRP core's parameters. Pure: the only
 * host fact it needs (the interface's primary address, the source of our
 * adverts when no unicast_src_ip / mcast_src_ip is set) is passed in.
 */
import type { HaloConfig, VirtualIp, VrrpInstance } from '../config/model.js';
import type { VrrpInstanceParams } from '../vrrp/instance.js';
import { normaliseTracking, type TrackingConfig } from '../vrrp/tracking.js';

/** Every address an instance adds when MASTER, with the options to add it with. */
export function instanceAddresses(inst: VrrpInstance): VirtualIp[] {
  return [...inst.virtualIpaddresses, ...inst.virtualIpaddressesExcluded];
}

export function instanceParams(
  cfg: HaloConfig,
  inst: VrrpInstance,
  primaryAddress: string,
): VrrpInstanceParams {
  const family = inst.family;
  const advertised = inst.virtualIpaddresses.filter((v) => v.family === family).map((v) => v.address);
  // keepalived adds VIPs of the other family and virtual_ipaddress_excluded, but does not advertise them.
  const excluded = [
    ...inst.virtualIpaddresses.filter((v) => v.family !== family),
    ...inst.virtualIpaddressesExcluded,
  ].map((v) => v.address);
  const g = cfg.global;
  return {
    name: inst.name,
    virtualRouterId: inst.virtualRouterId,
    version: inst.version,
    family,
    priority: inst.priority,
    advertIntervalMs: inst.advertIntervalMs,
    // The model defaults `state` to BACKUP; the core derives the start state from priority 255 when the
    // config did not ask for MASTER, as keepalived does.
    state: inst.state === 'MASTER' ? 'MASTER' : inst.priority === 255 ? undefined : 'BACKUP',
    preempt: inst.preempt,
    preemptDelayMs: inst.preemptDelayMs,
    auth: inst.authentication
      ? { type: inst.authentication.type === 'PASS' ? 'pass' : 'ah', password: inst.authentication.password }
      : undefined,
    virtualAddresses: advertised,
    excludedAddresses: excluded,
    sourceAddress: inst.unicastSrcIp ?? inst.mcastSrcIp ?? primaryAddress,
    unicastPeers: inst.unicastPeers.map((p) => ({ address: p.address, minTtl: p.minTtl, maxTtl: p.maxTtl })),
    checkUnicastSrc: inst.checkUnicastSrc,
    skipCheckAdvAddr: inst.skipCheckAdvAddr,
    garpMasterDelayMs: inst.garpMasterDelayMs,
    garpMasterRepeat: inst.garpMasterRepeat,
    garpMasterRefreshMs: inst.garpMasterRefreshMs,
    garpMasterRefreshRepeat: inst.garpMasterRefreshRepeat,
    garpLowerPrioDelayMs: inst.garpLowerPrioDelayMs ?? g.vrrpGarpLowerPrioDelayMs,
    garpLowerPrioRepeat: inst.garpLowerPrioRepeat ?? g.vrrpGarpLowerPrioRepeat,
    lowerPrioNoAdvert: inst.lowerPrioNoAdvert,
    higherPrioSendAdvert: inst.higherPrioSendAdvert,
    downTimerAdverts: g.vrrpDownTimerAdverts,
  };
}

/** The sync group an instance belongs to, if any. */
export function syncGroupOf(cfg: HaloConfig, name: string): HaloConfig['syncGroups'][number] | undefined {
  return cfg.syncGroups.find((g) => g.group.includes(name));
}

/**
 * What an instance tracks: its own interface (weight 0, i.e. FAULT when it goes
 * down, unless dont_track_primary), track_interface / track_script / track_file,
 * plus whatever its sync group tracks (keepalived applies group tracking to
 * every member).
 */
export function trackingConfigOf(
  cfg: HaloConfig,
  inst: VrrpInstance,
): { config: TrackingConfig; warnings: string[] } {
  const group = syncGroupOf(cfg, inst.name);
  const interfaces = [
    ...(inst.dontTrackPrimary ? [] : [{ name: inst.interface, weight: 0 }]),
    ...inst.trackInterfaces.map((t) => ({ name: t.name, weight: t.weight, reverse: t.weightReverse })),
    ...(group?.trackInterfaces ?? []).map((t) => ({
      name: t.name,
      weight: t.weight,
      reverse: t.weightReverse,
    })),
  ];
  const scripts = [...inst.trackScripts, ...(group?.trackScripts ?? [])].map((t) => ({
    name: t.name,
    weight: t.weight,
    reverse: t.weightReverse,
  }));
  const files = [...inst.trackFiles, ...(group?.trackFiles ?? [])].map((t) => ({
    name: t.name,
    weight: t.weight,
    reverse: t.weightReverse,
  }));
  return normaliseTracking(
    inst.name,
    { basePriority: inst.priority, interfaces, scripts, files },
    { inSyncGroupWithoutTrackingWeight: group !== undefined },
  );
}
