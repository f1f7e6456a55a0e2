/**
 * IP address text <-> bytes for the VRRP core, without node:net (the core stays free of I/O modules).
 * Only what VRRP needs: strict dotted-quad IPv4, RFC 4291 IPv6 text (with '::' and an embedded IPv4 tail),
 * RFC 5952 canonical output, and a numeric comparison that matches keepalived's inet_inaddrcmp
 * (addresses compared as big-endian unsigned numbers).
 */

export type IpFamily = 4 | 6;

/** Parses a dotted-quad IPv4 address; undefined when it is not one. */
export function parseIpv4(text: string): Uint8Array | undefined {
  // Hand-rolled (no split / regex): this runs for every received packet.
  const out = new Uint8Array(4);
  let part = 0;
  let digits = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46 /* . */) {
      if (digits === 0 || part === 3) return undefined;
      out[part++] = n;
      n = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      if (++digits > 3) return undefined;
      n = n * 10 + (ch - 48);
      if (n > 255) return undefined;
    } else return undefined;
  }
  if (part !== 3 || digits === 0) return undefined;
  out[3] = n;
  return out;
}

/** Parses an IPv6 address (no zone id, no prefix); undefined when it is not one. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let v4tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    v4tail = parseIpv4(text.slice(lastColon + 1));
    if (!v4tail) return undefined;
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "64:ff9b::1.2.3.4" leaves "64:ff9b::"; "a:b:c:d:e:f:1.2.3.4" leaves "...f:"
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsNeeded = v4tail ? 6 : 8;
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const gs = s.split(':');
    const res: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      res.push(Number.parseInt(g, 16));
    }
    return res;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (!left || !right) return undefined;
    const fill = groupsNeeded - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    const all = parseGroups(head);
    if (!all || all.length !== groupsNeeded) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (v4tail) out.set(v4tail, 12);
  return out;
}

export function parseIp(text: string, family: IpFamily): Uint8Array | undefined {
  return family === 4 ? parseIpv4(text) : parseIpv6(text);
}

/** Like parseIp, but throws: for addresses that come from our own (already validated) configuration. */
export function ipBytes(text: string, family: IpFamily): Uint8Array {
  const b = parseIp(text, family);
  if (!b) throw new Error(`not an IPv${family} address: ${text}`);
  return b;
}

export function familyOf(text: string): IpFamily | undefined {
  if (parseIpv4(text)) return 4;
  if (parseIpv6(text)) return 6;
  return undefined;
}

export function formatIpv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** RFC 5952 canonical text: lower case, longest run (>= 2) of zero groups as '::'. */
export function formatIpv6(b: Uint8Array, offset = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[offset + i * 2] << 8) | b[offset + i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(b: Uint8Array, family: IpFamily, offset = 0): string {
  return family === 4 ? formatIpv4(b, offset) : formatIpv6(b, offset);
}

/** Canonical text of an address (so '10.0.0.01'-style variants and IPv6 spellings compare equal). */
export function canonicalIp(text: string, family: IpFamily): string | undefined {
  const b = parseIp(text, family);
  return b ? formatIp(b, family) : undefined;
}

/** <0, 0, >0 like keepalived's inet_inaddrcmp: numeric big-endian comparison. */
export function compareIp(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

export function compareIpText(a: string, b: string, family: IpFamily): number {
  return compareIp(ipBytes(a, family), ipBytes(b, family));
}

export function isMulticast(b: Uint8Array): boolean {
  return b.length === 4 ? (b[0] & 0xf0) === 0xe0 : b[0] === 0xff;
}
