/**
 * src/net/link.ts against a real kernel: addresses added/removed through
 * rtnetlink are checked with `ip addr`, and LinkWatcher events are driven by
 * `ip link set ... down/up` in the namespace (an agent runs link.ts there).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, type Host, NetnsLab } from '../helpers/netns.js';
import { NetAgent } from './net-agent.js';

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';

interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope: string;
  label?: string;
  secondary?: boolean;
  tentative?: boolean;
  nodad?: boolean;
  noprefixroute?: boolean;
}

describe('link.ts in a namespace', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  let host: Host;
  let agent: NetAgent;

  const ipAddrs = async (): Promise<IpAddrInfo[]> => {
    const { stdout } = await lab.exec(host.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
    return (JSON.parse(stdout) as { addr_info: IpAddrInfo[] }[])[0].addr_info.filter((a) => a.local);
  };
  const find = async (address: string) => (await ipAddrs()).find((a) => a.local === address);

  before(async () => {
    host = await lab.addHost('l', ['10.92.0.1/24', 'fd00:92::1/64']);
    await lab.addHost('peer', ['10.92.0.2/24']);
    agent = NetAgent.start(lab, host.ns);
    await agent.request('ping');
  });

  after(async () => {
    await agent?.stop();
    await lab.cleanup();
  });

  it('ifindex and macAddress agree with ip link; an unknown interface is ENODEV', async () => {
    const { stdout } = await lab.exec(host.ns, 'ip', ['-j', 'link', 'show', 'eth0']);
    const [l] = JSON.parse(stdout) as { ifindex: number; address: string }[];
    assert.equal(await agent.request('ifindex', { ifname: 'eth0' }), l.ifindex);
    assert.equal(await agent.request('macAddress', { ifname: 'eth0' }), l.address);
    await assert.rejects(agent.request('ifindex', { ifname: 'nosuch0' }), { code: 'ENODEV' });
  });

  it('adds an IPv4 VIP with label and broadcast, idempotently, and removes it tolerantly', async () => {
    const spec = { address: '10.92.0.100', prefixLength: 24, broadcast: '10.92.0.255', label: 'eth0:vip' };
    await agent.request('addAddress', { ifname: 'eth0', spec });
    await agent.request('addAddress', { ifname: 'eth0', spec }); // EEXIST is not an error
    const a = await find('10.92.0.100');
    assert.ok(a, 'address present');
    assert.equal(a.prefixlen, 24);
    assert.equal(a.broadcast, '10.92.0.255');
    assert.equal(a.label, 'eth0:vip');
    assert.equal(a.scope, 'global');
    assert.equal(a.secondary, true, 'same subnet as the primary, so secondary');
    assert.equal((await ipAddrs()).filter((x) => x.local === '10.92.0.100').length, 1);

    await agent.request('removeAddress', { ifname: 'eth0', spec });
    assert.equal(await find('10.92.0.100'), undefined);
    await agent.request('removeAddress', { ifname: 'eth0', spec }); // EADDRNOTAVAIL is not an error
    assert.ok(await find('10.92.0.1'), 'the primary address is untouched');
  });

  it('honours scope (names and numbers) and noprefixroute', async () => {
    await agent.request('addAddress', {
      ifname: 'eth0',
      spec: { address: '10.92.9.1', prefixLength: 32, scope: 'host' },
    });
    await agent.request('addAddress', {
      ifname: 'eth0',
      spec: { address: '10.92.8.1', prefixLength: 24, scope: 'link' },
    });
    await agent.request('addAddress', {
      ifname: 'eth0',
      spec: { address: '10.92.7.1', prefixLength: 24, scope: 200 },
    });
    await agent.request('addAddress', {
      ifname: 'eth0',
      spec: { address: '10.92.6.1', prefixLength: 24, noprefixroute: true },
    });
    assert.equal((await find('10.92.9.1'))?.scope, 'host');
    assert.equal((await find('10.92.8.1'))?.scope, 'link');
    assert.equal((await find('10.92.7.1'))?.scope, 'site');
    assert.equal((await find('10.92.6.1'))?.noprefixroute, true);
    const { stdout: routes } = await lab.exec(host.ns, 'ip', ['-4', 'route', 'show', 'dev', 'eth0']);
    assert.match(routes, /10\.92\.7\.0\/24/, 'a normal address gets its prefix route');
    assert.doesNotMatch(routes, /10\.92\.6\.0\/24/, 'noprefixroute installs none');

    const listed = (await agent.request('listAddresses', { ifname: 'eth0' })) as {
      address: string;
      prefixLength: number;
      scope: number;
      family: number;
    }[];
    const byAddr = new Map(listed.map((x) => [x.address, x]));
    assert.deepEqual(
      [...byAddr.keys()].filter((x) => !x.startsWith('fe80:')).sort(),
      (await ipAddrs())
        .map((x) => x.local)
        .filter((x) => !x.startsWith('fe80:'))
        .sort(),
    );
    assert.equal(byAddr.get('10.92.9.1')?.scope, 254);
    assert.equal(byAddr.get('10.92.8.1')?.scope, 253);
    assert.equal(byAddr.get('10.92.0.1')?.prefixLength, 24);
    assert.equal(byAddr.get('fd00:92::1')?.family, 6);

    for (const [address, prefixLength] of [
      ['10.92.9.1', 32],
      ['10.92.8.1', 24],
      ['10.92.7.1', 24],
      ['10.92.6.1', 24],
    ] as const) {
      await agent.request('removeAddress', { ifname: 'eth0', spec: { address, prefixLength } });
      assert.equal(await find(address), undefined, address);
    }
  });

  it('adds IPv6 VIPs without DAD (usable at once) and removes them', async () => {
    const spec = { address: 'fd00:92::100', prefixLength: 64 };
    await agent.request('addAddress', { ifname: 'eth0', spec });
    await agent.request('addAddress', { ifname: 'eth0', spec });
    const a = await find('fd00:92::100');
    assert.ok(a);
    assert.equal(a.nodad, true);
    assert.equal(a.tentative, undefined, 'not tentative');
    await agent.request('removeAddress', { ifname: 'eth0', spec });
    assert.equal(await find('fd00:92::100'), undefined);
    await agent.request('removeAddress', { ifname: 'eth0', spec });

    const deprecated = { address: 'fd00:92::101', prefixLength: 128, deprecated: true };
    await agent.request('addAddress', { ifname: 'eth0', spec: deprecated });
    const d = (await find('fd00:92::101')) as IpAddrInfo & {
      preferred_life_time?: number;
      deprecated?: boolean;
    };
    assert.equal(d.preferred_life_time, 0);
    assert.equal(d.deprecated, true);
    await agent.request('removeAddress', { ifname: 'eth0', spec: deprecated });
    assert.equal(await find('fd00:92::101'), undefined);
  });

  it('rejects bad address specs before talking to the kernel', async () => {
    for (const spec of [
      { address: '10.92.0.300', prefixLength: 24 },
      { address: '10.92.0.5', prefixLength: 33 },
      { address: 'fd00::5', prefixLength: 64, label: 'eth0:x' },
      { address: 'fd00::5', prefixLength: 64, broadcast: '10.0.0.255' },
      { address: '10.92.0.5', prefixLength: 24, scope: 'galaxy' },
      { address: '10.92.0.5', prefixLength: 24, label: 'a-label-that-is-too-long' },
    ]) {
      await assert.rejects(agent.request('addAddress', { ifname: 'eth0', spec }), {
        remoteName: 'TypeError',
      });
    }
    await assert.rejects(
      agent.request('addAddress', { ifname: 'nosuch0', spec: { address: '10.92.0.5', prefixLength: 24 } }),
      { code: 'ENODEV' },
    );
  });

  it('LinkWatcher reports eth0 down and up again from notifications', async (t) => {
    await agent.request('watch', { name: 'w' });
    const sock = 'watch:w';
    const before = agent.received(sock).length;
    const t0 = Date.now();
    await lab.exec(host.ns, 'ip', ['link', 'set', 'eth0', 'down']);
    const down = (await agent.waitPacket(
      sock,
      (p) => (p as unknown as { up: boolean }).up === false,
      2000,
    )) as unknown as {
      ifname: string;
      at: number;
    };
    assert.equal(down.ifname, 'eth0');
    // Pushed by the kernel, not found by polling: it lands within the time `ip` itself takes to run.
    const latencyMs = down.at - t0;
    t.diagnostic(`link-down notification ${latencyMs} ms after running ip link set down`);
    assert.ok(latencyMs < 500, `down reported after ${latencyMs} ms`);
    await lab.exec(host.ns, 'ip', ['link', 'set', 'eth0', 'up']);
    const events = () => agent.received(sock).slice(before) as unknown as { ifname: string; up: boolean }[];
    await agent.waitPacket(sock, () => events().some((e, i) => e.up && i > 0), 2000);
    assert.deepEqual(
      events().map((e) => [e.ifname, e.up]),
      [
        ['eth0', false],
        ['eth0', true],
      ],
      'one event per actual change, no duplicates',
    );
  });

  it('LinkWatcher reports a new interface and reports it down when deleted', async () => {
    const sock = 'watch:w';
    const before = agent.received(sock).length;
    const events = () => agent.received(sock).slice(before) as unknown as { ifname: string; up: boolean }[];
    // A veth pair inside the namespace (the dummy module may be missing); up on both ends means carrier.
    await lab.exec(host.ns, 'ip', [
      'link',
      'add',
      'halodummy0',
      'type',
      'veth',
      'peer',
      'name',
      'halodummy1',
    ]);
    await lab.exec(host.ns, 'ip', ['link', 'set', 'halodummy1', 'up']);
    await lab.exec(host.ns, 'ip', ['link', 'set', 'halodummy0', 'up']);
    await agent.waitPacket(sock, () => events().some((e) => e.ifname === 'halodummy0' && e.up), 2000);
    await lab.exec(host.ns, 'ip', ['link', 'del', 'halodummy0']);
    await agent.waitPacket(sock, () => events().some((e) => e.ifname === 'halodummy0' && !e.up), 2000);
    await agent.request('unwatch', { name: 'w' });
  });
});
