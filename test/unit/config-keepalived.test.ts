/**
 * Golden tests: a keepalived.conf snippet per block/option and the model fields
 * it must produce, including keepalived 2.2.7's defaults and inheritance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloConfig, PolledChecker } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

/** Parses and insists on no diagnostics at all but the warnings the test expects (matched in order). */
function model(text: string, opts: { configId?: string; warnings?: RegExp[] } = {}): HaloConfig {
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost, configId: opts.configId });
  const got = r.diagnostics.map(formatDiagnostic);
  const want = opts.warnings ?? [];
  assert.equal(got.length, want.length, got.join('\n'));
  for (const [i, re] of want.entries()) assert.match(got[i], re);
  assert.ok(r.config);
  return r.config;
}

const VI = (body: string, name = 'VI_1') =>
  `vrrp_instance ${name} {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24\n }\n${body}\n}\n`;

/** A virtual server; protocol and scheduler are given because keepalived (and halo) warn when they are not. */
const VS = (body: string, head = '10.0.0.100 80') =>
  `virtual_server ${head} {\n${head.startsWith('fwmark') ? '' : 'protocol TCP\n'}lb_algo wlc\n${body}\n}\n`;

describe('global_defs', () => {
  it('fills keepalived defaults when empty', () => {
    const g = model('global_defs {\n}\n').global;
    assert.equal(g.routerId, undefined);
    assert.equal(g.vrrpVersion, 2);
    assert.equal(g.vrrpMcastGroup4, '224.0.0.18');
    assert.equal(g.vrrpMcastGroup6, 'ff02::12');
    assert.equal(g.vrrpGarpMasterDelayMs, 5000);
    assert.equal(g.vrrpGarpMasterRepeat, 5);
    assert.equal(g.vrrpGarpMasterRefreshMs, 0);
    assert.equal(g.vrrpGarpMasterRefreshRepeat, 1);
    assert.equal(g.smtpConnectTimeoutMs, 30_000);
    assert.equal(g.enableScriptSecurity, false);
    assert.equal(g.vrrpStrict, false);
    assert.deepEqual(g.notificationEmail, []);
    assert.deepEqual(g.source, { file: 'k.conf', line: 1, col: 1 });
  });

  it('reads every implemented option', () => {
    const g = model(`global_defs {
  router_id LB1
  notification_email {
    a@example.com
    b@example.com
  }
  notification_email_from lb@example.com
  smtp_server 192.0.2.25 2525
  smtp_helo_name lb1.example.com
  smtp_connect_timeout 10
  smtp_alert
  enable_script_security
  script_user nobody nogroup
  default_interface eth1
  dynamic_interfaces
  vrrp_version 3
  vrrp_mcast_group4 224.0.0.19
  vrrp_mcast_group6 ff02::13
  vrrp_strict
  vrrp_skip_check_adv_addr
  vrrp_check_unicast_src
  vrrp_garp_master_delay 2
  vrrp_garp_master_repeat 3
  vrrp_garp_master_refresh 60
  vrrp_garp_master_refresh_repeat 2
  vrrp_garp_lower_prio_delay 1
  vrrp_garp_lower_prio_repeat 2
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.000100
  vrrp_lower_prio_no_advert
  vrrp_higher_prio_send_advert true
  vrrp_down_timer_adverts 5
  vrrp_startup_delay 2.5
  lvs_flush
  lvs_flush_on_stop RS
  lvs_timeouts tcp 900 tcpfin 120 udp 300
  notify_fifo /run/halo.fifo
  notify_fifo_script /usr/local/bin/fifo.sh
  vrrp_notify_fifo /run/vrrp.fifo
  lvs_notify_fifo /run/lvs.fifo
  checker_log_all_failures
}
`).global;
    assert.equal(g.routerId, 'LB1');
    assert.deepEqual(g.notificationEmail, ['a@example.com', 'b@example.com']);
    assert.equal(g.notificationEmailFrom, 'lb@example.com');
    assert.deepEqual(g.smtpServer, { host: '192.0.2.25', port: 2525 });
    assert.equal(g.smtpHeloName, 'lb1.example.com');
    assert.equal(g.smtpConnectTimeoutMs, 10_000);
    assert.equal(g.smtpAlert, true);
    assert.equal(g.enableScriptSecurity, true);
    assert.deepEqual(g.scriptUser, { user: 'nobody', group: 'nogroup' });
    assert.equal(g.defaultInterface, 'eth1');
    assert.equal(g.dynamicInterfaces, true);
    assert.equal(g.vrrpVersion, 3);
    assert.equal(g.vrrpMcastGroup4, '224.0.0.19');
    assert.equal(g.vrrpMcastGroup6, 'ff02::13');
    assert.equal(g.vrrpStrict, true);
    assert.equal(g.vrrpSkipCheckAdvAddr, true);
    assert.equal(g.vrrpCheckUnicastSrc, true);
    assert.equal(g.vrrpGarpMasterDelayMs, 2000);
    assert.equal(g.vrrpGarpMasterRepeat, 3);
    assert.equal(g.vrrpGarpMasterRefreshMs, 60_000);
    assert.equal(g.vrrpGarpMasterRefreshRepeat, 2);
    assert.equal(g.vrrpGarpLowerPrioDelayMs, 1000);
    assert.equal(g.vrrpGarpLowerPrioRepeat, 2);
    assert.equal(g.vrrpGarpIntervalMs, 1);
    assert.equal(g.vrrpGnaIntervalMs, 0.1);
    assert.equal(g.vrrpLowerPrioNoAdvert, true);
    assert.equal(g.vrrpHigherPrioSendAdvert, true);
    assert.equal(g.vrrpDownTimerAdverts, 5);
    assert.equal(g.vrrpStartupDelayMs, 2500);
    assert.equal(g.lvsFlush, true);
    assert.equal(g.lvsFlushOnStop, 'rs');
    assert.deepEqual(g.lvsTimeouts, { tcpMs: 900_000, tcpFinMs: 120_000, udpMs: 300_000 });
    assert.deepEqual(g.notifyFifo, { path: '/run/halo.fifo', script: '/usr/local/bin/fifo.sh' });
    assert.deepEqual(g.vrrpNotifyFifo, { path: '/run/vrrp.fifo' });
    assert.deepEqual(g.lvsNotifyFifo, { path: '/run/lvs.fifo' });
    assert.equal(g.checkerLogAllFailures, true);
  });
});

