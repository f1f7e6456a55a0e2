/**
 * The response side of HTTP_GET / SSL_GET, fed the bytes as they arrive
 * (pure: no sockets). keepalived reads the status line and headers, then the
 * body up to Content-Length or the end of the stream, hashing it for the
 * digest and running the regex over it. halo reads only as much of the body
 * as the url needs:
 *  - with a digest, all of it (MD5 over the bytes after the header, up to
 *    Content-Length when given, not de-chunked: what keepalived hashes);
 *  - with a regex, the window the match can start in: from regex_min_offset
 *    (plus a little before it, for lookbehinds) to regex_max_offset, or the
 *    first MAX_REGEX_WINDOW bytes after regex_min_offset when there is no
 *    max; the match may run on up to MAX_REGEX_WINDOW bytes past its start;
 *  - with neither, nothing: the response is complete once the header is.
 * Then the attempt ends (the connection is closed, perhaps before the server
 * finished sending), instead of waiting for the server to close.
 *
 * Where halo deliberately differs from keepalived 2.2.7's regex: keepalived
 * hands PCRE2 each read buffer, and the first one starts at the status line,
 * so whether the header is searched too depends on how the response was
 * split into reads, and regex_min/max_offset count from there; halo searches
 * the body only and counts offsets from its first byte. keepalived also
 * matches with PCRE2_PARTIAL_HARD and never completes a partial match at the
 * end of the response, so a match that runs into the end of the body
 * (`OK.*`, `\d+$`) fails there; halo matches the whole window it read.
 */
import { createHash, type Hash } from 'node:crypto';
import type { HttpRegexTarget } from '../types.js';

/** Bound on the response header (keepalived's whole buffer is 4 KiB; be generous). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Body bytes kept for a regex beyond where a match may start. */
export const MAX_REGEX_WINDOW = 64 * 1024;
/** Bytes kept before regex_min_offset so a lookbehind there can see them. */
const LOOKBEHIND_BYTES = 256;

/** keepalived lib/html.c extract_status_code(): the 3 digits after the first space. */
export function parseStatusCode(header: string): number {
  const m = /^[^ \r]* (\d{3})(?: |\r|$)/.exec(header);
  return m ? Number(m[1]) : 0;
}

export function parseContentLength(header: string): number | undefined {
  const m = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)/i.exec(header);
  return m ? Number(m[1]) : undefined;
}

export interface ResponseNeeds {
  /** Hash the whole body (a url digest, or genhash). */
  digest: boolean;
  regex?: HttpRegexTarget;
}

/** 'more': keep reading; 'done': the response is complete for this url; otherwise a failure reason. */
export type FeedResult = 'more' | 'done' | string;

const CRLFCRLF = Buffer.from('\r\n\r\n');

const regexCache = new WeakMap<HttpRegexTarget, RegExp>();

/** The url's RegExp, compiled once per plan target ('g': exec starts at lastIndex). */
function compiled(r: HttpRegexTarget): RegExp {
  let re = regexCache.get(r);
  if (!re) {
    re = new RegExp(r.source, `${r.flags}g`);
    regexCache.set(r, re);
  }
  return re;
}

export class HttpResponseReader {
  status = 0;
  header = '';
  contentLength: number | undefined;
  /** Body bytes received (up to Content-Length). */
  bodyBytes = 0;
  private headerParts: Buffer[] | null = [];
  private headerLength = 0;
  private readonly md5: Hash | undefined;
  /** Regex window [keepFrom, keepTo) in body offsets, and the bytes of it received so far. */
  private readonly keepFrom: number;
  private readonly keepTo: number;
  private readonly kept: Buffer[] = [];

  constructor(private readonly needs: ResponseNeeds) {
    this.md5 = needs.digest ? createHash('md5') : undefined;
    const r = needs.regex;
    if (r) {
      this.keepFrom = Math.max(0, r.minOffset - LOOKBEHIND_BYTES);
      this.keepTo = (r.maxOffset !== undefined ? r.maxOffset + 1 : r.minOffset) + MAX_REGEX_WINDOW;
    } else {
      this.keepFrom = 0;
      this.keepTo = 0;
    }
  }

