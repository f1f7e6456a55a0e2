/**
 * `npm run lab`: a demo network in namespaces (two directors, a client, three web servers), halo on both
 * directors from conf/lab-director.conf, and a live view of who is MASTER, who holds the VIP, which real
 * servers are up and what the client sees. Kill things and watch the failover.
 *
 *   npm run lab                  interactive (keys k r w q when stdin is a terminal)
 *   npm run lab -- --demo        scripted: kill the master, time the takeover, restart, preempt back; exit 0/1
 *   npm run lab -- --vm          the scripted demo inside the IPVS VM (real kernel IPVS, ipvsadm -Ln)
 *   npm run lab -- --cleanup     remove namespaces a killed lab, test or benchmark left behind (halolab-<pid>-*)
 *   npm run lab -- --bgp         the BGP lab: active-active directors behind an ECMP router (lab/bgp-lab.ts)
 *
 * The lab adapts to the halo it finds: when `halo run --help` offers `--ipvs`, halo runs its checker and
 * IPVS part (for real when the kernel has ip_vs, `--ipvs dry-run` otherwise); before that, `--vrrp-only`.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { controlRequest } from '../src/daemon/control.js';
import type { StatusDocument } from '../src/daemon/status.js';
import { LabNet, removeLeftovers, sh } from './netns.js';
import type { ProbeResult } from './probe.js';

const execFileP = promisify(execFile);

/** Repository root, from dist/lab/ or lab/. */
const REPO_ROOT = resolve(import.meta.dirname, import.meta.dirname.includes('/dist/') ? '../..' : '..');
const HALO_MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');
const PROBE_MAIN = join(REPO_ROOT, 'dist/lab/probe.js');
const CONFIG = join(REPO_ROOT, 'conf/lab-director.conf');

const VIP = '10.88.0.100';
const CLIENT_ADDRESS = '10.88.0.50';

type Mode = 'vrrp-only' | 'ipvs-dry-run' | 'ipvs';

const MODE_TEXT: Record<Mode, string> = {
  'vrrp-only': 'VRRP only (this halo build has no checker/IPVS part yet): the client pings the VIP',
  'ipvs-dry-run':
    'VRRP + health checks, IPVS in dry-run (no ip_vs in this kernel): halo logs the IPVS operations it would apply; the client pings the VIP',
  ipvs: 'VRRP + health checks + kernel IPVS (DR): the client fetches http://10.88.0.100/',
};

interface Director {
  name: string;
  id: string;
  address: string;
  ns: string;
  runDir: string;
  socket: string;
  log: string;
  child?: ChildProcess;
}

interface Web {
  name: string;
  address: string;
  ns: string;
  child?: ChildProcess;
}

interface DirectorView {
  running: boolean;
  pid?: number;
  state: string | null;
  priority?: number;
  holdsVip: boolean;
}

interface RealServerView {
  address: string;
  port: number;
  /** null: no director has checked it yet since its halo started (its start-up state says nothing). */
  up: boolean | null;
  /** The director whose check result this is (index), null when none has checked it. */
  checkedBy: number | null;
}

interface Observation {
  at: number;
  directors: DirectorView[];
  /** From the master's status (else any director's), empty when halo runs VRRP only. */
  realServers: RealServerView[];
  client: ProbeResult | null;
}

class Lab {
  /** Scales timeouts and polling for slow hosts (the VM runs under qemu TCG, ~10x slower). */
  constructor(readonly slow = 1) {}
  readonly net = new LabNet();
  readonly dir = mkdtempSync(join(tmpdir(), 'halolab-'));
  readonly startedAt = Date.now();
  readonly directors: Director[] = [];
  readonly webs: Web[] = [];
  clientNs = '';
  mode: Mode = 'vrrp-only';
  /** The halo config both directors run (a slowed-down copy on slow hosts). */
  config = CONFIG;
  private probe: ChildProcess | undefined;
  private lastProbe: ProbeResult | null = null;
  private prev: Observation | undefined;
  readonly events: string[] = [];
  onEvent: (line: string) => void = () => undefined;
  /** Set while the lab itself stops a process, so its exit is not reported as a surprise. */
  private readonly expectedExits = new Set<ChildProcess>();

  elapsed(): string {
    return `${((Date.now() - this.startedAt) / 1000).toFixed(2).padStart(7)}s`;
  }

  event(msg: string): void {
    const line = `[${this.elapsed()}] ${msg}`;
    this.events.push(line);
    if (this.events.length > 200) this.events.shift();
    this.onEvent(line);
  }

