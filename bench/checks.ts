/**
 * Health-check engine benchmark (prints numbers; not a test).
 *
 * 10,000 real servers with TCP_CHECK and 1,000 with HTTP_GET, delay_loop 1 s,
 * against servers in a network namespace: 10 addresses x 1,000 ports served
 * by a tiny C epoll accept-and-close server, and a node HTTP server on port
 * 80 of the same addresses. The engine runs in its own namespace through
 * dist/src/check/run-plan.js; after a warm-up the run reports CPU per second
 * of checking (process.cpuUsage), RSS, and how well checks hold their
 * schedule: start lag (actual start - scheduled time) and interval error
 * (|actual - configured| start-to-start interval), p50/p99/max.
 *
 * Usage: node dist/bench/checks.js [--seconds 40] [--tcp 10000] [--http 1000] [--in-flight 256]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CheckPlan, PlanChecker, PlanRealServer, PlanVirtualServer } from '../src/check/types.js';
import {
  type CheckerId,
  checkerKey,
  type RealServerId,
  realServerKey,
  type VirtualServerId,
  virtualServerKey,
} from '../src/plan/ids.js';
import { canUseNetns, NetnsLab, sh, waitFor } from '../test/helpers/netns.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    tcp: { type: 'string', default: '10000' },
    http: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '256' },
  },
});
const SECONDS = Number(values.seconds);
const TCP = Number(values.tcp);
const HTTP = Number(values.http);
const ADDRESSES = 10;
const PORT_BASE = 20000;
const PORTS = Math.ceil(TCP / ADDRESSES);
const WARMUP_MS = 8000;

const here = dirname(fileURLToPath(import.meta.url));
const RUN_PLAN = join(here, '..', 'src', 'check', 'run-plan.js');

const ACCEPT_SERVER_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
/* accept-and-close on ports [base, base+count) of INADDR_ANY, one epoll loop. */
int main(int argc, char **argv) {
  int base = atoi(argv[1]), count = atoi(argv[2]), one = 1;
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(base + i) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) { perror("bind/listen"); return 1; }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  printf("ready\n");
  fflush(stdout);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int c;
      while ((c = accept4(evs[i].data.fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) close(c);
    }
  }
}
`;

/**
 * Baseline for the kernel's share: the same TCP connect-and-close checks from
 * a minimal C epoll loop (what a C checker such as keepalived's pays at
 * least), paced at RATE per second over the same targets for SECONDS.
 */
const CONNECT_BASELINE_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  int naddr = atoi(argv[1]), base = atoi(argv[2]), nports = atoi(argv[3]), rate = atoi(argv[4]), secs = atoi(argv[5]);
  int ep = epoll_create1(0), ok = 0, fail = 0;
  long total = (long)rate * secs, started = 0, done = 0;
  double t0 = now();
  struct epoll_event evs[512];
  while (done < total) {
    long due = (long)((now() - t0) * rate);
    if (due > total) due = total;
    while (started < due) {
      long i = started++;
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(base + (int)((i / naddr) % nports)) };
      char ip[32]; snprintf(ip, sizeof ip, "10.81.1.%d", 1 + (int)(i % naddr));
      inet_pton(AF_INET, ip, &a.sin_addr);
      if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) { close(fd); fail++; done++; continue; }
      struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    int n = epoll_wait(ep, evs, 512, 1);
    for (int k = 0; k < n; k++) {
      int err = 0; socklen_t len = sizeof err;
      getsockopt(evs[k].data.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) fail++; else ok++;
      close(evs[k].data.fd);
      done++;
    }
  }
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  printf("{\"ok\":%d,\"fail\":%d,\"wall\":%.3f,\"userMs\":%.1f,\"sysMs\":%.1f}\n", ok, fail, now() - t0,
         ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3, ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3);
  return 0;
}
`;

const HTTP_SERVER_JS = `
require('http').createServer((req, res) => {
  res.writeHead(200, { 'Content-Length': 3 });
  res.end('ok\\n');
}).listen(80, '0.0.0.0', () => console.log('ready'));
`;

function addr(i: number): string {
  return `10.81.1.${1 + (i % ADDRESSES)}`;
}

