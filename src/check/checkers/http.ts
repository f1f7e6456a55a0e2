/**
 * HTTP_GET / SSL_GET (keepalived check_http.c, check_ssl.c).
 *
 * One attempt checks one url (the scheduler walks the urls like keepalived).
 * The request is byte-for-byte keepalived's (http_request_thread):
 *   GET <path> HTTP/1.<0|1>\r\n
 *   User-Agent: KeepAliveClient\r\n
 *   [Connection: close\r\n]            (http_protocol 1.0C and 1.1)
 *   Host: <virtualhost | address:port>\r\n\r\n
 * The status code must be in the url's ranges (default 200-299); with a
 * digest the MD5 of the body must match; with a regex the body must match it
 * (must not, with regex_no_match). What is read of the body, and where halo
 * differs from keepalived's regex, is in http-response.ts. TLS is not
 * verified (keepalived does not verify either); SNI is sent only with
 * enable_sni, carrying the virtualhost.
 *
 * HTTP_GET runs on the libuv TCP handle (tcp-handle.ts): connect (reading
 * armed at once), write the request once connected, read into the shared
 * buffer, close — the calls a C checker makes, with no stream machinery in
 * between. SSL_GET needs TLS and
 * uses tls.connect; HTTP_GET falls back to net.connect without the handle.
 *
 * Timeouts: connect_timeout applies to each I/O step like keepalived
 * (connect, write, then the wait for each read), i.e. an idle timeout, not a
 * bound on the whole transfer.
 *
 * Two deliberate leniencies, both only turning keepalived timeouts/failures
 * into the obviously intended result: the response also completes once
 * Content-Length body bytes arrived (keepalived waits for the server to
 * close), and "Content-Length" is matched case-insensitively; a status line
 * without a reason phrase ("HTTP/1.1 200\r\n") is accepted.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { CheckResult, HttpTarget, HttpUrlTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';
import { HttpResponseReader, type ResponseNeeds } from './http-response.js';
import {
  errnoReason,
  type HandleBindings,
  handles,
  openConnection,
  sharedReadBuffer,
  type TcpHandle,
  trackAbort,
  UV_EOF,
} from './tcp-handle.js';

export { parseContentLength, parseStatusCode } from './http-response.js';

export type Done = (result: CheckResult) => void;

export function buildHttpRequest(target: HttpTarget, url: HttpUrlTarget): string {
  const vhost = url.virtualhost ?? target.virtualhost;
  let host: string;
  if (vhost) host = vhost;
  else host = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const minor = target.httpProtocol === '1.1' ? 1 : 0;
  let connection = '';
  if (target.httpProtocol === '1.0C' || target.httpProtocol === '1.1') connection = 'Connection: close\r\n';
  else if (target.httpProtocol === '1.0K') connection = 'Connection: keep-alive\r\n';
  return `GET ${url.path} HTTP/1.${minor}\r\nUser-Agent: KeepAliveClient\r\n${connection}Host: ${host}\r\n\r\n`;
}

export function statusAccepted(code: number, ranges: Array<{ from: number; to: number }>): boolean {
  for (const r of ranges) if (code >= r.from && code <= r.to) return true;
  return false;
}

/** The request text per url, built once (targets are immutable plan data). */
const requests = new WeakMap<HttpUrlTarget, string>();

function requestFor(target: HttpTarget, url: HttpUrlTarget): string {
  let r = requests.get(url);
  if (r === undefined) {
    r = buildHttpRequest(target, url);
    requests.set(url, r);
  }
  return r;
}

type Fetched = (error: string | undefined) => void;

type Phase = 'connect' | 'write' | 'read';

function timeoutText(phase: Phase, ms: number): string {
  return `${phase} timeout after ${formatMs(ms)}`;
}

