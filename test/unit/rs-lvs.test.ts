/**
 * The checks + IPVS part with operators' overrides, end to end in one process: the real Lvs class with the
 * dry-run IPVS backend (the in-memory kernel halo runs with `--ipvs dry-run`) and real servers without
 * checkers (always alive, so no traffic). An override reaches the table in one publish, is logged and put
 * on the event bus with its origin, shows in the status, survives a restart (the first table already has
 * it: no flap) and a reload, and is dropped (and said so) when a reload removes its real server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloEventBody } from '../../src/daemon/events.js';
import { createLogger } from '../../src/daemon/log.js';
import { Lvs } from '../../src/daemon/lvs.js';
import { HaloMetrics } from '../../src/daemon/metrics.js';
import type { RsParams } from '../../src/daemon/rs-control.js';
import type { RsOrigin } from '../../src/daemon/rs-overrides.js';
import { buildPlans } from '../../src/plan/index.js';
import { planReload } from '../../src/plan/reload.js';

function conf(withRs2: boolean): string {
  return `virtual_server 10.0.0.1 80 {
  lb_algo wrr
  lb_kind DR
  protocol TCP
  real_server 10.0.0.21 80 {
    weight 2
  }
${
  withRs2
    ? `  real_server 10.0.0.22 80 {
    weight 3
  }
`
    : ''
}}
`;
}

function plans(text: string) {
  const r = parseKeepalivedText(text, 'x.conf', { hostChecks: 'off' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return buildPlans(r.config, { hostname: 'lb1', username: 'root' });
}

interface LogLine {
  event?: string;
  msg: string;
  op?: string;
  dest?: unknown;
  weight?: number;
  action?: string;
  origin?: RsOrigin;
  [k: string]: unknown;
}

function part(file: string, metrics?: HaloMetrics) {
  const logs: LogLine[] = [];
  const events: HaloEventBody[] = [];
  const logger = createLogger({
    destination: { write: (s: string) => logs.push(JSON.parse(s) as LogLine) },
    level: 'debug',
  });
  const lvs = new Lvs({
    logger,
    metrics,
    ipvs: 'dry-run',
    reconcileIntervalMs: 0,
    events: (e) => events.push(e),
    overridesFile: file,
  });
  return { lvs, logs, events };
}

const origin = (user: string): RsOrigin => ({
  via: 'control-socket',
  uid: 0,
  pid: 4242,
  command: 'halo',
  user,
  at: new Date().toISOString(),
});
const VS = { kind: 'address', address: '10.0.0.1', port: 80 } as const;
const req = (action: RsParams['action'], address: string, weight?: number): RsParams => ({
  action,
  virtualServer: VS,
  realServer: { address },
  ...(weight !== undefined ? { weight } : {}),
});

/** The dry-run table's weight of each real server, as the status reports it (undefined: not in IPVS). */
async function weights(lvs: Lvs): Promise<Record<string, number | undefined>> {
  const st = await lvs.status();
  return Object.fromEntries(st.virtualServers[0].realServers.map((r) => [r.address, r.effectiveWeight]));
}

