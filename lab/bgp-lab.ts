/**
 * `npm run lab -- --bgp`: scale out past a pair. Three active-active directors announce one VIP over BGP
 * through their own BIRD 2 to a router (BIRD, ECMP, BFD); a client loops HTTP requests to the VIP and the
 * screen shows the router's ECMP next hops and which director served each request.
 *
 *   client 10.89.1.2 -- router 10.89.1.1 / 10.89.0.1 -- bridge -- d1 10.89.0.11, d2 .12, d3 .13 (AS 65001)
 *                      (AS 65000)                              \- web1..web3 10.89.0.21-23
 *
 * Each director runs `halo run --bgp-only` (checks + IPVS + BGP, no VRRP) from one generated config, with
 * IPVS in dry-run (the lab cannot count on ip_vs), so each director answers HTTP on the VIP itself with its
 * own name: that is how the client sees who served it. Namespaces are halolab-<pid>-<rand>-<host>, so
 * `npm run lab -- --cleanup` finds what a crashed lab left.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabNet, sh } from './netns.js';

const REPO_ROOT = resolve(import.meta.dirname, import.meta.dirname.includes('/dist/') ? '../..' : '..');
const HALO_MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');
const VIP = '10.89.100.100';
const ROUTER = '10.89.0.1';
const WEB = ['10.89.0.21', '10.89.0.22', '10.89.0.23'];

export const BGP_HELP = `usage: npm run lab -- --bgp [--demo] [--keep-logs]     (as root; needs bird2 and nftables)

Three active-active directors (d1..d3, 10.89.0.11-13) run \`halo run --bgp-only\` and announce the VIP
${VIP} over BGP through their own BIRD 2 to a router (BIRD, AS 65000) that spreads the client's
connections over them with ECMP; BFD (3 x 100 ms) detects a dead director. web1..web3 (10.89.0.21-23)
are the real servers. The screen shows the router's next hops for the VIP, its BGP sessions, what each
halo announces, and which director served the client's requests.

  (none)       live view; keys: 1 2 3 pick a director, k kill it (silent crash: network dropped, then
               kill -9), d drain it (SIGTERM: halo withdraws, serves 2 s more, then stops), r restart it,
               w stop/start web2, a fail/restore all web servers for it, q quit
  --demo       scripted: drain d2 with a client running (0 failed requests), crash d3, restart both; exit 0/1
  --keep-logs  keep the temp dir (configs, halo and BIRD logs) on exit
  --cleanup    (npm run lab -- --cleanup) remove namespaces a crashed lab left behind`;

interface Director {
  name: string;
  address: string;
  ns: string;
  dir: string;
  halo?: ChildProcess;
  bird?: ChildProcess;
  /** Halo's own state as its status says. */
  status?: { announced: boolean; reason: string; session: string };
}

interface Web {
  name: string;
  address: string;
  child?: ChildProcess;
}

class BgpLabNet {
  readonly net = new LabNet();
  readonly dir = mkdtempSync(join(tmpdir(), 'halolab-bgp-'));
  router = '';
  client = '';
  webNs = '';
  readonly directors: Director[] = [];
  readonly webs: Web[] = WEB.map((address, i) => ({ name: `web${i + 1}`, address }));
  private clientLoop?: ChildProcess;
  /** Recent client results: [time, director or null for a failure]. */
  readonly served: [number, string | null][] = [];
  readonly events: string[] = [];

  event(s: string): void {
    this.events.push(`${new Date().toISOString().slice(11, 23)} ${s}`);
    if (this.events.length > 8) this.events.shift();
    this.onEvent?.(s);
  }
  onEvent?: (s: string) => void;

