/**
 * Smoke test of the IPVS VM itself (runs only inside it: `npm run test:vm`).
 * Proves what the kernel IPVS tests rely on: IPVS and every scheduler module
 * are loaded at boot (the guest has no usable modprobe, so nothing can be
 * autoloaded later), ipvsadm works as an independent oracle, and the netlink
 * package reaches the kernel's generic netlink IPVS family.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createGenericNetlink, GENL_MIN_ID, genl } from 'netlink';

const execFileP = promisify(execFile);

const skip =
  process.env.HALO_IN_VM === '1' ? false : 'IPVS kernel test: runs inside the VM (npm run test:vm)';

/** Schedulers Debian's 6.1 kernel ships as modules (twos only exists from 6.2 on). */
const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'];

async function ipvsadm(...args: string[]): Promise<string> {
  return (await execFileP('ipvsadm', args)).stdout.toString();
}

describe('IPVS VM smoke', { skip }, () => {
  before(() => ipvsadm('-C'));
  after(() => ipvsadm('-C'));

  it('has the IPVS proc interface', async () => {
    const text = await readFile('/proc/net/ip_vs', 'utf8');
    assert.match(text, /^IP Virtual Server version \d+\.\d+\.\d+/);
  });

  it('adds a virtual service and a masqueraded real server that ipvsadm -Ln lists', async () => {
    await ipvsadm('-A', '-t', '10.0.0.1:80', '-s', 'rr');
    await ipvsadm('-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:80', '-m');
    const listing = await ipvsadm('-Ln');
    assert.match(listing, /^TCP {2}10\.0\.0\.1:80 rr\s*$/m);
    assert.match(listing, /^ {2}-> 10\.0\.0\.2:80\s+Masq\s+1\s+0\s+0\s*$/m);
    await ipvsadm('-C');
    assert.doesNotMatch(await ipvsadm('-Ln'), /10\.0\.0\.1:80/);
  });

  it('has every scheduler module loaded and usable', async () => {
    const loaded = new Set((await readFile('/proc/modules', 'utf8')).split('\n').map((l) => l.split(' ')[0]));
    const missing = SCHEDULERS.filter((s) => !loaded.has(`ip_vs_${s}`));
    assert.deepEqual(missing, [], 'scheduler modules not loaded at boot');
    // One ipvsadm process for all of them (-R reads -A lines from stdin): spawning is slow under TCG.
    const rules = SCHEDULERS.map((s, i) => `-A -t 10.0.1.1:${1000 + i} -s ${s}\n`).join('');
    await new Promise<void>((resolve, reject) => {
      const child = execFile('ipvsadm', ['-R'], (err) => (err ? reject(err) : resolve()));
      child.stdin!.end(rules);
    });
    const listing = await ipvsadm('-Ln');
    for (const [i, s] of SCHEDULERS.entries()) {
      assert.match(listing, new RegExp(`^TCP {2}10\\.0\\.1\\.1:${1000 + i} ${s}\\b`, 'm'));
    }
    await ipvsadm('-C');
  });

  it('can create veth, dummy and bridge links for traffic tests', async () => {
    const ip = (...args: string[]) => execFileP('ip', args);
    await ip('link', 'add', 'hvsmoke0', 'type', 'veth', 'peer', 'name', 'hvsmoke1');
    await ip('link', 'add', 'hvsmoke2', 'type', 'dummy');
    await ip('link', 'add', 'hvsmoke3', 'type', 'bridge');
    const links = (await ip('-o', 'link', 'show')).stdout.toString();
    for (const name of ['hvsmoke0', 'hvsmoke1', 'hvsmoke2', 'hvsmoke3'])
      assert.match(links, new RegExp(`${name}[@:]`));
    for (const name of ['hvsmoke0', 'hvsmoke2', 'hvsmoke3']) await ip('link', 'del', name);
  });

  it('resolves the IPVS generic netlink family with the netlink package', async () => {
    const socket = createGenericNetlink();
    try {
      const [family] = await socket.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: 'IPVS' });
      assert.equal(family.familyName, 'IPVS');
      assert.ok(
        typeof family.familyId === 'number' && family.familyId >= GENL_MIN_ID,
        `family id ${family.familyId}`,
      );
      assert.ok((family.ops ?? []).length > 0, 'IPVS family advertises no operations');
      // The same request for a family that does not exist must fail: the answer above came from the kernel.
      await assert.rejects(socket.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: 'HALO_NO_SUCH' }));
    } finally {
      socket.socket.close();
    }
  });
});
