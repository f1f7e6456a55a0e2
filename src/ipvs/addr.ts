/**
 * IP address text <-> bytes, canonicalised, for the IPVS codec and for keying services and destinations
 * (two spellings of the same IPv6 address must be one key, or the diff would delete-and-add it).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from './types.js';

export function addressFamily(address: string): Family {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new Error(`not an IP address: '${address}'`);
}

export function ipv4ToBytes(address: string): Buffer {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: '${address}'`);
  return Buffer.from(address.split('.').map((p) => Number(p)));
}

export function ipv6ToBytes(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: '${address}'`);
  let text = address;
  const pct = text.indexOf('%');
  if (pct >= 0) text = text.slice(0, pct);
  const out = Buffer.alloc(16);
  // An embedded dotted quad (::ffff:1.2.3.4) is two 16-bit groups.
  let tailV4: Buffer | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = ipv4ToBytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  for (let i = 0; i < headGroups.length; i++) out.writeUInt16BE(Number.parseInt(headGroups[i], 16), i * 2);
  for (let i = 0; i < tailGroups.length; i++)
    out.writeUInt16BE(Number.parseInt(tailGroups[i], 16), 16 - (tailGroups.length - i) * 2);
  if (tailV4) tailV4.copy(out, 12);
  return out;
}

export function ipToBytes(address: string): Buffer {
  return addressFamily(address) === 4 ? ipv4ToBytes(address) : ipv6ToBytes(address);
}

export function bytesToIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, no leading zeros, the first longest run (>= 2) of zero groups as '::'. */
export function bytesToIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function canonicalAddress(address: string): string {
  return addressFamily(address) === 4 ? bytesToIpv4(ipv4ToBytes(address)) : bytesToIpv6(ipv6ToBytes(address));
}

export function anyAddress(family: Family): string {
  return family === 4 ? '0.0.0.0' : '::';
}

/** Prefix length -> the IPv4 netmask value as the kernel stores it (network byte order u32). */
export function prefixToV4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** IPv4 mask -> prefix length; a non-contiguous mask (only settable through old tools) counts its leading ones. */
export function v4MaskToPrefix(mask: number): number {
  let n = 0;
  while (n < 32 && (mask & (0x80000000 >>> n)) !== 0) n++;
  return n;
}

export function v4MaskText(prefix: number): string {
  const m = prefixToV4Mask(prefix);
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;
}
