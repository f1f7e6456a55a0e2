/**
 * The checker + IPVS reconciler part of the daemon (wired in by run-cmd).
 */
import type { HaloConfig } from '../config/model.js';
import type { LvsPart } from './supervisor.js';

export function createLvsPart(config: HaloConfig): LvsPart | undefined {
  if (config.virtualServers.length === 0) return undefined;
  throw new Error('virtual_server support (checks + IPVS) is not wired into halo run yet; use --vrrp-only');
}
