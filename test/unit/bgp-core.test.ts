/**
 * The BGP decision core on a fake clock: quorum with hysteresis (checked against ipvs/desired.ts on random
 * histories), announce_delay, withdraw at once, maintenance drain/resume, the stop sequence (withdraw,
 * speaker confirmation, withdraw_delay, timeout) and reloads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BgpAction,
  type BgpCoreState,
  type BgpEvent,
  desiredRoutes,
  initialState,
  quorumStep,
  step,
} from '../../src/bgp/core.js';
import type { AnnouncementPlan, BgpPlan } from '../../src/bgp/plan.js';
import { computeDesired, type RealServerHealth } from '../../src/ipvs/desired.js';
import type { RealServerKey, VirtualServerKey } from '../../src/plan/ids.js';
import type { IpvsVirtualServerPlan } from '../../src/plan/ipvs.js';

/** Tests name virtual and real servers with short keys; the core treats keys as opaque. */
const vsKey = (k: string) => k as VirtualServerKey;
const rsKey = (k: string) => k as RealServerKey;

const VIP = '10.0.100.1/32';

function announcement(prefix = VIP, rs = ['a', 'b', 'c'], quorum = 2, hysteresis = 0): AnnouncementPlan {
  return {
    address: prefix.split('/')[0],
    route: {
      prefix,
      family: 4,
      attributes: { communities: [], largeCommunities: [], med: null, asPathPrepend: 0 },
    },
    virtualServers: [
      {
        id: vsKey(`vs-${prefix}`),
        quorum,
        hysteresis,
        realServers: rs.map((k) => ({
          healthKey: rsKey(k),
          weight: 1,
          alwaysAlive: false,
          startsAlive: true,
        })),
      },
    ],
  };
}

function plan(over: Partial<BgpPlan> = {}): BgpPlan {
  return {
    speaker: {
      kind: 'bird',
      controlSocket: '/x',
      routesFile: '/y',
      protocolName: 'halo_vips',
      localAs: null,
      routerId: null,
    },
    vipInterface: 'lo',
    announceDelayMs: 0,
    withdrawDelayMs: 2000,
    withdrawTimeoutMs: 10_000,
    pollIntervalMs: 1000,
    announcements: [announcement()],
    ...over,
  };
}

function health(up: Record<string, boolean>): Map<RealServerKey, RealServerHealth> {
  return new Map(Object.entries(up).map(([k, alive]) => [rsKey(k), { alive }]));
}

/** Drives the core like the shell does, on a fake clock. */
class Harness {
  state: BgpCoreState = initialState();
  now = 0;
  wakeAt: number | null = null;
  log: BgpAction[] = [];
  constructor(public p: BgpPlan) {}
  send(e: BgpEvent): BgpAction[] {
    const r = step(this.p, this.state, e, this.now);
    this.state = r.state;
    this.wakeAt = r.wakeAt;
    this.log.push(...r.actions);
    return r.actions;
  }
  /** Advance the clock, delivering ticks at every wakeAt on the way. */
  advance(ms: number): BgpAction[] {
    const end = this.now + ms;
    const out: BgpAction[] = [];
    while (this.wakeAt !== null && this.wakeAt <= end) {
      this.now = this.wakeAt;
      out.push(...this.send({ kind: 'tick' }));
    }
    this.now = end;
    return out;
  }
  announced(): string[] {
    return desiredRoutes(this.p, this.state).map((r) => r.prefix);
  }
}

const kinds = (a: BgpAction[]) => a.map((x) => `${x.kind}${'prefix' in x ? ` ${x.prefix}` : ''}`);

