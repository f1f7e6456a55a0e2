/**
 * Hitless reload benchmark (issue 10; prints numbers, not a test).
 *
 * A halo daemon (`halo run --check-only --ipvs dry-run`) checks 1,000 real servers (TCP_CHECK) in ten
 * virtual servers, against real listeners in a network namespace (10 addresses x 100 ports, one small
 * Node process accepting and closing). Once every server is up and has been checked, the config file is
 * rewritten and the daemon gets SIGHUP, in three scenarios, several rounds each:
 *  - unchanged: the same config (goal: 0 IPVS operations, 0 checkers restarted);
 *  - one checker changed: one real server's connect_timeout (goal: 1 restarted, 0 IPVS operations);
 *  - one weight changed: one real server's weight (goal: 1 IPVS operation, 0 restarted).
 * For each reload: the IPVS operations sent (the daemon's 'ipvs.change' lines from SIGHUP to the end of a
 * settle window), the checkers kept / started / stopped / restarted (its 'check.reload' line), the real
 * servers that changed state, and the reload wall time from SIGHUP to the 'config.reloaded' line (as
 * read by this process), beside the daemon's own measure of it. Exits 1 when a goal is missed.
 *
 * Namespaces: halo-<tag>-rdir (the daemon), halo-<tag>-rweb (the listeners), halo-<tag>-br; removed at
 * the end and on Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { canUseNetns, NetnsLab, waitFor } from '../test/helpers/netns.js';
import { HALO_MAIN } from '../test/helpers/vrrp-lab.js';
import { installInterruptHandler, machineLoad, onInterrupt, percentile, sleep } from './lib/starve.js';

const USAGE = `Usage: node dist/bench/reload.js [options]   (root: uses network namespaces)
  --servers N      real servers, TCP_CHECK each (default 1000; spread over 10 virtual servers)
  --delay-loop S   delay_loop in seconds (default 5)
  --rounds N       reloads per scenario (default 5)
  --settle MS      how long after each reload IPVS operations and state changes are still counted (default 2000)
  --help           this text
Ctrl-C stops the run and removes its namespaces (halo-<tag>-rdir/rweb/br).`;

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '1000' },
    'delay-loop': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    settle: { type: 'string', default: '2000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const SERVERS = Number(values.servers);
const DELAY_LOOP = Number(values['delay-loop']);
const ROUNDS = Number(values.rounds);
const SETTLE_MS = Number(values.settle);
for (const [k, v] of Object.entries({ SERVERS, DELAY_LOOP, ROUNDS, SETTLE_MS })) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/reload: invalid ${k.toLowerCase().replace('_', '-')}\n${USAGE}`);
    process.exit(2);
  }
}

const VIRTUAL_SERVERS = 10;
const ADDRESSES = 10;
const PORT_BASE = 20000;
const PORTS = Math.ceil(SERVERS / ADDRESSES);
const webAddress = (i: number) => `10.69.0.${21 + (i % ADDRESSES)}`;
const webPort = (i: number) => PORT_BASE + Math.floor(i / ADDRESSES);

interface Edit {
  /** connect_timeout of real server 0 (a checker change). */
  timeout0: number;
  /** weight of real server 1 (an IPVS edit, no checker change). */
  weight1: number;
}

function config(e: Edit): string {
  const out: string[] = [];
  const perVs = Math.ceil(SERVERS / VIRTUAL_SERVERS);
  for (let v = 0; v < VIRTUAL_SERVERS && v * perVs < SERVERS; v++) {
    out.push(`virtual_server 10.69.0.100 ${8000 + v} {
  delay_loop ${DELAY_LOOP}
  lb_algo rr
  lb_kind DR
  protocol TCP`);
    for (let i = v * perVs; i < Math.min(SERVERS, (v + 1) * perVs); i++) {
      out.push(`  real_server ${webAddress(i)} ${webPort(i)} {
    weight ${i === 1 ? e.weight1 : 1}
    TCP_CHECK {
      connect_timeout ${i === 0 ? e.timeout0 : 2}
      retry 1
    }
  }`);
    }
    out.push('}');
  }
  return `${out.join('\n')}\n`;
}

