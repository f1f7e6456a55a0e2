/**
 * Health-check engine benchmark (prints numbers; not a test).
 *
 * 10,000 real servers with TCP_CHECK and 1,000 with HTTP_GET, delay_loop 1 s,
 * against servers in a network namespace: 10 addresses x 1,000 ports served
 * by a tiny C epoll accept-and-close server, which also answers HTTP on port
 * 80 of the same addresses (a C server, so on a loaded host the servers'
 * side does not hold the checker back). The engine runs in its own namespace through
 * dist/src/check/run-plan.js; after a warm-up the run reports CPU per second
 * of checking (process.cpuUsage), RSS, and how well checks hold their
 * schedule: start lag (actual start - scheduled time) and interval error
 * (|actual - configured| start-to-start interval), p50/p99/max.
 *
 * Then, in the same run and namespaces, minimal C epoll loops do the same
 * work at the rates halo achieved (TCP connect-and-close; HTTP GET with
 * status, Content-Length and MD5 of the body), and the bench prints halo's
 * CPU as a multiple of theirs (issue 15's target: at most 1.3x, with a p99
 * start lag under 50 ms).
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

const USAGE = `Usage: node dist/bench/checks.js [options]   (root: uses network namespaces)
  --seconds N      measured seconds after an 8 s warm-up (default 40)
  --tcp N          TCP_CHECK real servers, delay_loop 1 s (default 10000)
  --http N         HTTP_GET real servers, delay_loop 1 s (default 1000)
  --in-flight N    the engine's in-flight bound (default: the engine's, 1024)
  --baseline-seconds N  seconds each C baseline runs (default 10; 0 skips them)
  --help           this text
Ctrl-C stops the run and removes its namespaces (halo-<tag>-chk/srv/br).`;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    tcp: { type: 'string', default: '10000' },
    http: { type: 'string', default: '1000' },
    'in-flight': { type: 'string' },
    'baseline-seconds': { type: 'string', default: '10' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const SECONDS = Number(values.seconds);
const TCP = Number(values.tcp);
const HTTP = Number(values.http);
const BASELINE_SECONDS = Number(values['baseline-seconds']);
for (const [k, v] of Object.entries({ SECONDS, TCP, HTTP, BASELINE_SECONDS })) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`bench/checks: invalid ${k.toLowerCase()}\n${USAGE}`);
    process.exit(2);
  }
}
const ADDRESSES = 10;
const PORT_BASE = 20000;
const PORTS = Math.max(1, Math.ceil(TCP / ADDRESSES));
const WARMUP_MS = 8000;

const here = dirname(fileURLToPath(import.meta.url));
const RUN_PLAN = join(here, '..', 'src', 'check', 'run-plan.js');

const ACCEPT_SERVER_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
/*
 * One epoll loop on INADDR_ANY: accept-and-close on ports [base, base+count) (TCP_CHECK), and on
 * port 80 an HTTP/1.0 responder (200, Content-Length 3, "ok\n", then close) for HTTP_GET. A C
 * server, so the servers' side never limits the checker under test on a loaded host.
 */
#define HTTP_TAG (1u << 31)
static int listen_on(int ep, int port) {
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) { perror("bind/listen"); exit(1); }
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (unsigned)fd };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return fd;
}
int main(int argc, char **argv) {
  int base = atoi(argv[1]), count = atoi(argv[2]);
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) listen_on(ep, base + i);
  int http = listen_on(ep, 80);
  const char *resp = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  printf("ready\n");
  fflush(stdout);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      unsigned tag = (unsigned)evs[i].data.u64;
      int fd = (int)(tag & ~HTTP_TAG), c;
      if (tag & HTTP_TAG) {
        char buf[2048];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0 && !memmem(buf, r, "\r\n\r\n", 4)) continue; /* request not complete yet */
        if (r > 0) (void)!write(fd, resp, strlen(resp));
        close(fd);
      } else if (fd == http) {
        while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (unsigned)c | HTTP_TAG };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
      } else {
        while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) close(c);
      }
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

/**
 * Baseline for HTTP_GET: the same request (keepalived's bytes), status line,
 * Content-Length, and MD5 of the body, from a minimal C epoll loop: connect,
 * send, read until Content-Length or EOF, close. MD5 comes from libcrypto
 * (declared here, linked as libcrypto.so.3, so no -dev package is needed).
 */
