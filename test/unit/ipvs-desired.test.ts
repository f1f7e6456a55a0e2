import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  NormalisedVirtualServerSchema,
  type RealServer,
  type VirtualServer,
  type VirtualServerGroup,
} from '../../src/config/model.js';
import { computeDesired, type RealServerHealth, type VirtualServerState } from '../../src/ipvs/desired.js';
import { diff } from '../../src/ipvs/diff.js';
import { MemoryKernel } from '../../src/ipvs/memory-kernel.js';
import { SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2 } from '../../src/ipvs/types.js';
import {
  type RealServerKey,
  realServerKey,
  type VirtualServerKey,
  virtualServerKey,
} from '../../src/plan/ids.js';
import {
  buildIpvsVirtualServerPlan,
  expandRange,
  realServerIdOf,
  timeoutsFromConfig,
  virtualServerIdOf,
} from '../../src/plan/ipvs.js';

/** The IPVS plan of these virtual servers. */
function plan(vss: VirtualServer[], groups: VirtualServerGroup[] = []) {
  return vss.map((v) => buildIpvsVirtualServerPlan(v, groups));
}

const virtualServerId = (v: VirtualServer): VirtualServerKey => virtualServerKey(virtualServerIdOf(v));

const inherited = {
  connectTimeoutMs: 5000,
  delayLoopMs: 60000,
  retry: 1,
  delayBeforeRetryMs: 1000,
  warmupMs: 0,
};

function rs(address: string, opts: Record<string, unknown> = {}): Record<string, unknown> {
  const alpha = opts.alpha === true;
  return {
    address,
    port: 80,
    weight: 1,
    forwardingMethod: 'NAT',
    inhibitOnFailure: false,
    smtpAlert: false,
    ...inherited,
    alpha,
    checkers: [{ type: 'TCP_CHECK', ...inherited, alpha }],
    ...opts,
  };
}

function vs(opts: Record<string, unknown>): VirtualServer {
  const r = NormalisedVirtualServerSchema.safeParse({
    address: '10.0.0.1',
    port: 80,
    family: 4,
    protocol: 'TCP',
    scheduler: 'wlc',
    retry: 1,
    delayBeforeRetryMs: 1000,
    warmupMs: 0,
    smtpAlert: false,
    ...opts,
  });
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data;
}

const up: RealServerHealth = { alive: true };
const down: RealServerHealth = { alive: false };

function healthOf(
  v: VirtualServer,
  m: Record<string, RealServerHealth>,
): Map<RealServerKey, RealServerHealth> {
  const out = new Map<RealServerKey, RealServerHealth>();
  for (const r of v.realServers) {
    const h = m[r.address];
    if (h) out.set(realServerKey(realServerIdOf(virtualServerIdOf(v), r as RealServer)), h);
  }
  return out;
}

function destsOf(result: ReturnType<typeof computeDesired>, i = 0) {
  return Object.fromEntries(result.table.services[i].dests.map((d) => [d.address, d.weight]));
}

describe('desired state: services', () => {
  it('maps lb_algo, persistence, scheduler flags, protocol, lb_kind', () => {
    const v = vs({
      protocol: 'UDP',
      scheduler: 'sh',
      schedulerFlags: ['sh-fallback', 'sh-port'],
      persistence: { timeoutMs: 600_000, granularity: '255.255.255.0' },
      forwardingMethod: 'DR',
      realServers: [rs('192.168.0.1', { forwardingMethod: 'DR', port: 0, checkers: [] })],
    });
    const r = computeDesired(plan([v]), new Map());
    const s = r.table.services[0].service;
    assert.equal(s.protocol, 'udp');
    assert.equal(s.scheduler, 'sh');
    assert.equal(s.flags, SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2);
    assert.equal(s.timeout, 600);
    assert.equal(s.netmask, 24);
    const d = r.table.services[0].dests[0];
    assert.equal(d.forward, 'route');
    assert.equal(d.port, 80, 'port 0 means the service port');
  });

  it('virtual_server_group expands address ranges and fwmarks', () => {
    const groups: VirtualServerGroup[] = [
      {
        name: 'web',
        members: [
          { type: 'address', address: '10.0.0.1', rangeEnd: '10.0.0.3', port: 443 },
          { type: 'fwmark', fwmark: 7 },
        ],
      },
    ];
    const v = vs({
      address: undefined,
      port: 0,
      group: 'web',
      realServers: [rs('192.168.0.1', { port: 443, checkers: [] })],
    });
    const r = computeDesired(plan([v], groups), new Map());
    assert.deepEqual([...r.owned].sort(), [
      'fwm:4:7',
      'tcp:10.0.0.1:443',
      'tcp:10.0.0.2:443',
      'tcp:10.0.0.3:443',
    ]);
    assert.ok(r.table.services.every((s) => s.dests.length === 1));
    assert.deepEqual(expandRange('fd00::1', 'fd00::3'), ['fd00::1', 'fd00::2', 'fd00::3']);
  });
});

