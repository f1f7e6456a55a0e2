/**
 * The checker + IPVS part in its own supervised worker thread (issue 12 §3): the plans cross the worker
 * boundary intact; the part's logs, metrics, alerts, events, health, live state, status, stats and `halo
 * rs` answers come back to the main thread; and an uncaught error in the worker ends the worker only: it is
 * logged and restarted with backoff, and the restarted part resumes from the state it had (no server flaps,
 * no IPVS operation, overrides, ha_suspend and the sync daemon kept), and its checks go on from there (a
 * server that was down comes up when its check passes). Dry-run IPVS; the only checks are MISC_CHECK
 * scripts (/bin/true, /bin/false, test -e FILE), so no network is involved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/index.js';
import type { HaloEventBody } from '../../src/daemon/events.js';
import { createLogger } from '../../src/daemon/log.js';
import { createLvsPart, Lvs } from '../../src/daemon/lvs.js';
import { LvsHost } from '../../src/daemon/lvs-host.js';
import { reviveBuffers } from '../../src/daemon/lvs-protocol.js';
import { HaloMetrics } from '../../src/daemon/metrics.js';
import type { RsParams } from '../../src/daemon/rs-control.js';
import type { RsOrigin } from '../../src/daemon/rs-overrides.js';
import type { AlertEvent } from '../../src/notify/events.js';
import { buildPlans, type Plans } from '../../src/plan/index.js';
import { planReload } from '../../src/plan/reload.js';
import { REPO_ROOT } from '../helpers/vrrp-lab.js';

function plansOf(text: string, name = 'lvs.conf'): Plans {
  const r = parseConfigText(text, name, { hostChecks: 'off', configId: 'lb1' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return buildPlans(r.config, { hostname: 'lb1', username: 'root' });
}

/** .21 passes, .22 fails, .23 has no check, .24 passes once FLAG exists; a second VS is ha_suspended. */
function conf(weight: number, flag: string): string {
  return `global_defs {
  lvs_sync_daemon eth0 VI_1 id 7
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    10.99.0.100
  }
}
virtual_server 10.99.0.100 80 {
  delay_loop 0.2
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 10.99.0.21 80 {
    weight ${weight}
    MISC_CHECK {
      misc_path /bin/true
    }
  }
  real_server 10.99.0.22 80 {
    MISC_CHECK {
      misc_path /bin/false
    }
  }
  real_server 10.99.0.23 80 {
  }
  real_server 10.99.0.24 80 {
    MISC_CHECK {
      misc_path "/bin/test -e ${flag}"
    }
  }
}
virtual_server 10.99.0.200 80 {
  delay_loop 0.2
  ha_suspend
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 10.99.0.31 80 {
    MISC_CHECK {
      misc_path /bin/false
    }
  }
}
`;
}

interface Line {
  event?: string;
  msg: string;
  op?: string;
  dest?: string;
  context?: string;
  delayMs?: number;
  virtualServer?: string;
}

