/**
 * VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / RFC 9568), IPv4 and IPv6.
 *
 * Wire layout (8-byte header, then the addresses):
 *   v2: ver/type | VRID | priority | count | auth type | adver int (s)   | checksum | addrs | 8 auth bytes (IPv4 only)
 *   v3: ver/type | VRID | priority | count | rsvd(4) + max adver int (12 bits, centiseconds) | checksum | addrs
 *
 * Checksums, as keepalived 2.2.7 computes them:
 *   - v2 over IPv4: internet checksum of the VRRP message (including the auth bytes), no pseudo-header.
 *   - v3 over IPv4: pseudo-header (src, dst, 0, 112, VRRP length) + message, as RFC 5798 5.2.8 reads and as
 *     keepalived 2.2.7 (our anchor, and every capture in test/fixtures/vrrp) does. keepalived puts the real IP
 *     destination in the pseudo-header; its `old_unicast_checksum` mode (and its auto-detection of peers running
 *     keepalived <= 1.3.6) uses the multicast group 224.0.0.18 instead for unicast adverts:
 *     `pseudoHeaderDestination` below.
 *     RFC 9568 (which obsoletes 5798) limits the pseudo-header to IPv6, as Cisco and Juniper always did;
 *     keepalived >= 2.2.8 offers that as `v3_checksum_as_v2` (off by default). We follow keepalived 2.2.7 by
 *     default, for interoperability with deployed keepalived, and offer the RFC 9568 form as `v3ChecksumAsV2`.
 *   - IPv6 (v3, and keepalived's non-standard v2 over IPv6): always the IPv6 pseudo-header; keepalived lets the
 *     kernel compute and verify it (IPV6_CHECKSUM). We compute it here too, so the bytes are right whichever way
 *     the shell's socket is configured, and we verify it again on receive (harmless when the kernel already did).
 *
 * Receive validation follows keepalived's vrrp_check_packet() order, and every rejected packet yields a stable
 * DropReason (see DROP_REASONS) so the caller can count it; nothing in here throws on packet input.
 * Authentication: v2 auth type 0 (none) and 1 (PASS, the 8 password bytes in clear) are encoded and checked.
 * IPsec AH (keepalived's auth type 2, IP protocol 51) is recognised when decoding (the AH header is parsed and
 * reported) but never sent; its HMAC-MD5 ICV covers the IP header, which the shell does not hand us, so an AH
 * instance cannot verify it: such packets are dropped as 'auth-failure' and halo does not offer AH instances.
 */
import { compareIp, formatIp, type IpFamily, isMulticast, parseIp } from './addr.js';

export const IPPROTO_VRRP = 112;
export const IPPROTO_AH = 51;
export const VRRP_TTL = 255;
export const VRRP_MULTICAST_V4 = '224.0.0.18';
export const VRRP_MULTICAST_V6 = 'ff02::12';
export const VRRP_TYPE_ADVERT = 1;
export const VRRP_HEADER_LENGTH = 8;
export const VRRP_AUTH_LENGTH = 8;
export const AH_HEADER_LENGTH = 24;

/** v2 auth type field values (RFC 2338; RFC 3768 keeps only 0). */
export const AUTH_NONE = 0;
export const AUTH_PASS = 1;
export const AUTH_AH = 2;

