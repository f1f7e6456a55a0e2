/**
 * TCP_CHECK (keepalived check_tcp.c): the real server is healthy when a TCP
 * connection to it (connect_ip/connect_port, from bindto/bind_port) completes
 * within connect_timeout. The connection is closed at once (close(), FIN —
 * as keepalived does).
 *
 * The check runs on the libuv TCP handle (tcp-handle.ts): one attempt is one
 * socket, one connect and one completion callback, as in a C checker. It
 * falls back to net.connect when the handle bindings are unavailable or
 * HALO_TCP_CHECK_NET=1.
 */
import { connect } from 'node:net';
import type { CheckResult, TcpTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';
import { errnoReason, type HandleBindings, handles, openConnection, trackAbort } from './tcp-handle.js';

export type Done = (result: CheckResult) => void;

const CONNECTED: CheckResult = Object.freeze({ ok: true, reason: 'connected' }) as CheckResult;

function startTcpHandle(b: HandleBindings, target: TcpTarget, signal: AbortSignal, done: Done): void {
  let finished = false;
  let untrack: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = (r: CheckResult) => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    untrack?.();
    conn.handle?.close();
    done(r);
  };
  const conn = openConnection(b, target, (status) => {
    if (status === 0) finish(CONNECTED);
    else finish({ ok: false, reason: errnoReason(status) });
  });
  if (conn.error !== undefined) {
    finished = true;
    done({ ok: false, reason: conn.error });
    return;
  }
  timer = setTimeout(
    () =>
      finish({
        ok: false,
        reason: `connect timeout after ${formatMs(target.connectTimeoutMs)}`,
        timedOut: true,
      }),
    target.connectTimeoutMs,
  );
  untrack = trackAbort(signal, () => finish(aborted()));
}

function startTcpNet(target: TcpTarget, signal: AbortSignal, done: Done): void {
  let finished = false;
  const socket = connect({
    host: target.host,
    port: target.port,
    localAddress: target.bindTo,
    localPort: target.bindPort,
    // No Happy Eyeballs or DNS: targets are literal addresses.
    autoSelectFamily: false,
  });
  const finish = (r: CheckResult) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    untrack();
    socket.destroy();
    done(r);
  };
  const timer = setTimeout(
    () =>
      finish({
        ok: false,
        reason: `connect timeout after ${formatMs(target.connectTimeoutMs)}`,
        timedOut: true,
      }),
    target.connectTimeoutMs,
  );
  const untrack = trackAbort(signal, () => finish(aborted()));
  socket.once('connect', () => finish(CONNECTED));
  socket.once('error', (err) => finish({ ok: false, reason: describeError(err) }));
}

/** Start one TCP_CHECK attempt; `done` is called exactly once. */
export function startTcp(target: TcpTarget, signal: AbortSignal, done: Done): void {
  if (signal.aborted) {
    done(aborted());
    return;
  }
  if (handles) startTcpHandle(handles, target, signal, done);
  else startTcpNet(target, signal, done);
}

export function checkTcp(target: TcpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => startTcp(target, signal, resolve));
}

/** Which implementation checkTcp uses ('handle' or 'net'); for benchmarks and tests. */
export const tcpCheckImplementation: 'handle' | 'net' = handles ? 'handle' : 'net';
