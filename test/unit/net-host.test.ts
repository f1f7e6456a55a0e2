/**
 * The pure parts of host plumbing: route / rule request encoding (what goes on the wire), iproute2 name
 * tables, config -> spec conversion, prefix comparison, the static-entry and virtual-route state machines
 * against a recording fake, VMAC naming and MAC, proc connector and netlink datagram parsing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloConfig } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { linkKind } from '../../src/net/addr-watch.js';
import { splitMessages } from '../../src/net/nl-listener.js';
import { parseProcEvent, subscribeMessage } from '../../src/net/proc-connector.js';
import {
  encodeMetrics,
  encodeNexthops,
  type RouteSpec,
  type RuleSpec,
  routeRequest,
  routeSpecFromConfig,
  ruleRequest,
  ruleSpecFromConfig,
  samePrefix,
} from '../../src/net/route.js';
import { parseRtTable, RtNames } from '../../src/net/rt-names.js';
import { StaticEntries, type StaticHostOps, staticAddressSpec } from '../../src/net/static-entries.js';
import { InstanceRoutes } from '../../src/net/virtual-routes.js';
import { linkLocalFromMac, vmacName, vrrpMac } from '../../src/net/vmac.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function config(text: string): HaloConfig {
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return r.config;
}

const dir = mkdtempSync(join(tmpdir(), 'halo-rt-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rt_tables.d'));
writeFileSync(join(dir, 'rt_tables'), '# comment\n100 vips\n0x20 hex  # trailing\nbad line\n');
writeFileSync(join(dir, 'rt_tables.d', 'x.conf'), '200 extra\n');
writeFileSync(join(dir, 'rt_realms'), '10 cust\n20 peer\n');
writeFileSync(join(dir, 'rt_dsfield'), '0x10 lowdelay\n');
const names = new RtNames([dir]);

describe('iproute2 name tables', () => {
  it('parses NUMBER NAME lines, hex numbers and comments', () => {
    assert.deepEqual(
      [...parseRtTable('1 a\n0x2 b # c\n#3 d\nx e\n300 big', 255)],
      [
        ['a', 1],
        ['b', 2],
      ],
    );
  });

  it('resolves built-in and file names, numbers as they are, and refuses unknown names', () => {
    assert.equal(names.resolve('tables', 'main'), 254);
    assert.equal(names.resolve('tables', 'vips'), 100);
    assert.equal(names.resolve('tables', 'hex'), 32);
    assert.equal(names.resolve('tables', 'extra'), 200);
    assert.equal(names.resolve('tables', 5000), 5000);
    assert.equal(names.resolve('protocols', 'keepalived'), 18);
    assert.equal(names.resolve('dsfield', 'lowdelay'), 16);
    assert.equal(names.realms('cust/peer'), (10 << 16) | 20);
    assert.throws(
      () => names.resolve('tables', 'nosuch'),
      /unknown table name 'nosuch' \(not in rt_tables\)/,
    );
    assert.throws(() => names.resolve('protocols', 300), /out of range/);
  });
});

describe('route requests', () => {
  const idx = (n: string) => ({ eth0: 2, eth1: 3 })[n] ?? 0;

  it('adds with keepalived protocol 18, universe scope and the table in the header below 256', () => {
    const spec: RouteSpec = {
      family: 4,
      destination: '10.1.0.0/16',
      via: '10.0.0.254',
      dev: 'eth0',
      metric: 5,
    };
    const { data, attrs } = routeRequest(spec, 'add', idx);
    assert.deepEqual(data, { family: 2, dstLen: 16, protocol: 18, table: 254, scope: 0, type: 1 });
    assert.deepEqual(attrs, {
      dst: Buffer.from([10, 1, 0, 0]),
      gateway: Buffer.from([10, 0, 0, 254]),
      oif: 2,
      priority: 5,
    });
  });

  it('deletes with scope nowhere and the type only when one is configured; big tables go in RTA_TABLE', () => {
    assert.deepEqual(routeRequest({ family: 4, destination: 'default', table: 1000 }, 'delete', idx), {
      data: { family: 2, dstLen: 0, protocol: 18, scope: 255 },
      attrs: { table: 1000 },
    });
    assert.equal(
      routeRequest({ family: 4, destination: '10.0.0.0/8', type: 'blackhole' }, 'delete', idx).data.type,
      6,
    );
  });

  it('uses host scope for local routes and link scope for broadcast ones (universe is refused by the kernel)', () => {
    assert.equal(
      routeRequest({ family: 4, destination: '10.0.0.9/32', type: 'local' }, 'add', idx).data.scope,
      254,
    );
    assert.equal(
      routeRequest({ family: 4, destination: '10.0.0.255/32', type: 'broadcast' }, 'add', idx).data.scope,
      253,
    );
    assert.equal(
      routeRequest({ family: 4, destination: '10.0.0.0/8', type: 'unreachable' }, 'add', idx).data.scope,
      0,
    );
  });

  it('encodes metrics in kernel units (rtt 1/8 ms, rttvar 1/4 ms) with the lock bits', () => {
    const m = encodeMetrics({ mtu: 1400, rttMs: 100, rttvarMs: 10, lock: ['mtu', 'rtt'] })!;
    // [len 8, RTAX_MTU 2, 1400] [8, RTAX_RTT 4, 800] [8, RTAX_RTTVAR 5, 40] [8, RTAX_LOCK 1, (1<<2)|(1<<4)]
    const words = [];
    for (let i = 0; i < m.length; i += 8) words.push([m.readUInt16LE(i + 2), m.readUInt32LE(i + 4)]);
    assert.deepEqual(words, [
      [2, 1400],
      [4, 800],
      [5, 40],
      [1, (1 << 2) | (1 << 4)],
    ]);
    assert.equal(encodeMetrics({}), undefined);
  });

  it('encodes multipath nexthops as struct rtnexthop with RTA_GATEWAY, weight - 1 and RTNH_F_ONLINK', () => {
    const b = encodeNexthops([
      { via: Buffer.from([10, 0, 0, 1]), ifindex: 2, weight: 3, onlink: true },
      { ifindex: 3 },
    ]);
    assert.deepEqual([...b], [16, 0, 4, 2, 2, 0, 0, 0, 8, 0, 5, 0, 10, 0, 0, 1, 8, 0, 0, 0, 3, 0, 0, 0]);
  });

  it('rules: header table, action, invert flag and the selectors as attributes', () => {
    const spec: RuleSpec = {
      family: 4,
      priority: 100,
      action: 'table',
      table: 100,
      from: '10.0.0.0/24',
      invert: true,
      fwmark: 5,
      fwmask: 255,
      iif: 'eth0',
      protocol: 18,
    };
    assert.deepEqual(ruleRequest(spec), {
      data: { family: 2, action: 1, table: 100, flags: { invert: true }, srcLen: 24 },
      attrs: {
        priority: 100,
        src: Buffer.from([10, 0, 0, 0]),
        fwmark: 5,
        fwmask: 255,
        iifname: 'eth0',
        protocol: 18,
      },
    });
    assert.deepEqual(ruleRequest({ family: 6, priority: 5, action: 'goto', goto: 9, table: 7 }), {
      data: { family: 10, action: 2 },
      attrs: { priority: 5, goto: 9 },
    });
    assert.equal(ruleRequest({ family: 4, priority: 5, action: 'table', table: 70000 }).attrs.table, 70000);
  });

  it('compares prefixes canonically', () => {
    assert.ok(samePrefix('fd00:0050::/64', 'fd00:50::/64', 6));
    assert.ok(samePrefix('default', '0.0.0.0/0', 4));
    assert.ok(samePrefix('10.0.0.1', '10.0.0.1/32', 4));
    assert.ok(!samePrefix('10.0.0.0/8', '10.0.0.0/16', 4));
  });
});

describe('from the config model', () => {
  const c = config(`
static_routes {
  10.1.0.0/16 via 10.0.0.254 dev eth0 table vips metric 5 tos lowdelay realms cust/peer
  inet6 default via fe80::1 dev eth0 pref high no_track protocol bird
}
static_rules {
  from 10.1.0.0/16 lookup extra preference 10
  to 10.2.0.0/16 table 100 preference 11 no_track
}
`);

  it('resolves names and fills keepalived defaults', () => {
    assert.deepEqual(routeSpecFromConfig(c.staticRoutes[0], names), {
      family: 4,
      destination: '10.1.0.0/16',
      type: 'unicast',
      mode: 'prepend',
      protocol: 18,
      table: 100,
      metric: 5,
      tos: 16,
      dev: 'eth0',
      via: '10.0.0.254',
      realms: (10 << 16) | 20,
    });
    const v6 = routeSpecFromConfig(c.staticRoutes[1], names);
    assert.deepEqual([v6.family, v6.destination, v6.pref, v6.protocol], [6, 'default', 1, 12]);
    assert.deepEqual(ruleSpecFromConfig(c.staticRules[0], names), {
      family: 4,
      priority: 10,
      action: 'table',
      table: 200,
      from: '10.1.0.0/16',
      protocol: 18,
    });
    assert.equal(
      ruleSpecFromConfig(c.staticRules[1], names).protocol,
      undefined,
      'an untracked rule keeps protocol 0',
    );
  });

  it('static address specs: broadcast + is computed, - is none', () => {
    const a = config(
      'static_ipaddress {\n 10.3.0.5/22 dev eth0 brd + label eth0:x\n 10.4.0.5/24 dev eth0 brd -\n}\n',
    );
    assert.deepEqual(staticAddressSpec(a.staticIpaddresses[0]), {
      dev: 'eth0',
      spec: { address: '10.3.0.5', prefixLength: 22, broadcast: '10.3.3.255', label: 'eth0:x' },
    });
    assert.deepEqual(staticAddressSpec(a.staticIpaddresses[1]).spec.broadcast, undefined);
  });
});

/** A fake host that records operations and can fail chosen ones. */
function fakeOps(failOn: (op: string, what: string) => boolean = () => false) {
  const log: string[] = [];
  const rec = (op: string, what: string) => {
    log.push(`${op} ${what}`);
    if (failOn(op, what)) throw new Error(`${op} ${what}: EPERM`);
  };
  const ops: StaticHostOps = {
    addAddress: async (dev, s) => rec('addAddress', `${s.address}/${s.prefixLength} ${dev}`),
    removeAddress: async (dev, s) => rec('removeAddress', `${s.address}/${s.prefixLength} ${dev}`),
    addRoute: async (s) => {
      rec('addRoute', s.destination);
      return 'added';
    },
    deleteRoute: async (s) => {
      rec('deleteRoute', s.destination);
      return 'deleted';
    },
    addRule: async (s) => {
      rec('addRule', String(s.priority));
      return 'added';
    },
    deleteRule: async (s) => {
      rec('deleteRule', String(s.priority));
      return 'deleted';
    },
  };
  return { ops, log };
}

