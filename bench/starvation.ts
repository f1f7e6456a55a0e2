/**
 * VRRP timing under CPU starvation (issue 12): a director pair in network
 * namespaces; once the master is established, its whole process tree is
 * pinned to one CPU and N busy loops are pinned to the same CPU for a while.
 * The client's link is captured (kernel timestamps) and we print, per daemon
 * and advert interval:
 *   - takeovers: episodes in which the backup advertised as MASTER (each one
 *     a false failover and a give-back, since the master never stopped);
 *   - the master's advert gaps during the starvation: p50 / p99 / max.
 * halo and keepalived run the same scenario in the same invocation.
 * Target: 0 takeovers and p99 gap < 150 ms at advert 0.1 s and 0.05 s.
 */
import { parseArgs } from 'node:util';
import {
  type Daemon,
  type DaemonKind,
  keepalivedInstalled,
  VrrpLab,
  vrrpConfig,
} from '../test/helpers/vrrp-lab.js';
import {
  installInterruptHandler,
  lastCpu,
  machineLoad,
  onInterrupt,
  percentile,
  pinTree,
  sleep,
  startBusyLoops,
} from './lib/starve.js';

const USAGE = `Usage: npm run bench:starvation -- [options]   (root: network namespaces, taskset)

  --seconds N        starvation time per case (default 30)
  --adverts LIST     advert intervals in seconds (default 0.1,0.05)
  --daemons LIST     halo,keepalived (default both; keepalived is skipped when not installed)
  --busy N           busy loops pinned beside the master (default 32)
  --cpu N            the CPU to starve (default the last one)
  --halo-args ARGS   extra arguments for halo run, space separated (default --vrrp-only)
  --halo-global L    extra global_defs lines for halo, ';' separated (e.g. 'vrrp_rt_priority 0')
  --halo-main PATH   run this halo build's dist/src/cli/main.js (e.g. the code before a change)
  --help             this text

Namespaces are named halo-<random tag>-*; Ctrl-C kills the busy loops and daemons and removes them.`;

const VIP = '10.77.0.100';

export interface StarvationResult {
  adverts: number;
  takeovers: number;
  p50: number;
  p99: number;
  max: number;
}

/** Episodes of backup adverts: a new one starts when the previous backup advert is more than 1 s old. */
export function takeoverEpisodes(atMs: number[]): number {
  let episodes = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const t of atMs) {
    if (t - last > 1000) episodes++;
    last = t;
  }
  return episodes;
}

async function runCase(
  kind: DaemonKind,
  advertInt: number,
  opts: { seconds: number; busy: number; cpu: number; haloArgs?: string[]; global?: string[]; main?: string },
): Promise<StarvationResult> {
  const lab = new VrrpLab(4);
  if (opts.main) lab.haloMain = opts.main;
  const unregister = onInterrupt(() => lab.cleanup());
  try {
    await lab.setup(2);
    await lab.startAdvertCapture();
    const common = { version: 3 as const, advertInt, vips: [`${VIP}/24`] };
    const config = (priority: number) => vrrpConfig([{ ...common, priority }], opts.global);
    const master: Daemon = lab.start(kind, 0, config(150), opts.haloArgs);
    await master.waitForOutput(/Entering MASTER STATE/, 20000);
    lab.start(kind, 1, config(100), opts.haloArgs);
    await sleep(2000);
    if (!master.child.pid) throw new Error('master has no pid');
    pinTree(master.child.pid, opts.cpu);
    const busy = startBusyLoops(opts.busy, opts.cpu);
    const from = Date.now();
    await sleep(opts.seconds * 1000);
    const to = Date.now();
    await busy.stop();
    await sleep(200);
    const inWindow = lab.capturedAdverts().filter((a) => a.atMs >= from && a.atMs <= to && a.priority > 0);
    const m = inWindow.filter((a) => a.source === lab.directorAddress(0)).map((a) => a.atMs);
    const b = inWindow.filter((a) => a.source === lab.directorAddress(1)).map((a) => a.atMs);
    const gaps = m.slice(1).map((t, i) => t - m[i]);
    if (process.env.STARVATION_GAPS) {
      const long = gaps.flatMap((g, i) =>
        g > advertInt * 1500 ? [`${g.toFixed(1)}->${gaps[i + 1]?.toFixed(1)}`] : [],
      );
      console.log(`  long gaps (then the next one): ${long.join(' ') || 'none'}`);
    }
    return {
      adverts: m.length,
      takeovers: takeoverEpisodes(b),
      p50: percentile(gaps, 50),
      p99: percentile(gaps, 99),
      max: gaps.length ? Math.max(...gaps) : Number.NaN,
    };
  } finally {
    await lab.cleanup();
    unregister();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      adverts: { type: 'string', default: '0.1,0.05' },
      daemons: { type: 'string', default: 'halo,keepalived' },
      busy: { type: 'string', default: '32' },
      cpu: { type: 'string', default: String(lastCpu()) },
      'halo-args': { type: 'string' },
      'halo-global': { type: 'string' },
      'halo-main': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  installInterruptHandler();
  const seconds = Number(values.seconds);
  const busy = Number(values.busy);
  const cpu = Number(values.cpu);
  const adverts = values.adverts.split(',').map(Number);
  if (![seconds, busy, cpu, ...adverts].every((n) => Number.isFinite(n) && n >= 0)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  let daemons = values.daemons.split(',') as DaemonKind[];
  if (daemons.includes('keepalived') && !(await keepalivedInstalled())) {
    console.log('keepalived is not installed: measuring halo only');
    daemons = daemons.filter((d) => d !== 'keepalived');
  }
  const haloArgs = values['halo-args']?.split(' ').filter(Boolean);
  const haloGlobal = values['halo-global']
    ?.split(';')
    .map((l) => l.trim())
    .filter(Boolean);
  console.log(
    `VRRP under CPU starvation: master pinned to CPU ${cpu} with ${busy} busy loops for ${seconds} s (VRRPv3)`,
  );
  console.log(`machine: ${machineLoad()} at start`);
  if (values['halo-main'] || haloGlobal?.length) {
    console.log(
      `halo: ${values['halo-main'] ?? 'this build'}; global_defs: ${haloGlobal?.join('; ') || '-'}`,
    );
  }
  console.log('daemon       advert-s  adverts  takeovers  gap-p50-ms  gap-p99-ms  gap-max-ms');
  for (const advertInt of adverts) {
    for (const kind of daemons) {
      const r = await runCase(kind, advertInt, {
        seconds,
        busy,
        cpu,
        haloArgs: kind === 'halo' ? haloArgs : undefined,
        global: kind === 'halo' ? haloGlobal : undefined,
        main: values['halo-main'],
      });
      console.log(
        `${kind.padEnd(13)}${String(advertInt).padEnd(10)}${String(r.adverts).padEnd(9)}${String(r.takeovers).padEnd(11)}${r.p50.toFixed(1).padEnd(12)}${r.p99.toFixed(1).padEnd(12)}${r.max.toFixed(1)}`,
      );
    }
  }
  console.log(`machine: ${machineLoad()} at end`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