/** Accept and close on PORTS ports of every address (TCP_CHECK only connects). */
const LISTENERS = `
const net = require('node:net');
let ready = 0;
for (let p = 0; p < ${PORTS}; p++) {
  net.createServer((s) => s.destroy()).listen(${PORT_BASE} + p, '0.0.0.0', () => {
    if (++ready === ${PORTS}) console.log('listening');
  });
}
`;

interface LogLine {
  event?: string;
  msg?: string;
  op?: string;
  kept?: number;
  started?: number;
  stopped?: number;
  restarted?: number;
  ipvsOps?: number;
  durationMs?: number;
  /** The daemon's timestamp (ISO, ms). */
  time?: string;
  /** When this process read the line (performance.now()). */
  readAt: number;
}

interface Sample {
  ipvsOps: number;
  kept: number;
  started: number;
  stopped: number;
  restarted: number;
  stateChanges: number;
  wallMs: number;
  daemonMs: number;
  /** Of the daemon's time: reading the config (isolated worker) and planning, until 'config.reload_plan'. */
  loadMs: number;
  /** The rest: applying the plan (checks + IPVS pass + the other parts), until 'config.reloaded'. */
  applyMs: number;
}

const p50 = (xs: number[]) => percentile(xs, 50).toFixed(0);

async function main(): Promise<number> {
  if (!(await canUseNetns())) {
    console.error('bench/reload: needs root (network namespaces)');
    return 2;
  }
  installInterruptHandler();
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-reload-'));
  const cleanup = async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(cleanup);
  let halo: ChildProcess | undefined;
  try {
    const director = await lab.addHost('rdir', ['10.69.0.11/24']);
    const web = await lab.addHost(
      'rweb',
      [...Array(ADDRESSES).keys()].map((i) => `${webAddress(i)}/24`),
    );
    const listeners = lab.spawn(web.ns, process.execPath, ['-e', LISTENERS]);
    let listening = false;
    listeners.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) listening = true;
    });
    await waitFor(() => listening, 20_000);

    const conf = join(dir, 'halo.conf');
    let edit: Edit = { timeout0: 2, weight1: 1 };
    writeFileSync(conf, config(edit));
    halo = lab.spawn(director.ns, process.execPath, [
      HALO_MAIN,
      'run',
      '--check-only',
      '--ipvs',
      'dry-run',
      '-f',
      conf,
      '--run-dir',
      dir,
    ]);
    const lines: LogLine[] = [];
    let buf = '';
    halo.stdout?.on('data', (d: Buffer) => {
      const readAt = performance.now();
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        try {
          lines.push({ ...(JSON.parse(buf.slice(0, nl)) as Omit<LogLine, 'readAt'>), readAt });
        } catch {
          // not a log line
        }
        buf = buf.slice(nl + 1);
      }
    });
    let stderr = '';
    halo.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const count = (from: number, event: string) => lines.slice(from).filter((l) => l.event === event).length;

    // Every real server programmed, then a full round of checks (first runs are spread over bootstrap
    // 1 s + warmup = delay_loop) without a server going down.
    const started = performance.now();
    await waitFor(() => count(0, 'ipvs.change') >= SERVERS || halo?.exitCode !== null, 60_000);
    if (halo.exitCode !== null) throw new Error(`halo exited: ${stderr}`);
    await sleep(DELAY_LOOP * 1000 + 1500);
    const down = count(0, 'check.server_down');
    console.log(
      `halo reload bench: ${SERVERS} real servers (TCP_CHECK, delay_loop ${DELAY_LOOP} s) in ${VIRTUAL_SERVERS} virtual servers, dry-run IPVS`,
    );
    console.log(
      `up and checked in ${((performance.now() - started) / 1000).toFixed(1)} s (${down} went down); ${machineLoad()}`,
    );

    const reload = async (next: Edit): Promise<Sample> => {
      edit = next;
      writeFileSync(conf, config(edit));
      const mark = lines.length;
      const sent = performance.now();
      halo?.kill('SIGHUP');
      const reloaded = (await waitFor(
        () =>
          lines
            .slice(mark)
            .find((l) => l.event === 'config.reloaded' || l.event === 'config.reload_rejected'),
        30_000,
        2,
      )) as LogLine;
      if (reloaded.event !== 'config.reloaded') throw new Error(`reload rejected: ${reloaded.msg}`);
      await sleep(SETTLE_MS);
      const c = lines.slice(mark).find((l) => l.event === 'check.reload');
      const at = (event: string) => Date.parse(lines.slice(mark).find((l) => l.event === event)?.time ?? '');
      return {
        ipvsOps: count(mark, 'ipvs.change'),
        kept: c?.kept ?? Number.NaN,
        started: c?.started ?? Number.NaN,
        stopped: c?.stopped ?? Number.NaN,
        restarted: c?.restarted ?? Number.NaN,
        stateChanges: count(mark, 'check.server_up') + count(mark, 'check.server_down'),
        wallMs: reloaded.readAt - sent,
        daemonMs: reloaded.durationMs ?? Number.NaN,
        loadMs: at('config.reload_plan') - at('config.reload_started'),
        applyMs: at('config.reloaded') - at('config.reload_plan'),
      };
    };

    const scenarios: Array<{
      name: string;
      next: (round: number) => Edit;
      goal: (s: Sample) => boolean;
      goalText: string;
    }> = [
      {
        name: 'unchanged config',
        next: () => edit,
        goal: (s) => s.ipvsOps === 0 && s.restarted + s.started + s.stopped === 0 && s.kept === SERVERS,
        goalText: `0 IPVS ops, ${SERVERS} kept, 0 restarted`,
      },
      {
        name: 'one checker changed',
        next: (round) => ({ ...edit, timeout0: 3 + (round % 2) }),
        goal: (s) => s.ipvsOps === 0 && s.restarted === 1 && s.kept === SERVERS - 1,
        goalText: `0 IPVS ops, ${SERVERS - 1} kept, 1 restarted`,
      },
      {
        name: 'one weight changed',
        next: (round) => ({ ...edit, weight1: 2 + (round % 2) }),
        goal: (s) => s.ipvsOps === 1 && s.restarted === 0 && s.kept === SERVERS,
        goalText: `1 IPVS op, ${SERVERS} kept, 0 restarted`,
      },
    ];

    const rows: string[][] = [
      [
        'scenario',
        'IPVS ops',
        'kept',
        'started',
        'stopped',
        'restarted',
        'state changes',
        'reload ms p50 / max',
        'daemon ms p50 (load / apply)',
        'goal',
      ],
    ];
    let missed = 0;
    for (const s of scenarios) {
      const samples: Sample[] = [];
      for (let round = 0; round < ROUNDS; round++) samples.push(await reload(s.next(round)));
      const range = (f: (x: Sample) => number) => {
        const xs = samples.map(f);
        const lo = Math.min(...xs);
        const hi = Math.max(...xs);
        return lo === hi ? String(lo) : `${lo}..${hi}`;
      };
      const ok = samples.every(s.goal);
      if (!ok) missed++;
      const wall = samples.map((x) => x.wallMs);
      rows.push([
        s.name,
        range((x) => x.ipvsOps),
        range((x) => x.kept),
        range((x) => x.started),
        range((x) => x.stopped),
        range((x) => x.restarted),
        range((x) => x.stateChanges),
        `${percentile(wall, 50).toFixed(0)} / ${Math.max(...wall).toFixed(0)}`,
        `${p50(samples.map((x) => x.daemonMs))} (${p50(samples.map((x) => x.loadMs))} / ${p50(samples.map((x) => x.applyMs))})`,
        `${ok ? 'met' : 'MISSED'} (${s.goalText})`,
      ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    console.log(
      `\n${ROUNDS} reloads per scenario (SIGHUP -> 'config.reloaded' read here; the daemon's own measure beside it)`,
    );
    for (const r of rows)
      console.log(
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      );
    console.log(`\n${machineLoad()}`);
    return missed ? 1 : 0;
  } finally {
    // A graceful stop when it comes quickly; cleanup() SIGKILLs whatever is left.
    if (halo) await Promise.race([lab.kill(halo, 'SIGTERM'), sleep(5000)]);
    await cleanup();
    unregister();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench/reload: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
