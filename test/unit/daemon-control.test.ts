import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runControl } from '../../src/cli/control-cmd.js';
import { runHold } from '../../src/cli/hold-cmd.js';
import { runStatus } from '../../src/cli/status-cmd.js';
import {
  ControlClientError,
  type ControlHandlers,
  ControlServer,
  ControlSocketInUseError,
  controlRequest,
  type ReloadResult,
} from '../../src/daemon/control.js';
import { sampleStatus } from './daemon-sample.js';

/**
 * Sends raw bytes and closes the write side (as `printf ... | socat - UNIX:...` does), collects everything
 * until the server closes the connection.
 */
function rawExchange(path: string, payload: string | Buffer): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('connect', () => s.end(payload));
    s.on('close', () => resolve({ text, closed: true }));
    s.on('error', (err: NodeJS.ErrnoException) => {
      // the server may cut us off while we are still writing a huge line
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve({ text, closed: true });
      else reject(err);
    });
  });
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
    },
  };
}

describe('control socket', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  const calls: string[] = [];
  const errors: string[] = [];
  let reloadResult: ReloadResult = { applied: true, configFile: '/etc/halo/halo.conf', errors: [] };
  let stopped: () => void;
  const stoppedP = new Promise<void>((r) => {
    stopped = r;
  });

  const handlers: ControlHandlers = {
    status: () => {
      calls.push('status');
      return sampleStatus();
    },
    reload: async () => {
      calls.push('reload');
      return reloadResult;
    },
    reloadPlan: () => {
      calls.push('reload-plan');
      return {
        configFile: '/etc/halo/halo.conf',
        valid: true,
        errors: [],
        text: 'VRRP: no instance changes\n',
      };
    },
    stop: () => {
      calls.push('stop');
      stopped();
    },
    dump: () => {
      throw new Error('disk full');
    },
    failover: (a) => {
      calls.push(`failover ${JSON.stringify(a)}`);
      return { instances: a.instances ?? ['VI_1', 'VI_2'], unknown: [], maintenance: false };
    },
    maintenance: (a) => {
      calls.push(`maintenance ${a.on}`);
      return { instances: ['VI_1'], unknown: [], maintenance: a.on };
    },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-ctl-'));
    path = join(dir, 'run', 'halo.sock');
    server = new ControlServer({
      path,
      handlers,
      maxLineBytes: 1024,
      onError: (ctx, e) => errors.push(`${ctx}: ${(e as Error).message}`),
    });
    await server.listen();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a root-only socket (mode 0600, owned by us)', async () => {
    const st = await stat(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid!());
  });

  it('answers status with a validated document', async () => {
    const doc = await controlRequest(path, 'status');
    assert.deepEqual(doc, sampleStatus());
  });

  it('answers several requests on one connection in order, with ids', async () => {
    const { text } = await rawExchange(
      path,
      '{"cmd":"status","id":1}\n{"cmd":"reload","id":"two"}\n{"cmd":"bogus"}\n',
    );
    const replies = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(replies.length, 3);
    assert.deepEqual([replies[0].id, replies[0].ok, replies[0].result.daemon.pid], [1, true, 1234]);
    assert.deepEqual([replies[1].id, replies[1].ok, replies[1].result.applied], ['two', true, true]);
    assert.equal(replies[2].ok, false);
    assert.match(replies[2].error, /unknown command/);
  });

  it('garbage gets an error answer and the connection is closed; the server keeps serving', async () => {
    const r = await rawExchange(path, Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x0a, 0x41, 0x0a]));
    assert.equal(r.closed, true);
    const lines = r.text.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]).ok, false);
    assert.match(JSON.parse(lines[0]).error, /not JSON/);
    for (const bad of ['null\n', '[]\n', '"status"\n', '{"cmd":{"x":1}}\n']) {
      const x = await rawExchange(path, bad);
      assert.equal(JSON.parse(x.text.trim()).ok, false, bad);
    }
    assert.equal((await controlRequest(path, 'status')).daemon.version, '0.1.0');
  });

  it('failover and maintenance: arguments validated before any handler runs; the CLI sends who asked', async () => {
    for (const [bad, why] of [
      ['{"cmd":"failover"}', /failover arguments: .*expected object/],
      ['{"cmd":"failover","args":{"origin":"x"}}', /name the instances or ask for all of them/],
      ['{"cmd":"failover","args":{"all":true,"origin":"x","timeoutS":-1}}', /timeoutS/],
      ['{"cmd":"failover","args":{"all":true,"origin":"x","rm":"-rf"}}', /Unrecognized key/],
      ['{"cmd":"maintenance","args":{"on":"yes","origin":"x"}}', /on: /],
    ] as const) {
      const x = await rawExchange(path, `${bad}\n`);
      const reply = JSON.parse(x.text.trim());
      assert.equal(reply.ok, false, bad);
      assert.match(reply.error, why, bad);
    }
    assert.ok(!calls.some((c) => c.startsWith('failover') || c.startsWith('maintenance')), 'no handler ran');

    const c = capture();
    assert.equal(await runHold(['failover', 'VI_1', '--timeout', '60', '--socket', path], c.io), 0);
    assert.match(c.out.join(''), /failover: VI_1 handed to the peer and held in BACKUP/);
    const sent = JSON.parse(calls.at(-1)?.replace(/^failover /, '') ?? '{}');
    assert.deepEqual(sent.instances, ['VI_1']);
    assert.equal(sent.timeoutS, 60);
    // The kernel's word (SO_PEERCRED) first, then what the client says.
    assert.match(sent.origin, /^uid \d+ pid \d+ .*\(pid \d+\) via halo failover\)$/);
    const m = capture();
    assert.equal(await runHold(['maintenance', 'on', '--socket', path, '--json'], m.io), 0);
    assert.deepEqual(JSON.parse(m.out.join('')), { instances: ['VI_1'], unknown: [], maintenance: true });
    for (const argv of [
      ['failover'],
      ['failover', '--all', 'VI_1'],
      ['maintenance'],
      ['failover', '--clear', '--all', '--timeout', '5'],
    ]) {
      const u = capture();
      assert.equal(await runHold([...argv, '--socket', path], u.io), 2, argv.join(' '));
    }
  });

  it('a line over the limit is refused without being buffered whole', async () => {
    const r = await rawExchange(path, 'x'.repeat(200_000));
    assert.equal(r.closed, true);
    assert.match(JSON.parse(r.text.trim()).error, /line longer than 1024 bytes/);
    // split across many small writes too
    const r2 = await rawExchange(path, `{"cmd":"status","pad":"${'y'.repeat(2000)}"}\n`);
    assert.match(JSON.parse(r2.text.trim()).error, /line longer than 1024 bytes/);
    assert.equal((await controlRequest(path, 'status')).instances.length, 2);
  });

  it('halo dump prints the files written; a failing dump exits 1 with the reason', async () => {
    const c = capture();
    assert.equal(await runControl(['dump', '--socket', path], c.io), 1);
    assert.equal(c.err.join(''), 'halo: dump failed: disk full\n');
  });

  it('handler failures become error answers (and are reported), not crashes', async () => {
    await assert.rejects(controlRequest(path, 'dump'), (err: unknown) => {
      assert.ok(err instanceof ControlClientError);
      assert.equal(err.code, 'remote');
      assert.equal(err.message, 'dump failed: disk full');
      return true;
    });
    assert.ok(errors.includes('control dump: disk full'));
  });

  it('halo status prints the table, --json the document', async () => {
    const c = capture();
    const io = { ...c.io, now: () => Date.parse('2026-11-21T07:00:00Z'), sleep: async () => false };
    assert.equal(await runStatus(['--socket', path], io), 0);
    assert.match(c.out.join(''), /^halo 0\.1\.0 {2}pid 1234 {2}up 2h00m/);
    assert.match(c.out.join(''), /VI_1\s+MASTER/);
    const j = capture();
    assert.equal(await runStatus([`--socket=${path}`, '--json'], { ...io, ...j.io }), 0);
    assert.deepEqual(JSON.parse(j.out.join('')), sampleStatus());
  });

  it('halo status --watch redraws until interrupted', async () => {
    const c = capture();
    let sleeps = 0;
    const slept: number[] = [];
    const io = {
      ...c.io,
      now: Date.now,
      sleep: async (ms: number) => {
        slept.push(ms);
        return ++sleeps < 3;
      },
    };
    assert.equal(await runStatus(['--socket', path, '--watch', '0.5', '--json'], io), 0);
    assert.equal(c.out.length, 3);
    assert.deepEqual(slept, [500, 500, 500]);
  });

  it('halo reload reports applied and rejected reloads', async () => {
    const ok = capture();
    assert.equal(await runControl(['reload', '--socket', path], ok.io), 0);
    assert.deepEqual(ok.out, ['reloaded /etc/halo/halo.conf\n']);
    reloadResult = {
      applied: false,
      configFile: '/etc/halo/halo.conf',
      errors: ['/etc/halo/halo.conf:12:3: error: unknown keyword bogus'],
    };
    const bad = capture();
    assert.equal(await runControl(['reload', '--socket', path], bad.io), 1);
    assert.equal(bad.err[0], '/etc/halo/halo.conf:12:3: error: unknown keyword bogus\n');
    assert.match(bad.err[1], /reload rejected/);
  });

  it('reload, stop and dump --help name --run-dir (the daemon started with one answers there)', async () => {
    for (const verb of ['reload', 'stop', 'dump']) {
      const c = capture();
      assert.equal(await runControl([verb, '--help'], c.io), 0);
      assert.match(
        c.out.join(''),
        new RegExp(`halo ${verb} (\\[--plan\\] )?\\[--socket PATH \\| --run-dir DIR\\]`),
      );
      assert.match(c.out.join(''), /--run-dir DIR {6}the --run-dir the halo was started with/);
    }
    // And --run-dir works: DIR/halo.sock is the socket asked (this daemon's last answer is a rejection).
    const c = capture();
    await runControl(['reload', '--run-dir', join(dir, 'run')], c.io);
    assert.match(c.err.join(''), /reload rejected/);
    assert.doesNotMatch(c.err.join(''), /not running/);
  });

  it('usage errors exit 2', async () => {
    const c = capture();
    assert.equal(await runControl(['stop', '--bogus'], c.io), 2);
    assert.equal(await runControl(['restart'], c.io), 2);
    const s = capture();
    assert.equal(await runStatus(['--watch', '-3'], { ...s.io, now: Date.now, sleep: async () => false }), 2);
  });

  it('halo stop: acknowledged first, then the stop handler runs', async () => {
    const c = capture();
    assert.equal(await runControl(['stop', '--socket', path], c.io), 0);
    assert.deepEqual(c.out, ['halo is stopping\n']);
    await stoppedP;
    assert.equal(calls.at(-1), 'stop');
  });
});