  async setup(): Promise<void> {
    this.router = await this.net.addHost('router', `${ROUTER}/24`);
    this.client = await this.net.addNamespace('client');
    await sh('ip', [
      'link',
      'add',
      'eth1',
      'netns',
      this.router,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      this.client,
    ]);
    await this.net.exec(this.router, 'ip', ['addr', 'add', '10.89.1.1/24', 'dev', 'eth1']);
    await this.net.exec(this.router, 'ip', ['link', 'set', 'eth1', 'up']);
    await this.net.exec(this.client, 'ip', ['addr', 'add', '10.89.1.2/24', 'dev', 'eth0']);
    await this.net.exec(this.client, 'ip', ['link', 'set', 'eth0', 'up']);
    await this.net.exec(this.client, 'ip', ['route', 'add', 'default', 'via', '10.89.1.1']);
    await this.net.exec(this.router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await this.net.exec(this.router, 'sysctl', ['-qw', 'net.ipv4.fib_multipath_hash_policy=1']);
    this.webNs = await this.net.addHost('web', `${WEB[0]}/24`);
    for (const w of WEB.slice(1))
      await this.net.exec(this.webNs, 'ip', ['addr', 'add', `${w}/24`, 'dev', 'eth0']);
    for (const w of this.webs) this.startWeb(w);
    for (let i = 1; i <= 3; i++) {
      const address = `10.89.0.${10 + i}`;
      const ns = await this.net.addHost(`d${i}`, `${address}/24`);
      await this.net.exec(ns, 'ip', ['route', 'add', 'default', 'via', ROUTER]);
      await this.net.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_nonlocal_bind=1']);
      const dir = join(this.dir, `d${i}`);
      mkdirSync(join(dir, 'routes'), { recursive: true });
      const d: Director = { name: `d${i}`, address, ns, dir };
      writeFileSync(join(dir, 'bird.conf'), directorBird(d));
      writeFileSync(join(dir, 'halo.conf'), haloConf(d));
      this.directors.push(d);
      // "Which director served": each director answers on the VIP with its name (IPVS is in dry-run).
      this.net.spawn(
        ns,
        process.execPath,
        ['-e', `require('node:http').createServer((q, r) => r.end('${d.name}\\n')).listen(80, '${VIP}')`],
        { stdio: 'ignore' },
      );
      await this.startBird(d);
      this.startHalo(d);
    }
    writeFileSync(join(this.dir, 'router.conf'), routerBird(this.dir));
    this.net.spawn(
      this.router,
      'bird',
      [
        '-f',
        '-c',
        join(this.dir, 'router.conf'),
        '-s',
        join(this.dir, 'router.ctl'),
        '-P',
        join(this.dir, 'router.pid'),
      ],
      { stdio: 'ignore' },
    );
  }

  startWeb(w: Web): void {
    w.child = this.net.spawn(
      this.webNs,
      process.execPath,
      ['-e', `require('node:http').createServer((q, r) => r.end('${w.name}')).listen(80, '${w.address}')`],
      { stdio: 'ignore' },
    );
    w.child.once('exit', () => {
      w.child = undefined;
    });
  }

  async stopWeb(w: Web): Promise<void> {
    if (w.child) await this.net.kill(w.child);
  }

  async startBird(d: Director): Promise<void> {
    const sock = join(d.dir, 'bird.ctl');
    rmSync(sock, { force: true });
    d.bird = this.net.spawn(
      d.ns,
      'bird',
      ['-f', '-c', join(d.dir, 'bird.conf'), '-s', sock, '-P', join(d.dir, 'bird.pid')],
      { stdio: 'ignore' },
    );
    d.bird.once('exit', () => {
      d.bird = undefined;
    });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  }

  startHalo(d: Director): void {
    const log = join(d.dir, 'halo.log');
    d.halo = this.net.spawn(
      d.ns,
      'sh',
      [
        '-c',
        `exec ${process.execPath} ${HALO_MAIN} run --bgp-only --ipvs dry-run -f ${join(d.dir, 'halo.conf')} --run-dir ${join(d.dir, 'run')} >>${log} 2>&1`,
      ],
      { stdio: 'ignore' },
    );
    const child = d.halo;
    child.once('exit', () => {
      if (d.halo === child) d.halo = undefined;
    });
  }

  /** A silent crash: the director's network drops everything, then halo and BIRD die (kill -9). */
  async crash(d: Director): Promise<void> {
    await this.net.exec(
      d.ns,
      'nft',
      [
        'add table inet crash; add chain inet crash in { type filter hook input priority -300; policy drop; }; add chain inet crash out { type filter hook output priority -300; policy drop; }',
      ],
      { allowFail: true },
    );
    if (d.halo) await this.net.kill(d.halo);
    if (d.bird) await this.net.kill(d.bird);
  }

  /** Graceful: SIGTERM makes halo withdraw, wait for the route to go, serve withdraw_delay, then exit. */
  async drain(d: Director): Promise<void> {
    if (d.halo) await this.net.kill(d.halo, 'SIGTERM');
  }

  async restart(d: Director): Promise<void> {
    await this.net.exec(d.ns, 'nft', ['delete table inet crash'], { allowFail: true });
    if (!d.bird) await this.startBird(d);
    if (!d.halo) this.startHalo(d);
  }

  /** This director loses its real servers (its checks fail, the others' do not). */
  async toggleRealServers(d: Director): Promise<boolean> {
    const has = (await this.net.exec(d.ns, 'nft', ['list', 'tables'], { allowFail: true })).includes(
      'lablose',
    );
    if (has) await this.net.exec(d.ns, 'nft', ['delete table ip lablose']);
    else
      await this.net.exec(d.ns, 'nft', [
        `add table ip lablose; add chain ip lablose out { type filter hook output priority 0; }; add rule ip lablose out ip daddr { ${WEB.join(', ')} } tcp dport 80 reject with tcp reset`,
      ]);
    return !has;
  }

  startClient(): void {
    const script = `
const http = require('node:http');
function one() {
  const req = http.get({ host: '${VIP}', port: 80, path: '/', agent: false, timeout: 2000 }, (res) => {
    let b = ''; res.on('data', (c) => (b += c));
    res.on('end', () => { console.log(b.trim()); setTimeout(one, 20); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { console.log('!' + e.message); setTimeout(one, 20); });
}
one();`;
    this.clientLoop = this.net.spawn(this.client, process.execPath, ['-e', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let buf = '';
    this.clientLoop.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      const now = Date.now();
      for (const l of lines) this.served.push([now, l.startsWith('!') ? null : l]);
      while (this.served.length && this.served[0][0] < now - 60_000) this.served.shift();
    });
  }

  /** Requests in the last `ms`: per director, and failures. */
  servedSince(ms: number): { by: Record<string, number>; failed: number } {
    const from = Date.now() - ms;
    const by: Record<string, number> = {};
    let failed = 0;
    for (const [t, d] of this.served) {
      if (t < from) continue;
      if (d === null) failed++;
      else by[d] = (by[d] ?? 0) + 1;
    }
    return { by, failed };
  }

  async nextHops(): Promise<string[]> {
    const out = await this.net.exec(this.router, 'ip', ['-j', 'route', 'show', VIP], { allowFail: true });
    try {
      const routes = JSON.parse(out || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
      return routes
        .flatMap((r) => (r.nexthops ? r.nexthops.map((h) => h.gateway) : r.gateway ? [r.gateway] : []))
        .sort();
    } catch {
      return [];
    }
  }

  async routerSessions(): Promise<string[]> {
    const out = await sh('birdc', ['-s', join(this.dir, 'router.ctl'), 'show', 'protocols'], {
      allowFail: true,
    });
    return out
      .split('\n')
      .filter((l) => /^d\d\s+BGP/.test(l))
      .map((l) => {
        const f = l.trim().split(/\s+/);
        return `${f[0]} ${f.slice(5).join(' ') || f[3]}`;
      });
  }

  async haloStatus(d: Director): Promise<string> {
    if (!d.halo) return d.bird ? 'halo stopped' : 'halo and BIRD down';
    const out = await sh(
      process.execPath,
      [HALO_MAIN, 'status', '--json', '--socket', join(d.dir, 'run', 'halo.sock')],
      { allowFail: true },
    );
    try {
      const doc = JSON.parse(out) as {
        bgp?: { routes: { announced: boolean; reason: string }[]; sessions: { state: string }[] };
      };
      const r = doc.bgp?.routes[0];
      const s = doc.bgp?.sessions[0];
      return `${r?.announced ? 'ANNOUNCING' : 'withdrawn'} (${r?.reason ?? '?'}); session to router: ${s?.state ?? '?'}`;
    } catch {
      return 'starting';
    }
  }

  async screen(selected: number): Promise<string[]> {
    const hops = await this.nextHops();
    const names = hops.map((h) => this.directors.find((d) => d.address === h)?.name ?? h);
    const out = [
      `router ECMP next hops for ${VIP}: ${hops.length ? `${hops.length} -> ${names.map((n, i) => `${n} (${hops[i]})`).join(', ')}` : 'NONE'}`,
      `router BGP sessions: ${(await this.routerSessions()).join('   ')}`,
      '',
    ];
    for (const [i, d] of this.directors.entries()) {
      out.push(`${i === selected ? '>' : ' '} ${d.name} ${d.address}  ${await this.haloStatus(d)}`);
    }
    const s = this.servedSince(2000);
    const total = Object.values(s.by).reduce((a, b) => a + b, 0);
    out.push(
      '',
      `client, last 2 s: ${total} served (${this.directors.map((d) => `${d.name} ${s.by[d.name] ?? 0}`).join(', ')}), ${s.failed} failed`,
    );
    out.push(`web servers: ${this.webs.map((w) => `${w.name} ${w.child ? 'up' : 'STOPPED'}`).join(', ')}`);
    return out;
  }

  async cleanup(keepLogs: boolean): Promise<void> {
    await this.net.cleanup();
    if (!keepLogs) rmSync(this.dir, { recursive: true, force: true });
  }
}

function bfdBlock(): string {
  return 'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }';
}

function routerBird(dir: string): string {
  return `# The lab's router ("ToR"): one eBGP session per director, BFD, ECMP into the kernel.
router id ${ROUTER};
log "${join(dir, 'router.log')}" all;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
${bfdBlock()}
template bgp director {
  local as 65000;
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  bfd on;
  ipv4 { import all; export none; };
}
protocol bgp d1 from director { neighbor 10.89.0.11 as 65001; }
protocol bgp d2 from director { neighbor 10.89.0.12 as 65001; }
protocol bgp d3 from director { neighbor 10.89.0.13 as 65001; }
`;
}

function directorBird(d: Director): string {
  return `# ${d.name}: halo writes routes/halo-vips.conf, BIRD announces what it holds.
router id ${d.address};
log "${join(d.dir, 'bird.log')}" all;
protocol device { scan time 1; }
${bfdBlock()}
include "${join(d.dir, 'routes')}/*.conf";
protocol bgp tor {
  local as 65001; neighbor ${ROUTER} as 65000;
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  bfd on;
  ipv4 {
    import none;
    export filter { if proto != "halo_vips4" then reject; if defined(bgp_med) then bgp_med = bgp_med; accept; };
  };
}
`;
}

function haloConf(d: Director): string {
  const rs = WEB.map(
    (w) => `    real_server ${w} 80 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }`,
  ).join('\n');
  return `! ${d.name}: an active-active director (halo run --bgp-only)
bgp {
    control_socket ${join(d.dir, 'bird.ctl')}
    routes_file ${join(d.dir, 'routes', 'halo-vips.conf')}
    local_as 65001
    router_id ${d.address}
    poll_interval 0.2
    withdraw_delay 2
    announce ${VIP}
}
virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
    quorum 1
${rs}
}
`;
}

async function waitFor(what: string, timeoutMs: number, fn: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

async function demo(lab: BgpLabNet, print: (s: string) => void): Promise<number> {
  const [d1, d2, d3] = lab.directors;
  await waitFor('three next hops', 30_000, async () => (await lab.nextHops()).length === 3);
  lab.startClient();
  await new Promise((r) => setTimeout(r, 2000));
  for (const l of await lab.screen(-1)) print(l);
  print(`== 1. drain ${d2.name} (SIGTERM): halo withdraws, keeps serving 2 s, then stops`);
  const mark = Date.now();
  await lab.drain(d2);
  await waitFor(
    `${d2.name} gone from the router`,
    10_000,
    async () => !(await lab.nextHops()).includes(d2.address),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const drained = lab.servedSince(Date.now() - mark);
  print(`during the drain: ${JSON.stringify(drained.by)}, ${drained.failed} failed requests`);
  print(`== 2. crash ${d3.name} silently (network dropped, kill -9): BFD tells the router`);
  const t0 = Date.now();
  await lab.crash(d3);
  const ms = await waitFor(
    `${d3.name} gone`,
    10_000,
    async () => !(await lab.nextHops()).includes(d3.address),
  );
  print(`router dropped ${d3.name} ${ms} ms after the crash`);
  for (const l of await lab.screen(-1)) print(l);
  print('== 3. restart both: they announce again');
  await lab.restart(d2);
  await lab.restart(d3);
  await waitFor('three next hops again', 30_000, async () => (await lab.nextHops()).length === 3);
  await new Promise((r) => setTimeout(r, 2000));
  for (const l of await lab.screen(-1)) print(l);
  const all = lab.servedSince(Date.now() - t0 + 1);
  const ok = drained.failed === 0 && Object.keys(lab.servedSince(2000).by).length === 3;
  print(
    ok
      ? `demo OK (${d1.name} served throughout; ${all.failed} requests failed in the crash window)`
      : 'demo FAILED',
  );
  return ok ? 0 : 1;
}

async function live(lab: BgpLabNet, tty: boolean, stopped: Promise<void>): Promise<number> {
  let done = false;
  void stopped.then(() => {
    done = true;
  });
  let selected = 0;
  lab.startClient();
  const keys =
    'keys: 1 2 3 pick a director  k kill  d drain  r restart  a fail/restore its real servers  w web2  q quit';
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      void (async () => {
        const d = lab.directors[selected];
        if (key === 'q' || key === '\u0003') done = true;
        else if (['1', '2', '3'].includes(key)) selected = Number(key) - 1;
        else if (key === 'k') {
          await lab.crash(d);
          lab.event(`${d.name}: crashed (network dropped, halo and BIRD killed)`);
        } else if (key === 'd') {
          lab.event(`${d.name}: SIGTERM, draining`);
          await lab.drain(d);
          lab.event(`${d.name}: halo stopped`);
        } else if (key === 'r') {
          await lab.restart(d);
          lab.event(`${d.name}: restarted`);
        } else if (key === 'a') {
          lab.event(
            `${d.name}: real servers ${(await lab.toggleRealServers(d)) ? 'unreachable' : 'reachable again'}`,
          );
        } else if (key === 'w') {
          const w = lab.webs[1];
          if (w.child) await lab.stopWeb(w);
          else lab.startWeb(w);
          lab.event(`web2 ${w.child ? 'started' : 'stopped'}`);
        }
      })();
    });
  } else lab.onEvent = (s) => process.stdout.write(`${s}\n`);
  let last = 0;
  while (!done) {
    const lines = await lab.screen(tty ? selected : -1);
    if (tty) {
      process.stdout.write(
        `\x1b[2J\x1b[H${['halo BGP lab (npm run lab -- --bgp)', '', ...lines, '', ...lab.events, '', keys].join('\n')}\n`,
      );
    } else if (Date.now() - last > 5000) {
      process.stdout.write(`${lines.join('\n')}\n\n`);
      last = Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (tty) {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
  return 0;
}

async function missing(): Promise<string[]> {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push('the lab needs root: sudo npm run lab -- --bgp');
  for (const [cmd, pkg] of [
    ['bird', 'bird2'],
    ['birdc', 'bird2'],
    ['nft', 'nftables'],
    ['ip', 'iproute2'],
  ]) {
    const r = await sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true });
    if (!r.trim()) out.push(`'${cmd}' is missing: apt-get install ${pkg}`);
  }
  if (!existsSync(HALO_MAIN)) out.push(`${HALO_MAIN} is missing: build first (npm run build)`);
  return out;
}

export async function bgpMain(argv: string[]): Promise<number> {
  const flags = new Set(argv);
  if (flags.has('--help') || flags.has('-h')) {
    process.stdout.write(`${BGP_HELP}\n`);
    return 0;
  }
  const unknown = argv.filter((a) => !['--demo', '--keep-logs'].includes(a));
  if (unknown.length) {
    process.stderr.write(`lab --bgp: unknown option ${unknown[0]}\n${BGP_HELP}\n`);
    return 2;
  }
  const problems = await missing();
  if (problems.length) {
    for (const p of problems) process.stderr.write(`lab: ${p}\n`);
    return 1;
  }
  const print = (s: string) => process.stdout.write(`${s}\n`);
  const demoMode = flags.has('--demo');
  const tty = !demoMode && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const lab = new BgpLabNet();
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= lab.cleanup(flags.has('--keep-logs'));
    return cleaning;
  };
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    stopRequested = r;
  });
  const onSignal = (sig: NodeJS.Signals) => {
    stopRequested();
    if (demoMode || !tty) void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const onCrash = (err: unknown) => {
    process.stderr.write(
      `lab: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    void cleanup().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  let code = 1;
  try {
    print(`setting up namespaces ${lab.net.nsName('*')} (configs and logs in ${lab.dir}) ...`);
    await lab.setup();
    if (demoMode) lab.onEvent = print;
    code = demoMode ? await demo(lab, print) : await live(lab, tty, stopped);
  } catch (err) {
    process.stderr.write(`lab FAILED: ${(err as Error).message}\n`);
    code = 1;
  } finally {
    print('cleaning up (stopping halo and BIRD, removing namespaces) ...');
    await cleanup();
    print('done');
  }
  return code;
}