describe('quorum and announcements', () => {
  it('announces at start when the pool has quorum, and withdraws at once when it is lost', () => {
    const h = new Harness(plan());
    assert.deepEqual(kinds(h.send({ kind: 'health', health: new Map() })), [`announce ${VIP}`]);
    assert.deepEqual(h.announced(), [VIP]);
    h.now = 5000;
    h.send({ kind: 'health', health: health({ a: false }) });
    assert.deepEqual(h.announced(), [VIP], '2 of 3 alive: quorum 2 holds');
    const lost = h.send({ kind: 'health', health: health({ a: false, b: false }) });
    assert.deepEqual(kinds(lost), [`quorum ${VIP}`, `withdraw ${VIP}`]);
    assert.deepEqual(h.announced(), []);
    assert.match(h.state.announcements[VIP].reason, /quorum lost: vs-10\.0\.100\.1\/32/);
    assert.equal(h.state.announcements[VIP].since, 5000);
  });

  it('does not announce at start without quorum (alpha servers start down)', () => {
    const p = plan();
    for (const rs of p.announcements[0].virtualServers[0].realServers) rs.startsAlive = false;
    const h = new Harness(p);
    assert.deepEqual(kinds(h.send({ kind: 'health', health: new Map() })), [`quorum ${VIP}`]);
    assert.deepEqual(h.announced(), []);
    h.send({ kind: 'health', health: health({ a: true, b: true }) });
    assert.deepEqual(h.announced(), [VIP]);
  });

  it('hysteresis: lost below quorum - h, regained at quorum + h', () => {
    const h = new Harness(plan({ announcements: [announcement(VIP, ['a', 'b', 'c', 'd'], 3, 1)] }));
    h.send({ kind: 'health', health: new Map() }); // 4 >= 3 + 1: up
    assert.deepEqual(h.announced(), [VIP]);
    h.send({ kind: 'health', health: health({ a: false, b: false }) }); // 2, not < 3 - 1
    assert.deepEqual(h.announced(), [VIP]);
    h.send({ kind: 'health', health: health({ a: false, b: false, c: false }) }); // 1 < 2: lost
    assert.deepEqual(h.announced(), []);
    h.send({ kind: 'health', health: health({ a: false, b: false }) }); // 2 < 3 + 1: still down
    h.send({ kind: 'health', health: health({ a: false }) }); // 3 < 4: still down
    assert.deepEqual(h.announced(), []);
    h.send({ kind: 'health', health: health({}) }); // 4: regained
    assert.deepEqual(h.announced(), [VIP]);
  });

  it('a VIP needs every virtual server on it to have quorum', () => {
    const a = announcement();
    a.virtualServers.push({
      id: vsKey('vs-443'),
      quorum: 1,
      hysteresis: 0,
      realServers: [{ healthKey: rsKey('x'), weight: 1, alwaysAlive: false, startsAlive: true }],
    });
    const h = new Harness(plan({ announcements: [a] }));
    h.send({ kind: 'health', health: new Map() });
    assert.deepEqual(h.announced(), [VIP]);
    h.send({ kind: 'health', health: health({ x: false }) });
    assert.deepEqual(h.announced(), []);
    assert.match(h.state.announcements[VIP].reason, /quorum lost: vs-443$/);
  });

  it('misc_dynamic weights count instead of the configured weight', () => {
    const h = new Harness(plan({ announcements: [announcement(VIP, ['a'], 5)] }));
    h.send({ kind: 'health', health: new Map([[rsKey('a'), { alive: true, dynamicWeight: 5 }]]) });
    assert.deepEqual(h.announced(), [VIP]);
    h.send({ kind: 'health', health: new Map([[rsKey('a'), { alive: true, dynamicWeight: 4 }]]) });
    assert.deepEqual(h.announced(), []);
  });
});

describe('announce_delay', () => {
  it('announces only after health held for the delay; a flap restarts the wait', () => {
    const h = new Harness(plan({ announceDelayMs: 3000 }));
    assert.deepEqual(h.send({ kind: 'health', health: new Map() }), []);
    assert.equal(h.wakeAt, 3000);
    assert.match(h.state.announcements[VIP].reason, /announce_delay/);
    h.now = 1000;
    h.send({ kind: 'health', health: health({ a: false, b: false }) }); // lost before the delay ran out
    assert.equal(h.wakeAt, null);
    h.now = 1500;
    h.send({ kind: 'health', health: new Map() }); // healthy again: wait from 1500
    assert.equal(h.wakeAt, 4500);
    assert.deepEqual(h.advance(2999), []);
    assert.deepEqual(kinds(h.advance(1)), [`announce ${VIP}`]);
    assert.equal(h.now, 4500);
  });

  it('never delays a withdrawal', () => {
    const h = new Harness(plan({ announceDelayMs: 3000 }));
    h.send({ kind: 'health', health: new Map() });
    h.advance(3000);
    assert.deepEqual(h.announced(), [VIP]);
    h.now += 1;
    assert.deepEqual(kinds(h.send({ kind: 'health', health: health({ a: false, b: false }) })), [
      `quorum ${VIP}`,
      `withdraw ${VIP}`,
    ]);
  });
});

describe('maintenance', () => {
  it('drain withdraws everything and keeps it withdrawn whatever the health; resume announces again', () => {
    const h = new Harness(plan({ announcements: [announcement(), announcement('10.0.100.2/32', ['z'], 1)] }));
    h.send({ kind: 'health', health: new Map() });
    assert.deepEqual(h.announced(), [VIP, '10.0.100.2/32']);
    const drained = h.send({ kind: 'drain' });
    assert.deepEqual(kinds(drained), [`withdraw ${VIP}`, 'withdraw 10.0.100.2/32']);
    assert.equal(h.state.announcements[VIP].reason, 'maintenance');
    h.send({ kind: 'health', health: health({ z: false }) });
    h.send({ kind: 'health', health: health({}) });
    assert.deepEqual(h.announced(), []);
    assert.deepEqual(kinds(h.send({ kind: 'resume' })), [`announce ${VIP}`, 'announce 10.0.100.2/32']);
  });

  it('resume does not announce a VIP without quorum', () => {
    const h = new Harness(plan());
    h.send({ kind: 'health', health: new Map() });
    h.send({ kind: 'drain' });
    h.send({ kind: 'health', health: health({ a: false, b: false }) });
    h.send({ kind: 'resume' });
    assert.deepEqual(h.announced(), []);
  });
});

