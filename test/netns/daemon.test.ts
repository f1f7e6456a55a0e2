/**
 * The daemon as an operator runs it: `halo run --check-only --ipvs dry-run`
 * against real web servers in a namespace. A dead server is taken out of the
 * table, SIGHUP applies a changed config as a diff (no flap for what did not
 * change, a down server stays down), a broken config is refused while the
 * running one stays, `halo status` tells the truth, and SIGTERM releases the
 * services.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, NetnsLab, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

function config(weight1: number): string {
  return `virtual_server 10.66.0.100 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind DR
  protocol TCP
  real_server 10.66.0.21 80 {
    weight ${weight1}
    HTTP_GET {
      url {
        path /
        status_code 200
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
  real_server 10.66.0.22 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
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
  ipvs?: string;
  dryRun?: boolean;
  changes?: string[];
}

describe('halo run (checks + dry-run IPVS) in a namespace', { skip: enabled ? false : 'needs root' }, () => {
  it('removes a dead server, reloads as a diff, refuses a bad config, releases at stop', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-daemon-'));
    let halo: ChildProcess | undefined;
    try {
      const director = await lab.addHost('dir', ['10.66.0.11/24']);
      const web = await lab.addHost('web', ['10.66.0.21/24', '10.66.0.22/24']);
      const server = (addr: string) =>
        lab.spawn(web.ns, process.execPath, [
          '-e',
          `require('node:http').createServer((q, r) => r.end('hello')).listen(80, '${addr}', () => console.log('listening'))`,
        ]);
      const web1 = server('10.66.0.21');
      const web2 = server('10.66.0.22');
      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, config(1));
      const sock = join(dir, 'halo.sock');
      halo = lab.spawn(director.ns, process.execPath, [
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
      const lines: LogLine[] = [];
      let buf = '';
      halo.stdout?.on('data', (d: Buffer) => {
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
      const ops = (since: number) => lines.slice(since).filter((l) => l.event === 'ipvs.change');
      const status = async () =>
        JSON.parse(
          (await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock])).stdout,
        ) as {
          virtualServers: { realServers: { address: string; up: boolean; weight: number }[] }[];
          daemon: { lastReloadError?: string };
        };

      // Start: both servers pass their checks and are programmed.
      await waitFor(() => ops(0).filter((l) => l.op === 'add-dest').length === 2, 15000);
      await waitFor(async () => (await status()).virtualServers[0].realServers.every((r) => r.up), 10000);

      // Dry-run is visible everywhere: daemon.start, each IPVS line, halo status (text and JSON), halo ipvs list.
      const DRY = 'IPVS: dry-run, nothing programmed';
      const start = lines.find((l) => l.event === 'daemon.start');
      assert.equal(start?.ipvs, 'dry-run');
      assert.ok(start?.msg.includes(DRY), start?.msg);
      assert.ok(
        ops(0).every((l) => l.dryRun === true && l.msg.endsWith('(dry-run: not programmed)')),
        ops(0)
          .map((l) => l.msg)
          .join('\n'),
      );
      const statusText = (await sh(process.execPath, [HALO_MAIN, 'status', '--socket', sock])).stdout;
      assert.ok(statusText.split('\n')[1].startsWith(DRY), statusText);
      assert.equal(((await status()) as { ipvs?: { mode?: string } }).ipvs?.mode, 'dry-run');
      const list = await sh(process.execPath, [HALO_MAIN, 'ipvs', 'list', '--socket', sock], {
        allowFail: true,
      });
      assert.ok(
        list.stdout.startsWith(`# halo: ${DRY} by the running daemon (pid `),
        list.stdout + list.stderr,
      );
      assert.match(list.stdout, /-> 10\.66\.0\.21:80\s+Route\s+1\s/);

      // web2 dies: its TCP check fails and it leaves the table.
      let mark = lines.length;
      await lab.kill(web2);
      await waitFor(
        () => ops(mark).some((l) => l.op === 'remove-dest' && l.dest?.includes('10.66.0.22')),
        10000,
      );
      const down = (await status()).virtualServers[0].realServers.find((r) => r.address === '10.66.0.22');
      assert.equal(down?.up, false);

      // Reload with web1's weight changed: one edit in place, nothing else (web2 stays out, web1 is not
      // removed and re-added).
      mark = lines.length;
      writeFileSync(conf, config(3));
      halo.kill('SIGHUP');
      await waitFor(() => lines.slice(mark).some((l) => l.event === 'config.reloaded'), 10000);
      await waitFor(() => ops(mark).length >= 1, 5000);
      await new Promise((r) => setTimeout(r, 2500)); // two check rounds: no late flap either
      const after = ops(mark);
      assert.deepEqual(
        after.map((l) => l.op),
        ['update-dest'],
        `reload ops: ${after.map((l) => l.msg).join(' | ')}`,
      );
      assert.match(after[0].dest ?? '', /10\.66\.0\.21/);
      assert.deepEqual(after[0].changes, ['weight 1 -> 3'], 'the reload says what changed');
      const st = await status();
      assert.equal(st.virtualServers[0].realServers.find((r) => r.address === '10.66.0.21')?.weight, 3);
      assert.equal(st.virtualServers[0].realServers.find((r) => r.address === '10.66.0.22')?.up, false);

      // web2 comes back: its checker brings it back into the table (carried down state is not sticky).
      mark = lines.length;
      const web2b = server('10.66.0.22');
      await waitFor(
        () => ops(mark).some((l) => l.op === 'add-dest' && l.dest?.includes('10.66.0.22')),
        10000,
      );
      await lab.kill(web2b);
      await waitFor(
        () => ops(mark).some((l) => l.op === 'remove-dest' && l.dest?.includes('10.66.0.22')),
        10000,
      );

      // A broken config is refused; the running one stays.
      mark = lines.length;
      writeFileSync(conf, `${config(3)}\nvirtual_server 10.66.0.100 80 {\n  lb_algo bogus\n`);
      halo.kill('SIGHUP');
      await waitFor(() => lines.slice(mark).some((l) => l.event === 'config.reload_rejected'), 10000);
      assert.ok((await status()).daemon.lastReloadError, 'status shows the rejected reload');
      assert.equal(ops(mark).length, 0, 'a rejected reload changes nothing');

      // SIGUSR1 / SIGUSR2: the data and stats dumps (text and JSON), as keepalived writes them.
      halo.kill('SIGUSR1');
      halo.kill('SIGUSR2');
      await waitFor(
        () =>
          ['halo.data', 'halo.data.json', 'halo.stats', 'halo.stats.json'].every((f) =>
            existsSync(join(dir, f)),
          ),
        5000,
      );
      const data = JSON.parse(readFileSync(join(dir, 'halo.data.json'), 'utf8')) as {
        virtualServers: { realServers: { address: string }[] }[];
      };
      assert.deepEqual(data.virtualServers[0].realServers.map((r) => r.address).sort(), [
        '10.66.0.21',
        '10.66.0.22',
      ]);
      assert.match(readFileSync(join(dir, 'halo.data'), 'utf8'), /10\.66\.0\.21/);
      assert.match(readFileSync(join(dir, 'halo.data'), 'utf8'), /^ IPVS: dry-run, nothing programmed$/m);
      // The stats count the checks that ran (they were empty before) and say dry-run.
      const stats = JSON.parse(readFileSync(join(dir, 'halo.stats.json'), 'utf8')) as {
        checks: { realServer: string; checker: string; ok: number; failed: number }[];
        ipvs: { operations: Record<string, number>; mode?: string };
      };
      assert.deepEqual(stats.checks.map((c) => [c.realServer, c.checker]).sort(), [
        ['[10.66.0.21]:tcp:80', 'HTTP_GET'],
        ['[10.66.0.22]:tcp:80', 'TCP_CHECK'],
      ]);
      assert.ok(
        stats.checks.every((c) => c.ok > 0),
        JSON.stringify(stats.checks),
      );
      assert.ok(
        (stats.checks.find((c) => c.checker === 'TCP_CHECK')?.failed ?? 0) > 0,
        'web2 failed its checks',
      );
      assert.ok((stats.ipvs.operations['add-dest'] ?? 0) >= 2, JSON.stringify(stats.ipvs));
      assert.equal(stats.ipvs.mode, 'dry-run');
      assert.match(readFileSync(join(dir, 'halo.stats'), 'utf8'), /TCP_CHECK: ok \d+, failed \d+/);

      // SIGTERM: halo's services are released.
      mark = lines.length;
      const exited = new Promise<number | null>((r) => halo?.once('exit', (code) => r(code)));
      halo.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(ops(mark).some((l) => l.op === 'remove-service'));
      await lab.kill(web1);
    } finally {
      if (halo) await lab.kill(halo);
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
