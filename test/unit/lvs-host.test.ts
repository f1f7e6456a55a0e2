/**
 * The checker + IPVS part in its own supervised worker thread (issue 12, isolation): the plans cross the
 * worker boundary intact, the part's logs, metrics, alerts and health come back to the main thread, and an
 * uncaught error in the worker ends the worker only: it is logged and restarted, and the restarted part
 * resumes from the health it had (no server flaps, no IPVS operation). Dry-run IPVS; the only checks are
 * MISC_CHECK scripts (/bin/true, /bin/false), so no network is involved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/index.js';
import { createLogger } from '../../src/daemon/log.js';
import { LvsHost } from '../../src/daemon/lvs-host.js';
import { reviveBuffers } from '../../src/daemon/lvs-protocol.js';
import { HaloMetrics } from '../../src/daemon/metrics.js';
import type { AlertEvent } from '../../src/notify/events.js';
import { buildPlans, type Plans } from '../../src/plan/index.js';
import { REPO_ROOT } from '../helpers/vrrp-lab.js';

function plansOf(text: string, name = 'lvs.conf'): Plans {
  const r = parseConfigText(text, name, { hostChecks: 'off', configId: 'lb1' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return buildPlans(r.config, { hostname: 'lb1', username: 'root' });
}

function conf(weight: number): string {
  return `virtual_server 10.99.0.100 80 {
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
}
`;
}

interface Line {
  event?: string;
  msg: string;
  op?: string;
  dest?: string;
  context?: string;
}

const waitFor = async (fn: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

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
      const sent = { check: p.check, ipvs: p.ipvs };
      const got = reviveBuffers(structuredClone(sent));
      assert.deepStrictEqual(got, sent);
      buffers += JSON.stringify(sent).split('"type":"Buffer"').length - 1;
    }
    assert.ok(buffers >= 2, 'the UDP_CHECK payload and pattern were Buffers and came back as Buffers');
  });

  it('runs, reports back, survives an uncaught error in the worker and resumes without a flap', async () => {
    const out: string[] = [];
    const logger = createLogger({
      format: 'json',
      level: 'info',
      destination: { write: (s) => out.push(s) },
    });
    const lines = (): Line[] =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
    const metrics = new HaloMetrics({ defaultMetrics: false });
    const alerts: AlertEvent[] = [];
    const health: string[] = [];
    const crashFile = join(dir, 'crash');
    process.env.HALO_TEST_LVS_CRASH_FILE = crashFile;
    const host = new LvsHost(
      {
        logger,
        metrics,
        ipvs: 'dry-run',
        vrrp: false,
        restartDelayMs: 100,
        workerUrl: new URL('../helpers/lvs-crash-worker.js', import.meta.url),
        onHealth: (h) => health.push([...h.values()].map((x) => (x.alive ? 'up' : 'down')).join(',')),
      },
      (e) => alerts.push(e),
    );
    const stateOf = async () =>
      Object.fromEntries(
        (await host.status()).virtualServers[0].realServers.map((r) => [r.address, `${r.up}/${r.weight}`]),
      );
    try {
      await host.start(plansOf(conf(1)));
      // /bin/false fails: .22 goes down, leaves the table; .21 and .23 stay.
      await waitFor(() => lines().some((l) => l.event === 'check.server_down'), 'the failing check');
      await waitFor(
        () => lines().some((l) => l.op === 'remove-dest' && l.dest?.includes('10.99.0.22')),
        'the dry-run removal',
      );
      assert.deepEqual(await stateOf(), {
        '10.99.0.21': 'true/1',
        '10.99.0.22': 'false/1',
        '10.99.0.23': 'true/1',
      });
      assert.ok(
        alerts.some((a) => a.type === 'real-server' && !a.up),
        'the alert reached the main thread',
      );
      assert.ok(health.length > 0, 'BGP would get the health');
      const text = await metrics.registry.metrics();
      assert.match(text, /10\.99\.0\.22/, 'check metrics were recorded in the main thread');

      // Reload across the boundary: a weight change is one edit.
      let mark = lines().length;
      await host.reload(plansOf(conf(3)));
      await waitFor(
        () =>
          lines()
            .slice(mark)
            .some((l) => l.op === 'update-dest'),
        'the weight edit',
      );
      assert.equal((await stateOf())['10.99.0.21'], 'true/3');

      // A bug in a checker: an uncaught exception in the worker. It is logged, the part restarts, and the
      // restarted part starts from the health it had: no server event, no IPVS operation, same status.
      for (let crash = 1; crash <= 2; crash++) {
        mark = lines().length;
        writeFileSync(crashFile, '');
        await waitFor(() => host.restarts === crash, `restart ${crash}`);
        await waitFor(
          () =>
            lines()
              .slice(mark)
              .some((l) => l.event === 'daemon.part_restarted'),
          'the restart line',
        );
        const since = lines().slice(mark);
        assert.ok(
          since.some((l) => l.event === 'daemon.error' && l.context === 'lvs' && /checker bug/.test(l.msg)),
          'the crash is logged with its reason',
        );
        assert.ok(since.some((l) => l.event === 'daemon.part_restart'));
        // Several check rounds after the restart: still nothing moved.
        await new Promise((r) => setTimeout(r, 800));
        const after = lines().slice(mark);
        assert.deepEqual(
          after.filter((l) => /^check\.server_|^ipvs\./.test(l.event ?? '')).map((l) => l.msg),
          [],
          'no flap after the restart',
        );
        assert.deepEqual(await stateOf(), {
          '10.99.0.21': 'true/3',
          '10.99.0.22': 'false/1',
          '10.99.0.23': 'true/1',
        });
      }

      // A crash around a reload: the reload never fails for it, and the restarted part runs the new plans.
      writeFileSync(crashFile, '');
      await host.reload(plansOf(conf(5)));
      await waitFor(() => host.restarts === 3, 'restart 3');
      for (let i = 0; i < 200 && (await stateOf())['10.99.0.21'] !== 'true/5'; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await stateOf(), {
        '10.99.0.21': 'true/5',
        '10.99.0.22': 'false/1',
        '10.99.0.23': 'true/1',
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
});