/** One exchange on the TCP handle; `fetched` is called once, with a failure reason or undefined. */
function fetchOnHandle(
  b: HandleBindings,
  target: HttpTarget,
  request: string,
  reader: HttpResponseReader,
  signal: AbortSignal,
  fetched: Fetched,
): void {
  const state = b.stream.streamBaseState;
  const kRead = b.stream.kReadBytesOrError;
  let phase: Phase = 'connect';
  let finished = false;
  let handle: TcpHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let untrack: (() => void) | undefined;
  const finish = (error?: string) => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    untrack?.();
    handle?.close();
    fetched(error);
  };
  const onRead = () => {
    if (finished) return;
    const n = state[kRead];
    if (n > 0) {
      phase = 'read';
      timer?.refresh();
      const r = reader.push(sharedReadBuffer.subarray(0, n));
      if (r !== 'more') finish(r === 'done' ? undefined : r);
    } else if (n === UV_EOF) {
      const r = reader.end();
      finish(r === 'done' ? undefined : r);
    } else if (n < 0) finish(errnoReason(n));
  };
  const conn = openConnection(b, target, (status) => {
    if (finished) return;
    if (status !== 0) {
      finish(errnoReason(status));
      return;
    }
    const h = handle as TcpHandle;
    phase = 'write';
    timer?.refresh();
    const w = new b.stream.WriteWrap();
    w.handle = h;
    w.async = false;
    w.oncomplete = (st: number) => {
      if (finished) return;
      if (st < 0) finish(errnoReason(st));
      else if (phase === 'write') {
        phase = 'read';
        timer?.refresh();
      }
    };
    const err = h.writeLatin1String(w, request);
    if (err) {
      finish(errnoReason(err));
      return;
    }
    if (state[b.stream.kLastWriteWasAsync] === 0) phase = 'read';
  });
  if (conn.error !== undefined) {
    finished = true;
    fetched(conn.error);
    return;
  }
  handle = conn.handle;
  // Reading starts with the connect, so libuv registers the socket for both directions in its
  // first epoll_ctl: starting it after the connect completes costs a failed ADD and a MOD.
  handle.onread = onRead;
  handle.useUserBuffer(sharedReadBuffer);
  const rerr = handle.readStart();
  if (rerr) {
    finish(errnoReason(rerr));
    return;
  }
  timer = setTimeout(() => finish(timeoutText(phase, target.connectTimeoutMs)), target.connectTimeoutMs);
  untrack = trackAbort(signal, () => finish('aborted'));
}

/** One exchange on a net.Socket or TLS socket (SSL_GET, or HTTP_GET without the handle bindings). */
function fetchOnSocket(
  target: HttpTarget,
  url: HttpUrlTarget,
  request: string,
  reader: HttpResponseReader,
  signal: AbortSignal,
  fetched: Fetched,
): void {
  const vhost = url.virtualhost ?? target.virtualhost;
  const common = {
    host: target.host,
    port: target.port,
    localAddress: target.bindTo,
    localPort: target.bindPort,
    autoSelectFamily: false,
  };
  const secure = target.type === 'SSL_GET';
  const socket: Socket = secure
    ? tlsConnect({
        ...common,
        rejectUnauthorized: false,
        servername: target.enableSni && vhost ? vhost : undefined,
      })
    : netConnect(common);
  let phase: Phase = 'connect';
  let finished = false;
  const finish = (error?: string) => {
    if (finished) return;
    finished = true;
    untrack();
    socket.destroy();
    fetched(error);
  };
  const untrack = trackAbort(signal, () => finish('aborted'));
  socket.setTimeout(target.connectTimeoutMs, () => finish(timeoutText(phase, target.connectTimeoutMs)));
  socket.once('error', (err) => finish(describeError(err)));
  socket.once(secure ? 'secureConnect' : 'connect', () => {
    phase = 'write';
    socket.write(request, 'latin1', () => {
      if (phase === 'write') phase = 'read';
    });
  });
  socket.on('data', (chunk: Buffer) => {
    if (finished) return;
    phase = 'read';
    const r = reader.push(chunk);
    if (r !== 'more') finish(r === 'done' ? undefined : r);
  });
  socket.once('end', () => {
    const r = reader.end();
    finish(r === 'done' ? undefined : r);
  });
}

