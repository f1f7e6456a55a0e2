/**
 * VRRP that heals itself (issue 17): faults injected into a pair (VRRPv3, advert 0.1 s) with a client
 * pinging the VIP every 10 ms. halo's targets are asserted; keepalived runs the same faults in the same
 * run where it can and its numbers are printed beside halo's (not asserted: they are the bar).
 *  - `ip addr del` of the VIP on the master: halo puts it back (< 50 ms from the kernel's notification);
 *  - the VIP added by hand on the backup: halo removes it;
 *  - a partition between the directors, then the heal: the client loses < 100 ms after the heal (the loser's
 *    parting advert makes the winner announce the VIP again);
 *  - kill -9 of the master and a restart: the restarted halo drops its predecessor's VIP first thing, before
 *    it loads its config; the time from process start is printed (it is bounded by Node's own start-up,
 *    ~50 ms here: a timing goal, measured, not asserted).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { PingProbe } from '../helpers/ping-probe.js';
import {
  type Daemon,
  type DaemonKind,
  keepalivedInstalled,
  VrrpLab,
  vrrpConfig,
} from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');
const skip = enabled ? false : 'needs root';
const withKeepalived = enabled && (await keepalivedInstalled());

const VIP = '10.77.0.100';
const conf = (priority: number) =>
  vrrpConfig([{ version: 3, advertInt: 0.1, priority, vips: [`${VIP}/24`] }]);

async function pair(lab: VrrpLab, kind: DaemonKind): Promise<[Daemon, Daemon]> {
  await lab.setup(2);
  const m = lab.start(kind, 0, conf(150));
  await m.waitForOutput(/Entering MASTER STATE/, 15000);
  const b = lab.start(kind, 1, conf(100));
  await b.waitForOutput(/Entering BACKUP STATE/, 15000);
  await waitFor(async () => (await lab.holders(VIP)).join() === '0', 5000);
  return [m, b];
}

const ip = (lab: VrrpLab, i: number, args: string[]) => lab.lab.exec(lab.directors[i].ns, 'ip', args);

/** Both kinds, halo first; keepalived's figure is printed, halo's asserted by the caller. */
async function both<T>(fn: (kind: DaemonKind) => Promise<T>): Promise<{ halo: T; keepalived?: T }> {
  const halo = await fn('halo');
  const keepalived = withKeepalived ? await fn('keepalived') : undefined;
  return { halo, keepalived };
}

describe('VRRP self-healing', { skip }, () => {
  it('a VIP deleted on the master is put back at once', async () => {
    const r = await both(async (kind) => {
      const lab = new VrrpLab(4);
      try {
        const [m] = await pair(lab, kind);
        const ping = new PingProbe(lab, VIP);
        await ping.ready();
        const mark = ping.mark();
        const t0 = performance.now();
        await ip(lab, 0, ['addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
        await waitFor(async () => (await lab.holders(VIP)).join() === '0', 5000).catch(() => undefined);
        const back = performance.now() - t0;
        const w = await ping.settle(mark);
        await ping.stop();
        const line = /"event":"vrrp\.vip_drift_repaired"[^\n]*"ms":([\d.]+)/.exec(m.output());
        return {
          restored: (await lab.holders(VIP)).join() === '0',
          seenMs: back,
          repairMs: line ? Number(line[1]) : undefined,
          lost: w.lost,
        };
      } finally {
        await lab.cleanup();
      }
    });
    console.log(
      `ip addr del on the master: halo ${JSON.stringify(r.halo)}; keepalived ${JSON.stringify(r.keepalived)}`,
    );
    assert.equal(r.halo.restored, true);
    assert.ok((r.halo.repairMs ?? 1e9) < 50, `restored ${r.halo.repairMs} ms after the notification`);
  });

  it('a VIP added by hand on the backup is removed', async () => {
    const lab = new VrrpLab(4);
    try {
      const [, b] = await pair(lab, 'halo');
      await ip(lab, 1, ['addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
      await waitFor(async () => (await lab.holders(VIP)).join() === '0', 2000);
      assert.match(b.output(), /"event":"vrrp\.vip_drift_removed"/);
    } finally {
      await lab.cleanup();
    }
  });

  it('after a partition heals, the client is back on the winner within 100 ms', async () => {
    const r = await both(async (kind) => {
      const lab = new VrrpLab(4);
      try {
        const [, b] = await pair(lab, kind);
        const ping = new PingProbe(lab, VIP);
        await ping.ready();
        // Partition the directors from each other (not from the client): each drops the other's adverts.
        const drop = (i: number, from: string) =>
          lab.lab.exec(lab.directors[i].ns, 'sh', [
            '-c',
            `nft add table inet part && nft add chain inet part in '{ type filter hook input priority 0; }' && nft add rule inet part in ip saddr ${from} ip protocol vrrp drop`,
          ]);
        await drop(0, lab.directorAddress(1));
        await drop(1, lab.directorAddress(0));
        await b.waitForOutput(/Entering MASTER STATE/, 5000);
        // The backup-turned-master's gratuitous ARPs came last: the client now sends to it.
        await new Promise((res) => setTimeout(res, 800));
        const mark = ping.mark();
        for (const i of [0, 1])
          await lab.lab.exec(lab.directors[i].ns, 'nft', ['delete', 'table', 'inet', 'part']);
        await waitFor(async () => (await lab.holders(VIP)).join() === '0', 5000);
        await new Promise((res) => setTimeout(res, 2500));
        const w = await ping.settle(mark);
        await ping.stop();
        return { lostMs: w.lost * 10, lost: w.lost, sent: w.sent };
      } finally {
        await lab.cleanup();
      }
    });
    console.log(`partition heal: halo ${JSON.stringify(r.halo)}; keepalived ${JSON.stringify(r.keepalived)}`);
    assert.ok(r.halo.sent > 50, 'the probe ran');
    assert.ok(r.halo.lostMs < 100, `the client lost ${r.halo.lost} pings after the heal`);
  });

  it('kill -9 and a restart: the restarted halo drops its old VIP before it loads its config', async () => {
    const lab = new VrrpLab(4);
    try {
      const [m, b] = await pair(lab, 'halo');
      await lab.stop(m, 'SIGKILL');
      await b.waitForOutput(/Entering MASTER STATE/, 5000);
      assert.deepEqual(await lab.holders(VIP), [0, 1], 'the dead master still has its VIP configured');
      await new Promise((res) => setTimeout(res, 600));
      const again = lab.start('halo', 0, conf(90), undefined, m);
      await again.waitForOutput(/"event":"vrrp\.leftover_vips_removed"/, 10000);
      const ms = Number(/"msAfterProcessStart":(\d+)/.exec(again.output())?.[1]);
      console.log(`restart after kill -9: the old VIP was removed ${ms} ms after process start`);
      assert.ok(Number.isFinite(ms) && ms > 0, 'the removal time is logged');
      assert.deepEqual(await lab.holders(VIP), [1]);
      await again.waitForOutput(/Entering BACKUP STATE/, 10000);
      const out = again.output();
      assert.ok(
        out.indexOf('vrrp.leftover_vips_removed') < out.indexOf('Entering BACKUP STATE'),
        'removed before the VRRP engine starts',
      );
      assert.doesNotMatch(out, /removing leftover VIPs/, 'nothing left for the engine sweep');
    } finally {
      await lab.cleanup();
    }
  });
});
