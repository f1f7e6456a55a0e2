/**
 * `halo run` refuses a config with errors before it touches the system
 * (keepalived would start anyway, with defaults in place of the bad values),
 * printing the same FILE:LINE:COL diagnostics as `halo config check`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
      new RegExp(`${conf}:4:12: error: priority: 300 is outside the range \\[1, 255\\]`),
    );
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
    // The pid file names a live process (this test): another halo holds it.
    spawnSync('mkdir', ['-p', run]);
    writeFileSync(join(run, 'halo.pid'), `${process.pid}\n`);
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