/** One real server with one checker, keyed by its typed identity. */
function realServer(
  vs: VirtualServerId,
  address: string,
  port: number,
  checker: Omit<PlanChecker, 'key' | 'id'>,
): PlanRealServer {
  const id: RealServerId = { vs, address, port };
  const cid: CheckerId = { rs: id, index: 0 };
  return { key: realServerKey(id), id, weight: 1, checkers: [{ ...checker, key: checkerKey(cid), id: cid }] };
}

function virtualServer(id: VirtualServerId, realServers: PlanRealServer[]): PlanVirtualServer {
  return { key: virtualServerKey(id), id, omega: false, realServers };
}

function buildPlan(): CheckPlan {
  const timing = { delayLoopMs: 1000, delayBeforeRetryMs: 1000, retry: 1, warmupMs: 1000, alpha: false };
  const tcpVs: VirtualServerId = { kind: 'group', family: 4, protocol: 'tcp', group: 'tcp' };
  const httpVs: VirtualServerId = { kind: 'group', family: 4, protocol: 'tcp', group: 'http' };
  const tcpServers: PlanRealServer[] = [];
  for (let i = 0; i < TCP; i++) {
    const host = addr(i);
    const port = PORT_BASE + Math.floor(i / ADDRESSES);
    tcpServers.push(
      realServer(tcpVs, host, port, {
        timing,
        target: { type: 'TCP_CHECK', host, port, connectTimeoutMs: 1000 },
      }),
    );
  }
  const httpServers: PlanRealServer[] = [];
  for (let i = 0; i < HTTP; i++) {
    httpServers.push(
      // Several HTTP servers share an address: the port (unused by the checker) keeps their ids apart.
      realServer(httpVs, addr(i), 10_000 + i, {
        timing: { ...timing, delayBeforeRetryMs: 3000 },
        target: {
          type: 'HTTP_GET',
          host: addr(i),
          port: 80,
          connectTimeoutMs: 1000,
          httpProtocol: '1.0',
          urls: [
            {
              path: '/health',
              statusCodes: [{ from: 200, to: 299 }],
              digest: 'eff5bc1ef8ec9d03e640fc4370f5eacd',
            },
          ],
        },
      }),
    );
  }
  return { virtualServers: [virtualServer(tcpVs, tcpServers), virtualServer(httpVs, httpServers)] };
}

interface Sample {
  t: number;
  cpuPct: number;
  rss: number;
  attempts: number;
  lagP99Ms: number;
}

