/**
 * Host plumbing against a real kernel, checked with iproute2 and /proc/sys in a lab namespace (an agent runs
 * src/net there): routes and rules appear and go, static entries follow start / reload / stop and are put
 * back when deleted by hand, a VMAC is a private macvlan with the VRRP MAC and keepalived's sysctls, the
 * address watcher sees a real `ip addr del` and interfaces that come and go, and the process tracker sees a
 * real process start and die (in the root namespace through the process connector, in a namespace by
 * scanning /proc with pidfd exit watches).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloConfig, NormalisedVrrpTrackProcess } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { ProcessTracker, type QuorumChange } from '../../src/net/process-watch.js';
import type { RouteEntry } from '../../src/net/route.js';
import { canUseNetns, type Host, NetnsLab, waitFor } from '../helpers/netns.js';
import { NetAgent } from './net-agent.js';

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';

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

interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
  metrics?: ({ mtu?: number; lock?: string[] } | string)[];
  nexthops?: { gateway: string; dev: string; weight: number }[];
  from?: string;
  pref?: string;
}

interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table?: string;
  action?: string;
  protocol?: string;
  fwmark?: string;
  fwmask?: string;
  iif?: string;
  not?: null;
  tos?: string;
  target?: number;
}

describe('host plumbing in a namespace', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  let host: Host;
  let agent: NetAgent;

  const ip = async (...args: string[]) => (await lab.exec(host.ns, 'ip', args)).stdout;
  const routes = async (family: 4 | 6 = 4): Promise<IpRoute[]> =>
    JSON.parse(await ip('-j', `-${family}`, 'route', 'show', 'table', 'all'));
  const rules = async (family: 4 | 6 = 4): Promise<IpRule[]> =>
    JSON.parse(await ip('-j', `-${family}`, 'rule', 'show'));
  const sysctl = async (path: string) =>
    Number((await lab.exec(host.ns, 'cat', [`/proc/sys/net/${path}`])).stdout.trim());
  const findRoute = async (dst: string, table?: string, family: 4 | 6 = 4) =>
    (await routes(family)).find((r) => r.dst === dst && (table === undefined || r.table === table));

  before(async () => {
    host = await lab.addHost('h', ['10.93.0.1/24', 'fd00:93::1/64']);
    await lab.addHost('peer', ['10.93.0.2/24']);
    agent = NetAgent.start(lab, host.ns);
    await agent.request('ping');
  });

  after(async () => {
    await agent?.stop();
    await lab.cleanup();
  });

  describe('routes and rules', () => {
    it('adds and deletes every route type with keepalived protocol 18, idempotently', async () => {
      const specs = [
        { family: 4, destination: '10.50.0.0/16', via: '10.93.0.254', dev: 'eth0', table: 100, metric: 7 },
        { family: 4, destination: '10.51.0.0/16', type: 'blackhole' },
        { family: 4, destination: '10.52.0.0/16', type: 'unreachable', metric: 3 },
        { family: 4, destination: '10.53.0.0/16', type: 'prohibit' },
        { family: 4, destination: '10.54.0.0/16', type: 'throw', table: 100 },
        { family: 4, destination: '10.93.0.77/32', type: 'local', dev: 'eth0', table: 100 },
        {
          family: 4,
          destination: '10.60.0.0/16',
          dev: 'eth0',
          src: '10.93.0.1',
          scope: 253,
          metrics: { mtu: 1400, lock: ['mtu'] },
        },
        {
          family: 4,
          destination: '10.61.0.0/16',
          nexthops: [
            { via: '10.93.0.253', dev: 'eth0', weight: 2 },
            { via: '10.93.0.252', dev: 'eth0' },
          ],
        },
        {
          family: 6,
          destination: 'fd00:50::/64',
          via: 'fd00:93::fe',
          dev: 'eth0',
          from: 'fd00:1::/64',
          pref: 1,
        },
      ];
      for (const spec of specs) assert.equal(await agent.request('addRoute', { spec }), 'added');
      assert.equal(
        await agent.request('addRoute', { spec: specs[1] }),
        'exists',
        'an identical route is EEXIST',
      );

      const v4 = await routes(4);
      const get = (dst: string) => v4.find((r) => r.dst === dst);
      const r50 = get('10.50.0.0/16');
      assert.deepEqual(
        [r50?.gateway, r50?.dev, r50?.table, r50?.protocol, r50?.metric],
        ['10.93.0.254', 'eth0', '100', 'keepalived', 7],
      );
      assert.equal(get('10.51.0.0/16')?.type, 'blackhole');
      assert.equal(get('10.52.0.0/16')?.type, 'unreachable');
      assert.equal(get('10.52.0.0/16')?.metric, 3);
      assert.equal(get('10.53.0.0/16')?.type, 'prohibit');
      assert.equal(get('10.54.0.0/16')?.type, 'throw');
      assert.equal(get('10.93.0.77')?.type, 'local');
      assert.equal(get('10.60.0.0/16')?.prefsrc, '10.93.0.1');
      assert.match(await ip('-4', 'route', 'show', '10.60.0.0/16'), /mtu lock 1400/);
      assert.deepEqual(
        get('10.61.0.0/16')?.nexthops?.map((n) => [n.gateway, n.dev, n.weight]),
        [
          ['10.93.0.253', 'eth0', 2],
          ['10.93.0.252', 'eth0', 1],
        ],
      );
      for (const r of v4.filter((r) => r.dst.startsWith('10.5') || r.dst.startsWith('10.6')))
        assert.equal(r.protocol, 'keepalived', `${r.dst} carries protocol 18`);
      const v6 = (await routes(6)).find((r) => r.dst === 'fd00:50::/64');
      assert.equal(v6?.from, 'fd00:1::/64');
      assert.equal(v6?.pref, 'high');

      // listRoutes reads them back.
      const listed = await agent.request<RouteEntry[]>('listRoutes', { family: 4, table: 100 });
      assert.deepEqual(listed.map((r) => [r.destination, r.type]).sort(), [
        ['10.50.0.0/16', 'unicast'],
        ['10.54.0.0/16', 'throw'],
        ['10.93.0.77/32', 'local'],
      ]);

      for (const spec of specs) assert.equal(await agent.request('deleteRoute', { spec }), 'deleted');
      assert.equal(await agent.request('deleteRoute', { spec: specs[0] }), 'absent');
      const left = (await routes(4)).filter((r) => r.protocol === 'keepalived');
      assert.deepEqual(left, []);
    });

    it('adds and deletes rules of every action', async () => {
      const specs = [
        { family: 4, priority: 100, action: 'table', table: 100, from: '10.93.0.0/24', protocol: 18 },
        {
          family: 4,
          priority: 101,
          action: 'table',
          table: 1000,
          fwmark: 5,
          fwmask: 255,
          iif: 'eth0',
          invert: true,
        },
        { family: 4, priority: 102, action: 'unreachable', to: '10.70.0.0/16', tos: 16 },
        { family: 4, priority: 103, action: 'goto', goto: 200, ipProto: 6, dport: { start: 80, end: 90 } },
        { family: 4, priority: 104, action: 'blackhole', from: '10.71.0.0/16' },
        { family: 4, priority: 105, action: 'prohibit', from: '10.72.0.0/16' },
        { family: 4, priority: 106, action: 'nop', from: '10.73.0.0/16' },
        { family: 6, priority: 107, action: 'table', table: 100, from: 'fd00::/8', suppressPrefixLength: 0 },
      ];
      for (const spec of specs) assert.equal(await agent.request('addRule', { spec }), 'added');
      assert.equal(await agent.request('addRule', { spec: specs[0] }), 'exists');
      const r4 = await rules(4);
      const at = (p: number) => r4.find((r) => r.priority === p);
      assert.equal(at(100)?.src, '10.93.0.0');
      assert.equal(at(100)?.srclen, 24);
      assert.equal(at(100)?.table, '100');
      assert.equal(at(100)?.protocol, 'keepalived');
      assert.equal(at(101)?.table, '1000');
      assert.equal(at(101)?.iif, 'eth0');
      assert.equal(at(101)?.fwmark, '0x5');
      assert.equal(at(101)?.fwmask, '0xff');
      assert.ok(at(101) && 'not' in at(101)!, 'rule 101 is inverted');
      assert.equal(at(102)?.action, 'unreachable');
      assert.equal(at(102)?.dst, '10.70.0.0');
      assert.equal((at(103) as { goto?: number } | undefined)?.goto, 200);
      assert.equal(at(104)?.action, 'blackhole');
      assert.equal(at(105)?.action, 'prohibit');
      assert.ok(at(106) && 'nop' in at(106)!, 'rule 106 is nop');
      assert.match(
        await ip('-6', 'rule', 'show'),
        /107:\s+from fd00::\/8 lookup 100 suppress_prefixlength 0/,
      );

      for (const spec of specs) assert.equal(await agent.request('deleteRule', { spec }), 'deleted');
      assert.equal(await agent.request('deleteRule', { spec: specs[2] }), 'absent');
      assert.deepEqual(
        (await rules(4)).map((r) => r.priority),
        [0, 32766, 32767],
      );
    });
  });

  describe('static entries from keepalived.conf', () => {
    const text = (extraRoute: string) => `
static_ipaddress {
  10.93.1.1/24 dev eth0 label eth0:st
  10.93.2.1/24 dev eth0 no_track
}
static_routes {
  10.80.0.0/16 via 10.93.0.254 dev eth0 table 100 metric 10
  blackhole 10.81.0.0/16 no_track
  ${extraRoute}
}
static_rules {
  from 10.93.1.0/24 table 100 preference 200
  fwmark 7 table 100 preference 201 no_track
}
`;
    const pick = (c: HaloConfig) => ({
      staticIpaddresses: c.staticIpaddresses,
      staticRoutes: c.staticRoutes,
      staticRules: c.staticRules,
    });

    it('sets them at start, restores the tracked ones deleted by hand, reloads as a diff, clears at stop', async () => {
      const first = pick(config(text('10.82.0.0/16 via 10.93.0.254 dev eth0')));
      // A rule left by a crashed predecessor: start clears it first, so it is not duplicated.
      await ip('rule', 'add', 'pref', '200', 'from', '10.93.1.0/24', 'table', '100', 'proto', '18');
      const rep = await agent.request<{ added: string[]; failed: unknown[] }>('staticStart', {
        name: 's',
        config: first,
      });
      assert.deepEqual(rep.failed, []);
      assert.equal(rep.added.length, 7);
      assert.match(await ip('-4', 'addr', 'show', 'dev', 'eth0'), /10\.93\.1\.1\/24 .*eth0:st/);
      assert.ok(await findRoute('10.80.0.0/16', '100'));
      assert.equal((await findRoute('10.81.0.0/16'))?.type, 'blackhole');
      assert.ok(await findRoute('10.82.0.0/16'));
      assert.equal(
        (await rules(4)).filter((r) => r.priority === 200).length,
        1,
        'the leftover rule was replaced',
      );
      assert.ok((await rules(4)).find((r) => r.priority === 201));

      // Deleted behind halo's back: tracked ones come back, no_track ones do not.
      await agent.request('staticWatch', { name: 's' });
      await ip('addr', 'del', '10.93.1.1/24', 'dev', 'eth0');
      await ip('addr', 'del', '10.93.2.1/24', 'dev', 'eth0');
      await ip('route', 'del', '10.80.0.0/16', 'table', '100');
      await ip('rule', 'del', 'pref', '200');
      await ip('rule', 'del', 'pref', '201');
      await waitFor(async () => /10\.93\.1\.1\/24/.test(await ip('-4', 'addr', 'show', 'dev', 'eth0')), 2000);
      await waitFor(() => findRoute('10.80.0.0/16', '100'), 2000);
      await waitFor(async () => (await rules(4)).some((r) => r.priority === 200), 2000);
      await new Promise((r) => setTimeout(r, 200));
      assert.doesNotMatch(
        await ip('-4', 'addr', 'show', 'dev', 'eth0'),
        /10\.93\.2\.1/,
        'no_track address stays gone',
      );
      assert.ok(!(await rules(4)).some((r) => r.priority === 201), 'no_track rule stays gone');
      const logs = agent.received('static:s:log').map((p) => (p as unknown as { message: string }).message);
      assert.ok(
        logs.some((m) => m === 'Restoring deleted static address 10.93.1.1/24 dev eth0'),
        logs.join('\n'),
      );

      // Reload: 10.82 leaves, 10.83 comes, 10.80 stays untouched.
      const second = pick(config(text('10.83.0.0/16 via 10.93.0.254 dev eth0')));
      await agent.request('watchRoutes', { name: 'reload' });
      const rr = await agent.request<{ added: string[]; removed: string[] }>('staticReload', {
        name: 's',
        config: second,
      });
      assert.ok(
        rr.removed.some((x) => x.includes('10.82.0.0/16')),
        JSON.stringify(rr),
      );
      assert.ok(
        rr.added.some((x) => x.includes('10.83.0.0/16')),
        JSON.stringify(rr),
      );
      assert.ok(!rr.added.some((x) => x.includes('10.80.0.0/16')), 'an unchanged route is not re-added');
      assert.ok(!(await findRoute('10.82.0.0/16')));
      assert.ok(await findRoute('10.83.0.0/16'));
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(
        !agent
          .received('route:reload')
          .some((r) => (r as unknown as RouteEntry).destination === '10.80.0.0/16'),
        'the kept route was not removed and re-added',
      );
      await agent.request('unwatch', { name: 'reload' });

      // Stop: everything halo set goes; the no_track address deleted by hand stays deleted.
      await agent.request('staticStop', { name: 's' });
      assert.doesNotMatch(await ip('-4', 'addr', 'show', 'dev', 'eth0'), /10\.93\.[12]\.1/);
      assert.deepEqual(
        (await routes(4)).filter((r) => r.protocol === 'keepalived').map((r) => r.dst),
        [],
      );
      assert.deepEqual(
        (await rules(4)).map((r) => r.priority),
        [0, 32766, 32767],
      );
      await agent.request('unwatch', { name: 'static:s' });
    });
  });

  describe('VMAC', () => {
    it('is a private macvlan on the base with the VRRP MAC and keepalived sysctls, undone on delete', async () => {
      await lab.exec(host.ns, 'sh', ['-c', 'echo 2 > /proc/sys/net/ipv4/conf/all/rp_filter']);
      const v = await agent.request<{ ifname: string; ifindex: number; mac: string }>('createVmac', {
        opts: { base: 'eth0', vrid: 51, family: 4 },
      });
      assert.equal(v.ifname, 'vrrp.51');
      assert.equal(v.mac, '00:00:5e:00:01:33');
      const [link] = JSON.parse(await ip('-d', '-j', 'link', 'show', 'vrrp.51')) as {
        ifindex: number;
        address: string;
        link: string;
        flags: string[];
        linkinfo: { info_kind: string; info_data: { mode: string } };
        inet6_addr_gen_mode?: string;
      }[];
      assert.equal(link.ifindex, v.ifindex);
      assert.equal(link.address, '00:00:5e:00:01:33');
      assert.equal(link.link, 'eth0');
      assert.equal(link.linkinfo.info_kind, 'macvlan');
      assert.equal(link.linkinfo.info_data.mode, 'private');
      assert.ok(link.flags.includes('UP'));
      assert.equal(link.inet6_addr_gen_mode, 'none');
      assert.equal(await sysctl('ipv4/conf/vrrp.51/arp_ignore'), 1);
      assert.equal(await sysctl('ipv4/conf/vrrp.51/accept_local'), 1);
      assert.equal(await sysctl('ipv4/conf/vrrp.51/rp_filter'), 0);
      assert.equal(await sysctl('ipv4/conf/vrrp.51/promote_secondaries'), 1);
      assert.equal(await sysctl('ipv6/conf/vrrp.51/disable_ipv6'), 1, 'an IPv4 VMAC runs no IPv6');
      assert.equal(await sysctl('ipv4/conf/eth0/arp_ignore'), 1);
      assert.equal(await sysctl('ipv4/conf/eth0/arp_filter'), 1);
      assert.equal(await sysctl('ipv4/conf/all/rp_filter'), 0, 'all.rp_filter cleared so the VMAC can be 0');
      assert.equal(
        await sysctl('ipv4/conf/eth0/rp_filter'),
        2,
        'other interfaces raised to the old all value',
      );

      // Creating again reuses it; a second VMAC on the same base shares the base settings.
      const again = await agent.request<{ created: boolean; ifindex: number }>('createVmac', {
        opts: { base: 'eth0', vrid: 51, family: 4 },
      });
      assert.equal(again.created, false);
      assert.equal(again.ifindex, v.ifindex);

      const v6 = await agent.request<{ ifname: string; mac: string; linkLocal: string }>('createVmac', {
        opts: { base: 'eth0', vrid: 52, family: 6, name: 'vmac52' },
      });
      assert.equal(v6.ifname, 'vmac52');
      assert.equal(v6.mac, '00:00:5e:00:02:34');
      const eth0LinkLocal = (await ip('-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link')).match(
        /inet6 (fe80::[0-9a-f:]+)\/64/,
      )?.[1];
      assert.equal(v6.linkLocal, eth0LinkLocal, "the VMAC gets the base's link-local address");
      assert.match(await ip('-6', 'addr', 'show', 'dev', 'vmac52'), new RegExp(`inet6 ${v6.linkLocal}/64`));

      // A name taken by something that is not a macvlan is refused.
      await ip('link', 'add', 'vrrp.53', 'type', 'veth', 'peer', 'name', 'vrrp53p');
      await assert.rejects(agent.request('createVmac', { opts: { base: 'eth0', vrid: 53, family: 4 } }), {
        code: 'EEXIST',
      });
      await ip('link', 'del', 'vrrp.53');

      await agent.request('deleteVmac', { vmac: { ifname: 'vrrp.51', base: 'eth0', family: 4 } });
      await agent.request('deleteVmac', { vmac: { ifname: 'vmac52', base: 'eth0', family: 6 } });
      assert.doesNotMatch(await ip('link', 'show'), /vrrp\.51|vmac52/);
      assert.equal(await sysctl('ipv4/conf/eth0/arp_ignore'), 0, 'base arp_ignore restored');
      assert.equal(await sysctl('ipv4/conf/eth0/arp_filter'), 0, 'base arp_filter restored');
      await agent.request('restoreVmacHost');
      assert.equal(await sysctl('ipv4/conf/all/rp_filter'), 2);
      assert.equal(await sysctl('ipv4/conf/eth0/rp_filter'), 0);
    });
  });

  describe('address and link watching', () => {
    it('sees a real ip addr add / del and interfaces that come and go', async () => {
      const initial = await agent.request<string[]>('watchAddresses', { name: 'w' });
      assert.ok(initial.includes('eth0 10.93.0.1/24'), initial.join(','));
      await ip('addr', 'add', '10.93.0.100/24', 'dev', 'eth0');
      const added = await agent.waitPacket(
        'addr:w',
        (p) => (p as unknown as { address: string }).address === '10.93.0.100',
      );
      assert.equal((added as unknown as { type: string }).type, 'added');
      await ip('addr', 'del', '10.93.0.100/24', 'dev', 'eth0');
      const removed = (await agent.waitPacket('addr:w', (p) => {
        const e = p as unknown as { address: string; type: string };
        return e.address === '10.93.0.100' && e.type === 'removed';
      })) as unknown as {
        ifname: string;
        ifindex: number;
        family: number;
        prefixLength: number;
        secondary: boolean;
      };
      const [eth0] = JSON.parse(await ip('-j', 'link', 'show', 'eth0')) as { ifindex: number }[];
      assert.deepEqual(
        [removed.ifname, removed.ifindex, removed.family, removed.prefixLength, removed.secondary],
        ['eth0', eth0.ifindex, 4, 24, true],
      );
      await ip('-6', 'addr', 'add', 'fd00:93::100/64', 'dev', 'eth0', 'nodad');
      await ip('-6', 'addr', 'del', 'fd00:93::100/64', 'dev', 'eth0');
      await agent.waitPacket('addr:w', (p) => {
        const e = p as unknown as { address: string; type: string; family: number };
        return e.address === 'fd00:93::100' && e.type === 'removed' && e.family === 6;
      });

      // dynamic_interfaces: a link that appears later, then goes.
      await ip('link', 'add', 'late0', 'type', 'veth', 'peer', 'name', 'late1');
      const appeared = (await agent.waitPacket(
        'link:w',
        (p) => (p as unknown as { ifname: string }).ifname === 'late0',
      )) as unknown as {
        type: string;
        kind: string;
      };
      assert.equal(appeared.type, 'added');
      assert.equal(appeared.kind, 'veth');
      await ip('link', 'set', 'late0', 'up');
      await ip('link', 'set', 'late1', 'up');
      await agent.waitPacket('link:w', (p) => {
        const e = p as unknown as { ifname: string; type: string; up: boolean };
        return e.ifname === 'late0' && e.type === 'changed' && e.up;
      });
      await ip('link', 'del', 'late0');
      await agent.waitPacket('link:w', (p) => {
        const e = p as unknown as { ifname: string; type: string };
        return e.ifname === 'late0' && e.type === 'removed';
      });
      await agent.request('unwatch', { name: 'w' });
    });

    it('recovers from a socket overrun by re-dumping: no change is lost', async () => {
      // A tiny receive buffer and a blocked event loop make the kernel drop notifications (ENOBUFS).
      await agent.request('watchAddresses', { name: 'o', recvBufferSize: 2048 });
      const blocked = agent.request('block', { ms: 1500 });
      await new Promise((r) => setTimeout(r, 100)); // the agent is now busy and not reading
      const batch = Array.from(
        { length: 200 },
        (_, i) => `addr add 10.94.${i >> 8}.${(i & 255) + 1}/32 dev eth0`,
      );
      await lab.exec(host.ns, 'sh', [
        '-c',
        `printf '%s\\n' ${batch.map((b) => `'${b}'`).join(' ')} | ip -batch -`,
      ]);
      await blocked;
      const state = await waitFor<{ addresses: string[]; overruns: number } | undefined>(async () => {
        const s = await agent.request<{ addresses: string[]; overruns: number }>('watchedAddresses', {
          name: 'o',
        });
        return s.addresses.filter((a) => a.includes('10.94.')).length === 200 ? s : undefined;
      }, 3000);
      assert.ok(state && state.overruns >= 1, 'the kernel dropped notifications');
      assert.ok(agent.received('overrun:o').length >= 1);
      await agent.request('unwatch', { name: 'o' });
      await lab.exec(host.ns, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0', 'to', '10.94.0.0/16']);
    });
  });

  describe('process tracking', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-tp-'));
    // A private copy of sleep with a unique name, so no other process on this shared machine matches.
    const name = `htp${lab.tag}`;
    const bin = join(dir, name);
    copyFileSync('/bin/sleep', bin);
    const children: ChildProcess[] = [];
    after(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const tracked = (over: Partial<NormalisedVrrpTrackProcess> = {}): NormalisedVrrpTrackProcess => ({
      name: 'p',
      process: name,
      params: [],
      paramMatch: 'none',
      fullCommand: false,
      weight: 0,
      weightReverse: false,
      quorum: 1,
      forkDelayMs: 0,
      terminateDelayMs: 0,
      ...over,
    });

    it('in the root namespace, the process connector sees a start and a kill by PID', async (t) => {
      const tracker = new ProcessTracker([tracked(), tracked({ name: 'two', quorum: 2 })], { mode: 'auto' });
      const mode = await tracker.start();
      if (mode !== 'connector') {
        t.skip(`process connector unavailable here: ${tracker.watcher.connectorError}`);
        tracker.close();
        return;
      }
      const flips: QuorumChange[] = [];
      tracker.on('quorum', (q) => flips.push(q));
      try {
        assert.deepEqual(tracker.quorum(), { p: false, two: false });
        const a = spawn(bin, ['30']);
        children.push(a);
        await waitFor(() => tracker.quorum().p, 2000, 5);
        assert.deepEqual(tracker.watcher.pids('p'), [a.pid]);
        assert.equal(tracker.quorum().two, false, 'one process is below quorum 2');
        const b = spawn(bin, ['31']);
        children.push(b);
        await waitFor(() => tracker.quorum().two, 2000, 5);
        process.kill(b.pid!, 'SIGKILL');
        await waitFor(() => !tracker.quorum().two, 2000, 5);
        process.kill(a.pid!, 'SIGKILL');
        await waitFor(() => !tracker.quorum().p, 2000, 5);
        assert.deepEqual(
          flips.map((f) => f.message),
          [
            `Quorum gained for tracked process p`,
            `Quorum gained for tracked process two`,
            `Quorum lost for tracked process two`,
            `Quorum lost for tracked process p`,
          ],
        );
      } finally {
        tracker.close();
      }
    });

    it('matches the full command line and its parameters', async (t) => {
      const tracker = new ProcessTracker(
        [tracked({ process: bin, params: ['40'], paramMatch: 'exact', fullCommand: true })],
        { mode: 'auto' },
      );
      const mode = await tracker.start();
      try {
        const other = spawn(bin, ['41']);
        const mine = spawn(bin, ['40']);
        children.push(other, mine);
        await waitFor(() => tracker.quorum().p, 3000, 5);
        assert.deepEqual(tracker.watcher.pids('p'), [mine.pid], `only '${bin} 40' matches (${mode})`);
        process.kill(mine.pid!, 'SIGKILL');
        await waitFor(() => !tracker.quorum().p, 2000, 5);
        process.kill(other.pid!, 'SIGKILL');
        await new Promise((r) => other.once('exit', r));
        t.diagnostic(`mode ${mode}`);
      } finally {
        tracker.close();
      }
    });

    it('in a network namespace (no connector), a /proc scan finds the start and a pidfd the kill', async () => {
      const r = await agent.request<{ mode: string; quorum: Record<string, boolean> }>('trackProcesses', {
        name: 'ns',
        tracked: [tracked()],
        mode: 'auto',
        scanIntervalMs: 100,
      });
      assert.equal(r.mode, 'scan');
      assert.deepEqual(r.quorum, { p: false });
      const child = lab.spawn(host.ns, bin, ['30']);
      const added = (await agent.waitPacket(
        'proc:ns',
        (p) => (p as unknown as { type: string }).type === 'added',
      )) as unknown as {
        pid: number;
        via: string;
      };
      assert.equal(added.pid, child.pid);
      assert.equal(added.via, 'scan');
      await agent.waitPacket('quorum:ns', (p) => (p as unknown as { haveQuorum: boolean }).haveQuorum);
      await lab.kill(child, 'SIGKILL');
      const removed = (await agent.waitPacket(
        'proc:ns',
        (p) => (p as unknown as { type: string }).type === 'removed',
      )) as unknown as {
        pid: number;
        via: string;
      };
      assert.equal(removed.pid, child.pid);
      assert.equal(removed.via, 'exit');
      await agent.waitPacket('quorum:ns', (p) => !(p as unknown as { haveQuorum: boolean }).haveQuorum);
      await agent.request('unwatch', { name: 'ns' });
    });
  });
});