  async setup(mode: Mode, probeIntervalMs: number): Promise<void> {
    this.mode = mode;
    if (this.slow > 1) {
      // Under qemu TCG a 0.2 s advert interval is not kept (timers fire late, a backup declares the master
      // dead between two late adverts): use keepalived's default 1 s there.
      this.config = join(this.dir, 'lab-director.conf');
      writeFileSync(this.config, readFileSync(CONFIG, 'utf8').replace(/advert_int\s+0\.2\b/, 'advert_int 1'));
    }
    await this.net.addBridge();
    for (const [i, id] of ['d1', 'd2'].entries()) {
      const name = `director${i + 1}`;
      const address = `10.88.0.${11 + i}`;
      const ns = await this.net.addHost(name, `${address}/24`);
      const runDir = join(this.dir, name);
      mkdirSync(runDir, { recursive: true });
      this.directors.push({
        name,
        id,
        address,
        ns,
        runDir,
        socket: join(runDir, 'halo.sock'),
        log: join(this.dir, `${name}.log`),
      });
    }
    for (let i = 0; i < 3; i++) {
      const name = `web${i + 1}`;
      const address = `10.88.0.${21 + i}`;
      const ns = await this.net.addHost(name, `${address}/24`);
      // Direct Routing: the director forwards frames unchanged to the web server's MAC, so the web server
      // must accept the VIP as its own (on lo) without answering ARP for it (only the master may).
      await this.net.exec(ns, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      await this.net.exec(ns, 'sh', [
        '-c',
        'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore && echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce',
      ]);
      const web: Web = { name, address, ns };
      this.webs.push(web);
      this.startWeb(web);
    }
    this.clientNs = await this.net.addHost('client', `${CLIENT_ADDRESS}/24`);
    this.startProbe(probeIntervalMs);
  }

  private startProbe(intervalMs: number): void {
    const child = this.net.spawn(this.clientNs, process.execPath, [
      PROBE_MAIN,
      VIP,
      '80',
      String(intervalMs),
    ]);
    this.probe = child;
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        this.lastProbe = JSON.parse(line) as ProbeResult;
      } catch {
        // not ours
      }
    });
  }

  startWeb(web: Web): void {
    const code =
      "const n=process.argv[1];require('node:http').createServer((q,s)=>{s.setHeader('content-type','text/plain');s.end('hello from '+n+'\\n')}).listen(80)";
    const child = this.net.spawn(web.ns, process.execPath, ['-e', code, web.name], { stdio: 'ignore' });
    web.child = child;
    child.once('exit', (exitCode, signal) => {
      if (web.child === child) web.child = undefined;
      if (this.expectedExits.delete(child)) return;
      this.event(`${web.name} (pid ${child.pid}) exited (${signal ?? `code ${exitCode}`})`);
    });
  }

  async stopWeb(web: Web): Promise<void> {
    if (!web.child) return;
    const child = web.child;
    web.child = undefined;
    this.expectedExits.add(child);
    await this.net.kill(child, 'SIGTERM');
  }

  modeArgs(): string[] {
    if (this.mode === 'ipvs') return [];
    if (this.mode === 'ipvs-dry-run') return ['--ipvs', 'dry-run'];
    return ['--vrrp-only'];
  }

  startDirector(d: Director): void {
    const fd = openSync(d.log, 'a');
    const args = [HALO_MAIN, 'run', '-f', this.config, '--config-id', d.id, '--log-format', 'pretty']
      .concat(['--run-dir', d.runDir])
      .concat(this.modeArgs());
    const child = this.net.spawn(d.ns, process.execPath, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    d.child = child;
    child.once('exit', (code, signal) => {
      if (d.child === child) d.child = undefined;
      if (this.expectedExits.delete(child)) return;
      this.event(`${d.name}: halo (pid ${child.pid}) exited (${signal ?? `code ${code}`})`);
    });
  }

  /** kill -9, as a crash or a pulled power cord would (no priority-0 advert, VIP left configured). */
  async crashDirector(d: Director, pid?: number): Promise<void> {
    const child = d.child;
    if (!child) {
      // A halo the user started by hand: the lab knows it only by the PID its status reported.
      if (pid) {
        process.kill(pid, 'SIGKILL');
        this.event(`${d.name}: killed halo (kill -9 ${pid})`);
      }
      return;
    }
    this.expectedExits.add(child);
    d.child = undefined;
    await this.net.kill(child, 'SIGKILL');
    this.event(`${d.name}: killed halo (kill -9 ${child.pid})`);
  }

  async stopDirector(d: Director): Promise<void> {
    const child = d.child;
    if (!child) return;
    this.expectedExits.add(child);
    d.child = undefined;
    await this.net.kill(child, 'SIGTERM');
  }

  /** Asked even when the lab did not start this halo: the user may have restarted it by hand. */
  private async status(d: Director): Promise<StatusDocument | null> {
    if (!d.child && !existsSync(d.socket)) return null;
    try {
      return await controlRequest(d.socket, 'status', { timeoutMs: 700 * this.slow });
    } catch {
      return null;
    }
  }

  async observe(): Promise<Observation> {
    const docs = await Promise.all(this.directors.map((d) => this.status(d)));
    const addrs = await Promise.all(this.directors.map((d) => this.net.addresses(d.ns)));
    const directors: DirectorView[] = this.directors.map((d, i) => {
      const inst = docs[i]?.instances[0];
      return {
        running: d.child !== undefined || docs[i] !== null,
        pid: docs[i]?.daemon.pid ?? d.child?.pid,
        state: inst?.state ?? null,
        priority: inst?.effectivePriority,
        holdsVip: addrs[i].includes(VIP),
      };
    });
    const masterIdx = directors.findIndex((v) => v.state === 'MASTER');
    const realServers = mergeRealServers(docs, masterIdx);
    const obs: Observation = { at: Date.now(), directors, realServers, client: this.lastProbe };
    this.noteChanges(obs);
    return obs;
  }

  /** Turns differences between two observations into event lines. */
  private noteChanges(obs: Observation): void {
    const prev = this.prev;
    this.prev = obs;
    obs.directors.forEach((v, i) => {
      const d = this.directors[i];
      const before = prev?.directors[i];
      if (v.state && v.state !== before?.state) {
        const hint = v.state === 'MASTER' && v.pid ? ` (kill -9 ${v.pid} crashes it)` : '';
        this.event(`${d.name} is ${v.state}${hint}`);
      }
      if (before && v.holdsVip !== before.holdsVip) {
        this.event(
          v.holdsVip
            ? `${d.name} now holds the VIP ${VIP}`
            : `${d.name} released the VIP ${VIP}${v.running ? '' : ' (halo restarted and cleaned up)'}`,
        );
      }
    });
    for (const rs of obs.realServers) {
      const before = prev?.realServers.find((r) => r.address === rs.address && r.port === rs.port);
      // Not checked yet (a director just restarted): nothing is known, so nothing changed.
      if (rs.up === null) continue;
      if (!before || before.up !== rs.up) {
        this.event(
          `real server ${this.webName(rs.address)} ${rs.address}:${rs.port} is ${rs.up ? 'UP' : 'DOWN'}`,
        );
      }
    }
    const ok = this.clientOk(obs.client);
    const okBefore = this.clientOk(prev?.client ?? null);
    if (obs.client && ok !== okBefore) this.event(`client: ${this.clientText(obs.client)}`);
  }

  webName(address: string): string {
    return this.webs.find((w) => w.address === address)?.name ?? '?';
  }

  /** What "the service works" means for the client in this mode. */
  clientOk(p: ProbeResult | null): boolean {
    if (!p) return false;
    return this.mode === 'ipvs' ? p.http !== null : p.ping;
  }

  clientText(p: ProbeResult | null): string {
    if (!p) return 'no answer yet';
    const ping = `ping ${VIP} ${p.ping ? 'ok' : 'FAILS'}`;
    if (this.mode !== 'ipvs') return ping;
    const http = p.http !== null ? `"${p.http}"` : `FAILS (${p.httpError ?? '?'})`;
    return `GET http://${VIP}/ -> ${http}; ${ping}`;
  }

  master(obs: Observation): Director | undefined {
    const i = obs.directors.findIndex((v) => v.running && v.state === 'MASTER');
    return i >= 0 ? this.directors[i] : undefined;
  }

  /** The status screen (without the event log). */
  render(obs: Observation): string[] {
    const out: string[] = [];
    out.push(`halo lab  ${this.elapsed().trim()}  mode: ${MODE_TEXT[this.mode]}`);
    out.push('');
    obs.directors.forEach((v, i) => {
      const d = this.directors[i];
      const halo = v.running ? `halo pid ${String(v.pid).padEnd(7)}` : 'halo NOT RUNNING ';
      const state = (v.state ?? (v.running ? 'starting' : '-')).padEnd(8);
      const prio = v.priority !== undefined ? `prio ${String(v.priority).padEnd(3)}` : '        ';
      const vip = v.holdsVip ? `holds VIP ${VIP}${v.running ? '' : ' (left behind by the crash)'}` : '';
      out.push(`  ${d.name}  ${d.address}  ${halo}  ${state}  ${prio}  ${vip}`.trimEnd());
    });
    if (obs.realServers.length > 0) {
      out.push(
        `  real servers: ${obs.realServers
          .map(
            (rs) =>
              `${this.webName(rs.address)} ${rs.address} ${rs.up === null ? 'checking' : rs.up ? 'up' : 'DOWN'}`,
          )
          .join('   ')}`,
      );
    } else {
      out.push(
        `  web servers:  ${this.webs.map((w) => `${w.name} ${w.address} ${w.child ? `pid ${w.child.pid}` : 'STOPPED'}`).join('   ')}`,
      );
    }
    out.push(`  client ${CLIENT_ADDRESS}: ${this.clientText(obs.client)}`);
    return out;
  }

  /** The "try this" lines, with the PIDs that are real right now (after a failover too). */
  commands(obs?: Observation): string[] {
    const [d1, d2] = this.directors;
    const web2 = this.webs[1];
    const pidOf = (d: Director) => {
      const i = this.directors.indexOf(d);
      return obs?.directors[i]?.running ? obs.directors[i].pid : d.child?.pid;
    };
    const master = obs ? this.master(obs) : undefined;
    const backup = master && this.directors.find((d) => d !== master);
    const killLine = master
      ? `kill -9 ${pidOf(master) ?? '?'}   (halo on ${master.name}, the MASTER; ${backup?.name} takes over${
          backup && pidOf(backup)
            ? `; kill -9 ${pidOf(backup)} stops ${backup.name}'s halo`
            : `, once its halo runs again`
        })`
      : `no MASTER right now${this.directors
          .filter((d) => pidOf(d))
          .map((d) => `; ${d.name}: kill -9 ${pidOf(d)}`)
          .join('')}`;
    const haloCmd = (d: Director) =>
      `ip netns exec ${d.ns} node ${HALO_MAIN} run -f ${this.config} --config-id ${d.id} --log-format pretty --run-dir ${d.runDir} ${this.modeArgs().join(' ')}`.trimEnd();
    return [
      'Try (from another terminal, as root):',
      `  kill the master:        ${killLine}`,
      web2.child
        ? `  stop a web server:      kill ${web2.child.pid}   (web2; the health checks mark it DOWN)`
        : '  stop a web server:      web2 is stopped (w starts it again)',
      `  status of a director:   node ${HALO_MAIN} status --socket ${d1.socket}`,
      `  restart halo by hand:   ${haloCmd(d1)} >> ${d1.log} 2>&1 &`,
      `  look inside:            ip netns exec ${d1.ns} ip addr show eth0${this.mode === 'ipvs' ? `; ip netns exec ${d1.ns} ipvsadm -Ln` : ''}`,
      `  logs:                   tail -f ${d1.log} ${d2.log}`,
    ];
  }

  async ipvsTable(d: Director): Promise<string[]> {
    if (this.mode === 'ipvs') {
      const out = await this.net.exec(d.ns, 'ipvsadm', ['-Ln'], { allowFail: true });
      return out.trimEnd().split('\n');
    }
    if (this.mode === 'ipvs-dry-run') {
      // The dry-run IPVS writes the operations it would apply to the log.
      return readLog(d.log)
        .filter((l) => /ipvs/i.test(l))
        .slice(-12);
    }
    return [];
  }

  async cleanup(keepLogs: boolean): Promise<void> {
    for (const c of [this.probe, ...this.directors.map((d) => d.child), ...this.webs.map((w) => w.child)]) {
      if (c) this.expectedExits.add(c);
    }
    await this.net.cleanup();
    if (!keepLogs) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * One view of the real servers from both directors' status. A halo that just started reports its real
 * servers in their start-up state (up, unless alpha) before any check ran: that is not news, so a server is
 * taken from the MASTER's view when the MASTER has checked it, else from any director that has, else it is
 * "not checked yet" (up: null). Otherwise a stopped web server would flicker UP after a director restart.
 */
function mergeRealServers(docs: (StatusDocument | null)[], masterIdx: number): RealServerView[] {
  const order = docs.map((_, i) => i);
  if (masterIdx >= 0) order.sort((a, b) => Number(b === masterIdx) - Number(a === masterIdx));
  const views = new Map<string, RealServerView>();
  for (const i of order) {
    for (const vs of docs[i]?.virtualServers ?? []) {
      for (const rs of vs.realServers) {
        const key = `${rs.address}:${rs.port}`;
        const known = views.get(key);
        const checked = rs.lastCheck !== null;
        if (!known) {
          views.set(key, {
            address: rs.address,
            port: rs.port,
            up: checked ? rs.up : null,
            checkedBy: checked ? i : null,
          });
        } else if (known.up === null && checked) {
          known.up = rs.up;
          known.checkedBy = i;
        }
      }
    }
  }
  return [...views.values()];
}

function readLog(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Prerequisites and mode

async function commandExists(cmd: string): Promise<boolean> {
  try {
    await execFileP('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Problems that stop the lab, each with what to do. */
async function prerequisiteProblems(): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('the lab needs Linux (network namespaces)');
  if (process.getuid?.() !== 0) problems.push('the lab needs root: run it as root (e.g. sudo npm run lab)');
  if (!(await commandExists('ip'))) problems.push("'ip' (iproute2) is missing: apt-get install iproute2");
  else {
    try {
      await sh('ip', ['netns', 'list']);
    } catch (err) {
      problems.push(`network namespaces are not usable here: ${(err as Error).message}`);
    }
  }
  if (!(await commandExists('ping'))) {
    problems.push("'ping' is missing (the lab's client pings the VIP): apt-get install iputils-ping");
  }
  for (const f of [HALO_MAIN, PROBE_MAIN]) {
    if (!existsSync(f)) problems.push(`${f} is missing: build first (npm run build)`);
  }
  return problems;
}

/** Whether the kernel has IPVS, loading the module when it is available but not loaded. */
async function kernelIpvs(): Promise<{ available: boolean; how: string }> {
  if (existsSync('/proc/net/ip_vs')) return { available: true, how: 'ip_vs is loaded' };
  if (!(await commandExists('modprobe'))) {
    return { available: false, how: 'no /proc/net/ip_vs and no modprobe to load ip_vs' };
  }
  try {
    await sh('modprobe', ['-n', 'ip_vs']);
  } catch {
    return { available: false, how: 'this kernel has no ip_vs module (modprobe -n ip_vs fails)' };
  }
  try {
    await sh('modprobe', ['ip_vs']);
    return { available: existsSync('/proc/net/ip_vs'), how: 'loaded ip_vs with modprobe' };
  } catch (err) {
    return { available: false, how: `modprobe ip_vs failed: ${(err as Error).message}` };
  }
}

/** Does this halo build run the checker + IPVS part (it then offers `--ipvs dry-run`)? */
async function haloHasIpvsPart(): Promise<boolean> {
  try {
    const r = await execFileP(process.execPath, [HALO_MAIN, 'run', '--help']);
    return /--ipvs\b/.test(r.stdout.toString());
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls observations until `pred` holds; throws after `timeoutMs` with `what`. */
async function waitUntil(
  lab: Lab,
  what: string,
  timeoutMs: number,
  pred: (o: Observation) => boolean,
): Promise<Observation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const obs = await lab.observe();
    if (pred(obs)) return obs;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting until ${what}`);
    await sleep(100 * lab.slow);
  }
}

