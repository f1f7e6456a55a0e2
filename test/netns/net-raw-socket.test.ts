/**
 * The raw socket addon with real sockets: two namespaces on a bridge, an agent
 * process in each (test/netns/net-agent.ts) driving src/net/raw-socket.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildGratuitousArp, buildUnsolicitedNa, internetChecksum, parseIpv6 } from '../../src/net/frames.js';
import { RawSocket, sendEthernetFrame } from '../../src/net/raw-socket.js';
import { canUseNetns, type Host, NetnsLab, waitFor } from '../helpers/netns.js';
import { type AgentPacket, NetAgent } from './net-agent.js';

const A4 = '10.91.0.1';
const A4_EXTRA = '10.91.0.11';
const B4 = '10.91.0.2';
const A6 = 'fd00:91::1';
const B6 = 'fd00:91::2';
const VRRP = 112;
const VRRP4_GROUP = '224.0.0.18';
const VRRP6_GROUP = 'ff02::12';

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';

interface LinkInfo {
  ifindex: number;
  address: string;
}

async function linkInfo(lab: NetnsLab, host: Host): Promise<LinkInfo> {
  const { stdout } = await lab.exec(host.ns, 'ip', ['-j', 'link', 'show', host.ifname]);
  const [l] = JSON.parse(stdout) as LinkInfo[];
  return l;
}

/** Link-local addresses start tentative (DAD); a v6 link-scoped send needs a usable one. */
async function linkLocal(lab: NetnsLab, host: Host): Promise<string> {
  return waitFor(async () => {
    const { stdout } = await lab.exec(host.ns, 'ip', [
      '-6',
      '-j',
      'addr',
      'show',
      'dev',
      host.ifname,
      'scope',
      'link',
    ]);
    const infos = JSON.parse(stdout) as { addr_info: { local?: string; tentative?: boolean }[] }[];
    const a = infos[0]?.addr_info.find((x) => x.local && !x.tentative);
    return a?.local ?? '';
  }, 5000);
}

const hex = (b: Buffer | string) => ({
  hex: Buffer.isBuffer(b) ? b.toString('hex') : Buffer.from(b).toString('hex'),
});
let tag = 0;
/** A payload unique to the call, so each assertion finds its own packet. */
function payload(len = 20): Buffer {
  const b = Buffer.alloc(len, 0xa5);
  b.writeUInt32BE(++tag, 0);
  b.writeUInt32BE(process.pid, 4);
  return b;
}
const withData = (data: Buffer) => (p: AgentPacket) => p.data === data.toString('hex');

/** Captures the first frame matching a tcpdump filter in a namespace; resolves with its bytes. */
async function captureOne(lab: NetnsLab, host: Host, filter: string): Promise<() => Promise<Buffer>> {
  const file = `/tmp/halo-net-${lab.tag}-${++tag}.pcap`;
  const child = lab.spawn(host.ns, 'tcpdump', ['-i', host.ifname, '-c', '1', '-U', '-w', file, filter]);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => err.includes('listening on'), 5000);
  return async () => {
    const timer = setTimeout(() => void lab.kill(child), 5000);
    await exited;
    clearTimeout(timer);
    const pcap = await readFile(file);
    // pcap: 24-byte global header, then a 16-byte record header with the captured length at offset 8.
    assert.ok(pcap.length > 40, `nothing captured for "${filter}": ${err}`);
    const caplen = pcap.readUInt32LE(24 + 8);
    return pcap.subarray(40, 40 + caplen);
  };
}

