/**
 * What operators' overrides do to the desired IPVS table (computeDesired, pure): drain = weight 0 while
 * alive, disable = out even when alive, weight N = N while alive, a failed check still wins, and quorum
 * (ours and the BGP part's, computed from health alone) sees the effect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { weightSum } from '../../src/bgp/core.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import {
  computeDesired,
  healthWithOverrides,
  type RealServerHealth,
  type RealServerOverride,
} from '../../src/ipvs/desired.js';
import type { RealServerKey } from '../../src/plan/ids.js';
import { buildPlans } from '../../src/plan/index.js';
import type { IpvsVirtualServerPlan } from '../../src/plan/ipvs.js';

function plan(text: string): IpvsVirtualServerPlan[] {
  const r = parseKeepalivedText(text, 'x.conf', { hostChecks: 'off' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return [...buildPlans(r.config, { hostname: 'lb1', username: 'root' }).ipvs.virtualServers];
}

const CONF = `virtual_server 10.0.0.1 80 {
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  quorum 3
  sorry_server 10.0.0.99 80
  real_server 10.0.0.21 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.0.22 80 {
    weight 2
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.0.23 80 {
    weight 1
  }
}
`;

const [VS] = plan(CONF);
const [RS1, RS2, RS3] = VS.realServers;
const up: RealServerHealth = { alive: true };
const down: RealServerHealth = { alive: false };
const allUp = new Map<RealServerKey, RealServerHealth>([
  [RS1.key, up],
  [RS2.key, up],
]);

function dests(r: ReturnType<typeof computeDesired>): Record<string, number> {
  return Object.fromEntries(r.table.services[0].dests.map((d) => [d.address, d.weight]));
}

const quorumUp = new Map([[VS.key, { quorumUp: true }]]);

describe('operator overrides in the desired table', () => {
  it('without overrides: every alive real server with its weight (the baseline)', () => {
    assert.deepEqual(dests(computeDesired([VS], allUp, quorumUp)), {
      '10.0.0.21': 2,
      '10.0.0.22': 2,
      '10.0.0.23': 1,
    });
  });

  it('drain: weight 0 while alive (kept in the kernel), and a reason that says so', () => {
    const r = computeDesired([VS], allUp, quorumUp, new Map([[RS1.key, { kind: 'drain' }]]));
    assert.deepEqual(dests(r), { '10.0.0.21': 0, '10.0.0.22': 2, '10.0.0.23': 1 });
    const st = r.status.find((s) => s.realServer === RS1.key);
    assert.equal(st?.inKernel, true);
    assert.match(st?.reason ?? '', /drained by the operator/);
  });

  it('disable: out of the kernel although alive, and although it has no checker', () => {
    const r = computeDesired(
      [VS],
      allUp,
      quorumUp,
      new Map<RealServerKey, RealServerOverride>([
        [RS1.key, { kind: 'disable' }],
        [RS3.key, { kind: 'disable' }],
      ]),
    );
    // Only RS2 counts now: 2 < quorum 3, so the sorry server takes over and RS2 (inhibit_on_failure) waits
    // at weight 0; RS1 and RS3 are not in the table at all.
    assert.deepEqual(dests(r), { '10.0.0.22': 0, '10.0.0.99': 1 });
    assert.equal(r.state.get(VS.key)?.quorumUp, false);
    assert.match(r.status.find((s) => s.realServer === RS1.key)?.reason ?? '', /disabled by the operator/);
  });

  it('disable wins over inhibit_on_failure: a disabled server that fails is not kept at weight 0', () => {
    const health = new Map([...allUp, [RS2.key, down]]);
    const without = computeDesired([VS], health, quorumUp);
    assert.equal(dests(without)['10.0.0.22'], 0, 'inhibit_on_failure keeps it at 0 normally');
    const r = computeDesired([VS], health, quorumUp, new Map([[RS2.key, { kind: 'disable' }]]));
    assert.equal(dests(r)['10.0.0.22'], undefined);
  });

  it('weight N while alive; a failed check still takes it out (or to 0 with inhibit_on_failure)', () => {
    const o = new Map<RealServerKey, RealServerOverride>([
      [RS1.key, { kind: 'weight', weight: 7 }],
      [RS2.key, { kind: 'weight', weight: 9 }],
    ]);
    assert.deepEqual(dests(computeDesired([VS], allUp, quorumUp, o)), {
      '10.0.0.21': 7,
      '10.0.0.22': 9,
      '10.0.0.23': 1,
    });
    const failed = new Map([
      [RS1.key, down],
      [RS2.key, down],
    ]);
    const r = computeDesired([VS], failed, quorumUp, o);
    assert.equal(dests(r)['10.0.0.21'], undefined, 'failed: out');
    assert.equal(dests(r)['10.0.0.22'], 0, 'failed with inhibit_on_failure: weight 0');
  });

  it("the operator's weight wins over a misc_dynamic weight", () => {
    const health = new Map([...allUp, [RS1.key, { alive: true, dynamicWeight: 50 }]]);
    assert.equal(dests(computeDesired([VS], health, quorumUp))['10.0.0.21'], 50);
    const r = computeDesired([VS], health, quorumUp, new Map([[RS1.key, { kind: 'weight', weight: 4 }]]));
    assert.equal(dests(r)['10.0.0.21'], 4);
    const d = computeDesired([VS], health, quorumUp, new Map([[RS1.key, { kind: 'drain' }]]));
    assert.equal(dests(d)['10.0.0.21'], 0);
  });

  it('quorum sees the effect: draining one server loses quorum 3 (weight sum 5 -> 3 -> 1)', () => {
    // 2 + 2 + 1 = 5 >= 3: up. Drain RS1: 0 + 2 + 1 = 3: still up. Drain RS2 too: 1 < 3: lost.
    const one = computeDesired([VS], allUp, quorumUp, new Map([[RS1.key, { kind: 'drain' }]]));
    assert.equal(one.state.get(VS.key)?.quorumUp, true);
    assert.deepEqual(one.actions, []);
    const two = computeDesired(
      [VS],
      allUp,
      one.state,
      new Map<RealServerKey, RealServerOverride>([
        [RS1.key, { kind: 'drain' }],
        [RS2.key, { kind: 'drain' }],
      ]),
    );
    assert.equal(two.state.get(VS.key)?.quorumUp, false);
    assert.deepEqual(
      two.actions.map((a) => [a.kind, a.weightSum, a.threshold]),
      [['quorum-down', 1, 3]],
    );
    // Re-weighting brings it back: RS3 at weight 5.
    const back = computeDesired(
      [VS],
      allUp,
      two.state,
      new Map<RealServerKey, RealServerOverride>([
        [RS1.key, { kind: 'drain' }],
        [RS2.key, { kind: 'drain' }],
        [RS3.key, { kind: 'weight', weight: 5 }],
      ]),
    );
    assert.deepEqual(
      back.actions.map((a) => [a.kind, a.weightSum]),
      [['quorum-up', 5]],
    );
  });

  it("the BGP part's weight sum over healthWithOverrides() equals computeDesired()'s (random cases)", () => {
    const rule = {
      id: VS.key,
      quorum: VS.quorum,
      hysteresis: VS.hysteresis,
      realServers: VS.realServers.map((r) => ({
        healthKey: r.key,
        weight: r.weight,
        alwaysAlive: !r.checked,
        startsAlive: r.startsAlive,
      })),
    };
    const overrideArb = fc.option(
      fc.oneof(
        fc.constant<RealServerOverride>({ kind: 'drain' }),
        fc.constant<RealServerOverride>({ kind: 'disable' }),
        fc.integer({ min: 0, max: 1000 }).map((weight): RealServerOverride => ({ kind: 'weight', weight })),
      ),
      { nil: undefined },
    );
    const healthArb = fc.option(
      fc.record({
        alive: fc.boolean(),
        dynamicWeight: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(healthArb, overrideArb), { minLength: 3, maxLength: 3 }), (cases) => {
        const health = new Map<RealServerKey, RealServerHealth>();
        const overrides = new Map<RealServerKey, RealServerOverride>();
        cases.forEach(([h, o], i) => {
          const key = VS.realServers[i].key;
          if (h) health.set(key, h.dynamicWeight === undefined ? { alive: h.alive } : h);
          if (o) overrides.set(key, o);
        });
        const bgp = weightSum(rule, healthWithOverrides([VS], health, overrides));
        // computeDesired()'s own sum, pinned by its quorum verdict: up at quorum = sum, down at sum + 1.
        const at = (quorum: number) =>
          computeDesired([{ ...VS, quorum, hysteresis: 0 }], health, new Map(), overrides).state.get(VS.key)
            ?.quorumUp;
        assert.equal(at(bgp), true, `quorum ${bgp}`);
        assert.equal(at(bgp + 1), false, `quorum ${bgp + 1}`);
      }),
      { numRuns: 300 },
    );
  });

  it('no overrides: healthWithOverrides() hands back the same map', () => {
    assert.equal(healthWithOverrides([VS], allUp, new Map()), allUp);
  });
});