describe('vrrp_script and track_file', () => {
  it('vrrp_script defaults: interval 1 s, timeout = interval, weight 0, rise/fall 1', () => {
    const s = model('vrrp_script chk {\n  script "/usr/bin/pgrep -x nginx"\n}\n').vrrpScripts[0];
    assert.deepEqual(
      { ...s, source: undefined },
      {
        name: 'chk',
        script: '/usr/bin/pgrep -x nginx',
        intervalMs: 1000,
        timeoutMs: 1000,
        weight: 0,
        weightReverse: false,
        rise: 1,
        fall: 1,
        initFail: false,
        source: undefined,
      },
    );
  });

  it('vrrp_script options', () => {
    const s = model(
      'vrrp_script chk {\n script /bin/check arg1\n interval 2\n timeout 1.5\n weight -20 reverse\n rise 3\n fall 2\n user nobody nogroup\n init_fail\n}\n',
    ).vrrpScripts[0];
    assert.equal(s.script, '/bin/check arg1');
    assert.equal(s.intervalMs, 2000);
    assert.equal(s.timeoutMs, 1500);
    assert.equal(s.weight, -20);
    assert.equal(s.weightReverse, true);
    assert.equal(s.rise, 3);
    assert.equal(s.fall, 2);
    assert.equal(s.user, 'nobody');
    assert.equal(s.group, 'nogroup');
    assert.equal(s.initFail, true);
  });

  it('track_file and vrrp_track_file (its older name), weight default 1, init_file', () => {
    const c = model(
      'track_file tf1 {\n file /run/tf1\n}\nvrrp_track_file tf2 {\n file /run/tf2\n weight -5 reverse\n init_file 7 overwrite\n}\n',
    );
    assert.deepEqual(
      c.trackFiles.map((f) => ({ ...f, source: undefined })),
      [
        { name: 'tf1', file: '/run/tf1', weight: 1, weightReverse: false, source: undefined },
        {
          name: 'tf2',
          file: '/run/tf2',
          weight: -5,
          weightReverse: true,
          initFile: { value: 7, overwrite: true },
          source: undefined,
        },
      ],
    );
  });
});