  get headerComplete(): boolean {
    return this.headerParts === null;
  }

  /** Feed received bytes (the buffer may be reused after the call). */
  push(chunk: Buffer): FeedResult {
    if (this.headerParts !== null) return this.pushHeader(chunk);
    return this.takeBody(chunk);
  }

  /** The server closed the connection. */
  end(): FeedResult {
    if (this.headerParts !== null) {
      return this.headerLength === 0 ? 'no data received' : 'incomplete response header';
    }
    return 'done';
  }

  digestHex(): string {
    return this.md5 ? this.md5.digest('hex') : '';
  }

  /** Whether the regex matched the body window (call once the response is done). */
  regexMatched(): boolean {
    const r = this.needs.regex;
    if (!r) return false;
    const window = this.kept.length === 1 ? this.kept[0] : Buffer.concat(this.kept);
    const utf8 = r.utf8;
    const subject = window.toString(utf8 ? 'utf8' : 'latin1');
    // Offsets are body bytes; with utf8 the subject's indices are UTF-16 units, so convert.
    const toIndex = (bodyOffset: number): number => {
      const rel = Math.max(0, bodyOffset - this.keepFrom);
      return utf8 ? window.subarray(0, rel).toString('utf8').length : rel;
    };
    const re = compiled(r);
    re.lastIndex = Math.min(subject.length, toIndex(r.minOffset));
    const m = re.exec(subject);
    if (!m) return false;
    if (r.firstLine) {
      const nl = subject.indexOf('\n', toIndex(r.minOffset));
      if (nl >= 0 && m.index > nl) return false;
    }
    if (r.maxOffset !== undefined && m.index > toIndex(r.maxOffset)) return false;
    return true;
  }

  private pushHeader(chunk: Buffer): FeedResult {
    const parts = this.headerParts as Buffer[];
    let end: number;
    let buf: Buffer;
    if (parts.length === 0) {
      buf = chunk;
      end = chunk.indexOf(CRLFCRLF);
    } else {
      // The header spans reads: search the joined bytes (only the few bytes before this chunk can matter).
      buf = Buffer.concat([...parts, chunk]);
      end = buf.indexOf(CRLFCRLF, Math.max(0, this.headerLength - 3));
    }
    if (end < 0) {
      if (this.headerLength + chunk.length > MAX_HEADER_BYTES) return 'response header too large';
      // Copy: the caller's buffer is reused for the next read.
      parts.push(Buffer.from(chunk));
      this.headerLength += chunk.length;
      return 'more';
    }
    this.header = buf.toString('latin1', 0, end);
    this.headerParts = null;
    this.status = parseStatusCode(this.header);
    this.contentLength = parseContentLength(this.header);
    const rest = buf.subarray(end + 4);
    if (this.contentLength === 0) return 'done';
    if (rest.length > 0) return this.takeBody(rest);
    return this.satisfied() ? 'done' : 'more';
  }

  private takeBody(chunk: Buffer): FeedResult {
    let part = chunk;
    if (this.contentLength !== undefined && this.bodyBytes + part.length > this.contentLength) {
      part = part.subarray(0, Math.max(0, this.contentLength - this.bodyBytes));
    }
    const at = this.bodyBytes;
    this.md5?.update(part);
    if (this.needs.regex && at < this.keepTo && at + part.length > this.keepFrom) {
      const from = Math.max(0, this.keepFrom - at);
      const to = Math.min(part.length, this.keepTo - at);
      this.kept.push(Buffer.from(part.subarray(from, to)));
    }
    this.bodyBytes += part.length;
    if (this.contentLength !== undefined && this.bodyBytes >= this.contentLength) return 'done';
    return this.satisfied() ? 'done' : 'more';
  }

  /** Everything the url needs has arrived (only the digest needs the whole body). */
  private satisfied(): boolean {
    if (this.md5) return false;
    return !this.needs.regex || this.bodyBytes >= this.keepTo;
  }
}
