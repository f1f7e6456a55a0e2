/**
 * Semantic checks on the normalised model: the rules that types cannot
 * express (uniqueness, references, VRRP version rules, address families), and
 * the host checks (interfaces, scripts, users) whose severity the caller picks
 * so a config can be checked on another machine.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { PcreTranslationError, translatePcre } from '../check/pcre.js';
import type { DiagnosticSink } from './diagnostics.js';
import { didYouMean } from './diagnostics.js';
import type { HaloConfig, HttpUrl } from './model.js';
import type { Locate } from './normalise.js';
import { applyStrictMode } from './strict-mode.js';
import { interfaceNameProblem } from './values.js';

export type HostChecks = 'warn' | 'error' | 'off';

export function checkSemantics(
  config: HaloConfig,
  sink: DiagnosticSink,
  at: Locate,
  opts: { strict?: boolean } = {},
): void {
  checkVrrp(config, sink, at);
  applyStrictMode(config, sink, at);
  checkSyncGroups(config, sink, at);
  checkLvs(config, sink, at, opts.strict ?? false);
  checkBgp(config, sink, at);
}

function duplicates<T>(
  items: T[],
  key: (t: T) => string,
  report: (index: number, firstIndex: number) => void,
): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first !== undefined) report(i, first);
    else seen.set(k, i);
  });
}

function checkVrrp(config: HaloConfig, sink: DiagnosticSink, at: Locate): void {
  const scriptNames = config.vrrpScripts.map((s) => s.name);
  const fileNames = config.trackFiles.map((f) => f.name);
  const processNames = config.vrrpTrackProcesses.map((t) => t.name);
  duplicates(
    config.vrrpScripts,
    (s) => s.name,
    (i) => sink.error(at(['vrrpScripts', i]), `vrrp_script '${config.vrrpScripts[i].name}' is defined twice`),
  );
  duplicates(
    config.trackFiles,
    (s) => s.name,
    (i) => sink.error(at(['trackFiles', i]), `track_file '${config.trackFiles[i].name}' is defined twice`),
  );
  duplicates(
    config.vrrpInstances,
    (v) => v.name,
    (i) =>
      sink.error(
        at(['vrrpInstances', i]),
        `vrrp_instance '${config.vrrpInstances[i].name}' is defined twice`,
      ),
  );
  // keepalived refuses to start on this one: "VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0".
  duplicates(
    config.vrrpInstances,
    (v) => `${v.interface}|${v.family}|${v.virtualRouterId}`,
    (i, first) => {
      const a = config.vrrpInstances[first];
      const b = config.vrrpInstances[i];
      sink.error(
        at(['vrrpInstances', i, 'virtualRouterId']),
        `${a.name} and ${b.name} both use VRID ${b.virtualRouterId} with IPv${b.family} on interface ${b.interface}`,
        'a VRID must be unique per interface and address family',
      );
    },
  );

  const ifname = (value: string | undefined, path: PropertyKey[], what: string) => {
    const problem = value === undefined ? undefined : interfaceNameProblem(value);
    if (problem) sink.error(at(path), `${what}: '${value}' is not a valid interface name: ${problem}`);
  };
  ifname(config.global.defaultInterface, ['global', 'defaultInterface'], 'default_interface');
  config.vrrpInstances.forEach((vi, i) => {
    const p = (...rest: PropertyKey[]) => at(['vrrpInstances', i, ...rest]);
    const name = `(${vi.name})`;
    ifname(vi.interface, ['vrrpInstances', i, 'interface'], `${name} interface`);
    vi.trackInterfaces.forEach((t, k) => {
      ifname(t.name, ['vrrpInstances', i, 'trackInterfaces', k], `${name} track_interface`);
    });
    vi.virtualIpaddresses.forEach((v, k) => {
      ifname(v.dev, ['vrrpInstances', i, 'virtualIpaddresses', k], `${name} virtual_ipaddress dev`);
    });
    if (!vi.interface) sink.error(p(), `${name} no 'interface' given (and no global default_interface)`);
    // keepalived refuses loopback too: multicast adverts never leave the host.
    if (vi.interface === 'lo')
      sink.error(p('interface'), `${name} cannot use a loopback interface (lo) for VRRP`);

    // advert_int: v2 carries whole seconds (8 bits), v3 centiseconds (12 bits, max 40.95 s).
    if (vi.version === 2) {
      if (vi.advertIntervalMs % 1000 !== 0) {
        sink.error(
          p('advertIntervalMs'),
          `${name} advert_int ${vi.advertIntervalMs / 1000} is not a whole number of seconds, which VRRP version 2 requires`,
          "use 'version 3' for sub-second adverts",
        );
      } else if (vi.advertIntervalMs > 255_000) {
        sink.error(p('advertIntervalMs'), `${name} advert_int must be at most 255 s with VRRP version 2`);
      }
    } else {
      if (vi.advertIntervalMs % 10 !== 0) {
        sink.error(
          p('advertIntervalMs'),
          `${name} advert_int ${vi.advertIntervalMs / 1000} must be a multiple of 0.01 s with VRRP version 3`,
        );
      } else if (vi.advertIntervalMs < 10 || vi.advertIntervalMs > 40_950) {
        sink.error(
          p('advertIntervalMs'),
          `${name} advert_int must be within 0.01-40.95 s with VRRP version 3`,
        );
      }
    }
    if (vi.version === 2 && vi.family === 6) {
      // keepalived runs v2 over IPv6 (no RFC defines it) unless strict mode, where it switches to v3.
      if (vi.strictMode) {
        sink.warning(
          p('version'),
          `${name} cannot use IPv6 with VRRP version 2 in strict mode; using version 3`,
        );
        vi.version = 3;
      } else {
        sink.warning(
          p('version'),
          `${name} VRRP version 2 over IPv6 is not defined by any RFC`,
          "use 'version 3' to interoperate",
        );
      }
    }
    if (vi.strictMode && vi.state === 'MASTER' && vi.priority !== 255) {
      sink.warning(
        p('state'),
        `${name} State MASTER must match being address owner (priority 255) in strict mode; starting as BACKUP`,
      );
      vi.state = 'BACKUP';
    }
    // Tracking the instance's own interface is implicit; keepalived drops the explicit entry.
    const own = vi.trackInterfaces.findIndex((t) => t.name === vi.interface);
    if (own >= 0) {
      sink.warning(
        p('trackInterfaces', own),
        `${name} Ignoring track_interface ${vi.interface} since own interface`,
      );
      vi.trackInterfaces.splice(own, 1);
    }
    vi.virtualRoutes.forEach((r, k) => {
      trackedProtocol(r, p('virtualRoutes', k), 'Route', sink);
      if (!r.dev && !r.noTrack) {
        sink.warning(
          p('virtualRoutes', k),
          `${name} cannot track route ${r.destination} with no interface specified, not tracking`,
          "add 'dev IF' or 'no_track'",
        );
        r.noTrack = true;
      }
    });
    if (vi.authentication && vi.version === 3) {
      sink.warning(
        p('authentication'),
        `${name} authentication is not part of VRRP version 3 and is ignored`,
      );
    }
    if (vi.authentication?.type === 'AH') {
      warnOrError(
        sink,
        false,
        p('authentication'),
        `${name} auth_type AH is not implemented by halo yet; only PASS is`,
      );
    }

    // Priority 255 is the address owner (RFC 3768 5.3.4): it takes over at once and cannot be pre-empted.
    if (vi.priority === 255 && (vi.state === 'BACKUP' || !vi.preempt)) {
      sink.warning(
        p('priority'),
        `${name} priority 255 means this router owns the addresses: it becomes MASTER at once regardless of ${vi.state === 'BACKUP' ? "'state BACKUP'" : "'nopreempt'"}`,
      );
    }
    if (!vi.preempt && vi.state === 'MASTER') {
      sink.warning(
        p('preempt'),
        `${name} nopreempt has no effect with 'state MASTER'`,
        "use 'state BACKUP' with nopreempt",
      );
    }
    if (vi.preemptDelayMs > 0 && !vi.preempt) {
      sink.warning(p('preemptDelayMs'), `${name} preempt_delay is ignored with nopreempt`);
    }

    // Address families: the VIPs share the instance's family (the advert carries one family).
    vi.virtualIpaddresses.forEach((vip, k) => {
      if (vip.family !== vi.family) {
        sink.error(
          p('virtualIpaddresses', k),
          `${name} virtual IP ${vip.address} is IPv${vip.family} but the instance is IPv${vi.family}`,
          'put other-family addresses in virtual_ipaddress_excluded or in a separate instance',
        );
      }
      if (vip.prefixLength > (vip.family === 4 ? 32 : 128)) {
        sink.error(
          p('virtualIpaddresses', k),
          `${name} prefix length /${vip.prefixLength} is too long for ${vip.address}`,
        );
      }
    });
    const unicastAddrs: [string, PropertyKey[]][] = [
      ...(vi.unicastSrcIp ? [[vi.unicastSrcIp, ['unicastSrcIp']] as [string, PropertyKey[]]] : []),
      ...vi.unicastPeers.map((peer, k) => [peer.address, ['unicastPeers', k]] as [string, PropertyKey[]]),
    ];
    for (const [addr, path] of unicastAddrs) {
      if (isIP(addr) !== vi.family) {
        sink.error(p(...path), `${name} ${addr} is IPv${isIP(addr)} but the instance is IPv${vi.family}`);
      }
    }
    if (vi.mcastSrcIp && isIP(vi.mcastSrcIp) !== vi.family) {
      sink.error(p('mcastSrcIp'), `${name} mcast_src_ip ${vi.mcastSrcIp} is not IPv${vi.family}`);
    }
    if (vi.unicastSrcIp && vi.unicastPeers.length === 0) {
      sink.warning(
        p('unicastSrcIp'),
        `${name} unicast_src_ip without unicast_peer: adverts are still multicast`,
      );
    }
    vi.unicastPeers.forEach((peer, k) => {
      if (peer.minTtl !== undefined && peer.maxTtl !== undefined && peer.minTtl > peer.maxTtl) {
        sink.error(p('unicastPeers', k), `${name} unicast_peer ${peer.address}: min_ttl is above max_ttl`);
      }
    });
    duplicates(
      vi.unicastPeers,
      (x) => x.address,
      (k) =>
        sink.warning(
          p('unicastPeers', k),
          `${name} unicast_peer ${vi.unicastPeers[k].address} is listed twice`,
        ),
    );
    if (
      vi.virtualIpaddresses.length === 0 &&
      vi.virtualIpaddressesExcluded.length === 0 &&
      !vi.noVirtualIpaddress
    ) {
      sink.warning(p(), `${name} has no virtual_ipaddress`, "add 'no_virtual_ipaddress' if that is intended");
    }
    for (const list of ['virtualIpaddresses', 'virtualIpaddressesExcluded'] as const) {
      vi[list].forEach((vip, k) => {
        const problem = vipAddressProblem(vip.address, vip.prefixLength);
        if (problem) {
          sink.error(
            p(list, k),
            `${name} virtual IP address ${vip.address}${vip.prefixLength !== (vip.family === 6 ? 128 : 32) ? `/${vip.prefixLength}` : ''} ${problem}`,
            'a virtual IP is one unicast address that clients connect to',
          );
        }
      });
    }

    vi.trackScripts.forEach((ref, k) => {
      if (!scriptNames.includes(ref.name)) {
        sink.error(
          p('trackScripts', k),
          `${name} track_script '${ref.name}' is not a defined vrrp_script`,
          didYouMean(ref.name, scriptNames),
        );
      }
    });
    vi.trackFiles.forEach((ref, k) => {
      if (!fileNames.includes(ref.name)) {
        sink.error(
          p('trackFiles', k),
          `${name} track_file '${ref.name}' is not a defined track_file`,
          didYouMean(ref.name, fileNames),
        );
      }
    });
    checkProcessRefs(vi.trackProcesses, processNames, name, (k) => p('trackProcesses', k), sink);
    vi.virtualRules.forEach((r, k) => {
      trackedProtocol(r, p('virtualRules', k), 'Rule', sink);
    });
  });
  config.staticRoutes.forEach((r, k) => {
    trackedProtocol(r, at(['staticRoutes', k]), 'Route', sink);
    if (!r.dev && !r.noTrack) {
      sink.warning(
        at(['staticRoutes', k]),
        `cannot track static route ${r.destination} with no interface specified, not tracking`,
        "add 'dev IF' or 'no_track'",
      );
      r.noTrack = true;
    }
  });
  config.staticRules.forEach((r, k) => {
    trackedProtocol(r, at(['staticRules', k]), 'Rule', sink);
  });
  checkTrackProcesses(config, sink, at);
}

/** keepalived tracks a route or rule by its protocol (18, RTPROT_KEEPALIVED); another one is reset, with a warning. */
function trackedProtocol(
  r: { noTrack: boolean; protocol?: number | string },
  pos: ReturnType<Locate>,
  what: 'Route' | 'Rule',
  sink: DiagnosticSink,
): void {
  if (r.noTrack || r.protocol === undefined || r.protocol === 18 || r.protocol === 'keepalived') return;
  sink.warning(
    pos,
    `${what} cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol`,
    "add 'no_track' to keep your protocol",
  );
  r.protocol = 18;
}

