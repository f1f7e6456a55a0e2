/**
 * `halo rs drain` against the real kernel IPVS (runs only inside the VM lane: `npm run test:vm -- rs-drain`).
 *
 * The director (halo and its IPVS table) lives in a namespace between this process, the client, and a
 * namespace of two real servers (NAT). A connection opened through the VIP stays open while its real server
 * is drained: ipvsadm (the oracle) shows that destination at weight 0 with ActiveConn 1, the open connection
 * still carries data, every new connection goes to the other real server, and `halo status` shows the
 * counts halo read over generic netlink. Disabling it then removes the destination, and the answer says
 * how many connections that broke.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const execFileP = promisify(execFile);
const skip = process.env.HALO_IN_VM ? false : 'IPVS kernel test: runs inside the VM (npm run test:vm)';

const DIR_NS = 'halors-dir';
const RS_NS = 'halors-rs';
const VIP = '10.79.0.100';
const RS1 = '10.79.1.21';
const RS2 = '10.79.1.22';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** The director's IPVS table per ipvsadm -Ln (parsed here, not by src/ipvs): dest -> weight and counts. */
async function kernelDests(): Promise<Map<string, { weight: number; active: number; inactive: number }>> {
  const out = (await execFileP('ip', ['netns', 'exec', DIR_NS, 'ipvsadm', '-Ln'])).stdout;
  const m = new Map<string, { weight: number; active: number; inactive: number }>();
  for (const l of out.split('\n')) {
    const x = /^\s+->\s+(\S+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(l);
    if (x) m.set(x[1], { weight: Number(x[2]), active: Number(x[3]), inactive: Number(x[4]) });
  }
  return m;
}

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
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Greets each connection with the real server's address, then echoes. */
const ECHO_SERVER = `
const net = require('node:net');
for (const a of ${JSON.stringify([RS1, RS2])})
  net.createServer((c) => { c.on('error', () => {}); c.write('hello from ' + a + '\\n'); c.pipe(c); }).listen(80, a);
console.log('listening');`;

/** A client connection through the VIP: which real server it reached, and a way to talk over it. */
interface Conn {
  socket: Socket;
  server: string;
  lines: string[];
}

function open(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect(80, VIP);
    const lines: string[] = [];
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no greeting through the VIP within 20 s')), 20_000);
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      const hello = /^hello from (\S+)$/.exec(lines[0] ?? '');
      if (hello) {
        clearTimeout(timer);
        resolve({ socket, server: hello[1], lines });
      }
    });
  });
}

