/**
 * Pair checks (issue 14): two directors' configs must agree where VRRP needs them to. One test per
 * disagreement, each asserting the diagnostic on both files, plus the CLI forms.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { checkPair } from '../../src/config/pair.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'halo-pair-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Side {
  state?: string;
  priority?: number;
  extra?: string;
  vips?: string;
  vs?: string;
}
const conf = (s: Side = {}) => `vrrp_instance VI_1 {
    state ${s.state ?? 'BACKUP'}
    interface eth0
    virtual_router_id 51
    priority ${s.priority ?? 100}
${s.extra ?? ''}
    virtual_ipaddress {
        ${s.vips ?? '10.0.0.100/24'}
    }
}
virtual_server 10.0.0.100 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.21 80 {
${s.vs ?? '        weight 1'}
    }
}
`;

function pair(a: Side, b: Side): string[] {
  const ca = parseKeepalivedText(conf(a), 'a.conf', { hostChecks: 'off' });
  const cb = parseKeepalivedText(conf(b), 'b.conf', { hostChecks: 'off' });
  assert.ok(ca.config && cb.config, JSON.stringify([ca.diagnostics, cb.diagnostics]));
  return checkPair({ file: 'a.conf', config: ca.config }, { file: 'b.conf', config: cb.config }).map(
    formatDiagnostic,
  );
}

const MASTER: Side = { state: 'MASTER', priority: 150 };
const BACKUP: Side = { state: 'BACKUP', priority: 100 };

describe('pair checks', () => {
  it('a well-formed pair has nothing to say', () => {
    assert.deepEqual(pair(MASTER, BACKUP), []);
  });

  it('an instance without a counterpart (VRID differs)', () => {
    const b = conf(BACKUP).replace('virtual_router_id 51', 'virtual_router_id 52');
    const ca = parseKeepalivedText(conf(MASTER), 'a.conf', { hostChecks: 'off' }).config;
    const cb = parseKeepalivedText(b, 'b.conf', { hostChecks: 'off' }).config;
    assert.ok(ca && cb);
    assert.deepEqual(
      checkPair({ file: 'a.conf', config: ca }, { file: 'b.conf', config: cb }).map(formatDiagnostic),
      [
        'a.conf:1:1: error: (VI_1) VRID 51 IPv4 has no instance in the peer config b.conf',
        'b.conf:1:1: error: (VI_1) VRID 52 IPv4 has no instance in the peer config a.conf',
      ],
    );
  });

  it('version', () => {
    assert.deepEqual(pair({ ...MASTER, extra: '    version 3' }, BACKUP), [
      'a.conf:1:1: error: (VI_1) VRID 51: the VRRP version is 3 here but 2 in the peer config (both directors must speak the same version)',
      'b.conf:1:1: error: (VI_1) VRID 51: the VRRP version is 2 here but 3 in the peer config (both directors must speak the same version)',
    ]);
  });

  it('advert_int', () => {
    assert.deepEqual(pair({ ...MASTER, extra: '    advert_int 2' }, BACKUP), [
      'a.conf:1:1: error: (VI_1) VRID 51: advert_int is 2 s here but 1 s in the peer config (VRRPv2 drops adverts with another interval)',
      'b.conf:1:1: error: (VI_1) VRID 51: advert_int is 1 s here but 2 s in the peer config (VRRPv2 drops adverts with another interval)',
    ]);
  });

  it('authentication', () => {
    const auth = (p: string) => `    authentication {\n        auth_type PASS\n        auth_pass ${p}\n    }`;
    assert.deepEqual(pair({ ...MASTER, extra: auth('one') }, { ...BACKUP, extra: auth('two') }), [
      "a.conf:1:1: error: (VI_1) VRID 51: authentication is PASS 'one' here but PASS 'two' in the peer config (each director drops the other's adverts)",
      "b.conf:1:1: error: (VI_1) VRID 51: authentication is PASS 'two' here but PASS 'one' in the peer config (each director drops the other's adverts)",
    ]);
  });

  it('VIP lists', () => {
    assert.deepEqual(pair(MASTER, { ...BACKUP, vips: '10.0.0.100/24\n        10.0.0.101/24' }), [
      'a.conf:1:1: error: (VI_1) VRID 51: the virtual_ipaddress list is 10.0.0.100/24 here but 10.0.0.100/24, 10.0.0.101/24 in the peer config (the VIPs move with the master: both lists must be the same)',
      'b.conf:1:1: error: (VI_1) VRID 51: the virtual_ipaddress list is 10.0.0.100/24, 10.0.0.101/24 here but 10.0.0.100/24 in the peer config (the VIPs move with the master: both lists must be the same)',
    ]);
  });

  it('unicast peers that do not point at each other', () => {
    const uni = (src: string, peer: string) =>
      `    unicast_src_ip ${src}\n    unicast_peer {\n        ${peer}\n    }`;
    assert.deepEqual(
      pair(
        { ...MASTER, extra: uni('10.0.0.11', '10.0.0.13') },
        { ...BACKUP, extra: uni('10.0.0.12', '10.0.0.11') },
      ),
      [
        "a.conf:1:1: error: (VI_1) VRID 51: unicast_peer does not list the peer's unicast_src_ip 10.0.0.12",
        "b.conf:1:1: error: (VI_1) VRID 51: unicast_src_ip 10.0.0.12 is not among the peer config's unicast_peer addresses",
      ],
    );
    assert.deepEqual(pair({ ...MASTER, extra: uni('10.0.0.11', '10.0.0.12') }, BACKUP), [
      'a.conf:1:1: error: (VI_1) VRID 51: the transport is unicast here but multicast in the peer config',
      'b.conf:1:1: error: (VI_1) VRID 51: the transport is multicast here but unicast in the peer config',
    ]);
  });

  it('priorities that elect the wrong master, or nobody in particular', () => {
    assert.deepEqual(pair({ state: 'MASTER', priority: 100 }, { state: 'BACKUP', priority: 150 }), [
      "a.conf:1:1: error: (VI_1) VRID 51: state MASTER has priority 100, but the BACKUP's is 150: the BACKUP becomes master (give the intended master the higher priority)",
      "b.conf:1:1: error: (VI_1) VRID 51: state MASTER has priority 100, but the BACKUP's is 150: the BACKUP becomes master (give the intended master the higher priority)",
    ]);
    assert.deepEqual(pair(BACKUP, BACKUP), [
      'a.conf:1:1: warning: (VI_1) VRID 51: priority is 100 here but 100 in the peer config (equal priorities: the master is the director with the higher primary address, not a choice)',
      'b.conf:1:1: warning: (VI_1) VRID 51: priority is 100 here but 100 in the peer config (equal priorities: the master is the director with the higher primary address, not a choice)',
    ]);
  });

  it('virtual servers that differ, or exist on one side only', () => {
    assert.deepEqual(pair(MASTER, { ...BACKUP, vs: '        weight 5' }), [
      'a.conf:11:1: error: virtual_server 10.0.0.100:80 TCP differs from the peer config in: realServers',
      'b.conf:11:1: error: virtual_server 10.0.0.100:80 TCP differs from the peer config in: realServers',
    ]);
    const ca = parseKeepalivedText(conf(MASTER), 'a.conf', { hostChecks: 'off' }).config;
    const cb = parseKeepalivedText(conf(BACKUP).replace('10.0.0.100 80', '10.0.0.100 443'), 'b.conf', {
      hostChecks: 'off',
    }).config;
    assert.ok(ca && cb);
    assert.deepEqual(
      checkPair({ file: 'a.conf', config: ca }, { file: 'b.conf', config: cb }).map(formatDiagnostic),
      [
        'a.conf:11:1: error: virtual_server 10.0.0.100:80 TCP is not in the peer config b.conf',
        'b.conf:11:1: error: virtual_server 10.0.0.100:443 TCP is not in the peer config a.conf',
      ],
    );
  });
});

describe('halo config check A B / --peer', () => {
  const a = join(dir, 'a.conf');
  const b = join(dir, 'b.conf');
  writeFileSync(a, conf(MASTER));
  writeFileSync(b, conf({ ...BACKUP, extra: '    advert_int 2' }));
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [`${ROOT}dist/src/cli/main.js`, 'config', 'check', '--host-checks', 'off', ...args],
      {
        encoding: 'utf8',
      },
    );
  it('two files: exit 1 with the disagreement on both', () => {
    const r = run(a, b);
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`${a}:1:1: error: \\(VI_1\\) VRID 51: advert_int is 1 s here but 2 s`));
    assert.match(r.stdout, new RegExp(`${b}:1:1: error: \\(VI_1\\) VRID 51: advert_int is 2 s here but 1 s`));
  });
  it('--peer, and one file with @ID lines checked as two directors', () => {
    const self = run('-f', a, '--peer', a);
    assert.equal(self.status, 0, 'equal priorities are a warning');
    assert.match(self.stdout, /warning: \(VI_1\) VRID 51: priority is 150 here but 150 in the peer config/);
    const lab = join(ROOT, 'conf/lab-director.conf');
    const r = run('-f', lab, '--config-id', 'd1', '--peer', lab, '--peer-config-id', 'd2');
    assert.equal(r.status, 0, r.stdout);
  });
});
