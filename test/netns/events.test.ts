/**
 * `halo events --follow` against a real director pair in namespaces: the backup's stream shows, in the
 * order they happened, a real server going down (its web server killed) and the failover to MASTER (the
 * master killed with SIGKILL); `halo events` without --follow prints the same history and ends; the
 * backup's status shows the peer's last advert (MASTER while it advertises, SILENT after the crash).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { HaloPair, WEB } from '../helpers/halo-pair.js';
import { canUseNetns, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

interface Ev {
  seq: number;
  type: string;
  message: string;
  [k: string]: unknown;
}

describe('halo events', { skip: enabled ? false : 'needs root' }, () => {
  it('--follow shows a real server going down and a failover, in order', { timeout: 120_000 }, async () => {
    const pair = new HaloPair();
    let follower: ReturnType<typeof spawn> | undefined;
    try {
      await pair.setup();
      const [d1, d2] = pair.directors;
      pair.start(d1);
      pair.start(d2);
      await pair.waitSettled();
      const before = await pair.status(d2);
      assert.equal(before.instances[0].peer?.address, '10.61.0.11');
      assert.equal(before.instances[0].peer?.priority, 150);

      const events: Ev[] = [];
      let errText = '';
      follower = spawn(process.execPath, [HALO_MAIN, 'events', '--follow', '--json', '--socket', d2.socket]);
      let buf = '';
      follower.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          events.push(JSON.parse(buf.slice(0, nl)) as Ev);
          buf = buf.slice(nl + 1);
        }
      });
      follower.stderr?.on('data', (d: Buffer) => {
        errText += d.toString();
      });
      // The backlog first: the daemon's start and its first transition.
      await waitFor(() => events.some((e) => e.type === 'vrrp.transition' && e.to === 'BACKUP'), 5000);
      assert.equal(events[0].type, 'daemon.start');
      assert.equal(events[0].ipvs, 'dry-run');
      const backlog = events.length;

      await pair.killServer(WEB[1]);
      await waitFor(() => events.some((e) => e.type === 'rs.state' && e.address === WEB[1]), 15_000);
      await pair.stop(d1, 'SIGKILL');
      // The failover is the MASTER transition after the server went down: d2 may also have been MASTER for
      // a moment at start, before d1 preempted it, and that transition can arrive live or in the backlog.
      const isDown = (e: Ev) => e.type === 'rs.state' && e.address === WEB[1];
      const isMaster = (e: Ev) => e.type === 'vrrp.transition' && e.to === 'MASTER';
      const failover = (live: Ev[]) => live.findIndex((e, i) => isMaster(e) && live.slice(0, i).some(isDown));
      await waitFor(() => failover(events.slice(backlog)) >= 0, 15_000);

      const live = events.slice(backlog);
      const down = live.findIndex(isDown);
      const master = failover(live);
      assert.ok(down >= 0 && master > down, live.map((e) => `${e.seq} ${e.type} ${e.message}`).join('\n'));
      assert.equal(live[down].state, 'down');
      assert.equal(live[down].previous, 'up');
      assert.equal(live[master].from, 'BACKUP');
      assert.equal(live[master].instance, 'VI_1');
      // Sequence numbers grow by one: nothing was lost between backlog and live events.
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => events[0].seq + i),
      );
      assert.equal(errText, '');

      // Without --follow: the same history, as text, and the command ends by itself.
      const text = (await sh(process.execPath, [HALO_MAIN, 'events', '--socket', d2.socket])).stdout;
      const lines = text.trim().split('\n');
      const iDown = lines.findIndex((l) => /rs\.state .*\[10\.61\.0\.22\]:tcp:80 .* is DOWN/.test(l));
      const iMaster = lines.findIndex((l) => /vrrp\.transition .*\(VI_1\) Entering MASTER STATE/.test(l));
      assert.ok(iDown >= 0 && iMaster > iDown, text);

      // The crashed master sent no priority 0: its last advert ages into SILENT.
      await waitFor(async () => (await pair.status(d2)).instances[0].peer?.state === 'SILENT', 5000);
    } finally {
      follower?.kill('SIGTERM');
      await pair.cleanup();
    }
  });
});
