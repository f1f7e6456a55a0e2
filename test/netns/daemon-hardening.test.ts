/**
 * Issue 12 against a live daemon in a namespace (VRRP MASTER with a VIP, a virtual server with TCP checks
 * against a web server in another namespace, dry-run IPVS):
 *
 *  - the abusive control-socket clients (a hundred idle connections, slowloris, an id nested 30,000
 *    deep, huge lines, clients that never read, half-closed writers, request floods, connection churn):
 *    `halo status` keeps answering throughout, VRRP does not move, and once they are gone the daemon's
 *    RSS is back within 10% of what it was before;
 *  - an uncaught error in the checker part (a test worker that throws on demand): the part is logged and
 *    restarted, VRRP keeps its state (no transition, the VIP stays), no real server flaps, no IPVS
 *    operation, and an operator's drain (`halo rs`) is still in force;
 *  - an uncaught exception in the main thread: logged, a graceful stop (VIP released), exit 1, no pid file
 *    and no socket left;
 *  - kill -9 leaves the pid file, the socket and the VIP behind: the next start takes the pid file over
 *    (also when its pid now belongs to something that is not halo), replaces the socket and removes the
 *    leftover VIP before it starts; a graceful stop then leaves nothing;
 *  - a start without CAP_NET_RAW fails and leaves no pid file and no socket.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, type Host, NetnsLab, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN, REPO_ROOT } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

const VIP = '10.68.0.100';
const CONFIG = `vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 1
  virtual_ipaddress {
    ${VIP}/24
  }
}

virtual_server ${VIP} 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 10.68.0.21 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.68.0.22 80 {
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
}
`;

interface LogLine {
  event?: string;
  msg: string;
  reason?: string;
  context?: string;
  op?: string;
}

interface Status {
  daemon: { parts?: { vrrp?: { restarts: number }; checks?: { restarts: number; down?: unknown } } };
  instances: { name: string; state: string; since: string }[];
  virtualServers: { realServers: { address: string; up: boolean; state: string; since: string }[] }[];
}

/** A daemon process and its parsed JSON log. */
class Running {
  readonly lines: LogLine[] = [];
  private buf = '';
  output = '';
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.output += d.toString();
      this.buf += d.toString();
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        try {
          this.lines.push(JSON.parse(this.buf.slice(0, nl)) as LogLine);
        } catch {
          // not a log line
        }
        this.buf = this.buf.slice(nl + 1);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
  }
  since(mark: number): LogLine[] {
    return this.lines.slice(mark);
  }
  async waitLog(pred: (l: LogLine) => boolean, ms: number, from = 0): Promise<void> {
    await waitFor(() => this.lines.slice(from).some(pred), ms).catch((err: Error) => {
      throw new Error(`${err.message}\n--- daemon output ---\n${this.output.slice(-4000)}`);
    });
  }
}

async function status(sock: string): Promise<Status> {
  const r = await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock, '--timeout', '5']);
  return JSON.parse(r.stdout) as Status;
}