const HTTP_BASELINE_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
/* libcrypto's MD5 (OpenSSL 3 still exports it); declared here so no -dev package is needed. */
typedef struct { unsigned int A, B, C, D, Nl, Nh, data[16], num; } MD5_CTX;
int MD5_Init(MD5_CTX *c); int MD5_Update(MD5_CTX *c, const void *d, size_t n); int MD5_Final(unsigned char *md, MD5_CTX *c);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
struct conn { int fd, state; size_t hlen, body, clen; int status; char hdr[4096]; MD5_CTX md5; };
int main(int argc, char **argv) {
  int naddr = atoi(argv[1]), port = atoi(argv[2]), rate = atoi(argv[3]), secs = atoi(argv[4]);
  const char *path = argv[5];
  char req[512];
  int ep = epoll_create1(0), ok = 0, fail = 0;
  long total = (long)rate * secs, started = 0, done = 0;
  double t0 = now();
  struct epoll_event evs[512];
  while (done < total) {
    long due = (long)((now() - t0) * rate);
    if (due > total) due = total;
    while (started < due) {
      long i = started++;
      struct conn *c = calloc(1, sizeof *c);
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
      char ip[32]; snprintf(ip, sizeof ip, "10.81.1.%d", 1 + (int)(i % naddr));
      inet_pton(AF_INET, ip, &a.sin_addr);
      if (connect(c->fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) { close(c->fd); free(c); fail++; done++; continue; }
      struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
      epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    int n = epoll_wait(ep, evs, 512, 1);
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      int finished = 0, good = 0;
      if (c->state == 0) {
        int err = 0; socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) finished = 1;
        else {
          int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: %s:%d\r\n\r\n", path, "10.81.1.1", port);
          if (send(c->fd, req, rl, MSG_NOSIGNAL) != rl) finished = 1;
          else { c->state = 1; MD5_Init(&c->md5); struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c }; epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev); }
        }
      } else {
        char buf[16384];
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r <= 0) { finished = 1; good = c->state == 2 && c->status >= 200 && c->status < 300; }
        else {
          char *p = buf; size_t left = r;
          if (c->state == 1) {
            size_t take = left < sizeof c->hdr - 1 - c->hlen ? left : sizeof c->hdr - 1 - c->hlen;
            memcpy(c->hdr + c->hlen, p, take); c->hlen += take; c->hdr[c->hlen] = 0;
            char *end = strstr(c->hdr, "\r\n\r\n");
            if (end) {
              size_t hl = end + 4 - c->hdr, consumed = hl - (c->hlen - take);
              c->status = atoi(strchr(c->hdr, ' ') + 1);
              char *cl = strcasestr(c->hdr, "\r\ncontent-length:");
              c->clen = cl ? strtoul(cl + 17, NULL, 10) : (size_t)-1;
              c->state = 2; p += consumed; left -= consumed;
            } else if (c->hlen >= sizeof c->hdr - 1) finished = 1;
          }
          if (c->state == 2 && left) { MD5_Update(&c->md5, p, left); c->body += left; }
          if (c->state == 2 && c->body >= c->clen) { finished = 1; good = c->status >= 200 && c->status < 300; }
        }
        if (finished && c->state == 2) { unsigned char md[16]; MD5_Final(md, &c->md5); }
      }
      if (finished) { if (good) ok++; else fail++; close(c->fd); free(c); done++; }
    }
  }
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  printf("{\"ok\":%d,\"fail\":%d,\"wall\":%.3f,\"userMs\":%.1f,\"sysMs\":%.1f}\n", ok, fail, now() - t0,
         ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3, ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3);
  return 0;
}
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

interface BaselineResult {
  ok: number;
  fail: number;
  userMs: number;
  sysMs: number;
  wall: number;
}

