/**
 * `halo rs` against the daemon as an operator runs it: `halo run --check-only --ipvs dry-run` in a namespace
 * checking real TCP servers in another, and a client in a third holding a long-lived TCP connection to a
 * real server. Draining that server puts weight 0 in the (dry-run) table, `halo status` shows it drained
 * with who asked, and the open connection keeps working; disable takes the other out; both survive SIGHUP
 * and a restart (the restarted daemon's first table already has them); enable puts them back under their
 * checks. The kernel table and connection counts under real IPVS are the VM lane's (test/vm/rs-drain).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { canUseNetns, NetnsLab, waitFor } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const execFileP = promisify(execFile);
const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

const VIP = '10.67.0.100';
const RS1 = '10.67.0.21';
const RS2 = '10.67.0.22';

const CONFIG = `virtual_server ${VIP} 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind DR
  protocol TCP
  real_server ${RS1} 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server ${RS2} 80 {
    weight 3
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`;

/** Greets each connection with the address it reached, then echoes lines: a real server to talk to. */
const ECHO_SERVER = `
const net = require('node:net');
for (const a of ${JSON.stringify([RS1, RS2])})
  net.createServer((c) => { c.on('error', () => {}); c.write('hello from ' + a + '\\n'); c.pipe(c); }).listen(80, a);
console.log('listening');`;

/** Holds one connection open; each stdin line goes out, each line that comes back is printed. */
const CLIENT = `
const c = require('node:net').connect(80, process.argv[1]);
c.setEncoding('utf8');
c.on('data', (d) => process.stdout.write(d));
c.on('close', () => { console.log('CLOSED'); process.exit(0); });
c.on('error', (e) => console.log('ERROR ' + e.message));
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => c.write(d));`;

interface LogLine {
  event?: string;
  op?: string;
  dest?: string;
  weight?: number;
  msg: string;
  action?: string;
  origin?: { uid?: number; pid?: number; user?: string; via?: string };
}

interface RsStatus {
  address: string;
  up: boolean;
  state?: string;
  effectiveWeight?: number;
  override?: {
    kind: string;
    since: string;
    origin: { via: string; uid?: number; pid?: number; user?: string; at: string };
    connections?: unknown;
    connectionsNote?: string;
  };
}

