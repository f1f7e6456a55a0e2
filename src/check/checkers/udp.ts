/**
 * UDP_CHECK (keepalived check_udp.c, core/layer4.c udp_bind_connect /
 * udp_socket_state): send the payload (32 filler bytes without one) on a
 * connected UDP socket. Without require_reply, silence until connect_timeout
 * is a success and only an ICMP error (port unreachable -> ECONNREFUSED)
 * fails; with require_reply a reply must arrive, and with a reply pattern
 * its length must be within [min_reply_length, max_reply_length] (default
 * 0..255) and its first bytes must match the pattern (bits set in the mask
 * are ignored). Without a pattern any reply will do: keepalived checks the
 * length only together with the pattern (check_udp.c udp_check_thread).
 */
import type { CheckResult, UdpTarget } from '../types.js';
import { formatMs } from './common.js';
import { udpExchange } from './udp-exchange.js';

/** keepalived sends UDP_BUFSIZE (32) filler bytes when no payload is configured. */
const DEFAULT_PAYLOAD = Buffer.from('keepalived-halo udp check 0123\n'.padEnd(32, '.'));

export function udpReplyMatches(reply: Buffer, target: UdpTarget): string | undefined {
  const pattern = target.replyPattern;
  if (!pattern) return undefined;
  if (reply.length < target.minReplyLength || reply.length > target.maxReplyLength) {
    return `reply length ${reply.length} outside ${target.minReplyLength}..${target.maxReplyLength}`;
  }
  const n = Math.min(reply.length, pattern.length);
  for (let i = 0; i < n; i++) {
    const ignore = target.replyMask ? (target.replyMask[i] ?? 0) : 0;
    if (((reply[i] ^ pattern[i]) & ~ignore & 0xff) !== 0) return `reply data mismatch at byte ${i}`;
  }
  return undefined;
}

export function checkUdp(target: UdpTarget, signal: AbortSignal): Promise<CheckResult> {
  return udpExchange(
    target,
    target.payload ?? DEFAULT_PAYLOAD,
    signal,
    (msg) => {
      if (!target.requireReply) return { ok: true, reason: 'reply received' };
      const problem = udpReplyMatches(msg, target);
      return problem ? { ok: false, reason: problem } : { ok: true, reason: 'expected reply received' };
    },
    () =>
      target.requireReply
        ? { ok: false, reason: `no reply within ${formatMs(target.connectTimeoutMs)}`, timedOut: true }
        : { ok: true, reason: `no ICMP error within ${formatMs(target.connectTimeoutMs)}` },
  );
}