describe('static entries (keepalived start / reload / stop semantics)', () => {
  const cfg = (routes: string) =>
    config(`
static_ipaddress {
  10.9.0.1/24 dev eth0
  10.9.1.1/24 dev eth0 no_track
}
static_routes {
  ${routes}
}
static_rules {
  from 10.9.0.0/24 table 100 preference 50
}
`);
  const pick = (c: HaloConfig) => ({
    staticIpaddresses: c.staticIpaddresses,
    staticRoutes: c.staticRoutes,
    staticRules: c.staticRules,
  });

  it('start clears leftover rules, then adds addresses, routes, rules; stop removes in reverse kind order', async () => {
    const { ops, log } = fakeOps();
    const s = new StaticEntries(undefined, ops, names);
    const rep = await s.start(pick(cfg('10.8.0.0/16 dev eth0\n  10.7.0.0/16 dev eth0')));
    assert.deepEqual(rep.failed, []);
    assert.deepEqual(log, [
      'deleteRule 50',
      'addAddress 10.9.0.1/24 eth0',
      'addAddress 10.9.1.1/24 eth0',
      'addRoute 10.8.0.0/16',
      'addRoute 10.7.0.0/16',
      'addRule 50',
    ]);
    log.length = 0;
    await s.stop();
    assert.deepEqual(log, [
      'deleteRule 50',
      'deleteRoute 10.8.0.0/16',
      'deleteRoute 10.7.0.0/16',
      'removeAddress 10.9.0.1/24 eth0',
      'removeAddress 10.9.1.1/24 eth0',
    ]);
  });

  it('reload removes what left, keeps what stayed, adds what came', async () => {
    const { ops, log } = fakeOps();
    const s = new StaticEntries(undefined, ops, names);
    await s.start(pick(cfg('10.8.0.0/16 dev eth0\n  10.7.0.0/16 dev eth0')));
    log.length = 0;
    const rep = await s.reload(pick(cfg('10.8.0.0/16 dev eth0\n  10.6.0.0/16 dev eth0')));
    assert.deepEqual(log, ['deleteRoute 10.7.0.0/16', 'addRoute 10.6.0.0/16']);
    assert.deepEqual(rep.removed, ['route 10.7.0.0/16 dev eth0']);
    assert.deepEqual(rep.added, ['route 10.6.0.0/16 dev eth0']);
  });

  it('one failing entry is reported, the rest still go in, and the next reload retries it', async () => {
    let fail = true;
    const { ops, log } = fakeOps((op, what) => fail && op === 'addRoute' && what === '10.8.0.0/16');
    const msgs: string[] = [];
    const s = new StaticEntries((e) => msgs.push(e.message), ops, names);
    const rep = await s.start(pick(cfg('10.8.0.0/16 dev eth0\n  10.7.0.0/16 dev eth0')));
    assert.deepEqual(rep.failed, [
      { what: 'route 10.8.0.0/16 dev eth0', error: 'addRoute 10.8.0.0/16: EPERM' },
    ]);
    assert.ok(log.includes('addRoute 10.7.0.0/16') && log.includes('addRule 50'));
    assert.deepEqual(s.state().routes, ['10.7.0.0/16 dev eth0']);
    assert.ok(msgs.includes('static route 10.8.0.0/16 dev eth0: addRoute 10.8.0.0/16: EPERM'));
    fail = false;
    log.length = 0;
    await s.reload(pick(cfg('10.8.0.0/16 dev eth0\n  10.7.0.0/16 dev eth0')));
    assert.deepEqual(log, ['addRoute 10.8.0.0/16']);
  });

  it('puts back a tracked address, route or rule deleted behind its back, not a no_track one', async () => {
    const { ops, log } = fakeOps();
    const msgs: string[] = [];
    const s = new StaticEntries((e) => msgs.push(e.message), ops, names);
    await s.start(pick(cfg('10.8.0.0/16 dev eth0\n  10.7.0.0/16 no_track')));
    log.length = 0;
    assert.equal(await s.onAddressRemoved({ ifname: 'eth0', address: '10.9.0.1', prefixLength: 24 }), true);
    assert.equal(await s.onAddressRemoved({ ifname: 'eth0', address: '10.9.1.1', prefixLength: 24 }), false);
    const route = { family: 4 as const, type: 'unicast', table: 254, protocol: 18, scope: 0, tos: 0 };
    assert.equal(await s.onRouteRemoved({ route: { ...route, destination: '10.8.0.0/16' } }), true);
    assert.equal(await s.onRouteRemoved({ route: { ...route, destination: '10.7.0.0/16' } }), false);
    const rule = { family: 4 as const, priority: 50, action: 'table', table: 100, invert: false, tos: 0 };
    assert.equal(await s.onRuleRemoved({ rule: { ...rule, from: '10.9.0.0/24' } }), true);
    assert.equal(await s.onRuleRemoved({ rule: { ...rule, priority: 51, from: '10.9.0.0/24' } }), false);
    assert.deepEqual(log, ['addAddress 10.9.0.1/24 eth0', 'addRoute 10.8.0.0/16', 'addRule 50']);
    assert.ok(msgs.includes('Restoring deleted static address 10.9.0.1/24 dev eth0'));
    await s.stop();
    assert.equal(await s.onAddressRemoved({ ifname: 'eth0', address: '10.9.0.1', prefixLength: 24 }), false);
  });
});

