/**
 * TCP_CHECK (keepalived check_tcp.c): the real server is healthy when a TCP
 * connection to it (connect_ip/connect_port, from bindto/bind_port) completes
 * within connect_timeout. The connection is closed at once.
 */
import { connect } from 'node:net';
import type { CheckResult, TcpTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

export function checkTcp(target: TcpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(aborted());
      return;
    }
    let done = false;
    const socket = connect({
      host: target.host,
      port: target.port,
      localAddress: target.bindTo,
      localPort: target.bindPort,
      // No Happy Eyeballs or DNS: targets are literal addresses.
      autoSelectFamily: false,
    });
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => finish(aborted());
    const timer = setTimeout(
      () => finish({ ok: false, reason: `connect timeout after ${formatMs(target.connectTimeoutMs)}` }),
      target.connectTimeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ ok: true, reason: 'connected' }));
    socket.once('error', (err) => finish({ ok: false, reason: describeError(err) }));
  });
}
