/**
 * Netlink and generic-netlink framing: message headers, attributes (TLVs), error messages, and the genl
 * controller's family lookup. Pure functions over Buffers; the socket lives in client.ts.
 *
 * Layouts: linux/include/uapi/linux/netlink.h (struct nlmsghdr, nlmsgerr, nlattr) and genetlink.h.
 * Integer attributes are in host byte order (NLA_U16/U32); halo runs on little-endian hosts only
 * (x86-64, arm64), checked once at load.
 */
import { constants, endianness } from 'node:os';

if (endianness() !== 'LE') throw new Error('halo netlink codec assumes a little-endian host');

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
/** In an NLMSG_ERROR: the original request was not echoed (NETLINK_CAP_ACK) */
export const NLM_F_CAPPED = 0x100;
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;

export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_MAXATTR = 5;

export class NetlinkDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetlinkDecodeError';
  }
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** A kernel error reply: errno (positive) with its symbolic name. */
export class KernelError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(errno: number, what: string) {
    const code = errnoName(errno);
    super(`${what}: ${code}`);
    this.name = 'KernelError';
    this.errno = errno;
    this.code = code;
  }
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

const align4 = (n: number) => (n + 3) & ~3;

export function encodeNlMessage(m: NlMessage): Buffer {
  const len = NLMSG_HDRLEN + m.payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(m.type, 4);
  out.writeUInt16LE(m.flags, 6);
  out.writeUInt32LE(m.seq >>> 0, 8);
  out.writeUInt32LE(m.pid >>> 0, 12);
  m.payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Splits a datagram into netlink messages, rejecting any header that overruns the buffer. */
export function parseNlMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN)
      throw new NetlinkDecodeError(`truncated netlink header: ${buf.length - off} bytes at offset ${off}`);
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length)
      throw new NetlinkDecodeError(
        `bad netlink message length ${len} at offset ${off} (datagram ${buf.length} bytes)`,
      );
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** NLMSG_ERROR payload: int error (0 = ACK, else -errno), then the request's header. */
export function parseNlError(payload: Buffer): { errno: number; requestSeq: number | undefined } {
  if (payload.length < 4)
    throw new NetlinkDecodeError(`NLMSG_ERROR payload too short (${payload.length} bytes)`);
  const error = payload.readInt32LE(0);
  const requestSeq = payload.length >= 4 + NLMSG_HDRLEN ? payload.readUInt32LE(4 + 8) : undefined;
  return { errno: -error, requestSeq };
}

export interface GenlHeader {
  cmd: number;
  version: number;
  attrs: Buffer;
}

export function encodeGenlPayload(cmd: number, version: number, attrs: Buffer): Buffer {
  const out = Buffer.alloc(GENL_HDRLEN + attrs.length);
  out.writeUInt8(cmd, 0);
  out.writeUInt8(version, 1);
  attrs.copy(out, GENL_HDRLEN);
  return out;
}

export function parseGenlPayload(payload: Buffer): GenlHeader {
  if (payload.length < GENL_HDRLEN)
    throw new NetlinkDecodeError(`generic netlink header truncated (${payload.length} bytes)`);
  return { cmd: payload[0], version: payload[1], attrs: payload.subarray(GENL_HDRLEN) };
}

// ---- attributes ----

export function nla(type: number, payload: Buffer): Buffer {
  const len = NLA_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, NLA_HDRLEN);
  return out;
}

export const nlaU8 = (type: number, v: number) => nla(type, Buffer.from([v & 0xff]));
export function nlaU16(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return nla(type, b);
}
export function nlaBe16(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return nla(type, b);
}
export function nlaU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return nla(type, b);
}
export function nlaBe32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return nla(type, b);
}
export const nlaString = (type: number, s: string) => nla(type, Buffer.from(`${s}\0`, 'utf8'));
export const nlaNested = (type: number, children: Buffer[]) => nla(type, Buffer.concat(children));