describe('vrrp_instance', () => {
  it('fills the defaults: BACKUP, priority 100, advert 1 s, v2, preempt, accept, garp from global', () => {
    const vi = model(VI('')).vrrpInstances[0];
    assert.equal(vi.state, 'BACKUP');
    assert.equal(vi.priority, 100);
    assert.equal(vi.advertIntervalMs, 1000);
    assert.equal(vi.version, 2);
    assert.equal(vi.family, 4);
    assert.equal(vi.preempt, true);
    assert.equal(vi.preemptDelayMs, 0);
    assert.equal(vi.accept, true);
    assert.equal(vi.garpMasterDelayMs, 5000);
    assert.equal(vi.garpMasterRepeat, 5);
    assert.equal(vi.garpMasterRefreshMs, 0);
    assert.equal(vi.strictMode, false);
    assert.deepEqual(vi.notify, {});
    assert.deepEqual(vi.source, { file: 'k.conf', line: 1, col: 1 });
  });

  it('inherits version, garp settings, strict mode and default_interface from global_defs', () => {
    const text = `global_defs {\n vrrp_version 3\n vrrp_garp_master_delay 1\n vrrp_garp_master_repeat 2\n vrrp_strict\n default_interface eth9\n}\nvrrp_instance V {\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n garp_master_repeat 7\n}\n`;
    // halo enforces no_accept with no firewall rules, and says so.
    const vi = model(text, {
      warnings: [/warning: \(V\) strict mode implies no_accept, which is not enforced/],
    }).vrrpInstances[0];
    assert.equal(vi.version, 3);
    assert.equal(vi.interface, 'eth9');
    assert.equal(vi.garpMasterDelayMs, 1000);
    assert.equal(vi.garpMasterRepeat, 7);
    assert.equal(vi.strictMode, true);
    assert.equal(vi.accept, false, 'strict mode turns accept off');
  });

  it('reads the options a VRRP operator uses', () => {
    const vi = model(
      `vrrp_script chk {\n script /bin/true\n weight 10\n}\ntrack_file tf {\n file /run/x\n weight 3\n}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  version 2
  preempt_delay 5
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    10.0.0.1/24 dev eth1 brd 10.0.0.255 label eth1:vip scope global no_track
    10.0.0.2
  }
  virtual_ipaddress_excluded {
    fd00::1/64
  }
  virtual_routes {
    src 10.0.0.1 to 192.0.2.0/24 via 10.0.0.254 dev eth0 table 100 metric 5
    blackhole 198.51.100.0/24 dev eth0
    default via 10.0.0.254 no_track
  }
  unicast_src_ip 10.0.0.11
  unicast_peer {
    10.0.0.12
    10.0.0.13 min_ttl 250 max_ttl 255
  }
  mcast_src_ip 10.0.0.11
  track_interface {
    eth1
    eth2 weight -30
  }
  track_script {
    chk
    chk weight -5 reverse
  }
  track_file {
    tf
  }
  dont_track_primary
  notify_master "/etc/halo/notify.sh master"
  notify_backup /etc/halo/notify.sh backup
  notify_fault /etc/halo/fault.sh
  notify_stop /etc/halo/stop.sh
  notify /etc/halo/any.sh
  notify_master_rx_lower_pri /etc/halo/lower.sh
  smtp_alert
  garp_master_delay 3
  garp_master_repeat 2
  garp_master_refresh 30
  garp_master_refresh_repeat 4
  garp_lower_prio_delay 2
  garp_lower_prio_repeat 1
  lower_prio_no_advert
  higher_prio_send_advert
  no_accept
  skip_check_adv_addr
  check_unicast_src
  use_vmac vrrp51
  vmac_xmit_base
}
`,
      { warnings: [/warning: \(VI_1\) no_accept is not enforced: halo installs no firewall rules/] },
    ).vrrpInstances[0];
    assert.equal(vi.state, 'MASTER');
    assert.equal(vi.interface, 'eth0');
    assert.equal(vi.virtualRouterId, 51);
    assert.equal(vi.priority, 150);
    assert.equal(vi.preempt, true);
    assert.equal(vi.preemptDelayMs, 5000);
    assert.deepEqual(vi.authentication, { type: 'PASS', password: 'secret' });
    const [v1, v2] = vi.virtualIpaddresses;
    assert.deepEqual(
      { ...v1, source: undefined },
      {
        address: '10.0.0.1',
        prefixLength: 24,
        family: 4,
        dev: 'eth1',
        broadcast: '10.0.0.255',
        label: 'eth1:vip',
        scope: 'global',
        noTrack: true,
        noprefixroute: false,
        homeaddress: false,
        nodad: false,
        source: undefined,
      },
    );
    assert.equal(v2.prefixLength, 32, 'a bare address is a /32');
    assert.equal(vi.virtualIpaddressesExcluded[0].family, 6);
    assert.equal(vi.virtualIpaddressesExcluded[0].prefixLength, 64);
    assert.deepEqual(
      vi.virtualRoutes.map((r) => ({ ...r, source: undefined })),
      [
        {
          src: '10.0.0.1',
          destination: '192.0.2.0/24',
          via: '10.0.0.254',
          dev: 'eth0',
          table: 100,
          metric: 5,
          type: 'unicast',
          family: 4,
          mode: 'prepend',
          onlink: false,
          noTrack: false,
          source: undefined,
        },
        {
          destination: '198.51.100.0/24',
          type: 'blackhole',
          dev: 'eth0',
          family: 4,
          mode: 'prepend',
          onlink: false,
          noTrack: false,
          source: undefined,
        },
        {
          destination: 'default',
          via: '10.0.0.254',
          type: 'unicast',
          family: 4,
          mode: 'prepend',
          onlink: false,
          noTrack: true,
          source: undefined,
        },
      ],
    );
    assert.equal(vi.unicastSrcIp, '10.0.0.11');
    assert.deepEqual(vi.unicastPeers, [
      { address: '10.0.0.12' },
      { address: '10.0.0.13', minTtl: 250, maxTtl: 255 },
    ]);
    assert.equal(vi.mcastSrcIp, '10.0.0.11');
    assert.deepEqual(vi.trackInterfaces, [
      { name: 'eth1', weight: 0, weightReverse: false },
      { name: 'eth2', weight: -30, weightReverse: false },
    ]);
    assert.deepEqual(vi.trackScripts, [
      { name: 'chk', weight: 10, weightReverse: false },
      { name: 'chk', weight: -5, weightReverse: true },
    ]);
    assert.deepEqual(vi.trackFiles, [{ name: 'tf', weight: 3, weightReverse: false }]);
    assert.equal(vi.dontTrackPrimary, true);
    assert.deepEqual(vi.notify, {
      master: '/etc/halo/notify.sh master',
      backup: '/etc/halo/notify.sh backup',
      fault: '/etc/halo/fault.sh',
      stop: '/etc/halo/stop.sh',
      any: '/etc/halo/any.sh',
      masterRxLowerPri: '/etc/halo/lower.sh',
    });
    assert.equal(vi.smtpAlert, true);
    assert.equal(vi.garpMasterDelayMs, 3000);
    assert.equal(vi.garpMasterRepeat, 2);
    assert.equal(vi.garpMasterRefreshMs, 30_000);
    assert.equal(vi.garpMasterRefreshRepeat, 4);
    assert.equal(vi.garpLowerPrioDelayMs, 2000);
    assert.equal(vi.garpLowerPrioRepeat, 1);
    assert.equal(vi.lowerPrioNoAdvert, true);
    assert.equal(vi.higherPrioSendAdvert, true);
    assert.equal(vi.accept, false);
    assert.equal(vi.skipCheckAdvAddr, true);
    assert.equal(vi.checkUnicastSrc, true);
    assert.deepEqual(vi.useVmac, { name: 'vrrp51' });
    assert.equal(vi.vmacXmitBase, true);
  });

  it('nopreempt and preempt', () => {
    assert.equal(model(VI('nopreempt')).vrrpInstances[0].preempt, false);
    assert.equal(model(VI('nopreempt\npreempt')).vrrpInstances[0].preempt, true);
  });

  it('v3 with a centisecond advert interval and IPv6 addresses', () => {
    const vi = model(
      'vrrp_instance V6 {\n version 3\n interface eth0\n virtual_router_id 7\n advert_int 0.05\n virtual_ipaddress {\n  fd00::10/64\n }\n}\n',
    ).vrrpInstances[0];
    assert.equal(vi.version, 3);
    assert.equal(vi.family, 6);
    assert.equal(vi.advertIntervalMs, 50);
  });

  it('accepts the block brace on the next line and keywords after a brace', () => {
    const vi = model(
      'vrrp_instance A\n{ interface eth0\n virtual_router_id 9\n virtual_ipaddress { 10.0.0.9 } }\n',
    ).vrrpInstances[0];
    assert.equal(vi.virtualRouterId, 9);
  });
});