describe('desired state: lvs_timeouts', () => {
  it('milliseconds to seconds, unset stays 0 (keep the kernel value)', () => {
    assert.equal(timeoutsFromConfig(undefined), undefined);
    assert.deepEqual(timeoutsFromConfig({ tcpMs: 7_200_000, udpMs: 300_000 }), {
      tcp: 7200,
      tcpFin: 0,
      udp: 300,
    });
  });
});

describe('desired state: checker results', () => {
  const v = vs({
    realServers: [
      rs('192.168.0.1'),
      rs('192.168.0.2', { inhibitOnFailure: true }),
      rs('192.168.0.3', { alpha: true }),
    ],
  });
  const input = plan([v]);

  it('before any check: up unless alpha', () => {
    const r = computeDesired(input, new Map());
    assert.deepEqual(destsOf(r), { '192.168.0.1': 1, '192.168.0.2': 1 });
    assert.match(r.status.find((s) => s.endpoint.startsWith('192.168.0.3'))!.reason, /alpha/);
  });

  it('failed server removed; with inhibit_on_failure kept at weight 0', () => {
    const r = computeDesired(
      input,
      healthOf(v, { '192.168.0.1': down, '192.168.0.2': down, '192.168.0.3': up }),
    );
    assert.deepEqual(destsOf(r), { '192.168.0.2': 0, '192.168.0.3': 1 });
  });

  it('misc_dynamic weight replaces the configured weight', () => {
    const r = computeDesired(input, healthOf(v, { '192.168.0.1': { alive: true, dynamicWeight: 42 } }));
    assert.equal(destsOf(r)['192.168.0.1'], 42);
  });

  it('health is keyed by identity, so a reload keeps a down server down', () => {
    const health = healthOf(v, { '192.168.0.1': down });
    const reloaded = vs({ scheduler: 'rr', realServers: [rs('192.168.0.4'), rs('192.168.0.1')] });
    assert.equal(virtualServerId(reloaded), virtualServerId(v));
    const r = computeDesired(plan([reloaded]), health);
    assert.deepEqual(destsOf(r), { '192.168.0.4': 1 });
  });
});