async function main(): Promise<void> {
  if (!(await canUseNetns())) {
    console.log('bench/checks: needs root and ip netns');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-checks-'));
  writeFileSync(join(dir, 'accept.c'), ACCEPT_SERVER_C);
  execFileSync('cc', ['-O2', '-o', join(dir, 'accept'), join(dir, 'accept.c')]);
  writeFileSync(join(dir, 'baseline.c'), CONNECT_BASELINE_C);
  execFileSync('cc', ['-O2', '-o', join(dir, 'baseline'), join(dir, 'baseline.c')]);
  writeFileSync(join(dir, 'http.cjs'), HTTP_SERVER_JS);

  const lab = new NetnsLab();
  try {
    const chk = await lab.addHost('chk', ['10.81.0.1/16']);
    const srvAddrs = Array.from({ length: ADDRESSES }, (_, i) => `${addr(i)}/16`);
    const srv = await lab.addHost('srv', srvAddrs);
    // Many short connections: let TIME_WAIT sockets be reused / not overflow noisily.
    await lab.exec(chk.ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=10000 65000']);
    const accept = lab.spawn(srv.ns, join(dir, 'accept'), [String(PORT_BASE), String(PORTS)]);
    const httpSrv = lab.spawn(srv.ns, process.execPath, [join(dir, 'http.cjs')]);
    let a = '';
    let h = '';
    accept.stdout?.on('data', (d) => {
      a += d;
    });
    httpSrv.stdout?.on('data', (d) => {
      h += d;
    });
    await waitFor(() => a.includes('ready') && h.includes('ready'), 10_000);

    const job = join(dir, 'job.json');
    writeFileSync(
      job,
      JSON.stringify({
        plan: buildPlan(),
        runMs: WARMUP_MS + SECONDS * 1000,
        statsAfterMs: WARMUP_MS,
        sampleEveryMs: 5000,
        options: { maxInFlight: Number(values['in-flight']) },
      }),
    );
    console.log(
      `bench/checks: ${TCP} TCP_CHECK + ${HTTP} HTTP_GET real servers, delay_loop 1 s, ` +
        `${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured, max in flight ${values['in-flight']}`,
    );
    const nodeArgs = process.env.HALO_BENCH_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HALO_BENCH_PROF}`]
      : [];
    const child = lab.spawn(chk.ns, process.execPath, [...nodeArgs, RUN_PLAN, job]);
    const samples: Sample[] = [];
    let done: Record<string, unknown> | undefined;
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0) break;
        const line = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (line.ev === 'sample') {
          samples.push(line);
          console.log(
            `  t=${(line.t / 1000).toFixed(0).padStart(3)} s  cpu ${line.cpuPct.toFixed(1).padStart(5)} %  ` +
              `rss ${(line.rss / 2 ** 20).toFixed(0)} MiB  attempts ${line.attempts}  failed ${line.failures}  in flight ${line.inFlight}  lag p99 ${line.lagP99Ms} ms`,
          );
        } else if (line.ev === 'done') done = line;
      }
    });
    child.stderr?.on('data', (d) => process.stderr.write(d));
    const exit = await new Promise<string>((resolve) =>
      child.once('close', (code, sig) => resolve(`${code} ${sig}`)),
    );
    if (!done) throw new Error(`run-plan did not finish (exit ${exit})`);
    const stats = done.stats as Record<string, number>;
    const wallS = (done.wallMs as number) / 1000;
    const cpuMs = (done.cpuUserMs as number) + (done.cpuSystemMs as number);
    const rows: Array<[string, string]> = [
      ['checks per second', (stats.attempts / wallS).toFixed(0)],
      ['failed attempts', String(stats.failures)],
      ['real servers up at the end', `${done.serversUp} / ${done.servers}`],
      [
        'CPU per second of checking',
        `${(cpuMs / wallS).toFixed(0)} ms (${((cpuMs / wallS / 1000) * 100).toFixed(1)} % of a core; user ${(
          (done.cpuUserMs as number) / wallS
        ).toFixed(0)} ms, sys ${((done.cpuSystemMs as number) / wallS).toFixed(0)} ms)`,
      ],
      ['CPU per check', `${((cpuMs * 1000) / Math.max(1, stats.attempts)).toFixed(1)} µs`],
      ['RSS at the end', `${((done.rss as number) / 2 ** 20).toFixed(1)} MiB`],
      [
        'start lag p50 / p99 / max',
        `${stats.lagP50Ms} / ${stats.lagP99Ms} / ${stats.lagMaxMs.toFixed(1)} ms`,
      ],
      [
        'interval error p50 / p99 / max',
        `${stats.intervalErrorP50Ms} / ${stats.intervalErrorP99Ms} / ${stats.intervalErrorMaxMs.toFixed(1)} ms`,
      ],
    ];
    console.log('');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(32)} ${v}`);
    // The kernel's share: the same connects from a minimal C loop, 10 s at the measured TCP rate.
    if (TCP > 0) {
      const tcpRate = Math.max(1, Math.round((stats.attempts / wallS) * (TCP / (TCP + HTTP))));
      const base = await lab.exec(chk.ns, join(dir, 'baseline'), [
        String(ADDRESSES),
        String(PORT_BASE),
        String(PORTS),
        String(tcpRate),
        '10',
      ]);
      const b = JSON.parse(base.stdout) as { ok: number; fail: number; userMs: number; sysMs: number };
      const n = Math.max(1, b.ok + b.fail);
      console.log(
        `  ${'C epoll connect baseline'.padEnd(32)} ${(((b.userMs + b.sysMs) * 1000) / n).toFixed(1)} µs per connect ` +
          `(user ${((b.userMs * 1000) / n).toFixed(1)}, sys ${((b.sysMs * 1000) / n).toFixed(1)}; ` +
          `${b.ok} ok, ${b.fail} failed at ${tcpRate}/s)`,
      );
    }
    const load = await sh('cat', ['/proc/loadavg']);
    console.log(`  ${'host load average'.padEnd(32)} ${load.stdout.trim()} (2 shared cores)`);
    console.log(
      "\n  keepalived comparison: not measured here. keepalived 2.2.7's checker process exits at start with\n" +
        '  "IPVS: Can\'t initialize ipvs" when the ip_vs module is missing, and this host kernel has no ip_vs\n' +
        '  (the VM lane has it, but under qemu TCG its CPU numbers are not comparable).',
    );
  } finally {
    await lab.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
