/**
 * virtual_routes / virtual_rules / static_ipaddress / static_routes / static_rules / vrrp_track_process /
 * track_process: keepalived.conf lines to model fields, keepalived 2.2.7's defaults and checks, located errors
 * for bad input, and the YAML form of the same model.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Diagnostic, formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloConfig } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { parseYamlText } from '../../src/config/yaml.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function parse(text: string, strict = false): { config?: HaloConfig; diags: string[]; raw: Diagnostic[] } {
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost, strict });
  return { config: r.config, diags: r.diagnostics.map(formatDiagnostic), raw: r.diagnostics };
}

function model(text: string): HaloConfig {
  const r = parse(text);
  assert.deepEqual(r.diags, []);
  assert.ok(r.config);
  return r.config;
}

const VI = (body: string) =>
  `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24\n }\n${body}\n}\n`;

const noSource = <T extends { source?: unknown }>(o: T) => ({ ...o, source: undefined });

describe('virtual_routes: every option keepalived reads', () => {
  it('reads addresses, table, metrics with lock, multipath, type and mode', () => {
    const vi = model(
      VI(`virtual_routes {
  src 10.0.0.1 to 192.0.2.0/24 via 10.0.0.254 dev eth0 table 100 metric 5 scope link protocol zebra no_track
  unreachable 198.51.100.0/24 dev eth0 preference 3 tos 0x10
  10.9.0.0/16 dev eth0 onlink realms 10/20 mtu lock 1400 hoplimit 64 advmss 1360 rtt 100ms rttvar 2s rto_min 200 initcwnd 10 initrwnd 20 features ecn quickack 1 congctl lock cubic fastopen_no_cookie 1 window 4000 cwnd lock 8 ssthresh 9 reordering 3 append
  inet6 default via fe80::1 dev eth0 expires 300 pref high
  from fd00:1::/64 fd00:2::/64 dev eth0 add ttl-propagate enabled
  10.10.0.0/16 no_track nexthop via 10.0.0.253 dev eth0 weight 2 onlink nexthop via 10.0.0.252 dev eth0
}`),
    ).vrrpInstances[0];
    const [a, b, c, d, e, f] = vi.virtualRoutes.map(noSource);
    assert.deepEqual(a, {
      src: '10.0.0.1',
      destination: '192.0.2.0/24',
      via: '10.0.0.254',
      dev: 'eth0',
      table: 100,
      metric: 5,
      scope: 'link',
      protocol: 'zebra',
      noTrack: true,
      family: 4,
      type: 'unicast',
      onlink: false,
      mode: 'prepend',
      source: undefined,
    });
    assert.equal(b.type, 'unreachable');
    assert.equal(b.metric, 3);
    assert.equal(b.tos, 16);
    assert.equal(c.onlink, true);
    assert.equal(c.realms, '10/20');
    assert.equal(c.mode, 'append');
    assert.deepEqual(c.metrics, {
      mtu: 1400,
      hoplimit: 64,
      advmss: 1360,
      rttMs: 100,
      rttvarMs: 2000,
      rtoMinMs: 200,
      initcwnd: 10,
      initrwnd: 20,
      ecn: true,
      quickack: true,
      congctl: 'cubic',
      fastopenNoCookie: true,
      window: 4000,
      cwnd: 8,
      ssthresh: 9,
      reordering: 3,
      lock: ['mtu', 'congctl', 'cwnd'],
    });
    assert.deepEqual(
      [d.destination, d.family, d.via, d.expires, d.pref],
      ['default', 6, 'fe80::1', 300, 'high'],
    );
    assert.deepEqual(
      [e.from, e.destination, e.family, e.mode, e.ttlPropagate],
      ['fd00:1::/64', 'fd00:2::/64', 6, 'add', true],
    );
    assert.deepEqual(f.nexthops, [
      { via: '10.0.0.253', dev: 'eth0', weight: 2, onlink: true },
      { via: '10.0.0.252', dev: 'eth0', onlink: false },
    ]);
  });

  it('reports bad lines at the offending word and drops only that route', () => {
    const r = parse(
      VI(`virtual_routes {
  10.1.0.0/16 via fd00::1 dev eth0
  10.2.0.0/16 dev eth0 metrik 5
  10.3.0.0/16 dev eth0 table
  10.4.0.0/16 dev eth0 weight 3
  dev eth0
  10.5.0.0/16 dev eth0 nexthop via 10.0.0.1 bogus 1
  10.6.0.0/16 dev eth0 from fd00::/64
  10.7.0.0/16 dev eth0
}`),
    );
    assert.deepEqual(r.diags, [
      "k.conf:8:19: error: cannot mix IPv4 and IPv6 in a route ('fd00::1')",
      "k.conf:9:24: error: unknown route option 'metrik' (did you mean 'metric'?)",
      "k.conf:10:24: error: 'table' needs a value",
      "k.conf:11:24: error: unknown route option 'weight'",
      'k.conf:12:3: error: route has no destination',
      "k.conf:13:45: error: unknown nexthop option 'bogus'",
      "k.conf:14:29: error: cannot mix IPv4 and IPv6 in a route ('fd00::/64')",
    ]);
    assert.equal(r.config, undefined, 'errors refuse the config');
  });

  it('warns about what it does not do (encap drops the route) and about deprecated forms', () => {
    const r = parse(
      VI(`virtual_routes {
  10.1.0.0/16 dev eth0 encap mpls 100
  10.2.0.0/16 gw 10.0.0.254 dev eth0
  10.3.0.0/16 dev eth0
}`),
    );
    assert.deepEqual(r.diags, [
      "k.conf:8:24: warning: route option 'encap' is not implemented by halo yet; this route is ignored",
      "k.conf:9:15: warning: 'gw' in a route is deprecated (keepalived still reads it) (use 'via')",
    ]);
    assert.deepEqual(
      r.config?.vrrpInstances[0].virtualRoutes.map((x) => [x.destination, x.via]),
      [
        ['10.2.0.0/16', '10.0.0.254'],
        ['10.3.0.0/16', undefined],
      ],
    );
    assert.ok(
      parse(VI(`virtual_routes {\n  10.1.0.0/16 dev eth0 encap mpls 100\n}`), true).diags[0].includes(
        'error',
      ),
    );
  });

  it('resets the protocol of a tracked route to 18 and stops tracking a route without dev, as keepalived', () => {
    const r = parse(
      VI(`virtual_routes {
  10.1.0.0/16 dev eth0 protocol static
  10.2.0.0/16 via 10.0.0.254
  10.3.0.0/16 dev eth0 protocol static no_track
}`),
    );
    assert.deepEqual(r.diags, [
      "k.conf:8:3: warning: Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol (add 'no_track' to keep your protocol)",
      "k.conf:9:3: warning: (VI_1) cannot track route 10.2.0.0/16 with no interface specified, not tracking (add 'dev IF' or 'no_track')",
    ]);
    const [a, b, c] = r.config!.vrrpInstances[0].virtualRoutes;
    assert.equal(a.protocol, 18);
    assert.equal(b.noTrack, true);
    assert.equal(c.protocol, 'static');
  });
});

describe('virtual_rules', () => {
  it('reads selectors and every action', () => {
    const vi = model(
      VI(`virtual_rules {
  from 10.0.0.0/24 table 100 preference 100
  not to 192.0.2.0/24 fwmark 0x10/0xff iif eth0 oif eth1 lookup main priority 101
  from all tos 0x10 realms 5 suppress_prefixlength 0 table 200 order 102
  uidrange 1000-2000 ipproto tcp sport 1024-2048 dport 80 goto 200 preference 103
  inet6 from fd00::/8 blackhole preference 104
  type unreachable to 10.9.0.0/16 preference 105
  prohibit preference 106 tunnel-id 7 protocol 18
  nop preference 107 no_track
  l3mdev preference 108
  suppress_ifgroup 3 table 5 preference 109
}`),
    ).vrrpInstances[0];
    const [a, b, c, d, e, f, g, h, i, j] = vi.virtualRules.map(noSource);
    assert.deepEqual(a, {
      from: '10.0.0.0/24',
      table: 100,
      action: 'table',
      priority: 100,
      family: 4,
      invert: false,
      l3mdev: false,
      noTrack: false,
      source: undefined,
    });
    assert.deepEqual(
      [b.invert, b.to, b.fwmark, b.fwmask, b.iif, b.oif, b.table, b.priority],
      [true, '192.0.2.0/24', 16, 255, 'eth0', 'eth1', 'main', 101],
    );
    assert.deepEqual([c.from, c.tos, c.realms, c.suppressPrefixLength, c.table], ['all', 16, 5, 0, 200]);
    assert.deepEqual(
      [d.uidRange, d.ipProto, d.sport, d.dport, d.action, d.goto],
      [{ start: 1000, end: 2000 }, 6, { start: 1024, end: 2048 }, { start: 80, end: 80 }, 'goto', 200],
    );
    assert.deepEqual([e.family, e.action], [6, 'blackhole']);
    assert.equal(f.action, 'unreachable');
    assert.deepEqual([g.action, g.tunnelId, g.protocol], ['prohibit', 7, 18]);
    assert.deepEqual([h.action, h.noTrack], ['nop', true]);
    assert.deepEqual([i.action, i.l3mdev, i.table], ['table', true, undefined]);
    assert.equal(j.suppressIfgroup, 3);
  });

  it('gives rules without a preference 16384, 16383, ... per family in file order, with a warning', () => {
    const r = parse(`
static_rules {
  from 10.1.0.0/16 table 10
  inet6 from fd00::/8 table 10
}
${VI('virtual_rules {\n  from 10.2.0.0/16 table 20\n}')}`);
    assert.deepEqual(r.diags, [
      "k.conf:3:3: warning: rule has no preference specified - setting to 16384 (give every rule a 'preference' so they are added in the order you want)",
      "k.conf:4:3: warning: rule has no preference specified - setting to 16384 (give every rule a 'preference' so they are added in the order you want)",
      "k.conf:13:3: warning: rule has no preference specified - setting to 16383 (give every rule a 'preference' so they are added in the order you want)",
    ]);
    assert.deepEqual(
      r.config!.staticRules.map((x) => x.priority),
      [16384, 16384],
    );
    assert.equal(r.config!.vrrpInstances[0].virtualRules[0].priority, 16383);
  });

  it('refuses rules keepalived refuses', () => {
    const r = parse(
      VI(`virtual_rules {
  from 10.0.0.0/8 preference 1
  from 10.0.0.0/8 table 0 preference 2
  goto 100
  goto 100 preference 200
  from 10.0.0.0/8 table 1 blackhole preference 4
  realms 5 blackhole preference 5
  from 10.0.0.0/8 to fd00::/8 table 1 preference 6
  fwmark 1/x table 1 preference 7
  l3mdev table 5 preference 8
}`),
    );
    assert.deepEqual(r.diags, [
      "k.conf:8:3: error: rule has no action (add 'table N' (or goto, nop, blackhole, unreachable, prohibit))",
      'k.conf:9:25: error: table 0 is not valid for a rule',
      "k.conf:10:3: error: rule with 'goto 100' needs a preference",
      'k.conf:11:3: error: rule preference 200 must be below its goto target 100',
      'k.conf:12:27: error: a rule takes one action: table/lookup, goto, nop, blackhole, unreachable or prohibit',
      "k.conf:13:3: error: 'realms' is only valid with a table action",
      "k.conf:14:22: error: cannot mix IPv4 and IPv6 in a rule ('fd00::/8')",
      "k.conf:15:10: error: invalid rule fwmark '1/x' (write MARK or MARK/MASK)",
      // keepalived: l3mdev is itself a table action, so a table after it is a second action.
      'k.conf:16:10: error: a rule takes one action: table/lookup, goto, nop, blackhole, unreachable or prohibit',
    ]);
  });
});

describe('static_ipaddress / static_routes / static_rules', () => {
  it('reads them at the top level; a static address without dev goes on default_interface, else eth0', () => {
    const c = model(`
static_ipaddress {
  192.168.10.1/24 dev eth1 label eth1:st
  192.168.11.1/24 no_track
  fd00:10::1/64 dev eth1
}
static_routes {
  192.168.20.0/24 via 192.168.10.254 dev eth1
}
static_rules {
  from 192.168.10.0/24 table 100 preference 100
}
`);
    assert.deepEqual(
      c.staticIpaddresses.map((a) => [a.address, a.prefixLength, a.family, a.dev, a.label, a.noTrack]),
      [
        ['192.168.10.1', 24, 4, 'eth1', 'eth1:st', false],
        ['192.168.11.1', 24, 4, 'eth0', undefined, true],
        ['fd00:10::1', 64, 6, 'eth1', undefined, false],
      ],
    );
    assert.deepEqual(
      c.staticRoutes.map((r) => [r.destination, r.via, r.dev, r.noTrack]),
      [['192.168.20.0/24', '192.168.10.254', 'eth1', false]],
    );
    assert.deepEqual(
      c.staticRules.map((r) => [r.from, r.table, r.priority]),
      [['192.168.10.0/24', 100, 100]],
    );
    const withDefault = model(
      'global_defs {\n default_interface bond0\n}\nstatic_ipaddress {\n 10.1.1.1/24\n}\n',
    );
    assert.equal(withDefault.staticIpaddresses[0].dev, 'bond0');
  });

  it('track_group is known and named as not implemented; use_vmac is not valid on a static address', () => {
    const r = parse(`static_ipaddress {
  10.1.1.1/24 dev eth0 track_group g1
  10.1.1.2/24 dev eth0 use_vmac
}
static_routes {
  10.2.0.0/16 dev eth0 track_group g1
}
`);
    assert.deepEqual(r.diags, [
      "k.conf:2:24: warning: virtual_ipaddress option 'track_group' is not implemented by halo yet and is ignored",
      "k.conf:3:24: error: 'use_vmac' is not valid in static_ipaddress",
      "k.conf:6:24: warning: route option 'track_group' is not implemented by halo yet and is ignored",
    ]);
  });
});

describe('vrrp_track_process and track_process', () => {
  it('reads keepalived 2.2.x syntax with its defaults', () => {
    const c = model(`
vrrp_track_process haproxy {
  process haproxy
  weight 10 reverse
  quorum 2
  quorum_max 4
  delay 0.5
}
vrrp_track_process nginx {
  process /usr/sbin/nginx -g "daemon off;"
  param_match partial
  fork_delay 1
  terminate_delay 2.25
}
vrrp_track_process none {
  process /usr/bin/foo
  param_match
}
vrrp_track_process gone {
  process bar
  quorum_max 0
}
vrrp_track_process full {
  process /usr/bin/baz
  full_command
}
${VI('track_process {\n  haproxy\n  nginx weight -20\n  none weight 5 reverse\n}')}
vrrp_sync_group G {
  group {
    VI_1
    VI_1b
  }
  track_process {
    gone weight 0
  }
}
vrrp_instance VI_1b {
  interface eth0
  virtual_router_id 52
  virtual_ipaddress {
    10.0.0.2/24
  }
}
`);
    const tp = Object.fromEntries(c.vrrpTrackProcesses.map((t) => [t.name, noSource(t)]));
    assert.deepEqual(tp.haproxy, {
      name: 'haproxy',
      process: 'haproxy',
      params: [],
      paramMatch: 'none',
      fullCommand: false,
      weight: 10,
      weightReverse: true,
      quorum: 2,
      quorumMax: 4,
      forkDelayMs: 500,
      terminateDelayMs: 500,
      source: undefined,
    });
    assert.deepEqual(
      [tp.nginx.process, tp.nginx.params, tp.nginx.paramMatch, tp.nginx.fullCommand, tp.nginx.weight],
      ['/usr/sbin/nginx', ['-g', 'daemon off;'], 'partial', true, 0],
    );
    assert.deepEqual(
      [tp.nginx.forkDelayMs, tp.nginx.terminateDelayMs, tp.nginx.quorum, tp.nginx.quorumMax],
      [1000, 2250, 1, undefined],
    );
    assert.deepEqual(
      [tp.none.paramMatch, tp.none.fullCommand],
      ['exact', true],
      'param_match alone: no parameters',
    );
    assert.deepEqual([tp.gone.quorum, tp.gone.quorumMax], [0, 0], 'quorum_max 0: the process must not run');
    assert.deepEqual([tp.full.fullCommand, tp.full.paramMatch], [true, 'none']);
    assert.deepEqual(c.vrrpInstances[0].trackProcesses, [
      { name: 'haproxy', weight: 10, weightReverse: true },
      { name: 'nginx', weight: -20, weightReverse: false },
      { name: 'none', weight: 5, weightReverse: true },
    ]);
    assert.deepEqual(c.syncGroups[0].trackProcesses, [{ name: 'gone', weight: 0, weightReverse: false }]);
  });

  it('reports bad blocks and references', () => {
    const r = parse(`
vrrp_track_process a {
  weight 300
}
vrrp_track_process b {
  process b
  quorum 5
  quorum_max 3
}
vrrp_track_process c {
  process a-very-long-process-name
  param_match exact
  delay 0
}
vrrp_track_process d {
  process d
  quorum 2
  quorum_max 0
}
${VI('track_process {\n  haproxi\n  b weight 255\n}')}
`);
    assert.deepEqual(r.diags, [
      'k.conf:3:10: warning: vrrp_track_process weight: 300 is outside the range [-254, 254]: line ignored (an error with --strict)',
      "k.conf:4:1: error: vrrp_track_process a needs a 'process'",
      'k.conf:7:10: error: vrrp_track_process b: quorum 5 is greater than quorum_max 3',
      "k.conf:11:11: warning: vrrp_track_process c: 'a-very-long-process-name' is longer than the 15 characters of a process name (comm) and can never match (add 'full_command' to match the command line)",
      "k.conf:12:15: error: param_match: 'exact' is not one of initial, partial",
      'k.conf:13:9: warning: vrrp_track_process delay: 0 s is outside the range [0.000001, 3600] s: line ignored (an error with --strict)',
      'k.conf:17:10: error: vrrp_track_process d: quorum 2 is greater than quorum_max 0',
      "k.conf:27:3: error: (VI_1) track_process 'haproxi' is not a defined vrrp_track_process",
      'k.conf:28:12: warning: track_process weight: 255 is outside the range [-254, 254]: line ignored (an error with --strict)',
    ]);
  });

  it('a sync group with an address owner cannot weight its tracked processes (keepalived sets weight 0)', () => {
    const r = parse(`
vrrp_track_process p {
  process p
  weight 10
}
vrrp_sync_group G {
  group {
    A
    B
  }
  track_process {
    p
  }
}
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  priority 255
  virtual_ipaddress {
    10.0.0.1
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    10.0.0.2
  }
}
`);
    assert.deepEqual(r.diags, [
      "k.conf:12:5: warning: (G) Cannot have weighted track process 'p' with member having priority 255 - setting weight 0",
      "k.conf:18:12: warning: (A) priority 255 means this router owns the addresses: it becomes MASTER at once regardless of 'state BACKUP'",
    ]);
    assert.equal(r.config!.syncGroups[0].trackProcesses[0].weight, 0);
  });
});

describe('the YAML form', () => {
  it('reads the same model (defaults and normalisation included)', () => {
    const r = parseYamlText(
      `
staticRoutes:
  - destination: 10.1.0.0/16
    dev: eth0
staticRules:
  - from: 10.1.0.0/16
    action: table
    table: 100
staticIpaddresses:
  - address: 10.2.0.1
vrrpTrackProcesses:
  - name: web
    process: /usr/sbin/nginx
    params: [-g, "daemon off;"]
vrrpInstances:
  - name: VI_1
    interface: eth0
    virtualRouterId: 1
    virtualIpaddresses: [{ address: 10.0.0.1 }]
    virtualRules:
      - { to: fd00::/8, action: blackhole, priority: 5 }
    trackProcesses: [{ name: web }]
`,
      'h.yaml',
      { host: anyHost },
    );
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "h.yaml:6:5: warning: rule has no preference specified - setting to 16384 (give every rule a 'preference' so they are added in the order you want)",
    ]);
    const c = r.config!;
    assert.deepEqual(
      [c.staticRoutes[0].family, c.staticRoutes[0].type, c.staticRoutes[0].mode],
      [4, 'unicast', 'prepend'],
    );
    assert.equal(c.staticRules[0].priority, 16384);
    assert.deepEqual([c.staticIpaddresses[0].dev, c.staticIpaddresses[0].prefixLength], ['eth0', 32]);
    assert.deepEqual(
      [c.vrrpTrackProcesses[0].paramMatch, c.vrrpTrackProcesses[0].fullCommand],
      ['exact', true],
    );
    assert.equal(c.vrrpInstances[0].virtualRules[0].family, 6);
    assert.deepEqual(c.vrrpInstances[0].trackProcesses, [{ name: 'web', weight: 0, weightReverse: false }]);
  });
});
