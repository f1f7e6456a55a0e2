/**
 * Planned handover benchmark (issue 13): a VRRP pair in network namespaces, a client pinging the VIP
 * every 10 ms, and the master leaving in a planned way (SIGTERM, `halo failover --all`,
 * `halo maintenance on`), each case N times. Prints the pings lost per run and how long the VIP took to
 * move, for halo (make-before-break) and keepalived (priority 0 and the VIPs gone at once) in the same run.
 *
 * Prints numbers; asserts nothing (test/netns/vrrp-handover.test.ts asserts 0 lost). Ctrl-C cleans up.
 */
import { type HandoverCase, type HandoverResult, runHandoverCase } from '../test/helpers/handover.js';
import { keepalivedInstalled } from '../test/helpers/vrrp-lab.js';
import { benchArgs, runBench } from './cli.js';

interface Named extends HandoverCase {
  name: string;
}

const V3 = { version: 3 as const, advertInt: 0.1 };
const V2 = { version: 2 as const, advertInt: 1 };

const CASES: Named[] = [
  { name: 'halo-v3-sigterm', master: 'halo', backup: 'halo', ...V3, op: 'sigterm' },
  { name: 'keepalived-v3-sigterm', master: 'keepalived', backup: 'keepalived', ...V3, op: 'sigterm' },
  { name: 'halo-v2-sigterm', master: 'halo', backup: 'halo', ...V2, op: 'sigterm' },
  { name: 'keepalived-v2-sigterm', master: 'keepalived', backup: 'keepalived', ...V2, op: 'sigterm' },
  { name: 'halo-v3-failover', master: 'halo', backup: 'halo', ...V3, op: 'failover' },
  { name: 'halo-v2-failover', master: 'halo', backup: 'halo', ...V2, op: 'failover' },
  { name: 'halo-v3-maintenance', master: 'halo', backup: 'halo', ...V3, op: 'maintenance' },
  { name: 'halo+keepalived-v3-sigterm', master: 'halo', backup: 'keepalived', ...V3, op: 'sigterm' },
  {
    name: 'halo-immediate-v3-sigterm',
    master: 'halo',
    backup: 'halo',
    ...V3,
    op: 'sigterm',
    haloArgs: ['--release', 'immediate'],
  },
];

const USAGE = `usage: npm run bench:handover [-- OPTIONS]     (node dist/bench/handover.js, as root)

A VRRP pair in network namespaces (halolab-<pid>-*), a client pinging the VIP every 10 ms; the master
leaves in a planned way and the pings lost are counted. Cases (MASTER+BACKUP daemons, VRRP version,
operation): ${CASES.map((c) => c.name).join(', ')}. keepalived cases run only when it is installed.
Ctrl-C stops and removes the namespaces and daemons.

  --runs N        runs per case (default 10)
  --cases LIST    comma-separated case names (default all)`;

const values = benchArgs({
  usage: USAGE,
  needsRoot: true,
  options: {
    runs: { type: 'string', default: '10' },
    cases: { type: 'string', default: CASES.map((c) => c.name).join(',') },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
}

await runBench(async () => {
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs needs a whole number >= 1');
  const wanted = new Set(values.cases.split(','));
  const unknown = [...wanted].filter((w) => !CASES.some((c) => c.name === w));
  if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(', ')}`);
  const ka = await keepalivedInstalled();
  const { loadavg } = await import('node:os');
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log('| case | runs | pings lost per run | runs with loss | VIP moved, median (min..max) |');
  console.log('|---|---|---|---|---|');
  for (const c of CASES) {
    if (!wanted.has(c.name)) continue;
    if (!ka && (c.master === 'keepalived' || c.backup === 'keepalived')) {
      console.log(`| ${c.name} | - | keepalived is not installed | | |`);
      continue;
    }
    const results: HandoverResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await runHandoverCase(c));
    const moves = results.map((r) => r.moveMs);
    console.log(
      `| ${c.name} | ${runs} | ${results.map((r) => r.lost).join(' ')} | ${results.filter((r) => r.lost > 0).length} | ${median(moves).toFixed(0)} ms (${Math.min(...moves).toFixed(0)}..${Math.max(...moves).toFixed(0)}) |`,
    );
  }
  console.log(
    `load average at end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
});