function checkProcessRefs(
  refs: { name: string }[],
  processNames: string[],
  owner: string,
  pos: (k: number) => ReturnType<Locate>,
  sink: DiagnosticSink,
): void {
  const seen = new Set<string>();
  refs.forEach((ref, k) => {
    if (!processNames.includes(ref.name)) {
      sink.error(
        pos(k),
        `${owner} track_process '${ref.name}' is not a defined vrrp_track_process`,
        didYouMean(ref.name, processNames),
      );
    } else if (seen.has(ref.name)) {
      sink.error(pos(k), `${owner} track_process '${ref.name}' is listed twice`);
    }
    seen.add(ref.name);
  });
}

function checkTrackProcesses(config: HaloConfig, sink: DiagnosticSink, at: Locate): void {
  duplicates(
    config.vrrpTrackProcesses,
    (t) => t.name,
    (i) =>
      sink.error(
        at(['vrrpTrackProcesses', i]),
        `vrrp_track_process '${config.vrrpTrackProcesses[i].name}' is defined twice`,
      ),
  );
  config.vrrpTrackProcesses.forEach((tp, i) => {
    const p = (...rest: PropertyKey[]) => at(['vrrpTrackProcesses', i, ...rest]);
    const name = `vrrp_track_process ${tp.name}`;
    if (tp.quorumMax !== undefined && tp.quorum > tp.quorumMax) {
      sink.error(p('quorum'), `${name}: quorum ${tp.quorum} is greater than quorum_max ${tp.quorumMax}`);
    } else if (tp.quorum === 0 && tp.quorumMax !== 0) {
      sink.error(p('quorum'), `${name}: quorum 0 is only valid with quorum_max 0`);
    }
    if (tp.params.length > 0 && tp.paramMatch === 'none') {
      sink.error(p('paramMatch'), `${name}: parameters are given but paramMatch is 'none'`);
    }
    // /proc/PID/comm holds at most 15 characters, so a longer name can only match the command line.
    if (!tp.fullCommand && Buffer.byteLength(tp.process) > 15) {
      sink.warning(
        p('process'),
        `${name}: '${tp.process}' is longer than the 15 characters of a process name (comm) and can never match`,
        "add 'full_command' to match the command line",
      );
    }
  });
}