describe('vrrp_sync_group', () => {
  it('reads group members, notify scripts and tracking', () => {
    const c = model(
      `${VI('', 'A')}${VI('', 'B').replace('virtual_router_id 51', 'virtual_router_id 52')}vrrp_script s {\n script /bin/true\n weight 4\n}\nvrrp_sync_group G {\n group {\n  A\n  B\n }\n notify_master /bin/m\n notify /bin/any\n track_script {\n  s\n }\n track_interface {\n  eth1 weight 10\n }\n smtp_alert\n}\n`,
    );
    const g = c.syncGroups[0];
    assert.deepEqual(g.group, ['A', 'B']);
    assert.deepEqual(g.notify, { master: '/bin/m', any: '/bin/any' });
    assert.deepEqual(g.trackScripts, [{ name: 's', weight: 4, weightReverse: false }]);
    assert.deepEqual(g.trackInterfaces, [{ name: 'eth1', weight: 10, weightReverse: false }]);
    assert.equal(g.smtpAlert, true);
  });
});

describe('virtual_server', () => {
  it('without protocol and scheduler: UDP and wlc with warnings, as keepalived 2.2.7 does', () => {
    const r = parseKeepalivedText(
      'virtual_server 10.0.0.1 53 {\n real_server 10.0.1.1 53 {\n }\n}\n',
      'k.conf',
      {
        host: anyHost,
      },
    );
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "k.conf:1:1: warning: virtual_server 10.0.0.1 53: no protocol set - defaulting to UDP, as keepalived does (add 'protocol TCP' if this is a TCP service)",
      "k.conf:1:1: warning: virtual_server 10.0.0.1 53: no scheduler set - using 'wlc', as keepalived does (set 'lb_algo')",
    ]);
    assert.equal(r.config?.virtualServers[0].protocol, 'UDP');
    assert.equal(r.config?.virtualServers[0].scheduler, 'wlc');
  });

  it('fills the defaults: NAT, delay_loop 60 s, connect_timeout 5 s, quorum 1', () => {
    const vs = model(VS('real_server 10.0.1.1 80 {\n}')).virtualServers[0];
    assert.equal(vs.address, '10.0.0.100');
    assert.equal(vs.port, 80);
    assert.equal(vs.family, 4);
    assert.equal(vs.scheduler, 'wlc');
    assert.equal(vs.forwardingMethod, 'NAT');
    assert.equal(vs.protocol, 'TCP');
    assert.equal(vs.delayLoopMs, 60_000);
    assert.equal(vs.connectTimeoutMs, 5000);
    assert.equal(vs.retry, 1);
    assert.equal(vs.delayBeforeRetryMs, 1000);
    assert.equal(vs.quorum, 1);
    assert.equal(vs.hysteresis, 0);
    assert.equal(vs.persistence, undefined);
    const rs = vs.realServers[0];
    assert.equal(rs.weight, 1);
    assert.equal(rs.forwardingMethod, 'NAT');
    assert.equal(rs.inhibitOnFailure, false);
    assert.equal(rs.delayLoopMs, 60_000);
    assert.equal(rs.connectTimeoutMs, 5000);
  });

  it('accepts the old synonyms lb_algo / lb_kind and the new lvs_sched / lvs_method', () => {
    const a = model(VS('lb_algo rr\nlb_kind DR\nreal_server 10.0.1.1 80 {\n}')).virtualServers[0];
    const b = model(VS('lvs_sched rr\nlvs_method DR\nreal_server 10.0.1.1 80 {\n}')).virtualServers[0];
    assert.equal(a.scheduler, 'rr');
    assert.equal(a.forwardingMethod, 'DR');
    assert.deepEqual({ ...a, source: undefined }, { ...b, source: undefined });
  });

  it('persistence_timeout defaults to 360 s when only persistence_granularity is given', () => {
    const vs = model(VS('persistence_granularity 255.255.255.0\nreal_server 10.0.1.1 80 {\n}'))
      .virtualServers[0];
    assert.deepEqual(vs.persistence, { timeoutMs: 360_000, granularity: '255.255.255.0' });
    const vs2 = model(VS('persistence_timeout 50\nreal_server 10.0.1.1 80 {\n}')).virtualServers[0];
    assert.deepEqual(vs2.persistence, { timeoutMs: 50_000 });
  });

  it('reads the service options', () => {
    const vs = model(
      VS(`delay_loop 6
lb_algo sh
sh-port
sh-fallback
ops
protocol udp
ha_suspend
alpha
omega
quorum 2
hysteresis 1
quorum_up /bin/up
quorum_down /bin/down
inhibit_on_failure
virtualhost www.example.com
sorry_server 10.0.9.9 8080
sorry_server_inhibit
sorry_server_lvs_method DR
connect_timeout 3
retry 4
delay_before_retry 2
warmup 10
real_server 10.0.1.1 80 {
  weight 5
}`),
    ).virtualServers[0];
    assert.equal(vs.delayLoopMs, 6000);
    assert.equal(vs.scheduler, 'sh');
    assert.deepEqual(vs.schedulerFlags, ['sh-port', 'sh-fallback']);
    assert.equal(vs.ops, true);
    assert.equal(vs.protocol, 'UDP');
    assert.equal(vs.haSuspend, true);
    assert.equal(vs.alpha, true);
    assert.equal(vs.omega, true);
    assert.equal(vs.quorum, 2);
    assert.equal(vs.hysteresis, 1);
    assert.equal(vs.quorumUp, '/bin/up');
    assert.equal(vs.quorumDown, '/bin/down');
    assert.equal(vs.inhibitOnFailure, true);
    assert.equal(vs.virtualhost, 'www.example.com');
    assert.deepEqual(vs.sorryServer, {
      address: '10.0.9.9',
      port: 8080,
      forwardingMethod: 'DR',
      inhibit: true,
    });
    const rs = vs.realServers[0];
    assert.equal(rs.weight, 5);
    assert.equal(rs.inhibitOnFailure, true, 'inherited from the virtual server');
    assert.equal(rs.alpha, true, 'inherited from the virtual server');
    assert.equal(rs.retry, 4);
    assert.equal(rs.delayBeforeRetryMs, 2000);
    assert.equal(rs.warmupMs, 10_000);
    assert.equal(rs.connectTimeoutMs, 3000);
  });

  it('fwmark and group services; a group member range', () => {
    const c = model(
      `virtual_server_group G {\n 10.0.0.1-10 80\n 10.0.0.20 80\n fwmark 7\n}\n${VS('real_server 10.0.1.1 80 {\n}', 'group G')}${VS('lb_kind DR\nreal_server 10.0.1.1 {\n}', 'fwmark 5')}`,
    );
    assert.deepEqual(
      c.virtualServerGroups[0].members.map((m) => ({ ...m, source: undefined })),
      [
        { type: 'address', address: '10.0.0.1', rangeEnd: '10.0.0.10', port: 80, source: undefined },
        { type: 'address', address: '10.0.0.20', port: 80, source: undefined },
        { type: 'fwmark', fwmark: 7, source: undefined },
      ],
    );
    assert.equal(c.virtualServers[0].group, 'G');
    assert.equal(c.virtualServers[0].family, 4);
    assert.equal(c.virtualServers[1].fwmark, 5);
    assert.equal(c.virtualServers[1].realServers[0].port, 0, 'fwmark services keep port 0');
  });

  it('a real server without a port uses the service port; rs lvs_method overrides the service', () => {
    const vs = model(VS('lb_kind DR\nreal_server 10.0.1.1 {\n lvs_method TUN\n}\nreal_server 10.0.1.2 {\n}'))
      .virtualServers[0];
    assert.equal(vs.realServers[0].port, 80);
    assert.equal(vs.realServers[0].forwardingMethod, 'TUN');
    assert.equal(vs.realServers[1].forwardingMethod, 'DR');
  });
});