function fetchUrl(
  target: HttpTarget,
  url: HttpUrlTarget,
  needs: ResponseNeeds,
  signal: AbortSignal,
  fetched: (error: string | undefined, reader: HttpResponseReader) => void,
): void {
  const reader = new HttpResponseReader(needs);
  if (signal.aborted) {
    fetched('aborted', reader);
    return;
  }
  const request = requestFor(target, url);
  const cb: Fetched = (error) => fetched(error, reader);
  if (handles && target.type === 'HTTP_GET') fetchOnHandle(handles, target, request, reader, signal, cb);
  else fetchOnSocket(target, url, request, reader, signal, cb);
}

/** The verdict for one url, in keepalived's order: status, digest, regex. */
function verdict(url: HttpUrlTarget, error: string | undefined, reader: HttpResponseReader): CheckResult {
  if (error !== undefined)
    return error === 'aborted' ? aborted() : { ok: false, reason: `${url.path}: ${error}` };
  const status = reader.status;
  if (!statusAccepted(status, url.statusCodes)) {
    return {
      ok: false,
      reason: status ? `HTTP status ${status} for ${url.path}` : `no HTTP status for ${url.path}`,
    };
  }
  if (url.digest) {
    const got = reader.digestHex();
    if (url.digest.toLowerCase() !== got)
      return { ok: false, reason: `digest mismatch for ${url.path}: got ${got}` };
  }
  if (url.regex) {
    const matched = reader.regexMatched();
    if (matched === url.regex.noMatch) {
      return {
        ok: false,
        reason: matched
          ? `body matches regex (regex_no_match) for ${url.path}`
          : `body does not match regex for ${url.path}`,
      };
    }
    return { ok: true, reason: matched ? `regex match for ${url.path}` : `no regex match for ${url.path}` };
  }
  return {
    ok: true,
    reason: url.digest ? `digest ok for ${url.path}` : `HTTP status ${status} for ${url.path}`,
  };
}

/** Start one attempt at one url of an HTTP_GET/SSL_GET target; `done` is called exactly once. */
export function startHttpUrl(target: HttpTarget, urlIndex: number, signal: AbortSignal, done: Done): void {
  const url = target.urls[urlIndex];
  if (!url) {
    done({ ok: false, reason: `no url #${urlIndex}` });
    return;
  }
  fetchUrl(target, url, { digest: url.digest !== undefined, regex: url.regex }, signal, (error, reader) =>
    done(verdict(url, error, reader)),
  );
}

/** Check one url of an HTTP_GET/SSL_GET target. */
export function checkHttpUrl(
  target: HttpTarget,
  urlIndex: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  return new Promise((resolve) => startHttpUrl(target, urlIndex, signal, resolve));
}

/** Check every url in turn (a one-shot check outside the scheduler). */
export async function checkHttp(target: HttpTarget, signal: AbortSignal): Promise<CheckResult> {
  let last: CheckResult = { ok: false, reason: 'no urls' };
  for (let i = 0; i < target.urls.length; i++) {
    last = await checkHttpUrl(target, i, signal);
    if (!last.ok) return last;
  }
  return last;
}

export interface HttpFetchResult {
  /** Set when the exchange failed before a complete response. */
  error?: string;
  status: number;
  /** MD5 hex of the body as keepalived computes it. */
  digest: string;
  header: string;
  bodyBytes: number;
  contentLength?: number;
}

/** Fetch one url and hash its whole body (genhash); never rejects. */
export function httpFetch(
  target: HttpTarget,
  url: HttpUrlTarget,
  signal: AbortSignal,
): Promise<HttpFetchResult> {
  return new Promise((resolve) =>
    fetchUrl(target, url, { digest: true }, signal, (error, r) =>
      resolve({
        error,
        status: r.status,
        digest: r.digestHex(),
        header: r.header,
        bodyBytes: r.bodyBytes,
        contentLength: r.contentLength,
      }),
    ),
  );
}
