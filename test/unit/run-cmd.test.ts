/**
 * `halo run` refuses a config with errors before it touches the system
 * (keepalived would start anyway, with defaults in place of the bad values),
 * printing the same FILE:LINE:COL diagnostics as `halo config check`; expected
 * refusals (already running, no ip_vs, HTTP port taken) are one clear line;
 * `--http` and `--metrics` serve what they say.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

test('halo run refuses an invalid config with located diagnostics and creates nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  try {
    const conf = join(dir, 'bad.conf');
    writeFileSync(
      conf,
      [
        'vrrp_instance VI_1 {',
        '  interface eth0',
        '  virtual_router_id 51',
        '  priority 300',
        '  unicasti_src_ip 10.0.0.1',
        '  virtual_ipaddress {',
        '    10.0.0.100/24',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const run = join(dir, 'run');
    const r = spawnSync(process.execPath, [HALO_MAIN, 'run', '-f', conf, '--run-dir', run], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing to start with an invalid config/);
    assert.match(
      r.stderr,
      /bad\.conf:5:3: error: unknown keyword 'unicasti_src_ip'.*did you mean 'unicast_src_ip'/,
    );
    assert.ok(!existsSync(join(run, 'halo.pid')), 'no pid file');
    assert.ok(!existsSync(join(run, 'halo.sock')), 'no control socket');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('halo run --bgp-only refuses a config without a bgp block before it programs anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  try {
    const conf = join(dir, 'nobgp.conf');
    writeFileSync(
      conf,
      'virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  protocol TCP\n  real_server 10.0.0.2 80 {\n  }\n}\n',
    );
    const r = spawnSync(
      process.execPath,
      [HALO_MAIN, 'run', '--bgp-only', '--ipvs', 'dry-run', '-f', conf, '--run-dir', join(dir, 'run')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--bgp-only needs a bgp block in the config/);
    assert.doesNotMatch(r.stdout, /"event":"ipvs.change"/, 'no IPVS service was programmed');
    const both = spawnSync(process.execPath, [HALO_MAIN, 'run', '--bgp-only', '--vrrp-only', '-f', conf], {
      encoding: 'utf8',
    });
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--vrrp-only and --bgp-only exclude each other/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A config halo can run anywhere: one virtual server on loopback, checked with TCP (nothing listens). */
const LOOPBACK_CONFIG = `virtual_server 127.0.0.1 18080 {
  delay_loop 5
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 127.0.0.2 18080 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`;

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('halo already running: one clear line, no JavaScript stack trace, exit 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  try {
    const conf = join(dir, 'halo.conf');
    writeFileSync(conf, LOOPBACK_CONFIG);
    const run = join(dir, 'run');
    // The pid file names a live halo: a process whose command line is halo's (a stale pid file naming
    // some other process is taken over instead, see daemon-paths.test.ts).
    spawnSync('mkdir', ['-p', run]);
    const fake = join(dir, 'halo');
    writeFileSync(fake, 'setTimeout(() => {}, 60_000);\n');
    const other = spawn(process.execPath, [fake]);
    writeFileSync(join(run, 'halo.pid'), `${other.pid}\n`);
    const r = spawnSync(
      process.execPath,
      [HALO_MAIN, 'run', '--check-only', '--ipvs', 'dry-run', '-f', conf, '--run-dir', run],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /halo is already running \(pid \d+ holds .*halo\.pid\)/);
    const refused = logLines(r.stdout).find((l) => l.event === 'daemon.start_refused');
    assert.ok(refused, r.stdout);
    assert.equal(refused.cause, 'already-running');
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
    other.kill('SIGKILL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no ip_vs in the kernel: one clear line naming --ipvs dry-run and --vrrp-only, no stack trace', (t) => {
  if (existsSync('/proc/net/ip_vs')) return t.skip('this kernel has IPVS loaded');
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  try {
    const conf = join(dir, 'halo.conf');
    writeFileSync(conf, LOOPBACK_CONFIG);
    const r = spawnSync(process.execPath, [HALO_MAIN, 'run', '--check-only', '-f', conf, '--run-dir', dir], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const refused = logLines(r.stdout).find((l) => l.event === 'daemon.start_refused');
    assert.ok(refused, r.stdout);
    assert.equal(refused.cause, 'ipvs-unavailable');
    assert.match(String(refused.msg), /IPVS is not available .*--vrrp-only.*--ipvs dry-run/);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A port nothing listens on right now (bound and released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('--http serves the page, the API and the metrics of the running daemon; --metrics alone still works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  const [http, metrics] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'halo.conf'), LOOPBACK_CONFIG);
  const child = spawn(process.execPath, [
    HALO_MAIN,
    'run',
    '--check-only',
    '--ipvs',
    'dry-run',
    '-f',
    join(dir, 'halo.conf'),
    '--run-dir',
    dir,
    '--http',
    `127.0.0.1:${http}`,
    '--metrics',
    `127.0.0.1:${metrics}`,
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    const get = async (port: number, path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, text: await r.text() };
    };
    const deadline = Date.now() + 15_000;
    let status: { status: number; text: string } | undefined;
    while (Date.now() < deadline) {
      status = await get(http, '/api/status').catch(() => undefined);
      if (status?.status === 200 && JSON.parse(status.text).ipvs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status?.status, 200, out);
    const doc = JSON.parse(status?.text ?? '{}');
    assert.equal(doc.ipvs.mode, 'dry-run');
    assert.equal(doc.virtualServers[0].name, '[127.0.0.1]:tcp:18080');
    assert.match((await get(http, '/')).text, /<title>halo<\/title>/);
    assert.match((await get(http, '/metrics')).text, /^# HELP halo_/m);
    // --metrics on its own address: metrics, and nothing of the page.
    assert.match((await get(metrics, '/metrics')).text, /^# HELP halo_/m);
    assert.equal((await get(metrics, '/api/status')).status, 404);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--http on a port that is taken: refused before anything starts, one clear line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-run-'));
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as AddressInfo).port;
  try {
    const conf = join(dir, 'halo.conf');
    writeFileSync(conf, LOOPBACK_CONFIG);
    const r = spawnSync(
      process.execPath,
      [
        HALO_MAIN,
        'run',
        '--check-only',
        '--ipvs',
        'dry-run',
        '-f',
        conf,
        '--run-dir',
        dir,
        '--http',
        `127.0.0.1:${port}`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`cannot serve HTTP on 127\\.0\\.0\\.1:${port}: the address is in use`));
    const refused = logLines(r.stdout).find((l) => l.event === 'daemon.start_refused');
    assert.equal(refused?.cause, 'http-address');
    assert.ok(!logLines(r.stdout).some((l) => l.event === 'daemon.start'), 'nothing started');
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  } finally {
    await new Promise((r) => taken.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