/** Starts both directors; falls back to --vrrp-only when the full mode does not come up. */
async function startDirectors(lab: Lab, print: (s: string) => void, timeoutMs: number): Promise<void> {
  for (const d of lab.directors) lab.startDirector(d);
  const upOrDead = () =>
    waitUntil(lab, 'both halo daemons answer `halo status`', timeoutMs, (o) =>
      o.directors.every((v) => v.state !== null || !v.running),
    );
  let obs = await upOrDead();
  if (obs.directors.some((v) => !v.running) && lab.mode !== 'vrrp-only') {
    print(`halo did not start in mode '${lab.mode}'; log tail:`);
    for (const d of lab.directors) for (const l of readLog(d.log).slice(-5)) print(`  ${d.name}: ${l}`);
    print('falling back to --vrrp-only');
    for (const d of lab.directors) await lab.stopDirector(d);
    lab.mode = 'vrrp-only';
    for (const d of lab.directors) lab.startDirector(d);
    obs = await upOrDead();
  }
  if (obs.directors.some((v) => !v.running)) {
    const tails = lab.directors.flatMap((d) =>
      readLog(d.log)
        .slice(-10)
        .map((l) => `  ${d.name}: ${l}`),
    );
    throw new Error(`halo did not start:\n${tails.join('\n')}`);
  }
}

