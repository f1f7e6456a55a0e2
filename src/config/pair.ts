/**
 * Pair checks (`halo config check a.conf b.conf`): the two directors of a VRRP pair must agree where
 * VRRP needs them to, or they split-brain or flap: VRID, version, advert_int, authentication, the VIP
 * list, the multicast group or unicast peers pointing at each other, priorities that elect the master the
 * operator meant, and identical virtual servers (else a failover changes the service). Each disagreement
 * is a diagnostic on both files, at the object it is about. Pure: two normalised models in, diagnostics out.
 */
import type { Diagnostic } from './diagnostics.js';
import type { HaloConfig, VirtualServer, VrrpInstance } from './model.js';
import { withoutSources } from './yaml.js';

export interface PairSide {
  file: string;
  config: HaloConfig;
}

type Where = { file: string; line: number; col: number };

function where(side: PairSide, obj: { source?: { file: string; line: number; col?: number } }): Where {
  const s = obj.source;
  return s ? { file: s.file, line: s.line, col: s.col ?? 1 } : { file: side.file, line: 1, col: 1 };
}

function vsKey(vs: VirtualServer): string {
  if (vs.fwmark !== undefined) return `fwmark ${vs.fwmark}`;
  if (vs.group !== undefined) return `group ${vs.group}`;
  return `${vs.family === 6 ? `[${vs.address}]` : vs.address}:${vs.port} ${vs.protocol}`;
}

function vipSet(vi: VrrpInstance): string[] {
  return vi.virtualIpaddresses.map((v) => `${v.address}/${v.prefixLength}`).sort();
}

function mcastGroup(config: HaloConfig, vi: VrrpInstance): string {
  return vi.family === 6 ? config.global.vrrpMcastGroup6 : config.global.vrrpMcastGroup4;
}

