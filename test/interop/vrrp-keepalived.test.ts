/**
 * Wire interop with a real keepalived (the Debian package), both directions,
 * VRRPv2 and v3: a mixed pair elects the right master, the backup takes over
 * when the master stops (priority 0) or crashes, and the restarted
 * higher-priority node preempts back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { type DaemonKind, keepalivedInstalled, VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const ready = (await canUseNetns()) && (await keepalivedInstalled());
if (!ready && process.env.CI) throw new Error('CI must provide root, namespaces and keepalived');
const skip = ready ? false : 'needs root, network namespaces and keepalived';

const VIP = '10.77.0.100';

async function holder(lab: VrrpLab, alive: number[], expected: number): Promise<void> {
  await waitFor(async () => {
    const h = (await lab.holders(VIP)).filter((i) => alive.includes(i));
    return h.length === 1 && h[0] === expected;
  }, 10000);
}

function scenario(master: DaemonKind, backup: DaemonKind, version: 2 | 3) {
  const advertInt = version === 2 ? 1 : 0.1;
  return async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      await lab.startAdvertCapture();
      const inst = { version, advertInt, vips: [`${VIP}/24`] };
      const m = lab.start(master, 0, vrrpConfig([{ ...inst, priority: 150 }]));
      await m.waitForOutput(/Entering MASTER STATE/, 15000);
      const b = lab.start(backup, 1, vrrpConfig([{ ...inst, priority: 100 }]));
      await b.waitForOutput(/Entering BACKUP STATE/, 15000);
      // The backup accepts the master's adverts: it stays BACKUP well past its master-down interval.
      await new Promise((r) => setTimeout(r, advertInt * 5000));
      assert.doesNotMatch(
        b.output(),
        /Entering MASTER STATE/,
        `${backup} backup must not take over a live ${master}`,
      );
      await holder(lab, [0, 1], 0);
      assert.ok(await lab.pingFromClient(VIP, 2));

      // Graceful stop: priority 0 on the wire, the backup takes over after its skew time.
      const t0 = Date.now();
      await lab.stop(m, 'SIGTERM');
      await b.waitForOutput(/Backup received priority 0 advertisement/, 5000);
      await b.waitForOutput(/Entering MASTER STATE/, 5000);
      const advert = await lab.waitForAdvertFrom(lab.directorAddress(1), t0, 5000);
      assert.ok(
        advert.atMs - t0 < 3 * advertInt * 1000,
        `takeover after priority 0 took ${advert.atMs - t0} ms`,
      );
      await holder(lab, [1], 1);
      assert.ok(await lab.pingFromClient(VIP, 2));

      // The higher-priority node returns and preempts.
      const m2 = lab.start(master, 0, vrrpConfig([{ ...inst, priority: 150 }]));
      await m2.waitForOutput(/Entering MASTER STATE/, 15000);
      await b.waitForOutput(
        /Master received advert from 10\.77\.0\.11 with higher priority 150, ours 100/,
        5000,
      );
      await holder(lab, [0, 1], 0);

      // Crash of the master (whole process tree + link): the backup takes over after master-down.
      await lab.lab.setLink(lab.directors[0], false);
      await lab.stop(m2, 'SIGKILL');
      await waitFor(() => (b.output().match(/Entering MASTER STATE/g) ?? []).length >= 2, 8000);
      await holder(lab, [1], 1);
      assert.ok(await lab.pingFromClient(VIP, 2));
    } finally {
      await lab.cleanup();
    }
  };
}

describe('VRRP interop with keepalived', { skip, concurrency: false }, () => {
  it('v2: halo master, keepalived backup', scenario('halo', 'keepalived', 2));
  it('v2: keepalived master, halo backup', scenario('keepalived', 'halo', 2));
  it('v3: halo master, keepalived backup', scenario('halo', 'keepalived', 3));
  it('v3: keepalived master, halo backup', scenario('keepalived', 'halo', 3));
});
