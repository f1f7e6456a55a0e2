/**
 * PING_CHECK (keepalived check_ping.c): one ICMP / ICMPv6 echo request, up
 * when the matching echo reply arrives within connect_timeout. keepalived
 * uses unprivileged "ping sockets"; halo uses the project's raw-socket addon
 * (src/net/raw-socket.ts), one shared socket per family, and matches replies
 * by identifier, sequence number and source address. An ICMP destination
 * unreachable quoting our request fails the attempt at once.
 */
import { isIPv6 } from 'node:net';
import { RawSocket, type ReceivedPacket } from '../../net/raw-socket.js';
import type { CheckResult, PingTarget } from '../types.js';
import { aborted, formatMs } from './common.js';

const ICMP_ECHO_REPLY = 0;
const ICMP_UNREACH = 3;
const ICMP_ECHO = 8;
const ICMP6_UNREACH = 1;
const ICMP6_ECHO = 128;
const ICMP6_ECHO_REPLY = 129;
/** keepalived's ICMP_BUFSIZE payload length. */
const PAYLOAD = Buffer.from('halo PING_CHECK 0123456789abcdef'.padEnd(32, '.'));

/** RFC 1071 Internet checksum. */
export function internetChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

export function buildEcho(family: 4 | 6, id: number, seq: number): Buffer {
  const msg = Buffer.alloc(8 + PAYLOAD.length);
  msg[0] = family === 4 ? ICMP_ECHO : ICMP6_ECHO;
  msg.writeUInt16BE(id, 4);
  msg.writeUInt16BE(seq, 6);
  PAYLOAD.copy(msg, 8);
  // ICMPv6: the kernel fills the checksum (it needs the pseudo-header) on raw ICMPv6 sockets.
  if (family === 4) msg.writeUInt16BE(internetChecksum(msg), 2);
  return msg;
}

interface Pending {
  host: string;
  resolve: (r: CheckResult) => void;
}

/** Echo request/reply demultiplexer over one raw socket per family. */
class Pinger {
  private socket: RawSocket | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private readonly id = process.pid & 0xffff;

  constructor(private readonly family: 4 | 6) {}

  private open(): RawSocket {
    if (!this.socket) {
      const s = RawSocket.open({ family: this.family, protocol: this.family === 4 ? 1 : 58 });
      s.onPacket((p) => this.onPacket(p));
      s.onError(() => {
        // Receive errors are per datagram (ICMP errors on a raw socket); the attempt's timeout still applies.
      });
      this.socket = s;
    }
    return this.socket;
  }

  ping(host: string, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
    return new Promise((resolve) => {
      let seq = 0;
      for (let i = 0; i < 0x10000; i++) {
        this.seq = (this.seq + 1) & 0xffff;
        if (!this.pending.has(this.seq)) break;
      }
      seq = this.seq;
      let timer: NodeJS.Timeout | undefined;
      const done = (r: CheckResult) => {
        if (!this.pending.has(seq)) return;
        this.pending.delete(seq);
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.pending.size === 0 && this.socket) {
          this.socket.close();
          this.socket = undefined;
        }
        resolve(r);
      };
      const onAbort = () => done(aborted());
      this.pending.set(seq, { host, resolve: done });
      try {
        this.open().send(buildEcho(this.family, this.id, seq), host);
      } catch (err) {
        done({ ok: false, reason: `cannot send ICMP echo: ${(err as Error).message}` });
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(
        () => done({ ok: false, reason: `no echo reply within ${formatMs(timeoutMs)}`, timedOut: true }),
        timeoutMs,
      );
    });
  }

  private onPacket(p: ReceivedPacket): void {
    const d = p.data;
    if (d.length < 8) return;
    const type = d[0];
    if (type === (this.family === 4 ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY)) {
      if (d.readUInt16BE(4) !== this.id) return;
      const pend = this.pending.get(d.readUInt16BE(6));
      if (pend && sameAddress(pend.host, p.source)) pend.resolve({ ok: true, reason: 'echo reply' });
      return;
    }
    if (type === (this.family === 4 ? ICMP_UNREACH : ICMP6_UNREACH)) {
      // The error quotes our request: inner IP header, then the echo header.
      let inner: number;
      if (this.family === 4) {
        if (d.length < 8 + 20) return;
        inner = 8 + (d[8] & 0x0f) * 4;
      } else inner = 8 + 40;
      if (d.length < inner + 8) return;
      if (d.readUInt16BE(inner + 4) !== this.id) return;
      const pend = this.pending.get(d.readUInt16BE(inner + 6));
      if (pend)
        pend.resolve({ ok: false, reason: `ICMP destination unreachable (code ${d[1]}) from ${p.source}` });
    }
  }
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || (isIPv6(a) && isIPv6(b) && expand6(a) === expand6(b));
}

function expand6(a: string): string {
  const [head, tail = ''] = a.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = a.includes('::') ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((x) => x.padStart(4, '0')).join(':');
}

const pingers: { 4?: Pinger; 6?: Pinger } = {};

export function checkPing(target: PingTarget, signal: AbortSignal): Promise<CheckResult> {
  if (signal.aborted) return Promise.resolve(aborted());
  const family = isIPv6(target.host) ? 6 : 4;
  let pinger = pingers[family];
  if (!pinger) {
    pinger = new Pinger(family);
    pingers[family] = pinger;
  }
  return pinger.ping(target.host, target.connectTimeoutMs, signal);
}