/**
 * Why an address cannot be a VIP, or undefined. keepalived 2.2.7 accepts these and adds them to the
 * interface, where they break routing (0.0.0.0/0), capture VRRP's own group (224.0.0.18) or do nothing.
 */
export function vipAddressProblem(address: string, prefixLength: number): string | undefined {
  const family = isIP(address);
  if (family === 4) {
    const o = address.split('.').map(Number);
    if (o.every((x) => x === 0)) return 'is the unspecified address (0.0.0.0)';
    if (prefixLength === 0) return 'has prefix length 0 (it would cover every address)';
    if (o[0] >= 224 && o[0] <= 239) return 'is a multicast address';
    if (o.every((x) => x === 255)) return 'is the broadcast address';
    if (o[0] >= 240) return 'is in the reserved range 240.0.0.0/4';
    return undefined;
  }
  if (family === 6) {
    const lower = address.toLowerCase();
    if (/^[0:]+$/.test(lower)) return 'is the unspecified address (::)';
    if (prefixLength === 0) return 'has prefix length 0 (it would cover every address)';
    if (lower.startsWith('ff')) return 'is a multicast address';
    return undefined;
  }
  return undefined;
}

function checkSyncGroups(config: HaloConfig, sink: DiagnosticSink, at: Locate): void {
  const instanceNames = config.vrrpInstances.map((v) => v.name);
  const scriptNames = config.vrrpScripts.map((s) => s.name);
  const member = new Map<string, string>();
  config.syncGroups.forEach((sg, i) => {
    sg.group.forEach((name, k) => {
      if (!instanceNames.includes(name)) {
        sink.error(
          at(['syncGroups', i, 'group', k]),
          `vrrp_sync_group ${sg.name}: '${name}' is not a defined vrrp_instance`,
          didYouMean(name, instanceNames),
        );
        return;
      }
      const other = member.get(name);
      if (other !== undefined) {
        sink.error(
          at(['syncGroups', i, 'group', k]),
          `vrrp_instance ${name} is in both sync groups ${other} and ${sg.name}`,
        );
      } else member.set(name, sg.name);
    });
    // Sync group members go FAULT together: keepalived ignores their own track_interface weights.
    for (const member of config.vrrpInstances.filter((v) => sg.group.includes(v.name))) {
      const mi = config.vrrpInstances.indexOf(member);
      member.trackInterfaces.forEach((t, k) => {
        if (t.weight !== 0) {
          sink.warning(
            at(['vrrpInstances', mi, 'trackInterfaces', k]),
            `(${member.name}) ignoring ${t.name} tracked interface weight due to SYNC group`,
          );
          t.weight = 0;
        }
      });
      sg.trackInterfaces.forEach((t, k) => {
        const tracked =
          member.trackInterfaces.some((x) => x.name === t.name) ||
          (member.interface === t.name && !member.dontTrackPrimary);
        if (tracked) {
          sink.warning(
            at(['syncGroups', i, 'trackInterfaces', k]),
            `(${member.name}) track_interface ${t.name} is configured on VRRP instance and sync group`,
            'remove it from the instance or from the sync group',
          );
        }
      });
    }
    if (sg.group.length === 1) {
      sink.warning(
        at(['syncGroups', i]),
        `vrrp_sync_group ${sg.name} has only one instance - this probably isn't what you want`,
      );
    }
    sg.trackScripts.forEach((ref, k) => {
      if (!scriptNames.includes(ref.name)) {
        sink.error(
          at(['syncGroups', i, 'trackScripts', k]),
          `vrrp_sync_group ${sg.name}: track_script '${ref.name}' is not a defined vrrp_script`,
          didYouMean(ref.name, scriptNames),
        );
      }
    });
    checkProcessRefs(
      sg.trackProcesses,
      config.vrrpTrackProcesses.map((t) => t.name),
      `vrrp_sync_group ${sg.name}:`,
      (k) => at(['syncGroups', i, 'trackProcesses', k]),
      sink,
    );
    // keepalived: a sync group with an address owner (priority 255) cannot weight its tracked processes.
    const hasOwner = config.vrrpInstances.some((v) => sg.group.includes(v.name) && v.priority === 255);
    sg.trackProcesses.forEach((ref, k) => {
      if (hasOwner && ref.weight !== 0) {
        sink.warning(
          at(['syncGroups', i, 'trackProcesses', k]),
          `(${sg.name}) Cannot have weighted track process '${ref.name}' with member having priority 255 - setting weight 0`,
        );
        ref.weight = 0;
      }
    });
  });
}

