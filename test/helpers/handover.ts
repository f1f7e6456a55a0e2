/**
 * One planned handover, as users feel it (issue 13): a pair of VRRP daemons in namespaces, a client
 * pinging the VIP every 10 ms, and the MASTER leaving in a planned way:
 *  - 'sigterm':     the master is stopped (SIGTERM, as systemd does);
 *  - 'failover':    `halo failover --all` on the master (it stays up, BACKUP);
 *  - 'maintenance': `halo maintenance on` on the master.
 * Returns the pings lost around it and how long the VIP took to move. Shared by
 * test/netns/vrrp-handover.test.ts and bench/handover.ts.
 */
import { spawnSync } from 'node:child_process';
import { waitFor } from './netns.js';
import { PingProbe } from './ping-probe.js';
import { type Daemon, type DaemonKind, HALO_MAIN, VrrpLab, vrrpConfig } from './vrrp-lab.js';

export const HANDOVER_VIP = '10.77.0.100';

export type PlannedOp = 'sigterm' | 'failover' | 'maintenance';

export interface HandoverCase {
  master: DaemonKind;
  backup: DaemonKind;
  version: 2 | 3;
  advertInt: number;
  op: PlannedOp;
  /** Extra `halo run` arguments for halo daemons (e.g. --release immediate). */
  haloArgs?: string[];
}

export interface HandoverResult {
  sent: number;
  lost: number;
  longestGapMs: number;
  /** From the planned operation until the backup held the VIP. */
  moveMs: number;
  /** The old master no longer holds the VIP when the result is taken. */
  released: boolean;
}

export function handoverConfig(c: Pick<HandoverCase, 'version' | 'advertInt'>, priority: number): string {
  return vrrpConfig([{ version: c.version, advertInt: c.advertInt, priority, vips: [`${HANDOVER_VIP}/24`] }]);
}

/** Runs `halo` with arguments against a daemon's control socket (in its namespace's view: a unix path). */
export function haloCli(d: Daemon, args: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, [HALO_MAIN, ...args, '--socket', d.socket], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** A running pair with the master (priority 150) on director 0 and the client's ping flowing. */
export async function startPair(
  lab: VrrpLab,
  c: HandoverCase,
): Promise<{ master: Daemon; backup: Daemon; ping: PingProbe }> {
  await lab.setup(2);
  const args = (kind: DaemonKind) => (kind === 'halo' ? ['--vrrp-only', ...(c.haloArgs ?? [])] : undefined);
  const master = lab.start(c.master, 0, handoverConfig(c, 150), args(c.master));
  await master.waitForOutput(/Entering MASTER STATE/, 15_000);
  const backup = lab.start(c.backup, 1, handoverConfig(c, 100), args(c.backup));
  await backup.waitForOutput(/Entering BACKUP STATE/, 15_000);
  await waitFor(async () => (await lab.holders(HANDOVER_VIP)).join() === '0', 10_000);
  const ping = new PingProbe(lab, HANDOVER_VIP);
  await ping.ready();
  // Let the client's ARP entry settle on the master.
  await new Promise((r) => setTimeout(r, 300));
  return { master, backup, ping };
}

/** The planned operation on a running pair, measured. */
export async function plannedHandover(
  lab: VrrpLab,
  pair: { master: Daemon; backup: Daemon; ping: PingProbe },
  op: PlannedOp,
): Promise<HandoverResult> {
  const { master, ping } = pair;
  const mark = ping.mark();
  const t0 = performance.now();
  let stopped: Promise<void> | undefined;
  if (op === 'sigterm') stopped = lab.stop(master, 'SIGTERM');
  else {
    const r = haloCli(master, op === 'failover' ? ['failover', '--all'] : ['maintenance', 'on']);
    if (r.code !== 0) throw new Error(`halo ${op} failed: ${r.out}`);
  }
  await waitFor(async () => (await lab.holders(HANDOVER_VIP)).includes(1), 15_000);
  const moveMs = performance.now() - t0;
  await stopped;
  // The old master lets go once it has heard the new one (or after its deadline).
  await waitFor(async () => !(await lab.holders(HANDOVER_VIP)).includes(0), 15_000).catch(() => undefined);
  const released = !(await lab.holders(HANDOVER_VIP)).includes(0);
  const w = await ping.settle(mark, 1500);
  return { ...w, moveMs, released };
}

/** A whole case in a fresh lab. */
export async function runHandoverCase(c: HandoverCase): Promise<HandoverResult> {
  const lab = new VrrpLab(4);
  try {
    const pair = await startPair(lab, c);
    const r = await plannedHandover(lab, pair, c.op);
    await pair.ping.stop();
    return r;
  } finally {
    await lab.cleanup();
  }
}