/** Why a received packet was not accepted. Stable strings: used as metric labels and counter keys. */
export const DROP_REASONS = [
  'too-short', // not even a VRRP header (plus AH header when protocol 51)
  'length', // VRRP length does not match its address count (keepalived: packet_len_err)
  'ip-length', // IPv4 total length disagrees with what was received (keepalived: packet_len_err)
  'ttl', // TTL / hop limit not 255 on a multicast instance (ip_ttl_err)
  'version', // not our VRRP version (vers_err)
  'type', // not an ADVERTISEMENT (invalid_type_rcvd)
  'vrid', // not our VRID (the dispatcher normally routes by VRID)
  'auth-type-invalid', // v2 auth type not 0/1/2 (invalid_authtype)
  'auth-type-mismatch', // auth type differs from ours, or AH/no-AH mismatch (authtype_mismatch)
  'auth-failure', // wrong password, or AH we cannot verify (auth_failure)
  'ah-not-vrrp', // AH header for another protocol (keepalived: VRRP_PACKET_DROP)
  'advert-interval', // v2 advert interval differs from ours (keepalived drops to avoid two masters)
  'address-count', // address count differs from our VIP count (addr_list_err)
  'address-list', // a VIP of ours is missing from the advert (addr_list_err)
  'checksum', // bad checksum (chk_err)
  'cast-mismatch', // multicast advert on a unicast instance or the reverse
  'unicast-source', // unicast source is not a configured peer (check_unicast_src)
  'unicast-ttl', // unicast TTL outside the peer's min_ttl..max_ttl (check_unicast_src)
  'not-running', // instance in INIT / FAULT / STOP ignores adverts (keepalived ignores silently; we count)
  'bad-address', // source / destination handed over by the shell is not an address of the family (defensive)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export type DropCounters = Record<DropReason, number>;

export function emptyDropCounters(): DropCounters {
  // Written out as one literal (not built in a loop) so every counter set has the same fast object shape:
  // the instance copies it on each counted packet. `satisfies` keeps it in step with DROP_REASONS.
  return {
    'too-short': 0,
    length: 0,
    'ip-length': 0,
    ttl: 0,
    version: 0,
    type: 0,
    vrid: 0,
    'auth-type-invalid': 0,
    'auth-type-mismatch': 0,
    'auth-failure': 0,
    'ah-not-vrrp': 0,
    'advert-interval': 0,
    'address-count': 0,
    'address-list': 0,
    checksum: 0,
    'cast-mismatch': 0,
    'unicast-source': 0,
    'unicast-ttl': 0,
    'not-running': 0,
    'bad-address': 0,
  } satisfies DropCounters;
}

export interface AhHeader {
  nextHeader: number;
  payloadLength: number;
  spi: number;
  sequence: number;
  icv: Uint8Array; // 12 bytes (HMAC-MD5-96)
}

/** A structurally decoded advertisement. Addresses are canonical text. */
export interface VrrpAdvert {
  version: 2 | 3;
  type: number;
  vrid: number;
  priority: number;
  addresses: string[];
  /** v2: the seconds field; v3: the 12-bit centiseconds field. */
  rawInterval: number;
  /** The advertised interval in milliseconds (v2: seconds * 1000, v3: centiseconds * 10). */
  advertIntervalMs: number;
  /** v2 auth type byte (0 none, 1 PASS, 2 AH); v3 has none (0). */
  authType: number;
  /** v2 over IPv4: the 8 trailing auth bytes. */
  authData?: Uint8Array;
  /** v3: the 4 reserved bits (must be sent as 0, ignored on receive). */
  reserved?: number;
  checksum: number;
  ah?: AhHeader;
}

export type DecodeResult =
  | { ok: true; advert: VrrpAdvert }
  | { ok: false; reason: DropReason; message: string };

/** The packet as the raw-socket shell hands it over (see src/net/raw-socket.ts ReceivedPacket). */
export interface ReceivedAdvertPacket {
  /** L4 payload: the VRRP message, or AH header + VRRP message when protocol is 51. */
  data: Uint8Array;
  family: IpFamily;
  source: string;
  destination: string;
  /** IPv4 TTL / IPv6 hop limit; undefined when unknown (keepalived then skips the TTL checks). */
  ttl?: number;
  /** IP protocol: 112 (default) or 51 (AH). */
  protocol?: number;
  /** IPv4 only, when known: keepalived checks tot_len against the received length. */
  ipHeaderLength?: number;
  ipTotalLength?: number;
}

export interface ChecksumOptions {
  /** v3 over IPv4 only: checksum without the pseudo-header (RFC 9568; keepalived >= 2.2.8 v3_checksum_as_v2). */
  v3ChecksumAsV2?: boolean;
  /** v3 over IPv4 only: destination to put in the pseudo-header instead of the real one (old_unicast_checksum). */
  pseudoHeaderDestination?: string;
}

/* ------------------------------------------------------------------ checksum */

function sumWords(bytes: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (i < end) s += bytes[i] << 8;
  return s;
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** One's-complement internet checksum (RFC 1071) over `prefix` (pseudo-header) and `msg`. */
export function internetChecksum(msg: Uint8Array, prefix?: Uint8Array): number {
  let s = prefix ? sumWords(prefix, 0, prefix.length, 0) : 0;
  s = sumWords(msg, 0, msg.length, s);
  return ~fold(s) & 0xffff;
}

function pseudoHeader(family: IpFamily, src: Uint8Array, dst: Uint8Array, length: number): Uint8Array {
  if (family === 4) {
    const p = new Uint8Array(12);
    p.set(src, 0);
    p.set(dst, 4);
    p[8] = 0;
    p[9] = IPPROTO_VRRP;
    p[10] = (length >> 8) & 0xff;
    p[11] = length & 0xff;
    return p;
  }
  const p = new Uint8Array(40);
  p.set(src, 0);
  p.set(dst, 16);
  p[32] = (length >>> 24) & 0xff;
  p[33] = (length >> 16) & 0xff;
  p[34] = (length >> 8) & 0xff;
  p[35] = length & 0xff;
  p[39] = IPPROTO_VRRP;
  return p;
}

/**
 * The checksum a VRRP message (checksum field zeroed or not: it is skipped) should carry.
 * Returns undefined when the addresses needed for a pseudo-header are not valid for the family.
 */
export function vrrpChecksum(
  msg: Uint8Array,
  version: 2 | 3,
  family: IpFamily,
  source: string,
  destination: string,
  opts: ChecksumOptions = {},
): number | undefined {
  const copy = Uint8Array.from(msg);
  copy[6] = 0;
  copy[7] = 0;
  const usePseudo = family === 6 || (version === 3 && !opts.v3ChecksumAsV2);
  if (!usePseudo) return internetChecksum(copy);
  const src = parseIp(source, family);
  const dst = parseIp(
    family === 4 && opts.pseudoHeaderDestination ? opts.pseudoHeaderDestination : destination,
    family,
  );
  if (!src || !dst) return undefined;
  return internetChecksum(copy, pseudoHeader(family, src, dst, copy.length));
}

/* ------------------------------------------------------------------ encode */

export interface AdvertToEncode {
  version: 2 | 3;
  vrid: number;
  priority: number;
  addresses: readonly string[];
  advertIntervalMs: number;
  /** v2 only. */
  auth?: { type: 'none' } | { type: 'pass'; password: string };
}

export interface EncodeContext extends ChecksumOptions {
  family: IpFamily;
  source: string;
  destination: string;
}

/** The 8 auth bytes keepalived sends for `auth_pass`: the password, zero padded / truncated to 8 bytes. */
export function passwordBytes(password: string): Uint8Array {
  const out = new Uint8Array(VRRP_AUTH_LENGTH);
  const enc = new TextEncoder().encode(password);
  out.set(enc.subarray(0, VRRP_AUTH_LENGTH));
  return out;
}

/** Builds the VRRP message (the IP header is the kernel's job). Throws only on invalid *local* input. */
export function encodeAdvert(a: AdvertToEncode, ctx: EncodeContext): Buffer {
  const alen = ctx.family === 4 ? 4 : 16;
  const withAuth = a.version === 2 && ctx.family === 4;
  const len = VRRP_HEADER_LENGTH + a.addresses.length * alen + (withAuth ? VRRP_AUTH_LENGTH : 0);
  const buf = Buffer.alloc(len);
  buf[0] = (a.version << 4) | VRRP_TYPE_ADVERT;
  buf[1] = a.vrid & 0xff;
  buf[2] = a.priority & 0xff;
  buf[3] = a.addresses.length & 0xff;
  if (a.version === 2) {
    const auth = a.auth ?? { type: 'none' };
    buf[4] = auth.type === 'pass' ? AUTH_PASS : AUTH_NONE;
    // keepalived: adver_int / TIMER_HZ (whole seconds, truncated)
    buf[5] = Math.floor(a.advertIntervalMs / 1000) & 0xff;
  } else {
    // keepalived: (adver_int / TIMER_CENTI_HZ) & 0x0FFF, reserved bits zero
    buf.writeUInt16BE(Math.floor(a.advertIntervalMs / 10) & 0x0fff, 4);
  }
  a.addresses.forEach((text, i) => {
    const b = parseIp(text, ctx.family);
    if (!b) throw new Error(`VRRP encode: ${text} is not an IPv${ctx.family} address`);
    buf.set(b, VRRP_HEADER_LENGTH + i * alen);
  });
  if (withAuth && a.auth?.type === 'pass') {
    buf.set(passwordBytes(a.auth.password), VRRP_HEADER_LENGTH + a.addresses.length * alen);
  }
  const sum = vrrpChecksum(buf, a.version, ctx.family, ctx.source, ctx.destination, ctx);
  if (sum === undefined)
    throw new Error(`VRRP encode: bad source/destination ${ctx.source} -> ${ctx.destination}`);
  buf.writeUInt16BE(sum, 6);
  return buf;
}

/* ------------------------------------------------------------------ decode */

function drop(reason: DropReason, message: string): DecodeResult {
  return { ok: false, reason, message };
}

/** Expected VRRP length for a header, as keepalived's expected_vrrp_pkt_len(). */
function expectedLength(version: number, count: number, family: IpFamily): number {
  if (family === 4) return VRRP_HEADER_LENGTH + (version === 2 ? VRRP_AUTH_LENGTH : 0) + count * 4;
  return VRRP_HEADER_LENGTH + count * 16;
}

/**
 * Structural decode of one received L4 payload: header present, version 2 or 3, length consistent with the
 * address count. Checksum, TTL, auth and everything that depends on our configuration is in validateAdvert().
 * Never throws, whatever the bytes.
 */
export function decodeAdvert(
  data: Uint8Array,
  family: IpFamily,
  protocol: number = IPPROTO_VRRP,
): DecodeResult {
  let off = 0;
  let ah: AhHeader | undefined;
  if (protocol === IPPROTO_AH) {
    if (data.length < AH_HEADER_LENGTH + VRRP_HEADER_LENGTH) {
      return drop('too-short', `VRRP packet with AH too short - ${data.length} bytes`);
    }
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    ah = {
      nextHeader: data[0],
      payloadLength: data[1],
      spi: dv.getUint32(4),
      sequence: dv.getUint32(8),
      icv: Uint8Array.from(data.subarray(12, 24)),
    };
    if (ah.nextHeader !== IPPROTO_VRRP) return drop('ah-not-vrrp', `AH header for protocol ${ah.nextHeader}`);
    off = AH_HEADER_LENGTH;
  } else if (data.length < VRRP_HEADER_LENGTH) {
    return drop('too-short', `IPv${family} VRRP packet too short - ${data.length} bytes`);
  }
  const msg = data.subarray(off);
  const version = msg[0] >> 4;
  if (version !== 2 && version !== 3) return drop('version', `unknown VRRP version ${version}`);
  const count = msg[3];
  const expected = expectedLength(version, count, family);
  if (msg.length !== expected) {
    return drop(
      'length',
      `vrrp packet too ${msg.length > expected ? 'long' : 'short'}, length ${msg.length} and expect ${expected}`,
    );
  }
  const alen = family === 4 ? 4 : 16;
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(formatIp(msg, family, VRRP_HEADER_LENGTH + i * alen));
  const checksum = (msg[6] << 8) | msg[7];
  const advert: VrrpAdvert =
    version === 2
      ? {
          version: 2,
          type: msg[0] & 0x0f,
          vrid: msg[1],
          priority: msg[2],
          addresses,
          rawInterval: msg[5],
          advertIntervalMs: msg[5] * 1000,
          authType: msg[4],
          checksum,
        }
      : {
          version: 3,
          type: msg[0] & 0x0f,
          vrid: msg[1],
          priority: msg[2],
          addresses,
          rawInterval: ((msg[4] & 0x0f) << 8) | msg[5],
          advertIntervalMs: (((msg[4] & 0x0f) << 8) | msg[5]) * 10,
          authType: 0,
          reserved: msg[4] >> 4,
          checksum,
        };
  if (version === 2 && family === 4) {
    advert.authData = Uint8Array.from(msg.subarray(VRRP_HEADER_LENGTH + count * 4));
  }
  if (ah) advert.ah = ah;
  return { ok: true, advert };
}

/** The VRID of a packet, for routing it to an instance before full validation; undefined if unreadable. */
export function peekVrid(data: Uint8Array, protocol: number = IPPROTO_VRRP): number | undefined {
  const off = protocol === IPPROTO_AH ? AH_HEADER_LENGTH : 0;
  return data.length >= off + VRRP_HEADER_LENGTH ? data[off + 1] : undefined;
}

/* ------------------------------------------------------------------ validate */

export interface AdvertExpectations extends ChecksumOptions {
  family: IpFamily;
  version: 2 | 3;
  vrid: number;
  advertIntervalMs: number;
  auth: { type: 'none' } | { type: 'pass'; password: string } | { type: 'ah'; password: string };
  /** Our advertised VIPs (canonical text), for the count and list checks. */
  virtualAddresses: readonly string[];
  /** keepalived's check_vip_addr: false when skip_check_adv_addr and the advert comes from the known master. */
  checkAddresses: boolean;
  /**
   * What an address list that differs from ours does (when checkAddresses): 'drop' the advert (keepalived
   * 2.2.7, and halo in strict mode), or 'report' it and let the advert count for the election (RFC 5798
   * makes the check a MAY; halo's default, so a rolling VIP change across a pair never splits the brain).
   */
  addressMismatch?: 'drop' | 'report';
  /** Unicast instance (has unicast peers). */
  unicast: boolean;
  unicastPeers: readonly { address: string; minTtl?: number; maxTtl?: number }[];
  /** check_unicast_src (instance or global vrrp_check_unicast_src). */
  checkUnicastSrc: boolean;
}

/** A valid advert; `addressDrift` when its address list differs from ours and the mismatch is reported, not dropped. */
export type ValidateResult =
  | (Extract<DecodeResult, { ok: true }> & { addressDrift?: { theirs: string[]; ours: string[] } })
  | Extract<DecodeResult, { ok: false }>;

/**
 * Full receive check of one packet for one instance, in keepalived's vrrp_check_packet() order.
 *
 * TTL rule (keepalived 2.2.7, and RFC 5798 5.1.1.3 for multicast): TTL/hop limit must be 255 unless the instance
 * is unicast; unicast adverts are only TTL-checked when check_unicast_src is on, against the peer's
 * min_ttl..max_ttl (default 0..255). The RFC has no unicast mode; we follow keepalived.
 */
export function validateAdvert(pkt: ReceivedAdvertPacket, exp: AdvertExpectations): ValidateResult {
  const protocol = pkt.protocol ?? IPPROTO_VRRP;
  if (pkt.family !== exp.family)
    return drop('version', `IPv${pkt.family} packet on an IPv${exp.family} instance`);
  // keepalived checks the AH / no-AH mismatch before anything else.
  if (exp.family === 4 && (protocol === IPPROTO_AH) !== (exp.auth.type === 'ah')) {
    return drop(
      'auth-type-mismatch',
      protocol === IPPROTO_AH
        ? 'Received AH header but auth type not AH'
        : 'No AH header but auth type is AH',
    );
  }
  if (!parseIp(pkt.source, pkt.family) || !parseIp(pkt.destination, pkt.family)) {
    return drop('bad-address', `bad packet addresses ${pkt.source} -> ${pkt.destination}`);
  }
  const dec = decodeAdvert(pkt.data, pkt.family, protocol);
  if (!dec.ok) return dec;
  const a = dec.advert;
  const msgLen = pkt.data.length - (protocol === IPPROTO_AH ? AH_HEADER_LENGTH : 0);

  if (!exp.unicast && pkt.ttl !== undefined && pkt.ttl !== VRRP_TTL) {
    return drop('ttl', `invalid TTL/HL. Received ${pkt.ttl} and expect ${VRRP_TTL}`);
  }
  if (a.version !== exp.version) {
    return drop('version', `wrong version. Received ${a.version} and expect ${exp.version}`);
  }
  if (a.version === 2) {
    if (a.authType !== AUTH_NONE && a.authType !== AUTH_PASS && a.authType !== AUTH_AH) {
      return drop('auth-type-invalid', `Invalid auth type: ${a.authType}`);
    }
    const ourType = exp.auth.type === 'pass' ? AUTH_PASS : exp.auth.type === 'ah' ? AUTH_AH : AUTH_NONE;
    if (a.authType !== ourType) {
      return drop('auth-type-mismatch', `received a ${a.authType} auth, expecting ${ourType}!`);
    }
    if (exp.auth.type === 'pass') {
      const want = passwordBytes(exp.auth.password);
      // keepalived compares the last 8 bytes of the packet; for v2/IPv4 that is authData.
      const got = pkt.data.subarray(pkt.data.length - VRRP_AUTH_LENGTH);
      let diff = 0;
      for (let i = 0; i < VRRP_AUTH_LENGTH; i++) diff |= (got[i] ?? 0) ^ want[i];
      if (diff !== 0) return drop('auth-failure', 'received an invalid passwd!');
    } else if (exp.auth.type === 'ah') {
      return drop(
        'auth-failure',
        'IPSEC-AH: cannot verify the ICV without the IP header (AH is not supported)',
      );
    }
    if (a.advertIntervalMs !== exp.advertIntervalMs) {
      return drop(
        'advert-interval',
        `advertisement interval mismatch mine=${Math.floor(exp.advertIntervalMs / 1000)} sec rcv'd=${a.rawInterval} sec`,
      );
    }
  }
  if (a.type !== VRRP_TYPE_ADVERT) {
    return drop('type', `Invalid packet type. ${a.type} and expect ${VRRP_TYPE_ADVERT}`);
  }
  if (a.vrid !== exp.vrid) return drop('vrid', `VRID ${a.vrid} is not ours (${exp.vrid})`);
  const reportMismatch = exp.addressMismatch === 'report';
  if (exp.checkAddresses && !reportMismatch && a.addresses.length !== exp.virtualAddresses.length) {
    return drop(
      'address-count',
      `received an unexpected ip number count ${a.addresses.length}, expected ${exp.virtualAddresses.length}!`,
    );
  }
  if (pkt.family === 4 && pkt.ipTotalLength !== undefined && pkt.ipHeaderLength !== undefined) {
    const received = pkt.ipHeaderLength + pkt.data.length;
    if (pkt.ipTotalLength !== received) {
      return drop(
        'ip-length',
        `ip_tot_len mismatch against received length. ${pkt.ipTotalLength} and received ${received}`,
      );
    }
  }
  const msg = pkt.data.subarray(pkt.data.length - msgLen);
  const sum = vrrpChecksum(msg, a.version, pkt.family, pkt.source, pkt.destination, exp);
  if (sum === undefined || sum !== a.checksum) {
    return drop('checksum', `Invalid VRRPv${a.version} checksum`);
  }
  const dst = parseIp(pkt.destination, pkt.family);
  const multicast = dst !== undefined && isMulticast(dst);
  if (multicast === exp.unicast) {
    return drop(
      'cast-mismatch',
      `Expected ${exp.unicast ? 'un' : 'mult'}icast packet but received ${exp.unicast ? 'mult' : 'un'}icast packet`,
    );
  }
  let addressDrift: { theirs: string[]; ours: string[] } | undefined;
  if (exp.checkAddresses) {
    const got = new Set(a.addresses);
    if (reportMismatch) {
      const same = got.size === exp.virtualAddresses.length && exp.virtualAddresses.every((v) => got.has(v));
      if (!same) addressDrift = { theirs: [...a.addresses], ours: [...exp.virtualAddresses] };
    }
    for (const vip of reportMismatch ? [] : exp.virtualAddresses) {
      if (!got.has(vip)) {
        return drop(
          'address-list',
          `ip address associated with VRID ${exp.vrid} not present in MASTER advert: ${vip}`,
        );
      }
    }
    if (exp.unicast && exp.checkUnicastSrc) {
      const src = parseIp(pkt.source, pkt.family);
      const peer = src
        ? exp.unicastPeers.find((p) => {
            const pb = parseIp(p.address, pkt.family);
            return pb !== undefined && compareIp(pb, src) === 0;
          })
        : undefined;
      if (!peer) return drop('unicast-source', `unicast source address ${pkt.source} not a unicast peer`);
      const min = peer.minTtl ?? 0;
      const max = peer.maxTtl ?? 255;
      if (pkt.ttl !== undefined && (pkt.ttl < min || pkt.ttl > max)) {
        return drop('unicast-ttl', `TTL/HL ${pkt.ttl} not in range ${min} - ${max}`);
      }
    }
  }
  return addressDrift ? { ...dec, addressDrift } : dec;
}
