/**
 * A backup whose VRRP thread stalls for longer than its master-down interval must not take over
 * from a live master. After a stall Node runs expired timers before it polls sockets, so without
 * draining the VRRP socket first the expired master-down timer fires while the master's adverts
 * sit unread in the socket queue: a false takeover (issue 12). Real halo master, real engine as the
 * backup (test/netns/vrrp-stall-agent.ts), in namespaces.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';
const AGENT = fileURLToPath(new URL('./vrrp-stall-agent.js', import.meta.url));

describe('VRRP backup after a stall', { skip }, () => {
  it('reads the adverts that queued during the stall before acting on the expired master-down timer', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      await lab.startAdvertCapture();
      const base = { version: 3 as const, advertInt: 0.1, vips: ['10.77.0.100/24'] };
      const master = lab.start('halo', 0, vrrpConfig([{ ...base, priority: 150 }]));
      await master.waitForOutput(/Entering MASTER STATE/, 20000);

      const conf = join(lab.dir, 'backup.conf');
      writeFileSync(conf, vrrpConfig([{ ...base, priority: 100 }]));
      const agent = lab.lab.spawn(lab.directors[1].ns, process.execPath, [AGENT, conf]);
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: agent.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
      let err = '';
      agent.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const transitions = () => lines.filter((l) => l.kind === 'transition').map((l) => l.to);
      await waitFor(() => transitions().includes('BACKUP'), 15000).catch(() => {
        throw new Error(`backup agent did not start: ${JSON.stringify(lines)} ${err}`);
      });
      // Master-down is 3 x 100 + skew (61 ms) = 361 ms: stall for three times that, twice.
      for (let i = 1; i <= 2; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        agent.stdin!.write('stall 1100\n');
        await waitFor(() => lines.filter((l) => l.stalled).length === i, 5000);
      }
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(transitions(), ['BACKUP'], 'the backup never became MASTER');
      const backupAdverts = lab.capturedAdverts().filter((a) => a.source === lab.directorAddress(1));
      assert.equal(backupAdverts.length, 0, 'and never advertised');
      agent.stdin!.end();
    } finally {
      await lab.cleanup();
    }
  });
});
