/**
 * An active-active BGP lab in network namespaces, for the netns tests and the BGP benchmark:
 *
 *   client 10.77.1.2 --- router 10.77.1.1 | 10.77.0.1 --- bridge --- directors 10.77.0.11.. (AS 65001)
 *                        (BIRD, AS 65000, ECMP)                  \--- web 10.77.0.21-23 (real servers)
 *
 * Every director runs its own BIRD 2 (peering with the router, optionally with BFD) and halo
 * (`halo run --bgp-only --ipvs dry-run`, or the drainable test director), and answers HTTP on the VIP
 * itself with its name, so the client sees which director served each request (the host kernel has no
 * IPVS). The router installs the VIP with one next hop per announcing director and hashes flows on
 * ports (fib_multipath_hash_policy 1), so one client spreads over all of them.
 *
 * Real speakers, real sessions, real kernel routes: nothing is mocked. Processes are killed by PID and the
 * namespaces removed at cleanup.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, sh, waitFor } from './netns.js';
import { HALO_MAIN, REPO_ROOT } from './vrrp-lab.js';

export const VIP = '10.77.100.100';
const ROUTER = '10.77.0.1';
const WEB = ['10.77.0.21', '10.77.0.22', '10.77.0.23'];

export async function birdInstalled(): Promise<boolean> {
  const r = await sh('bird', ['--version'], { allowFail: true });
  return /BIRD version 2\./.test(r.stdout + r.stderr);
}

export interface LogLine {
  /** ISO time. */
  time: string;
  event?: string;
  msg: string;
  [k: string]: unknown;
}

export interface Director {
  name: string;
  index: number;
  ns: string;
  address: string;
  dir: string;
  birdSocket: string;
  bird: ChildProcess | undefined;
  halo: ChildProcess | undefined;
  logs: LogLine[];
  drainable: boolean;
}

export interface BgpLabOptions {
  directors?: number;
  bfd: boolean;
  /** Directors (1-based) that run the drainable test director instead of `halo run`. */
  drainable?: number[];
  withdrawDelayS?: number;
}

export interface ClientResult {
  ok: number;
  failed: number;
  byDirector: Record<string, number>;
  errors: string[];
}

export class BgpLab {
  readonly net = new NetnsLab();
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-bgp-'));
  router = '';
  client = '';
  web = '';
  readonly directors: Director[] = [];
  private routerBird: ChildProcess | undefined;

  constructor(readonly opts: BgpLabOptions) {}

