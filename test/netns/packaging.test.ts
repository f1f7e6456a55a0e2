/**
 * The Debian package end to end: build it with packaging/build-deb.sh, install it with apt-get on this
 * machine, run the installed CLI, verify the systemd unit, purge it and check nothing is left.
 *
 * It installs a system package, so it is careful to leave the machine as it found it: it refuses to run
 * when a halo package or any of the files it would own already exists, and an after() hook purges the
 * package if the test stopped half-way. Serial lane (test/netns): two copies must never run at once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const addon = join(repo, 'build', 'Release', 'halo_net.node');
const OWNED = ['/usr/lib/halo', '/usr/bin/halo', '/etc/halo', '/lib/systemd/system/halo.service'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024, timeout: 300_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function packageInstalled(): Promise<boolean> {
  const r = await run('dpkg-query', ['-W', `-f=\${Status}`, 'halo']);
  return r.code === 0 && r.stdout.includes('install ok installed');
}

async function packageKnown(): Promise<boolean> {
  // Any state (installed, config-files, half-installed) counts: we never touch someone else's halo.
  const r = await run('dpkg-query', ['-W', `-f=\${Status}`, 'halo']);
  return r.code === 0 && r.stdout.trim() !== '' && !r.stdout.includes('not-installed');
}

const APT = ['-o', 'DPkg::Lock::Timeout=300', '-y', '-q'];
const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };

/** Static check of the unit's keys (also done when systemd-analyze is present: it checks syntax, not intent). */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      section = sec[1];
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `unit line without '=': ${line}`);
    const k = `${section}.${line.slice(0, eq)}`;
    keys.set(k, [...(keys.get(k) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

async function whyNotRunnable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (installs a Debian package)';
  for (const tool of ['dpkg-deb', 'apt-get', 'dpkg-query']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) return `${tool} not available`;
  }
  if (!existsSync(join(repo, 'dist', 'src', 'cli', 'main.js'))) return 'dist/src missing: run npm run build';
  if (!existsSync(addon)) {
    const msg = `native addon ${addon} not built yet (npm run build:native)`;
    if (process.env.CI) throw new Error(`packaging test cannot run under CI: ${msg}`);
    return msg;
  }
  if (await packageKnown()) return 'a halo package is already known to dpkg on this machine: not touching it';
  for (const p of OWNED) if (existsSync(p)) return `${p} already exists: not touching this machine`;
  return undefined;
}

const skip = (await whyNotRunnable()) ?? false;
if (skip) process.stderr.write(`packaging test skipped: ${skip}\n`);

describe('Debian package', { skip, concurrency: false }, () => {
  let out: string;
  let deb: string;
  let installedByUs = false;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'halo-deb-'));
  });

  after(async () => {
    if (installedByUs && (await packageKnown())) {
      await run('apt-get', ['remove', '--purge', ...APT, 'halo'], APT_ENV);
    }
    await rm(out, { recursive: true, force: true });
  });

  it('builds halo_<version>_<arch>.deb with the expected layout and metadata', async () => {
    const r = await run('bash', [join(repo, 'packaging', 'build-deb.sh'), out]);
    assert.equal(r.code, 0, r.stderr);
    const version = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')).version as string;
    const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
    deb = r.stdout.trim();
    assert.equal(deb, join(out, `halo_${version}_${arch}.deb`));
    assert.deepEqual(await readdir(out), [`halo_${version}_${arch}.deb`]);

    const field = async (f: string) => (await run('dpkg-deb', ['-f', deb, f])).stdout.trim();
    assert.equal(await field('Package'), 'halo');
    assert.equal(await field('Version'), version);
    assert.equal(await field('Depends'), 'nodejs (>= 20)');
    assert.equal((await run('dpkg-deb', ['--info', deb, 'conffiles'])).stdout, '/etc/halo/halo.conf\n');

    const list = (await run('dpkg-deb', ['-c', deb])).stdout;
    const files = new Map(
      list
        .trim()
        .split('\n')
        .map((l) => {
          const parts = l.split(/\s+/);
          return [parts.slice(5).join(' ').replace(/^\./, ''), { mode: parts[0], owner: parts[1] }] as const;
        }),
    );
    for (const f of [
      '/usr/bin/halo',
      '/usr/lib/halo/package.json',
      '/usr/lib/halo/dist/src/cli/main.js',
      '/usr/lib/halo/dist/src/daemon/control.js',
      '/usr/lib/halo/build/Release/halo_net.node',
      '/usr/lib/halo/web/index.html',
      '/usr/lib/halo/web/app.js',
      '/usr/lib/halo/web/app.css',
      '/usr/lib/halo/node_modules/pino/package.json',
      '/usr/lib/halo/node_modules/prom-client/package.json',
      '/lib/systemd/system/halo.service',
      '/etc/halo/halo.conf',
    ]) {
      assert.ok(files.has(f), `missing ${f}`);
      assert.equal(files.get(f)!.owner, 'root/root', f);
    }
    assert.equal(files.get('/usr/bin/halo')!.mode, '-rwxr-xr-x');
    for (const f of files.keys()) {
      assert.ok(!(f.startsWith('/usr/lib/halo/dist/') && f.endsWith('.map')), `source map shipped: ${f}`);
      assert.ok(
        !/^\/usr\/lib\/halo\/node_modules\/(typescript|@biomejs|fast-check|@types|playwright-core)\//.test(f),
        `dev dependency shipped: ${f}`,
      );
      assert.ok(!f.startsWith('/usr/lib/halo/dist/test/'), `tests shipped: ${f}`);
    }
  });

  it('installs with apt-get on this machine', async () => {
    installedByUs = true; // from here on, after() cleans up whatever happens
    const r = await run('apt-get', ['install', ...APT, '--no-install-recommends', deb], APT_ENV);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(await packageInstalled(), true);
    const conffiles = await run('dpkg-query', ['-W', `-f=\${Conffiles}`, 'halo']);
    assert.match(conffiles.stdout, /^ \/etc\/halo\/halo\.conf [0-9a-f]{32}$/m);
  });

  it('runs the installed CLI (version, config check, control client, native addon)', async () => {
    const version = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')).version as string;
    const v = await run('/usr/bin/halo', ['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `halo ${version}\n`);

    if (existsSync('/usr/lib/halo/dist/src/cli/config-cmd.js')) {
      const c = await run('/usr/bin/halo', ['config', 'check', '-f', '/etc/halo/halo.conf']);
      assert.equal(c.code, 0, `${c.stdout}\n${c.stderr}`);
    } else {
      process.stderr.write(
        '# halo config check not built yet (src/cli/config-cmd.ts): checked --version only\n',
      );
    }

    // The control client from the package: no daemon on this socket, and it says so.
    const sock = join(out, 'nobody.sock');
    const s = await run('/usr/bin/halo', ['status', '--socket', sock]);
    assert.equal(s.code, 1);
    assert.equal(s.stderr, `halo: halo is not running (no socket at ${sock})\n`);

    // The addon loads from the installed tree with the installed node.
    const a = await run('/usr/bin/node', [
      '-e',
      "const m = require('/usr/lib/halo/build/Release/halo_net.node'); process.stdout.write(typeof m)",
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, 'object');
  });

  it('ships a unit with the intended keys, valid for systemd', async () => {
    const unit = parseUnit(await readFile('/lib/systemd/system/halo.service', 'utf8'));
    assert.deepEqual(unit.get('Service.Type'), ['simple']);
    assert.deepEqual(unit.get('Service.ExecStartPre'), ['/usr/bin/halo config check -f /etc/halo/halo.conf']);
    assert.deepEqual(unit.get('Service.ExecStart'), [
      '/usr/bin/halo run -f /etc/halo/halo.conf --log-format json',
    ]);
    assert.deepEqual(unit.get('Service.ExecReload')?.at(-1), '/bin/kill -HUP $MAINPID');
    assert.deepEqual(unit.get('Service.Restart'), ['on-failure']);
    assert.deepEqual(unit.get('Service.RuntimeDirectory'), ['halo']);
    const caps = unit.get('Service.CapabilityBoundingSet')![0].split(/\s+/).sort();
    assert.deepEqual(caps, ['CAP_KILL', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID']);
    assert.deepEqual(unit.get('Service.ProtectSystem'), ['full']);
    assert.deepEqual(unit.get('Install.WantedBy'), ['multi-user.target']);
    assert.equal(unit.get('Service.MemoryDenyWriteExecute'), undefined, 'V8 needs W+X pages');
    // Realtime is allowed, per thread (halo sets it on its VRRP threads), never imposed on the whole process.
    assert.equal(unit.get('Service.RestrictRealtime'), undefined, 'RestrictRealtime=yes makes SCHED_RR fail');
    assert.deepEqual(unit.get('Service.LimitRTPRIO'), ['99']);
    assert.deepEqual(unit.get('Service.LimitNICE'), ['-20']);
    assert.deepEqual(unit.get('Service.LimitMEMLOCK'), ['64M']);
    for (const key of [
      'CPUSchedulingPolicy',
      'CPUSchedulingPriority',
      'Nice',
      'CPUAffinity',
      'LimitRTTIME',
    ]) {
      assert.equal(unit.get(`Service.${key}`), undefined, `${key} would apply to every thread and script`);
    }

    if ((await run('sh', ['-c', 'command -v systemd-analyze'])).code === 0) {
      const r = await run('systemd-analyze', ['verify', '/lib/systemd/system/halo.service']);
      // Only complaints about this unit count (the host's other units are not ours to judge).
      const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('halo.service'));
      assert.deepEqual(ours, [], `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
    } else {
      process.stderr.write('systemd-analyze not installed: unit checked statically only\n');
    }
  });

  it('purges cleanly, leaving nothing behind', async () => {
    const r = await run('apt-get', ['remove', '--purge', ...APT, 'halo'], APT_ENV);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(await packageKnown(), false);
    for (const p of [...OWNED, '/usr/share/doc/halo', '/run/halo'])
      assert.equal(existsSync(p), false, `${p} left`);
    installedByUs = false;
  });
});
