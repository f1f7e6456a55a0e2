/**
 * Fuzz lane for the control protocol (issue 12). Seeded, bounded by run counts and fast-check's time
 * limit (well under a minute in all; HALO_FUZZ_RUNS and HALO_FUZZ_SEED override).
 *
 *  1. parseRequestLine on any text (random bytes, JSON values of any depth, near-miss requests) never
 *     throws, and every reply line it leads to is one line of JSON whose id, if any, is the request's own
 *     short string / finite number / null.
 *  2. A live ControlServer fed random byte streams in random chunkings, then a half-close: the daemon side
 *     never throws, each request line before the first garbage line gets exactly one reply in order (the
 *     reply a model computes from the same lines), garbage gets one error reply and the end of the
 *     connection, and afterwards a plain status request still answers with no connection left over.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type ControlHandlers, ControlServer, controlRequest } from '../../src/daemon/control.js';
import {
  CONTROL_COMMANDS,
  errorReply,
  MAX_ID_LENGTH,
  okReply,
  parseRequestLine,
} from '../../src/daemon/control-protocol.js';
import { sampleStatus } from './daemon-sample.js';

const SEED = Number(process.env.HALO_FUZZ_SEED ?? 20_261_130);
const RUNS = Number(process.env.HALO_FUZZ_RUNS ?? 3000);
const MAX_LINE = 2048;

/** Pieces real requests and attacks are made of. */
/** The one-answer commands without arguments: the live-server model below answers them from `results`. */
const SHARED_COMMANDS = ['status', 'reload', 'stop', 'dump'] as const;

const PIECES = [
  '{',
  '}',
  '[',
  ']',
  '"',
  '\\',
  ':',
  ',',
  '\n',
  '\r\n',
  ' ',
  '"cmd"',
  '"id"',
  ...SHARED_COMMANDS.map((c) => `"${c}"`),
  '"bogus"',
  'null',
  'true',
  '1e999',
  '-0',
  '12345678901234567890',
  '"__proto__"',
  '{"cmd":"status"}',
  '{"cmd":"status","id":1}',
  '{"cmd":"dump","id":"x"}',
  '{"cmd":"reload","id":null}',
  '{"cmd":"status","id":{"a":1}}',
  '{"cmd":"status","id":[[[[[[[[[[1]]]]]]]]]]}',
  '\u0000',
  '\u2028',
  '\ud800',
  '\u00ff',
];

function textOf(maxPieces: number) {
  return fc
    .array(
      fc.oneof(
        fc.constantFrom(...PIECES),
        fc.string({ maxLength: 8 }),
        fc.string({ unit: 'binary', maxLength: 4 }),
        fc.nat({ max: 60 }).map((n) => '['.repeat(n)),
        fc.nat({ max: 60 }).map((n) => `"id":${'{"a":'.repeat(n)}`),
      ),
      { maxLength: maxPieces },
    )
    .map((a) => a.join(''));
}

function checkReplyLine(line: string, requestId: unknown): void {
  assert.ok(line.endsWith('\n'));
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  const r = JSON.parse(line) as { id?: unknown; ok: boolean };
  if ('id' in r) {
    assert.deepEqual(r.id, requestId);
    const ok =
      r.id === null ||
      (typeof r.id === 'number' && Number.isFinite(r.id)) ||
      (typeof r.id === 'string' && r.id.length <= MAX_ID_LENGTH);
    assert.ok(ok, `echoed id ${JSON.stringify(r.id)}`);
  }
}