  async start(): Promise<void> {
    const n = this.opts.directors ?? 3;
    this.router = (await this.net.addHost('rtr', [`${ROUTER}/24`])).ns;
    this.client = await this.net.addNamespace('cli');
    const a = `h${this.net.tag}c0`;
    const b = `h${this.net.tag}c1`;
    await sh('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await sh('ip', ['link', 'set', a, 'netns', this.router]);
    await sh('ip', ['link', 'set', b, 'netns', this.client]);
    await this.net.exec(this.router, 'ip', ['addr', 'add', '10.77.1.1/24', 'dev', a]);
    await this.net.exec(this.router, 'ip', ['link', 'set', a, 'up']);
    await this.net.exec(this.client, 'ip', ['addr', 'add', '10.77.1.2/24', 'dev', b]);
    await this.net.exec(this.client, 'ip', ['link', 'set', b, 'up']);
    await this.net.exec(this.client, 'ip', ['route', 'add', 'default', 'via', '10.77.1.1']);
    await this.net.exec(this.router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // Hash on ports too: one client's connections spread over every director.
    await this.net.exec(this.router, 'sysctl', ['-qw', 'net.ipv4.fib_multipath_hash_policy=1']);

    this.web = (
      await this.net.addHost(
        'web',
        WEB.map((w) => `${w}/24`),
      )
    ).ns;
    for (const w of WEB) this.startWeb(w);

    for (let i = 1; i <= n; i++) {
      const address = `10.77.0.${10 + i}`;
      const ns = (await this.net.addHost(`d${i}`, [`${address}/24`])).ns;
      await this.net.exec(ns, 'ip', ['route', 'add', 'default', 'via', ROUTER]);
      // The responder binds the VIP before halo adds it.
      await this.net.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_nonlocal_bind=1']);
      const dir = join(this.dir, `d${i}`);
      mkdirSync(join(dir, 'routes'), { recursive: true });
      const d: Director = {
        name: `d${i}`,
        index: i,
        ns,
        address,
        dir,
        birdSocket: join(dir, 'bird.ctl'),
        bird: undefined,
        halo: undefined,
        logs: [],
        drainable: this.opts.drainable?.includes(i) ?? false,
      };
      this.directors.push(d);
      writeFileSync(join(dir, 'bird.conf'), this.directorBirdConf(d));
      writeFileSync(join(dir, 'halo.conf'), this.haloConf(d));
      this.net.spawn(ns, process.execPath, [
        '-e',
        `require('node:http').createServer((q, r) => r.end('${d.name}\\n')).listen(80, '${VIP}')`,
      ]);
      await this.startSpeaker(d);
      this.startHalo(d);
    }
    writeFileSync(join(this.dir, 'router.conf'), this.routerBirdConf(n));
    this.routerBird = this.net.spawn(this.router, 'bird', [
      '-f',
      '-c',
      join(this.dir, 'router.conf'),
      '-s',
      join(this.dir, 'router.ctl'),
      '-P',
      join(this.dir, 'router.pid'),
    ]);
    await waitFor(async () => (await this.nextHops()).length === n, 30_000, 100);
  }

  private startWeb(address: string): ChildProcess {
    return this.net.spawn(this.web, process.execPath, [
      '-e',
      `require('node:http').createServer((q, r) => r.end('web')).listen(80, '${address}')`,
    ]);
  }

  private bfdBlock(): string {
    return this.opts.bfd
      ? 'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }\n'
      : '';
  }

  private routerBirdConf(n: number): string {
    const peers = Array.from(
      { length: n },
      (_, k) => `protocol bgp d${k + 1} from director { neighbor 10.77.0.${11 + k} as 65001; }`,
    ).join('\n');
    return `# the lab's router ("ToR"): one eBGP session per director, ECMP into the kernel
router id ${ROUTER};
log "${join(this.dir, 'router.log')}" all;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
${this.bfdBlock()}template bgp director {
  local as 65000;
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  bfd ${this.opts.bfd ? 'on' : 'off'};
  ipv4 { import all; export none; };
}
${peers}
`;
  }

  private directorBirdConf(d: Director): string {
    return `# director ${d.name}: halo writes routes/halo-vips.conf; BIRD announces its routes to the router
router id ${d.address};
log "${join(d.dir, 'bird.log')}" all;
protocol device { scan time 1; }
${this.bfdBlock()}include "${join(d.dir, 'routes')}/*.conf";
protocol bgp tor {
  local as 65001; neighbor ${ROUTER} as 65000;
  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;
  bfd ${this.opts.bfd ? 'on' : 'off'};
  ipv4 {
    import none;
    export filter { if proto != "halo_vips4" then reject; if defined(bgp_med) then bgp_med = bgp_med; accept; };
  };
}
`;
  }

  private haloConf(d: Director): string {
    const rs = WEB.map(
      (w) => `    real_server ${w} 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }`,
    ).join('\n');
    return `bgp {
    control_socket ${d.birdSocket}
    routes_file ${join(d.dir, 'routes', 'halo-vips.conf')}
    local_as 65001
    router_id ${d.address}
    poll_interval 0.2
    withdraw_delay ${this.opts.withdrawDelayS ?? 1}
    announce ${VIP}
}
virtual_server ${VIP} 80 {
    delay_loop 0.5
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
    quorum 1
${rs}
}
`;
  }

  async startSpeaker(d: Director): Promise<void> {
    rmSync(d.birdSocket, { force: true });
    d.bird = this.net.spawn(d.ns, 'bird', [
      '-f',
      '-c',
      join(d.dir, 'bird.conf'),
      '-s',
      d.birdSocket,
      '-P',
      join(d.dir, 'bird.pid'),
    ]);
    await waitFor(
      async () =>
        (await sh('birdc', ['-s', d.birdSocket, 'show', 'status'], { allowFail: true })).stdout.includes(
          'Daemon is up',
        ),
      10_000,
    );
  }

  startHalo(d: Director): void {
    const args = d.drainable
      ? [join(REPO_ROOT, 'dist/test/helpers/bgp-director.js'), join(d.dir, 'halo.conf'), join(d.dir, 'run')]
      : [
          HALO_MAIN,
          'run',
          '--bgp-only',
          '--ipvs',
          'dry-run',
          '-f',
          join(d.dir, 'halo.conf'),
          '--run-dir',
          join(d.dir, 'run'),
        ];
    const halo = this.net.spawn(d.ns, process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    d.halo = halo;
    let buf = '';
    halo.stdout?.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        try {
          d.logs.push(JSON.parse(buf.slice(0, nl)) as LogLine);
        } catch {
          // not JSON
        }
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
  }

  /** The router's kernel next hops for the VIP (one gateway per announcing director). */
  async nextHops(): Promise<string[]> {
    const out = (await this.net.exec(this.router, 'ip', ['-j', 'route', 'show', VIP], { allowFail: true }))
      .stdout;
    try {
      const routes = JSON.parse(out || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
      return routes
        .flatMap((r) => (r.nexthops ? r.nexthops.map((h) => h.gateway) : r.gateway ? [r.gateway] : []))
        .sort();
    } catch {
      return [];
    }
  }

  /** Polls the router until `pred(nextHops)` holds; returns ms waited (from `since`, default now). */
  async waitNextHops(
    pred: (hops: string[]) => boolean,
    timeoutMs: number,
    since = performance.now(),
  ): Promise<number> {
    for (;;) {
      if (pred(await this.nextHops())) return performance.now() - since;
      if (performance.now() - since > timeoutMs)
        throw new Error(`router next hops ${JSON.stringify(await this.nextHops())} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async vipOnLo(d: Director): Promise<boolean> {
    const out = (await this.net.exec(d.ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
    return out.includes(`${VIP}/32`);
  }

  /** This director can no longer reach its real servers (its checks fail; the others' do not). */
  async failRealServers(d: Director, failed: boolean): Promise<void> {
    if (failed) {
      await this.net.exec(d.ns, 'nft', [
        `add table ip halotest; add chain ip halotest out { type filter hook output priority 0; }; add rule ip halotest out ip daddr { ${WEB.join(', ')} } tcp dport 80 reject with tcp reset`,
      ]);
    } else {
      await this.net.exec(d.ns, 'nft', ['delete table ip halotest']);
    }
  }

  /**
   * The director dies without a word: its network goes silent first (no FIN, no NOTIFICATION, no BFD
   * Down reaches the router), then halo and BIRD are killed.
   */
  async crash(d: Director): Promise<void> {
    await this.net.exec(d.ns, 'nft', [
      'add table inet crash; add chain inet crash in { type filter hook input priority -300; policy drop; }; add chain inet crash out { type filter hook output priority -300; policy drop; }',
    ]);
    if (d.halo) await this.net.kill(d.halo);
    if (d.bird) await this.net.kill(d.bird);
  }

  /** Brings a crashed director back: network on, BIRD and halo started again. */
  async revive(d: Director): Promise<void> {
    await this.net.exec(d.ns, 'nft', ['delete table inet crash'], { allowFail: true });
    await this.startSpeaker(d);
    this.startHalo(d);
  }

  async killSpeaker(d: Director): Promise<void> {
    if (d.bird) await this.net.kill(d.bird);
    d.bird = undefined;
  }

  /** SIGTERM to halo and wait for it to exit. */
  async stopHalo(d: Director): Promise<void> {
    if (d.halo) await this.net.kill(d.halo, 'SIGTERM');
  }

  /** Sends a command to a drainable director and waits for its JSON answer. */
  async command<T>(d: Director, cmd: 'drain' | 'resume'): Promise<T> {
    if (!d.drainable || !d.halo?.stdin) throw new Error(`${d.name} is not drainable`);
    const mark = d.logs.length;
    d.halo.stdin.write(`${cmd}\n`);
    const line = await waitFor(() => d.logs.slice(mark).find((l) => cmd in l), 20_000);
    return (line as unknown as Record<string, T>)[cmd];
  }

  /** A client loop: one request per fresh connection to the VIP, every `intervalMs`, until stopped. */
  startClient(intervalMs = 10): { stop(): Promise<ClientResult> } {
    const script = `
const http = require('node:http');
let stopped = false;
process.on('SIGTERM', () => { stopped = true; });
const deadline = Date.now() + 120000;
function one() {
  if (stopped || Date.now() > deadline) return process.exit(0);
  const req = http.get({ host: '${VIP}', port: 80, path: '/', agent: false, timeout: 3000 }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => { console.log(JSON.stringify({ ok: true, d: body.trim() })); setTimeout(one, ${intervalMs}); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { console.log(JSON.stringify({ ok: false, e: e.message })); setTimeout(one, ${intervalMs}); });
}
one();
`;
    const child = this.net.spawn(this.client, process.execPath, ['-e', script]);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    return {
      stop: async () => {
        await this.net.kill(child, 'SIGTERM');
        const res: ClientResult = { ok: 0, failed: 0, byDirector: {}, errors: [] };
        for (const l of out.split('\n').filter(Boolean)) {
          const r = JSON.parse(l) as { ok: boolean; d?: string; e?: string };
          if (r.ok && r.d) {
            res.ok++;
            res.byDirector[r.d] = (res.byDirector[r.d] ?? 0) + 1;
          } else {
            res.failed++;
            res.errors.push(r.e ?? '?');
          }
        }
        return res;
      },
    };
  }

  async cleanup(): Promise<void> {
    // Stop halo gracefully where it still runs, so no test leaves VIP files behind; then kill everything.
    await this.net.cleanup();
    if (this.routerBird) this.routerBird = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
