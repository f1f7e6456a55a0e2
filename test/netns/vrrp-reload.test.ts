/**
 * SIGHUP applies a VRRP config change as a diff: an instance whose settings
 * did not change keeps its state and its VIP (no transition, no flap); a VIP
 * change is applied in place on the live master (no transition either); an
 * unchanged file changes nothing. A changed vrrp_rt_priority reaches the VRRP thread and the advert timer
 * thread of a live master at once.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

function config(vip2: string): string {
  const common = { version: 3 as const, advertInt: 0.1, priority: 150 };
  return vrrpConfig([
    { ...common, name: 'VI_1', vrid: 51, vips: ['10.77.0.100/24'] },
    { ...common, name: 'VI_2', vrid: 52, vips: [`${vip2}/24`] },
  ]);
}

const count = (out: string, re: RegExp) => (out.match(re) ?? []).length;

describe('VRRP reload', { skip: enabled ? false : 'needs root' }, () => {
  it('keeps unchanged instances, swaps a VIP on a live master in place', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(1);
      const d = lab.start('halo', 0, config('10.77.0.101'));
      await waitFor(() => count(d.output(), /Entering MASTER STATE/g) === 2, 15000);
      await waitFor(async () => (await lab.addresses(0)).includes('10.77.0.101'), 5000);
      const conf = readdirSync(lab.dir).find((f) => f.startsWith('halo-d1'))!;

      // Same file again: nothing happens.
      d.child.kill('SIGHUP');
      await waitFor(() => count(d.output(), /"event":"config.reloaded"/g) === 1, 10000);

      // VI_2's VIP changes: the new one is added and the old one removed, in place; VI_1 is untouched.
      const before = d.output().length;
      writeFileSync(join(lab.dir, conf), config('10.77.0.102'));
      d.child.kill('SIGHUP');
      await waitFor(() => count(d.output(), /"event":"config.reloaded"/g) === 2, 10000);
      await waitFor(async () => (await lab.addresses(0)).includes('10.77.0.102'), 10000);
      const addrs = await lab.addresses(0);
      assert.ok(addrs.includes('10.77.0.100'), 'VI_1 kept its VIP');
      assert.ok(!addrs.includes('10.77.0.101'), "VI_2's old VIP was removed");
      const after = d.output().slice(before);
      assert.match(after, /VRRP reload: 1 kept, 1 updated in place, 0 restarted/);
      assert.match(after, /\(VI_2\) updated: VIPs \+10\.77\.0\.102\/24; VIPs -10\.77\.0\.101\/24/);
      assert.doesNotMatch(after, /Entering/, 'no instance made a transition');
      assert.equal(count(d.output(), /\(VI_1\) Entering MASTER STATE/g), 1);
      assert.equal(count(d.output(), /\(VI_2\) Entering MASTER STATE/g), 1);
    } finally {
      await lab.cleanup();
    }
  });

  it('vrrp_rt_priority changed by a reload: the VRRP thread and the open advert timer thread follow at once', async () => {
    const lab = new VrrpLab(4);
    const conf = (rt: number) =>
      vrrpConfig(
        [{ version: 3, advertInt: 0.1, priority: 150, vips: ['10.77.0.100/24'] }],
        [`vrrp_rt_priority ${rt}`],
      );
    try {
      await lab.setup(1);
      const d = lab.start('halo', 0, conf(20));
      await waitFor(() => /Entering MASTER STATE/.test(d.output()), 15000);
      const pid = Number(readFileSync(join(lab.dir, `h${d.n}.pid`), 'utf8'));
      // SCHED_RR threads of the daemon by realtime priority: the VRRP worker at N, its timer thread at N + 1.
      await waitFor(() => realtimeThreads(pid).join() === '20,21', 5000);
      const before = d.output().length;
      writeFileSync(d.configFile, conf(30));
      d.child.kill('SIGHUP');
      await waitFor(() => count(d.output(), /"event":"config.reloaded"/g) === 1, 10000);
      await waitFor(() => realtimeThreads(pid).join() === '30,31', 5000);
      assert.doesNotMatch(d.output().slice(before), /Entering/, 'no transition');
    } finally {
      await lab.cleanup();
    }
  });
});

/** The realtime priorities of a process's SCHED_RR threads, sorted (from /proc/PID/task/TID/stat). */
function realtimeThreads(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // Fields after the command name (which may hold spaces): field 3 is the first; rt_priority is 40, policy 41.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[41 - 3]) === 2) out.push(Number(f[40 - 3]));
  }
  return out.sort((a, b) => a - b);
}
