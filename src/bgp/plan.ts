/**
 * The BGP plan: everything the BGP part needs, built once per start/reload by a pure function from the
 * normalised config, every field required (null where the config says nothing), so the decision core and
 * the speaker never read the config model or know its defaults.
 *
 * Each announced VIP carries its health rule: the virtual servers whose traffic arrives on that address,
 * each with the real servers (by the health key the checker part reports) and the quorum / hysteresis to
 * apply (the announce block's override, else the virtual server's own).
 */
import { isIP } from 'node:net';
import type { HaloConfig, RealServer, VirtualServer } from '../config/model.js';
import { virtualServersOfVip } from '../config/semantic.js';
import { canonicalAddress } from '../ipvs/addr.js';
import { type RealServerKey, realServerKey, type VirtualServerKey, virtualServerKey } from '../plan/ids.js';
import { realServerIdOf, virtualServerIdOf } from '../plan/ipvs.js';

/** Path attributes of one announced route. */
export interface RouteAttributes {
  communities: string[];
  largeCommunities: string[];
  med: number | null;
  /** How many extra copies of `localAs` go at the front of the AS path. */
  asPathPrepend: number;
}

/** A route the speaker should originate. */
export interface RouteSpec {
  /** "10.0.0.100/32" or "2001:db8::100/128", canonical. */
  prefix: string;
  family: 4 | 6;
  attributes: RouteAttributes;
}

export interface RealServerRule {
  /** The key the checker part reports health under (the real server's typed identity). */
  healthKey: RealServerKey;
  /** Configured weight (a misc_dynamic weight in the health report replaces it). */
  weight: number;
  /** No checkers: always alive (keepalived). */
  alwaysAlive: boolean;
  /** Alive before its first check (false when a checker has `alpha`). */
  startsAlive: boolean;
}

export interface VirtualServerRule {
  /** Stable identity (the virtual server's typed identity key). */
  id: VirtualServerKey;
  quorum: number;
  hysteresis: number;
  realServers: RealServerRule[];
}

export interface AnnouncementPlan {
  route: RouteSpec;
  /** The VIP itself, added to `vipInterface` with prefix length 32 / 128. */
  address: string;
  /** All of these must have quorum for the VIP to be announced. */
  virtualServers: VirtualServerRule[];
}

export interface BirdSpeakerPlan {
  kind: 'bird';
  controlSocket: string;
  routesFile: string;
  /** BIRD static protocols `${protocolName}4` and `${protocolName}6` hold the routes. */
  protocolName: string;
  localAs: number | null;
  routerId: string | null;
}

export type SpeakerPlan = BirdSpeakerPlan;

export interface BgpPlan {
  speaker: SpeakerPlan;
  vipInterface: string;
  announceDelayMs: number;
  withdrawDelayMs: number;
  withdrawTimeoutMs: number;
  pollIntervalMs: number;
  announcements: AnnouncementPlan[];
}

function realServerRule(vs: VirtualServer, rs: RealServer): RealServerRule {
  return {
    healthKey: realServerKey(realServerIdOf(virtualServerIdOf(vs), rs)),
    weight: rs.weight,
    alwaysAlive: rs.checkers.length === 0,
    startsAlive: !rs.checkers.some((c) => c.type !== 'FILE_CHECK' && c.alpha),
  };
}

/** The plan for a config with a `bgp` block; undefined without one. */
export function buildBgpPlan(config: HaloConfig): BgpPlan | undefined {
  const bgp = config.bgp;
  if (!bgp) return undefined;
  return {
    speaker: {
      kind: bgp.speaker,
      controlSocket: bgp.controlSocket,
      routesFile: bgp.routesFile,
      protocolName: bgp.protocolName,
      localAs: bgp.localAs ?? null,
      routerId: bgp.routerId ?? null,
    },
    vipInterface: bgp.vipInterface,
    announceDelayMs: bgp.announceDelayMs,
    withdrawDelayMs: bgp.withdrawDelayMs,
    withdrawTimeoutMs: bgp.withdrawTimeoutMs,
    pollIntervalMs: bgp.pollIntervalMs,
    announcements: bgp.announce.map((a) => {
      const family = isIP(a.address) === 6 ? 6 : 4;
      const address = canonicalAddress(a.address);
      return {
        address,
        route: {
          prefix: `${address}/${family === 6 ? 128 : 32}`,
          family,
          attributes: {
            communities: [...a.communities],
            largeCommunities: [...a.largeCommunities],
            med: a.med ?? null,
            asPathPrepend: a.asPathPrepend,
          },
        },
        virtualServers: virtualServersOfVip(config, a.address).map((vs) => ({
          id: virtualServerKey(virtualServerIdOf(vs)),
          quorum: a.quorum ?? vs.quorum,
          hysteresis: a.hysteresis ?? vs.hysteresis,
          realServers: vs.realServers.map((rs) => realServerRule(vs, rs)),
        })),
      };
    }),
  };
}
