/**
 * The native advert timer thread and RawSocket.drain() with real sockets: two
 * namespaces on a bridge, an agent process in each (net-agent.ts). What is
 * asserted is behaviour (which bytes arrive, from where, that stop() is
 * final), not timing: the timing is what bench:jitter and bench:starvation
 * measure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canUseNetns, type Host, NetnsLab, waitFor } from '../helpers/netns.js';
import { type AgentPacket, NetAgent } from './net-agent.js';

const A4 = '10.92.0.1';
const A4_EXTRA = '10.92.0.11';
const B4 = '10.92.0.2';
const GROUP = '224.0.0.18';
const VRRP = 112;

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';

let tag = 0;
/** A payload unique to the call. */
function payload(): string {
  const b = Buffer.alloc(24, 0x5a);
  b.writeUInt32BE(++tag, 0);
  b.writeUInt32BE(process.pid, 4);
  return b.toString('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stats {
  threadId: number;
  armed: boolean;
  sent: number;
  sendErrors: number;
  lastError: string | null;
  locked: boolean;
  lockError: string | null;
}

describe('native advert timer and drain', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  let a: Host;
  let b: Host;
  let agentA: NetAgent;
  let agentB: NetAgent;
  const fromA = (data: string) => (p: AgentPacket) => p.data === data;
  const countOf = (data: string) => agentB.received('rx').filter(fromA(data)).length;

  before(async () => {
    a = await lab.addHost('a', [`${A4}/24`, `${A4_EXTRA}/24`]);
    b = await lab.addHost('b', [`${B4}/24`]);
    agentA = NetAgent.start(lab, a.ns);
    agentB = NetAgent.start(lab, b.ns);
    await Promise.all([agentA.request('ping'), agentB.request('ping')]);
    await agentB.request('open', { sock: 'rx', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    await agentB.request('call', { sock: 'rx', method: 'joinGroup', args: [GROUP, 'eth0'] });
    await agentB.request('listen', { sock: 'rx' });
    await agentA.request('open', { sock: 'tx', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    for (const [method, args] of [
      ['setMulticastInterface', ['eth0']],
      ['setMulticastTtl', [255]],
      ['setTtl', [255]],
    ] as const) {
      await agentA.request('call', { sock: 'tx', method, args });
    }
  });

  after(async () => {
    await Promise.all([agentA?.stop(), agentB?.stop()]);
    await lab.cleanup();
  });

  it('repeats the given bytes from the given source; set() swaps them; stop() is final', async () => {
    const stats0 = await agentA.request<Stats>('timerOpen', { timer: 't', sock: 'tx', lock: true });
    assert.equal(stats0.armed, false, 'a new timer sends nothing until set');
    assert.equal(stats0.locked, true, `stack, state and packets locked (${stats0.lockError})`);
    const first = payload();
    await agentA.request('timerSet', {
      timer: 't',
      packets: [{ destination: GROUP, data: first }],
      source: A4_EXTRA,
      intervalMs: 20,
      firstInMs: 0,
    });
    await waitFor(() => countOf(first) >= 5, 5000);
    const p = agentB.received('rx').find(fromA(first))!;
    assert.deepEqual([p.source, p.destination, p.ttl], [A4_EXTRA, GROUP, 255]);

    // New bytes, same phase: once the new ones arrive, the old ones never come back.
    const second = payload();
    await agentA.request('timerSet', {
      timer: 't',
      packets: [{ destination: GROUP, data: second }],
      source: A4_EXTRA,
      intervalMs: 20,
    });
    await waitFor(() => countOf(second) >= 3, 5000);
    const firstCount = countOf(first);
    await sleep(100);
    assert.equal(countOf(first), firstCount);

    await agentA.request('timerStop', { timer: 't' });
    await sleep(50); // what was on the wire when stop() returned has arrived
    const atStop = countOf(second);
    await sleep(300);
    assert.equal(countOf(second), atStop, 'nothing is sent after stop() returned');
    const stats = await agentA.request<Stats>('timerStats', { timer: 't' });
    assert.equal(stats.armed, false);
    assert.equal(stats.sendErrors, 0);
    assert.ok(stats.sent >= countOf(first) + countOf(second));
  });

  it('one datagram per destination (unicast peers), and it outlives the RawSocket it was opened on', async () => {
    const toB = payload();
    const toGroup = payload();
    await agentA.request('timerSet', {
      timer: 't',
      packets: [
        { destination: B4, data: toB },
        { destination: GROUP, data: toGroup },
      ],
      intervalMs: 10,
      firstInMs: 0,
    });
    await waitFor(() => countOf(toB) >= 2 && countOf(toGroup) >= 2, 5000);
    assert.equal(agentB.received('rx').find(fromA(toB))?.destination, B4);
    // The timer sends through its own duplicate of the descriptor.
    await agentA.request('close', { sock: 'tx' });
    const n = countOf(toB);
    await waitFor(() => countOf(toB) > n + 3, 5000);
    await agentA.request('timerClose', { timer: 't' });
    await sleep(50);
    const closed = countOf(toB);
    await sleep(200);
    assert.equal(countOf(toB), closed, 'close() stops the thread');
    await assert.rejects(agentA.request('timerStats', { timer: 't' }), /no timer t/);
  });

  it('the timer thread takes SCHED_RR on its own thread id; nothing else in the agent changes', async () => {
    await agentA.request('open', { sock: 'tx', opts: { family: 4, protocol: VRRP, ifname: 'eth0' } });
    const st = await agentA.request<Stats>('timerOpen', { timer: 'rt', sock: 'tx', lock: false });
    assert.equal(st.locked, false);
    await agentA.request('setThreadPolicy', { tid: st.threadId, policy: 'rr', priority: 10 });
    assert.deepEqual(await agentA.request('threadPolicy', { tid: st.threadId }), {
      policy: 'rr',
      priority: 10,
      resetOnFork: true,
    });
    assert.equal((await agentA.request<{ policy: string }>('threadPolicy', { tid: 0 })).policy, 'other');
    await agentA.request('timerClose', { timer: 'rt' });
  });

  it('the watchdog withholds adverts while the engine does not feed it, and sending resumes with a feed', async () => {
    await agentA.request('timerOpen', { timer: 'w', sock: 'tx', lock: false });
    const data = payload();
    await agentA.request('timerSet', {
      timer: 'w',
      packets: [{ destination: GROUP, data }],
      intervalMs: 10,
      firstInMs: 0,
      watchdogMs: 200,
    });
    await waitFor(() => countOf(data) >= 3, 5000);
    // Unfed, the timer stops sending after 200 ms: nothing new arrives afterwards.
    await sleep(400);
    const starved = countOf(data);
    await sleep(200);
    assert.equal(countOf(data), starved, 'no advert while the watchdog has run out');
    const st = await agentA.request<Stats & { withheld: number }>('timerStats', { timer: 'w' });
    assert.ok(st.withheld > 0 && st.armed, 'withheld, still armed');
    await agentA.request('timerFeed', { timer: 'w' });
    await waitFor(() => countOf(data) > starved, 5000);
    await agentA.request('timerClose', { timer: 'w' });
  });

  it('drain() delivers, synchronously, what queued while the thread was stalled', async () => {
    await agentA.request('timerOpen', { timer: 'd', sock: 'tx', lock: false });
    const data = payload();
    await agentA.request('timerSet', {
      timer: 'd',
      packets: [{ destination: GROUP, data }],
      intervalMs: 10,
      firstInMs: 0,
    });
    await waitFor(() => countOf(data) >= 1, 5000);
    const r = await agentB.request<{ duringStall: number; drained: number; delivered: number }>(
      'stallDrain',
      {
        sock: 'rx',
        ms: 300,
      },
    );
    assert.equal(r.duringStall, 0, 'nothing is read while the thread is busy');
    assert.ok(r.drained >= 10, `drain() delivered ${r.drained} queued adverts`);
    assert.equal(r.delivered, r.drained);
    await agentA.request('timerClose', { timer: 'd' });
  });

  it('workers terminated with a running advert timer exit cleanly (env cleanup joins the thread)', () => {
    const agentScript = fileURLToPath(new URL('./net-agent.js', import.meta.url));
    const r = spawnSync(process.execPath, [agentScript, '--terminate-workers', '4', '--timer'], {
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout, 'terminated 1\n'.repeat(3));
  });
});
