/**
 * Failover benchmark: a director pair in network namespaces, the master is
 * crashed (SIGKILL of its whole process tree + link cut, as the keepalived
 * reference was measured) or stopped gracefully (SIGTERM), and we measure:
 *  - takeover on the wire: kill -> first advert from the backup (tcpdump on the client link)
 *  - VIP answering: kill -> first ping reply from the VIP at the client (10 ms ping interval)
 * for halo pairs and keepalived pairs in the same run. Also the advert jitter
 * of the master at advert_int 0.1 (p99 deviation from the interval).
 *
 * Prints numbers; asserts nothing. Usage: see USAGE (node dist/bench/failover.js --help). Ctrl-C cleans up.
 */
import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../test/helpers/netns.js';
import { type DaemonKind, keepalivedInstalled, VrrpLab, vrrpConfig } from '../test/helpers/vrrp-lab.js';
import { benchArgs, runBench } from './cli.js';

interface Case {
  name: string;
  version: 2 | 3;
  advertInt: number;
  signal: 'SIGKILL' | 'SIGTERM';
}

const CASES: Case[] = [
  { name: 'v2-crash', version: 2, advertInt: 1, signal: 'SIGKILL' },
  { name: 'v2-term', version: 2, advertInt: 1, signal: 'SIGTERM' },
  { name: 'v3-crash', version: 3, advertInt: 0.1, signal: 'SIGKILL' },
  { name: 'v3-term', version: 3, advertInt: 0.1, signal: 'SIGTERM' },
];

const USAGE = `usage: npm run bench:failover [-- OPTIONS]     (node dist/bench/failover.js, as root)

A VRRP pair in network namespaces (halolab-<pid>-*); the master is crashed (SIGKILL + link cut) or
stopped (SIGTERM); prints the takeover time on the wire and until the VIP answers, for halo and
keepalived, median (min..max) of the runs. Ctrl-C stops and removes the namespaces and daemons.

  --runs N          runs per case and daemon (default 5)
  --daemons LIST    halo,keepalived (default both; keepalived only when installed)
  --cases LIST      ${CASES.map((c) => c.name).join(',')} (default all)`;

const values = benchArgs({
  usage: USAGE,
  needsRoot: true,
  options: {
    runs: { type: 'string', default: '5' },
    daemons: { type: 'string', default: 'halo,keepalived' },
    cases: { type: 'string', default: CASES.map((c) => c.name).join(',') },
  },
});

const VIP = '10.77.0.100';
const BACKUP_PRIORITY = 100;

/** The protocol's bound for a crash: 3 x advert + skew (+ 50 ms of slack, the target). */
function targetMs(c: Case): number {
  const advMs = c.advertInt * 1000;
  const skew = ((256 - BACKUP_PRIORITY) * advMs) / 256;
  return c.signal === 'SIGKILL' ? 3 * advMs + skew + 50 : skew + 50;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

interface Reply {
  seq: number;
  atMs: number;
}

/** A continuous ping from the client (10 ms interval); collects replies (seq, epoch ms). */
function startPinger(lab: VrrpLab): { child: ChildProcess; replies: Reply[] } {
  const replies: Reply[] = [];
  const child = lab.lab.spawn(lab.client.ns, 'ping', ['-D', '-n', '-i', '0.01', '-W', '1', VIP]);
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/.exec(buf.slice(0, nl));
      if (m) replies.push({ seq: Number(m[2]), atMs: Number(m[1]) * 1000 });
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  return { child, replies };
}

async function runOnce(
  kind: DaemonKind,
  c: Case,
): Promise<{ wireMs: number; answerMs: number; jitterP99?: number }> {
  const lab = new VrrpLab(4);
  try {
    await lab.setup(2);
    await lab.startAdvertCapture();
    const common = { advertInt: c.advertInt, version: c.version, vips: [`${VIP}/24`] };
    const master = lab.start(kind, 0, vrrpConfig([{ ...common, priority: 150 }]));
    lab.start(kind, 1, vrrpConfig([{ ...common, priority: BACKUP_PRIORITY }]));
    await master.waitForOutput(/Entering MASTER STATE/, 15000);
    await waitFor(async () => (await lab.holders(VIP)).join() === '0', 5000);
    // Let the pair settle and the client learn the VIP's MAC.
    const pinger = startPinger(lab);
    await waitFor(() => pinger.replies.length > 5, 5000);
    await new Promise((r) => setTimeout(r, Math.max(1000, c.advertInt * 3000)));

    let jitterP99: number | undefined;
    if (c.advertInt < 1) {
      const masterAdverts = lab.capturedAdverts().filter((a) => a.source === lab.directorAddress(0));
      const dev = masterAdverts
        .slice(1)
        .map((a, i) => Math.abs(a.atMs - masterAdverts[i].atMs - c.advertInt * 1000));
      if (dev.length > 5) jitterP99 = percentile(dev, 99);
    }

    const t0 = Date.now();
    const lastBefore = pinger.replies[pinger.replies.length - 1].seq;
    if (c.signal === 'SIGKILL') {
      // A crash: the link goes with the process, so the dead director (whose
      // VIP is still configured) cannot answer for it any more.
      await lab.lab.setLink(lab.directors[0], false);
    }
    await lab.stop(master, c.signal);
    const advert = await lab.waitForAdvertFrom(lab.directorAddress(1), t0, 15000);
    // The outage ends with the first reply after the first unanswered ping
    // sent after t0; a graceful stop may lose none at all (outage 0).
    await new Promise((r) => setTimeout(r, 1500));
    const answered = new Set(pinger.replies.map((r) => r.seq));
    let firstLost = lastBefore + 1;
    while (answered.has(firstLost)) firstLost++;
    const lastSeen = pinger.replies[pinger.replies.length - 1].seq;
    let answerMs = 0;
    if (firstLost < lastSeen) {
      const resumed = pinger.replies.find((r) => r.seq > firstLost)!;
      answerMs = resumed.atMs - t0;
    }
    return { wireMs: advert.atMs - t0, answerMs, jitterP99 };
  } finally {
    await lab.cleanup();
  }
}

async function main(): Promise<void> {
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error('--runs needs a positive whole number');
  let daemons = values.daemons.split(',') as DaemonKind[];
  if (daemons.includes('keepalived') && !(await keepalivedInstalled())) {
    console.log('keepalived is not installed: measuring halo only');
    daemons = daemons.filter((d) => d !== 'keepalived');
  }
  const cases = CASES.filter((c) => values.cases.split(',').includes(c.name));
  console.log(`failover benchmark: ${runs} runs per case, median (min..max)`);
  console.log(
    'case       daemon      takeover-on-wire-ms         vip-answers-ms              target-ms  advert-jitter-p99-ms',
  );
  for (const c of cases) {
    for (const kind of daemons) {
      const wire: number[] = [];
      const answer: number[] = [];
      const jitter: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await runOnce(kind, c);
        wire.push(r.wireMs);
        answer.push(r.answerMs);
        if (r.jitterP99 !== undefined) jitter.push(r.jitterP99);
      }
      const fmt = (xs: number[]) =>
        `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)})`.padEnd(28);
      console.log(
        `${c.name.padEnd(10)} ${kind.padEnd(11)} ${fmt(wire)}${fmt(answer)}${String(targetMs(c).toFixed(0)).padEnd(11)}${
          jitter.length ? median(jitter).toFixed(1) : '-'
        }`,
      );
    }
  }
}

await runBench(main);