function vsName(vs: HaloConfig['virtualServers'][number]): string {
  if (vs.fwmark !== undefined) return `fwmark ${vs.fwmark}`;
  if (vs.group !== undefined) return `group ${vs.group}`;
  return vs.family === 6 ? `[${vs.address}]:${vs.port}` : `${vs.address}:${vs.port}`;
}

function checkLvs(config: HaloConfig, sink: DiagnosticSink, at: Locate, strict: boolean): void {
  const groupNames = config.virtualServerGroups.map((g) => g.name);
  duplicates(
    config.virtualServerGroups,
    (g) => g.name,
    (i) =>
      sink.error(
        at(['virtualServerGroups', i]),
        `virtual_server_group '${config.virtualServerGroups[i].name}' is defined twice`,
      ),
  );
  config.virtualServerGroups.forEach((g, i) => {
    const families = new Set(g.members.map((m) => (m.type === 'fwmark' ? 'fwmark' : isIP(m.address))));
    if (families.has(4) && families.has(6)) {
      const what = families.has('fwmark') ? 'IPv4, IPv6 and fwmark' : 'IPv4 and IPv6';
      sink.error(
        at(['virtualServerGroups', i], 'end'),
        `virtual_server_group ${g.name} cannot have ${what} members together`,
        'split it into one group per family',
      );
    }
    g.members.forEach((m, k) => {
      if (m.type === 'address' && m.rangeEnd !== undefined) {
        const a = m.address.split(/[.:]/).at(-1) ?? '';
        const b = m.rangeEnd.split(/[.:]/).at(-1) ?? '';
        const base = m.address.includes(':') ? 16 : 10;
        if (Number.parseInt(b, base) < Number.parseInt(a, base)) {
          sink.error(
            at(['virtualServerGroups', i, 'members', k]),
            `virtual_server_group ${g.name}: range ${m.address}-${b} ends before it starts`,
          );
        }
      }
    });
  });
  duplicates(
    config.virtualServers,
    (vs) => `${vsName(vs)}|${vs.protocol}`,
    (i) =>
      sink.error(
        at(['virtualServers', i]),
        `virtual_server ${vsName(config.virtualServers[i])} ${config.virtualServers[i].protocol} is defined twice`,
      ),
  );
  config.virtualServers.forEach((vs, i) => {
    const p = (...rest: PropertyKey[]) => at(['virtualServers', i, ...rest]);
    const name = `virtual_server ${vsName(vs)}`;
    const kinds = [vs.address !== undefined, vs.fwmark !== undefined, vs.group !== undefined].filter(
      Boolean,
    ).length;
    if (kinds !== 1) {
      sink.error(p(), `${name}: exactly one of address, fwmark or group must be given`);
      return;
    }
    if (vs.group !== undefined && !groupNames.includes(vs.group)) {
      sink.error(
        p('group'),
        `${name}: '${vs.group}' is not a defined virtual_server_group`,
        didYouMean(vs.group, groupNames),
      );
    }
    if (vs.address !== undefined && isIP(vs.address) !== vs.family) {
      sink.error(p('family'), `${name}: ip_family does not match the address`);
    }
    if (vs.address !== undefined && vs.port === 0 && !vs.persistence) {
      sink.error(
        p(),
        `${name}: port 0 is only allowed for a persistent service`,
        "give a port or set 'persistence_timeout'",
      );
    }
    if (vs.persistence?.granularity && vs.family === 6 && vs.persistence.granularity.includes('.')) {
      sink.error(p('persistence'), `${name}: persistence_granularity must be a prefix length for IPv6`);
    }
    if (vs.hysteresis >= vs.quorum && vs.hysteresis > 0) {
      sink.warning(
        p('hysteresis'),
        `${name}: hysteresis ${vs.hysteresis} is not below quorum ${vs.quorum}, so the quorum can never be lost`,
      );
    }
    if (
      vs.sorryServer &&
      isIP(vs.sorryServer.address) !== vs.family &&
      vs.sorryServer.forwardingMethod !== 'TUN'
    ) {
      sink.error(p('sorryServer'), `${name}: sorry_server ${vs.sorryServer.address} is not IPv${vs.family}`);
    }
    if (vs.realServers.length === 0 && !vs.sorryServer) sink.warning(p(), `${name} has no real_server`);
    if (vs.haSuspend) {
      const groupFwmark = config.virtualServerGroups
        .find((g) => g.name === vs.group)
        ?.members.some((m) => m.type === 'fwmark');
      if (vs.fwmark !== undefined || groupFwmark) {
        // keepalived: "cannot use ha_suspend with fwmarks - clearing ha_suspend".
        warnOrError(
          sink,
          strict,
          p('haSuspend'),
          `${name}: ha_suspend has no effect on a fwmark service (there is no address to follow)`,
        );
      }
    }
    duplicates(
      vs.realServers,
      (rs) => `${rs.address}|${rs.port}`,
      (k) =>
        sink.error(
          p('realServers', k),
          `${name}: real_server ${vs.realServers[k].address} ${vs.realServers[k].port} is listed twice`,
        ),
    );
    vs.realServers.forEach((rs, k) => {
      const rp = (...rest: PropertyKey[]) => p('realServers', k, ...rest);
      const rname = `${name} real_server ${rs.address}`;
      // Tunnelled real servers may be of the other family (IPVS_DEST_ATTR_ADDR_FAMILY); others may not.
      if (isIP(rs.address) !== vs.family && rs.forwardingMethod !== 'TUN') {
        sink.error(rp(), `${rname}: address family differs from the virtual server (IPv${vs.family})`);
      }
      // keepalived: a fwmark service's real server port means nothing unless NAT (which may remap it).
      const groupHasFwmark = config.virtualServerGroups
        .find((g) => g.name === vs.group)
        ?.members.some((m) => m.type === 'fwmark');
      if (
        (vs.fwmark !== undefined || groupHasFwmark) &&
        rs.forwardingMethod !== 'NAT' &&
        rs.port !== 0 &&
        rs.port !== vs.port
      ) {
        sink.warning(
          rp('port'),
          `${rname}: fwmark service real server has port ${rs.port} specified - port ${vs.fwmark !== undefined ? 'cleared' : 'will be ignored'}`,
        );
        if (vs.fwmark !== undefined) rs.port = 0;
      }
      if (
        vs.address !== undefined &&
        rs.forwardingMethod !== 'NAT' &&
        rs.port !== 0 &&
        vs.port !== 0 &&
        rs.port !== vs.port
      ) {
        sink.warning(
          rp('port'),
          `${rname}: port ${rs.port} differs from the virtual server's ${vs.port}; ${rs.forwardingMethod} cannot change ports, so ${vs.port} is used`,
        );
      }
      if (rs.uthreshold !== undefined && rs.lthreshold !== undefined && rs.lthreshold > rs.uthreshold) {
        sink.error(
          rp('lthreshold'),
          `${rname}: lthreshold ${rs.lthreshold} is above uthreshold ${rs.uthreshold}`,
        );
      }
      rs.checkers.forEach((ck, c) => {
        if (ck.type === 'FILE_CHECK') {
          if (!config.trackFiles.some((f) => f.name === ck.trackFile)) {
            sink.error(
              rp('checkers', c, 'trackFile'),
              `${rname} FILE_CHECK: track_file '${ck.trackFile}' is not a defined track_file`,
              didYouMean(
                ck.trackFile,
                config.trackFiles.map((f) => f.name),
              ),
            );
          }
          return;
        }
        if (ck.type === 'HTTP_GET' || ck.type === 'SSL_GET') {
          ck.urls.forEach((u, j) => {
            const up = (...rest: PropertyKey[]) => rp('checkers', c, 'urls', j, ...rest);
            checkUrlRegex(sink, u, up(), up('regex'), `${rname} ${ck.type} url ${u.path}`);
          });
        }
        if (ck.type === 'UDP_CHECK') {
          const lengthsSet = ck.minReplyLength !== 0 || ck.maxReplyLength !== 255;
          if (lengthsSet && ck.replyPattern === undefined) {
            warnOrError(
              sink,
              strict,
              rp('checkers', c, ck.minReplyLength !== 0 ? 'minReplyLength' : 'maxReplyLength'),
              `${rname} UDP_CHECK: min_reply_length / max_reply_length have no effect without a require_reply pattern`,
              'keepalived checks the reply length only when it compares the reply with a pattern',
            );
          } else if (ck.minReplyLength > ck.maxReplyLength) {
            sink.warning(
              rp('checkers', c, 'minReplyLength'),
              `${rname} UDP_CHECK: min_reply_length ${ck.minReplyLength} > max_reply_length ${ck.maxReplyLength} - will always fail`,
            );
          }
        }
        if (ck.connectTimeoutMs > ck.delayLoopMs) {
          sink.warning(
            rp('checkers', c, 'connectTimeoutMs'),
            `${rname} ${ck.type}: connect_timeout is longer than delay_loop`,
          );
        }
        if (ck.type === 'PING_CHECK' && ck.connectPort !== undefined) {
          sink.warning(
            rp('checkers', c, 'connectPort'),
            `${rname} PING_CHECK: connect_port has no meaning for ping`,
          );
        }
      });
    });
  });
}

