/**
 * `halo run --check-only --ipvs kernel` against the real kernel IPVS (runs only inside the VM lane:
 * `npm run test:vm -- daemon-ipvs`). ipvsadm is the independent oracle throughout:
 * the configured service appears with its weights, a dead real server leaves the table, `ipvsadm -C` is
 * repaired within a drift interval, SIGHUP with a changed weight edits that destination in place, `halo
 * status` tells the truth, the sync daemon and timeouts from global_defs are in the kernel, and SIGTERM
 * removes halo's service (and stops the sync daemon) while a foreign service stays.
 *
 * The real servers are node http servers in this process, on addresses of a veth link made for the test
 * (spawning extra node processes costs seconds each under qemu TCG).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const execFileP = promisify(execFile);
const skip = process.env.HALO_IN_VM ? false : 'IPVS kernel test: runs inside the VM (npm run test:vm)';

const LINK = 'hvdm0';
const VIP = '10.77.0.100';
const RS1 = '10.77.0.21';
const RS2 = '10.77.0.22';
const FOREIGN = '10.77.9.9:8080';

async function ipvsadm(...args: string[]): Promise<string> {
  return (await execFileP('ipvsadm', args)).stdout.toString();
}

/** `ipvsadm -Sn` destinations of one service: address:port -> weight (parsed here, not by src/ipvs). */
async function kernelDests(service: string): Promise<Map<string, number> | undefined> {
  const lines = (await ipvsadm('-Sn')).split('\n');
  if (!lines.some((l) => /^-A -t (\S+)/.exec(l)?.[1] === service)) return undefined;
  const out = new Map<string, number>();
  for (const l of lines) {
    const m = /^-a -t (\S+) -r (\S+) \S+ -w (\d+)/.exec(l);
    if (m && m[1] === service) out.set(m[2], Number(m[3]));
  }
  return out;
}

function config(weight1: number): string {
  return `global_defs {
  router_id halo-vm
  lvs_sync_daemon ${LINK} id 9
  lvs_timeouts tcp 1000 tcpfin 100 udp 200
}
virtual_server ${VIP} 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  real_server ${RS1} 80 {
    weight ${weight1}
    HTTP_GET {
      url {
        path /
        status_code 200
      }
      connect_timeout 2
      retry 1
      delay_before_retry 1
    }
  }
  real_server ${RS2} 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 2
      retry 1
      delay_before_retry 1
    }
  }
}
`;
}

interface LogLine {
  event?: string;
  op?: string;
  dest?: string;
  msg: string;
}

