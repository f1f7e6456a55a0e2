/**
 * How fast halo learns about host changes, the numbers behind issue 17 and track_process:
 *   - address removal: from `ip addr del` (a spawned ip) and from an rtnetlink delete in the same process
 *     to the AddressWatcher's 'removed' event, in a lab namespace;
 *   - process death: from kill -9 by PID to the ProcessWatcher's 'removed' event, through the process
 *     connector (the root namespace) and through a pidfd (the fallback used inside network namespaces).
 * Prints p50 / p99 / max in milliseconds. The lab namespace (prefix halo-) is removed at the end and on Ctrl-C.
 *
 * Usage: node dist/bench/host-watch.js [--rounds 200]
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ProcessChange, ProcessTracker } from '../src/net/process-watch.js';
import { NetnsLab } from '../test/helpers/netns.js';
import { NetAgent } from '../test/netns/net-agent.js';

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return `${String(xs.length).padEnd(7)}${pct(50).toFixed(3).padEnd(9)}${pct(99).toFixed(3).padEnd(9)}${s[s.length - 1].toFixed(3)}`;
}

async function addressLatency(lab: NetnsLab, rounds: number): Promise<void> {
  const host = await lab.addHost('w', ['10.95.0.1/24']);
  const agent = NetAgent.start(lab, host.ns);
  try {
    await agent.request('watchAddresses', { name: 'b' });
    for (const via of ['ip', 'netlink'] as const) {
      const toRead: number[] = [];
      const toHandler: number[] = [];
      for (let i = 0; i < rounds; i++) {
        await lab.exec(host.ns, 'ip', ['addr', 'add', '10.95.0.100/24', 'dev', host.ifname]);
        const [read, handled] = await agent.request<[number, number]>('timedAddressDel', {
          name: 'b',
          address: '10.95.0.100',
          prefixLength: 24,
          ifname: host.ifname,
          via,
        });
        toRead.push(read);
        toHandler.push(handled);
      }
      const what = via === 'ip' ? 'ip addr del (spawned)' : 'rtnetlink delete';
      console.log(`${`${what} -> event read`.padEnd(40)}${stats(toRead)}`);
      console.log(`${`${what} -> handler ran`.padEnd(40)}${stats(toHandler)}`);
    }
  } finally {
    await agent.stop();
  }
}

async function processLatency(
  rounds: number,
  mode: 'connector' | 'scan',
  bin: string,
  name: string,
): Promise<void> {
  const tracker = new ProcessTracker(
    [
      {
        name: 'p',
        process: name,
        params: [],
        paramMatch: 'none',
        fullCommand: false,
        weight: 0,
        weightReverse: false,
        quorum: 1,
        forkDelayMs: 0,
        terminateDelayMs: 0,
      },
    ],
    { mode, scanIntervalMs: 20 },
  );
  try {
    await tracker.start();
  } catch (err) {
    console.log(`${`kill -9 -> event (${mode})`.padEnd(40)}unavailable: ${(err as Error).message}`);
    return;
  }
  const lat: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const child = spawn(bin, ['60'], { stdio: 'ignore' });
      await new Promise<void>((resolve) => {
        const on = (c: ProcessChange) => {
          if (c.type === 'added' && c.pid === child.pid) {
            tracker.off('change', on);
            resolve();
          }
        };
        tracker.on('change', on);
      });
      const removed = new Promise<bigint>((resolve) => {
        const on = (c: ProcessChange) => {
          if (c.type === 'removed' && c.pid === child.pid) {
            tracker.off('change', on);
            resolve(c.at);
          }
        };
        tracker.on('change', on);
      });
      const t0 = process.hrtime.bigint();
      process.kill(child.pid!, 'SIGKILL');
      lat.push(Number((await removed) - t0) / 1e6);
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    tracker.close();
  }
  console.log(`${`kill -9 -> event (${mode === 'scan' ? 'pidfd' : mode})`.padEnd(40)}${stats(lat)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '200' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(
      'Usage: node dist/bench/host-watch.js [--rounds N]  (root; creates and removes a halo- namespace)',
    );
    return;
  }
  const rounds = Number(values.rounds);
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
  const cleanup = async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    console.log('case                                    n      p50-ms   p99-ms   max-ms');
    await addressLatency(lab, rounds);
    const name = `hbench${lab.tag}`;
    const bin = join(dir, name);
    copyFileSync('/bin/sleep', bin);
    await processLatency(rounds, 'connector', bin, name);
    await processLatency(rounds, 'scan', bin, name);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