export function checkPair(a: PairSide, b: PairSide): Diagnostic[] {
  const out: Diagnostic[] = [];
  const both = (
    severity: 'error' | 'warning',
    objA: Where,
    objB: Where,
    message: (self: string, other: string) => string,
    hint?: string,
  ) => {
    out.push({ ...objA, severity, message: message(a.file, b.file), ...(hint ? { hint } : {}) });
    out.push({ ...objB, severity, message: message(b.file, a.file), ...(hint ? { hint } : {}) });
  };
  const one = (severity: 'error' | 'warning', at: Where, message: string, hint?: string) =>
    out.push({ ...at, severity, message, ...(hint ? { hint } : {}) });

  // Instances pair up by VRID and family (names and interfaces may differ between directors).
  const key = (vi: VrrpInstance) => `${vi.family}|${vi.virtualRouterId}`;
  const inB = new Map(b.config.vrrpInstances.map((vi) => [key(vi), vi]));
  const inA = new Map(a.config.vrrpInstances.map((vi) => [key(vi), vi]));
  for (const vi of a.config.vrrpInstances) {
    if (!inB.has(key(vi)))
      one(
        'error',
        where(a, vi),
        `(${vi.name}) VRID ${vi.virtualRouterId} IPv${vi.family} has no instance in the peer config ${b.file}`,
      );
  }
  for (const vi of b.config.vrrpInstances) {
    if (!inA.has(key(vi)))
      one(
        'error',
        where(b, vi),
        `(${vi.name}) VRID ${vi.virtualRouterId} IPv${vi.family} has no instance in the peer config ${a.file}`,
      );
  }
  for (const x of a.config.vrrpInstances) {
    const y = inB.get(key(x));
    if (!y) continue;
    const wa = where(a, x);
    const wb = where(b, y);
    const label = (vi: VrrpInstance) => `(${vi.name}) VRID ${vi.virtualRouterId}`;
    const differ = (
      what: string,
      va: unknown,
      vb: unknown,
      severity: 'error' | 'warning' = 'error',
      hint?: string,
    ) => {
      both(
        severity,
        wa,
        wb,
        (self) => {
          const [mine, theirs] = self === a.file ? [va, vb] : [vb, va];
          const me = self === a.file ? x : y;
          return `${label(me)}: ${what} is ${String(mine)} here but ${String(theirs)} in the peer config`;
        },
        hint,
      );
    };
    if (x.version !== y.version)
      differ('the VRRP version', x.version, y.version, 'error', 'both directors must speak the same version');
    if (x.advertIntervalMs !== y.advertIntervalMs) {
      // v2 drops adverts with another interval; v3 backups adopt the master's, so it works but is uneven.
      differ(
        'advert_int',
        `${x.advertIntervalMs / 1000} s`,
        `${y.advertIntervalMs / 1000} s`,
        x.version === 2 || y.version === 2 ? 'error' : 'warning',
        x.version === 2 || y.version === 2 ? 'VRRPv2 drops adverts with another interval' : undefined,
      );
    }
    if (x.version === 2 || y.version === 2) {
      const auth = (vi: VrrpInstance) =>
        vi.authentication ? `${vi.authentication.type} '${vi.authentication.password}'` : 'none';
      if (auth(x) !== auth(y))
        differ('authentication', auth(x), auth(y), 'error', "each director drops the other's adverts");
    }
    const va = vipSet(x).join(', ');
    const vb = vipSet(y).join(', ');
    if (va !== vb)
      differ(
        'the virtual_ipaddress list',
        va || 'empty',
        vb || 'empty',
        'error',
        'the VIPs move with the master: both lists must be the same',
      );
    // Multicast group, or unicast peers pointing at each other.
    const ua = x.unicastPeers.length > 0;
    const ub = y.unicastPeers.length > 0;
    if (ua !== ub) differ('the transport', ua ? 'unicast' : 'multicast', ub ? 'unicast' : 'multicast');
    else if (!ua && mcastGroup(a.config, x) !== mcastGroup(b.config, y))
      differ('the multicast group', mcastGroup(a.config, x), mcastGroup(b.config, y));
    else if (ua) {
      const pointsAt = (peers: VrrpInstance, self: VrrpInstance) =>
        self.unicastSrcIp === undefined || peers.unicastPeers.some((p) => p.address === self.unicastSrcIp);
      if (!pointsAt(x, y))
        both('error', wa, wb, (self) =>
          self === a.file
            ? `${label(x)}: unicast_peer does not list the peer's unicast_src_ip ${y.unicastSrcIp}`
            : `${label(y)}: unicast_src_ip ${y.unicastSrcIp} is not among the peer config's unicast_peer addresses`,
        );
      if (!pointsAt(y, x))
        both('error', wa, wb, (self) =>
          self === b.file
            ? `${label(y)}: unicast_peer does not list the peer's unicast_src_ip ${x.unicastSrcIp}`
            : `${label(x)}: unicast_src_ip ${x.unicastSrcIp} is not among the peer config's unicast_peer addresses`,
        );
    }
    // Priorities must elect the master the operator meant.
    if (x.priority === 255 && y.priority === 255) {
      differ('priority', 255, 255, 'error', 'only one director can own the addresses (priority 255)');
    } else if (x.state !== y.state) {
      const [master, backup] = x.state === 'MASTER' ? [x, y] : [y, x];
      if (master.priority <= backup.priority) {
        both(
          'error',
          wa,
          wb,
          () =>
            `${label(master)}: state MASTER has priority ${master.priority}, but the BACKUP's is ${backup.priority}: the BACKUP becomes master`,
          'give the intended master the higher priority',
        );
      }
    } else if (x.priority === y.priority) {
      differ(
        'priority',
        x.priority,
        y.priority,
        'warning',
        'equal priorities: the master is the director with the higher primary address, not a choice',
      );
    }
  }

  // Virtual servers must be the same on both: a failover must not change the service.
  const vsA = new Map(a.config.virtualServers.map((vs) => [vsKey(vs), vs]));
  const vsB = new Map(b.config.virtualServers.map((vs) => [vsKey(vs), vs]));
  for (const [k, vs] of vsA)
    if (!vsB.has(k)) one('error', where(a, vs), `virtual_server ${k} is not in the peer config ${b.file}`);
  for (const [k, vs] of vsB)
    if (!vsA.has(k)) one('error', where(b, vs), `virtual_server ${k} is not in the peer config ${a.file}`);
  for (const [k, x] of vsA) {
    const y = vsB.get(k);
    if (!y) continue;
    const fa = withoutSources(x) as unknown as Record<string, unknown>;
    const fb = withoutSources(y) as unknown as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter(
      (f) => JSON.stringify(fa[f]) !== JSON.stringify(fb[f]),
    );
    if (fields.length > 0) {
      both(
        'error',
        where(a, x),
        where(b, y),
        () => `virtual_server ${k} differs from the peer config in: ${fields.join(', ')}`,
      );
    }
  }
  return out;
}