const waitFor = async (fn: () => boolean | Promise<boolean>, what: string, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const origin: RsOrigin = {
  via: 'control-socket',
  uid: 0,
  pid: 4242,
  user: 'alice',
  at: new Date().toISOString(),
};
const rs = (action: RsParams['action'], address: string): RsParams => ({
  action,
  virtualServer: { kind: 'address', address: '10.99.0.100', port: 80 },
  realServer: { address },
});

function capture() {
  const out: string[] = [];
  const logger = createLogger({ format: 'json', level: 'info', destination: { write: (s) => out.push(s) } });
  const lines = (): Line[] =>
    out
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  return { logger, lines };
}

describe('the checker + IPVS part in a worker thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-lvs-host-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('plans cross the worker boundary intact (Buffers revived), for every sample config', () => {
    const samples = readdirSync(join(REPO_ROOT, 'conf')).filter((f) => f.endsWith('.conf'));
    const udp = `virtual_server 10.0.0.1 53 {
  protocol UDP
  real_server 10.0.0.2 53 {
    UDP_CHECK {
      payload 0a0b0c
      require_reply 0a0b0c
    }
  }
}
`;
    const texts = [...samples.map((f) => readFileSync(join(REPO_ROOT, 'conf', f), 'utf8')), udp];
    let buffers = 0;
    for (const text of texts) {
      const p = plansOf(text);
      const sent = { check: p.check, ipvs: p.ipvs, scheduling: p.checkerScheduling };
      const got = reviveBuffers(structuredClone(sent));
      assert.deepStrictEqual(got, sent);
      buffers += JSON.stringify(sent).split('"type":"Buffer"').length - 1;
    }
    assert.ok(buffers >= 2, 'the UDP_CHECK payload and pattern were Buffers and came back as Buffers');
  });

  it('createLvsPart runs the part in a worker unless asked to run it inline', () => {
    const { logger } = capture();
    const p = plansOf(conf(1, join(dir, 'none')));
    assert.ok(createLvsPart({ logger, ipvs: 'dry-run' })(p, () => undefined) instanceof LvsHost);
    assert.ok(createLvsPart({ logger, ipvs: 'dry-run', inline: true })(p, () => undefined) instanceof Lvs);
    assert.equal(
      createLvsPart({ logger, ipvs: 'dry-run' })(plansOf('global_defs {\n}\n'), () => 0),
      undefined,
    );
  });

  it('runs, reports back, survives uncaught errors in the worker and resumes without a flap', async () => {
    const { logger, lines } = capture();
    const metrics = new HaloMetrics({ defaultMetrics: false });
    const alerts: AlertEvent[] = [];
    const events: HaloEventBody[] = [];
    const health: string[] = [];
    const crashFile = join(dir, 'crash');
    const flag = join(dir, 'up24');
    process.env.HALO_TEST_LVS_CRASH_FILE = crashFile;
    const host = new LvsHost(
      {
        logger,
        metrics,
        ipvs: 'dry-run',
        vrrp: true,
        restartDelayMs: 100,
        overridesFile: join(dir, 'rs-overrides.json'),
        workerUrl: new URL('../helpers/lvs-crash-worker.js', import.meta.url),
        events: (e) => events.push(e),
        onHealth: (h) => health.push([...h.values()].map((x) => (x.alive ? 'up' : 'down')).join(',')),
      },
      (e) => alerts.push(e),
    );
    const stateOf = async () =>
      Object.fromEntries(
        (await host.status()).virtualServers[0].realServers.map((r) => [
          r.address,
          `${r.up}/${r.weight}/${r.state}`,
        ]),
      );
    /** Check rounds the part has run since its (re)start, per real server: ok + failed. */
    const rounds = async (address: string) =>
      (await host.stats()).checks
        .filter((c) => c.realServer.includes(address))
        .reduce((n, c) => n + c.ok + c.failed, 0);
    const since = (mark: number) => lines().slice(mark);
    try {
      await host.start(plansOf(conf(1, flag)));
      assert.equal(host.ipvsMode, 'dry-run');
      // /bin/false fails: .22 goes down and leaves the table; so does .24 (no flag yet).
      await waitFor(
        () => lines().filter((l) => l.op === 'remove-dest').length === 2,
        'the dry-run removals of .22 and .24',
      );
      assert.deepEqual(await stateOf(), {
        '10.99.0.21': 'true/1/up',
        '10.99.0.22': 'false/1/down',
        '10.99.0.23': 'true/1/up',
        '10.99.0.24': 'false/1/down',
      });
      assert.ok(
        alerts.some((a) => a.type === 'real-server' && !a.up),
        'the alert reached the main thread',
      );
      assert.ok(
        events.some(
          (e) => e.type === 'rs.state' && e.realServer.includes('10.99.0.22') && e.state === 'down',
        ),
        'the event reached the bus',
      );
      assert.ok(events.some((e) => e.type === 'ipvs.change'));
      assert.ok(health.length > 0, 'BGP would get the health');
      assert.match(
        await metrics.registry.metrics(),
        /10\.99\.0\.22/,
        'check metrics recorded in the main thread',
      );
      // ha_suspend: 10.99.0.200 is not on this host, so its checker does not run.
      assert.equal(lines().filter((l) => l.event === 'check.suspended').length, 1);
      assert.equal(await rounds('10.99.0.31'), 0);
      // lvs_sync_daemon follows VI_1 (a dry-run kernel call).
      host.vrrpStateChanged('VI_1', 'MASTER');
      await waitFor(
        () => lines().some((l) => /sync daemon started as master/.test(l.msg)),
        'the sync daemon',
      );

      // Reload across the boundary: a weight change is one edit, logged by the check reload.
      let mark = lines().length;
      await host.reload(plansOf(conf(3, flag)));
      assert.deepEqual(
        since(mark)
          .filter((l) => l.event === 'ipvs.change')
          .map((l) => l.op),
        ['update-dest'],
      );
      assert.ok(since(mark).some((l) => l.event === 'check.reload'));
      assert.equal((await stateOf())['10.99.0.21'], 'true/3/up');

      // halo rs across the boundary: the answer, the event, the metric, and the live state for --plan.
      const r = await host.rsCommand(rs('drain', '10.99.0.23'), origin);
      assert.equal(r.changed, true);
      assert.equal(r.state, 'drained');
      assert.equal(r.ipvsWeight, 0);
      assert.ok(events.some((e) => e.type === 'rs.override' && e.action === 'drain'));
      assert.match(
        await metrics.registry.metrics(),
        /halo_real_server_override\{virtual_server="\[10\.99\.0\.100\]:tcp:80",real_server="10\.99\.0\.23:80",override="drain"\} 1/,
      );
      assert.deepEqual(
        [...(host.live().overrides?.values() ?? [])].map((o) => o.kind),
        ['drain'],
      );
      assert.deepEqual(planReload(plansOf(conf(3, flag)), plansOf(conf(3, flag)), host.live()).ipvs, []);
      await assert.rejects(
        host.rsCommand(rs('drain', '10.99.0.99'), origin),
        (err: Error & { expected?: boolean }) => err.expected === true && /10\.99\.0\.99/.test(err.message),
        "the part's own errors cross as they are (the client's mistake stays one)",
      );
      const before = await host.status();

      // A bug in a checker: an uncaught exception in the worker. It is logged, the part restarts after
      // 100 ms, then 200 ms, and resumes from the state it had: no server event, no IPVS operation, no
      // quorum or ha_suspend line, no sync daemon restart, the same status.
      for (let crash = 1; crash <= 2; crash++) {
        mark = lines().length;
        const nEvents = events.length;
        writeFileSync(crashFile, '');
        await waitFor(() => host.restarts === crash, `restart ${crash}`);
        await waitFor(() => since(mark).some((l) => l.event === 'daemon.part_restarted'), 'the restart line');
        assert.deepEqual(host.partStatus(), { restarts: crash }, 'up again: counted, no longer down');
        const crashLines = since(mark);
        const error = crashLines.findIndex(
          (l) => l.event === 'daemon.error' && l.context === 'lvs' && /checker bug/.test(l.msg),
        );
        const restart = crashLines.findIndex((l) => l.event === 'daemon.part_restart');
        assert.ok(error >= 0 && restart > error, 'the crash is logged with its reason, then the restart');
        assert.equal(crashLines[restart].delayMs, 100 * 2 ** (crash - 1), 'backoff doubles');
        // Several check rounds after the restart: still nothing moved.
        await waitFor(async () => (await rounds('10.99.0.22')) >= 3, 'check rounds after the restart');
        await waitFor(async () => (await rounds('10.99.0.21')) >= 3, 'check rounds after the restart');
        assert.deepEqual(
          since(mark)
            .filter((l) => /^(check\.|ipvs\.|rs\.)/.test(l.event ?? ''))
            .map((l) => l.msg),
          [],
          'no flap, no IPVS operation, no repeated line after the restart',
        );
        assert.deepEqual(
          events.slice(nEvents).map((e) => e.type),
          [],
        );
        const now = await host.status();
        assert.deepEqual(
          now.virtualServers,
          before.virtualServers.map((vs, i) => ({
            ...vs,
            // The last check result is not carried (the next check sets it).
            realServers: vs.realServers.map((x, j) => ({
              ...x,
              lastCheck: now.virtualServers[i].realServers[j].lastCheck,
            })),
          })),
        );
        assert.equal(await rounds('10.99.0.31'), 0, 'the ha_suspended checker still does not run');
      }

      // The checks go on from the carried state: .24's check passes from now on, while the part is down.
      // The restarted part knows .24 is down, so its first passing check brings it up (one event, one IPVS
      // operation). (Started from the config instead, its checker would start up and never say so.)
      mark = lines().length;
      writeFileSync(crashFile, '');
      await waitFor(() => since(mark).some((l) => l.event === 'daemon.part_restart'), 'the third crash');
      writeFileSync(flag, '');
      await waitFor(() => host.restarts === 3, 'restart 3');
      await waitFor(() => since(mark).some((l) => l.op === 'add-dest'), '.24 back in the table');
      assert.deepEqual(
        since(mark)
          .filter((l) => /^(check\.server_|ipvs\.change)/.test(l.event ?? ''))
          .map((l) => l.event),
        ['check.server_up', 'ipvs.change'],
      );
      assert.equal((await stateOf())['10.99.0.24'], 'true/1/up');

      // A crash around a reload: the reload never fails for it, and the restarted part runs the new plans.
      writeFileSync(crashFile, '');
      await host.reload(plansOf(conf(5, flag)));
      await waitFor(() => host.restarts === 4, 'restart 4');
      await waitFor(async () => (await stateOf())['10.99.0.21'] === 'true/5/up', 'the new weight');
      assert.deepEqual(await stateOf(), {
        '10.99.0.21': 'true/5/up',
        '10.99.0.22': 'false/1/down',
        '10.99.0.23': 'true/1/drained',
        '10.99.0.24': 'true/1/up',
      });
    } finally {
      delete process.env.HALO_TEST_LVS_CRASH_FILE;
      const mark = lines().length;
      await host.stop();
      assert.ok(
        lines()
          .slice(mark)
          .some((l) => l.op === 'remove-service'),
        'stop released the service',
      );
    }
  });

  it('while the part is down, halo rs is refused, status shows the last known state and says the part is down', async () => {
    const { logger } = capture();
    const crashFile = join(dir, 'crash2');
    process.env.HALO_TEST_LVS_CRASH_FILE = crashFile;
    const host = new LvsHost({
      logger,
      ipvs: 'dry-run',
      restartDelayMs: 60_000,
      workerUrl: new URL('../helpers/lvs-crash-worker.js', import.meta.url),
    });
    try {
      await host.start(plansOf(conf(1, join(dir, 'none'))));
      const known = await host.status();
      assert.equal(known.virtualServers.length, 2);
      assert.deepEqual(host.partStatus(), { restarts: 0 });
      const crashedAt = Date.now();
      writeFileSync(crashFile, '');
      await waitFor(async () => {
        try {
          await host.rsCommand(rs('drain', '10.99.0.23'), origin);
          return false;
        } catch (err) {
          return (
            /restarting after a crash/.test((err as Error).message) &&
            (err as { expected?: boolean }).expected === true
          );
        }
      }, 'the refusal');
      assert.deepEqual(await host.status(), known);
      assert.equal((await host.stats()).ipvs.mode, 'dry-run');
      // ... and `halo status` says so: why, since when, when it restarts (restartDelayMs after the crash).
      const down = host.partStatus().down;
      assert.ok(down, 'down while waiting for the restart');
      assert.match(down.reason, /checker bug/);
      const since = Date.parse(down.since);
      assert.ok(since >= crashedAt && since <= Date.now(), down.since);
      assert.equal(Date.parse(down.restartAt) - since, 60_000);
    } finally {
      delete process.env.HALO_TEST_LVS_CRASH_FILE;
      await host.stop();
    }
  });

  it('a worker that cannot start fails the start and is not restarted', async () => {
    const { logger, lines } = capture();
    const host = new LvsHost({
      logger,
      ipvs: 'dry-run',
      restartDelayMs: 10,
      workerUrl: new URL('data:text/javascript,throw new Error("broken part")'),
    });
    await assert.rejects(host.start(plansOf(conf(1, join(dir, 'none')))), /broken part/);
    assert.equal(host.restarts, 0);
    assert.ok(!lines().some((l) => l.event === 'daemon.part_restart'));
  });
});
