/**
 * UDP_CHECK (keepalived check_udp.c, core/layer4.c udp_bind_connect /
 * udp_socket_state): send the payload (32 filler bytes without one) on a
 * connected UDP socket. Without require_reply, silence until connect_timeout
 * is a success and only an ICMP error (port unreachable -> ECONNREFUSED)
 * fails; with require_reply a reply must arrive, its length must be within
 * [min_reply_length, max_reply_length] (default 0..255) and its first bytes
 * must match the pattern (bits set in the mask are ignored).
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { CheckResult, UdpTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

/** keepalived sends UDP_BUFSIZE (32) filler bytes when no payload is configured. */
const DEFAULT_PAYLOAD = Buffer.from('keepalived-halo udp check 0123\n'.padEnd(32, '.'));

export function udpReplyMatches(reply: Buffer, target: UdpTarget): string | undefined {
  if (reply.length < target.minReplyLength || reply.length > target.maxReplyLength) {
    return `reply length ${reply.length} outside ${target.minReplyLength}..${target.maxReplyLength}`;
  }
  const pattern = target.replyPattern;
  if (!pattern) return undefined;
  const n = Math.min(reply.length, pattern.length);
  for (let i = 0; i < n; i++) {
    const ignore = target.replyMask ? (target.replyMask[i] ?? 0) : 0;
    if (((reply[i] ^ pattern[i]) & ~ignore & 0xff) !== 0) return `reply data mismatch at byte ${i}`;
  }
  return undefined;
}

export function checkUdp(target: UdpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(aborted());
      return;
    }
    const socket = createSocket({ type: isIPv6(target.host) ? 'udp6' : 'udp4' });
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      resolve(r);
    };
    const onAbort = () => finish(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish({ ok: false, reason: describeError(err) }));
    socket.on('message', (msg) => {
      if (!target.requireReply) return finish({ ok: true, reason: 'reply received' });
      const problem = udpReplyMatches(msg, target);
      finish(problem ? { ok: false, reason: problem } : { ok: true, reason: 'expected reply received' });
    });
    const go = () => {
      socket.connect(target.port, target.host, () => {
        socket.send(target.payload ?? DEFAULT_PAYLOAD, (err) => {
          if (err) return finish({ ok: false, reason: describeError(err) });
          timer = setTimeout(() => {
            if (target.requireReply)
              finish({ ok: false, reason: `no reply within ${formatMs(target.connectTimeoutMs)}` });
            else finish({ ok: true, reason: `no ICMP error within ${formatMs(target.connectTimeoutMs)}` });
          }, target.connectTimeoutMs);
        });
      });
    };
    if (target.bindTo !== undefined || target.bindPort !== undefined) {
      socket.bind({ address: target.bindTo, port: target.bindPort ?? 0 }, go);
    } else go();
  });
}
