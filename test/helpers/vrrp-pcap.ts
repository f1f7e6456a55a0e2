/**
 * Minimal pcap / pcapng reader for test fixtures: Ethernet frames -> IPv4/IPv6 packets with their L4 payload,
 * in the shape the raw-socket shell hands to the VRRP core (payload, source, destination, TTL, protocol).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface CapturedIpPacket {
  frame: number;
  timestampUs: number;
  family: 4 | 6;
  source: string;
  destination: string;
  ttl: number;
  protocol: number;
  tos: number;
  ipHeaderLength: number;
  ipTotalLength: number;
  payload: Buffer;
}

export const VRRP_FIXTURES = resolve(
  import.meta.dirname,
  import.meta.dirname.includes('/dist/') ? '../../../test/fixtures/vrrp' : '../fixtures/vrrp',
);

function ethernetFrames(buf: Buffer): { ts: number; data: Buffer }[] {
  const frames: { ts: number; data: Buffer }[] = [];
  const magic = buf.readUInt32LE(0);
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    const nano = magic === 0xa1b23c4d;
    let off = 24;
    while (off + 16 <= buf.length) {
      const sec = buf.readUInt32LE(off);
      const frac = buf.readUInt32LE(off + 4);
      const caplen = buf.readUInt32LE(off + 8);
      frames.push({
        ts: sec * 1e6 + (nano ? frac / 1000 : frac),
        data: buf.subarray(off + 16, off + 16 + caplen),
      });
      off += 16 + caplen;
    }
    return frames;
  }
  if (magic === 0x0a0d0d0a) {
    // pcapng, little-endian sections only (what tshark/dumpcap write here); microsecond timestamps
    let off = 0;
    while (off + 12 <= buf.length) {
      const type = buf.readUInt32LE(off);
      const len = buf.readUInt32LE(off + 4);
      if (len < 12) break;
      if (type === 6) {
        const tsHigh = buf.readUInt32LE(off + 12);
        const tsLow = buf.readUInt32LE(off + 16);
        const caplen = buf.readUInt32LE(off + 20);
        frames.push({ ts: tsHigh * 2 ** 32 + tsLow, data: buf.subarray(off + 28, off + 28 + caplen) });
      }
      off += len;
    }
    return frames;
  }
  throw new Error(`not a pcap/pcapng file (magic 0x${magic.toString(16)})`);
}

function ip4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}
function ip6(b: Buffer, o: number): string {
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(o + i * 2).toString(16));
  return g.join(':');
}

export function readIpPackets(file: string): CapturedIpPacket[] {
  const buf = readFileSync(file.includes('/') ? file : join(VRRP_FIXTURES, file));
  const out: CapturedIpPacket[] = [];
  ethernetFrames(buf).forEach((f, i) => {
    const d = f.data;
    if (d.length < 14) return;
    const ethertype = d.readUInt16BE(12);
    const ip = d.subarray(14);
    if (ethertype === 0x0800 && ip.length >= 20) {
      const ihl = (ip[0] & 0x0f) * 4;
      const total = ip.readUInt16BE(2);
      out.push({
        frame: i + 1,
        timestampUs: f.ts,
        family: 4,
        source: ip4(ip, 12),
        destination: ip4(ip, 16),
        ttl: ip[8],
        protocol: ip[9],
        tos: ip[1],
        ipHeaderLength: ihl,
        ipTotalLength: total,
        payload: Buffer.from(ip.subarray(ihl, total)),
      });
    } else if (ethertype === 0x86dd && ip.length >= 40) {
      const plen = ip.readUInt16BE(4);
      out.push({
        frame: i + 1,
        timestampUs: f.ts,
        family: 6,
        source: ip6(ip, 8),
        destination: ip6(ip, 24),
        ttl: ip[7],
        protocol: ip[6],
        tos: ((ip[0] & 0x0f) << 4) | (ip[1] >> 4),
        ipHeaderLength: 40,
        ipTotalLength: 40 + plen,
        payload: Buffer.from(ip.subarray(40, 40 + plen)),
      });
    }
  });
  return out;
}

/** The VRRP packets (IP protocol 112) of a capture. */
export function readVrrpPackets(file: string): CapturedIpPacket[] {
  return readIpPackets(file).filter((p) => p.protocol === 112);
}
