/**
 * TCP_CHECK (keepalived check_tcp.c): the real server is healthy when a TCP
 * connection to it (connect_ip/connect_port, from bindto/bind_port) completes
 * within connect_timeout. The connection is closed at once (close(), FIN —
 * as keepalived does).
 *
 * Cost matters here: a director may check thousands of real servers a
 * second. A net.Socket brings a whole stream machinery per attempt (~45 µs
 * of user CPU per connect on this project's test machine); the libuv TCP
 * handle underneath costs ~10 µs. So the check uses Node's TCP handle
 * binding directly when it is available (Node 20: process.binding('tcp_wrap'),
 * a stable-in-practice internal that net itself is built on), and falls back
 * to net.connect otherwise or when HALO_TCP_CHECK_NET=1.
 */
import { connect, isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { CheckResult, TcpTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

interface TcpHandle {
  connect(req: ConnectReq, host: string, port: number): number;
  connect6(req: ConnectReq, host: string, port: number): number;
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  close(cb?: () => void): void;
}
interface ConnectReq {
  oncomplete: (status: number) => void;
}
interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}

function loadTcpWrap(): TcpWrapBinding | undefined {
  if (process.env.HALO_TCP_CHECK_NET === '1') return undefined;
  try {
    // process.binding is documentation-deprecated (DEP0111); calling it does not warn by default.
    const b = (process as unknown as { binding(name: string): TcpWrapBinding }).binding('tcp_wrap');
    if (typeof b?.TCP === 'function' && typeof b.TCPConnectWrap === 'function' && b.constants) return b;
  } catch {
    // not available: use net
  }
  return undefined;
}

const tcpWrap = loadTcpWrap();

/** Attempts in flight per abort signal: one listener per signal aborts them all (no per-attempt listeners). */
const inFlightBySignal = new WeakMap<AbortSignal, Set<() => void>>();

function trackAbort(signal: AbortSignal, abort: () => void): () => void {
  let set = inFlightBySignal.get(signal);
  if (!set) {
    const s = new Set<() => void>();
    set = s;
    inFlightBySignal.set(signal, s);
    signal.addEventListener('abort', () => {
      for (const f of [...s]) f();
      s.clear();
    });
  }
  set.add(abort);
  return () => set.delete(abort);
}

function errnoReason(status: number): string {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = `error ${status}`;
  }
  return describeError({ code } as NodeJS.ErrnoException);
}

function checkTcpFast(b: TcpWrapBinding, target: TcpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const v6 = isIPv6(target.host);
    const handle = new b.TCP(b.constants.SOCKET);
    let done = false;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      untrack();
      handle.close();
      resolve(r);
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
    if (target.bindTo !== undefined || target.bindPort !== undefined) {
      const local = target.bindTo ?? (v6 ? '::' : '0.0.0.0');
      const err = v6
        ? handle.bind6(local, target.bindPort ?? 0, 0)
        : handle.bind(local, target.bindPort ?? 0);
      if (err) {
        finish({ ok: false, reason: `cannot bind ${local}: ${errnoReason(err)}` });
        return;
      }
    }
    const req = new b.TCPConnectWrap();
    req.oncomplete = (status: number) => {
      finish(status === 0 ? { ok: true, reason: 'connected' } : { ok: false, reason: errnoReason(status) });
    };
    const err = v6
      ? handle.connect6(req, target.host, target.port)
      : handle.connect(req, target.host, target.port);
    if (err) finish({ ok: false, reason: errnoReason(err) });
  });
}

function checkTcpNet(target: TcpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
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
      untrack();
      socket.destroy();
      resolve(r);
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
    socket.once('connect', () => finish({ ok: true, reason: 'connected' }));
    socket.once('error', (err) => finish({ ok: false, reason: describeError(err) }));
  });
}

export function checkTcp(target: TcpTarget, signal: AbortSignal): Promise<CheckResult> {
  if (signal.aborted) return Promise.resolve(aborted());
  return tcpWrap ? checkTcpFast(tcpWrap, target, signal) : checkTcpNet(target, signal);
}

/** Which implementation checkTcp uses ('handle' or 'net'); for benchmarks and tests. */
export const tcpCheckImplementation: 'handle' | 'net' = tcpWrap ? 'handle' : 'net';
