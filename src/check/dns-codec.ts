/**
 * Minimal DNS message codec for DNS_CHECK: build a one-question query and
 * read just enough of a response to judge it. Pure functions; malformed
 * input yields an error value, never an exception.
 */
import type { DnsQueryType } from './types.js';

export const DNS_TYPES: Record<DnsQueryType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  RRSIG: 46,
  DNSKEY: 48,
};

/** Encode a name as DNS labels; '' and '.' are the root (check_dns.c dns_make_query). */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed.length > 0) {
    for (const label of trimmed.split('.')) {
      const b = Buffer.from(label, 'ascii');
      if (b.length === 0 || b.length > 63) throw new Error(`invalid DNS label in '${name}'`);
      parts.push(Buffer.from([b.length]), b);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** A query with RD set, one question of class IN (as keepalived sends). */
export function buildQuery(id: number, name: string, type: DnsQueryType): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(DNS_TYPES[type], 0);
  tail.writeUInt16BE(1, 2); // IN
  return Buffer.concat([header, encodeName(name), tail]);
}

export interface DnsQuestion {
  name: string; // lower-case, no trailing dot; '' for the root
  type: number;
  class: number;
}

export interface DnsResponseInfo {
  id: number;
  qr: boolean;
  rcode: number;
  questions: DnsQuestion[];
}

/** Read a (possibly compressed) name at `off`; returns the name and the offset after it. */
function readName(msg: Buffer, off: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let next = -1;
  let hops = 0;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off];
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= msg.length || ++hops > 16) return undefined;
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | msg[off + 1];
      continue;
    }
    if ((len & 0xc0) !== 0 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), next };
}

/** Parse the header and question section; undefined when malformed. */
export function parseResponse(msg: Buffer): DnsResponseInfo | undefined {
  if (msg.length < 12) return undefined;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  const questions: DnsQuestion[] = [];
  let off = 12;
  for (let i = 0; i < qd; i++) {
    const n = readName(msg, off);
    if (!n || n.next + 4 > msg.length) return undefined;
    questions.push({ name: n.name, type: msg.readUInt16BE(n.next), class: msg.readUInt16BE(n.next + 2) });
    off = n.next + 4;
  }
  return { id, qr: (flags & 0x8000) !== 0, rcode: flags & 0x000f, questions };
}

/** Normalise a configured name the way parseResponse reports names. */
export function canonicalName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}