describe('control protocol fuzz', () => {
  it('parseRequestLine never throws and only safe ids are echoed', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          textOf(40),
          fc.jsonValue({ maxDepth: 12 }).map((v) => JSON.stringify(v)),
          fc
            .record({
              cmd: fc.oneof(fc.constantFrom(...CONTROL_COMMANDS), fc.jsonValue({ maxDepth: 3 })),
              id: fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.string({ maxLength: 300 })),
            })
            .map((r) => JSON.stringify(r)),
        ),
        (line) => {
          const p = parseRequestLine(line);
          if (p.kind === 'fatal') checkReplyLine(errorReply(p.error), undefined);
          else {
            const parsed = JSON.parse(line) as { id?: unknown };
            if (p.id !== undefined) assert.deepEqual(p.id, parsed.id);
            const reply =
              p.kind === 'request' || p.kind === 'events'
                ? okReply({ x: 1 }, p.id)
                : errorReply(p.error, p.id);
            checkReplyLine(reply, p.id);
          }
        },
      ),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 20_000 },
    );
  });

  it('a reply built from a result serialised once is byte for byte JSON.stringify of the reply', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6 }),
        fc.oneof(
          fc.constant(undefined),
          fc.constant(null),
          fc.string({ maxLength: 20 }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
        ),
        (result, id) => {
          const expected = `${JSON.stringify({ ...(id === undefined ? {} : { id }), ok: true, result })}\n`;
          assert.equal(okReply(result, id), expected);
        },
      ),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 10_000 },
    );
  });

  describe('a live server fed random streams', () => {
    let dir: string;
    let path: string;
    let server: ControlServer;
    const errors: string[] = [];
    const handlers: ControlHandlers = {
      status: () => sampleStatus(),
      reload: () => ({ applied: false, configFile: 'c', errors: ['nope'] }),
      stop: () => undefined,
      dump: () => ({ files: ['a'] }),
      reloadPlan: () => ({ configFile: 'c', valid: false, errors: ['nope'] }),
      failover: () => ({ instances: [], unknown: [], maintenance: false }),
      maintenance: () => ({ instances: [], unknown: [], maintenance: false }),
    };
    const results: Record<string, unknown> = {
      status: sampleStatus(),
      reload: { applied: false, configFile: 'c', errors: ['nope'] },
      stop: { stopping: true },
      dump: { files: ['a'] },
    };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'halo-ctl-fuzz-'));
      path = join(dir, 'halo.sock');
      server = new ControlServer({
        path,
        handlers,
        maxLineBytes: MAX_LINE,
        maxPendingPerConnection: 3,
        onError: (ctx, e) => errors.push(`${ctx}: ${String(e)}`),
      });
      await server.listen();
    });
    after(async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    });

    /** The replies the protocol promises for this byte stream followed by a half-close. */
    function expectedReplies(bytes: Buffer): string[] {
      const out: string[] = [];
      let rest = bytes;
      for (;;) {
        const nl = rest.indexOf(10);
        const line = nl === -1 ? rest : rest.subarray(0, nl);
        if (line.length > MAX_LINE) {
          out.push(errorReply(`bad request: line longer than ${MAX_LINE} bytes`));
          return out;
        }
        const text = line.toString('utf8');
        if (text.trim() !== '') {
          const p = parseRequestLine(text);
          if (p.kind === 'fatal') {
            out.push(errorReply(p.error));
            return out;
          }
          // The streams are built from the four argument-free one-answer commands (SHARED_COMMANDS).
          if (p.kind === 'events') throw new Error('the fuzz streams never hold an events request');
          out.push(p.kind === 'rejected' ? errorReply(p.error, p.id) : okReply(results[p.cmd], p.id));
        }
        if (nl === -1) return out;
        rest = rest.subarray(nl + 1);
      }
    }

    function exchange(chunks: Buffer[]): Promise<string> {
      return new Promise((resolve) => {
        const s = connect(path);
        let text = '';
        s.on('data', (d) => {
          text += d.toString();
        });
        s.on('error', () => undefined); // cut off mid-write after garbage: expected
        s.on('close', () => resolve(text));
        s.on('connect', () => {
          for (const c of chunks) s.write(c);
          s.end();
        });
      });
    }

    it('every request line gets its reply, in order; garbage ends the connection; nothing leaks', async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            textOf(60).map((t) => Buffer.from(t)),
            fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
            fc.nat({ max: 5000 }).map((n) => Buffer.from(`{"cmd":"status","id":"${'z'.repeat(n)}"}\n`)),
          ),
          fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
          async (bytes, cuts) => {
            const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
            const chunks: Buffer[] = [];
            let at = 0;
            for (const p of points) {
              chunks.push(bytes.subarray(at, p));
              at = p;
            }
            chunks.push(bytes.subarray(at));
            const got = await exchange(chunks.filter((c) => c.length > 0));
            assert.equal(got, expectedReplies(bytes).join(''));
          },
        ),
        { seed: SEED, numRuns: Math.min(RUNS, 1500), interruptAfterTimeLimit: 30_000 },
      );
      assert.equal((await controlRequest(path, 'status')).daemon.pid, 1234);
      while (server.currentStats().connections > 0) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(errors, []);
      // Bounded memory: what the runs left behind is small (connections hold at most a line and a reply).
      const grown = process.memoryUsage().heapUsed - heapBefore;
      assert.ok(grown < 64 * 1024 * 1024, `heap grew ${grown} bytes`);
    });
  });
});