describe('control socket lifecycle and client errors', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-ctl2-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const handlers: ControlHandlers = {
    status: () => sampleStatus(),
    reload: () => ({ applied: true, configFile: 'x', errors: [] }),
    reloadPlan: () => ({ configFile: 'x', valid: false, errors: ['x:1:1: error: nope'] }),
    stop: () => {},
    dump: () => ({ files: [] }),
    failover: () => ({ instances: [], unknown: [], maintenance: false }),
    maintenance: (a) => ({ instances: [], unknown: [], maintenance: a.on }),
  };

  it('says clearly that halo is not running', async () => {
    const path = join(dir, 'none.sock');
    await assert.rejects(controlRequest(path, 'status'), {
      name: 'ControlClientError',
      code: 'not_running',
      message: `halo is not running (no socket at ${path})`,
    });
    const c = capture();
    assert.equal(
      await runStatus(['--socket', path], { ...c.io, now: Date.now, sleep: async () => false }),
      1,
    );
    assert.equal(c.err.join(''), `halo: halo is not running (no socket at ${path})\n`);
  });

  it('replaces a stale socket, refuses a live one and a non-socket file; close removes the socket', async () => {
    const path = join(dir, 'h.sock');
    // A stale socket: a process bound it and was SIGKILLed, so the file stays and nobody listens.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('up'))`,
    ]);
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.kill('SIGKILL');
    await new Promise<void>((r) => child.once('exit', () => r()));
    assert.ok((await stat(path)).isSocket());
    await assert.rejects(controlRequest(path, 'status'), { code: 'not_running' });

    const a = new ControlServer({ path, handlers });
    await a.listen();
    assert.equal((await controlRequest(path, 'status')).daemon.pid, 1234);

    const b = new ControlServer({ path, handlers });
    await assert.rejects(b.listen(), ControlSocketInUseError);
    assert.equal((await controlRequest(path, 'status')).daemon.pid, 1234); // a is unharmed

    await a.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });

    const file = join(dir, 'regular');
    await writeFile(file, 'precious');
    await assert.rejects(new ControlServer({ path: file, handlers }).listen(), /not a socket/);
    assert.ok((await stat(file)).isFile());
  });

  it('times out on a daemon that never answers', async () => {
    const path = join(dir, 'mute.sock');
    const mute = createServer((s) => s.resume()); // reads and ignores requests
    await new Promise<void>((r) => mute.listen(path, r));
    try {
      await assert.rejects(controlRequest(path, 'status', { timeoutMs: 200 }), {
        code: 'timeout',
        message: `no answer from halo on ${path} within 0.2s`,
      });
    } finally {
      await new Promise<void>((r) => {
        mute.close(() => r());
      });
    }
  });

  it('rejects an answer that does not match the schema (daemon of another version)', async () => {
    const path = join(dir, 'old.sock');
    const old = createServer((s) => s.resume().end('{"ok":true,"result":{"daemon":{}}}\n'));
    await new Promise<void>((r) => old.listen(path, r));
    try {
      await assert.rejects(controlRequest(path, 'status'), { code: 'protocol' });
    } finally {
      await new Promise<void>((r) => old.close(() => r()));
    }
  });
});
