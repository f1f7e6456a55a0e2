/**
 * One request/response exchange on a connected UDP socket, shared by
 * UDP_CHECK and DNS_CHECK (keepalived core/layer4.c udp_bind_connect): bind
 * (bindto / bind_port) if asked, connect, send the payload, then hand every
 * datagram that arrives to `onReply` until it returns a result. An ICMP error
 * (port unreachable -> ECONNREFUSED) or an abort ends it early; after
 * connect_timeout `onTimeout` decides (silence may be a success for UDP_CHECK).
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { CheckResult, ConnectOptions } from '../types.js';
import { aborted, describeError } from './common.js';

export function udpExchange(
  target: ConnectOptions,
  payload: Buffer,
  signal: AbortSignal,
  onReply: (msg: Buffer) => CheckResult | undefined,
  onTimeout: () => CheckResult,
): Promise<CheckResult> {
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
      const r = onReply(msg);
      if (r) finish(r);
    });
    const go = () => {
      socket.connect(target.port, target.host, () => {
        socket.send(payload, (err) => {
          if (err) return finish({ ok: false, reason: describeError(err) });
          timer = setTimeout(() => finish(onTimeout()), target.connectTimeoutMs);
        });
      });
    };
    if (target.bindTo !== undefined || target.bindPort !== undefined) {
      socket.bind({ address: target.bindTo, port: target.bindPort ?? 0 }, go);
    } else go();
  });
}
