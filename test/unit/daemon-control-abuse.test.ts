/**
 * The control socket against the clients issue 12 found (and the ones a broken script or a local root
 * attacker can be): each case is a regression test. After every case `halo status` (controlRequest) must
 * still answer, and the daemon side must not have thrown.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Coalescer, type ControlHandlers, ControlServer, controlRequest } from '../../src/daemon/control.js';
import { MAX_ID_LENGTH, nestingExceeds, parseRequestLine } from '../../src/daemon/control-protocol.js';
import { sampleStatus } from './daemon-sample.js';

interface Reply {
  id?: unknown;
  ok: boolean;
  error?: string;
  result?: unknown;
}

/** A raw client that records reply lines and whether/how the server closed. */
class RawClient {
  readonly socket: Socket;
  readonly lines: Reply[] = [];
  private buf = '';
  readonly closed: Promise<void>;
  isClosed = false;
  constructor(path: string, opts: { read?: boolean } = {}) {
    this.socket = connect(path);
    this.socket.on('error', () => undefined); // EPIPE/ECONNRESET when the server cuts us off
    if (opts.read !== false) {
      this.socket.on('data', (d) => {
        this.buf += d.toString();
        for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
          this.lines.push(JSON.parse(this.buf.slice(0, nl)) as Reply);
          this.buf = this.buf.slice(nl + 1);
        }
      });
    }
    this.closed = new Promise((r) =>
      this.socket.once('close', () => {
        this.isClosed = true;
        r();
      }),
    );
  }
  connected(): Promise<void> {
    return new Promise((r) => {
      if (!this.socket.connecting) r();
      else this.socket.once('connect', () => r());
    });
  }
  async waitLines(n: number): Promise<Reply[]> {
    while (this.lines.length < n && !this.isClosed) await new Promise((r) => setTimeout(r, 5));
    return this.lines;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 10));
async function until(fn: () => boolean): Promise<void> {
  while (!fn()) await tick();
}

