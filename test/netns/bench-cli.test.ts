/**
 * Benchmarks behave like tools: `--help` prints the usage and touches nothing (no namespace, no VM);
 * Ctrl-C (SIGINT) or SIGTERM in the middle of a run removes its namespaces and kills its daemons; and a
 * bench killed too hard for that (SIGKILL) leaves `halolab-<pid>-*` namespaces that `npm run lab --
 * --cleanup` removes, daemons included, once that PID is gone.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LAB_PREFIX, listNamespaces } from '../../lab/netns.js';
import { canUseNetns, sh, waitFor } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

const BENCH = (name: string) => join(REPO_ROOT, 'dist/bench', `${name}.js`);
const ownedBy = async (pid: number) =>
  (await listNamespaces()).filter((n) => n.startsWith(`${LAB_PREFIX}${pid}-`));

/** Processes still running inside any of these namespaces. */
async function pidsIn(namespaces: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const ns of namespaces) {
    out.push(
      ...(await sh('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean),
    );
  }
  return out;
}

/**
 * halo daemons among these PIDs. A namespace also holds short-lived setup commands (`ip`, `sysctl`) while
 * the bench builds it: one of those is not the pair running (CI once caught one, then found no daemon).
 */
function halosAmong(pids: string[]): string[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cli/main.js');
    } catch {
      return false;
    }
  });
}

/** Starts the failover benchmark (halo only, one short case) and waits until its pair runs. */
async function startFailoverBench(): Promise<{
  child: ChildProcess;
  namespaces: string[];
  /** The halo daemons seen running in the director namespaces. */
  daemons: string[];
  output: () => string;
}> {
  const child = spawn(
    process.execPath,
    [BENCH('failover'), '--runs', '3', '--daemons', 'halo', '--cases', 'v2-crash'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const pid = child.pid as number;
  // Its director namespaces exist and a halo runs in one of them.
  const running = await waitFor(
    async () => {
      const ns = await ownedBy(pid);
      const daemons = halosAmong(await pidsIn(ns.filter((n) => n.endsWith('-d1'))));
      return daemons.length > 0 ? { ns, daemons } : undefined;
    },
    20_000,
    100,
  );
  const { ns, daemons } = running as { ns: string[]; daemons: string[] };
  return { child, namespaces: ns, daemons, output: () => output };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('benchmarks as tools', { skip: enabled ? false : 'needs root' }, () => {
  it('--help prints the usage and creates nothing (bench:ipvs does not boot the VM)', async () => {
    for (const name of ['failover', 'ipvs-vm', 'ipvs']) {
      const before = (await listNamespaces()).length;
      const r = spawnSync(process.execPath, [BENCH(name), '--help'], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: /, name);
      assert.equal(r.stderr, '', name);
      assert.equal((await listNamespaces()).length, before, `${name} --help created namespaces`);
    }
    const bad = spawnSync(process.execPath, [BENCH('failover'), '--bogus'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /Unknown option '--bogus'[\s\S]*usage: /);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} in the middle of a run removes the namespaces and the daemons`, {
      timeout: 60_000,
    }, async () => {
      const { child, namespaces, output } = await startFailoverBench();
      child.kill(signal);
      const code = await exitOf(child);
      assert.equal(code, signal === 'SIGINT' ? 130 : 143, output());
      assert.deepEqual(await ownedBy(child.pid as number), [], 'namespaces removed');
      assert.deepEqual(await pidsIn(namespaces), [], 'nothing runs in them');
      assert.match(output(), new RegExp(`${signal}: cleaning up`));
    });
  }

  it('a bench killed with SIGKILL leaves names lab --cleanup removes, with their daemons', {
    timeout: 60_000,
  }, async () => {
    const { child, namespaces, daemons } = await startFailoverBench();
    child.kill('SIGKILL');
    await exitOf(child);
    assert.ok((await ownedBy(child.pid as number)).length > 0, 'SIGKILL leaves them behind');
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/lab/lab.js'), '--cleanup'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    for (const ns of namespaces) assert.match(r.stdout, new RegExp(`removed .*${ns}`));
    assert.deepEqual(await ownedBy(child.pid as number), []);
    // The daemons in them were killed (and, orphaned, get reaped by init).
    const alive = (pid: string) => {
      try {
        process.kill(Number(pid), 0);
        return !/^Z/m.test(spawnSync('ps', ['-o', 'stat=', '-p', pid], { encoding: 'utf8' }).stdout);
      } catch {
        return false;
      }
    };
    await waitFor(() => daemons.every((pid) => !alive(pid)), 5000);
  });
});
