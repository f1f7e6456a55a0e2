/**
 * The HTTP response side fed byte by byte or in odd splits: status,
 * Content-Length, the digest over the raw body, the bounded regex window
 * (offsets from the first body byte), and when the response counts as
 * complete for what the url needs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  HttpResponseReader,
  MAX_REGEX_WINDOW,
  type ResponseNeeds,
} from '../../src/check/checkers/http-response.js';
import { translatePcre } from '../../src/check/pcre.js';
import type { HttpRegexTarget } from '../../src/check/types.js';
import type { Pcre2Option } from '../../src/config/model.js';

function regex(
  pattern: string,
  over: Partial<HttpRegexTarget> = {},
  options: Pcre2Option[] = [],
): HttpRegexTarget {
  const t = translatePcre(pattern, options);
  return {
    source: t.source,
    flags: t.flags,
    noMatch: false,
    minOffset: 0,
    firstLine: t.firstLine,
    utf8: t.utf8,
    ...over,
  };
}

/** Feed `text` in pieces of the given sizes (the rest in one), then EOF unless done earlier. */
function feed(
  needs: ResponseNeeds,
  text: string | Buffer,
  sizes: number[] = [],
): { r: HttpResponseReader; end: string } {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const r = new HttpResponseReader(needs);
  let at = 0;
  for (const n of [...sizes, bytes.length]) {
    if (at >= bytes.length) break;
    // A scratch buffer reused for every read, as the handle's shared buffer is.
    const scratch = Buffer.alloc(n);
    const len = bytes.copy(scratch, 0, at, at + n);
    at += len;
    const res = r.push(scratch.subarray(0, len));
    scratch.fill(0x2a);
    if (res !== 'more') return { r, end: res };
  }
  return { r, end: r.end() };
}

const OK = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;

describe('HttpResponseReader', () => {
  it('reads status and Content-Length; completes at Content-Length; header split anywhere', () => {
    for (const split of [[1], [5, 1, 1], [16], [30, 2], [200]]) {
      const { r, end } = feed({ digest: true }, `${OK('hello')}trailing`, split);
      assert.equal(end, 'done');
      assert.equal(r.status, 200);
      assert.equal(r.contentLength, 5);
      assert.equal(r.bodyBytes, 5);
      assert.equal(r.digestHex(), createHash('md5').update('hello').digest('hex'), `split ${split}`);
    }
  });

  it('without a digest or regex the response is complete once the header is', () => {
    const r = new HttpResponseReader({ digest: false });
    assert.equal(r.push(Buffer.from('HTTP/1.0 503 Busy\r\nX: y\r\n\r\n')), 'done');
    assert.equal(r.status, 503);
  });

  it('hashes the raw body to EOF without Content-Length (chunked bodies are not de-chunked)', () => {
    const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    const { r, end } = feed({ digest: true }, raw, [40]);
    assert.equal(end, 'done');
    assert.equal(r.digestHex(), createHash('md5').update('5\r\nhello\r\n0\r\n\r\n').digest('hex'));
  });

  it('reports responses without data, with a cut header or an oversized header', () => {
    assert.equal(new HttpResponseReader({ digest: false }).end(), 'no data received');
    const cut = new HttpResponseReader({ digest: false });
    assert.equal(cut.push(Buffer.from('HTTP/1.1 200 OK\r\nServer')), 'more');
    assert.equal(cut.end(), 'incomplete response header');
    const big = new HttpResponseReader({ digest: false });
    let res = 'more';
    for (let i = 0; i < 100 && res === 'more'; i++) res = big.push(Buffer.alloc(1024, 'a'));
    assert.equal(res, 'response header too large');
  });

  it('matches the regex on the body only, with offsets counted from its first byte', () => {
    const body = 'abc\nstatus: ready\n';
    const m = (re: HttpRegexTarget, split: number[] = []) => {
      const { r, end } = feed({ digest: false, regex: re }, OK(body), split);
      assert.equal(end, 'done');
      return r.regexMatched();
    };
    assert.equal(m(regex('ready')), true);
    assert.equal(m(regex('ready'), [30, 3, 3, 3]), true);
    assert.equal(m(regex('HTTP/1\\.1 200')), false, 'the header is not searched');
    assert.equal(m(regex('^status', {}, ['multiline'])), true);
    assert.equal(m(regex('^abc')), true);
    assert.equal(m(regex('^status')), false);
    // "status" starts at body offset 4.
    assert.equal(m(regex('status', { minOffset: 4 })), true);
    assert.equal(m(regex('status', { minOffset: 5 })), false);
    assert.equal(m(regex('status', { maxOffset: 4 })), true);
    assert.equal(m(regex('status', { maxOffset: 3 })), false);
    // A lookbehind sees bytes before regex_min_offset.
    assert.equal(m(regex('(?<=\\n)status', { minOffset: 4 })), true);
    // firstline: the match must start on the first line after the start offset.
    assert.equal(m(regex('ready', {}, ['firstline'])), false);
    assert.equal(m(regex('abc', {}, ['firstline'])), true);
    assert.equal(m(regex('ready', { minOffset: 4 }, ['firstline'])), true);
  });

  it('decodes the body as UTF-8 only with utf, and keeps byte offsets either way', () => {
    const body = Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), Buffer.from('é-ok', 'utf8')]);
    const m = (re: HttpRegexTarget) => {
      const { r } = feed({ digest: false, regex: re }, body);
      return r.regexMatched();
    };
    assert.equal(m(regex('^é-ok$', {}, ['utf'])), true);
    assert.equal(m(regex('^é-ok$')), true, 'without utf the pattern is UTF-8 bytes too');
    assert.equal(m(regex('^.-ok$', {}, ['utf'])), true);
    assert.equal(m(regex('^..-ok$')), true, 'two bytes without utf');
    // "ok" starts at byte 3 (é is two bytes) though at index 2 of the decoded text.
    assert.equal(m(regex('ok', { minOffset: 3, maxOffset: 3 }, ['utf'])), true);
    assert.equal(m(regex('ok', { maxOffset: 2 }, ['utf'])), false);
  });

  it('reads only the regex window when there is no digest', () => {
    const body = 'x'.repeat(MAX_REGEX_WINDOW + 10);
    const r = new HttpResponseReader({ digest: false, regex: regex('y') });
    assert.equal(r.push(Buffer.from(`HTTP/1.0 200 OK\r\n\r\n${body.slice(0, 100)}`)), 'more');
    assert.equal(r.push(Buffer.from(body.slice(100))), 'done');
    assert.equal(r.regexMatched(), false);
    // With a digest the whole body is read.
    const d = new HttpResponseReader({ digest: true, regex: regex('y') });
    assert.equal(d.push(Buffer.from(`HTTP/1.0 200 OK\r\n\r\n${body}`)), 'more');
    assert.equal(d.end(), 'done');
  });

  it('property: the digest and the regex verdict do not depend on how the response is split', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }),
        (body, split) => {
          const text = OK(body);
          const whole = feed({ digest: true, regex: regex('a.b') }, text);
          const parts = feed({ digest: true, regex: regex('a.b') }, text, split);
          assert.equal(parts.end, 'done');
          assert.equal(parts.r.digestHex(), whole.r.digestHex());
          assert.equal(
            parts.r.regexMatched(),
            /a[^\n]b/.test(Buffer.from(body, 'latin1').toString('latin1')),
          );
        },
      ),
    );
  });
});