function lineReader(child: ChildProcess, onLine: (line: string) => void): void {
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

describe('halo rs: runtime real server control (checks + dry-run IPVS)', {
  skip: enabled ? false : 'needs root',
}, () => {
  it('drain keeps an open connection working; overrides survive SIGHUP and a restart; enable undoes them', {
    timeout: 120_000,
  }, async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-rs-'));
    try {
      const director = await lab.addHost('dir', ['10.67.0.11/24']);
      const web = await lab.addHost('web', [`${RS1}/24`, `${RS2}/24`]);
      const client = await lab.addHost('cl', ['10.67.0.31/24']);
      const servers = lab.spawn(web.ns, process.execPath, ['-e', ECHO_SERVER]);
      const ready = new Promise<void>((resolve) =>
        lineReader(servers, (l) => l === 'listening' && resolve()),
      );
      await ready;

      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, CONFIG);
      const sock = join(dir, 'halo.sock');
      const lines: LogLine[] = [];
      const startHalo = () => {
        const p = lab.spawn(director.ns, process.execPath, [
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
        lineReader(p, (l) => {
          try {
            lines.push(JSON.parse(l) as LogLine);
          } catch {
            // not a log line
          }
        });
        return p;
      };
      const ops = (since: number) => lines.slice(since).filter((l) => l.event === 'ipvs.change');
      const halo = (args: string[], env: NodeJS.ProcessEnv = {}) =>
        execFileP(process.execPath, [HALO_MAIN, ...args, '--socket', sock], {
          env: { ...process.env, ...env },
        }).then(
          (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
          (e: { code?: number; stdout?: string; stderr?: string }) => ({
            code: e.code ?? -1,
            stdout: e.stdout ?? '',
            stderr: e.stderr ?? '',
          }),
        );
      const realServers = async () => {
        const doc = JSON.parse((await halo(['status', '--json'])).stdout) as {
          virtualServers: { realServers: RsStatus[] }[];
        };
        return new Map(doc.virtualServers[0].realServers.map((r) => [r.address, r]));
      };

      let daemon = startHalo();
      await waitFor(() => ops(0).filter((l) => l.op === 'add-dest').length === 2, 20_000);
      await waitFor(async () => [...(await realServers()).values()].every((r) => r.up), 10_000);

      // A client holds a connection to RS1, through the namespaces' network.
      const conn = lab.spawn(client.ns, process.execPath, ['-e', CLIENT, RS1]);
      const said: string[] = [];
      lineReader(conn, (l) => said.push(l));
      const roundTrip = async (text: string) => {
        conn.stdin?.write(`${text}\n`);
        await waitFor(() => said.includes(text), 5000);
      };
      await waitFor(() => said.includes(`hello from ${RS1}`), 5000);
      await roundTrip('before the drain');

      // Drain RS1: weight 0 in the table at once, one edit, with who asked.
      let mark = lines.length;
      const drained = await halo(['rs', 'drain', `${VIP}:80`, RS1], { SUDO_USER: 'alice' });
      assert.equal(drained.code, 0, drained.stderr);
      assert.match(
        drained.stdout,
        /^\[10\.67\.0\.21\]:tcp:80 in VS \[10\.67\.0\.100\]:tcp:80: drained by the operator/,
      );
      assert.match(drained.stdout, /^connections: none in dry-run \(nothing is programmed\)$/m);
      assert.match(drained.stdout, /^state: DRAINED \(IPVS: dry-run, nothing programmed\)$/m);
      assert.deepEqual(
        ops(mark).map((l) => [l.op, l.dest, l.weight]),
        [['update-dest', `[${RS1}]:tcp:80`, 0]],
        'in the (dry-run) table before the command returned',
      );
      const logged = lines.slice(mark).find((l) => l.event === 'rs.override');
      assert.equal(logged?.action, 'drain');
      assert.equal(logged?.origin?.uid, 0);
      assert.equal(logged?.origin?.user, 'alice');
      assert.ok((logged?.origin?.pid ?? 0) > 0, 'the CLI process, from SO_PEERCRED');

      let st = await realServers();
      assert.equal(st.get(RS1)?.state, 'drained');
      assert.equal(st.get(RS1)?.effectiveWeight, 0);
      assert.equal(st.get(RS1)?.up, true, 'its checks still pass');
      assert.equal(st.get(RS1)?.override?.kind, 'drain');
      assert.equal(st.get(RS1)?.override?.origin.user, 'alice');
      assert.equal(st.get(RS1)?.override?.connectionsNote, 'none in dry-run (nothing is programmed)');
      const since = st.get(RS1)?.override?.since;
      const text = (await halo(['status'])).stdout;
      assert.match(text, /^ {4}10\.67\.0\.21:80 +DRAINED +0\/2 /m);
      assert.match(
        text,
        /^ {4}\* 10\.67\.0\.21:80 DRAINED by the operator \(weight 0: no new connections, open ones finish\), \d+s ago by uid 0 pid \d+ \(\S+\) user alice; connections: none in dry-run \(nothing is programmed\)$/m,
      );
      const list = await halo(['ipvs', 'list']);
      assert.match(list.stdout, /-> 10\.67\.0\.21:80\s+Route\s+0\s/, list.stdout + list.stderr);
      const events = (await halo(['events', '--json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; action?: string; origin?: { user?: string } });
      assert.ok(
        events.some((e) => e.type === 'rs.override' && e.action === 'drain' && e.origin?.user === 'alice'),
      );

      // The open connection to the drained server keeps working.
      await roundTrip('while drained');

      // Disable RS2: out of the table although its checks pass. An unknown one is refused with the list.
      mark = lines.length;
      assert.equal((await halo(['rs', 'disable', VIP, '80', RS2, '80'])).code, 0);
      assert.deepEqual(
        ops(mark).map((l) => [l.op, l.dest]),
        [['remove-dest', `[${RS2}]:tcp:80`]],
      );
      const unknown = await halo(['rs', 'drain', `${VIP}:80`, '10.67.0.29']);
      assert.equal(unknown.code, 1);
      assert.equal(
        unknown.stderr,
        `halo: rs failed: no real server 10.67.0.29 in virtual server [${VIP}]:tcp:80; it has: [${RS1}]:tcp:80, [${RS2}]:tcp:80\n`,
      );

      // SIGHUP: both overrides stay, nothing is sent to IPVS.
      mark = lines.length;
      daemon.kill('SIGHUP');
      await waitFor(() => lines.slice(mark).some((l) => l.event === 'config.reloaded'), 10_000);
      await new Promise((r) => setTimeout(r, 1500)); // a check round: no late change either
      assert.deepEqual(ops(mark), []);
      st = await realServers();
      assert.equal(st.get(RS1)?.state, 'drained');
      assert.equal(st.get(RS2)?.state, 'disabled');

      // Restart: the new daemon's first table has RS1 at weight 0 and no RS2 (no flap).
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
      mark = lines.length;
      daemon = startHalo();
      await waitFor(() => ops(mark).some((l) => l.op === 'add-dest'), 20_000);
      await waitFor(async () => (await realServers()).get(RS1)?.up === true, 10_000);
      assert.deepEqual(
        ops(mark)
          .filter((l) => l.op === 'add-dest')
          .map((l) => [l.dest, l.weight]),
        [[`[${RS1}]:tcp:80`, 0]],
      );
      assert.equal(lines.slice(mark).filter((l) => l.event === 'rs.override_restored').length, 2);
      st = await realServers();
      assert.equal(st.get(RS1)?.override?.since, since, 'the same override, with its origin and time');
      assert.equal(st.get(RS2)?.state, 'disabled');
      const file = JSON.parse(readFileSync(join(dir, 'rs-overrides.json'), 'utf8')) as {
        overrides: unknown[];
      };
      assert.equal(file.overrides.length, 2);
      await roundTrip('after the restart');

      // enable: both back under their checks, at their configured weights.
      mark = lines.length;
      const enabled1 = await halo(['rs', 'enable', `${VIP}:80`, RS1, '--json']);
      assert.equal(enabled1.code, 0, enabled1.stderr);
      const answer = JSON.parse(enabled1.stdout) as {
        override: unknown;
        ipvsWeight: number;
        previous: { kind: string };
      };
      assert.equal(answer.override, null);
      assert.equal(answer.ipvsWeight, 2);
      assert.equal(answer.previous.kind, 'drain');
      assert.equal((await halo(['rs', 'enable', `${VIP}:80`, RS2])).code, 0);
      assert.deepEqual(
        ops(mark).map((l) => [l.op, l.dest, l.weight]),
        [
          ['update-dest', `[${RS1}]:tcp:80`, 2],
          ['add-dest', `[${RS2}]:tcp:80`, 3],
        ],
      );
      st = await realServers();
      assert.deepEqual(
        [...st.values()].map((r) => [r.address, r.state, r.effectiveWeight, r.override]),
        [
          [RS1, 'up', 2, undefined],
          [RS2, 'up', 3, undefined],
        ],
      );
      await roundTrip('after enable');
      assert.ok(!said.includes('CLOSED'), 'the connection was never cut');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
