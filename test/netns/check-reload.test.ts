/**
 * Hitless reload of the checks, seen from outside the daemon (issue 10): `halo run --check-only --ipvs
 * dry-run` checks real listeners in a namespace, and the listeners log when each check connects.
 *  - SIGHUP with the same config: every checker is kept ('check.reload' says so), each listener keeps
 *    being checked on its delay_loop grid (a restarted checker would come bootstrap = 1 s after the
 *    reload instead), no real server changes state (the down one stays down), and no IPVS operation.
 *  - SIGHUP with one real server's TCP_CHECK changed: only that checker restarts (its next check comes
 *    1 s after the reload), the others stay on their grid, and still no IPVS operation.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, NetnsLab, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');

const WEB = '10.68.0.21';
const UP_PORTS = [8001, 8002, 8003, 8004];
/** Nothing listens there: its real server is down. */
const DOWN_PORT = 8005;
const LOOP_MS = 2000;

function config(timeout8004 = 1): string {
  const rs = (port: number, timeout = 1) => `  real_server ${WEB} ${port} {
    TCP_CHECK {
      connect_timeout ${timeout}
      retry 0
      warmup 0
    }
  }
`;
  return `virtual_server 10.68.0.100 80 {
  delay_loop ${LOOP_MS / 1000}
  lb_algo rr
  lb_kind DR
  protocol TCP
${UP_PORTS.map((p) => rs(p, p === 8004 ? timeout8004 : 1)).join('')}${rs(DOWN_PORT)}}
`;
}

/** Listeners on the ports that print "<epoch ms> <port>" for every connection (a TCP_CHECK connects and closes). */
const LISTENERS = `
const net = require('node:net');
const ports = ${JSON.stringify(UP_PORTS)};
let ready = 0;
for (const port of ports) {
  net.createServer((s) => { console.log(Date.now() + ' ' + port); s.destroy(); })
    .listen(port, '${WEB}', () => { if (++ready === ports.length) console.log('listening'); });
}
`;

interface LogLine {
  event?: string;
  op?: string;
  msg: string;
  kept?: number;
  started?: number;
  stopped?: number;
  restarted?: number;
  ipvsOps?: number;
}