/** Polls (slowly: every ipvsadm is a process spawn under TCG) until fn returns something truthy. */
async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${last ?? ''}`);
    await new Promise((r) => setTimeout(r, 400));
  }
}

interface HaloProcess {
  proc: ChildProcess;
  lines: LogLine[];
  exited: Promise<number | null>;
  /** stderr and the last log lines, for failure messages */
  why(): string;
}

function startHalo(conf: string, dir: string): HaloProcess {
  const proc = spawn(
    process.execPath,
    [HALO_MAIN, 'run', '--check-only', '--ipvs', 'kernel', '-f', conf, '--run-dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: LogLine[] = [];
  let stderr = '';
  let buf = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)) as LogLine);
      } catch {
        // not a log line
      }
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const why = () =>
    `halo stderr: ${stderr.slice(-2000)}\nlog tail: ${lines
      .slice(-10)
      .map((l) => l.msg)
      .join(' | ')}`;
  return { proc, lines, exited, why };
}

function httpServer(address: string): Promise<Server> {
  const s = createServer((_q, r) => r.end('hello'));
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(80, address, () => resolve(s));
  });
}

function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

describe('halo run --check-only --ipvs kernel (VM)', { skip }, () => {
  let savedTimeouts: string[] = [];
  before(async () => {
    await ipvsadm('-C');
    const t = /Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)/.exec(await ipvsadm('-L', '--timeout'));
    savedTimeouts = t ? [t[1], t[2], t[3]] : [];
    spawnSync('ip', ['link', 'add', LINK, 'type', 'veth', 'peer', 'name', 'hvdm1']);
    for (const l of [LINK, 'hvdm1']) spawnSync('ip', ['link', 'set', l, 'up']);
    for (const a of [RS1, RS2]) spawnSync('ip', ['addr', 'add', `${a}/24`, 'dev', LINK]);
  });
  after(async () => {
    await ipvsadm('-C');
    spawnSync('ipvsadm', ['--stop-daemon', 'master']);
    if (savedTimeouts.length) await ipvsadm('--set', ...savedTimeouts);
    spawnSync('ip', ['link', 'del', LINK]);
  });

  it('programs, repairs, reloads in place, reports and releases', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync('/tmp/halo-daemon-ipvs-');
    const conf = join(dir, 'keepalived.conf');
    const sock = join(dir, 'halo.sock');
    const service = `${VIP}:80`;
    let halo: ChildProcess | undefined;
    const servers = new Map<string, Server>();
    const t0 = Date.now();
    const took = (what: string) => console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    try {
      servers.set(RS1, await httpServer(RS1));
      servers.set(RS2, await httpServer(RS2));
      // A service halo never configured: it must survive everything below.
      await ipvsadm('-A', '-t', FOREIGN, '-s', 'rr');
      await ipvsadm('-a', '-t', FOREIGN, '-r', '10.77.9.10:8080', '-m', '-w', '4');

      writeFileSync(conf, config(3));
      const h = startHalo(conf, dir);
      halo = h.proc;
      const { lines, exited, why } = h;
      const events = (since: number, name: string) => lines.slice(since).filter((l) => l.event === name);
      const status = async () =>
        JSON.parse(
          (await execFileP(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock])).stdout,
        ) as {
          virtualServers: {
            name: string;
            realServers: { address: string; up: boolean; weight: number }[];
          }[];
          ipvs: { driftRepairs: number };
        };
      // (a) Both real servers pass their checks and are in the kernel with the configured weights.
      await waitFor(
        'both real servers in the kernel',
        async () => (await kernelDests(service))?.size === 2,
        240_000,
      ).catch((e) => assert.fail(`${e}\n${why()}`));
      took('start: service and both real servers in the kernel');
      assert.deepEqual(
        await kernelDests(service),
        new Map([
          [`${RS1}:80`, 3],
          [`${RS2}:80`, 2],
        ]),
      );
      const esc = (x: string) => x.replace(/\./g, '\\.');
      const saved = await ipvsadm('-Sn');
      for (const [rs, w] of [
        [RS1, 3],
        [RS2, 2],
      ])
        assert.match(
          saved,
          new RegExp(`^-a -t ${esc(service)} -r ${esc(String(rs))}:80 -m -w ${w}$`, 'm'),
          'NAT',
        );
      assert.match(await ipvsadm('-Ln'), new RegExp(`^TCP {2}${esc(VIP)}:80 wrr`, 'm'));
      // global_defs: the sync daemon runs as master (no VRRP with --check-only) and the timeouts are set.
      assert.match(
        await ipvsadm('-L', '--daemon'),
        new RegExp(`master sync daemon \\(mcast=${LINK}, syncid=9`),
      );
      assert.match(await ipvsadm('-L', '--timeout'), /Timeout \(tcp tcpfin udp\): 1000 100 200/);

      // (b) RS2 dies: its TCP check fails and it leaves the kernel table.
      await closeServer(servers.get(RS2) as Server);
      await waitFor(
        'RS2 out of the kernel',
        async () => !(await kernelDests(service))?.has(`${RS2}:80`),
        60_000,
      );
      took('dead real server removed');
      assert.equal((await kernelDests(service))?.get(`${RS1}:80`), 3);
      // It comes back: the checker puts it back (so that the reload below has two live destinations).
      servers.set(RS2, await httpServer(RS2));
      await waitFor('RS2 back in the kernel', async () => (await kernelDests(service))?.size === 2, 60_000);
      took('revived real server back');

      // (c) Someone flushes the table: halo repairs it within about one drift interval (5 s) and says so.
      let mark = lines.length;
      await ipvsadm('-C');
      const flushedAt = Date.now();
      await waitFor('drift repaired', async () => (await kernelDests(service))?.size === 2, 30_000);
      took(`drift repaired ${((Date.now() - flushedAt) / 1000).toFixed(1)} s after ipvsadm -C`);
      await waitFor('drift logged', () => events(mark, 'ipvs.drift').length > 0, 10_000);
      assert.ok(events(mark, 'ipvs.drift_repaired').some((l) => l.op === 'add-service'));
      assert.deepEqual(
        await kernelDests(service),
        new Map([
          [`${RS1}:80`, 3],
          [`${RS2}:80`, 2],
        ]),
      );
      // ipvsadm -C took the foreign service too: put it back for (f).
      await ipvsadm('-A', '-t', FOREIGN, '-s', 'rr');
      await ipvsadm('-a', '-t', FOREIGN, '-r', '10.77.9.10:8080', '-m', '-w', '4');

      // (d) SIGHUP with RS1's weight changed: one in-place edit, RS2 untouched, nothing removed or re-added.
      mark = lines.length;
      writeFileSync(conf, config(5));
      halo.kill('SIGHUP');
      await waitFor('reload', () => events(mark, 'config.reloaded').length > 0, 60_000);
      await waitFor('RS1 weight 5', async () => (await kernelDests(service))?.get(`${RS1}:80`) === 5, 30_000);
      took('reload applied');
      await new Promise((r) => setTimeout(r, 3000)); // a few check rounds: no late flap either
      const reloadOps = events(mark, 'ipvs.change');
      assert.deepEqual(
        reloadOps.map((l) => l.op),
        ['update-dest'],
        `reload ops: ${reloadOps.map((l) => l.msg).join(' | ')}`,
      );
      assert.match(reloadOps[0].dest ?? '', /10\.77\.0\.21/);
      assert.deepEqual(
        await kernelDests(service),
        new Map([
          [`${RS1}:80`, 5],
          [`${RS2}:80`, 2],
        ]),
      );

      // (e) halo status: the virtual server with both real servers; RS2 down after it dies again.
      await closeServer(servers.get(RS2) as Server);
      await waitFor('RS2 out again', async () => !(await kernelDests(service))?.has(`${RS2}:80`), 60_000);
      const st = await status();
      assert.equal(st.virtualServers.length, 1);
      assert.match(st.virtualServers[0].name, /10\.77\.0\.100/);
      const byAddr = new Map(st.virtualServers[0].realServers.map((r) => [r.address, r]));
      assert.equal(byAddr.get(RS1)?.up, true);
      assert.equal(byAddr.get(RS1)?.weight, 5);
      assert.equal(byAddr.get(RS2)?.up, false);
      assert.ok(st.ipvs.driftRepairs >= 1, 'status counts the drift repair');
      took('status checked');
      // halo ipvs list takes health (and the config file) from the daemon, not start-up health from -f.
      const list = JSON.parse(
        (await execFileP(process.execPath, [HALO_MAIN, 'ipvs', 'list', '--json', '--socket', sock])).stdout,
      ) as {
        healthSource?: { from: string };
        services: { key: string; owned?: boolean }[];
        realServers?: { realServer: string; inKernel: boolean; reason: string }[];
      };
      assert.equal(list.healthSource?.from, 'daemon');
      assert.equal(list.services.find((x) => x.key.includes(VIP))?.owned, true);
      assert.equal(list.services.find((x) => x.key.includes('10.77.9.9'))?.owned, false);
      const rs2 = list.realServers?.find((r) => r.realServer.startsWith(RS2));
      assert.equal(rs2?.inKernel, false, JSON.stringify(list.realServers));
      assert.match(rs2?.reason ?? '', /checker failed \(daemon: last check failed: /);
      assert.equal(list.realServers?.find((r) => r.realServer.startsWith(RS1))?.inKernel, true);
      took('ipvs list checked');

      // (f) SIGTERM: halo's service leaves the kernel, the foreign one stays, the sync daemon stops.
      halo.kill('SIGTERM');
      assert.equal(await exited, 0, why());
      halo = undefined;
      took('stopped');
      assert.equal(await kernelDests(service), undefined, 'halo released its service');
      assert.deepEqual(await kernelDests(FOREIGN), new Map([['10.77.9.10:8080', 4]]));
      assert.doesNotMatch(await ipvsadm('-L', '--daemon'), /sync daemon/);
    } finally {
      halo?.kill('SIGKILL');
      for (const s of servers.values()) if (s.listening) await closeServer(s);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lvs_flush at start, lvs_flush_on_stop RS, a sync daemon naming a VRRP instance', {
    timeout: 300_000,
  }, async () => {
    const dir = mkdtempSync('/tmp/halo-daemon-flush-');
    const conf = join(dir, 'keepalived.conf');
    const service = `${VIP}:80`;
    let halo: HaloProcess | undefined;
    const server = await httpServer(RS1);
    try {
      await ipvsadm('-C');
      // Left over from "an earlier run": lvs_flush removes it before halo programs anything.
      await ipvsadm('-A', '-t', FOREIGN, '-s', 'rr');
      writeFileSync(
        conf,
        `global_defs {
  lvs_flush
  lvs_flush_on_stop RS
  lvs_sync_daemon ${LINK} VI_1 id 4
}
virtual_server ${VIP} 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server ${RS1} 80 {
    weight 7
    TCP_CHECK {
      connect_timeout 2
    }
  }
}
`,
      );
      halo = startHalo(conf, dir);
      const h = halo;
      await waitFor('RS1 in the kernel', async () => (await kernelDests(service))?.size === 1, 240_000).catch(
        (e) => assert.fail(`${e}\n${h.why()}`),
      );
      assert.equal(await kernelDests(FOREIGN), undefined, 'lvs_flush removed what was there before');
      assert.match(await ipvsadm('-Sn'), new RegExp(`-r ${RS1.replace(/\./g, '\\.')}:80 -g -w 7`));
      // No VRRP with --check-only: nothing to follow, so master even though an instance is named.
      assert.match(
        await ipvsadm('-L', '--daemon'),
        new RegExp(`master sync daemon \\(mcast=${LINK}, syncid=4`),
      );
      // Added while halo runs: lvs_flush_on_stop RS removes only halo's real servers.
      await ipvsadm('-A', '-t', FOREIGN, '-s', 'rr');
      await ipvsadm('-a', '-t', FOREIGN, '-r', '10.77.9.10:8080', '-m', '-w', '4');
      halo.proc.kill('SIGTERM');
      assert.equal(await halo.exited, 0, halo.why());
      halo = undefined;
      assert.deepEqual(await kernelDests(service), new Map(), "halo's service stays, without real servers");
      assert.deepEqual(await kernelDests(FOREIGN), new Map([['10.77.9.10:8080', 4]]));
      assert.doesNotMatch(await ipvsadm('-L', '--daemon'), /sync daemon/);
    } finally {
      halo?.proc.kill('SIGKILL');
      await closeServer(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