describe('checkers: options, defaults and inheritance (virtual_server -> real_server -> checker)', () => {
  const one = (checker: string, vsBody = '', rsBody = '') =>
    model(VS(`${vsBody}\nreal_server 10.0.1.1 80 {\n${rsBody}\n${checker}\n}`)).virtualServers[0]
      .realServers[0].checkers[0] as PolledChecker;

  it('TCP_CHECK inherits delay_loop and connect_timeout; retry 1, delay_before_retry 1 s, warmup = delay loop', () => {
    const ck = one('TCP_CHECK {\n}', 'delay_loop 6\nconnect_timeout 2');
    assert.deepEqual(
      { ...ck, source: undefined },
      {
        type: 'TCP_CHECK',
        logAllFailures: false,
        connectTimeoutMs: 2000,
        delayLoopMs: 6000,
        retry: 1,
        delayBeforeRetryMs: 1000,
        warmupMs: 6000,
        alpha: false,
        source: undefined,
      },
    );
  });

  it('real_server settings override the virtual server for its checkers, checker settings override both', () => {
    const ck = one(
      'TCP_CHECK {\n connect_timeout 1\n}',
      'delay_loop 6\nretry 5',
      'delay_loop 3\nconnect_timeout 4\ndelay_before_retry 7',
    );
    assert.equal(ck.delayLoopMs, 3000);
    assert.equal(ck.connectTimeoutMs, 1000);
    assert.equal(ck.retry, 5);
    assert.equal(ck.delayBeforeRetryMs, 7000);
  });

  it('TCP_CHECK connection options', () => {
    const ck = one(
      'TCP_CHECK {\n connect_ip 10.0.2.2\n connect_port 8080\n bindto 10.0.0.5\n bind_port 5000\n bind_if eth1\n warmup 2\n alpha\n log_all_failures\n}',
    );
    assert.equal(ck.connectIp, '10.0.2.2');
    assert.equal(ck.connectPort, 8080);
    assert.equal(ck.bindTo, '10.0.0.5');
    assert.equal(ck.bindPort, 5000);
    assert.equal(ck.bindIf, 'eth1');
    assert.equal(ck.warmupMs, 2000);
    assert.equal(ck.alpha, true);
    assert.equal(ck.logAllFailures, true);
  });

  it('a checker fwmark (SO_MARK) is a warning that names it: halo cannot mark checker sockets yet', () => {
    model(VS('real_server 10.0.1.1 80 {\nTCP_CHECK {\n fwmark 9\n}\n}'), {
      warnings: [/warning: 'fwmark' in TCP_CHECK is not implemented by halo yet and is ignored/],
    });
  });

  it('HTTP_GET: delay_before_retry 3 s, url with digest and status codes', () => {
    const ck = one(
      'HTTP_GET {\n url {\n  path /health\n  digest 0123456789ABCDEF0123456789abcdef\n  status_code 200-204 301\n }\n url {\n  path /\n }\n retry 2\n http_protocol 1.1\n virtualhost example.com\n}',
    );
    assert.equal(ck.type, 'HTTP_GET');
    if (ck.type !== 'HTTP_GET') return;
    assert.equal(ck.retry, 2);
    assert.equal(ck.delayBeforeRetryMs, 3000);
    assert.equal(ck.httpProtocol, '1.1');
    assert.equal(ck.virtualhost, 'example.com');
    assert.deepEqual(
      ck.urls.map((u) => ({ ...u, source: undefined })),
      [
        {
          path: '/health',
          digest: '0123456789abcdef0123456789abcdef',
          statusCodes: [
            { from: 200, to: 204 },
            { from: 301, to: 301 },
          ],
          regexNoMatch: false,
          regexOptions: [],
          source: undefined,
        },
        {
          path: '/',
          statusCodes: [{ from: 200, to: 299 }],
          regexNoMatch: false,
          regexOptions: [],
          source: undefined,
        },
      ],
    );
  });

  it('nb_get_retry still sets retry, with a deprecation warning', () => {
    const r = parseKeepalivedText(
      VS('real_server 10.0.1.1 80 {\nHTTP_GET {\n url {\n  path /\n }\n nb_get_retry 4\n}\n}'),
      'k.conf',
      { host: anyHost },
    );
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "k.conf:9:2: warning: 'nb_get_retry' is deprecated (keepalived still reads it) (use 'retry')",
    ]);
    assert.equal(
      (r.config?.virtualServers[0].realServers[0].checkers[0] as PolledChecker | undefined)?.retry,
      4,
    );
  });

  it('HTTP_GET virtualhost comes from the real server, else the virtual server', () => {
    const fromVs = one('HTTP_GET {\n url {\n  path /\n }\n}', 'virtualhost vs.example');
    const fromRs = one(
      'HTTP_GET {\n url {\n  path /\n }\n}',
      'virtualhost vs.example',
      'virtualhost rs.example',
    );
    assert.equal(fromVs.type === 'HTTP_GET' && fromVs.virtualhost, 'vs.example');
    assert.equal(fromRs.type === 'HTTP_GET' && fromRs.virtualhost, 'rs.example');
  });

  it('SSL_GET with enable_sni', () => {
    const ck = one('SSL_GET {\n url {\n  path /\n }\n enable_sni\n}');
    assert.equal(ck.type, 'SSL_GET');
    if (ck.type === 'SSL_GET') assert.equal(ck.enableSni, true);
  });

  it('MISC_CHECK: retry 0, misc_timeout defaults to the virtual server delay loop', () => {
    const ck = one(
      'MISC_CHECK {\n misc_path "/bin/check --x"\n misc_dynamic\n user nobody\n}',
      'delay_loop 9',
    );
    assert.equal(ck.type, 'MISC_CHECK');
    if (ck.type !== 'MISC_CHECK') return;
    assert.equal(ck.retry, 0);
    assert.equal(ck.miscPath, '/bin/check --x');
    assert.equal(ck.miscTimeoutMs, 9000);
    assert.equal(ck.miscDynamic, true);
    assert.equal(ck.user, 'nobody');
  });

  it('PING_CHECK and UDP_CHECK', () => {
    assert.equal(one('PING_CHECK {\n}').type, 'PING_CHECK');
    const udp = one('UDP_CHECK {\n connect_port 53\n payload 0a0B\n require_reply 0a\n}');
    assert.equal(udp.type, 'UDP_CHECK');
    if (udp.type !== 'UDP_CHECK') return;
    assert.equal(udp.payload, '0a0b');
    assert.equal(udp.requireReply, true);
    assert.equal(udp.replyPattern, '0a');
  });

  it('DNS_CHECK: retry 3, delay_before_retry = delay loop, type SOA', () => {
    const ck = one('DNS_CHECK {\n name example.com\n}', 'delay_loop 10');
    assert.equal(ck.type, 'DNS_CHECK');
    if (ck.type !== 'DNS_CHECK') return;
    assert.equal(ck.retry, 3);
    assert.equal(ck.delayBeforeRetryMs, 10_000);
    assert.equal(ck.queryType, 'SOA');
    assert.equal(ck.name, 'example.com');
    const a = one('DNS_CHECK {\n type AAAA\n}');
    assert.equal(a.type === 'DNS_CHECK' && a.queryType, 'AAAA');
  });

  it('SMTP_CHECK with helo_name default', () => {
    const ck = one('SMTP_CHECK {\n connect_port 25\n}');
    assert.equal(ck.type === 'SMTP_CHECK' && ck.heloName, 'smtpchecker.keepalived.org');
  });
});

