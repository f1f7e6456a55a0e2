/**
 * Node's libuv TCP handle, used directly by TCP_CHECK and HTTP_GET.
 *
 * A director may check thousands of real servers a second. A net.Socket
 * brings a whole stream machinery per attempt (~45 µs of user CPU per connect
 * on this project's test machine, ~150 µs per HTTP GET); the handle underneath
 * costs ~10 µs. So the checks use the TCP handle binding (Node 20:
 * process.binding('tcp_wrap') and 'stream_wrap', stable-in-practice internals
 * that `net` itself is built on) and fall back to net.connect when they are
 * missing or HALO_TCP_CHECK_NET=1.
 *
 * What a check does with a handle is what a C checker does with a socket:
 * connect; for HTTP write the request once connected and read into one
 * buffer shared by every connection (reads are delivered one at a time on
 * this thread and consumed before the next); close.
 */
import { isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { ConnectOptions } from '../types.js';
import { describeError } from './common.js';

export interface TcpHandle {
  connect(req: ConnectReq, host: string, port: number): number;
  connect6(req: ConnectReq, host: string, port: number): number;
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  close(cb?: () => void): void;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
  writeLatin1String(req: WriteReq, data: string): number;
  onread: ((arrayBuffer: ArrayBuffer | undefined) => void) | null;
}
export interface ConnectReq {
  oncomplete: (status: number) => void;
}
export interface WriteReq {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
  async: boolean;
}
interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}
interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

export interface HandleBindings {
  tcp: TcpWrapBinding;
  stream: StreamWrapBinding;
}

function loadBindings(): HandleBindings | undefined {
  if (process.env.HALO_TCP_CHECK_NET === '1') return undefined;
  try {
    // process.binding is documentation-deprecated (DEP0111); calling it does not warn by default.
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const tcp = binding('tcp_wrap') as TcpWrapBinding;
    const stream = binding('stream_wrap') as StreamWrapBinding;
    if (
      typeof tcp?.TCP === 'function' &&
      typeof tcp.TCPConnectWrap === 'function' &&
      tcp.constants &&
      typeof stream?.WriteWrap === 'function' &&
      stream.streamBaseState instanceof Int32Array &&
      typeof stream.kReadBytesOrError === 'number' &&
      typeof tcp.TCP.prototype.useUserBuffer === 'function'
    ) {
      return { tcp, stream };
    }
  } catch {
    // not available: use net
  }
  return undefined;
}

/** undefined when the handle bindings are unavailable (the checks then use net / tls). */
export const handles = loadBindings();

/** libuv's UV_EOF. */
export const UV_EOF = -4095;

/** One read buffer for every connection: a read is consumed before the next one is delivered. */
export const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

export function errnoReason(status: number): string {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = `error ${status}`;
  }
  return describeError({ code } as NodeJS.ErrnoException);
}

/**
 * A new handle, bound (bindto / bind_port) and connecting. Returns the handle
 * and undefined, or an error reason (the handle is then already closed).
 */
export function openConnection(
  b: HandleBindings,
  target: ConnectOptions,
  onConnect: (status: number) => void,
): { handle: TcpHandle; error?: undefined } | { handle?: undefined; error: string } {
  const v6 = isIPv6(target.host);
  const handle = new b.tcp.TCP(b.tcp.constants.SOCKET);
  if (target.bindTo !== undefined || target.bindPort !== undefined) {
    const local = target.bindTo ?? (v6 ? '::' : '0.0.0.0');
    const err = v6 ? handle.bind6(local, target.bindPort ?? 0, 0) : handle.bind(local, target.bindPort ?? 0);
    if (err) {
      handle.close();
      return { error: `cannot bind ${local}: ${errnoReason(err)}` };
    }
  }
  const req = new b.tcp.TCPConnectWrap();
  req.oncomplete = onConnect;
  const err = v6
    ? handle.connect6(req, target.host, target.port)
    : handle.connect(req, target.host, target.port);
  if (err) {
    handle.close();
    return { error: errnoReason(err) };
  }
  return { handle };
}

/** Attempts in flight per abort signal: one listener per signal aborts them all (no per-attempt listeners). */
const inFlightBySignal = new WeakMap<AbortSignal, Set<() => void>>();

/** Register an abort callback for one attempt; returns its unregister function. */
export function trackAbort(signal: AbortSignal, abort: () => void): () => void {
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