describe('raw sockets in namespaces', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  let a: Host;
  let b: Host;
  let agentA: NetAgent;
  let agentB: NetAgent;
  let linkA: LinkInfo;
  let linkB: LinkInfo;
  let a6LinkLocal: string;

  before(async () => {
    a = await lab.addHost('a', [`${A4}/24`, `${A4_EXTRA}/24`, `${A6}/64`]);
    b = await lab.addHost('b', [`${B4}/24`, `${B6}/64`]);
    [linkA, linkB] = await Promise.all([linkInfo(lab, a), linkInfo(lab, b)]);
    agentA = NetAgent.start(lab, a.ns);
    agentB = NetAgent.start(lab, b.ns);
    await Promise.all([agentA.request('ping'), agentB.request('ping')]);
    a6LinkLocal = await linkLocal(lab, a);
    await linkLocal(lab, b);
  });

  after(async () => {
    await Promise.all([agentA?.stop(), agentB?.stop()]);
    await lab.cleanup();
  });

  it('IPv4 VRRP multicast: TTL 255, source, destination 224.0.0.18, ifindex, header lengths', async () => {
    await agentB.request('open', { sock: 'v4', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('call', { sock: 'v4', method: 'joinGroup', args: [VRRP4_GROUP, 'eth0'] });
    await agentB.request('listen', { sock: 'v4' });
    await agentA.request('open', { sock: 'v4', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    for (const [method, args] of [
      ['setMulticastInterface', ['eth0']],
      ['setMulticastTtl', [255]],
      ['setTos', [0xc0]],
    ] as const) {
      await agentA.request('call', { sock: 'v4', method, args });
    }
    const data = payload(20);
    await agentA.request('call', { sock: 'v4', method: 'send', args: [hex(data), VRRP4_GROUP] });
    const p = await agentB.waitPacket('v4', withData(data));
    assert.equal(p.ttl, 255);
    assert.equal(p.source, A4);
    assert.equal(p.destination, VRRP4_GROUP);
    assert.equal(p.ifindex, linkB.ifindex);
    assert.equal(p.ipHeaderLength, 20);
    assert.equal(p.ipTotalLength, 20 + data.length);
  });

  it('a multicast sent with TTL 64 arrives with ttl 64 (so VRRP can drop it)', async () => {
    await agentA.request('call', { sock: 'v4', method: 'setMulticastTtl', args: [64] });
    const data = payload();
    await agentA.request('call', { sock: 'v4', method: 'send', args: [hex(data), VRRP4_GROUP] });
    assert.equal((await agentB.waitPacket('v4', withData(data))).ttl, 64);
    await agentA.request('call', { sock: 'v4', method: 'setMulticastTtl', args: [255] });
  });

  it('IPv4 unicast with IP_TTL, and a chosen source address through IP_PKTINFO', async () => {
    await agentA.request('call', { sock: 'v4', method: 'setTtl', args: [255] });
    const data = payload();
    await agentA.request('call', { sock: 'v4', method: 'send', args: [hex(data), B4] });
    const p = await agentB.waitPacket('v4', withData(data));
    assert.deepEqual([p.ttl, p.source, p.destination, p.ifindex], [255, A4, B4, linkB.ifindex]);

    const fromExtra = payload();
    await agentA.request('call', {
      sock: 'v4',
      method: 'send',
      args: [hex(fromExtra), B4, { source: A4_EXTRA }],
    });
    assert.equal((await agentB.waitPacket('v4', withData(fromExtra))).source, A4_EXTRA);
  });

  it('our own multicast comes back to a joined socket unless IP_MULTICAST_LOOP is off', async () => {
    await agentA.request('call', { sock: 'v4', method: 'joinGroup', args: [VRRP4_GROUP, 'eth0'] });
    await agentA.request('listen', { sock: 'v4' });
    const looped = payload();
    await agentA.request('call', { sock: 'v4', method: 'send', args: [hex(looped), VRRP4_GROUP] });
    const own = await agentA.waitPacket('v4', withData(looped));
    assert.equal(own.source, A4);

    await agentA.request('call', { sock: 'v4', method: 'setMulticastLoop', args: [false] });
    const quiet = payload();
    const marker = payload();
    await agentA.request('call', { sock: 'v4', method: 'send', args: [hex(quiet), VRRP4_GROUP] });
    await agentB.waitPacket('v4', withData(quiet));
    // The peer answers with a marker; by the time it is back, our looped copy would have been too.
    await agentB.request('open', { sock: 'v4-reply', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('call', { sock: 'v4-reply', method: 'send', args: [hex(marker), A4] });
    await agentA.waitPacket('v4', withData(marker));
    assert.equal(agentA.received('v4').filter(withData(quiet)).length, 0);
    await agentB.request('close', { sock: 'v4-reply' });
    await agentA.request('call', { sock: 'v4', method: 'leaveGroup', args: [VRRP4_GROUP, 'eth0'] });
  });

  it('IPv6 VRRP multicast to ff02::12: hop limit 255, link-local source, kernel checksum (IPV6_CHECKSUM)', async () => {
    for (const agent of [agentA, agentB]) {
      await agent.request('open', { sock: 'v6', opts: { family: 6, protocol: VRRP, ifname: 'eth0' } });
      await agent.request('call', { sock: 'v6', method: 'setIpv6ChecksumOffset', args: [6] });
    }
    await agentB.request('call', { sock: 'v6', method: 'joinGroup', args: [VRRP6_GROUP, 'eth0'] });
    await agentB.request('listen', { sock: 'v6' });
    await agentA.request('call', { sock: 'v6', method: 'setMulticastInterface', args: ['eth0'] });
    await agentA.request('call', { sock: 'v6', method: 'setMulticastTtl', args: [255] });

    const data = payload(24);
    data.writeUInt16BE(0, 6); // checksum field: the kernel fills it in
    await agentA.request('call', { sock: 'v6', method: 'send', args: [hex(data), VRRP6_GROUP] });
    const p = await agentB.waitPacket('v6', (x) => x.data.slice(0, 8) === data.toString('hex').slice(0, 8));
    assert.equal(p.ttl, 255);
    assert.equal(p.source, a6LinkLocal);
    assert.equal(p.destination, VRRP6_GROUP);
    assert.equal(p.ifindex, linkB.ifindex);
    assert.equal(p.ipHeaderLength, undefined);
    const got = Buffer.from(p.data, 'hex');
    const pseudo = Buffer.alloc(40);
    parseIpv6(p.source).copy(pseudo, 0);
    parseIpv6(p.destination).copy(pseudo, 16);
    pseudo.writeUInt32BE(got.length, 32);
    pseudo[39] = VRRP;
    assert.notEqual(got.readUInt16BE(6), 0, 'kernel wrote a checksum');
    assert.equal(internetChecksum(pseudo, got), 0, 'checksum verifies over the IPv6 pseudo-header');
  });

  it('IPv6: the receiver drops a datagram whose checksum is wrong, and hop limit 64 is reported as 64', async () => {
    // A sender without IPV6_CHECKSUM puts whatever we give it on the wire.
    await agentA.request('open', { sock: 'v6-raw', opts: { family: 6, protocol: VRRP, ifname: 'eth0' } });
    await agentA.request('call', { sock: 'v6-raw', method: 'setMulticastTtl', args: [64] });
    const bad = payload(24);
    bad.writeUInt16BE(0x1234, 6);
    await agentA.request('call', {
      sock: 'v6-raw',
      method: 'send',
      args: [hex(bad), VRRP6_GROUP, { ifindex: linkA.ifindex }],
    });
    await agentA.request('call', { sock: 'v6', method: 'setMulticastTtl', args: [64] });
    const good = payload(24);
    good.writeUInt16BE(0, 6);
    await agentA.request('call', { sock: 'v6', method: 'send', args: [hex(good), VRRP6_GROUP] });
    const p = await agentB.waitPacket('v6', (x) => x.data.slice(0, 8) === good.toString('hex').slice(0, 8));
    assert.equal(p.ttl, 64);
    assert.equal(
      agentB.received('v6').filter((x) => x.data.slice(0, 8) === bad.toString('hex').slice(0, 8)).length,
      0,
    );
    await agentA.request('close', { sock: 'v6-raw' });
  });

  it('IPv6 unicast with a chosen source (IPV6_PKTINFO) and IPV6_UNICAST_HOPS', async () => {
    await agentA.request('call', { sock: 'v6', method: 'setTtl', args: [200] });
    const data = payload(24);
    data.writeUInt16BE(0, 6);
    await agentA.request('call', { sock: 'v6', method: 'send', args: [hex(data), B6, { source: A6 }] });
    const p = await agentB.waitPacket('v6', (x) => x.data.slice(0, 8) === data.toString('hex').slice(0, 8));
    assert.deepEqual([p.ttl, p.source, p.destination, p.ifindex], [200, A6, B6, linkB.ifindex]);
  });

  it('ICMP echo over raw ICMP and ICMPv6 sockets gets a reply from the peer', async () => {
    await agentA.request('open', { sock: 'icmp', opts: { family: 4, protocol: 1 } });
    await agentA.request('listen', { sock: 'icmp' });
    const echo = Buffer.from('0800000012340001686f6c612068616c6f', 'hex'); // type 8, id 0x1234, seq 1, "hola halo"
    echo.writeUInt16BE(internetChecksum(echo), 2);
    await agentA.request('call', { sock: 'icmp', method: 'send', args: [hex(echo), B4] });
    const reply = await agentA.waitPacket('icmp', (x) => x.data.startsWith('00') && x.source === B4);
    assert.equal(reply.data.slice(8, 16), '12340001', 'same id and sequence');
    assert.equal(reply.data.slice(16), echo.subarray(8).toString('hex'), 'same payload');

    await agentA.request('open', { sock: 'icmp6', opts: { family: 6, protocol: 58 } });
    await agentA.request('listen', { sock: 'icmp6' });
    const echo6 = Buffer.from('80000000abcd0002686f6c61', 'hex'); // the kernel fills in the ICMPv6 checksum
    await agentA.request('call', { sock: 'icmp6', method: 'send', args: [hex(echo6), B6] });
    const reply6 = await agentA.waitPacket('icmp6', (x) => x.data.startsWith('81') && x.source === B6);
    assert.equal(reply6.data.slice(8), echo6.subarray(4).toString('hex'));
    assert.equal(reply6.destination, A6);
  });

  it('gratuitous ARP over AF_PACKET: keepalived bytes on the wire, and it moves the peer neighbour entry', async () => {
    const vip = '10.91.0.100';
    await lab.exec(b.ns, 'ip', [
      'neigh',
      'replace',
      vip,
      'lladdr',
      '02:00:00:00:00:99',
      'dev',
      'eth0',
      'nud',
      'stale',
    ]);
    const captured = await captureOne(lab, b, `arp and arp[14:4] = 0x0a5b0064`);
    await agentA.request('garp', { ifname: 'eth0', address: vip });
    assert.deepEqual(await captured(), buildGratuitousArp(linkA.address, vip));
    const { stdout } = await lab.exec(b.ns, 'ip', ['neigh', 'show', vip, 'dev', 'eth0']);
    assert.match(stdout, new RegExp(`lladdr ${linkA.address}`));
  });

  it('unsolicited NA over AF_PACKET: keepalived bytes on the wire, and it moves the peer neighbour entry', async () => {
    const vip = 'fd00:91::100';
    await lab.exec(b.ns, 'ip', [
      '-6',
      'neigh',
      'replace',
      vip,
      'lladdr',
      '02:00:00:00:00:99',
      'dev',
      'eth0',
      'nud',
      'stale',
    ]);
    const captured = await captureOne(lab, b, 'icmp6 and ip6[40] = 136');
    await agentA.request('na', { ifname: 'eth0', address: vip });
    assert.deepEqual(await captured(), buildUnsolicitedNa(linkA.address, vip));
    const { stdout } = await lab.exec(b.ns, 'ip', ['-6', 'neigh', 'show', vip, 'dev', 'eth0']);
    assert.match(stdout, new RegExp(`lladdr ${linkA.address}`));
  });

  it('closing from inside the packet callback while a flood arrives: no packet after close, no crash', async () => {
    await agentB.request('open', { sock: 'flood', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('listen', { sock: 'flood', closeOnFirst: true });
    await agentB.request('open', { sock: 'flood2', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('listen', { sock: 'flood2' });
    const data = payload(64);
    const flooding = agentA.request<number>('flood', {
      sock: 'v4',
      data: data.toString('hex'),
      count: 3000,
      destination: B4,
    });
    await agentB.waitPacket('flood', withData(data));
    await agentB.waitPacket('flood2', withData(data));
    // Close the second socket from outside while the flood is still running.
    await agentB.request('close', { sock: 'flood2' });
    const sent = await flooding;
    assert.ok(sent > 0);
    assert.equal(await agentB.request('ping'), 'pong');
    assert.equal(agentB.received('flood').length, 1, 'exactly one packet before close');
    assert.equal(agentB.received('flood:after-close').length, 0);
    const afterClose = agentB.received('flood2').length;
    await agentA.request('flood', { sock: 'v4', data: data.toString('hex'), count: 100, destination: B4 });
    await agentB.request('ping');
    assert.equal(agentB.received('flood2').length, afterClose, 'closed socket delivers nothing more');
  });
});

describe('raw sockets on a worker_thread', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  let a: Host;
  let b: Host;
  let agentA: NetAgent;
  let agentB: NetAgent;

  before(async () => {
    a = await lab.addHost('wa', [`${A4}/24`]);
    b = await lab.addHost('wb', [`${B4}/24`]);
    agentA = NetAgent.start(lab, a.ns);
    agentB = NetAgent.start(lab, b.ns, { worker: true });
    await Promise.all([agentA.request('ping'), agentB.request('ping')]);
  });

  after(async () => {
    await Promise.all([agentA?.stop(), agentB?.stop()]);
    await lab.cleanup();
  });

  it('receives VRRP multicast with TTL and addresses on the worker loop, then exits cleanly', async () => {
    await agentB.request('open', { sock: 'w', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('call', { sock: 'w', method: 'joinGroup', args: [VRRP4_GROUP, 'eth0'] });
    await agentB.request('listen', { sock: 'w' });
    await agentA.request('open', { sock: 's', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentA.request('call', { sock: 's', method: 'setMulticastTtl', args: [255] });
    const data = payload();
    await agentA.request('call', { sock: 's', method: 'send', args: [hex(data), VRRP4_GROUP] });
    const p = await agentB.waitPacket('w', withData(data));
    assert.deepEqual([p.ttl, p.source, p.destination], [255, A4, VRRP4_GROUP]);
  });

  it('a worker terminated while its socket is open and receiving does not take the process down', async () => {
    const data = payload();
    const terminated = agentB.request<{ exitCode: number }>('workerTerminate', {
      ifname: 'eth0',
      group: VRRP4_GROUP,
      family: 4,
    });
    // Keep sending until the worker has seen one and been terminated.
    let done = false;
    void terminated.finally(() => {
      done = true;
    });
    while (!done) {
      await agentA.request('flood', {
        sock: 's',
        data: data.toString('hex'),
        count: 20,
        destination: VRRP4_GROUP,
      });
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await terminated).exitCode, 1, 'terminate() reports exit code 1');
    assert.equal(await agentB.request('ping'), 'pong');
  });

  it('the agent (and its worker) exit with status 0 when asked to stop', async () => {
    const { code } = await agentB.stop();
    assert.equal(code, 0, agentB.errorOutput);
  });
});

describe('argument validation and errors (no traffic)', { skip }, () => {
  it('rejects bad open arguments with clear errors', () => {
    assert.throws(() => RawSocket.open({ family: 5 as 4, protocol: VRRP }), /family must be 4 or 6/);
    for (const protocol of [0, 256, 1.5, Number.NaN, '112' as unknown as number]) {
      assert.throws(() => RawSocket.open({ family: 4, protocol }), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG',
      });
    }
    assert.throws(() => RawSocket.open({ family: 4, protocol: VRRP, ifname: 'nosuchif0' }), {
      code: 'ENODEV',
    });
    assert.throws(() => RawSocket.open({ family: 4, protocol: VRRP, ifname: 'x'.repeat(40) }), /ifname/);
  });

  it('rejects bad send, group and option arguments, and use after close', () => {
    const s = RawSocket.open({ family: 4, protocol: VRRP, ifname: 'lo' });
    const s6 = RawSocket.open({ family: 6, protocol: VRRP, ifname: 'lo' });
    try {
      assert.throws(() => s.send(Buffer.alloc(4), 'not-an-ip'), /destination is not a valid IPv4 address/);
      assert.throws(() => s.send(Buffer.alloc(4), '::1'), /IPv4/);
      assert.throws(() => s.send('abc' as unknown as Buffer, '127.0.0.1'), /data must be a Buffer/);
      assert.throws(() => s.send(Buffer.alloc(4), '127.0.0.1', { ifindex: -1 }), /ifindex/);
      assert.throws(() => s.send(Buffer.alloc(4), '127.0.0.1', { source: 'x' }), /source/);
      assert.throws(() => s.joinGroup('10.0.0.1', 'lo'), /not a multicast address/);
      assert.throws(() => s.joinGroup(VRRP4_GROUP, 'nosuchif0'), { code: 'ENODEV' });
      assert.throws(() => s6.joinGroup('fd00::1', 'lo'), /not a multicast address/);
      assert.throws(() => s.setTtl(0), /ttl must be an integer/);
      assert.throws(() => s.setMulticastTtl(256), /mcastTtl/);
      assert.throws(() => s.setTos(-1), /tos/);
      assert.throws(() => s.setIpv6ChecksumOffset(6), /unknown socket option/);
      assert.throws(() => s6.setIpv6ChecksumOffset(7), /even/);
      assert.throws(() => s.onPacket('nope' as unknown as () => void), /callback must be a function/);
      // A datagram to our own loopback is fine and proves the socket works before close.
      s.send(Buffer.alloc(4), '127.0.0.1');
    } finally {
      s.close();
      s6.close();
    }
    s.close(); // idempotent
    assert.throws(() => s.send(Buffer.alloc(4), '127.0.0.1'), { code: 'EBADF' });
  });

  it('the native functions reject foreign handles instead of crashing', async () => {
    const { loadAddon } = await import('../../src/net/raw-socket.js');
    const native = loadAddon();
    assert.throws(() => native.send({} as never, Buffer.alloc(1), '127.0.0.1'), /not a raw socket handle/);
    assert.throws(() => native.close(null as never), /not a raw socket handle/);
  });

  it('workers terminated with a receiving socket open exit cleanly (async cleanup hook)', async () => {
    const agentScript = fileURLToPath(new URL('./net-agent.js', import.meta.url));
    for (const family of ['4', '6']) {
      const r = spawnSync(process.execPath, [agentScript, '--terminate-workers', family], {
        encoding: 'utf8',
        timeout: 20000,
      });
      assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
      assert.equal(r.stdout, 'terminated 1\n'.repeat(3));
    }
  });

  it('a receiving socket keeps the process alive unless unref()ed', () => {
    const module = new URL('../../src/net/raw-socket.js', import.meta.url).href;
    const script = (unref: boolean) =>
      `import { RawSocket } from ${JSON.stringify(module)};
       const s = RawSocket.open({ family: 4, protocol: ${VRRP}, ifname: 'lo' });
       s.onPacket(() => {});
       ${unref ? 's.unref();' : ''}`;
    const run = (unref: boolean, timeout: number) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script(unref)], {
        encoding: 'utf8',
        timeout,
      });
    const unrefd = run(true, 20000);
    assert.equal(
      unrefd.status,
      0,
      `unref'd socket: exit ${unrefd.status} signal ${unrefd.signal} ${unrefd.stderr}`,
    );
    const refd = run(false, 1500);
    assert.equal(refd.signal, 'SIGTERM', `a ref'd receiving socket should still be running: ${refd.stderr}`);
  });

  it('sendEthernetFrame validates the frame and the interface', () => {
    assert.throws(() => sendEthernetFrame('lo', Buffer.alloc(10)), /14\.\.1514/);
    assert.throws(() => sendEthernetFrame('nosuchif0', Buffer.alloc(60)), { code: 'ENODEV' });
  });
});
