/**
 * Wire details of the checkers: keepalived's HTTP request bytes and response
 * parsing, the DNS query/response codec, SMTP status lines, UDP reply
 * matching, the ICMP echo encoding.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildHttpRequest,
  parseContentLength,
  parseStatusCode,
  statusAccepted,
} from '../../src/check/checkers/http.js';
import { buildEcho, internetChecksum } from '../../src/check/checkers/ping.js';
import { smtpStatus } from '../../src/check/checkers/smtp.js';
import { udpReplyMatches } from '../../src/check/checkers/udp.js';
import { buildQuery, encodeName, parseResponse } from '../../src/check/dns-codec.js';
import type { HttpTarget, UdpTarget } from '../../src/check/types.js';

const target = (over: Partial<HttpTarget> = {}): HttpTarget => ({
  type: 'HTTP_GET',
  host: '10.0.0.5',
  port: 8080,
  connectTimeoutMs: 1000,
  httpProtocol: '1.0',
  urls: [{ path: '/health', statusCodes: [{ from: 200, to: 299 }] }],
  ...over,
});

describe('HTTP_GET request and response (check_http.c, lib/html.c)', () => {
  it('builds keepalived request bytes for each http_protocol', () => {
    const url = { path: '/health', statusCodes: [] };
    assert.equal(
      buildHttpRequest(target(), url),
      'GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.5:8080\r\n\r\n',
    );
    assert.equal(
      buildHttpRequest(target({ httpProtocol: '1.1', virtualhost: 'www.example.com' }), url),
      'GET /health HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n',
    );
    assert.equal(
      buildHttpRequest(target({ httpProtocol: '1.0C', host: 'fd00::5' }), url),
      'GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [fd00::5]:8080\r\n\r\n',
    );
    // A url's own virtualhost wins over the checker's.
    assert.match(
      buildHttpRequest(target({ virtualhost: 'a.example' }), { ...url, virtualhost: 'b.example' }),
      /\r\nHost: b\.example\r\n/,
    );
  });

  it('extracts the status code like extract_status_code()', () => {
    assert.equal(parseStatusCode('HTTP/1.1 200 OK'), 200);
    assert.equal(parseStatusCode('HTTP/1.0 503 Service Unavailable\r\nX: y'), 503);
    assert.equal(parseStatusCode('HTTP/1.1 204\r\nX: y'), 204);
    assert.equal(parseStatusCode('HTTP/1.1 20 OK'), 0);
    assert.equal(parseStatusCode('garbage'), 0);
    assert.equal(parseStatusCode('HTTP/1.1 2000 OK'), 0);
  });

  it('reads Content-Length and checks status ranges', () => {
    assert.equal(parseContentLength('HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX: y'), 42);
    assert.equal(parseContentLength('HTTP/1.1 200 OK\r\ncontent-length:7'), 7);
    assert.equal(parseContentLength('HTTP/1.1 200 OK\r\nX-Content-Length: 7'), undefined);
    const ranges = [
      { from: 200, to: 299 },
      { from: 404, to: 404 },
    ];
    assert.ok(statusAccepted(404, ranges));
    assert.ok(statusAccepted(250, ranges));
    assert.ok(!statusAccepted(300, ranges));
    assert.ok(!statusAccepted(0, ranges));
  });
});

describe('DNS codec', () => {
  it('encodes names like dns_make_query (root for "" and ".")', () => {
    assert.deepEqual(encodeName(''), Buffer.from([0]));
    assert.deepEqual(encodeName('.'), Buffer.from([0]));
    assert.deepEqual(encodeName('a.bc.'), Buffer.from([1, 0x61, 2, 0x62, 0x63, 0]));
    assert.throws(() => encodeName('a..b'), /invalid DNS label/);
  });

  it('builds a query with RD set and one IN question', () => {
    const q = buildQuery(0xbeef, 'example.com', 'A');
    assert.equal(q.toString('hex'), `beef01000001000000000000${'076578616d706c6503636f6d00'}00010001`);
  });

  it('parses responses, including compressed names, and rejects malformed input', () => {
    const q = buildQuery(7, 'Example.COM', 'SOA');
    const resp = Buffer.from(q);
    resp.writeUInt16BE(0x8183, 2); // QR, RD, RA, NXDOMAIN
    assert.deepEqual(parseResponse(resp), {
      id: 7,
      qr: true,
      rcode: 3,
      questions: [{ name: 'example.com', type: 6, class: 1 }],
    });
    // A question whose name is a pointer to offset 12 of a second message layout.
    const ptr = Buffer.concat([
      resp.subarray(0, 4),
      Buffer.from([0, 2, 0, 0, 0, 0, 0, 0]),
      resp.subarray(12),
      Buffer.from([0xc0, 12, 0, 1, 0, 1]),
    ]);
    assert.deepEqual(parseResponse(ptr)?.questions[1], { name: 'example.com', type: 1, class: 1 });
    assert.equal(parseResponse(Buffer.alloc(5)), undefined);
    const loop = Buffer.concat([resp.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    assert.equal(parseResponse(loop), undefined);
  });

  it('property: parseResponse never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        parseResponse(Buffer.from(bytes));
      }),
    );
  });

  it('property: a query parses back to its own question', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        (labels, id) => {
          const name = labels.join('.');
          const r = parseResponse(buildQuery(id, name, 'AAAA'));
          assert.deepEqual(r, { id, qr: false, rcode: 0, questions: [{ name, type: 28, class: 1 }] });
        },
      ),
    );
  });
});

describe('SMTP, UDP and ICMP details', () => {
  it('reads SMTP status codes like smtp_get_status()', () => {
    assert.equal(smtpStatus('220 mail.example.com ESMTP\r'), 220);
    assert.equal(smtpStatus('250'), 250);
    assert.equal(smtpStatus('250-first line'), -1);
    assert.equal(smtpStatus('25 short'), -1);
  });

  it('matches UDP replies over min(len) bytes with a mask, within the length bounds (with a pattern only)', () => {
    const t: UdpTarget = {
      type: 'UDP_CHECK',
      host: '10.0.0.1',
      port: 53,
      connectTimeoutMs: 100,
      requireReply: true,
      replyPattern: Buffer.from([0x12, 0x34, 0x56]),
      replyMask: Buffer.from([0x00, 0x0f, 0x00]),
      minReplyLength: 2,
      maxReplyLength: 10,
    };
    assert.equal(udpReplyMatches(Buffer.from([0x12, 0x3f, 0x56, 0x99]), t), undefined);
    assert.equal(udpReplyMatches(Buffer.from([0x12, 0x34]), t), undefined);
    assert.equal(udpReplyMatches(Buffer.from([0x12, 0x44, 0x56]), t), 'reply data mismatch at byte 1');
    assert.match(udpReplyMatches(Buffer.from([0x12]), t) ?? '', /reply length 1 outside 2..10/);
    assert.match(udpReplyMatches(Buffer.alloc(11), t) ?? '', /outside/);
    // Without a pattern keepalived accepts any reply, whatever its length.
    assert.equal(
      udpReplyMatches(Buffer.alloc(300), { ...t, replyPattern: undefined, replyMask: undefined }),
      undefined,
    );
  });

  it('encodes ICMP echo requests with a valid checksum (v4) and leaves v6 to the kernel', () => {
    const e = buildEcho(4, 0x1234, 7);
    assert.equal(e[0], 8);
    assert.equal(e.readUInt16BE(4), 0x1234);
    assert.equal(e.readUInt16BE(6), 7);
    assert.equal(internetChecksum(e), 0);
    const e6 = buildEcho(6, 1, 2);
    assert.equal(e6[0], 128);
    assert.equal(e6.readUInt16BE(2), 0);
  });
});