describe('control socket under abuse (issue 12 regressions)', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  const errors: string[] = [];
  let release: (() => void) | undefined;
  let statusGate: Promise<void> | undefined;
  let reloads = 0;

  const handlers: ControlHandlers = {
    status: async () => {
      if (statusGate) await statusGate;
      return sampleStatus();
    },
    reload: async () => {
      reloads++;
      await tick();
      return { applied: true, configFile: `run ${reloads}`, errors: [] };
    },
    stop: () => undefined,
    dump: () => ({ files: [] }),
    reloadPlan: () => ({ configFile: 'c', valid: true, errors: [] }),
    failover: () => ({ instances: [], unknown: [], maintenance: false }),
    maintenance: () => ({ instances: [], unknown: [], maintenance: false }),
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-ctl-abuse-'));
    path = join(dir, 'halo.sock');
    server = new ControlServer({
      path,
      handlers,
      maxConnections: 16,
      requestTimeoutMs: 400,
      writeTimeoutMs: 400,
      handlerTimeoutMs: { status: 2000 },
      onError: (ctx, e) => errors.push(`${ctx}: ${(e as Error).message}`),
    });
    await server.listen();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const statusStillAnswers = async () =>
    assert.equal((await controlRequest(path, 'status', { timeoutMs: 3000 })).daemon.pid, 1234);

  it('an id nested 30,000 deep gets an error reply, not a stack overflow', async () => {
    const deep = `{"cmd":"status","id":${'['.repeat(30_000)}${']'.repeat(30_000)}}\n`;
    const c = new RawClient(path);
    c.socket.write(deep);
    await c.closed;
    assert.equal(c.lines.length, 1);
    assert.equal(c.lines[0].ok, false);
    assert.match(c.lines[0].error ?? '', /nested deeper than 8 levels/);
    assert.equal('id' in c.lines[0], false, 'a rejected id is never echoed');
    // Also deep inside a field halo ignores, and an object id (only a short string/number/null echoes).
    assert.equal(
      parseRequestLine(`{"cmd":"status","x":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`).kind,
      'fatal',
    );
    assert.deepEqual(parseRequestLine('{"cmd":"status","id":{"a":[1]}}'), {
      kind: 'rejected',
      error: `bad request: id must be a string of at most ${MAX_ID_LENGTH} characters, a number or null`,
    });
    assert.equal(
      parseRequestLine(`{"cmd":"status","id":"${'x'.repeat(MAX_ID_LENGTH + 1)}"}`).kind,
      'rejected',
    );
    assert.equal(parseRequestLine('{"cmd":"status","id":1e999}').kind, 'rejected');
    assert.deepEqual(parseRequestLine('{"cmd":"status","id":"a-1"}'), {
      kind: 'request',
      cmd: 'status',
      id: 'a-1',
    });
    // Brackets inside strings do not count.
    assert.equal(nestingExceeds(`{"id":"${'['.repeat(100)}\\"["}`, 2), false);
    await statusStillAnswers();
  });

  it('16 idle connections do not lock out halo status: the longest idle one makes room', async () => {
    const idle: RawClient[] = [];
    for (let i = 0; i < 40; i++) {
      const c = new RawClient(path);
      await c.connected();
      idle.push(c);
    }
    await until(() => server.currentStats().connections <= 16);
    await statusStillAnswers();
    await statusStillAnswers();
    const evicted = idle.filter((c) => c.isClosed);
    assert.ok(evicted.length >= 24, `${evicted.length} evicted`);
    // The evicted ones were told why, and they were the oldest.
    for (const c of evicted) assert.match(c.lines[0]?.error ?? '', /too many control connections/);
    assert.equal(idle[0].isClosed, true);
    for (const c of idle) c.socket.destroy();
  });

  it('a silent client and a slowloris are cut off at the request deadline, trickling does not extend it', async () => {
    const silent = new RawClient(path);
    const slow = new RawClient(path);
    await slow.connected();
    const req = '{"cmd":"status"}\n';
    let i = 0;
    const drip = setInterval(() => {
      if (!slow.isClosed && i < req.length) slow.socket.write(req[i++]);
    }, 100); // 1.7 s for the whole line, deadline 0.4 s
    await Promise.all([silent.closed, slow.closed]);
    clearInterval(drip);
    assert.match(silent.lines[0]?.error ?? '', /no request within 0\.4s/);
    assert.match(slow.lines[0]?.error ?? '', /request not completed within 0\.4s/);
    assert.ok(i < req.length, 'the slow line was never completed');
    await statusStillAnswers();
  });

  it('a client that sends its request and closes its write side still gets the reply (with or without newline)', async () => {
    for (const payload of ['{"cmd":"status","id":7}\n', '{"cmd":"status","id":7}']) {
      const c = new RawClient(path);
      c.socket.end(payload);
      await c.closed;
      assert.equal(c.lines.length, 1, payload);
      assert.equal(c.lines[0].ok, true);
      assert.equal(c.lines[0].id, 7);
    }
  });

  it('a huge line is refused without being buffered, then the connection is closed', async () => {
    const c = new RawClient(path);
    await c.connected();
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let n = 0; n < 20 && !c.isClosed; n++) {
      c.socket.write(chunk);
      await tick();
    }
    await c.closed;
    assert.match(c.lines[0]?.error ?? '', /line longer than 65536 bytes/);
    await statusStillAnswers();
  });

  it('a flood of pipelined requests is answered in order, one reply per request', async () => {
    const c = new RawClient(path);
    const n = 2000;
    const payload = Array.from({ length: n }, (_, i) => `{"cmd":"status","id":${i}}\n`).join('');
    c.socket.end(payload);
    await c.closed;
    assert.equal(c.lines.length, n);
    assert.deepEqual(
      c.lines.map((l) => l.id),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok(c.lines.every((l) => l.ok));
  });

  it('concurrent status requests share one handler run; reloads during a reload share one next run', async () => {
    statusGate = new Promise<void>((r) => {
      release = r;
    });
    const before = server.currentStats();
    const clients = Array.from({ length: 10 }, () => new RawClient(path));
    for (const c of clients) c.socket.write('{"cmd":"status"}\n');
    await until(() => server.currentStats().requests - before.requests === 10);
    release?.();
    statusGate = undefined;
    for (const c of clients) assert.equal((await c.waitLines(1))[0].ok, true);
    assert.equal(server.currentStats().handlerRuns - before.handlerRuns, 1);
    for (const c of clients) c.socket.destroy();

    reloads = 0;
    const r = await Promise.all(Array.from({ length: 5 }, () => controlRequest(path, 'reload')));
    assert.equal(reloads, 2, 'the first reload, then one run for the four that arrived during it');
    assert.deepEqual(
      r.map((x) => x.configFile),
      ['run 1', 'run 2', 'run 2', 'run 2', 'run 2'],
    );
  });

  it('a client that never reads its replies is cut off; nothing piles up in the daemon', async () => {
    const before = server.currentStats().timedOut;
    const c = new RawClient(path, { read: false });
    await c.connected();
    const payload = Buffer.from('{"cmd":"status"}\n'.repeat(4096));
    // Keep writing until the server stops reading from us (backpressure) or cuts us off.
    for (let i = 0; i < 400 && !c.isClosed; i++) {
      if (!c.socket.write(payload)) await Promise.race([c.closed, tick()]);
    }
    await c.closed;
    assert.ok(server.currentStats().timedOut > before, 'cut off for not reading');
    await statusStillAnswers();
  });

  it('a handler that hangs gets an error reply at its deadline', async () => {
    statusGate = new Promise<void>(() => undefined); // never released
    const c = new RawClient(path);
    c.socket.write('{"cmd":"status","id":"slow"}\n');
    const [reply] = await c.waitLines(1);
    statusGate = undefined;
    assert.deepEqual(reply, {
      id: 'slow',
      ok: false,
      error: 'status failed: status did not finish within 2s',
    });
    c.socket.destroy();
  });

  it('bad commands and ids get an error reply and the connection goes on', async () => {
    const c = new RawClient(path);
    c.socket.end('{"cmd":"bogus","id":1}\n{"cmd":"status","id":[1]}\n{"cmd":"status","id":3}\n');
    await c.closed;
    assert.deepEqual(
      c.lines.map((l) => [l.id, l.ok]),
      [
        [1, false],
        [undefined, false],
        [3, true],
      ],
    );
  });

  it('all of it at once: halo status still answers and every connection is gone afterwards', async () => {
    errors.length = 0; // the hung handler above was reported, as it should be
    const abusers: RawClient[] = [];
    for (let i = 0; i < 30; i++) abusers.push(new RawClient(path)); // idle
    const deaf = new RawClient(path, { read: false });
    deaf.socket.write('{"cmd":"status"}\n'.repeat(20_000));
    const huge = new RawClient(path);
    huge.socket.write('y'.repeat(100_000));
    for (let i = 0; i < 5; i++) await statusStillAnswers();
    for (const c of [...abusers, deaf, huge]) c.socket.destroy();
    await until(() => server.currentStats().connections === 0);
    assert.deepEqual(errors, []);
  });

  it('Coalescer: shared runs, at most one per interval, one next run after a running one, abandon', async () => {
    let n = 0;
    const share = new Coalescer(async () => ++n, 'share', 50);
    assert.equal(await share.run(), 1);
    // Right after a run: callers wait for the next one (it starts after they asked) and share it.
    const [a, b] = [share.run(), share.run()];
    assert.equal(a, b);
    assert.deepEqual(await Promise.all([a, b]), [2, 2]);
    assert.equal(share.runs, 2);

    let release: () => void = () => undefined;
    let m = 0;
    const after = new Coalescer(
      () =>
        new Promise<number>((r) => {
          m++;
          release = () => r(m);
        }),
      'after',
    );
    const first = after.run();
    const [x, y] = [after.run(), after.run()];
    assert.equal(x, y);
    await Promise.resolve();
    release();
    assert.equal(await first, 1);
    while (m < 2) await tick();
    release();
    assert.deepEqual(await Promise.all([x, y]), [2, 2]);

    // A run that never ends is abandoned at its deadline: the next caller starts afresh.
    const stuck = new Coalescer(() => new Promise<number>(() => undefined), 'share');
    const s1 = stuck.run();
    stuck.abandon();
    assert.notEqual(stuck.run(), s1);
    assert.equal(stuck.runs, 2);
  });
});
