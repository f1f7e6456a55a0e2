/**
 * Error tests: each kind of config mistake, asserting FILE:LINE:COL, severity,
 * message and hint exactly, and that the config is refused (or accepted with
 * only warnings).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function diagnose(
  text: string,
  opts: { strict?: boolean; host?: HostProbe; hostChecks?: 'warn' | 'error' | 'off' } = {},
) {
  const r = parseKeepalivedText(text, 'e.conf', { host: anyHost, ...opts });
  return { ok: r.config !== undefined, lines: r.diagnostics.map(formatDiagnostic) };
}

function refused(text: string, expected: string[], opts = {}): void {
  const r = diagnose(text, opts);
  assert.deepEqual(r.lines, expected);
  assert.equal(r.ok, false, 'the config must be refused');
}

function accepted(text: string, expected: string[], opts = {}): void {
  const r = diagnose(text, opts);
  assert.deepEqual(r.lines, expected);
  assert.equal(r.ok, true, 'the config must be accepted');
}

const VI = (body: string, name = 'VI_1', vrid = 51) =>
  `vrrp_instance ${name} {\n    interface eth0\n    virtual_router_id ${vrid}\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n${body}\n}\n`;

describe('keyword mistakes', () => {
  it('a misspelt keyword is an error with a did-you-mean hint', () => {
    refused(VI('    unicasti_src_ip 10.0.0.2'), [
      "e.conf:7:5: error: unknown keyword 'unicasti_src_ip' in vrrp_instance (did you mean 'unicast_src_ip'?)",
    ]);
    refused(VI('    advret_int 1'), [
      "e.conf:7:5: error: unknown keyword 'advret_int' in vrrp_instance (did you mean 'advert_int'?)",
    ]);
  });

  it('an unknown keyword with nothing close has no hint', () => {
    refused(VI('    bogus_keyword'), ["e.conf:7:5: error: unknown keyword 'bogus_keyword' in vrrp_instance"]);
  });

  it('a setting in the wrong block names the block it belongs in', () => {
    refused(
      'virtual_server 10.0.0.1 80 {\n  priority 100\n  real_server 10.0.0.2 80 {\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      ["e.conf:2:3: error: 'priority' is not valid in virtual_server (it belongs in vrrp_instance)"],
    );
    refused(VI('    delay_loop 5'), [
      "e.conf:7:5: error: 'delay_loop' is not valid in vrrp_instance (it belongs in virtual_server or real_server or TCP_CHECK)",
    ]);
  });

  it('a keyword halo does not implement yet is a warning naming it, an error under --strict', () => {
    accepted(VI('    unicast_ttl 5\n    debug 2'), [
      "e.conf:7:5: warning: 'unicast_ttl' in vrrp_instance is not implemented by halo yet and is ignored",
      "e.conf:8:5: warning: 'debug' in vrrp_instance is not implemented by halo yet and is ignored",
    ]);
    refused(
      VI('    unicast_ttl 5'),
      ["e.conf:7:5: error: 'unicast_ttl' in vrrp_instance is not implemented by halo yet and is ignored"],
      { strict: true },
    );
  });

  it('an obsolete keyword is a warning with its replacement', () => {
    accepted('global_defs {\n  lvs_id X\n}\n', [
      "e.conf:2:3: warning: 'lvs_id' in global_defs is obsolete (from an older keepalived release) and is ignored (use 'router_id' instead)",
    ]);
  });

  it('a value keyword with a block, and a block keyword without one', () => {
    refused(VI('    priority 100 {\n    }'), [
      "e.conf:7:18: error: 'priority' does not take a { ... } block",
    ]);
    refused(VI('    track_script chk'), ["e.conf:7:5: error: 'track_script' needs a { ... } block"]);
  });

  it('extra values are ignored with a warning naming them, as keepalived reads one keyword per line', () => {
    const r = diagnose(VI('    priority 150 200\n    nopreempt yes please'));
    assert.deepEqual(r.lines, [
      "e.conf:7:18: warning: 'priority' takes one value; keepalived reads one keyword per line: '200' is ignored (remove it)",
      "e.conf:8:15: warning: 'nopreempt' takes no value; keepalived reads one keyword per line: 'yes please' is ignored (remove it)",
    ]);
    assert.equal(r.ok, true);
    // keepalived's nopreempt reads no value: even 'nopreempt false' means nopreempt.
    const np = parseKeepalivedText(VI('    nopreempt false'), 'e.conf', { host: anyHost });
    assert.equal(np.config?.vrrpInstances[0].preempt, false);
    // Where keepalived does read true/false, so does halo.
    const sm = parseKeepalivedText(VI('    strict_mode off'), 'e.conf', { host: anyHost });
    assert.equal(sm.config?.vrrpInstances[0].strictMode, false);
    // The first value is kept, as under keepalived.
    const c = parseKeepalivedText(VI('    priority 150 200'), 'e.conf', { host: anyHost }).config;
    assert.equal(c?.vrrpInstances[0].priority, 150);
    refused(
      VI('    priority 150 200'),
      [
        "e.conf:7:18: error: 'priority' takes one value; keepalived reads one keyword per line: '200' is ignored (remove it)",
      ],
      { strict: true },
    );
  });

  it("a block written on one line: what follows the first keyword's values is ignored, as in keepalived", () => {
    const text =
      'virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  real_server 10.0.0.2 80 {\n    TCP_CHECK { connect_timeout 1 retry 0 }\n    HTTP_GET { url { path / } connect_ip 10.10.32.26 8000 }\n  }\n}\n';
    const r = parseKeepalivedText(text, 'e.conf', { host: anyHost });
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "e.conf:5:35: warning: 'connect_timeout' takes one value; keepalived reads one keyword per line: 'retry 0' is ignored (put it on its own line)",
      "e.conf:6:54: warning: 'connect_ip' takes one value; keepalived reads one keyword per line: '8000' is ignored (remove it)",
    ]);
    const [tcp, http] = r.config?.virtualServers[0].realServers[0].checkers ?? [];
    assert.ok(tcp?.type === 'TCP_CHECK' && http?.type === 'HTTP_GET');
    assert.equal(tcp.connectTimeoutMs, 1000);
    assert.equal(tcp.retry, 1, "'retry 0' is not applied");
    assert.equal(http.connectIp, '10.10.32.26');
  });

  it("';' after a value is an error pointing at the ';'", () => {
    refused('global_defs {\n   vrrp_garp_master_delay 5;\n}\n', [
      "e.conf:2:28: error: unexpected ';' after 'vrrp_garp_master_delay' (remove the ';': keepalived.conf does not end statements with ';')",
    ]);
    refused(VI('    virtual_ipaddress {\n        10.0.0.2/24;\n    }'), [
      "e.conf:8:9: error: invalid virtual IP address '10.0.0.2/24;' (remove the ';': keepalived.conf does not end statements with ';')",
    ]);
  });

  it('a missing required setting', () => {
    refused('vrrp_instance A {\n  interface eth0\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n', [
      "e.conf:6:1: error: vrrp_instance A: missing required 'virtual_router_id'",
    ]);
    refused('vrrp_script s {\n  interval 2\n}\n', [
      "e.conf:3:1: error: vrrp_script s: missing required 'script'",
    ]);
  });
});

describe('braces', () => {
  it('a missing } is reported on the block that is not closed, where the next block starts', () => {
    refused(`vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n\n${VI('', 'VI_2', 2)}`, [
      "e.conf:5:1: error: missing '}' to close 'vrrp_instance VI_1' (opened at line 1) ('vrrp_instance' starts a new top-level block here)",
    ]);
  });

  it('a missing } of an inner block is found from the indentation', () => {
    refused(
      'vrrp_instance VI_1 {\n    interface eth0\n    virtual_ipaddress {\n        10.0.0.1\n    virtual_router_id 5\n}\n',
      [
        "e.conf:5:5: error: missing '}' to close 'virtual_ipaddress' (opened at line 3) (the '}' belongs before this line)",
        "e.conf:5:5: error: 'virtual_router_id' inside an address list (is a '}' missing above this line?)",
      ],
    );
  });

  it('a missing } at the end of the file', () => {
    refused('global_defs {\n  router_id A\n', [
      "e.conf:1:1: error: missing '}' to close 'global_defs' (opened at line 1) (the file ends while this block is open)",
    ]);
  });

  it('an extra } and an extra {', () => {
    refused('global_defs {\n  router_id A\n}\n}\n', [
      "e.conf:4:1: error: unexpected '}' (no block is open here)",
    ]);
    refused('global_defs { {\n  router_id A\n}\n}\n', [
      "e.conf:1:15: error: unexpected '{' (a block must follow a keyword)",
    ]);
  });
});

describe('values out of range and bad values', () => {
  it('VRID and priority ranges', () => {
    // keepalived logs an out-of-range value and runs on without the line: halo warns (--strict refuses).
    refused(VI('', 'VI_1', 0), [
      'e.conf:3:23: warning: virtual_router_id: 0 is outside the range [1, 255]: line ignored (an error with --strict)',
      "e.conf:8:1: error: vrrp_instance VI_1: missing required 'virtual_router_id'",
    ]);
    accepted(VI('    priority 300'), [
      'e.conf:7:14: warning: priority: 300 is outside the range [1, 255]: line ignored (an error with --strict)',
    ]);
    refused(VI('    priority 300'), ['e.conf:7:14: error: priority: 300 is outside the range [1, 255]'], {
      strict: true,
    });
    refused(VI('    priority high'), ["e.conf:7:14: error: priority: 'high' is not a whole number"]);
  });

  it('priority 255 is the address owner: a warning when combined with BACKUP', () => {
    accepted(VI('    priority 255'), [
      "e.conf:7:14: warning: (VI_1) priority 255 means this router owns the addresses: it becomes MASTER at once regardless of 'state BACKUP'",
    ]);
  });

  it('advert_int: whole seconds for v2, centiseconds up to 40.95 s for v3', () => {
    refused(VI('    advert_int 0.5'), [
      "e.conf:7:16: error: (VI_1) advert_int 0.5 is not a whole number of seconds, which VRRP version 2 requires (use 'version 3' for sub-second adverts)",
    ]);
    refused(VI('    version 3\n    advert_int 41'), [
      'e.conf:8:16: error: (VI_1) advert_int must be within 0.01-40.95 s with VRRP version 3',
    ]);
    refused(VI('    version 3\n    advert_int 0.015'), [
      'e.conf:8:16: error: (VI_1) advert_int 0.015 must be a multiple of 0.01 s with VRRP version 3',
    ]);
    refused(VI('    advert_int 1s'), ["e.conf:7:16: error: advert_int: '1s' is not a number of seconds"]);
  });

  it('bad addresses and address family mixes', () => {
    refused(VI('    virtual_ipaddress {\n        10.77.0.300/24\n    }'), [
      "e.conf:8:9: error: invalid virtual IP address '10.77.0.300/24'",
    ]);
    refused(VI('    virtual_ipaddress {\n        fd00::1\n    }'), [
      'e.conf:8:9: error: (VI_1) virtual IP fd00::1 is IPv6 but the instance is IPv4 (put other-family addresses in virtual_ipaddress_excluded or in a separate instance)',
    ]);
    // IPv6 instances default to VRRPv3; an explicit version 2 runs (as keepalived does) with a warning.
    accepted(
      'vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    fd00::1\n  }\n}\n',
      [],
    );
    accepted(
      'vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  version 2\n  virtual_ipaddress {\n    fd00::1\n  }\n}\n',
      [
        "e.conf:4:11: warning: (A) VRRP version 2 over IPv6 is not defined by any RFC (use 'version 3' to interoperate)",
      ],
    );
    refused(VI('    unicast_src_ip 10.0.0.2\n    unicast_peer {\n        fd00::2\n    }'), [
      'e.conf:9:9: error: (VI_1) fd00::2 is IPv6 but the instance is IPv4',
    ]);
    refused(VI('    virtual_ipaddress {\n        10.0.0.2/24 devv eth0\n    }'), [
      "e.conf:8:21: error: unknown virtual_ipaddress option 'devv' (did you mean 'dev'?)",
    ]);
  });

  it('state names are case-sensitive, as in keepalived', () => {
    refused(VI('    state master'), [
      "e.conf:7:11: error: state: 'master' is not one of MASTER, BACKUP (did you mean 'MASTER'?)",
    ]);
  });

  it('scheduler, forwarding method, weight, port and timer values', () => {
    refused(
      'virtual_server 10.0.0.1 80 {\n  lb_algo roundrobin\n  lb_kind nat\n  real_server 10.0.0.2 80 {\n   weight -1\n  }\n  protocol TCP\n}\n',
      [
        "e.conf:2:11: error: lb_algo: 'roundrobin' is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
        "e.conf:3:11: error: lb_kind: 'nat' is not one of NAT, DR, TUN (did you mean 'NAT'?)",
        'e.conf:5:11: warning: real_server weight: -1 is outside the range [0, 2147483647]: line ignored (an error with --strict)',
      ],
    );
    refused(
      'virtual_server 10.0.0.1 65536 {\n  real_server 10.0.0.2 80 {\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      ['e.conf:1:25: error: virtual_server port: 65536 is outside the range [0, 65535]'],
    );
    refused(
      'virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n    HTTP_GET {\n      connect_timeout 0\n    }\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      [
        'e.conf:4:23: warning: connect_timeout: 0 s is outside the range [0.001, 4294967295] s: line ignored (an error with --strict)',
        "e.conf:5:5: error: HTTP_GET needs at least one 'url' block",
      ],
    );
  });

  it('LVS consistency: port 0 without persistence, real server family', () => {
    refused(
      'virtual_server 10.0.0.1 0 {\n  real_server 10.0.0.2 80 {\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      [
        "e.conf:1:1: error: virtual_server 10.0.0.1:0: port 0 is only allowed for a persistent service (give a port or set 'persistence_timeout')",
      ],
    );
    refused(
      'virtual_server 10.0.0.1 80 {\n  real_server fd00::2 80 {\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      [
        'e.conf:2:3: error: virtual_server 10.0.0.1:80 real_server fd00::2: address family differs from the virtual server (IPv4)',
      ],
    );
  });
});

describe('references and uniqueness', () => {
  it('undefined vrrp_script, track_file, virtual_server_group and sync group members', () => {
    refused(
      `${VI('    track_script {\n        chk_ngnix\n    }')}vrrp_script chk_nginx {\n  script /bin/true\n}\n`,
      [
        "e.conf:8:9: error: (VI_1) track_script 'chk_ngnix' is not a defined vrrp_script (did you mean 'chk_nginx'?)",
      ],
    );
    refused(VI('    track_file {\n        tf1\n    }'), [
      "e.conf:8:9: error: (VI_1) track_file 'tf1' is not a defined track_file",
    ]);
    refused(
      'virtual_server group WEB {\n  real_server 10.0.0.2 80 {\n  }\n  protocol TCP\n  lb_algo wlc\n}\n',
      ["e.conf:1:22: error: virtual_server group WEB: 'WEB' is not a defined virtual_server_group"],
    );
    refused(`${VI('')}${VI('', 'VI_2', 52)}vrrp_sync_group G {\n  group {\n    VI_1\n    VI_3\n  }\n}\n`, [
      "e.conf:20:5: error: vrrp_sync_group G: 'VI_3' is not a defined vrrp_instance (did you mean 'VI_1'?)",
    ]);
  });

  it('duplicate VRIDs on one interface and family (keepalived refuses to start on these)', () => {
    refused(VI('') + VI('', 'VI_2', 51), [
      'e.conf:11:23: error: VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0 (a VRID must be unique per interface and address family)',
    ]);
    // Same VRID on another interface is fine.
    accepted(VI('') + VI('', 'VI_2', 51).replace('eth0', 'eth1'), []);
  });

  it('duplicate names', () => {
    refused(VI('') + VI('', 'VI_1', 52), ["e.conf:9:1: error: vrrp_instance 'VI_1' is defined twice"]);
  });

  it('a sync group of one instance is a warning', () => {
    accepted(`${VI('')}vrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\n`, [
      "e.conf:9:1: warning: vrrp_sync_group G has only one instance - this probably isn't what you want",
    ]);
  });
});

describe('host checks', () => {
  const bareHost: HostProbe = {
    interfaceExists: (n) => n === 'eth0',
    scriptProblem: (p) => (p === '/bin/true' ? undefined : 'does not exist'),
    userExists: () => false,
    groupExists: () => false,
  };
  const text = `vrrp_script chk {\n  script "/usr/local/bin/chk --fast"\n  user halo\n}\n${VI('    track_interface {\n        eth7\n    }\n    notify_master /bin/true').replace('interface eth0', 'interface eth1')}`;

  it('are warnings for config check (the config may be for another machine)', () => {
    accepted(
      text,
      [
        "e.conf:2:10: warning: vrrp_script chk: '/usr/local/bin/chk' does not exist (on this host)",
        "e.conf:3:8: warning: vrrp_script chk: user 'halo' does not exist (on this host)",
        "e.conf:6:15: warning: (VI_1): interface 'eth1' does not exist (on this host)",
        "e.conf:12:9: warning: (VI_1) track_interface: interface 'eth7' does not exist (on this host)",
      ],
      { host: bareHost, hostChecks: 'warn' },
    );
  });

  it('are errors when the daemon starts with the config', () => {
    const r = diagnose(text, { host: bareHost, hostChecks: 'error' });
    assert.equal(r.ok, false);
    assert.equal(r.lines.length, 4);
    assert.ok(r.lines.every((l) => l.includes(': error: ')));
  });

  it('can be turned off', () => {
    accepted(text, [], { host: bareHost, hostChecks: 'off' });
  });
});
