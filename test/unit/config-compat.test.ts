// biome-ignore-all lint/suspicious/noTemplateCurlyInString: keepalived's ${NAME} syntax is what these tests are about
/**
 * keepalived.conf compatibility (issue 11) and keepalived's built-in definitions (issue 9): each case
 * asserts the exact diagnostic (FILE:LINE:COL, severity, text) and whether the config is accepted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { ALL_TABLES } from '../../src/config/keywords.js';
import type { HostProbe } from '../../src/config/semantic.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

type Opts = Parameters<typeof parseKeepalivedText>[2];
function parse(text: string, opts: Opts = {}) {
  const r = parseKeepalivedText(text, 'c.conf', { host: anyHost, configId: 'lb1', ...opts });
  return { ...r, lines: r.diagnostics.map(formatDiagnostic) };
}

const VI = (body: string, vips = '10.0.0.1/24') =>
  `vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        ${vips}\n    }\n${body}\n}\n`;

describe('missed mistakes keepalived flags', () => {
  it('smtp_server that is neither an address nor a host name', () => {
    const r = parse('global_defs {\n  smtp_server ** 25\n}\n');
    assert.deepEqual(r.lines, ["c.conf:2:15: error: smtp_server: '**' is not an IP address or a host name"]);
    assert.equal(
      parse('global_defs {\n  smtp_server smtp.example.com 25\n}\n').config?.global.smtpServer?.host,
      'smtp.example.com',
    );
  });

  it('vrrp_garp_interval 0 and vrrp_gna_interval 0 (keepalived: 0.000001 s at least, ignores the line)', () => {
    // Debian's sample keepalived.conf has both lines: keepalived logs them and runs, so halo warns and runs.
    const r = parse('global_defs {\n  vrrp_garp_interval 0\n  vrrp_gna_interval 0\n}\n');
    assert.deepEqual(r.lines, [
      'c.conf:2:22: warning: vrrp_garp_interval: 0 s is outside the range [0.000001, 4294.967295] s: line ignored (an error with --strict)',
      'c.conf:3:21: warning: vrrp_gna_interval: 0 s is outside the range [0.000001, 4294.967295] s: line ignored (an error with --strict)',
    ]);
    assert.equal(r.config?.global.vrrpGarpIntervalMs, 0, 'the default applies');
    assert.deepEqual(parse('global_defs {\n  vrrp_garp_interval 0\n}\n', { strict: true }).lines, [
      'c.conf:2:22: error: vrrp_garp_interval: 0 s is outside the range [0.000001, 4294.967295] s',
    ]);
    assert.equal(
      parse('global_defs {\n  vrrp_garp_interval 0.001\n}\n').config?.global.vrrpGarpIntervalMs,
      1,
    );
  });

  it('VIPs that cannot be a virtual address', () => {
    const r = parse(VI('', '0.0.0.0/0\n        224.0.0.18\n        255.255.255.255\n        ::'));
    const hint = ' (a virtual IP is one unicast address that clients connect to)';
    assert.deepEqual(r.lines, [
      `c.conf:5:9: error: (VI_1) virtual IP address 0.0.0.0/0 is the unspecified address (0.0.0.0)${hint}`,
      `c.conf:6:9: error: (VI_1) virtual IP address 224.0.0.18 is a multicast address${hint}`,
      `c.conf:7:9: error: (VI_1) virtual IP address 255.255.255.255 is the broadcast address${hint}`,
      'c.conf:8:9: error: (VI_1) virtual IP :: is IPv6 but the instance is IPv4 (put other-family addresses in virtual_ipaddress_excluded or in a separate instance)',
      `c.conf:8:9: error: (VI_1) virtual IP address :: is the unspecified address (::)${hint}`,
    ]);
    assert.equal(r.config, undefined);
  });

  it('an over-long auth_pass is truncated with a warning, as keepalived does', () => {
    const r = parse(VI('    authentication {\n        auth_type PASS\n        auth_pass 123456789\n    }'));
    assert.deepEqual(r.lines, [
      "c.conf:9:19: warning: auth_pass is longer than 8 characters; only '12345678' is used",
    ]);
    assert.equal(r.config?.vrrpInstances[0].authentication?.password, '12345678');
  });

  it('a fwmark real server with a port: keepalived clears the port with a warning, so does halo', () => {
    const r = parse(
      'virtual_server fwmark 1 {\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.2 80 {\n  }\n}\n',
    );
    assert.deepEqual(r.lines, [
      'c.conf:4:24: warning: virtual_server fwmark 1 real_server 10.0.0.2: fwmark service real server has port 80 specified - port cleared',
    ]);
    assert.equal(r.config?.virtualServers[0].realServers[0].port, 0);
  });

  it('an interface name Linux refuses (keepalived: "too long - ignoring")', () => {
    const r = parse(VI('').replace('interface eth0', 'interface KEEPALIVE_INTERFACE'));
    assert.deepEqual(r.lines, [
      "c.conf:2:15: error: interface: 'KEEPALIVE_INTERFACE' is not a valid interface name: longer than 15 characters (19)",
    ]);
  });

  it('a notify script given twice: the first is kept, as keepalived does, with a warning', () => {
    const r = parse(VI('    notify_master "/bin/a x"\n    notify_master "/bin/a y"'));
    assert.deepEqual(r.lines, [
      "c.conf:8:5: warning: 'notify_master' is already given at line 7; keepalived keeps that one and ignores this (remove one of them)",
    ]);
    assert.equal(r.config?.vrrpInstances[0].notify.master, '/bin/a x');
  });
});

describe('invisible characters and the byte-order mark', () => {
  it('a line indented with U+3000 names the character and keeps reading the keyword', () => {
    const r = parse('global_defs {\n\u3000\u3000router_id LB1\n}\n');
    assert.deepEqual(r.lines, [
      'c.conf:2:1: error: invisible character U+3000 IDEOGRAPHIC SPACE at column 1: keepalived does not read it as a blank, so it becomes part of a word (replace it with an ordinary space (it often comes with text copied from a web page))',
    ]);
    assert.equal(r.config, undefined);
  });

  it('a no-break space between keyword and value', () => {
    const r = parse(VI('    priority\u00a0150'));
    assert.deepEqual(r.lines, [
      'c.conf:7:13: error: invisible character U+00A0 NO-BREAK SPACE at column 13: keepalived does not read it as a blank, so it becomes part of a word (replace it with an ordinary space (it often comes with text copied from a web page))',
    ]);
  });

  it('inside quotes it is text, not a mistake', () => {
    const r = parse(VI('    notify_master "/bin/echo a\u00a0b"'));
    assert.deepEqual(r.lines, []);
    assert.equal(r.config?.vrrpInstances[0].notify.master, '/bin/echo a\u00a0b');
  });

  it('a UTF-8 BOM is stripped with a warning', () => {
    const r = parse(`\ufeff${VI('')}`);
    assert.deepEqual(r.lines, [
      'c.conf:1:1: warning: the file starts with a UTF-8 byte-order mark (U+FEFF); halo ignores it, keepalived reads it as part of the first word (save the file as UTF-8 without a BOM)',
    ]);
    assert.equal(r.config?.vrrpInstances[0].name, 'VI_1');
  });
});

describe('no follow-on "has no virtual_ipaddress"', () => {
  it('after an invalid VIP', () => {
    const r = parse(VI('', '10.0.0.300'));
    assert.deepEqual(r.lines, ["c.conf:5:9: error: invalid virtual IP address '10.0.0.300'"]);
  });
  it('but an instance that truly has none is warned, unless no_virtual_ipaddress says so', () => {
    const none = 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 5\n}\n';
    assert.deepEqual(parse(none).lines, [
      "c.conf:1:1: warning: (VI_1) has no virtual_ipaddress (add 'no_virtual_ipaddress' if that is intended)",
    ]);
    const r = parse(none.replace('virtual_router_id 5', 'virtual_router_id 5\n  no_virtual_ipaddress'));
    assert.deepEqual(r.lines, []);
    assert.equal(r.config?.vrrpInstances[0].noVirtualIpaddress, true);
  });
});

describe('keywords of keepalived releases after 2.2.7', () => {
  it('v3_checksum_as_v2 in global_defs and vrrp_instance sets the instance parameter', () => {
    const g = parse(`global_defs {\n  v3_checksum_as_v2\n}\n${VI('    version 3')}`);
    assert.deepEqual(g.lines, []);
    assert.equal(g.config?.vrrpInstances[0].v3ChecksumAsV2, true);
    const off = parse(
      `global_defs {\n  v3_checksum_as_v2\n}\n${VI('    version 3\n    v3_checksum_as_v2 false')}`,
    );
    assert.equal(off.config?.vrrpInstances[0].v3ChecksumAsV2, false);
    assert.equal(parse(VI('')).config?.vrrpInstances[0].v3ChecksumAsV2, false);
  });

  it('down_timer_adverts and old_unicast_checksum per instance', () => {
    const r = parse(VI('    down_timer_adverts 5\n    old_unicast_checksum never'));
    assert.deepEqual(r.lines, []);
    assert.equal(r.config?.vrrpInstances[0].downTimerAdverts, 5);
    assert.equal(r.config?.vrrpInstances[0].unicastChecksumCompat, 'never');
    const g = parse(`global_defs {\n  vrrp_down_timer_adverts 4\n}\n${VI('    old_unicast_checksum')}`);
    assert.equal(g.config?.vrrpInstances[0].downTimerAdverts, 4);
    assert.equal(g.config?.vrrpInstances[0].unicastChecksumCompat, 'always');
  });

  it('the others are warnings naming them (errors with --strict), not unknown keywords', () => {
    const text = `global_defs {\n  vrrp_delay_after_boot 30\n  vrrp_owner_ignore_adverts\n}\n${VI('    timer_expired_backup\n    auth_hmac {\n      key 1 secret\n    }')}`;
    assert.deepEqual(parse(text).lines, [
      "c.conf:2:3: warning: 'vrrp_delay_after_boot' in global_defs is not implemented by halo yet and is ignored",
      "c.conf:3:3: warning: 'vrrp_owner_ignore_adverts' in global_defs is not implemented by halo yet and is ignored",
      "c.conf:11:5: warning: 'timer_expired_backup' in vrrp_instance is not implemented by halo yet and is ignored",
      "c.conf:12:5: warning: 'auth_hmac' in vrrp_instance is not implemented by halo yet and is ignored",
    ]);
    assert.equal(parse(text, { strict: true }).config, undefined);
  });

  it('every keyword keepalived 2.2.8-2.4.x added is in the tables with its release', () => {
    const newer = [
      'v3_checksum_as_v2',
      'no_virtual_ipaddress',
      'timer_expired_backup',
      'json_version',
      'tls_compliant',
      'dbus_no_interface_name',
      'snmp_vs_stats_update_interval',
      'snmp_rs_stats_update_interval',
      'use_symlink_paths',
      'iproute_usr_dir',
      'iproute_etc_dir',
      'thread_timer_expired',
      'json_dump_file',
      'state_dump_file',
      'stats_dump_file',
      'owner_ignore_adverts',
      'vrrp_owner_ignore_adverts',
      'auth_hmac',
      'vrrp_delay_after_boot',
    ];
    for (const kw of newer) {
      const specs = ALL_TABLES.map((t) => t.keywords[kw]).filter((k) => k !== undefined);
      assert.ok(specs.length > 0, `${kw} is known`);
      assert.ok(
        specs.every((k) => k.since && k.since !== '2.2.7'),
        `${kw} carries the release that added it`,
      );
    }
  });
});

describe("keepalived's built-in definitions", () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'halo-builtin-')));
  const file = join(dir, 'k.conf');
  const router = (value: string, opts: Opts = {}) => {
    const text = `global_defs {\n  router_id ${value}\n}\n`;
    writeFileSync(file, text);
    const r = parseKeepalivedText(text, file, { host: anyHost, configId: 'lb1', ...opts });
    return { id: r.config?.global.routerId, lines: r.diagnostics.map(formatDiagnostic) };
  };

  it('${_PWD} is the directory of the file being read', () => {
    assert.equal(router('${_PWD}').id, dir);
    assert.equal(router('$_PWD').id, dir);
  });
  it('${_INSTANCE} is the config id', () => {
    assert.equal(router('r-${_INSTANCE}').id, 'r-lb1');
    assert.equal(router('${_INSTANCE}', { configId: 'node7' }).id, 'node7');
  });
  it('${_RANDOM}: 0..32767 by default, ${_RANDOM MIN MAX} within the bounds', () => {
    assert.equal(router('${_RANDOM}', { random: () => 0.5 }).id, '16384');
    assert.equal(router('${_RANDOM 10 20}', { random: () => 0 }).id, '10');
    assert.equal(router('${_RANDOM 10 20}', { random: () => 0.9999999 }).id, '20');
    assert.equal(router('${_RANDOM 7}', { random: () => 0 }).id, '7');
    assert.deepEqual(router('${_RANDOM a}').lines, [
      `${file}:2:3: error: 'router_id' needs a value`,
      `${file}:2:13: error: definition _RANDOM takes numbers only`,
    ]);
  });
  it('${_ENV NAME} is the environment variable (keepalived 2.4), empty when unset', () => {
    assert.equal(router('${_ENV HALO_T}', { env: { HALO_T: 'from-env' } }).id, 'from-env');
    assert.equal(router('x${_ENV HALO_UNSET}y', { env: {} }).id, 'xy');
  });
  it('$_HASH and $_BANG give the comment characters', () => {
    assert.equal(router('a$_HASH').id, 'a#');
    assert.equal(router('a$_HASH.x').id, 'a$_HASH.x', "'$NAME' needs a blank, ',' or ')' after it");
    assert.equal(router('a${_HASH}b${_BANG}c').id, 'a#b!c');
  });
  it('a user definition overrides a built-in, as in keepalived', () => {
    const text = '$_INSTANCE=mine\nglobal_defs {\n  router_id $_INSTANCE\n}\n';
    assert.equal(
      parseKeepalivedText(text, file, { host: anyHost, configId: 'lb1' }).config?.global.routerId,
      'mine',
    );
  });
  it("'$NAME' before another character is left as written, as keepalived does, with a hint", () => {
    const text = '$VIP=10.0.0.1\nglobal_defs {\n  router_id $VIP/24\n}\n';
    const r = parseKeepalivedText(text, 'c.conf', { host: anyHost });
    assert.equal(r.config?.global.routerId, '$VIP/24');
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "c.conf:3:13: warning: '$VIP' is not replaced here: keepalived replaces $NAME only before a blank, ',' or ')' (write '${VIP}/24')",
    ]);
  });
});
