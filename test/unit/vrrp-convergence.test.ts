/**
 * Property tests: N routers on a lossless shared medium (test/helpers/vrrp-sim.ts) always converge to exactly
 * one MASTER with the highest priority, and re-converge when that master stops (priority 0) or goes silent.
 *
 * Ties: RFC 3768/5798 and keepalived break equal-priority ties on the address only between two MASTERs; a BACKUP
 * accepts an advert of equal priority whatever its source (6.4.2 "greater than or equal"). So with equal top
 * priorities the highest address wins only when the tied routers start together; otherwise whichever became
 * MASTER first keeps it. The properties below assert exactly that.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { masterDownIntervalMs } from '../../src/vrrp/instance.js';
import { simParams, VrrpSim } from '../helpers/vrrp-sim.js';

interface Router {
  name: string;
  priority: number;
  address: string;
  startAt: number;
}

const routersArb = (opts: { distinctPriorities: boolean; sameStart?: boolean }) =>
  fc
    .integer({ min: 2, max: 5 })
    .chain((n) =>
      fc.record({
        priorities: opts.distinctPriorities
          ? fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: n, maxLength: n })
          : fc.array(fc.integer({ min: 1, max: 254 }), { minLength: n, maxLength: n }),
        hosts: fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: n, maxLength: n }),
        starts: fc.array(opts.sameStart ? fc.constant(0) : fc.integer({ min: 0, max: 8000 }), {
          minLength: n,
          maxLength: n,
        }),
      }),
    )
    .map(({ priorities, hosts, starts }) =>
      priorities.map(
        (priority, i): Router => ({
          name: `r${i}`,
          priority,
          address: `10.0.0.${hosts[i]}`,
          startAt: starts[i],
        }),
      ),
    );

interface Timing {
  version: 2 | 3;
  v3IntervalCs: number;
  v2IntervalS: number;
  latencyMs: number;
}

const timingArb: fc.Arbitrary<Timing> = fc.record({
  version: fc.constantFrom<2 | 3>(2, 3),
  // v3: any centisecond interval 0.1 s .. 2 s; v2: whole seconds 1 .. 3
  v3IntervalCs: fc.integer({ min: 10, max: 200 }),
  v2IntervalS: fc.integer({ min: 1, max: 3 }),
  latencyMs: fc.double({ min: 0, max: 2, noNaN: true }),
});

function addrNum(a: string): number {
  return Number(a.split('.')[3]);
}

function build(routers: Router[], t: Timing) {
  const advertIntervalMs = t.version === 2 ? t.v2IntervalS * 1000 : t.v3IntervalCs * 10;
  const sim = new VrrpSim({ latencyMs: t.latencyMs });
  for (const r of routers)
    sim.add(simParams(r.name, r.priority, r.address, { version: t.version, advertIntervalMs }));
  for (const r of routers) sim.start(r.name, r.startAt);
  const lastStart = Math.max(...routers.map((r) => r.startAt));
  // a starting router waits at most one master-down interval (< 4 advert intervals), then one advert exchange
  const bound = lastStart + masterDownIntervalMs(t.version, 1, advertIntervalMs) + advertIntervalMs + 10;
  return { sim, advertIntervalMs, bound };
}

function best(routers: Router[]): Router {
  return [...routers].sort((a, b) => b.priority - a.priority || addrNum(b.address) - addrNum(a.address))[0];
}

describe('VRRP convergence (property)', () => {
  it('distinct priorities: exactly one MASTER, the highest priority, within one master-down interval of the last start', () => {
    fc.assert(
      fc.property(routersArb({ distinctPriorities: true }), timingArb, (routers, t) => {
        const { sim, bound } = build(routers, t);
        sim.runUntil(bound);
        assert.deepEqual(sim.masters(), [best(routers).name]);
        // and it stays that way
        sim.runUntil(bound + 5 * 3000);
        assert.deepEqual(sim.masters(), [best(routers).name]);
      }),
      { numRuns: 60 },
    );
  });

  it('any priorities started together: one MASTER with the highest priority, ties to the highest address', () => {
    fc.assert(
      fc.property(routersArb({ distinctPriorities: false, sameStart: true }), timingArb, (routers, t) => {
        const { sim, bound } = build(routers, { ...t, latencyMs: 0.1 });
        sim.runUntil(bound);
        assert.deepEqual(sim.masters(), [best(routers).name]);
      }),
      { numRuns: 60 },
    );
  });

  it('any priorities and start times: exactly one MASTER, with the highest priority', () => {
    fc.assert(
      fc.property(routersArb({ distinctPriorities: false }), timingArb, (routers, t) => {
        const { sim, bound } = build(routers, t);
        sim.runUntil(bound);
        const m = sim.masters();
        assert.equal(m.length, 1);
        const top = Math.max(...routers.map((r) => r.priority));
        assert.equal(routers.find((r) => r.name === m[0])?.priority, top);
      }),
      { numRuns: 60 },
    );
  });

  it('after the master stops (priority 0) or goes silent, a new single master emerges: the next highest', () => {
    fc.assert(
      fc.property(
        routersArb({ distinctPriorities: true }),
        timingArb,
        fc.boolean(),
        (routers, t, graceful) => {
          const { sim, bound, advertIntervalMs } = build(routers, t);
          sim.runUntil(bound);
          const first = best(routers);
          assert.deepEqual(sim.masters(), [first.name]);
          const at = sim.now;
          if (graceful) sim.stop(first.name, at);
          else sim.crash(first.name);
          const rest = routers.filter((r) => r !== first);
          const next = best(rest);
          // graceful: Skew_Time (< 1 advert interval) after the priority-0 advert; silent: one master-down interval
          const limit =
            at +
            (graceful ? advertIntervalMs : masterDownIntervalMs(t.version, 1, advertIntervalMs)) +
            advertIntervalMs +
            10;
          sim.runUntil(limit);
          assert.deepEqual(sim.masters(), [next.name]);
          if (graceful) assert.equal(sim.stateOf(first.name), 'STOP');
        },
      ),
      { numRuns: 60 },
    );
  });
});
