/**
 * Notify scripts as keepalived runs them: notify_master (as written) and
 * `notify` with TYPE NAME STATE PRIORITY, in transition order, and under
 * enable_script_security a script any user could modify is refused.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, waitFor } from '../helpers/netns.js';
import { VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

describe('VRRP notify scripts', { skip: enabled ? false : 'needs root' }, () => {
  it('runs notify_master and notify with keepalived arguments, refuses an insecure script', async () => {
    const lab = new VrrpLab(4);
    const dir = mkdtempSync(join(tmpdir(), 'halo-notify-'));
    chmodSync(dir, 0o755);
    const log = join(dir, 'log');
    const script = (name: string, body: string, mode: number) => {
      const p = join(dir, name);
      writeFileSync(p, `#!/bin/sh\n${body}\n`);
      chmodSync(p, mode);
      return p;
    };
    const master = script('master.sh', `echo master >> ${log}`, 0o755);
    const any = script('notify.sh', `echo "$@" >> ${log}`, 0o755);
    const insecure = script('insecure.sh', `echo insecure >> ${log}`, 0o777);
    try {
      await lab.setup(1);
      const config = vrrpConfig(
        [
          {
            version: 3,
            advertInt: 0.1,
            priority: 150,
            vips: ['10.77.0.100/24'],
            extra: [`notify_master ${master}`, `notify_backup ${insecure}`, `notify ${any}`],
          },
        ],
        ['enable_script_security', 'script_user root'],
      );
      const d = lab.start('halo', 0, config);
      await d.waitForOutput(/Entering MASTER STATE/, 15000);
      await waitFor(
        () => existsSync(log) && /INSTANCE VI_1 MASTER 150/.test(readFileSync(log, 'utf8')),
        5000,
      );
      await d.waitForOutput(/SECURITY VIOLATION - refusing to run .*insecure\.sh/, 5000);
      await lab.stop(d, 'SIGTERM');
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      assert.deepEqual(lines.slice(0, 3), ['INSTANCE VI_1 BACKUP 150', 'master', 'INSTANCE VI_1 MASTER 150']);
      assert.match(lines[3] ?? '', /^INSTANCE VI_1 STOP \d+$/);
      assert.equal(lines.length, 4);
      assert.ok(!lines.includes('insecure'), 'the insecure notify_backup script never ran');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
