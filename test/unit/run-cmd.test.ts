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