describe('conditional config', () => {
  it('@ID lines select per-node priority with --config-id', () => {
    const text = VI('@lb1 priority 150\n@lb2 priority 100');
    assert.equal(model(text, { configId: 'lb1' }).vrrpInstances[0].priority, 150);
    assert.equal(model(text, { configId: 'lb2' }).vrrpInstances[0].priority, 100);
  });
});

describe('url regex options, UDP reply lengths, FILE_CHECK, ha_suspend (keepalived 2.2.x keywords)', () => {
  const diags = (text: string, strict = false) =>
    parseKeepalivedText(text, 'k.conf', { host: anyHost, strict }).diagnostics.map(formatDiagnostic);
  const url = (body: string) =>
    VS(`real_server 10.0.1.1 80 {\n HTTP_GET {\n  url {\n   path /\n${body}\n  }\n }\n}`);

  it('reads regex, regex_no_match, regex_options, regex_min_offset, regex_max_offset', () => {
    const ck = model(
      url(
        '   regex "^up\\\\d$"\n   regex_no_match\n   regex_options caseless multiline\n   regex_options caseless utf\n   regex_min_offset 3\n   regex_max_offset 40',
      ),
    ).virtualServers[0].realServers[0].checkers[0];
    assert.ok(ck.type === 'HTTP_GET');
    const u = ck.urls[0];
    assert.deepEqual(
      [u.regex, u.regexNoMatch, u.regexOptions, u.regexMinOffset, u.regexMaxOffset],
      ['^up\\d$', true, ['caseless', 'multiline', 'utf'], 3, 40],
    );
  });

  it('warns on unknown regex options (keepalived ignores them), refuses what JS RegExp cannot run, warns on regex_stack', () => {
    assert.deepEqual(diags(url('   regex ok\n   regex_options caseles')), [
      "k.conf:9:18: warning: regex_options: unknown option 'caseles' (one of allow_empty_class, alt_bsux, auto_callout, caseless, dollar_endonly, dotall, dupnames, extended, firstline, match_unset_backref, multiline, never_ucp, never_utf, no_auto_capture, no_auto_possess, no_dotstar_anchor, no_start_optimize, ucp, ungreedy, utf, never_backslash_c, alt_circumflex, alt_verbnames, use_offset_limit): ignored, as keepalived does",
    ]);
    assert.deepEqual(diags(url('   regex "a(?>b)"')), [
      "k.conf:8:10: error: virtual_server 10.0.0.100:80 real_server 10.0.1.1 HTTP_GET url /: regex 'a(?>b)': atomic group (?>...) at offset 1 has no JS RegExp equivalent (halo runs the regex as a JS RegExp)",
    ]);
    assert.deepEqual(diags(url('   regex ok\n   regex_stack 1024 65536')), [
      "k.conf:9:4: warning: 'regex_stack' in url has no effect in halo (it sizes PCRE2's JIT stack; halo runs the regex as a JS RegExp) and is ignored",
    ]);
    assert.deepEqual(diags(url('   regex_no_match\n   regex_min_offset 4')), [
      "k.conf:6:3: warning: virtual_server 10.0.0.100:80 real_server 10.0.1.1 HTTP_GET url /: regex_no_match, regex_min_offset without 'regex' has no effect",
    ]);
  });

  it('UDP_CHECK min_reply_length / max_reply_length, with a pattern; without one they are a warning', () => {
    const udp = (body: string) => VS(`real_server 10.0.1.1 80 {\n UDP_CHECK {\n${body}\n }\n}`);
    const ck = model(udp('  require_reply 0a0b\n  min_reply_length 2\n  max_reply_length 1400'))
      .virtualServers[0].realServers[0].checkers[0];
    assert.ok(ck.type === 'UDP_CHECK');
    assert.deepEqual([ck.minReplyLength, ck.maxReplyLength], [2, 1400]);
    assert.deepEqual(diags(udp('  require_reply\n  max_reply_length 70000')), [
      'k.conf:7:20: warning: max_reply_length: 70000 is outside the range [0, 65535]: line ignored (an error with --strict)',
    ]);
    assert.deepEqual(diags(udp('  require_reply\n  max_reply_length 100')), [
      'k.conf:7:20: warning: virtual_server 10.0.0.100:80 real_server 10.0.1.1 UDP_CHECK: min_reply_length / max_reply_length have no effect without a require_reply pattern (keepalived checks the reply length only when it compares the reply with a pattern)',
    ]);
    assert.ok(diags(udp('  require_reply\n  max_reply_length 100'), true)[0].includes(': error: '));
    assert.deepEqual(diags(udp('  require_reply 0a\n  min_reply_length 9\n  max_reply_length 8')), [
      'k.conf:7:20: warning: virtual_server 10.0.0.100:80 real_server 10.0.1.1 UDP_CHECK: min_reply_length 9 > max_reply_length 8 - will always fail',
    ]);
  });

  it("FILE_CHECK reads track_file and weight; without a weight it takes the track_file's", () => {
    const tf = 'track_file drain {\n file /run/drain\n weight -2 reverse\n}\n';
    const fc = (body: string) =>
      model(`${tf}${VS(`real_server 10.0.1.1 80 {\n FILE_CHECK {\n${body}\n }\n}`)}`).virtualServers[0]
        .realServers[0].checkers[0];
    assert.deepEqual(
      { ...fc('  track_file drain'), source: undefined },
      {
        type: 'FILE_CHECK',
        trackFile: 'drain',
        weight: -2,
        weightReverse: true,
        source: undefined,
      },
    );
    assert.deepEqual(
      { ...fc('  track_file drain\n  weight 0 noreverse'), source: undefined },
      {
        type: 'FILE_CHECK',
        trackFile: 'drain',
        weight: 0,
        weightReverse: false,
        source: undefined,
      },
    );
  });

  it('FILE_CHECK problems: no track_file, an undefined one, timing keywords, dynamic', () => {
    const fc = (body: string, top = '') =>
      diags(`${top}${VS(`real_server 10.0.1.1 80 {\n FILE_CHECK {\n${body}\n }\n}`)}`);
    assert.deepEqual(fc('  weight 2'), ["k.conf:7:2: error: FILE_CHECK needs a 'track_file'"]);
    assert.deepEqual(fc('  track_file drian', 'track_file drain {\n file /run/drain\n}\n'), [
      "k.conf:9:14: error: virtual_server 10.0.0.100:80 real_server 10.0.1.1 FILE_CHECK: track_file 'drian' is not a defined track_file (did you mean 'drain'?)",
    ]);
    assert.match(
      fc('  track_file x\n  delay_loop 3', 'track_file x {\n file /run/x\n}\n').join(),
      /unknown keyword 'delay_loop' in FILE_CHECK|'delay_loop'.*FILE_CHECK/,
    );
    assert.deepEqual(fc('  track_file x\n  dynamic', 'track_file x {\n file /run/x\n}\n'), [
      "k.conf:10:3: warning: 'dynamic' in FILE_CHECK is documented by keepalived but not read by keepalived 2.2.7 (the weight always applies) and is ignored",
    ]);
  });

  it('ha_suspend on a fwmark service has no effect: a warning (an error with --strict)', () => {
    const text = VS('lb_kind DR\nha_suspend\nreal_server 10.0.1.1 {\n TCP_CHECK {\n }\n}', 'fwmark 5');
    assert.deepEqual(diags(text), [
      'k.conf:4:1: warning: virtual_server fwmark 5: ha_suspend has no effect on a fwmark service (there is no address to follow)',
    ]);
    assert.match(diags(text, true)[0], /: error: .*ha_suspend has no effect/);
    assert.equal(model(VS('ha_suspend\nreal_server 10.0.1.1 80 {\n}')).virtualServers[0].haSuspend, true);
  });
});