/** The scripted scenario; returns the exit code. */
async function demo(lab: Lab, print: (s: string) => void, slow: number): Promise<number> {
  const [d1, d2] = lab.directors;
  print('== 1. waiting for the directors to elect a master');
  // Settled means the higher priority won: a director that starts first may be MASTER for a moment
  // until the other one's first advert preempts it.
  let obs = await waitUntil(
    lab,
    'the higher-priority director is MASTER and the other BACKUP',
    30_000 * slow,
    (o) => {
      const states = o.directors.map((v) => v.state).sort();
      const m = o.directors.find((v) => v.state === 'MASTER');
      return (
        states[0] === 'BACKUP' &&
        states[1] === 'MASTER' &&
        o.directors.every((v) => (v.priority ?? 0) <= (m?.priority ?? 0))
      );
    },
  );
  const first = lab.master(obs)!;
  const other = first === d1 ? d2 : d1;
  print(`${first.name} is MASTER (priority ${obs.directors[lab.directors.indexOf(first)].priority})`);
  obs = await waitUntil(lab, 'the client reaches the VIP', 20_000 * slow, (o) => lab.clientOk(o.client));
  if (obs.realServers.length > 0) {
    obs = await waitUntil(lab, 'all real servers are up', 20_000 * slow, (o) =>
      o.realServers.every((r) => r.up),
    );
  }
  for (const l of lab.render(obs)) print(l);
  const table = await lab.ipvsTable(first);
  if (table.length > 0) {
    print(
      lab.mode === 'ipvs' ? `IPVS table on ${first.name} (ipvsadm -Ln):` : `IPVS dry-run on ${first.name}:`,
    );
    for (const l of table) print(`  ${l}`);
  }

  print(`== 2. kill -9 halo on the master (${first.name})`);
  const killedAt = Date.now();
  await lab.crashDirector(first);
  obs = await waitUntil(lab, `${other.name} is MASTER`, 15_000 * slow, (o) => lab.master(o) === other);
  const takeoverMs = obs.at - killedAt;
  print(
    `${other.name} is MASTER: takeover ${(takeoverMs / 1000).toFixed(2)} s after the kill (${lab.slow > 1 ? 'advert_int 1 s: master-down interval ~3.6 s' : 'advert_int 0.2 s: VRRPv3 master-down interval ~0.7 s'})`,
  );
  const clientSince = Date.now();
  obs = await waitUntil(
    lab,
    'the client reaches the VIP through the new master',
    15_000 * slow,
    (o) => o.client !== null && o.client.at >= clientSince && lab.clientOk(o.client),
  );
  print(`client after the takeover: ${lab.clientText(obs.client)}`);
  for (const l of lab.render(obs)) print(l);

  const web2 = lab.webs[1];
  const withChecks = obs.realServers.length > 0;
  let eventsBeforeRestart = 0;
  if (withChecks) {
    print(`== 3. stop web2 (${web2.address}): the health checks take it out`);
    await lab.stopWeb(web2);
    const stoppedAt = Date.now();
    obs = await waitUntil(
      lab,
      'web2 is DOWN',
      20_000 * slow,
      (o) => o.realServers.find((r) => r.address === web2.address)?.up === false,
    );
    print(`web2 is DOWN ${((obs.at - stoppedAt) / 1000).toFixed(1)} s after it stopped`);
    eventsBeforeRestart = lab.events.length;
  }

  print(`== ${withChecks ? 4 : 3}. restart halo on ${first.name}: it has the higher priority and preempts`);
  const restartedAt = Date.now();
  lab.startDirector(first);
  obs = await waitUntil(
    lab,
    `${first.name} is MASTER again and ${other.name} BACKUP`,
    30_000 * slow,
    (o) => lab.master(o) === first && o.directors[lab.directors.indexOf(other)].state === 'BACKUP',
  );
  print(
    `${first.name} is MASTER again ${((obs.at - restartedAt) / 1000).toFixed(2)} s after its restart (halo start-up included)`,
  );

  if (withChecks) {
    // The restarted director reports web2 in its start-up state (up) until its first check: that must not
    // show as web2 coming back.
    const firstIdx = lab.directors.indexOf(first);
    obs = await waitUntil(lab, `${first.name} has checked web2`, 20_000 * slow, (o) =>
      o.realServers.some((r) => r.address === web2.address && r.checkedBy === firstIdx && r.up === false),
    );
    const flicker = lab.events.slice(eventsBeforeRestart).filter((l) => /real server web2 .* is UP/.test(l));
    if (flicker.length > 0) {
      print(`web2 showed UP while it was stopped: ${flicker.join(' | ')}`);
      return 1;
    }
    print(`web2 stayed DOWN while ${first.name} restarted`);
    print('== 5. start web2 again');
    lab.startWeb(web2);
    obs = await waitUntil(
      lab,
      'web2 is UP again',
      20_000 * slow,
      (o) => o.realServers.find((r) => r.address === web2.address)?.up === true,
    );
    print('web2 is UP again');
    const t = await lab.ipvsTable(first);
    if (lab.mode === 'ipvs' && t.length > 0) {
      print(`IPVS table on ${first.name} (ipvsadm -Ln):`);
      for (const l of t) print(`  ${l}`);
    }
  }
  obs = await waitUntil(lab, 'the client reaches the VIP', 15_000 * slow, (o) => lab.clientOk(o.client));
  for (const l of lab.render(obs)) print(l);
  print(
    `demo OK: takeover ${(takeoverMs / 1000).toFixed(2)} s, total ${((Date.now() - lab.startedAt) / 1000).toFixed(1)} s`,
  );
  return 0;
}

