/**
 * Two halo directors on a bridge, with real sockets, real VIPs and a client
 * that pings the VIP: election, crash (kill -9 + link cut), graceful stop
 * (priority 0), link down (FAULT), a failing track script, preemption and
 * nopreempt, for VRRPv2, v3, IPv6 and unicast.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { type Daemon, type InstanceSpec, VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
const skip = enabled ? false : 'needs root and network namespaces';
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

/** A VIP must be held by exactly one director among those whose daemon is alive. */
async function assertSingleHolder(
  lab: VrrpLab,
  vip: string,
  alive: number[],
  expected: number,
): Promise<void> {
  const holders = (await lab.holders(vip)).filter((i) => alive.includes(i));
  assert.deepEqual(
    holders,
    [expected],
    `VIP ${vip} held by ${JSON.stringify(holders)}, expected [${expected}]`,
  );
}

async function waitHolder(lab: VrrpLab, vip: string, alive: number[], expected: number, timeoutMs: number) {
  await waitFor(async () => {
    const h = (await lab.holders(vip)).filter((i) => alive.includes(i));
    return h.length === 1 && h[0] === expected;
  }, timeoutMs);
}

function pair(lab: VrrpLab, base: Omit<InstanceSpec, 'priority'>, prios = [150, 100]): Daemon[] {
  return prios.map((priority, i) => lab.start('halo', i, vrrpConfig([{ ...base, priority }])));
}