/**
 * url regex: the PCRE2 pattern must translate to a JS RegExp (an error names
 * what does not); what still behaves differently is a warning; the regex_*
 * settings without a regex do nothing.
 */
function checkUrlRegex(
  sink: DiagnosticSink,
  u: HttpUrl,
  pos: ReturnType<Locate>,
  regexPos: ReturnType<Locate>,
  what: string,
): void {
  if (u.regex === undefined) {
    const stray = [
      u.regexNoMatch ? 'regex_no_match' : undefined,
      u.regexOptions.length > 0 ? 'regex_options' : undefined,
      u.regexMinOffset !== undefined ? 'regex_min_offset' : undefined,
      u.regexMaxOffset !== undefined ? 'regex_max_offset' : undefined,
    ].filter((x) => x !== undefined);
    if (stray.length > 0) sink.warning(pos, `${what}: ${stray.join(', ')} without 'regex' has no effect`);
    return;
  }
  try {
    const t = translatePcre(u.regex, u.regexOptions);
    for (const w of t.warnings) sink.warning(regexPos, `${what}: regex: ${w}`);
  } catch (err) {
    if (!(err instanceof PcreTranslationError)) throw err;
    sink.error(regexPos, `${what}: regex '${u.regex}': ${err.message}`, 'halo runs the regex as a JS RegExp');
  }
  if (
    u.regexMinOffset !== undefined &&
    u.regexMaxOffset !== undefined &&
    u.regexMaxOffset < u.regexMinOffset
  ) {
    sink.warning(
      pos,
      `${what}: regex_max_offset ${u.regexMaxOffset} is below regex_min_offset ${u.regexMinOffset}, so the regex never matches`,
    );
  }
}