async function addresses(lab: NetnsLab, host: Host): Promise<string[]> {
  const r = await lab.exec(host.ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', host.ifname]);
  return (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).flatMap((l) =>
    l.addr_info.map((a) => a.local),
  );
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Median of a few RSS samples a little apart (one sample catches GC in the middle of its work). */
async function steadyRssKb(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssKb(pid));
    await new Promise((r) => setTimeout(r, 200));
  }
  return samples.sort((a, b) => a - b)[2];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS once it stops moving (V8 gives start-up garbage back some seconds after start): within 1% twice. */
async function settledRssKb(pid: number): Promise<number> {
  let prev = await steadyRssKb(pid);
  for (let i = 0; i < 30; i++) {
    await sleep(1000);
    const cur = await steadyRssKb(pid);
    if (Math.abs(cur - prev) <= prev * 0.01) return cur;
    prev = cur;
  }
  return prev;
}

async function setup(lab: NetnsLab) {
  const director = await lab.addHost('dir', ['10.68.0.11/24']);
  const web = await lab.addHost('web', ['10.68.0.21/24', '10.68.0.22/24']);
  lab.spawn(web.ns, process.execPath, [
    '-e',
    `require('node:net').createServer((s) => s.end()).listen(80, '10.68.0.21')`,
  ]);
  return { director, web };
}

function startHalo(lab: NetnsLab, ns: string, conf: string, runDir: string, extra: string[] = []): Running {
  return new Running(
    lab.spawn(ns, process.execPath, [
      HALO_MAIN,
      'run',
      '--ipvs',
      'dry-run',
      '-f',
      conf,
      '--run-dir',
      runDir,
      ...extra,
    ]),
  );
}

describe('a live daemon under abuse and crashes (issue 12)', {
  skip: enabled ? false : 'needs root',
  concurrency: false,
}, () => {
  it('abusive control-socket clients: halo status keeps answering, VRRP does not move, RSS comes back', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-abuse-'));
    const clients: Socket[] = [];
    try {
      const { director } = await setup(lab);
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      const halo = startHalo(lab, director.ns, conf, dir);
      const sock = join(dir, 'halo.sock');
      await halo.waitLog((l) => l.event === 'vrrp.transition' && /MASTER/.test(l.msg), 20000);
      await waitFor(async () => (await status(sock)).virtualServers[0].realServers[0].up, 10000);
      const pid = Number(readFileSync(join(dir, 'halo.pid'), 'utf8'));
      // Warm the status path up (compiled code is resident too), let start-up garbage go, then take the
      // baseline once RSS has settled.
      const idleTook: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await status(sock);
        idleTook.push(Math.round(performance.now() - t0));
      }
      const before = await settledRssKb(pid);
      const mark = halo.lines.length;
      const since = (await status(sock)).instances[0].since;

      const open = (): Socket => {
        const s = connect(sock);
        s.on('error', () => undefined);
        clients.push(s);
        return s;
      };
      const abuse = async () => {
        for (let i = 0; i < 100; i++) open(); // idle connections, six times the table's 16
        for (let i = 0; i < 10; i++) {
          const s = open(); // slowloris
          const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('{')), 300);
          s.once('close', () => clearInterval(t));
        }
        for (let i = 0; i < 5; i++)
          open().write(`{"cmd":"status","id":${'['.repeat(30_000)}${']'.repeat(30_000)}}\n`);
        const mb = Buffer.alloc(1024 * 1024, 0x41);
        for (let i = 0; i < 5; i++) {
          const s = open();
          for (let k = 0; k < 10; k++) s.write(mb); // 10 MB lines
        }
        for (let i = 0; i < 5; i++) {
          const s = open(); // never reads its replies
          s.pause();
          s.write('{"cmd":"status"}\n'.repeat(50_000));
        }
        for (let i = 0; i < 5; i++) open().end('{"cmd":"status","id":1}'); // half-closed writer
        for (let i = 0; i < 10; i++) {
          const s = open(); // pipelined flood, reading
          s.on('data', () => undefined);
          s.write('{"cmd":"status"}\n'.repeat(2000));
        }
        for (let i = 0; i < 200; i++) {
          const s = connect(sock); // churn: connect and go
          s.on('error', () => undefined);
          s.once('connect', () => s.destroy());
          if (i % 50 === 0) await sleep(10);
        }
      };
      const abusing = abuse();
      // halo status answers while all that goes on (the CLI's own start-up is most of its time).
      const took: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const st = await status(sock);
        took.push(Math.round(performance.now() - t0));
        assert.equal(st.instances[0].state, 'MASTER');
        await sleep(300);
      }
      await abusing;
      process.stdout.write(
        `# halo status: ${idleTook.slice(-5).join(', ')} ms before, ${took.join(', ')} ms during the abuse\n`,
      );
      for (let i = 0; i < 5; i++) assert.equal((await status(sock)).instances[0].state, 'MASTER');
      for (const s of clients) s.destroy();
      clients.length = 0;

      // VRRP did not move, the VIP stayed, nothing was logged as a daemon error.
      assert.equal((await status(sock)).instances[0].since, since);
      assert.ok((await addresses(lab, director)).includes(VIP));
      assert.deepEqual(
        halo.since(mark).filter((l) => l.event === 'vrrp.transition' || l.event === 'daemon.error'),
        [],
      );
      // Memory: back within 10% once the clients are gone (V8 gives memory back when idle).
      let after = 0;
      await waitFor(
        async () => {
          after = await steadyRssKb(pid);
          return after <= before * 1.1;
        },
        30000,
        1000,
      ).catch(() => undefined);
      process.stdout.write(
        `# RSS before ${before} kB, after ${after} kB (${((after / before - 1) * 100).toFixed(1)}%)\n`,
      );
      assert.ok(after <= before * 1.1, `RSS ${after} kB after the abuse, ${before} kB before`);
    } finally {
      for (const s of clients) s.destroy();
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an uncaught error in the checker part: restarted and logged, VRRP keeps its state, no server flaps', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-iso-'));
    try {
      const { director } = await setup(lab);
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      const crashFile = join(dir, 'crash-lvs');
      const halo = new Running(
        lab.spawn(
          director.ns,
          process.execPath,
          [join(REPO_ROOT, 'dist/test/helpers/lvs-crash-daemon.js'), conf, dir],
          { env: { ...process.env, HALO_TEST_LVS_CRASH_FILE: crashFile } },
        ),
      );
      const sock = join(dir, 'halo.sock');
      await halo.waitLog((l) => l.event === 'vrrp.transition' && /MASTER/.test(l.msg), 20000);
      await halo.waitLog((l) => l.event === 'check.server_down', 15000); // .22: nothing listens
      await waitFor(async () => (await status(sock)).virtualServers[0].realServers[0].up, 10000);
      // An operator's drain, through the control socket into the part's worker.
      const drain = await sh(process.execPath, [
        HALO_MAIN,
        'rs',
        'drain',
        `${VIP}:80`,
        '10.68.0.21',
        '--socket',
        sock,
      ]);
      assert.match(drain.stdout, /drained/);
      const before = await status(sock);
      assert.equal(before.virtualServers[0].realServers[0].state, 'drained');
      for (let crash = 1; crash <= 2; crash++) {
        const mark = halo.lines.length;
        writeFileSync(crashFile, '');
        await halo.waitLog((l) => l.event === 'daemon.part_restarted', 15000, mark);
        await sleep(2500); // two check rounds after the restart
        const since = halo.since(mark);
        const error = since.findIndex(
          (l) => l.event === 'daemon.error' && l.context === 'lvs' && /checker bug/.test(l.msg),
        );
        assert.ok(error >= 0, 'the crash is logged');
        assert.ok(since.findIndex((l) => l.event === 'daemon.part_restart') > error, 'then the restart');
        assert.deepEqual(
          since
            .filter((l) => /^(vrrp\.transition|check\.server_|ipvs\.|rs\.)/.test(l.event ?? ''))
            .map((l) => l.msg),
          [],
          'VRRP did not move, no real server flapped, no IPVS operation',
        );
        const now = await status(sock);
        assert.deepEqual(now.daemon.parts, { vrrp: { restarts: 0 }, checks: { restarts: crash } });
        assert.deepEqual(now.instances, before.instances, 'VRRP kept its state');
        assert.deepEqual(
          now.virtualServers[0].realServers.map((r) => [r.address, r.up, r.state, r.since]),
          before.virtualServers[0].realServers.map((r) => [r.address, r.up, r.state, r.since]),
          'the real servers kept their state (and the drain)',
        );
        assert.ok((await addresses(lab, director)).includes(VIP), 'the VIP stayed');
      }
      const exited = new Promise<number | null>((r) => halo.child.once('exit', (c) => r(c)));
      halo.child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(!(await addresses(lab, director)).includes(VIP));
      assert.ok(
        halo.lines.some((l) => l.op === 'remove-service'),
        'the stop released the service',
      );
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an uncaught error in the main thread: logged, graceful stop, VIP released, no pid file or socket left', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-fatal-'));
    try {
      const { director } = await setup(lab);
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      const crashFile = join(dir, 'crash-main');
      const halo = new Running(
        lab.spawn(
          director.ns,
          process.execPath,
          [
            join(REPO_ROOT, 'dist/test/helpers/main-crash-daemon.js'),
            '--vrrp-only',
            '-f',
            conf,
            '--run-dir',
            dir,
          ],
          { env: { ...process.env, HALO_TEST_MAIN_CRASH_FILE: crashFile } },
        ),
      );
      await halo.waitLog((l) => l.event === 'vrrp.transition' && /MASTER/.test(l.msg), 20000);
      assert.ok((await addresses(lab, director)).includes(VIP));
      const exited = new Promise<number | null>((r) => halo.child.once('exit', (c) => r(c)));
      writeFileSync(crashFile, '');
      assert.equal(await exited, 1);
      assert.ok(
        halo.lines.some(
          (l) => l.event === 'daemon.error' && l.context === 'fatal' && /supervisor bug/.test(l.msg),
        ),
      );
      assert.ok(halo.lines.some((l) => l.event === 'daemon.stop' && l.reason === 'fatal error'));
      assert.ok(!(await addresses(lab, director)).includes(VIP), 'the VIP was released');
      assert.ok(
        !existsSync(join(dir, 'halo.pid')) && !existsSync(join(dir, 'halo.sock')),
        'nothing left behind',
      );
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after kill -9 the next start takes over the pid file and socket and removes the leftover VIP', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-kill9-'));
    let sleeper: ChildProcess | undefined;
    try {
      const { director } = await setup(lab);
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      const pidFile = join(dir, 'halo.pid');
      const sock = join(dir, 'halo.sock');

      let halo = startHalo(lab, director.ns, conf, dir, ['--vrrp-only']);
      await halo.waitLog((l) => l.event === 'vrrp.transition' && /MASTER/.test(l.msg), 20000);
      for (const round of ['dead', 'not-halo'] as const) {
        const oldPid = Number(readFileSync(pidFile, 'utf8'));
        await lab.kill(halo.child, 'SIGKILL');
        assert.ok(existsSync(pidFile) && statSync(sock).isSocket(), 'kill -9 left the pid file and socket');
        assert.ok((await addresses(lab, director)).includes(VIP), 'and the VIP');
        let holder = oldPid;
        if (round === 'not-halo') {
          // The pid now belongs to something else (as after a reboot or pid reuse).
          sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
          holder = sleeper.pid!;
          writeFileSync(pidFile, `${holder}\n`);
        }
        halo = startHalo(lab, director.ns, conf, dir, ['--vrrp-only']);
        await halo.waitLog((l) => l.event === 'daemon.stale_pid_file', 15000);
        const stale = halo.lines.find((l) => l.event === 'daemon.stale_pid_file');
        assert.equal(stale?.reason, round);
        assert.match(
          stale?.msg ?? '',
          new RegExp(`took over stale pid file .*pid ${holder} is ${round === 'dead' ? 'gone' : 'not halo'}`),
        );
        await halo.waitLog((l) => /removing leftover VIPs 10\.68\.0\.100 from eth0/.test(l.msg), 15000);
        await halo.waitLog((l) => l.event === 'vrrp.transition' && /MASTER/.test(l.msg), 20000);
        assert.equal((await status(sock)).instances[0].state, 'MASTER');
        assert.equal(Number(readFileSync(pidFile, 'utf8')), halo.child.pid);
      }
      const exited = new Promise<number | null>((r) => halo.child.once('exit', (c) => r(c)));
      halo.child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(!existsSync(pidFile) && !existsSync(sock), 'a graceful stop leaves nothing');
      assert.ok(!(await addresses(lab, director)).includes(VIP));
    } finally {
      sleeper?.kill('SIGKILL');
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a start without CAP_NET_RAW is refused with a clear message and leaves no pid file and no socket', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-nocap-'));
    try {
      const { director } = await setup(lab);
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      for (let i = 0; i < 3; i++) {
        const run = join(dir, `run${i}`);
        const r = await lab.exec(
          director.ns,
          'setpriv',
          [
            '--inh-caps=-net_raw',
            '--bounding-set=-net_raw',
            process.execPath,
            HALO_MAIN,
            'run',
            '--vrrp-only',
            '-f',
            conf,
            '--run-dir',
            run,
          ],
          { allowFail: true },
        );
        assert.match(
          r.stderr,
          /halo run: this process lacks CAP_NET_RAW \(the raw sockets that send and receive VRRP adverts\)/,
        );
        assert.ok(!existsSync(join(run, 'halo.pid')), `no pid file (attempt ${i + 1})`);
        assert.ok(!existsSync(join(run, 'halo.sock')), `no socket (attempt ${i + 1})`);
      }
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