function describeBaseline(name: string, b: BaselineResult, rate: number): string {
  const n = Math.max(1, b.ok + b.fail);
  return (
    `  ${name.padEnd(32)} ${(((b.userMs + b.sysMs) * 1000) / n).toFixed(1)} µs per check ` +
    `(user ${((b.userMs * 1000) / n).toFixed(1)}, sys ${((b.sysMs * 1000) / n).toFixed(1)}; ` +
    `${b.ok} ok, ${b.fail} failed at ${rate}/s)`
  );
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
  writeFileSync(join(dir, 'http-baseline.c'), HTTP_BASELINE_C);
  execFileSync('cc', [
    '-O2',
    '-o',
    join(dir, 'http-baseline'),
    join(dir, 'http-baseline.c'),
    '-l:libcrypto.so.3',
  ]);

  const lab = new NetnsLab();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    console.log('\nbench/checks: interrupted, cleaning up');
    lab.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSigint);
  try {
    const chk = await lab.addHost('chk', ['10.81.0.1/16']);
    const srvAddrs = Array.from({ length: ADDRESSES }, (_, i) => `${addr(i)}/16`);
    const srv = await lab.addHost('srv', srvAddrs);
    // Many short connections: let TIME_WAIT sockets be reused / not overflow noisily.
    await lab.exec(chk.ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=10000 65000']);
    const accept = lab.spawn(srv.ns, join(dir, 'accept'), [String(PORT_BASE), String(PORTS)]);
    let a = '';
    accept.stdout?.on('data', (d) => {
      a += d;
    });
    await waitFor(() => a.includes('ready'), 10_000);

    const job = join(dir, 'job.json');
    writeFileSync(
      job,
      JSON.stringify({
        plan: buildPlan(),
        runMs: WARMUP_MS + SECONDS * 1000,
        statsAfterMs: WARMUP_MS,
        sampleEveryMs: 5000,
        options: { maxInFlight: values['in-flight'] === undefined ? undefined : Number(values['in-flight']) },
      }),
    );
    console.log(
      `bench/checks: ${TCP} TCP_CHECK + ${HTTP} HTTP_GET real servers, delay_loop 1 s, ` +
        `${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured, max in flight ${values['in-flight'] ?? 'default (1024)'}`,
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
    const haloPerSecond = cpuMs / wallS;
    const rows: Array<[string, string]> = [
      ['checks per second', (stats.attempts / wallS).toFixed(0)],
      ['failed attempts', String(stats.failures)],
      ['real servers up at the end', `${done.serversUp} / ${done.servers}`],
      [
        'CPU per second of checking',
        `${haloPerSecond.toFixed(0)} ms (${((haloPerSecond / 1000) * 100).toFixed(1)} % of a core; user ${(
          (done.cpuUserMs as number) / wallS
        ).toFixed(0)} ms, sys ${((done.cpuSystemMs as number) / wallS).toFixed(0)} ms)`,
      ],
      ['CPU per check', `${((cpuMs * 1000) / Math.max(1, stats.attempts)).toFixed(1)} µs`],
      ['RSS at the end', `${((done.rss as number) / 2 ** 20).toFixed(1)} MiB`],
      [
        'start lag p50 / p99 / max',
        `${stats.lagP50Ms} / ${stats.lagP99Ms} / ${stats.lagMaxMs.toFixed(1)} ms (target p99 < 50 ms)`,
      ],
      [
        'interval error p50 / p99 / max',
        `${stats.intervalErrorP50Ms} / ${stats.intervalErrorP99Ms} / ${stats.intervalErrorMaxMs.toFixed(1)} ms`,
      ],
    ];
    console.log('');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(32)} ${v}`);
    // The same work from minimal C loops, side by side, at the rates halo ran.
    if (BASELINE_SECONDS > 0 && TCP + HTTP > 0) {
      const rate = stats.attempts / wallS;
      const tcpRate = Math.max(1, Math.round((rate * TCP) / (TCP + HTTP)));
      const httpRate = Math.max(1, Math.round((rate * HTTP) / (TCP + HTTP)));
      const secs = String(BASELINE_SECONDS);
      const [tcpBase, httpBase] = await Promise.all([
        TCP > 0
          ? lab.exec(chk.ns, join(dir, 'baseline'), [
              String(ADDRESSES),
              String(PORT_BASE),
              String(PORTS),
              String(tcpRate),
              secs,
            ])
          : undefined,
        HTTP > 0
          ? lab.exec(chk.ns, join(dir, 'http-baseline'), [
              String(ADDRESSES),
              '80',
              String(httpRate),
              secs,
              '/health',
            ])
          : undefined,
      ]);
      let cPerSecond = 0;
      if (tcpBase) {
        const b = JSON.parse(tcpBase.stdout) as BaselineResult;
        console.log(describeBaseline('C epoll TCP connect baseline', b, tcpRate));
        cPerSecond += ((b.userMs + b.sysMs) / Math.max(1, b.ok + b.fail)) * tcpRate;
      }
      if (httpBase) {
        const b = JSON.parse(httpBase.stdout) as BaselineResult;
        console.log(describeBaseline('C epoll HTTP GET baseline', b, httpRate));
        cPerSecond += ((b.userMs + b.sysMs) / Math.max(1, b.ok + b.fail)) * httpRate;
      }
      console.log(
        `  ${'C loops, same work'.padEnd(32)} ${cPerSecond.toFixed(0)} ms CPU per second -> halo uses ` +
          `${(haloPerSecond / cPerSecond).toFixed(2)}x (target <= 1.3x)`,
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
    process.off('SIGINT', onSigint);
    if (!interrupted) await lab.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
