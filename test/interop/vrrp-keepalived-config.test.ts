/**
 * What the config says is what runs on the wire, paired with a real keepalived:
 *  - `vrrp_mcast_group4 224.0.0.19`: halo sends to, joins and checksums over the configured group, so a
 *    halo backup and a keepalived master on that group elect one master and fail over (before, halo
 *    kept 224.0.0.18 and became a second MASTER);
 *  - keepalived's own sample file (vrrp_strict + auth_type PASS, as Debian ships it): strict mode drops
 *    the authentication on both sides, so the pair never splits its brain.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { keepalivedInstalled, VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const ready = (await canUseNetns()) && (await keepalivedInstalled());
if (!ready && process.env.CI) throw new Error('CI must provide root, namespaces and keepalived');
const skip = ready ? false : 'needs root, network namespaces and keepalived';

const SAMPLE = '/etc/keepalived/keepalived.conf.sample';

/** Samples the VIP's holders every 50 ms for `ms`; returns the largest number seen at once. */
async function mostHolders(lab: VrrpLab, vip: string, ms: number): Promise<number> {
  let most = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    most = Math.max(most, (await lab.holders(vip)).length);
    await new Promise((r) => setTimeout(r, 50));
  }
  return most;
}

describe('keepalived.conf settings on the wire, with keepalived', { skip }, () => {
  it('vrrp_mcast_group4 224.0.0.19: one master, adverts to the group, failover', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      await lab.startAdvertCapture();
      const conf = (priority: number) =>
        vrrpConfig(
          [{ version: 3, advertInt: 0.1, priority, vips: ['10.77.0.100/24'] }],
          ['vrrp_mcast_group4 224.0.0.19'],
        );
      const k = lab.start('keepalived', 0, conf(150));
      await k.waitForOutput(/Entering MASTER STATE/, 15000);
      const h = lab.start('halo', 1, conf(100));
      await h.waitForOutput(/Entering BACKUP STATE/, 15000);
      // Well past halo's master-down interval (0.3 s + skew): it hears keepalived on 224.0.0.19.
      assert.equal(await mostHolders(lab, '10.77.0.100', 2000), 1);
      assert.doesNotMatch(h.output(), /Entering MASTER STATE/);
      assert.deepEqual(await lab.holders('10.77.0.100'), [0]);

      const t0 = Date.now();
      await lab.stop(k, 'SIGTERM');
      await h.waitForOutput(/Entering MASTER STATE/, 5000);
      const advert = await lab.waitForAdvertFrom(lab.directorAddress(1), t0, 5000);
      assert.equal(advert.destination, '224.0.0.19', 'halo advertises to the configured group');
      await waitFor(async () => (await lab.holders('10.77.0.100')).join() === '1', 5000);
      assert.ok(
        lab.capturedAdverts().every((a) => a.destination === '224.0.0.19'),
        'nobody used 224.0.0.18',
      );
    } finally {
      await lab.cleanup();
    }
  });

  it("keepalived's sample file (vrrp_strict + auth PASS): one master, no split brain", async () => {
    // The sample as Debian ships it, VRRP part only (halo --vrrp-only, keepalived --vrrp). Both sides run
    // priority 100 and start BACKUP (strict mode: `state MASTER` needs priority 255); the first to time
    // out becomes master and the other must accept its adverts.
    const sample = readFileSync(SAMPLE, 'utf8');
    const VIP = '192.168.200.16';
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const k = lab.start('keepalived', 0, sample);
      const h = lab.start('halo', 1, sample);
      await h.waitForOutput(/Entering BACKUP STATE/, 15000);
      assert.match(h.output(), /Strict mode does not support authentication\. Ignoring\./);
      await waitFor(async () => (await lab.holders(VIP)).length === 1, 15000);
      assert.equal(await mostHolders(lab, VIP, 4000), 1, 'one holder while both run');
      const [master] = await lab.holders(VIP);
      const [m, b] = master === 0 ? [k, h] : [h, k];
      assert.equal((b.output().match(/Entering MASTER STATE/g) ?? []).length, 0, 'the other stays BACKUP');

      // The master stops: the other takes over (priority 0 on the wire), and holds the VIPs alone.
      await lab.stop(m, 'SIGTERM');
      await b.waitForOutput(/Entering MASTER STATE/, 5000);
      await waitFor(async () => (await lab.holders(VIP)).join() === String(1 - master), 5000);
    } finally {
      await lab.cleanup();
    }
  });
});
