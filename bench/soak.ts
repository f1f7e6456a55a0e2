/**
 * Memory soak (prints numbers; not a test): `halo run` with one VRRP
 * instance (advert 1 s, MASTER), health checks against real servers in a
 * second namespace (default 900 TCP_CHECK + 100 HTTP_GET, delay_loop 1 s,
 * so 1,000 checks per second) and IPVS in dry-run, for --minutes. Every
 * --every seconds it prints the process RSS (from /proc) and each thread's
 * V8 heap (main and the VRRP worker, through the bench/memtrace.js preload);
 * at the end the RSS at the end, its growth over the second half of the run
 * (a leak shows as a steady slope), and issue 15's target (<= 64 MB, flat).
 *
 * Usage: node dist/bench/soak.js [--minutes 10] [--every 60] [--tcp 900] [--http 100] [--vrrp-only]
 *        [--snapshot-at S] [--node-arg ARG]... [--halo PATH]   (--help for all)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { canUseNetns, NetnsLab, sh, waitFor } from '../test/helpers/netns.js';

const USAGE = `Usage: node dist/bench/soak.js [options]   (root: uses network namespaces)
  --minutes N       how long halo runs (default 10)
  --every S         seconds between rows (default 60)
  --tcp N           TCP_CHECK real servers, delay_loop 1 s (default 900)
  --http N          HTTP_GET real servers, delay_loop 1 s (default 100)
  --vrrp-only       no checks, no IPVS: halo run --vrrp-only (the idle footprint)
  --snapshot-at S   heap snapshots of the main thread and the VRRP worker S seconds in
  --node-arg ARG    pass ARG to node (repeatable), e.g. --node-arg=--max-old-space-size=48
  --halo PATH       the halo main.js to run (default this build's), to compare builds
  --help            this text
Ctrl-C stops halo and removes the namespaces (halo-<tag>-dir/srv/br).`;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    every: { type: 'string', default: '60' },
    tcp: { type: 'string', default: '900' },
    http: { type: 'string', default: '100' },
    'vrrp-only': { type: 'boolean', default: false },
    'snapshot-at': { type: 'string' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    halo: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const MINUTES = Number(values.minutes);
const EVERY_S = Number(values.every);
const VRRP_ONLY = values['vrrp-only'] === true;
const TCP = VRRP_ONLY ? 0 : Number(values.tcp);
const HTTP = VRRP_ONLY ? 0 : Number(values.http);
for (const [k, v] of Object.entries({ MINUTES, EVERY_S, TCP, HTTP })) {
  if (!Number.isFinite(v) || v < 0 || (k === 'EVERY_S' && v <= 0)) {
    console.error(`bench/soak: invalid --${k.toLowerCase().replace('_s', '')}\n${USAGE}`);
    process.exit(2);
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const HALO = values.halo ?? join(here, '..', 'src', 'cli', 'main.js');
const MEMTRACE = join(here, 'memtrace.js');
const DIRECTOR = '10.82.0.1';
const SERVER = '10.82.0.2';
const PORTS = 100;

/** The servers: PORTS TCP ports (accept and close) and an HTTP server on 80, in the server namespace. */
const SERVERS_JS = `
const net = require('net'), http = require('http');
for (let p = 9000; p < 9000 + ${PORTS}; p++) net.createServer((s) => s.destroy()).listen(p, '0.0.0.0');
http.createServer((req, res) => { res.writeHead(200, { 'Content-Length': 3 }); res.end('ok\\n'); })
  .listen(80, '0.0.0.0', () => console.log('ready'));
`;