/** Interactive (TTY) or watching (no TTY, no --demo) until q / SIGINT / SIGTERM. */
async function live(lab: Lab, tty: boolean, stopped: Promise<void>): Promise<number> {
  let done = false;
  void stopped.then(() => {
    done = true;
  });
  let busy = false;
  const keyHelp = 'keys: k kill -9 the master   r restart stopped halo   w stop/start web2   q quit';
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (busy) return;
      busy = true;
      void (async () => {
        if (key === 'q' || key === '\u0003') done = true;
        else if (key === 'k') {
          const m = lab.directors.find(
            (_, i) => lastObs?.directors[i].running && lastObs.directors[i].state === 'MASTER',
          );
          if (m) await lab.crashDirector(m, lastObs?.directors[lab.directors.indexOf(m)].pid);
          else lab.event('no running MASTER to kill');
        } else if (key === 'r') {
          for (const d of lab.directors) {
            if (!d.child && !lastObs?.directors[lab.directors.indexOf(d)].running) {
              lab.startDirector(d);
              lab.event(`${d.name}: started halo (pid ${d.child!.pid})`);
            }
          }
        } else if (key === 'w') {
          const web2 = lab.webs[1];
          if (web2.child) {
            await lab.stopWeb(web2);
            lab.event('web2 stopped');
          } else {
            lab.startWeb(web2);
            lab.event(`web2 started (pid ${web2.child!.pid})`);
          }
        }
      })().finally(() => {
        busy = false;
      });
    });
  } else {
    lab.onEvent = (line) => process.stdout.write(`${line}\n`);
    for (const l of lab.commands()) process.stdout.write(`${l}\n`);
  }
  let lastObs: Observation | undefined;
  while (!done) {
    lastObs = await lab.observe();
    if (tty) {
      const screen = [
        ...lab.render(lastObs),
        '',
        ...lab.commands(lastObs),
        '',
        keyHelp,
        '',
        'events:',
        ...lab.events.slice(-10),
      ];
      process.stdout.write(`\x1b[H\x1b[2J${screen.join('\n')}\n`);
    }
    for (let i = 0; i < 10 && !done; i++) await sleep(100);
  }
  if (tty) {
    process.stdin.setRawMode(false);
    process.stdin.pause(); // else the open terminal keeps the process alive after cleanup
  }
  return 0;
}

