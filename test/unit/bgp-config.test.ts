/**
 * The bgp block: keepalived.conf keywords and YAML build the same model, mistakes are located errors, and
 * buildBgpPlan() turns it into the plan the BGP part runs (health rules per VIP, attributes, timings).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildBgpPlan } from '../../src/bgp/plan.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { configToYaml, parseYamlText } from '../../src/config/yaml.js';
import { realServerKey, type VirtualServerId, virtualServerKey } from '../../src/plan/ids.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

const VS = (address: string, port: number, extra = '') => `virtual_server ${address} ${port} {
    lb_algo mh
    protocol TCP
    quorum 2
    hysteresis 1
${extra}
    real_server 10.0.0.21 ${port} {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.0.22 ${port} {
        TCP_CHECK {
            alpha
        }
    }
}
`;

function parse(text: string) {
  const r = parseKeepalivedText(text, 'b.conf', { host: anyHost });
  return { config: r.config, lines: r.diagnostics.map(formatDiagnostic) };
}

const FULL = `bgp {
    speaker bird
    control_socket /run/test/bird.ctl
    routes_file /run/test/halo.conf
    protocol_name lbvips
    local_as 65001
    router_id 10.0.0.11
    vip_interface lo
    announce_delay 1.5
    withdraw_delay 3
    withdraw_timeout 4
    poll_interval 0.5
    announce 10.0.100.1 {
        community 65000:100 65000:200
        community 65000:300
        large_community 65000:1:2
        med 10
        as_path_prepend 2
        quorum 3
        hysteresis 0
    }
    announce 2001:db8::100
}
${VS('10.0.100.1', 80)}${VS('10.0.100.1', 443)}${VS('2001:db8::100', 80).replace(/10\.0\.0\.2(\d)/g, '2001:db8::2$1')}`;

/** The typed keys the checker part reports health under (src/plan/ids.ts). */
const vsId = (address: string, port: number): VirtualServerId => ({
  kind: 'address',
  family: 4,
  protocol: 'tcp',
  address,
  port,
});
const vsKey = (address: string, port: number) => virtualServerKey(vsId(address, port));
const rsKey = (vip: string, port: number, rs: string) =>
  realServerKey({ vs: vsId(vip, port), address: rs, port });