describe('virtual routes and rules of an instance', () => {
  const vi = config(`vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1/24
  }
  virtual_routes {
    10.5.0.0/16 via 10.0.0.254 dev eth0
    10.6.0.0/16 via 10.0.0.254 dev eth0 no_track
  }
  virtual_rules {
    from 10.0.0.1 table 100 preference 10
  }
}
`).vrrpInstances[0];

  it('adds routes then rules on MASTER, removes rules then routes on leaving, and spots a lost tracked route', async () => {
    const { ops, log } = fakeOps();
    const ir = new InstanceRoutes('VI_1', vi.virtualRoutes, vi.virtualRules, undefined, ops, names);
    await ir.becomeMaster();
    assert.deepEqual(log, ['addRoute 10.5.0.0/16', 'addRoute 10.6.0.0/16', 'addRule 10']);
    const route = { family: 4 as const, type: 'unicast', table: 254, protocol: 18, scope: 0, tos: 0 };
    assert.equal(ir.onRouteRemoved({ route: { ...route, destination: '10.5.0.0/16' } }), true);
    assert.equal(ir.onRouteRemoved({ route: { ...route, destination: '10.6.0.0/16' } }), false, 'no_track');
    assert.deepEqual(ir.held().routes, []);
    log.length = 0;
    await ir.leaveMaster();
    assert.deepEqual(log, ['deleteRule 10'], 'only what is still set is removed');
    log.length = 0;
    await ir.leaveMaster(true);
    assert.deepEqual(log, ['deleteRule 10', 'deleteRoute 10.5.0.0/16', 'deleteRoute 10.6.0.0/16']);
  });
});