describe('halo VRRP pair in namespaces', { skip, concurrency: false }, () => {
  it('v2: elects the higher priority, takes over after a crash, preempts back on restart', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const base = { version: 2 as const, advertInt: 1, vips: [`${vip}/24`] };
      const [d1, d2] = pair(lab, base);
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await d2.waitForOutput(/Entering BACKUP STATE/, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      assert.ok(await lab.pingFromClient(vip), 'VIP answers on the master');

      // Kill first, then cut the link: a live (realtime) VRRP thread would see the link go down and
      // remove the VIP before the kill, and this test needs the VIP a crash leaves behind.
      await lab.stop(d1, 'SIGKILL');
      await lab.lab.setLink(lab.directors[0], false);
      await d2.waitForOutput(/Entering MASTER STATE/, 8000);
      await waitHolder(lab, vip, [1], 1, 10000);
      assert.ok(await lab.pingFromClient(vip, 2), 'VIP answers on the new master');

      // The old master comes back: higher priority, preempt (default): it takes the VIP back.
      await lab.lab.setLink(lab.directors[0], true);
      const d1b = lab.start('halo', 0, vrrpConfig([{ ...base, priority: 150 }]));
      // The crash left the VIP configured on d1: the restarted halo removes it before starting in
      // BACKUP, so the VIP is never held by two live directors.
      await d1b.waitForOutput(/removing leftover VIPs 10\.77\.0\.100 from eth0/, 15000);
      await d1b.waitForOutput(/Entering BACKUP STATE/, 15000);
      assert.deepEqual(await lab.holders(vip), [1], 'only the current master holds the VIP');
      await d1b.waitForOutput(/Entering MASTER STATE/, 15000);
      await d2.waitForOutput(
        /Master received advert from 10\.77\.0\.11 with higher priority 150, ours 100/,
        5000,
      );
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      assert.ok(await lab.pingFromClient(vip, 2));
    } finally {
      await lab.cleanup();
    }
  });

  it('v3: a graceful stop sends priority 0 and the backup takes over', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const [d1, d2] = pair(lab, { version: 3, advertInt: 0.1, vips: [`${vip}/24`] });
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await d2.waitForOutput(/Entering BACKUP STATE/, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      await lab.startAdvertCapture();
      await lab.stop(d1, 'SIGTERM');
      assert.ok(!(await lab.holders(vip)).includes(0), 'the stopped master removed its VIP');
      await d2.waitForOutput(/Backup received priority 0 advertisement/, 3000);
      await d2.waitForOutput(/Entering MASTER STATE/, 3000);
      // tcpdump's line may trail the daemon's log line on a loaded machine: wait for it.
      await waitFor(
        () => lab.capturedAdverts().some((a) => a.source === '10.77.0.11' && a.priority === 0),
        5000,
      );
      await waitHolder(lab, vip, [1], 1, 10000);
      assert.ok(await lab.pingFromClient(vip, 2));
    } finally {
      await lab.cleanup();
    }
  });

  it('v3: link down puts the master in FAULT, the backup takes over; link up and it preempts back', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const [d1, d2] = pair(lab, { version: 3, advertInt: 0.1, vips: [`${vip}/24`] });
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      await lab.lab.setLink(lab.directors[0], false);
      await d1.waitForOutput(/Entering FAULT STATE/, 3000);
      await d2.waitForOutput(/Entering MASTER STATE/, 3000);
      await waitHolder(lab, vip, [1], 1, 10000);
      assert.deepEqual(
        (await lab.holders(vip)).filter((i) => i === 0),
        [],
        'the faulted director removed its VIP',
      );
      assert.ok(await lab.pingFromClient(vip, 2));
      await lab.lab.setLink(lab.directors[0], true);
      await waitFor(() => (d1.output().match(/Entering MASTER STATE/g) ?? []).length >= 2, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      assert.ok(await lab.pingFromClient(vip, 2));
    } finally {
      await lab.cleanup();
    }
  });

  it('v3: a failing track script lowers the master below the backup, which takes over', async () => {
    const lab = new VrrpLab(4);
    const dir = mkdtempSync(join(tmpdir(), 'halo-track-'));
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const flag = join(dir, 'healthy');
      writeFileSync(flag, '');
      const script = [
        'vrrp_script chk_service {',
        `  script "/usr/bin/test -f ${flag}"`,
        '  interval 1',
        '  fall 1',
        '  rise 1',
        '  weight -60',
        '}',
      ];
      const inst = {
        version: 3 as const,
        advertInt: 0.1,
        vips: [`${vip}/24`],
        extra: ['track_script {', '  chk_service', '}'],
      };
      const d1 = lab.start('halo', 0, `${script.join('\n')}\n${vrrpConfig([{ ...inst, priority: 150 }])}`);
      const d2 = lab.start('halo', 1, vrrpConfig([{ ...inst, extra: [], priority: 100 }]));
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await d2.waitForOutput(/Entering BACKUP STATE/, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      rmSync(flag);
      await d1.waitForOutput(/VRRP_Script\(chk_service\) failed/, 5000);
      await d2.waitForOutput(/Entering MASTER STATE/, 5000);
      await d1.waitForOutput(/Entering BACKUP STATE/, 3000);
      await waitHolder(lab, vip, [0, 1], 1, 10000);
      assert.ok(await lab.pingFromClient(vip, 2));
      // Healthy again: 150 > 100, preempt.
      writeFileSync(flag, '');
      await d1.waitForOutput(/VRRP_Script\(chk_service\) succeeded/, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nopreempt: a returning higher-priority director stays BACKUP', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const base = { version: 3 as const, advertInt: 0.1, vips: [`${vip}/24`], nopreempt: true };
      const d2 = lab.start('halo', 1, vrrpConfig([{ ...base, priority: 100 }]));
      await d2.waitForOutput(/Entering MASTER STATE/, 15000);
      const d1 = lab.start('halo', 0, vrrpConfig([{ ...base, priority: 150 }]));
      await d1.waitForOutput(/Entering BACKUP STATE/, 15000);
      // Well past the master-down interval (~0.4 s): still BACKUP, the VIP stays where it is.
      await new Promise((r) => setTimeout(r, 2000));
      assert.doesNotMatch(d1.output(), /Entering MASTER STATE/);
      await assertSingleHolder(lab, vip, [0, 1], 1);
    } finally {
      await lab.cleanup();
    }
  });

  it('IPv6 (v3): election and takeover with unsolicited NA; the VIP answers ping from the client', async () => {
    const lab = new VrrpLab(6);
    try {
      await lab.setup(2);
      const vip = 'fd00:77::100';
      const [d1, d2] = pair(lab, { version: 3, advertInt: 0.1, vips: [`${vip}/64`] });
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      assert.ok(await waitFor(() => lab.pingFromClient(vip, 1), 5000));
      await lab.lab.setLink(lab.directors[0], false);
      await lab.stop(d1, 'SIGKILL');
      await d2.waitForOutput(/Entering MASTER STATE/, 3000);
      await waitHolder(lab, vip, [1], 1, 10000);
      assert.ok(await waitFor(() => lab.pingFromClient(vip, 1), 5000));
    } finally {
      await lab.cleanup();
    }
  });

  it('unicast (v3): adverts go to the peer, and takeover works', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const vip = '10.77.0.100';
      const inst = (i: number, priority: number): InstanceSpec => ({
        version: 3,
        advertInt: 0.1,
        vips: [`${vip}/24`],
        priority,
        unicastSrc: lab.directorAddress(i),
        unicastPeers: [lab.directorAddress(1 - i)],
      });
      await lab.startAdvertCapture();
      const d1 = lab.start('halo', 0, vrrpConfig([inst(0, 150)]));
      const d2 = lab.start('halo', 1, vrrpConfig([inst(1, 100)]));
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      await d2.waitForOutput(/Entering BACKUP STATE/, 5000);
      await waitHolder(lab, vip, [0, 1], 0, 10000);
      // Unicast adverts are not flooded to the client: its capture sees none from the master
      // once the bridge has learnt where the peer is (allow a few early flooded ones).
      await lab.lab.setLink(lab.directors[0], false);
      await lab.stop(d1, 'SIGKILL');
      await d2.waitForOutput(/Entering MASTER STATE/, 3000);
      await waitHolder(lab, vip, [1], 1, 10000);
      assert.ok(await lab.pingFromClient(vip, 2));
    } finally {
      await lab.cleanup();
    }
  });
});