async function runInVmMode(): Promise<number> {
  const vm = await import('../test/vm/vm.js');
  process.stdout.write('booting the IPVS VM (Debian kernel under qemu; the first run downloads it) ...\n');
  try {
    const r = await vm.runInVm(`cd ${REPO_ROOT} && node dist/lab/lab.js --demo --slow 8`, {
      timeoutMs: 900_000,
      cwd: REPO_ROOT,
      onOutput: (chunk) => process.stdout.write(chunk),
      log: (msg) => process.stderr.write(`vm: ${msg}\n`),
    });
    process.stdout.write(
      `\n(VM boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.totalMs / 1000).toFixed(1)} s)\n`,
    );
    return r.exitCode;
  } catch (err) {
    process.stderr.write(`lab --vm: ${(err as Error).message}\n`);
    return 1;
  }
}

const HELP = `usage: npm run lab [-- OPTIONS]     (node dist/lab/lab.js [OPTIONS], as root)

A demo network in namespaces: director1 10.88.0.11 and director2 10.88.0.12 run halo from
conf/lab-director.conf and share the VIP 10.88.0.100; web1..web3 (10.88.0.21-23) serve HTTP;
a client (10.88.0.50) probes the VIP every second.

  (none)      live view; with a terminal, keys k (kill -9 the master), r (restart), w (toggle web2), q
  --demo      scripted: kill the master, time the takeover, restart it, see it preempt; exit 0 or 1
  --vm        the scripted demo inside the IPVS VM (test/vm; real kernel IPVS, shows ipvsadm -Ln)
  --cleanup   remove namespaces (and what runs in them) left by a killed lab, test or benchmark
              (halolab-<pid>-*, whose owner <pid> is gone) and exit
  --keep-logs keep the temp dir with the halo logs on exit
  --slow N    multiply the demo's timeouts by N (slow machines, the VM)
  --bgp       the BGP lab instead: three active-active directors announce a VIP over BGP to an
              ECMP router (npm run lab -- --bgp --help)`;

