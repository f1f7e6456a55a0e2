/**
 * HTTP_GET / SSL_GET (keepalived check_http.c, check_ssl.c).
 *
 * One attempt checks one url (the scheduler walks the urls like keepalived).
 * The request is byte-for-byte keepalived's (http_request_thread):
 *   GET <path> HTTP/1.<0|1>\r\n
 *   User-Agent: KeepAliveClient\r\n
 *   [Connection: close\r\n]            (http_protocol 1.0C and 1.1)
 *   Host: <virtualhost | address:port>\r\n\r\n
 * The status code must be in the url's ranges (default 200-299), and with a
 * digest the MD5 of the body (the bytes after the header, up to
 * Content-Length when given, not de-chunked — as keepalived hashes them)
 * must match. TLS is not verified (keepalived does not verify either); SNI is
 * sent only with enable_sni, carrying the virtualhost.
 *
 * Timeouts: connect_timeout applies to each I/O step like keepalived
 * (connect, then the wait for each read), i.e. an idle timeout, not a bound
 * on the whole transfer.
 *
 * Two deliberate leniencies, both only turning keepalived timeouts/failures
 * into the obviously intended result: the response also completes once
 * Content-Length body bytes arrived (keepalived waits for the server to
 * close), and "Content-Length" is matched case-insensitively; a status line
 * without a reason phrase ("HTTP/1.1 200\r\n") is accepted.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { CheckResult, HttpTarget, HttpUrlTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

/** Bound on the response header we keep (keepalived's buffer is 4 KiB; be generous). */
const MAX_HEADER_BYTES = 64 * 1024;

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

/** keepalived lib/html.c extract_status_code(): the 3 digits after the first space. */
export function parseStatusCode(header: string): number {
  const m = /^[^ \r]* (\d{3})(?: |\r|$)/.exec(header);
  return m ? Number(m[1]) : 0;
}

export function parseContentLength(header: string): number | undefined {
  const m = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)/i.exec(header);
  return m ? Number(m[1]) : undefined;
}

export function statusAccepted(code: number, ranges: Array<{ from: number; to: number }>): boolean {
  return ranges.some((r) => code >= r.from && code <= r.to);
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

/** Fetch one url and hash its body; never rejects. */
export function httpFetch(
  target: HttpTarget,
  url: HttpUrlTarget,
  signal: AbortSignal,
): Promise<HttpFetchResult> {
  return new Promise((resolve) => {
    const empty = { status: 0, digest: '', header: '', bodyBytes: 0 };
    if (signal.aborted) {
      resolve({ ...empty, error: 'aborted' });
      return;
    }
    const timeoutText = formatMs(target.connectTimeoutMs);
    const vhost = url.virtualhost ?? target.virtualhost;
    const common = {
      host: target.host,
      port: target.port,
      localAddress: target.bindTo,
      localPort: target.bindPort,
      autoSelectFamily: false,
    };
    const socket: Socket =
      target.type === 'SSL_GET'
        ? tlsConnect({
            ...common,
            rejectUnauthorized: false,
            servername: target.enableSni && vhost ? vhost : undefined,
          })
        : netConnect(common);
    const secure = target.type === 'SSL_GET';
    let phase: 'connect' | 'read' = 'connect';
    let done = false;
    const md5 = createHash('md5');
    let headerBuf: Buffer | null = Buffer.alloc(0);
    let header = '';
    let status = 0;
    let contentLength: number | undefined;
    let bodyBytes = 0;

    const finish = (error?: string) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      const digest = md5.digest('hex');
      resolve({ error, status, digest, header, bodyBytes, contentLength });
    };
    const onAbort = () => finish('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(target.connectTimeoutMs, () =>
      finish(
        phase === 'connect' ? `connect timeout after ${timeoutText}` : `read timeout after ${timeoutText}`,
      ),
    );
    socket.once('error', (err) => finish(describeError(err)));
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      phase = 'read';
      socket.write(buildHttpRequest(target, url));
    });
    const takeBody = (chunk: Buffer) => {
      let part = chunk;
      if (contentLength !== undefined && bodyBytes + part.length > contentLength) {
        part = part.subarray(0, Math.max(0, contentLength - bodyBytes));
      }
      md5.update(part);
      bodyBytes += part.length;
      if (contentLength !== undefined && bodyBytes >= contentLength) finish();
    };
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      if (headerBuf === null) {
        takeBody(chunk);
        return;
      }
      headerBuf = Buffer.concat([headerBuf, chunk]);
      const end = headerBuf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headerBuf.length > MAX_HEADER_BYTES) finish('response header too large');
        return;
      }
      header = headerBuf.subarray(0, end).toString('latin1');
      status = parseStatusCode(header);
      contentLength = parseContentLength(header);
      const rest = headerBuf.subarray(end + 4);
      headerBuf = null;
      if (contentLength === 0) finish();
      else if (rest.length > 0) takeBody(rest);
    });
    socket.once('end', () => {
      if (headerBuf !== null)
        finish(headerBuf.length === 0 ? 'no data received' : 'incomplete response header');
      else finish();
    });
  });
}

/** Check one url of an HTTP_GET/SSL_GET target. */
export async function checkHttpUrl(
  target: HttpTarget,
  urlIndex: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const url = target.urls[urlIndex];
  if (!url) return { ok: false, reason: `no url #${urlIndex}` };
  const r = await httpFetch(target, url, signal);
  if (r.error) return r.error === 'aborted' ? aborted() : { ok: false, reason: `${url.path}: ${r.error}` };
  if (!statusAccepted(r.status, url.statusCodes)) {
    return {
      ok: false,
      reason: r.status ? `HTTP status ${r.status} for ${url.path}` : `no HTTP status for ${url.path}`,
    };
  }
  if (url.digest && url.digest.toLowerCase() !== r.digest) {
    return { ok: false, reason: `digest mismatch for ${url.path}: got ${r.digest}` };
  }
  return {
    ok: true,
    reason: url.digest ? `digest ok for ${url.path}` : `HTTP status ${r.status} for ${url.path}`,
  };
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