function warnOrError(
  sink: DiagnosticSink,
  asError: boolean,
  pos: ReturnType<Locate>,
  message: string,
  hint?: string,
): void {
  if (asError) sink.error(pos, message, hint);
  else sink.warning(pos, message, hint);
}

/* ------------------------------------------------------------------ host checks */

export interface HostProbe {
  interfaceExists(name: string): boolean;
  /** undefined when fine, else why not. */
  scriptProblem(path: string): string | undefined;
  userExists(name: string): boolean;
  groupExists(name: string): boolean;
}

export const realHost: HostProbe = {
  interfaceExists: (name) => existsSync(join('/sys/class/net', name)),
  scriptProblem: (program) => {
    const candidates = isAbsolute(program)
      ? [program]
      : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).map((d) => join(d, program));
    for (const c of candidates) {
      if (!existsSync(c)) continue;
      try {
        accessSync(c, constants.X_OK);
        return undefined;
      } catch {
        return 'is not executable';
      }
    }
    return isAbsolute(program) ? 'does not exist' : 'is not found in PATH';
  },
  userExists: (name) => namesIn('/etc/passwd').has(name) || /^\d+$/.test(name),
  groupExists: (name) => namesIn('/etc/group').has(name) || /^\d+$/.test(name),
};

function namesIn(file: string): Set<string> {
  try {
    return new Set(
      readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.split(':')[0])
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

/** The program of a command line: the first word, unquoted. */
export function programOf(commandLine: string): string {
  const m = /^\s*(?:"([^"]*)"|'([^']*)'|(\S+))/.exec(commandLine);
  return m ? (m[1] ?? m[2] ?? m[3]) : commandLine;
}

export function checkHost(
  config: HaloConfig,
  sink: DiagnosticSink,
  at: Locate,
  mode: HostChecks,
  host: HostProbe = realHost,
): void {
  if (mode === 'off') return;
  const report = (path: PropertyKey[], message: string, hint?: string) =>
    warnOrError(
      sink,
      mode === 'error',
      at(path),
      message,
      hint ?? (mode === 'warn' ? 'on this host' : undefined),
    );
  const iface = (name: string | undefined, path: PropertyKey[], what: string) => {
    // An invalid name is already an error (checkSemantics); "does not exist" would only repeat it.
    if (!name || interfaceNameProblem(name) || host.interfaceExists(name)) return;
    // dynamic_interfaces: an interface that appears later is picked up then (the instance waits in FAULT).
    if (config.global.dynamicInterfaces)
      sink.warning(
        at(path),
        `${what}: interface '${name}' does not exist yet`,
        'dynamic_interfaces: halo waits for it',
      );
    else report(path, `${what}: interface '${name}' does not exist`);
  };
  const script = (cmd: string | undefined, path: PropertyKey[], what: string) => {
    if (!cmd) return;
    const program = programOf(cmd);
    const problem = host.scriptProblem(program);
    if (problem) report(path, `${what}: '${program}' ${problem}`);
  };
  const user = (name: string | undefined, group: string | undefined, path: PropertyKey[], what: string) => {
    if (name && !host.userExists(name)) report(path, `${what}: user '${name}' does not exist`);
    if (group && !host.groupExists(group)) report(path, `${what}: group '${group}' does not exist`);
  };

  const routeIfaces = (routes: HaloConfig['staticRoutes'], path: PropertyKey[], what: string) =>
    routes.forEach((r, k) => {
      iface(r.dev, [...path, k], `${what} dev`);
      for (const h of r.nexthops ?? []) iface(h.dev, [...path, k], `${what} nexthop dev`);
    });
  const ruleIfaces = (rules: HaloConfig['staticRules'], path: PropertyKey[], what: string) =>
    rules.forEach((r, k) => {
      iface(r.iif, [...path, k], `${what} iif`);
      iface(r.oif, [...path, k], `${what} oif`);
    });

  const g = config.global;
  user(g.scriptUser?.user, g.scriptUser?.group, ['global', 'scriptUser'], 'script_user');
  config.staticIpaddresses.forEach((a, k) => {
    iface(a.dev, ['staticIpaddresses', k], 'static_ipaddress dev');
  });
  routeIfaces(config.staticRoutes, ['staticRoutes'], 'static_routes');
  ruleIfaces(config.staticRules, ['staticRules'], 'static_rules');
  iface(g.defaultInterface, ['global', 'defaultInterface'], 'default_interface');
  config.vrrpScripts.forEach((s, i) => {
    script(s.script, ['vrrpScripts', i, 'script'], `vrrp_script ${s.name}`);
    user(s.user, s.group, ['vrrpScripts', i, 'user'], `vrrp_script ${s.name}`);
  });
  const notifies = (n: Record<string, string | undefined>, path: PropertyKey[], what: string) => {
    for (const [k, cmd] of Object.entries(n)) script(cmd, [...path, 'notify', k], `${what} notify`);
  };
  config.vrrpInstances.forEach((vi, i) => {
    const p = ['vrrpInstances', i];
    iface(vi.interface, [...p, 'interface'], `(${vi.name})`);
    vi.trackInterfaces.forEach((t, k) => {
      iface(t.name, [...p, 'trackInterfaces', k], `(${vi.name}) track_interface`);
    });
    vi.virtualIpaddresses.forEach((v, k) => {
      iface(v.dev, [...p, 'virtualIpaddresses', k], `(${vi.name}) virtual_ipaddress dev`);
    });
    routeIfaces(vi.virtualRoutes, [...p, 'virtualRoutes'], `(${vi.name}) virtual_routes`);
    ruleIfaces(vi.virtualRules, [...p, 'virtualRules'], `(${vi.name}) virtual_rules`);
    notifies(vi.notify, p, `(${vi.name})`);
  });
  config.syncGroups.forEach((sg, i) => {
    sg.trackInterfaces.forEach((t, k) => {
      iface(t.name, ['syncGroups', i, 'trackInterfaces', k], `vrrp_sync_group ${sg.name} track_interface`);
    });
    notifies(sg.notify, ['syncGroups', i], `vrrp_sync_group ${sg.name}`);
  });
  config.virtualServers.forEach((vs, i) => {
    script(vs.quorumUp, ['virtualServers', i, 'quorumUp'], 'quorum_up');
    script(vs.quorumDown, ['virtualServers', i, 'quorumDown'], 'quorum_down');
    vs.realServers.forEach((rs, k) => {
      const rp = ['virtualServers', i, 'realServers', k];
      script(rs.notifyUp, [...rp, 'notifyUp'], 'notify_up');
      script(rs.notifyDown, [...rp, 'notifyDown'], 'notify_down');
      rs.checkers.forEach((ck, c) => {
        if (ck.type === 'FILE_CHECK') return;
        iface(ck.bindIf, [...rp, 'checkers', c, 'bindIf'], `${ck.type} bind_if`);
        if (ck.type === 'MISC_CHECK') {
          script(ck.miscPath, [...rp, 'checkers', c, 'miscPath'], 'misc_path');
          user(ck.user, ck.group, [...rp, 'checkers', c, 'user'], 'MISC_CHECK');
        }
      });
    });
  });
}

/**
 * The bgp block: every announced VIP is served by at least one virtual server (its health is their quorum),
 * is announced once, and as_path_prepend has the AS to prepend.
 */
function checkBgp(config: HaloConfig, sink: DiagnosticSink, at: Locate): void {
  const bgp = config.bgp;
  if (!bgp) return;
  duplicates(
    bgp.announce,
    (a) => canonicalIp(a.address),
    (i) => sink.error(at(['bgp', 'announce', i]), `bgp: announce ${bgp.announce[i].address} is given twice`),
  );
  bgp.announce.forEach((a, i) => {
    const p = (...rest: PropertyKey[]) => at(['bgp', 'announce', i, ...rest]);
    if (virtualServersOfVip(config, a.address).length === 0) {
      sink.error(
        p(),
        `bgp: announce ${a.address}: no virtual_server serves this address, so halo has no health to announce it by`,
        'add a virtual_server (or a virtual_server_group member) with this address',
      );
    }
    if (a.asPathPrepend > 0 && bgp.localAs === undefined) {
      sink.error(
        p('asPathPrepend'),
        `bgp: announce ${a.address}: as_path_prepend needs local_as in the bgp block`,
      );
    }
    const vrrpOwner = config.vrrpInstances.find((vi) =>
      vi.virtualIpaddresses.some((v) => canonicalIp(v.address) === canonicalIp(a.address)),
    );
    if (vrrpOwner) {
      sink.warning(
        p(),
        `bgp: announce ${a.address}: vrrp_instance ${vrrpOwner.name} also holds this VIP; a VIP should be moved by VRRP or announced over BGP, not both`,
      );
    }
    const quorum = a.quorum;
    const hysteresis = a.hysteresis;
    if (quorum !== undefined && hysteresis !== undefined && hysteresis > 0 && hysteresis >= quorum) {
      sink.warning(
        p('hysteresis'),
        `bgp: announce ${a.address}: hysteresis ${hysteresis} is not below quorum ${quorum}, so the quorum can never be lost`,
      );
    }
  });
}

function canonicalIp(address: string): string {
  // Enough to catch the same address written twice ("10.0.0.1" / "10.0.0.01" are not both valid IPs).
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname : address;
}

/**
 * The virtual servers whose traffic arrives on a VIP: those with that address, and those of a
 * virtual_server_group with a member (or range) covering it. fwmark services carry no address.
 */
export function virtualServersOfVip(config: HaloConfig, vip: string): HaloConfig['virtualServers'] {
  const want = canonicalIp(vip);
  return config.virtualServers.filter((vs) => {
    if (vs.address !== undefined) return canonicalIp(vs.address) === want;
    if (vs.group === undefined) return false;
    const g = config.virtualServerGroups.find((x) => x.name === vs.group);
    return (g?.members ?? []).some(
      (m) => m.type === 'address' && addressInRange(want, m.address, m.rangeEnd),
    );
  });
}

function addressInRange(addr: string, start: string, end: string | undefined): boolean {
  const a = canonicalIp(addr);
  const s = canonicalIp(start);
  if (end === undefined) return a === s;
  const e = canonicalIp(end);
  const sep = a.includes(':') ? ':' : '.';
  const prefix = (x: string) => x.slice(0, x.lastIndexOf(sep));
  if (prefix(a) !== prefix(s) || prefix(a) !== prefix(e)) return false;
  const base = sep === ':' ? 16 : 10;
  const last = (x: string) => Number.parseInt(x.slice(x.lastIndexOf(sep) + 1) || '0', base);
  return last(a) >= last(s) && last(a) <= last(e);
}
