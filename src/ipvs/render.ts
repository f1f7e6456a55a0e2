/**
 * Renders an IPVS table the way `ipvsadm -Ln` does (same header, columns, ordering and flag words), with
 * optional per-line annotations appended after "  # " so the ipvsadm layout stays intact for scripts that
 * strip them.
 */
import { escapeLine } from '../notify/escape.js';
import { ipToBytes, v4MaskText } from './addr.js';
import { formatVersion } from './codec.js';
import {
  type DestEntry,
  destKeyString,
  type IpvsInfo,
  type KernelService,
  type ServiceEntry,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
} from './types.js';

const FWD_WORD = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  route: 'Route',
  bypass: 'Bypass',
} as const;
const PROTO_WORD = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;
const PROTO_NUM = { tcp: 6, udp: 17, sctp: 132 } as const;

function cmpBytes(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/** ipvsadm's ordering (libipvs ipvs_cmp_services): fwmark, family, protocol, address, port. */
export function compareServices(a: ServiceEntry, b: ServiceEntry): number {
  return (
    a.fwmark - b.fwmark ||
    a.family - b.family ||
    PROTO_NUM[a.protocol] - PROTO_NUM[b.protocol] ||
    cmpBytes(ipToBytes(a.address), ipToBytes(b.address)) ||
    a.port - b.port
  );
}

/** ipvsadm's ordering (ipvs_cmp_dests): family, address, port. */
export function compareDests(a: DestEntry, b: DestEntry): number {
  return a.family - b.family || cmpBytes(ipToBytes(a.address), ipToBytes(b.address)) || a.port - b.port;
}

function schedFlagWords(s: ServiceEntry): string[] {
  const words: string[] = [];
  const named = s.scheduler === 'sh' || s.scheduler === 'mh';
  if (s.flags & SVC_F_SCHED1) words.push(named ? `${s.scheduler}-fallback` : 'flag-1');
  if (s.flags & SVC_F_SCHED2) words.push(named ? `${s.scheduler}-port` : 'flag-2');
  if (s.flags & SVC_F_SCHED3) words.push('flag-3');
  return words;
}

export function serviceLine(s: ServiceEntry): string {
  let line: string;
  // ipvsadm prints the protocol word left-aligned in 4 columns, then a space ("TCP  ", "SCTP ").
  if (s.fwmark) line = `FWM  ${s.fwmark} ${s.family === 6 ? 'IPv6 ' : ''}${s.scheduler}`;
  else {
    const addr = s.family === 6 ? `[${s.address}]` : s.address;
    line = `${PROTO_WORD[s.protocol].padEnd(4)} ${addr}:${s.port} ${s.scheduler}`;
  }
  const flags = schedFlagWords(s);
  if (flags.length) line += ` (${flags.join(',')})`;
  if (s.flags & SVC_F_PERSISTENT) {
    line += ` persistent ${s.timeout}`;
    if (s.family === 4 && s.netmask !== 32) line += ` mask ${v4MaskText(s.netmask)}`;
    if (s.family === 6 && s.netmask !== 128) line += ` mask ${s.netmask}`;
    if (s.peName) line += ` pe ${s.peName}`;
  }
  if (s.flags & SVC_F_ONEPACKET) line += ' ops';
  return line;
}

export function destLine(d: DestEntry): string {
  const name = destKeyString(d);
  return `  -> ${name.padEnd(28)} ${FWD_WORD[d.forward].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactiveConns).padEnd(10)}`;
}

export interface Annotations {
  service?: (s: ServiceEntry) => string | undefined;
  dest?: (s: ServiceEntry, d: DestEntry) => string | undefined;
  /** extra lines after a service's dests (e.g. configured real servers that are not in the kernel) */
  extra?: (s: ServiceEntry) => string[];
}

export function renderIpvsadm(info: IpvsInfo, table: KernelService[], notes: Annotations = {}): string {
  const out = [
    `IP Virtual Server version ${formatVersion(info.version)} (size=${info.connTableSize})`,
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  ];
  // Notes quote config names and check reasons: escaped, so each stays on its own line.
  const note = (line: string, n: string | undefined) => (n ? `${line}  # ${escapeLine(n)}` : line);
  for (const ks of [...table].sort((a, b) => compareServices(a.service, b.service))) {
    out.push(note(serviceLine(ks.service), notes.service?.(ks.service)));
    for (const d of [...ks.dests].sort(compareDests))
      out.push(note(destLine(d), notes.dest?.(ks.service, d)));
    out.push(...(notes.extra?.(ks.service) ?? []).map(escapeLine));
  }
  return `${out.join('\n')}\n`;
}
