/**
 * Pure builders for the link-layer announcements sent when VIPs move:
 * gratuitous ARP (IPv4) and unsolicited neighbour advertisement (IPv6), as
 * complete Ethernet frames, plus the address/MAC parsing they need.
 *
 * Both follow keepalived 2.2.7 byte for byte (see test/fixtures/net/ and the
 * reference capture garp_tshark_V.txt).
 */

const ETH_P_ARP = 0x0806;
const ETH_P_IPV6 = 0x86dd;
const BROADCAST_MAC = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Parses a dotted-quad IPv4 address into 4 bytes; throws on anything else. */
export function parseIpv4(text: string): Buffer {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new TypeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return Buffer.from(parts.map(Number));
}

/** Parses an IPv6 address (RFC 4291 text forms, embedded IPv4 allowed, no zone) into 16 bytes. */
export function parseIpv6(text: string): Buffer {
  const fail = (): never => {
    throw new TypeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  };
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) fail();
  const halves = text.split('::');
  if (halves.length > 2) fail();
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    const items = s.split(':');
    items.forEach((item, i) => {
      if (item.includes('.') && i === items.length - 1) {
        const v4 = parseIpv4(item);
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        out.push(Number.parseInt(item, 16));
      } else {
        fail();
      }
    });
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (halves.length === 1 && head.length !== 8) fail();
  if (halves.length === 2 && head.length + tail.length > 7) fail();
  if (halves.length === 2 && halves[1].startsWith('.')) fail();
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}

/** Formats 4 or 16 address bytes as text; IPv6 in the RFC 5952 canonical form (what `ip` prints). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) throw new TypeError(`an IP address is 4 or 16 bytes, got ${bytes.length}`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Compress the first longest run of two or more zero groups.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** Parses "aa:bb:cc:dd:ee:ff" (or a 6-byte Buffer) into a 6-byte Buffer. */
export function parseMac(mac: string | Buffer): Buffer {
  if (Buffer.isBuffer(mac)) {
    if (mac.length !== 6) throw new TypeError(`MAC address must be 6 bytes, got ${mac.length}`);
    return Buffer.from(mac);
  }
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new TypeError(`not a MAC address: ${mac}`);
  return Buffer.from(mac.split(':').map((b) => Number.parseInt(b, 16)));
}

export function formatMac(mac: Buffer): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Gratuitous ARP as keepalived sends it: an ARP *request* to broadcast with
 * sender IP = target IP = the VIP and target MAC ff:ff:ff:ff:ff:ff (RFC 5227
 * would put zeros there; keepalived uses broadcast and we match it so
 * captures compare equal). 42 bytes, no padding: the NIC pads to 60.
 */
export function buildGratuitousArp(mac: string | Buffer, ipv4: string): Buffer {
  const src = parseMac(mac);
  const ip = parseIpv4(ipv4);
  const f = Buffer.alloc(42);
  BROADCAST_MAC.copy(f, 0);
  src.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // hardware type: Ethernet
  f.writeUInt16BE(0x0800, 16); // protocol type: IPv4
  f[18] = 6; // hardware size
  f[19] = 4; // protocol size
  f.writeUInt16BE(1, 20); // opcode: request
  src.copy(f, 22); // sender MAC
  ip.copy(f, 28); // sender IP
  BROADCAST_MAC.copy(f, 32); // target MAC
  ip.copy(f, 38); // target IP
  return f;
}

/** The Internet checksum (RFC 1071) over the given buffers, as if concatenated. */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts) {
    for (const byte of p) {
      if (odd === undefined) {
        odd = byte;
      } else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Unsolicited neighbour advertisement for `ipv6`, as keepalived 2.2.7
 * (vrrp_ndisc.c) builds it: Ethernet to 33:33:00:00:00:01, IPv6 from the VIP
 * itself to ff02::1 with hop limit 255 (RFC 4861 7.1.2 requires 255),
 * ICMPv6 type 136 with Override set, Solicited clear, Router set when the
 * interface forwards IPv6, target = VIP, and a target link-layer address
 * option. 86 bytes.
 */
export function buildUnsolicitedNa(
  mac: string | Buffer,
  ipv6: string,
  opts: { router?: boolean } = {},
): Buffer {
  const src = parseMac(mac);
  const vip = parseIpv6(ipv6);
  const allNodes = parseIpv6('ff02::1');
  const icmp = Buffer.alloc(32);
  icmp[0] = 136; // neighbour advertisement
  icmp[4] = (opts.router ? 0x80 : 0) | 0x20; // R, S=0, O=1
  vip.copy(icmp, 8); // target
  icmp[24] = 2; // option: target link-layer address
  icmp[25] = 1; // length in units of 8 bytes
  src.copy(icmp, 26);
  const pseudo = Buffer.alloc(40);
  vip.copy(pseudo, 0);
  allNodes.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = 58; // next header: ICMPv6
  icmp.writeUInt16BE(internetChecksum(pseudo, icmp), 2);

  const f = Buffer.alloc(14 + 40 + icmp.length);
  Buffer.from([0x33, 0x33, 0, 0, 0, 1]).copy(f, 0);
  src.copy(f, 6);
  f.writeUInt16BE(ETH_P_IPV6, 12);
  f.writeUInt32BE(0x60000000, 14); // version 6, traffic class 0, flow label 0
  f.writeUInt16BE(icmp.length, 18);
  f[20] = 58; // next header
  f[21] = 255; // hop limit
  vip.copy(f, 22);
  allNodes.copy(f, 38);
  icmp.copy(f, 54);
  return f;
}
