import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  acquirePidFile,
  defaultPaths,
  type PidFileHandle,
  PidFileLockedError,
  parsePathArgs,
  parsePidFile,
  processIsAlive,
  processIsHalo,
  UsageError,
  writeFileAtomic,
} from '../../src/daemon/paths.js';

describe('paths', () => {
  it('defaults live under /run/halo', () => {
    assert.deepEqual(defaultPaths(), {
      runDir: '/run/halo',
      controlSocket: '/run/halo/halo.sock',
      pidFile: '/run/halo/halo.pid',
      dataFile: '/run/halo/halo.data',
      dataJsonFile: '/run/halo/halo.data.json',
      statsFile: '/run/halo/halo.stats',
      statsJsonFile: '/run/halo/halo.stats.json',
      rsOverridesFile: '/run/halo/rs-overrides.json',
    });
  });

  it('--run-dir moves every default, explicit flags win whatever their order, other args pass through', () => {
    const { paths, rest } = parsePathArgs([
      '-f',
      '/etc/halo/b.conf',
      '--socket=/tmp/b.sock',
      '--run-dir',
      '/run/halo-b',
      '--log-format',
      'pretty',
      '--stats-json-file',
      '/var/tmp/b.json',
    ]);
    assert.deepEqual(rest, ['-f', '/etc/halo/b.conf', '--log-format', 'pretty']);
    assert.equal(paths.controlSocket, '/tmp/b.sock');
    assert.equal(paths.pidFile, '/run/halo-b/halo.pid');
    assert.equal(paths.dataFile, '/run/halo-b/halo.data');
    assert.equal(paths.statsJsonFile, '/var/tmp/b.json');
  });

  it('rejects a path flag without a value', () => {
    assert.throws(() => parsePathArgs(['--socket']), UsageError);
    assert.throws(() => parsePathArgs(['--pid-file', '--json']), /--pid-file needs a path/);
    assert.throws(() => parsePathArgs(['--socket=']), UsageError);
  });

  it('parses pid file text strictly', () => {
    assert.equal(parsePidFile('1234\n'), 1234);
    assert.equal(parsePidFile(' 7 '), 7);
    assert.equal(parsePidFile(''), undefined);
    assert.equal(parsePidFile('12ab'), undefined);
    assert.equal(parsePidFile('0'), undefined);
    assert.equal(parsePidFile('99999999999'), undefined);
  });
});

describe('pid file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-pid-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the file (and its directory) with our pid and removes it on release', async () => {
    const path = join(dir, 'sub', 'halo.pid');
    const h = await acquirePidFile(path, { pid: 4242 });
    assert.equal(await readFile(path, 'utf8'), '4242\n');
    await h.release();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    assert.deepEqual(await readdir(join(dir, 'sub')), []); // no temp files left behind
  });

  it('refuses when a live halo holds it (real /proc checks on a process that runs a script named halo)', async () => {
    const path = join(dir, 'live.pid');
    const script = join(dir, 'halo');
    await writeFile(script, 'setTimeout(() => {}, 60_000);\n');
    const holder = spawn(process.execPath, [script], { stdio: 'ignore' });
    try {
      const pid = holder.pid!;
      await writeFile(path, `${pid}\n`);
      assert.equal(processIsAlive(pid), true);
      assert.equal(processIsHalo(pid), true);
      await assert.rejects(acquirePidFile(path), (err: unknown) => {
        assert.ok(err instanceof PidFileLockedError);
        assert.equal(err.holderPid, pid);
        assert.match(err.message, /halo is already running \(pid \d+ holds .*live\.pid\)/);
        return true;
      });
      assert.equal(await readFile(path, 'utf8'), `${pid}\n`); // untouched
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a file whose pid is alive but is not halo (reused after a kill -9), and says so', async () => {
    const path = join(dir, 'reused.pid');
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = other.pid!;
      await writeFile(path, `${pid}\n`);
      assert.equal(processIsAlive(pid), true);
      assert.equal(processIsHalo(pid), false);
      const h = await acquirePidFile(path, { pid: 5100 });
      assert.deepEqual(h.takenOver, { holderPid: pid, reason: 'not-halo' });
      assert.equal(await readFile(path, 'utf8'), '5100\n');
      h.releaseSync();
      await assert.rejects(stat(path), { code: 'ENOENT' });
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a stale file: dead pid, garbage, empty or our own pid, and says why', async () => {
    const cases: [string, PidFileHandle['takenOver']][] = [
      ['31337\n', { holderPid: 31337, reason: 'dead' }],
      ['garbage', { reason: 'garbage' }],
      ['', { reason: 'garbage' }],
      ['5000\n', { holderPid: 5000, reason: 'own-pid' }],
    ];
    for (const [content, why] of cases) {
      const path = join(dir, 'stale.pid');
      await writeFile(path, content);
      const h = await acquirePidFile(path, { pid: 5000, isAlive: (p) => p !== 31337, isHalo: () => true });
      assert.equal(await readFile(path, 'utf8'), '5000\n');
      assert.deepEqual(h.takenOver, why, JSON.stringify(content));
      await h.release();
    }
    assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => n.startsWith('stale'))), []);
    // A fresh file is not a takeover.
    const fresh = await acquirePidFile(join(dir, 'fresh.pid'), { pid: 5001 });
    assert.equal(fresh.takenOver, undefined);
    await fresh.release();
  });

  it('release leaves a file that a successor has taken over', async () => {
    const path = join(dir, 'succ.pid');
    const h = await acquirePidFile(path, { pid: 6000 });
    await writeFile(path, '6001\n');
    await h.release();
    assert.equal(await readFile(path, 'utf8'), '6001\n');
  });

  it('a second starter loses to the first', async () => {
    const path = join(dir, 'race.pid');
    const results = await Promise.allSettled([
      acquirePidFile(path, { pid: 7001, isAlive: () => true, isHalo: () => true }),
      acquirePidFile(path, { pid: 7002, isAlive: () => true, isHalo: () => true }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok((lost[0] as PromiseRejectedResult).reason instanceof PidFileLockedError);
  });

  it('writeFileAtomic replaces content whole', async () => {
    const path = join(dir, 'dump', 'halo.data');
    await writeFileAtomic(path, 'one\n');
    await writeFileAtomic(path, 'two\n');
    assert.equal(await readFile(path, 'utf8'), 'two\n');
    assert.deepEqual(await readdir(join(dir, 'dump')), ['halo.data']);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
  });
});
