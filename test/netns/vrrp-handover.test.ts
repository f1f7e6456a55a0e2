/**
 * Planned operations without loss (issue 13), with a client pinging the VIP every 10 ms:
 *  - SIGTERM on a halo MASTER hands over (make-before-break): 0 pings lost, with a halo or a keepalived
 *    backup, VRRPv3 advert 0.1 s and VRRPv2 advert 1 s; keepalived stopping the same way is measured beside
 *    it (printed, not asserted: it is the bar). `--release immediate` is keepalived's behaviour: it loses;
 *  - `halo failover --all`: 0 lost, the old master stays BACKUP (held, no preemption back) and says so in
 *    status; `--clear` lets it preempt back;
 *  - `halo maintenance on`: 0 lost, the node stays BACKUP across a restart and even with its peer dead;
 *    `off` brings back the ordinary election.
 * bench/handover.ts runs the same cases ten times each and prints the numbers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HANDOVER_VIP,
  type HandoverCase,
  haloCli,
  handoverConfig,
  plannedHandover,
  runHandoverCase,
  startPair,
} from '../helpers/handover.js';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { keepalivedInstalled, VrrpLab } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');
const skip = enabled ? false : 'needs root';
const withKeepalived = enabled && (await keepalivedInstalled());
if (enabled && process.env.CI && !withKeepalived) throw new Error('CI must have keepalived installed');

const V3: Pick<HandoverCase, 'version' | 'advertInt'> = { version: 3, advertInt: 0.1 };
const V2: Pick<HandoverCase, 'version' | 'advertInt'> = { version: 2, advertInt: 1 };

interface StatusDoc {
  instances: {
    state: string;
    hold?: { kind: string; origin: string };
    handingOver?: boolean;
    peer?: { priority: number; state: string } | null;
  }[];
  daemon: { maintenance?: { origin: string } };
}

function status(d: Parameters<typeof haloCli>[0]): StatusDoc {
  const r = haloCli(d, ['status', '--json']);
  assert.equal(r.code, 0, r.out);
  return JSON.parse(r.out) as StatusDoc;
}

describe('planned operations without loss', { skip, concurrency: false }, () => {
  it('SIGTERM on a halo master (v3, advert 0.1 s): 0 pings lost, three times; keepalived beside it', async () => {
    const halo = [];
    for (let i = 0; i < 3; i++) {
      halo.push(await runHandoverCase({ master: 'halo', backup: 'halo', ...V3, op: 'sigterm' }));
    }
    const ka = withKeepalived
      ? await runHandoverCase({ master: 'keepalived', backup: 'keepalived', ...V3, op: 'sigterm' })
      : undefined;
    console.log(
      `SIGTERM v3 0.1 s: halo lost ${halo.map((r) => r.lost).join(', ')} (moved in ${halo.map((r) => r.moveMs.toFixed(0)).join(', ')} ms); keepalived lost ${ka?.lost ?? 'n/a'}`,
    );
    for (const r of halo) {
      assert.ok(r.sent > 30, `the probe ran across the handover (${r.sent} sent)`);
      assert.equal(r.lost, 0, JSON.stringify(r));
      assert.ok(r.released, 'the stopped master removed its VIP');
    }
  });

  it('SIGTERM on a halo master (v2, advert 1 s): 0 pings lost; keepalived beside it', async () => {
    const r = await runHandoverCase({ master: 'halo', backup: 'halo', ...V2, op: 'sigterm' });
    const ka = withKeepalived
      ? await runHandoverCase({ master: 'keepalived', backup: 'keepalived', ...V2, op: 'sigterm' })
      : undefined;
    console.log(
      `SIGTERM v2 1 s: halo lost ${r.lost} (moved in ${r.moveMs.toFixed(0)} ms); keepalived lost ${ka?.lost ?? 'n/a'}`,
    );
    assert.equal(r.lost, 0, JSON.stringify(r));
    assert.ok(r.released);
  });

  it('SIGTERM on a halo master with a keepalived backup: 0 pings lost', {
    skip: !withKeepalived,
  }, async () => {
    const r = await runHandoverCase({ master: 'halo', backup: 'keepalived', ...V3, op: 'sigterm' });
    console.log(`SIGTERM, keepalived backup: halo lost ${r.lost}`);
    assert.equal(r.lost, 0, JSON.stringify(r));
    assert.ok(r.released);
  });

  it("--release immediate is keepalived's release: the client loses the takeover time", async () => {
    const r = await runHandoverCase({
      master: 'halo',
      backup: 'halo',
      ...V3,
      op: 'sigterm',
      haloArgs: ['--release', 'immediate'],
    });
    console.log(`SIGTERM with --release immediate: lost ${r.lost}`);
    assert.ok(r.lost >= 1, `the VIP went before the backup took over, yet ${r.lost} pings were lost`);
  });

  it('halo failover --all: 0 lost, held BACKUP without preempting back; --clear lets it preempt', async () => {
    const lab = new VrrpLab(4);
    try {
      const pair = await startPair(lab, { master: 'halo', backup: 'halo', ...V3, op: 'failover' });
      const r = await plannedHandover(lab, pair, 'failover');
      console.log(`halo failover: lost ${r.lost}, moved in ${r.moveMs.toFixed(0)} ms`);
      assert.equal(r.lost, 0, JSON.stringify(r));
      // Priority 150 would preempt priority 100 within a master-down interval (~0.35 s): held, it does not.
      await new Promise((res) => setTimeout(res, 1500));
      assert.deepEqual(await lab.holders(HANDOVER_VIP), [1]);
      const s = status(pair.master);
      assert.equal(s.instances[0].state, 'BACKUP');
      assert.equal(s.instances[0].hold?.kind, 'failover');
      assert.match(s.instances[0].hold?.origin ?? '', /via halo failover/);
      assert.match(haloCli(pair.master, ['status']).out, /held in BACKUP by a failover/);
      // The new master's view of its peer: its last advert was the handover's priority 0, then silence.
      const seen = status(pair.backup).instances[0].peer;
      assert.deepEqual([seen?.priority, seen?.state], [0, 'LEFT']);
      assert.match(haloCli(pair.backup, ['status']).out, /prio 0 LEFT/);
      assert.equal(haloCli(pair.master, ['failover', '--clear', '--all']).code, 0);
      await waitFor(async () => (await lab.holders(HANDOVER_VIP)).join() === '0', 5000);
      assert.equal(status(pair.master).instances[0].hold, undefined);
      assert.equal(haloCli(pair.master, ['failover', 'VI_404']).code, 1, 'an unknown instance is an error');
      await pair.ping.stop();
    } finally {
      await lab.cleanup();
    }
  });

  it('maintenance: 0 lost; BACKUP across a restart and with the peer dead; off restores the election', async () => {
    const lab = new VrrpLab(4);
    try {
      const pair = await startPair(lab, { master: 'halo', backup: 'halo', ...V3, op: 'maintenance' });
      const r = await plannedHandover(lab, pair, 'maintenance');
      console.log(`halo maintenance on: lost ${r.lost}, moved in ${r.moveMs.toFixed(0)} ms`);
      assert.equal(r.lost, 0, JSON.stringify(r));
      await pair.ping.stop();
      assert.match(status(pair.master).daemon.maintenance?.origin ?? '', /via halo maintenance/);

      // A restart (same pid file, socket and maintenance record) keeps the node out.
      await lab.stop(pair.master, 'SIGTERM');
      const again = lab.start('halo', 0, handoverConfig(V3, 150), ['--vrrp-only'], pair.master);
      await again.waitForOutput(/maintenance mode is on/, 10_000);
      await again.waitForOutput(/Entering BACKUP STATE/, 10_000);
      await new Promise((res) => setTimeout(res, 1000));
      assert.deepEqual(await lab.holders(HANDOVER_VIP), [1], 'the restarted node stays out');
      assert.equal(status(again).instances[0].hold?.kind, 'maintenance');

      // Even with the peer gone, the VIP does not come back here.
      await lab.stop(pair.backup, 'SIGKILL');
      await new Promise((res) => setTimeout(res, 1500));
      assert.equal(status(again).instances[0].state, 'BACKUP');
      assert.match(again.output(), /staying BACKUP \(maintenance mode\)/);

      assert.equal(haloCli(again, ['maintenance', 'off']).code, 0);
      await again.waitForOutput(/Entering MASTER STATE/, 5000);
      assert.equal(status(again).daemon.maintenance, undefined);
    } finally {
      await lab.cleanup();
    }
  });
});