describe('stop sequence', () => {
  it('withdraws, waits for the speaker to drop the route, then withdraw_delay, then reports stopped', () => {
    const h = new Harness(plan());
    h.send({ kind: 'health', health: new Map() });
    h.now = 100;
    assert.deepEqual(kinds(h.send({ kind: 'stop' })), [`withdraw ${VIP}`]);
    assert.equal(h.wakeAt, 10_100, 'the timeout is armed');
    h.now = 150;
    h.send({ kind: 'speaker', originated: new Set([VIP]) }); // not gone yet
    assert.equal(h.state.stop?.confirmedAt, null);
    h.now = 180;
    h.send({ kind: 'speaker', originated: new Set() });
    assert.equal(h.state.stop?.confirmedAt, 180);
    assert.equal(h.wakeAt, 2180);
    assert.deepEqual(h.advance(1999), []);
    assert.deepEqual(h.advance(1), [{ kind: 'stopped', confirmed: true, waitedMs: 2080 }]);
    // Health coming back during the stop announces nothing.
    assert.deepEqual(h.send({ kind: 'health', health: new Map() }), []);
  });

  it('gives up waiting after withdraw_timeout when the speaker cannot be read', () => {
    const h = new Harness(plan({ withdrawTimeoutMs: 5000 }));
    h.send({ kind: 'health', health: new Map() });
    h.send({ kind: 'stop' });
    h.send({ kind: 'speaker', originated: null });
    assert.deepEqual(h.advance(4999), []);
    assert.deepEqual(h.advance(1), [{ kind: 'stopped', confirmed: false, waitedMs: 5000 }]);
    assert.equal(h.wakeAt, null);
  });

  it('stop during maintenance still waits for the confirmation', () => {
    const h = new Harness(plan({ withdrawDelayMs: 0 }));
    h.send({ kind: 'health', health: new Map() });
    h.send({ kind: 'drain' });
    assert.deepEqual(h.send({ kind: 'stop' }), []);
    assert.deepEqual(h.send({ kind: 'speaker', originated: new Set() }), [
      { kind: 'stopped', confirmed: true, waitedMs: 0 },
    ]);
  });
});

describe('reload', () => {
  it('withdraws a VIP that left the config and keeps the state of the others', () => {
    const two = plan({ announcements: [announcement(), announcement('10.0.100.2/32', ['z'], 1)] });
    const h = new Harness(two);
    h.send({ kind: 'health', health: new Map() });
    const since = h.state.announcements[VIP].since;
    h.now = 9000;
    h.p = plan();
    assert.deepEqual(kinds(h.send({ kind: 'reload' })), ['withdraw 10.0.100.2/32']);
    assert.deepEqual(h.announced(), [VIP]);
    assert.equal(h.state.announcements[VIP].since, since, 'an unchanged VIP is not re-announced');
    assert.equal(h.state.announcements['10.0.100.2/32'], undefined);
  });

  it('a new VIP on reload is evaluated at once with the health already known', () => {
    const h = new Harness(plan());
    h.send({ kind: 'health', health: health({ z: false }) });
    h.p = plan({ announcements: [announcement(), announcement('10.0.100.2/32', ['z'], 1)] });
    h.send({ kind: 'reload' });
    assert.deepEqual(h.announced(), [VIP]);
  });
});

describe('quorumStep matches the IPVS part (computeDesired)', () => {
  it('on random weight histories, with random quorum and hysteresis', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 12 }),
        (quorum, hysteresis, history) => {
          const weights = [1, 2, 3, 4];
          const vs = {
            key: vsKey('vs'),
            name: 'vs',
            services: [],
            quorum,
            hysteresis,
            sorryServer: undefined,
            realServers: weights.map((w) => ({
              key: rsKey(`rs${w}`),
              weight: w,
              checked: true,
              startsAlive: true,
            })),
          } as unknown as IpvsVirtualServerPlan;
          let ipvsState = new Map();
          let ours: boolean | undefined;
          for (const alive of history) {
            const h = new Map<RealServerKey, RealServerHealth>(
              vs.realServers.map((rs, i) => [rs.key, { alive: alive[i] }]),
            );
            const d = computeDesired([vs], h, ipvsState);
            ipvsState = d.state;
            const sum = vs.realServers.reduce((n, rs, i) => n + (alive[i] ? rs.weight : 0), 0);
            ours = quorumStep(ours, sum, quorum, hysteresis).up;
            assert.equal(ours, [...d.state.values()][0].quorumUp);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