export async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv);
  // The BGP lab (issue 16): three active-active directors behind an ECMP router, lab/bgp-lab.ts.
  if (flags.has('--bgp')) return (await import('./bgp-lab.js')).bgpMain(argv.filter((a) => a !== '--bgp'));
  if (flags.has('--help') || flags.has('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const slowIdx = argv.indexOf('--slow');
  const slow = slowIdx >= 0 ? Number(argv[slowIdx + 1]) || 1 : 1;
  const known = new Set(['--demo', '--vm', '--cleanup', '--keep-logs', '--slow']);
  const unknown = argv.filter((a, i) => !known.has(a) && !(i === slowIdx + 1 && slowIdx >= 0));
  if (unknown.length > 0) {
    process.stderr.write(`lab: unknown option ${unknown[0]}\n${HELP}\n`);
    return 2;
  }
  const print = (s: string) => process.stdout.write(`${s}\n`);

  const problems = await prerequisiteProblems();
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`lab: ${p}\n`);
    return 1;
  }
  if (flags.has('--cleanup')) {
    const { removed, inUse } = await removeLeftovers();
    print(
      removed.length
        ? `removed ${removed.join(' ')}`
        : 'nothing to clean up (no leftover halolab-* namespaces whose owner is gone)',
    );
    if (inUse.length) {
      print(`left alone (the lab, test or benchmark that made them still runs): ${inUse.join(' ')}`);
    }
    return 0;
  }
  if (flags.has('--vm')) return runInVmMode();

  const demoMode = flags.has('--demo');
  const tty = !demoMode && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const ipvs = await kernelIpvs();
  const hasIpvsPart = await haloHasIpvsPart();
  const mode: Mode = !hasIpvsPart ? 'vrrp-only' : ipvs.available ? 'ipvs' : 'ipvs-dry-run';
  print(`kernel IPVS: ${ipvs.available ? 'yes' : 'no'} (${ipvs.how})`);
  if (!ipvs.available)
    print(
      '  -> IPVS runs in dry-run: halo shows the table it would program; `npm run lab -- --vm` for the real thing',
    );

  const lab = new Lab(slow);
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    stopRequested = r;
  });
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= lab.cleanup(flags.has('--keep-logs'));
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    stopRequested();
    if (demoMode || !tty) {
      // The demo may be anywhere: clean up now and leave with the conventional code.
      void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Whatever goes wrong, do not leave namespaces and daemons behind.
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
    print(`setting up namespaces ${lab.net.nsName('*')} ...`);
    await lab.setup(mode, demoMode ? 250 * slow : 1000);
    print(
      `halo logs: ${lab.directors.map((d) => d.log).join('  ')}${flags.has('--keep-logs') ? '' : ' (removed on exit; --keep-logs keeps them)'}`,
    );
    if (demoMode) lab.onEvent = (line) => print(line);
    await startDirectors(lab, print, 20_000 * slow);
    print(`mode: ${MODE_TEXT[lab.mode]}`);
    code = demoMode ? await demo(lab, print, slow) : await live(lab, tty, stopped);
  } catch (err) {
    process.stderr.write(`lab FAILED: ${(err as Error).message}\n`);
    for (const d of lab.directors) {
      const tail = readLog(d.log).slice(-15);
      if (tail.length) process.stderr.write(`--- ${d.name} log (tail) ---\n${tail.join('\n')}\n`);
    }
    code = 1;
  } finally {
    print('cleaning up (stopping halo, removing namespaces) ...');
    await cleanup();
    print('done');
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