describe('checks + IPVS part: real server overrides (dry-run IPVS)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-rs-lvs-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('drain / weight / disable / enable: one publish each, logged and announced with the origin', async () => {
    const file = join(dir, 'a', 'rs-overrides.json');
    const metrics = new HaloMetrics({ defaultMetrics: false });
    const { lvs, logs, events } = part(file, metrics);
    await lvs.start(plans(conf(true)));
    try {
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 2, '10.0.0.22': 3 });

      const mark = logs.length;
      const r = await lvs.rsCommand(req('drain', '10.0.0.21'), origin('alice'));
      assert.equal(r.changed, true);
      assert.equal(r.ipvsWeight, 0);
      assert.equal(r.state, 'drained');
      assert.equal(r.realServer, '[10.0.0.21]:tcp:80');
      assert.equal(r.override?.kind, 'drain');
      assert.equal(r.override?.origin.user, 'alice');
      assert.equal(r.override?.connectionsNote, 'none in dry-run (nothing is programmed)');
      // Reached the (dry-run) kernel before the answer: one edit, weight 2 -> 0.
      const ops = logs.slice(mark).filter((l) => l.event === 'ipvs.change');
      assert.deepEqual(
        ops.map((l) => [l.op, l.weight]),
        [['update-dest', 0]],
      );
      const logged = logs.slice(mark).find((l) => l.event === 'rs.override');
      assert.equal(logged?.action, 'drain');
      assert.equal(logged?.origin?.user, 'alice');
      assert.match(
        logged?.msg ?? '',
        /drained by the operator .* asked by uid 0 pid 4242 \(halo\) user alice$/,
      );
      const ev = events.filter((e) => e.type === 'rs.override' || e.type === 'rs.state');
      assert.deepEqual(
        ev.map((e) => (e.type === 'rs.state' ? `${e.type} ${e.state} ${e.reason}` : `${e.type} ${e.action}`)),
        [
          'rs.override drain',
          'rs.state drained drained by the operator (weight 0: no new connections, open ones finish)',
        ],
      );
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 0, '10.0.0.22': 3 });
      const st = (await lvs.status()).virtualServers[0].realServers.find((x) => x.address === '10.0.0.21');
      assert.equal(st?.state, 'drained');
      assert.equal(st?.up, true, 'health is untouched');
      assert.equal(st?.override?.kind, 'drain');
      assert.equal(st?.override?.since, st?.override?.origin.at);

      // The same again: nothing changes, nothing is written or announced.
      const n = events.length;
      const again = await lvs.rsCommand(req('drain', '10.0.0.21'), origin('bob'));
      assert.equal(again.changed, false);
      assert.equal(again.override?.origin.user, 'alice', 'the first origin stays');
      assert.equal(events.length, n);

      assert.equal((await lvs.rsCommand(req('weight', '10.0.0.22', 7), origin('alice'))).ipvsWeight, 7);
      const dis = await lvs.rsCommand(req('disable', '10.0.0.22'), origin('alice'));
      assert.equal(dis.ipvsWeight, null);
      assert.equal(dis.state, 'disabled');
      assert.equal(dis.previous?.kind, 'weight');
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 0, '10.0.0.22': undefined });

      // Metrics: one series per override.
      const text = await metrics.registry.metrics();
      assert.match(
        text,
        /halo_real_server_override\{virtual_server="\[10\.0\.0\.1\]:tcp:80",real_server="10\.0\.0\.21:80",override="drain"\} 1/,
      );
      assert.match(
        text,
        /halo_real_server_override\{virtual_server="\[10\.0\.0\.1\]:tcp:80",real_server="10\.0\.0\.22:80",override="disable"\} 1/,
      );

      // The reload plan (halo reload --plan) computes with the overrides: an unchanged config, no operation.
      const p = planReload(plans(conf(true)), plans(conf(true)), lvs.live());
      assert.deepEqual(p.ipvs, []);

      // Persisted: what a restart will read.
      const doc = JSON.parse(await readFile(file, 'utf8')) as { overrides: { kind: string }[] };
      assert.deepEqual(doc.overrides.map((o) => o.kind).sort(), ['disable', 'drain']);
    } finally {
      await lvs.stop();
    }
  });

  it('a restart starts with the overrides (the first table has them), a reload keeps them or drops the removed', async () => {
    const file = join(dir, 'b', 'rs-overrides.json');
    const first = part(file);
    await first.lvs.start(plans(conf(true)));
    await first.lvs.rsCommand(req('drain', '10.0.0.21'), origin('alice'));
    await first.lvs.rsCommand(req('disable', '10.0.0.22'), origin('alice'));
    await first.lvs.stop();

    const { lvs, logs, events } = part(file);
    await lvs.start(plans(conf(true)));
    try {
      // No flap: the first table programs 10.0.0.21 at weight 0 and never adds 10.0.0.22.
      const adds = logs.filter((l) => l.event === 'ipvs.change' && l.op === 'add-dest');
      assert.deepEqual(
        adds.map((l) => l.weight),
        [0],
      );
      assert.equal(logs.filter((l) => l.event === 'rs.override_restored').length, 2);
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 0, '10.0.0.22': undefined });
      const restored = (await lvs.status()).virtualServers[0].realServers[0].override;
      assert.equal(restored?.origin.user, 'alice', 'the origin survives the restart');

      // Reload with the same servers: both kept.
      await lvs.reload(plans(conf(true)));
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 0, '10.0.0.22': undefined });
      // Reload without 10.0.0.22: its override is dropped, logged and announced; the other stays.
      await lvs.reload(plans(conf(false)));
      const dropped = logs.find((l) => l.event === 'rs.override' && l.action === 'dropped');
      assert.match(
        dropped?.msg ?? '',
        /\[10\.0\.0\.22\]:tcp:80 in VS \[10\.0\.0\.1\]:tcp:80: override disable dropped: the real server is no longer in the configuration \(reload\)/,
      );
      assert.ok(
        events.some((e) => e.type === 'rs.override' && e.action === 'dropped' && e.origin.via === 'reload'),
      );
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 0 });
      const doc = JSON.parse(await readFile(file, 'utf8')) as { overrides: unknown[] };
      assert.equal(doc.overrides.length, 1);

      // enable: back under its checks (no checker: alive, weight 2).
      const r = await lvs.rsCommand(req('enable', '10.0.0.21'), origin('alice'));
      assert.equal(r.override, null);
      assert.equal(r.ipvsWeight, 2);
      assert.equal(r.state, 'up');
      assert.match(r.message, /override drain removed: back under its checks/);
      const empty = JSON.parse(await readFile(file, 'utf8')) as { overrides: unknown[] };
      assert.deepEqual(empty.overrides, []);
    } finally {
      await lvs.stop();
    }
  });

  it('an unknown real server is refused with what exists; a corrupt file is logged and the part runs', async () => {
    const file = join(dir, 'c', 'rs-overrides.json');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'c'));
    await writeFile(file, 'garbage');
    const { lvs, logs } = part(file);
    await lvs.start(plans(conf(true)));
    try {
      const warn = logs.find((l) => l.event === 'rs.overrides_file');
      assert.match(
        warn?.msg ?? '',
        /not used: not JSON .*moved to .*rs-overrides\.json\.bad.*starting without overrides/,
      );
      await assert.rejects(
        lvs.rsCommand(req('drain', '10.0.0.29'), origin('alice')),
        (e: Error & { expected?: boolean }) =>
          e.expected === true &&
          e.message ===
            'no real server 10.0.0.29 in virtual server [10.0.0.1]:tcp:80; it has: [10.0.0.21]:tcp:80, [10.0.0.22]:tcp:80',
      );
      assert.deepEqual(await weights(lvs), { '10.0.0.21': 2, '10.0.0.22': 3 });
    } finally {
      await lvs.stop();
    }
  });
});