describe('desired state: quorum, hysteresis, sorry server', () => {
  const v = vs({
    quorum: 3,
    hysteresis: 1,
    quorumUp: '/bin/up',
    quorumDown: '/bin/down',
    sorryServer: { address: '192.168.9.9', port: 80, inhibit: false },
    realServers: [
      rs('192.168.0.1', { weight: 2 }),
      rs('192.168.0.2', { weight: 2 }),
      rs('192.168.0.3', { weight: 1 }),
    ],
  });
  const input = plan([v]);
  const id = virtualServerId(v);

  function step(
    prev: Map<VirtualServerKey, VirtualServerState> | undefined,
    h: Record<string, RealServerHealth>,
  ) {
    return computeDesired(input, healthOf(v, h), prev);
  }

  it('start: up iff sum >= quorum + hysteresis', () => {
    assert.equal(step(undefined, {}).state.get(id)?.quorumUp, true); // 5 >= 4
    const r = step(undefined, { '192.168.0.1': down }); // 3 < 4
    assert.equal(r.state.get(id)?.quorumUp, false);
    assert.deepEqual(
      r.actions.map((a) => a.kind),
      ['quorum-down'],
      'sorry server present: announced at start',
    );
    assert.deepEqual(destsOf(r), { '192.168.9.9': 1 }, 'sorry server replaces alive servers');
  });

  it('lost only below quorum - hysteresis, regained only at quorum + hysteresis', () => {
    let r = step(undefined, {});
    // 3 alive weight: not < 2, stays up
    r = step(r.state, { '192.168.0.1': down });
    assert.equal(r.state.get(id)?.quorumUp, true);
    assert.deepEqual(r.actions, []);
    // 1 < 2: lost
    r = step(r.state, { '192.168.0.1': down, '192.168.0.2': down });
    assert.equal(r.state.get(id)?.quorumUp, false);
    assert.deepEqual(
      r.actions.map((a) => [a.kind, a.script, a.weightSum, a.threshold]),
      [['quorum-down', '/bin/down', 1, 2]],
    );
    assert.deepEqual(destsOf(r), { '192.168.9.9': 1 });
    // 3 < 4: still down
    r = step(r.state, { '192.168.0.1': down });
    assert.equal(r.state.get(id)?.quorumUp, false);
    assert.deepEqual(r.actions, []);
    // 5 >= 4: regained, sorry server leaves
    r = step(r.state, {});
    assert.deepEqual(
      r.actions.map((a) => [a.kind, a.script]),
      [['quorum-up', '/bin/up']],
    );
    assert.deepEqual(destsOf(r), { '192.168.0.1': 2, '192.168.0.2': 2, '192.168.0.3': 1 });
  });

  it('sorry_server_inhibit keeps the sorry server at weight 0 while quorum is up', () => {
    const vi = vs({ ...v, sorryServer: { address: '192.168.9.9', port: 80, inhibit: true } });
    const r = computeDesired(plan([vi]), new Map());
    assert.equal(destsOf(r)['192.168.9.9'], 0);
  });

  it('without a sorry server, losing quorum only runs quorum_down', () => {
    const vn = vs({ ...v, sorryServer: undefined });
    const i2 = plan([vn]);
    const r0 = computeDesired(i2, new Map());
    const r1 = computeDesired(i2, healthOf(vn, { '192.168.0.1': down, '192.168.0.2': down }), r0.state);
    assert.deepEqual(
      r1.actions.map((a) => a.kind),
      ['quorum-down'],
    );
    assert.deepEqual(destsOf(r1), { '192.168.0.3': 1 });
  });

  it('property: quorum state never flips while the weight sum stays inside the hysteresis band', () => {
    fc.assert(
      fc.property(
        fc.array(fc.subarray(['192.168.0.1', '192.168.0.2', '192.168.0.3']), { maxLength: 20 }),
        (downs) => {
          let prev: Map<VirtualServerKey, VirtualServerState> | undefined;
          for (const d of downs) {
            const h = Object.fromEntries(d.map((a) => [a, down]));
            const r = step(prev, h);
            const sum = v.realServers.reduce((n, x) => n + (d.includes(x.address) ? 0 : x.weight), 0);
            const now = r.state.get(id)!.quorumUp;
            if (prev) {
              const was = prev.get(id)!.quorumUp;
              if (sum >= 2 && sum < 4) assert.equal(now, was, `sum ${sum} inside band must not flip`);
              if (sum < 2) assert.equal(now, false);
              if (sum >= 4) assert.equal(now, true);
              assert.equal(r.actions.length, now === was ? 0 : 1);
            }
            prev = r.state;
          }
        },
      ),
    );
  });

  it('reload through the diff: unchanged servers produce no op', () => {
    const r0 = computeDesired(input, new Map());
    const kernel = new MemoryKernel();
    for (const op of diff(r0.table, kernel.table(), r0.owned)) kernel.apply1(op);
    const reloaded = vs({ ...v, scheduler: 'wrr', realServers: [...v.realServers, rs('192.168.0.4')] });
    const r1 = computeDesired(plan([reloaded]), new Map(), r0.state);
    const ops = diff(r1.table, kernel.table(), r0.owned);
    assert.deepEqual(
      ops.map((o) => o.kind),
      ['edit-service', 'add-dest'],
    );
  });
});