function haloConfig(): string {
  const out = [
    'vrrp_instance VI_1 {',
    '  state MASTER',
    '  interface eth0',
    '  virtual_router_id 82',
    '  priority 150',
    '  advert_int 1',
    '  virtual_ipaddress {',
    '    10.82.0.100/24',
    '  }',
    '}',
  ];
  // 100 real servers per virtual server; one port per TCP real server, all HTTP servers on port 80 (distinct by VS).
  const vs = (i: number, port: number, body: string[]) => [
    `virtual_server 10.82.1.${i + 1} ${port} {`,
    '  delay_loop 1',
    '  lb_algo rr',
    '  lb_kind DR',
    '  protocol TCP',
    ...body,
    '}',
  ];
  for (let v = 0; v * PORTS < TCP; v++) {
    const body: string[] = [];
    for (let p = 0; p < PORTS && v * PORTS + p < TCP; p++) {
      body.push(
        `  real_server ${SERVER} ${9000 + p} {`,
        '    TCP_CHECK {',
        '      connect_timeout 1',
        '    }',
        '  }',
      );
    }
    out.push(...vs(v, 9000, body));
  }
  // HTTP: real servers must be unique per virtual server, so one virtual server per HTTP check.
  for (let h = 0; h < HTTP; h++) {
    out.push(
      ...vs(100 + h, 80, [
        `  real_server ${SERVER} 80 {`,
        '    HTTP_GET {',
        '      url {',
        '        path /health',
        '        digest eff5bc1ef8ec9d03e640fc4370f5eacd',
        '      }',
        '      connect_timeout 1',
        '    }',
        '  }',
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

interface Sample {
  t: number;
  thread: string;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const MiB = 2 ** 20;
const mb = (b: number) => (b / MiB).toFixed(1);

/**
 * VmRSS of a process and its split (bytes): the whole process, both threads.
 * RssFile is mostly the node binary's own pages (V8 snapshot, ICU, code:
 * ~34 MB for an empty node), shared and reclaimable; RssAnon is halo's.
 */
function rssOf(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return undefined;
  }
}

/** Least-squares slope (bytes per second) of (t, v) points. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  if (!(await canUseNetns())) {
    console.log('bench/soak: needs root and ip netns');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-soak-'));
  const conf = join(dir, 'halo.conf');
  const trace = join(dir, 'memtrace.jsonl');
  writeFileSync(conf, haloConfig());
  writeFileSync(join(dir, 'servers.cjs'), SERVERS_JS);
  const lab = new NetnsLab();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    console.log('\nbench/soak: interrupted, stopping halo and removing the namespaces');
    lab.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSigint);
  try {
    const director = await lab.addHost('dir', [`${DIRECTOR}/16`]);
    const server = await lab.addHost('srv', [`${SERVER}/16`]);
    if (TCP + HTTP > 0) {
      const servers = lab.spawn(server.ns, process.execPath, [join(dir, 'servers.cjs')]);
      let ready = '';
      servers.stdout?.on('data', (d) => {
        ready += d;
      });
      await waitFor(() => ready.includes('ready'), 10_000);
    }
    const args = [
      ...(values['node-arg'] ?? []),
      '--import',
      MEMTRACE,
      HALO,
      'run',
      '-f',
      conf,
      '--run-dir',
      dir,
      '--log-level',
      'warn',
      ...(VRRP_ONLY ? ['--vrrp-only'] : ['--ipvs', 'dry-run']),
    ];
    const env = {
      ...process.env,
      HALO_MEMTRACE: trace,
      HALO_MEMTRACE_EVERY_MS: String(Math.min(EVERY_S * 1000, 10_000)),
      ...(values['snapshot-at'] ? { HALO_MEMTRACE_SNAPSHOT_S: values['snapshot-at'] } : {}),
    };
    const halo = lab.spawn(director.ns, process.execPath, args, { env });
    let log = '';
    halo.stdout?.on('data', (d) => {
      log += d;
    });
    halo.stderr?.on('data', (d) => {
      log += d;
    });
    // `ip netns exec` execs node, so the child's pid is halo's.
    const pid = halo.pid as number;
    console.log(
      `bench/soak: ${HALO === join(here, '..', 'src', 'cli', 'main.js') ? 'halo' : HALO} run ${VRRP_ONLY ? '--vrrp-only' : `with ${TCP} TCP_CHECK + ${HTTP} HTTP_GET (delay_loop 1 s) and IPVS dry-run`}, ` +
        `one VRRP instance; ${MINUTES} min, a row every ${EVERY_S} s`,
    );
    console.log(
      '  min    RSS MiB (anon + file)   main heap used/total MiB   worker heap used/total MiB   external MiB',
    );
    const start = Date.now();
    const rows: Array<[number, number]> = [];
    const latest = (thread: string): Sample | undefined => {
      let text = '';
      try {
        text = readFileSync(trace, 'utf8');
      } catch {
        return undefined;
      }
      const lines = text.trim().split('\n').filter(Boolean);
      for (let i = lines.length - 1; i >= 0; i--) {
        const s = JSON.parse(lines[i]) as Sample;
        if (s.thread === thread || (thread === 'worker' && s.thread.startsWith('worker'))) return s;
      }
      return undefined;
    };
    const end = start + MINUTES * 60_000;
    for (let next = start + EVERY_S * 1000; ; next += EVERY_S * 1000) {
      const wait = Math.min(next, end) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (halo.exitCode !== null || halo.signalCode !== null) {
        throw new Error(`halo exited (${halo.exitCode ?? halo.signalCode}):\n${log.slice(-2000)}`);
      }
      const rss = rssOf(pid);
      const main = latest('main');
      const worker = latest('worker');
      const minutes = (Date.now() - start) / 60_000;
      if (rss !== undefined) rows.push([(Date.now() - start) / 1000, rss.rss]);
      const rssText = rss === undefined ? '?' : `${mb(rss.rss)} (${mb(rss.anon)} + ${mb(rss.file)})`;
      console.log(
        `  ${minutes.toFixed(1).padStart(4)}   ${rssText.padStart(22)}   ` +
          `${main ? `${mb(main.heapUsed)} / ${mb(main.heapTotal)}`.padStart(24) : '?'.padStart(24)}   ` +
          `${worker ? `${mb(worker.heapUsed)} / ${mb(worker.heapTotal)}`.padStart(26) : '?'.padStart(26)}   ` +
          `${main ? mb(main.external).padStart(10) : '?'}`,
      );
      if (Date.now() >= end) break;
    }
    const last = rows.at(-1)?.[1] ?? 0;
    const lastSplit = rssOf(pid);
    const half = rows.filter(([t]) => t >= (MINUTES * 60) / 2);
    const perHour = slope(half) * 3600;
    console.log('');
    console.log(
      `  RSS at the end                 ${mb(last)} MiB (target <= 64 MB = 61.0 MiB)` +
        (lastSplit ? `; anonymous ${mb(lastSplit.anon)}, file-backed ${mb(lastSplit.file)}` : ''),
    );
    console.log(`  RSS growth, second half        ${(perHour / MiB).toFixed(1)} MiB/hour (flat: about 0)`);
    const errors = log
      .split('\n')
      .filter((l) => /"level":(50|60)|error/i.test(l) && !/ipvs dry-run/i.test(l));
    if (errors.length > 0)
      console.log(`  halo logged ${errors.length} error lines; the last: ${errors.at(-1)?.slice(0, 200)}`);
    if (values['snapshot-at'])
      console.log(`  heap snapshots: ${trace}.main.heapsnapshot, ${trace}.worker*.heapsnapshot`);
    const load = await sh('cat', ['/proc/loadavg']);
    console.log(`  host load average              ${load.stdout.trim()} (2 shared cores)`);
    await lab.kill(halo, 'SIGTERM');
  } finally {
    process.off('SIGINT', onSigint);
    if (!interrupted) await lab.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