/**
 * Attribute type -> payload position; a later duplicate wins (as in the kernel's nla_parse). Stores offsets
 * rather than slices: a 10,000-destination dump decodes ~150,000 attributes, and not allocating a Buffer per
 * attribute is most of the decoder's cost.
 */
export class AttrMap {
  private readonly off: number[] = [];
  private readonly len: number[] = [];
  constructor(readonly buf: Buffer) {}
  set(type: number, offset: number, length: number): void {
    this.off[type] = offset;
    this.len[type] = length;
  }
  has(type: number): boolean {
    return this.off[type] !== undefined;
  }
  offset(type: number): number | undefined {
    return this.off[type];
  }
  length(type: number): number {
    return this.len[type] ?? 0;
  }
  get(type: number): Buffer | undefined {
    const o = this.off[type];
    return o === undefined ? undefined : this.buf.subarray(o, o + this.len[type]);
  }
}

export function parseAttrs(buf: Buffer, where: string): AttrMap {
  const out = new AttrMap(buf);
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > buf.length)
      throw new NetlinkDecodeError(
        `${where}: attribute ${type} length ${len} overruns ${buf.length - off} bytes`,
      );
    out.set(type, off + NLA_HDRLEN, len - NLA_HDRLEN);
    off += align4(len);
  }
  // Trailing bytes shorter than an attribute header are padding at most.
  if (buf.length - off >= NLA_HDRLEN) throw new NetlinkDecodeError(`${where}: trailing garbage`);
  return out;
}

/** Offset of a present attribute of at least n bytes, else a NetlinkDecodeError naming it. */
function need(a: AttrMap, t: number, n: number, where: string, name: string): number {
  const o = a.offset(t);
  if (o === undefined) throw new NetlinkDecodeError(`${where}: missing ${name}`);
  if (a.length(t) < n)
    throw new NetlinkDecodeError(`${where}: ${name} is ${a.length(t)} bytes, expected ${n}`);
  return o;
}

export const getU8 = (a: AttrMap, t: number, where: string, name: string) =>
  a.buf[need(a, t, 1, where, name)];
export const getU16 = (a: AttrMap, t: number, where: string, name: string) =>
  a.buf.readUInt16LE(need(a, t, 2, where, name));
export const getBe16 = (a: AttrMap, t: number, where: string, name: string) =>
  a.buf.readUInt16BE(need(a, t, 2, where, name));
export const getU32 = (a: AttrMap, t: number, where: string, name: string) =>
  a.buf.readUInt32LE(need(a, t, 4, where, name));
export const getU64 = (a: AttrMap, t: number, where: string, name: string) =>
  a.buf.readBigUInt64LE(need(a, t, 8, where, name));
export function getBytes(a: AttrMap, t: number, n: number, where: string, name: string): Buffer {
  const o = need(a, t, n, where, name);
  return a.buf.subarray(o, o + a.length(t));
}
export function getString(a: AttrMap, t: number, where: string, name: string): string {
  const o = need(a, t, 0, where, name);
  let end = o + a.length(t);
  const nul = a.buf.indexOf(0, o);
  if (nul >= 0 && nul < end) end = nul;
  return a.buf.toString('utf8', o, end);
}

// ---- genl controller ----

export function encodeGetFamily(name: string): Buffer {
  return encodeGenlPayload(CTRL_CMD_GETFAMILY, 1, nlaString(CTRL_ATTR_FAMILY_NAME, name));
}

export function decodeFamilyReply(payload: Buffer): { id: number; name: string; version: number } {
  const g = parseGenlPayload(payload);
  const a = parseAttrs(g.attrs, 'genl family reply');
  return {
    id: getU16(a, CTRL_ATTR_FAMILY_ID, 'genl family reply', 'CTRL_ATTR_FAMILY_ID'),
    name: getString(a, CTRL_ATTR_FAMILY_NAME, 'genl family reply', 'CTRL_ATTR_FAMILY_NAME'),
    version: a.has(CTRL_ATTR_VERSION)
      ? getU32(a, CTRL_ATTR_VERSION, 'genl family reply', 'CTRL_ATTR_VERSION')
      : 0,
  };
}
