/**
 * Which instance a received VRRP packet belongs to (pure), as keepalived's vrrp_dispatcher_read() decides:
 * by receiving interface, address family and VRID; when several unicast instances share a VRID on one
 * interface (keepalived's "unicast duplicate VRID"), by the packet's source being one of the instance's peers.
 * A packet for a VRID we do not run is not an error: keepalived ignores it (logging it with log_unknown_vrids);
 * the shell counts it.
 */
import { canonicalIp, type IpFamily } from './addr.js';
import { IPPROTO_VRRP, peekVrid } from './codec.js';

export interface DispatchEntry {
  /** Instance name. */
  name: string;
  family: IpFamily;
  vrid: number;
  /** Interface index the instance listens on; undefined = any. */
  ifindex?: number;
  /** Unicast peers (canonical or not); empty / undefined = multicast instance. */
  unicastPeers?: readonly string[];
}

export type DispatchResult =
  | { type: 'instance'; name: string }
  | { type: 'unknown-vrid'; vrid: number }
  | { type: 'too-short' };

export class VrrpDispatcher {
  private readonly byKey = new Map<string, DispatchEntry[]>();

  constructor(entries: readonly DispatchEntry[]) {
    for (const e of entries) {
      const k = key(e.family, e.vrid);
      const list = this.byKey.get(k) ?? [];
      list.push({
        ...e,
        unicastPeers: e.unicastPeers?.map((p) => canonicalIp(p, e.family) ?? p),
      });
      this.byKey.set(k, list);
    }
  }

  route(pkt: {
    data: Uint8Array;
    family: IpFamily;
    source: string;
    ifindex?: number;
    protocol?: number;
  }): DispatchResult {
    const vrid = peekVrid(pkt.data, pkt.protocol ?? IPPROTO_VRRP);
    if (vrid === undefined) return { type: 'too-short' };
    const candidates = (this.byKey.get(key(pkt.family, vrid)) ?? []).filter(
      (e) => e.ifindex === undefined || pkt.ifindex === undefined || e.ifindex === pkt.ifindex,
    );
    if (candidates.length === 0) return { type: 'unknown-vrid', vrid };
    if (candidates.length === 1) return { type: 'instance', name: candidates[0].name };
    const src = canonicalIp(pkt.source, pkt.family) ?? pkt.source;
    const byPeer = candidates.find((e) => e.unicastPeers?.includes(src));
    if (byPeer) return { type: 'instance', name: byPeer.name };
    // Several instances, none with this peer: a multicast one takes it, else it is unknown (keepalived).
    const mcast = candidates.find((e) => !e.unicastPeers?.length);
    return mcast ? { type: 'instance', name: mcast.name } : { type: 'unknown-vrid', vrid };
  }
}

function key(family: IpFamily, vrid: number): string {
  return `${family}/${vrid}`;
}