describe('VMAC naming', () => {
  it('uses the RFC 5798 MAC per family and keepalived names', () => {
    assert.deepEqual([...vrrpMac(51, 4)], [0, 0, 0x5e, 0, 1, 51]);
    assert.deepEqual([...vrrpMac(255, 6)], [0, 0, 0x5e, 0, 2, 255]);
    assert.throws(() => vrrpMac(0, 4), /VRID/);
    assert.equal(vmacName(7), 'vrrp.7');
    assert.equal(vmacName(7, 'vmac7'), 'vmac7');
    assert.equal(linkLocalFromMac(Buffer.from([0x52, 0x54, 0, 0x12, 0x34, 0x56])), 'fe80::5054:ff:fe12:3456');
  });
});

describe('datagram parsing', () => {
  it('splits netlink datagrams and reads IFLA_INFO_KIND', () => {
    const m = (type: number, payload: number[]) => {
      const b = Buffer.alloc(16 + payload.length);
      b.writeUInt32LE(b.length, 0);
      b.writeUInt16LE(type, 4);
      Buffer.from(payload).copy(b, 16);
      return b;
    };
    const two = Buffer.concat([m(20, [1, 2, 3, 4]), m(21, [])]);
    assert.deepEqual(
      splitMessages(two).map((x) => [x.type, [...x.data]]),
      [
        [20, [1, 2, 3, 4]],
        [21, []],
      ],
    );
    assert.deepEqual(splitMessages(Buffer.from([1, 2, 3])), []);
    const info = Buffer.from([11, 0, 1, 0, ...Buffer.from('veth\0\0\0\0')].slice(0, 12));
    info.writeUInt16LE(9, 0);
    assert.equal(linkKind(info), 'veth');
  });

  it('parses proc connector events and builds the subscription', () => {
    const ev = (what: number, data: number[]) => {
      const b = Buffer.alloc(16 + 20 + 16 + data.length * 4);
      b.writeUInt32LE(b.length, 0);
      b.writeUInt16LE(3, 4);
      b.writeUInt32LE(1, 16);
      b.writeUInt32LE(1, 20);
      b.writeUInt32LE(7, 24);
      b.writeUInt16LE(16 + data.length * 4, 32);
      b.writeUInt32LE(what, 36);
      b.writeUInt32LE(1, 40);
      data.forEach((d, i) => {
        b.writeUInt32LE(d, 52 + i * 4);
      });
      return b;
    };
    assert.deepEqual(parseProcEvent(ev(1, [10, 10, 11, 11])), {
      what: 'fork',
      cpu: 1,
      parentPid: 10,
      parentTgid: 10,
      childPid: 11,
      childTgid: 11,
      seq: 7,
    });
    assert.deepEqual(parseProcEvent(ev(2, [11, 11])), { what: 'exec', cpu: 1, pid: 11, tgid: 11, seq: 7 });
    assert.deepEqual(parseProcEvent(ev(0x80000000, [11, 11, 9, 17])), {
      what: 'exit',
      cpu: 1,
      pid: 11,
      tgid: 11,
      exitCode: 9,
      exitSignal: 17,
      seq: 7,
    });
    const comm = ev(0x200, [11, 11, 0, 0, 0, 0]);
    Buffer.from('haproxy\0').copy(comm, 60);
    assert.equal((parseProcEvent(comm) as { comm: string }).comm, 'haproxy');
    assert.equal(parseProcEvent(Buffer.alloc(10)), undefined);
    const sub = subscribeMessage(true, 1234);
    assert.deepEqual(
      [sub.length, sub.readUInt16LE(4), sub.readUInt32LE(12), sub.readUInt32LE(16), sub.readUInt32LE(36)],
      [40, 3, 1234, 1, 1],
    );
  });
});