describe('halo rs drain with kernel IPVS (VM)', { skip }, () => {
  before(() => {
    ip('netns', 'add', DIR_NS);
    ip('netns', 'add', RS_NS);
    // this process (client) -- hrs0 | eth0 [director, VIP] eth1 -- eth0 [real servers]
    ip('link', 'add', 'hrs0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', DIR_NS);
    ip('addr', 'add', '10.79.0.2/24', 'dev', 'hrs0');
    ip('link', 'set', 'hrs0', 'up');
    ip('-n', DIR_NS, 'addr', 'add', '10.79.0.1/24', 'dev', 'eth0');
    ip('-n', DIR_NS, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0');
    ip('-n', DIR_NS, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', RS_NS);
    ip('-n', DIR_NS, 'addr', 'add', '10.79.1.1/24', 'dev', 'eth1');
    for (const l of ['lo', 'eth0', 'eth1']) ip('-n', DIR_NS, 'link', 'set', l, 'up');
    ip('-n', RS_NS, 'addr', 'add', `${RS1}/24`, 'dev', 'eth0');
    ip('-n', RS_NS, 'addr', 'add', `${RS2}/24`, 'dev', 'eth0');
    for (const l of ['lo', 'eth0']) ip('-n', RS_NS, 'link', 'set', l, 'up');
    ip('-n', RS_NS, 'route', 'add', 'default', 'via', '10.79.1.1');
    // NAT: the real servers' replies cross the director, which forwards them (in its own namespace only).
    spawnSync('ip', ['netns', 'exec', DIR_NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  });
  after(() => {
    spawnSync('ip', ['link', 'del', 'hrs0']);
    spawnSync('ip', ['netns', 'del', DIR_NS]);
    spawnSync('ip', ['netns', 'del', RS_NS]);
  });

  it('an open connection stays on the drained real server; new ones go to the other', {
    timeout: 170_000,
  }, async () => {
    const dir = mkdtempSync('/tmp/halo-rs-drain-');
    const conf = join(dir, 'keepalived.conf');
    const sock = join(dir, 'halo.sock');
    const children: ChildProcess[] = [];
    const conns: Socket[] = [];
    const t0 = Date.now();
    const took = (what: string) => console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    let stderr = '';
    try {
      const servers = spawn('ip', ['netns', 'exec', RS_NS, process.execPath, '-e', ECHO_SERVER]);
      children.push(servers);
      await new Promise<void>((resolve) =>
        servers.stdout?.on('data', (d: Buffer) => d.includes('listening') && resolve()),
      );
      writeFileSync(
        conf,
        `virtual_server ${VIP} 80 {
  delay_loop 2
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server ${RS1} 80 {
    TCP_CHECK {
      connect_timeout 3
    }
  }
  real_server ${RS2} 80 {
    TCP_CHECK {
      connect_timeout 3
    }
  }
}
`,
      );
      const halo = spawn(
        'ip',
        [
          'netns',
          'exec',
          DIR_NS,
          process.execPath,
          HALO_MAIN,
          'run',
          '--check-only',
          '-f',
          conf,
          '--run-dir',
          dir,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(halo);
      halo.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      await waitFor('both real servers in the kernel', async () => (await kernelDests()).size === 2, 120_000);
      took('halo programmed both real servers');

      // A long-lived connection through the VIP; drain the real server it reached.
      const held = await open();
      conns.push(held.socket);
      const target = held.server;
      const other = target === RS1 ? RS2 : RS1;
      const r = await execFileP(process.execPath, [
        HALO_MAIN,
        'rs',
        'drain',
        `${VIP}:80`,
        target,
        '--socket',
        sock,
      ]);
      assert.match(r.stdout, /drained by the operator/);
      assert.match(r.stdout, /^IPVS connections now: 1 active, 0 inactive/m, r.stdout);
      took('drained');

      // ipvsadm: weight 0, the held connection still counted active there.
      const k = await kernelDests();
      assert.deepEqual(k.get(`${target}:80`), { weight: 0, active: 1, inactive: 0 });
      assert.equal(k.get(`${other}:80`)?.weight, 1);

      // The held connection still works.
      held.socket.write('still here\n');
      await waitFor('the echo over the held connection', () => held.lines.includes('still here'), 10_000);

      // New connections go elsewhere.
      for (let i = 0; i < 3; i++) {
        const c = await open();
        conns.push(c.socket);
        assert.equal(c.server, other, `new connection ${i} went to ${c.server}`);
      }
      took('new connections checked');

      // halo status: the counts it read from the kernel over generic netlink.
      const doc = JSON.parse(
        (await execFileP(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock])).stdout,
      ) as {
        virtualServers: {
          realServers: {
            address: string;
            state: string;
            override?: { kind: string; connections?: { active: number } };
          }[];
        }[];
      };
      const rs = doc.virtualServers[0].realServers.find((x) => x.address === target);
      assert.equal(rs?.state, 'drained');
      assert.equal(rs?.override?.kind, 'drain');
      assert.equal(rs?.override?.connections?.active, 1);
      const text = (await execFileP(process.execPath, [HALO_MAIN, 'status', '--socket', sock])).stdout;
      assert.match(
        text,
        new RegExp(
          `\\* ${target.replace(/\./g, '\\.')}:80 DRAINED .*; IPVS connections: 1 active, \\d+ inactive`,
        ),
      );
      took('status checked');

      // disable: out of the kernel, and the answer says how many connections that broke.
      const d = await execFileP(process.execPath, [
        HALO_MAIN,
        'rs',
        'disable',
        `${VIP}:80`,
        target,
        '--socket',
        sock,
      ]);
      assert.match(
        d.stdout,
        /disabled by the operator \(out of IPVS\) \(not in IPVS\); it had 1 active and \d+ inactive connection\(s\), which IPVS no longer serves/,
      );
      assert.deepEqual([...(await kernelDests()).keys()], [`${other}:80`]);
      took('disabled');

      halo.kill('SIGTERM');
      await new Promise((resolve) => halo.once('exit', resolve));
    } catch (err) {
      throw new Error(`${(err as Error).stack}\nhalo stderr: ${stderr.slice(-2000)}`);
    } finally {
      for (const c of conns) c.destroy();
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