describe('checks across a reload (halo run, dry-run IPVS)', { skip: enabled ? false : 'needs root' }, () => {
  it('an unchanged config keeps every checker on schedule; a changed checker restarts alone', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-check-reload-'));
    let halo: ChildProcess | undefined;
    try {
      const director = await lab.addHost('dir', ['10.68.0.11/24']);
      const web = await lab.addHost('web', [`${WEB}/24`]);
      const listeners = lab.spawn(web.ns, process.execPath, ['-e', LISTENERS]);
      const checks: Array<{ at: number; port: number }> = [];
      let listening = false;
      let out = '';
      listeners.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          if (line === 'listening') listening = true;
          const [at, port] = line.split(' ').map(Number);
          if (port) checks.push({ at, port });
        }
      });
      await waitFor(() => listening, 10000);

      const conf = join(dir, 'halo.conf');
      writeFileSync(conf, config());
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
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          try {
            lines.push(JSON.parse(buf.slice(0, nl)) as LogLine);
          } catch {
            // not a log line
          }
          buf = buf.slice(nl + 1);
        }
      });
      const since = (mark: number, event: string) => lines.slice(mark).filter((l) => l.event === event);
      const status = async () =>
        JSON.parse(
          (await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock])).stdout,
        ) as {
          virtualServers: { realServers: { port: number; up: boolean }[] }[];
        };
      const upPorts = async () =>
        (await status()).virtualServers[0].realServers
          .filter((r) => r.up)
          .map((r) => r.port)
          .sort();

      // Start: every server is checked; the one without a listener goes down and leaves the table.
      await waitFor(() => since(0, 'ipvs.change').some((l) => l.op === 'remove-dest'), 15000);
      await waitFor(async () => JSON.stringify(await upPorts()) === JSON.stringify(UP_PORTS), 10000);

      /**
       * SIGHUP just after a round of checks (all listeners checked at once: warmup 0), and the checks of
       * the next two rounds: first check time after the reload per port, and the last round's time.
       */
      const reloadAfterRound = async (text: string) => {
        const mark = checks.length;
        await waitFor(
          () => new Set(checks.slice(mark).map((c) => c.port)).size === UP_PORTS.length,
          3 * LOOP_MS,
        );
        const round = Math.max(...checks.slice(mark).map((c) => c.at));
        await new Promise((r) => setTimeout(r, Math.max(0, round + 200 - Date.now())));
        const logMark = lines.length;
        const checkMark = checks.length;
        writeFileSync(conf, text);
        const sentAt = Date.now();
        halo?.kill('SIGHUP');
        await waitFor(() => since(logMark, 'config.reloaded').length > 0, 10000);
        const reload = since(logMark, 'check.reload')[0];
        // Two more rounds.
        await new Promise((r) => setTimeout(r, 2 * LOOP_MS + 500 - (Date.now() - round)));
        const next = new Map<number, number>();
        for (const c of checks.slice(checkMark)) if (!next.has(c.port)) next.set(c.port, c.at);
        return { round, sentAt, reload, next, logMark };
      };

      // 1. The same config: every checker kept, on its grid; nothing changes state; no IPVS operation.
      const same = await reloadAfterRound(config());
      assert.deepEqual(
        [
          same.reload?.kept,
          same.reload?.started,
          same.reload?.stopped,
          same.reload?.restarted,
          same.reload?.ipvsOps,
        ],
        [5, 0, 0, 0, 0],
        same.reload?.msg,
      );
      for (const port of UP_PORTS) {
        const at = same.next.get(port) as number;
        assert.ok(at !== undefined, `${port} checked after the reload`);
        // On the grid: one delay_loop after the previous round. A restart would check 1 s after the reload.
        assert.ok(
          Math.abs(at - same.round - LOOP_MS) < 400,
          `${port}: next check ${at - same.round} ms after the round before the reload (reload sent +${same.sentAt - same.round} ms)`,
        );
      }
      assert.deepEqual(since(same.logMark, 'ipvs.change'), [], 'no IPVS operation');
      assert.deepEqual(
        [...since(same.logMark, 'check.server_up'), ...since(same.logMark, 'check.server_down')],
        [],
        'no real server changed state',
      );
      assert.deepEqual(await upPorts(), UP_PORTS, 'the down server stays down');

      // 2. One checker changed (8004's connect_timeout): only it restarts, 1 s (bootstrap) after the reload.
      const changed = await reloadAfterRound(config(2));
      assert.deepEqual(
        [
          changed.reload?.kept,
          changed.reload?.started,
          changed.reload?.stopped,
          changed.reload?.restarted,
          changed.reload?.ipvsOps,
        ],
        [4, 0, 0, 1, 0],
        changed.reload?.msg,
      );
      for (const port of UP_PORTS) {
        const at = changed.next.get(port) as number;
        assert.ok(at !== undefined, `${port} checked after the reload`);
        if (port === 8004) {
          assert.ok(
            at >= changed.sentAt + 900 && at - changed.round < LOOP_MS - 400,
            `8004 restarted: checked ${at - changed.sentAt} ms after the reload was sent`,
          );
        } else {
          assert.ok(
            Math.abs(at - changed.round - LOOP_MS) < 400,
            `${port}: ${at - changed.round} ms after the round`,
          );
        }
      }
      assert.deepEqual(since(changed.logMark, 'ipvs.change'), [], 'no IPVS operation');
      assert.deepEqual(
        [...since(changed.logMark, 'check.server_up'), ...since(changed.logMark, 'check.server_down')],
        [],
        'no real server changed state',
      );
      assert.deepEqual(await upPorts(), UP_PORTS);
    } finally {
      if (halo) await lab.kill(halo, 'SIGTERM');
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