describe('bgp block (keepalived.conf)', () => {
  it('reads every keyword into the model', () => {
    const { config, lines } = parse(FULL);
    assert.deepEqual(lines, []);
    const b = config?.bgp;
    assert.ok(b);
    assert.equal(b.controlSocket, '/run/test/bird.ctl');
    assert.equal(b.routesFile, '/run/test/halo.conf');
    assert.equal(b.protocolName, 'lbvips');
    assert.equal(b.localAs, 65001);
    assert.equal(b.routerId, '10.0.0.11');
    assert.equal(b.announceDelayMs, 1500);
    assert.equal(b.withdrawDelayMs, 3000);
    assert.equal(b.withdrawTimeoutMs, 4000);
    assert.equal(b.pollIntervalMs, 500);
    assert.deepEqual(b.announce[0].communities, ['65000:100', '65000:200', '65000:300']);
    assert.deepEqual(b.announce[0].largeCommunities, ['65000:1:2']);
    assert.equal(b.announce[0].med, 10);
    assert.equal(b.announce[0].asPathPrepend, 2);
    assert.equal(b.announce[0].quorum, 3);
    assert.equal(b.announce[1].address, '2001:db8::100');
  });

  it('fills the defaults', () => {
    const { config, lines } = parse(`bgp {\n    announce 10.0.100.1\n}\n${VS('10.0.100.1', 80)}`);
    assert.deepEqual(lines, []);
    const b = config?.bgp;
    assert.equal(b?.speaker, 'bird');
    assert.equal(b?.controlSocket, '/run/bird/bird.ctl');
    assert.equal(b?.routesFile, '/run/halo/bird/halo-vips.conf');
    assert.equal(b?.vipInterface, 'lo');
    assert.equal(b?.withdrawDelayMs, 2000);
    assert.equal(b?.announceDelayMs, 0);
  });

  it('refuses bad values with their position', () => {
    const { config, lines } = parse(`bgp {
    speaker quagga
    announce 10.0.100.1 {
        community 65000:70000 nope
        as_path_prepend 2
    }
    announce 10.9.9.9
    announce 10.0.100.1
}
${VS('10.0.100.1', 80)}`);
    assert.equal(config, undefined);
    assert.deepEqual(lines, [
      "b.conf:2:13: error: speaker: 'quagga' is not one of bird",
      "b.conf:4:19: error: community: '65000:70000' is not a community ASN:VALUE (0-65535 each)",
      "b.conf:4:31: error: community: 'nope' is not a community ASN:VALUE (0-65535 each)",
      'b.conf:5:25: error: bgp: announce 10.0.100.1: as_path_prepend needs local_as in the bgp block',
      'b.conf:7:5: error: bgp: announce 10.9.9.9: no virtual_server serves this address, so halo has no health to announce it by (add a virtual_server (or a virtual_server_group member) with this address)',
      'b.conf:8:5: error: bgp: announce 10.0.100.1 is given twice',
    ]);
  });

  it('checks references: a VIP without a virtual server, twice announced, prepend without local_as', () => {
    const { config, lines } = parse(`bgp {
    announce 10.0.100.1 {
        as_path_prepend 2
    }
    announce 10.9.9.9
    announce 10.0.100.1
}
${VS('10.0.100.1', 80)}`);
    assert.equal(config, undefined);
    assert.deepEqual(lines, [
      'b.conf:3:25: error: bgp: announce 10.0.100.1: as_path_prepend needs local_as in the bgp block',
      'b.conf:5:5: error: bgp: announce 10.9.9.9: no virtual_server serves this address, so halo has no health to announce it by (add a virtual_server (or a virtual_server_group member) with this address)',
      'b.conf:6:5: error: bgp: announce 10.0.100.1 is given twice',
    ]);
  });

  it('warns when a VIP is both announced over BGP and held by a VRRP instance', () => {
    const { config, lines } = parse(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.100.1/32
    }
}
bgp {
    announce 10.0.100.1
}
${VS('10.0.100.1', 80)}`);
    assert.ok(config, 'a warning only');
    assert.deepEqual(lines, [
      'b.conf:9:5: warning: bgp: announce 10.0.100.1: vrrp_instance VI_1 also holds this VIP; a VIP should be moved by VRRP or announced over BGP, not both',
    ]);
  });

  it('knows the block only at the top level and says where a keyword belongs', () => {
    const { lines } = parse(`global_defs {\n    local_as 65001\n}\n`);
    assert.deepEqual(lines, [
      "b.conf:2:5: error: 'local_as' is not valid in global_defs (it belongs in bgp)",
    ]);
  });
});

describe('bgp block (YAML)', () => {
  it('builds the same model as keepalived.conf', () => {
    const conf = parse(FULL).config;
    assert.ok(conf);
    const yaml = parseYamlText(
      `bgp:
  controlSocket: /run/test/bird.ctl
  routesFile: /run/test/halo.conf
  protocolName: lbvips
  localAs: 65001
  routerId: 10.0.0.11
  announceDelayMs: 1500
  withdrawDelayMs: 3000
  withdrawTimeoutMs: 4000
  pollIntervalMs: 500
  announce:
    - address: 10.0.100.1
      communities: ['65000:100', '65000:200', '65000:300']
      largeCommunities: ['65000:1:2']
      med: 10
      asPathPrepend: 2
      quorum: 3
      hysteresis: 0
    - address: 2001:db8::100
${configToYaml({ ...conf, bgp: undefined })}`,
      'b.yaml',
      { host: anyHost },
    );
    assert.deepEqual(yaml.diagnostics.map(formatDiagnostic), []);
    assert.ok(yaml.config?.bgp);
    const strip = (b: object) => JSON.parse(JSON.stringify(b, (k, v) => (k === 'source' ? undefined : v)));
    assert.deepEqual(strip(yaml.config.bgp), strip(conf.bgp as object));
  });

  it('locates a bad community in YAML', () => {
    const r = parseYamlText(
      "bgp:\n  announce:\n    - address: 10.0.100.1\n      communities: ['1:2:3']\n",
      'b.yaml',
      { host: anyHost },
    );
    assert.equal(r.config, undefined);
    assert.match(
      r.diagnostics.map(formatDiagnostic).join('\n'),
      /b\.yaml:4:2\d: error: .*a BGP community is ASN:VALUE, e\.g\. 65000:100/,
    );
  });
});

describe('buildBgpPlan', () => {
  it('has no plan without a bgp block', () => {
    const { config } = parse(VS('10.0.100.1', 80));
    assert.ok(config);
    assert.equal(buildBgpPlan(config), undefined);
  });

  it("gives each VIP its virtual servers' health rule, the overrides, attributes and timings", () => {
    const { config } = parse(FULL);
    assert.ok(config);
    const plan = buildBgpPlan(config);
    assert.ok(plan);
    assert.deepEqual(plan.speaker, {
      kind: 'bird',
      controlSocket: '/run/test/bird.ctl',
      routesFile: '/run/test/halo.conf',
      protocolName: 'lbvips',
      localAs: 65001,
      routerId: '10.0.0.11',
    });
    assert.equal(plan.announceDelayMs, 1500);
    assert.equal(plan.withdrawDelayMs, 3000);
    const [v4, v6] = plan.announcements;
    assert.equal(v4.route.prefix, '10.0.100.1/32');
    assert.deepEqual(v4.route.attributes, {
      communities: ['65000:100', '65000:200', '65000:300'],
      largeCommunities: ['65000:1:2'],
      med: 10,
      asPathPrepend: 2,
    });
    // Both virtual servers on the VIP, with the announce block's quorum 3 / hysteresis 0.
    assert.deepEqual(
      v4.virtualServers.map((vs) => [vs.id, vs.quorum, vs.hysteresis]),
      [
        [vsKey('10.0.100.1', 80), 3, 0],
        [vsKey('10.0.100.1', 443), 3, 0],
      ],
    );
    assert.deepEqual(v4.virtualServers[0].realServers, [
      { healthKey: rsKey('10.0.100.1', 80, '10.0.0.21'), weight: 2, alwaysAlive: false, startsAlive: true },
      { healthKey: rsKey('10.0.100.1', 80, '10.0.0.22'), weight: 1, alwaysAlive: false, startsAlive: false },
    ]);
    assert.equal(v6.route.prefix, '2001:db8::100/128');
    assert.equal(v6.route.family, 6);
    assert.deepEqual(v6.route.attributes, {
      communities: [],
      largeCommunities: [],
      med: null,
      asPathPrepend: 0,
    });
    // No override: the virtual server's own quorum 2 / hysteresis 1.
    assert.deepEqual(
      v6.virtualServers.map((vs) => [vs.quorum, vs.hysteresis]),
      [[2, 1]],
    );
  });

  it('matches a VIP to virtual_server_group members and ranges', () => {
    const { config, lines } = parse(`virtual_server_group WEB {
    10.0.100.1-9 80
}
bgp {
    announce 10.0.100.5
}
virtual_server group WEB {
    protocol TCP
    lb_algo mh
    real_server 10.0.0.21 80 {
    }
}
`);
    assert.deepEqual(lines, []);
    assert.ok(config);
    const plan = buildBgpPlan(config);
    assert.deepEqual(
      plan?.announcements[0].virtualServers.map((v) => v.id),
      [virtualServerKey({ kind: 'group', family: 4, protocol: 'tcp', group: 'WEB' })],
    );
    assert.equal(plan?.announcements[0].virtualServers[0].realServers[0].alwaysAlive, true);
  });
});
