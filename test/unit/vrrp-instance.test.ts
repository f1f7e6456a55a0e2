import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  masterDownIntervalMs,
  nextDeadline,
  skewTimeMs,
  step,
  type VrrpAction,
  type VrrpInstanceParams,
} from '../../src/vrrp/instance.js';
import { advertFrom, Driver, of } from '../helpers/vrrp-driver.js';
import { simParams, VrrpSim } from '../helpers/vrrp-sim.js';

const LAT = 0.1; // sim latency

describe('VRRP timers', () => {
  it('skew and master-down interval match keepalived (integer microseconds)', () => {
    assert.equal(skewTimeMs(2, 100, 1000), 609.375);
    assert.equal(masterDownIntervalMs(2, 100, 1000), 3609.375);
    assert.equal(masterDownIntervalMs(2, 150, 1000), 3414.062);
    assert.equal(skewTimeMs(3, 100, 100), 60.937);
    assert.equal(masterDownIntervalMs(3, 100, 100), 360.937);
    assert.equal(skewTimeMs(3, 100, 1000), 609.375);
  });
});

describe('VRRP start-up', () => {
  it('two nodes: the higher priority becomes MASTER after its master-down interval, the other stays BACKUP', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11'));
    sim.add(simParams('VI_2', 100, '10.77.0.12'));
    sim.start('VI_1', 0);
    sim.start('VI_2', 0);
    sim.runUntil(20_000);
    assert.deepEqual(sim.masters(), ['VI_1']);
    const t1 = sim.transitions('VI_1');
    assert.equal(t1[0].message, '(VI_1) Entering BACKUP STATE (init)');
    assert.equal(t1[1].message, '(VI_1) Entering MASTER STATE');
    assert.equal(t1[1].t, 3414.062);
    assert.equal(sim.transitions('VI_2').length, 1);
    // adverts every advert_int while MASTER
    const times = sim.advertTimes('VI_1');
    assert.equal(times[1] - times[0], 1000);
    assert.equal(times.at(-1), 3414.062 + 16_000);
  });

  it('`state MASTER` below priority 255 starts in BACKUP and waits the full master-down interval', () => {
    const d = new Driver(simParams('VI_1', 150, '10.77.0.11', { state: 'MASTER' }));
    const a = d.ev({ type: 'start' }, 0);
    assert.equal(of(a, 'transition')[0].message, '(VI_1) Entering BACKUP STATE (init)');
    assert.equal(nextDeadline(d.s), 3414.062);
    // a higher-priority advert keeps it BACKUP even though it was configured MASTER
    d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 200) }, 1000);
    assert.equal(d.s.state, 'BACKUP');
    assert.equal(d.s.wantState, 'BACKUP');
  });

  it('priority 255 (address owner) becomes MASTER at once, without a BACKUP (init) transition', () => {
    const d = new Driver(simParams('VI_1', 255, '10.77.0.11'));
    assert.equal(d.ev({ type: 'start' }, 0).length, 0);
    const a = d.advance(1);
    const tr = of(a, 'transition');
    assert.deepEqual(
      tr.map((x) => [x.from, x.to, x.message]),
      [['BACKUP', 'MASTER', '(VI_1) Entering MASTER STATE']],
    );
    assert.equal(of(a, 'send-advert')[0].priority, 255);
    assert.deepEqual(of(a, 'add-vips')[0].addresses, ['10.77.0.100']);
    assert.equal(of(a, 'send-garp')[0].count, 5);
    assert.equal(of(a, 'notify')[0].state, 'MASTER');
    // send-advert comes before the VIPs are added (the old master must release them first)
    assert.ok(a.findIndex((x) => x.type === 'send-advert') < a.findIndex((x) => x.type === 'add-vips'));
  });

  it('vrrp_startup_delay: BACKUP timers count from the end of the delay', () => {
    const d = new Driver(simParams('VI_1', 150, '10.77.0.11'));
    d.ev({ type: 'start', delayedStartUntil: 5000 }, 0);
    assert.equal(nextDeadline(d.s), 5000 + 3414.062);
    // an advert during the delay re-arms from the delay end too; after it, from now
    d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 200) }, 1000);
    assert.equal(nextDeadline(d.s), 5000 + 3414.062);
    d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 200) }, 6000);
    assert.equal(nextDeadline(d.s), 6000 + 3414.062);
    const owner = new Driver(simParams('VI_1', 255, '10.77.0.11'));
    owner.ev({ type: 'start', delayedStartUntil: 5000 }, 0);
    assert.equal(nextDeadline(owner.s), 5000.001);
  });

  it('starting with a tracked fault enters FAULT (init) and ignores adverts', () => {
    const d = new Driver(simParams('VI_1', 100, '10.77.0.11'));
    d.ev(
      {
        type: 'start',
        tracking: { effectivePriority: 100, fault: true, faultReasons: ['interface eth0 down'] },
      },
      0,
    );
    assert.equal(d.s.state, 'FAULT');
    assert.equal(nextDeadline(d.s), undefined);
    const a = d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 150) }, 5);
    assert.equal(of(a, 'drop')[0].reason, 'not-running');
    assert.equal(d.s.stats.drops['not-running'], 1);
  });
});

describe('VRRP takeover', () => {
  function masterAndBackup(
    extra1: Partial<VrrpInstanceParams> = {},
    extra2: Partial<VrrpInstanceParams> = {},
  ) {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11', extra1));
    sim.add(simParams('VI_2', 100, '10.77.0.12', extra2));
    sim.start('VI_1', 0);
    sim.start('VI_2', 0);
    sim.runUntil(10_000);
    assert.deepEqual(sim.masters(), ['VI_1']);
    return sim;
  }

  it('crash: the backup takes over exactly 3 * 1000 + 609.375 ms after the last advert it received', () => {
    const sim = masterAndBackup();
    const last = sim.advertTimes('VI_1').at(-1)!;
    sim.crash('VI_1');
    sim.runUntil(20_000);
    assert.deepEqual(sim.masters(), ['VI_2']);
    const t = sim.transitions('VI_2').at(-1)!;
    assert.equal(t.to, 'MASTER');
    assert.equal(t.reason, 'master-down-timeout');
    assert.equal(t.t - (last + LAT), 3609.375);
    assert.ok(sim.messages('VI_2').includes('(VI_2) Receive advertisement timeout'));
  });

  it('shutdown: priority 0 makes the backup take over after Skew_Time (609.375 ms)', () => {
    const sim = masterAndBackup();
    sim.stop('VI_1', 10_000.5);
    sim.runUntil(15_000);
    assert.equal(sim.stateOf('VI_1'), 'STOP');
    assert.deepEqual(sim.advertTimes('VI_1', 0), [10_000.5]);
    assert.ok(sim.messages('VI_1').includes('(VI_1) sent 0 priority'));
    assert.ok(sim.messages('VI_2').includes('(VI_2) Backup received priority 0 advertisement'));
    const t = sim.transitions('VI_2').at(-1)!;
    assert.equal(t.to, 'MASTER');
    assert.equal(t.t, 10_000.5 + LAT + 609.375);
    const removed = sim.node('VI_1').actions.filter((x) => x.action.type === 'remove-vips');
    assert.equal(removed.length, 1);
  });

  it('v3 at 0.1 s: takeover after 360.937 ms, and a backup adopts the master advert interval', () => {
    const sim = masterAndBackup(
      { version: 3, advertIntervalMs: 100 },
      { version: 3, advertIntervalMs: 1000 },
    );
    assert.equal(sim.node('VI_2').state.masterAdverIntMs, 100);
    const last = sim.advertTimes('VI_1').at(-1)!;
    sim.crash('VI_1');
    sim.runUntil(12_000);
    const t = sim.transitions('VI_2').at(-1)!;
    assert.equal(t.to, 'MASTER');
    assert.equal(Math.round((t.t - last - LAT) * 1000), 360_937);
    // as master it advertises with its own interval again
    const times = sim.advertTimes('VI_2');
    assert.equal(times[1] - times[0], 1000);
  });

  it('preempt: a restarted higher-priority node discards lower adverts and takes over after its full master-down interval', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11'));
    sim.add(simParams('VI_2', 100, '10.77.0.12'));
    sim.start('VI_2', 0);
    sim.runUntil(10_000);
    assert.deepEqual(sim.masters(), ['VI_2']);
    sim.start('VI_1', 10_000.25);
    sim.runUntil(20_000);
    assert.deepEqual(sim.masters(), ['VI_1']);
    const up = sim.transitions('VI_1').at(-1)!;
    assert.equal(up.t, 10_000.25 + 3414.062);
    assert.ok(
      sim
        .messages('VI_1')
        .includes('(VI_1) received lower priority (100) advert from 10.77.0.12 - discarding'),
    );
    assert.ok(
      sim
        .messages('VI_2')
        .includes('(VI_2) Master received advert from 10.77.0.11 with higher priority 150, ours 100'),
    );
    const down = sim.transitions('VI_2').at(-1)!;
    assert.deepEqual([down.from, down.to, down.reason], ['MASTER', 'BACKUP', 'higher-priority-advert']);
    assert.equal(down.message, '(VI_2) Entering BACKUP STATE');
    // A preemption, not a silent master: keepalived's words, then which it was; its own reason.
    assert.equal(up.reason, 'preempt');
    assert.ok(
      sim
        .messages('VI_1')
        .includes(
          '(VI_1) Receive advertisement timeout (preempting lower-priority master 10.77.0.12, priority 100)',
        ),
      sim.messages('VI_1').join('\n'),
    );
  });

  it('nopreempt: the higher-priority node never takes back', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11', { preempt: false }));
    sim.add(simParams('VI_2', 100, '10.77.0.12'));
    sim.start('VI_2', 0);
    sim.runUntil(10_000);
    sim.start('VI_1', 10_000);
    sim.runUntil(60_000);
    assert.deepEqual(sim.masters(), ['VI_2']);
    assert.equal(sim.node('VI_1').state.masterPriority, 100);
  });

  it('preempt_delay 5 s: takes over one master-down interval after the last advert accepted before the delay ended', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11', { preemptDelayMs: 5000 }));
    sim.add(simParams('VI_2', 100, '10.77.0.12'));
    sim.start('VI_2', 0);
    sim.runUntil(10_000);
    sim.start('VI_1', 10_000.25);
    sim.runUntil(30_000);
    assert.deepEqual(sim.masters(), ['VI_1']);
    const received = sim
      .advertTimes('VI_2')
      .map((t) => t + LAT)
      .filter((t) => t > 10_000.25);
    const delayStart = received[0];
    const preemptAt = delayStart + 5000;
    const lastAccepted = received.filter((t) => t < preemptAt).at(-1)!;
    const up = sim.transitions('VI_1').at(-1)!;
    assert.equal(up.t, lastAccepted + 3414.062);
    assert.ok(sim.messages('VI_1').includes('(VI_1) start preempt delay (5.000000)'));
    // about 7.6 s after start, as measured with keepalived (README: 7.6 s)
    assert.ok(up.t - 10_000.25 > 7000 && up.t - 10_000.25 < 8500);
  });

  it('tie-break: equal priorities started together -> the higher address is MASTER', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 100, '10.77.0.11'));
    sim.add(simParams('VI_2', 100, '10.77.0.12'));
    sim.start('VI_1', 0);
    sim.start('VI_2', 0);
    sim.runUntil(10_000);
    assert.deepEqual(sim.masters(), ['VI_2']);
    assert.ok(
      sim
        .messages('VI_1')
        .includes(
          '(VI_1) Master received advert from 10.77.0.12 with same priority 100 but higher IP address than ours',
        ),
    );
    assert.ok(
      sim
        .messages('VI_2')
        .includes(
          '(VI_2) Received advert from 10.77.0.11 with lower priority 100, ours 100, forcing new election',
        ),
    );
  });
});

describe('VRRP master behaviour', () => {
  function master(extra: Partial<VrrpInstanceParams> = {}): Driver {
    const d = new Driver(simParams('VI_1', 150, '10.77.0.11', extra));
    d.ev({ type: 'start' }, 0);
    d.advance(4000);
    assert.equal(d.s.state, 'MASTER');
    return d;
  }

  it('answers a lower-priority advert at once, with GARPs now and again after garp_lower_prio_delay', () => {
    const d = master();
    const a = d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 100) }, 4200);
    assert.equal(of(a, 'send-advert').length, 1);
    assert.equal(of(a, 'send-advert')[0].priority, 150);
    assert.deepEqual(
      of(a, 'send-garp').map((g) => [g.reason, g.count]),
      [['lower-priority', 5]],
    );
    assert.equal(of(a, 'notify-event')[0].event, 'master-rx-lower-pri');
    assert.equal(d.s.state, 'MASTER');
    assert.equal(nextDeadline(d.s), 5200); // advert timer re-armed by the answer
    const later = d.advance(9200);
    // the master's own delayed burst (3414.062 + 5000) and the lower-priority one (4200 + 5000)
    assert.deepEqual(
      later
        .filter((x) => x.type === 'send-garp')
        .map((g) => [g.type === 'send-garp' && g.reason, d.all.find((y) => y.a === g)?.t]),
      [
        ['master-delayed', 8414.062],
        ['lower-priority-delayed', 9200],
      ],
    );
  });

  it('lower_prio_no_advert: logs but does not answer', () => {
    const d = master({ lowerPrioNoAdvert: true, garpLowerPrioRepeat: 0 });
    const a = d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 100) }, 4200);
    assert.equal(of(a, 'send-advert').length, 0);
    assert.equal(
      of(a, 'log')[0].message,
      '(VI_1) Received advert from 10.77.0.12 with lower priority 100, ours 150',
    );
  });

  it('priority 0 from another router: the master answers with an advert and stays MASTER', () => {
    const d = master();
    const a = d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 0) }, 4200);
    assert.equal(of(a, 'send-advert')[0].priority, 150);
    assert.equal(d.s.state, 'MASTER');
    assert.equal(d.s.stats.priorityZeroReceived, 1);
  });

  it('GARP schedule: burst at MASTER, second burst after garp_master_delay, refresh every garp_master_refresh', () => {
    const d = new Driver(
      simParams('VI_1', 150, '10.77.0.11', { garpMasterRefreshMs: 2500, garpMasterRefreshRepeat: 2 }),
    );
    d.ev({ type: 'start' }, 0);
    d.advance(20_000);
    const garps = d.all.filter((x) => x.a.type === 'send-garp') as {
      t: number;
      a: Extract<VrrpAction, { type: 'send-garp' }>;
    }[];
    const m = 3414.062;
    assert.deepEqual(garps[0], {
      t: m,
      a: {
        type: 'send-garp',
        addresses: ['10.77.0.100'],
        count: 5,
        reason: 'master',
        arpIntervalMs: 0,
        naIntervalMs: 0,
      },
    });
    assert.ok(garps.some((g) => g.a.reason === 'master-delayed' && g.t === m + 5000 && g.a.count === 5));
    // refresh is checked at advert time, as keepalived does: first advert strictly after m + 2500
    const refresh = garps.filter((g) => g.a.reason === 'refresh');
    assert.equal(refresh[0].t, m + 3000);
    assert.equal(refresh[0].a.count, 2);
    assert.equal(refresh[1].t, m + 6000);
  });

  it('two address owners: the one with the lower address reduces its priority to 254', () => {
    const d = new Driver(simParams('VI_1', 255, '10.77.0.11'));
    d.ev({ type: 'start' }, 0);
    d.advance(1);
    d.ev({ type: 'packet', packet: advertFrom('10.77.0.12', 255) }, 100);
    assert.equal(d.s.effectivePriority, 254);
    assert.equal(d.s.state, 'BACKUP');
  });

  it('a rejected packet changes nothing but the drop counter', () => {
    const d = master();
    const before = nextDeadline(d.s);
    const pkt = advertFrom('10.77.0.12', 200);
    const a = d.ev({ type: 'packet', packet: { ...pkt, ttl: 64 } }, 4200);
    assert.deepEqual(
      a.map((x) => x.type),
      ['drop'],
    );
    assert.equal(d.s.stats.drops.ttl, 1);
    assert.equal(d.s.state, 'MASTER');
    assert.equal(nextDeadline(d.s), before);
  });
});

describe('VRRP tracking events', () => {
  it('priority change in BACKUP shifts the running master-down timer by the skew difference', () => {
    const d = new Driver(simParams('VI_1', 150, '10.77.0.11'));
    d.ev({ type: 'start' }, 0);
    assert.equal(nextDeadline(d.s), 3414.062);
    d.ev({ type: 'track', effectivePriority: 100, fault: false }, 10);
    assert.equal(nextDeadline(d.s), 3609.375);
    assert.ok(d.messages().includes('(VI_1) Changing effective priority from 150 to 100'));
  });

  it('fault while MASTER: FAULT at once, priority 0 sent, VIPs removed; recovery: BACKUP then MASTER', () => {
    const d = new Driver(simParams('VI_1', 150, '10.77.0.11'));
    d.ev({ type: 'start' }, 0);
    d.advance(4000);
    const a = d.ev(
      { type: 'track', effectivePriority: 150, fault: true, faultReasons: ['interface eth0 down'] },
      4100,
    );
    assert.equal(d.s.state, 'FAULT');
    assert.deepEqual(
      a.map((x) => x.type),
      ['log', 'transition', 'send-advert', 'log', 'log', 'remove-vips', 'notify'],
    );
    assert.equal(of(a, 'send-advert')[0].priority, 0);
    assert.equal(of(a, 'transition')[0].message, '(VI_1) Entering FAULT STATE');
    assert.ok(d.messages().includes('(VI_1) sent 0 priority'));
    assert.equal(nextDeadline(d.s), undefined);
    const up = d.ev({ type: 'track', effectivePriority: 150, fault: false }, 5000);
    assert.equal(of(up, 'transition')[0].to, 'BACKUP');
    assert.equal(nextDeadline(d.s), 5000 + 3414.062);
    d.advance(9000);
    assert.equal(d.s.state, 'MASTER');
  });

  it('the address owner keeps priority 255 and goes straight back to MASTER after a fault', () => {
    const d = new Driver(simParams('VI_1', 255, '10.77.0.11'));
    d.ev({ type: 'start' }, 0);
    d.advance(1);
    d.ev({ type: 'track', effectivePriority: 200, fault: false }, 2);
    assert.equal(d.s.effectivePriority, 255);
    d.ev({ type: 'track', effectivePriority: 255, fault: true }, 10);
    const up = d.ev({ type: 'track', effectivePriority: 255, fault: false }, 20);
    assert.equal(of(up, 'transition')[0].to, 'MASTER');
  });
});

describe('VRRP over IPv6', () => {
  it('v3 over IPv6 multicast: election, takeover after a crash', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    const v6 = { version: 3 as const, family: 6 as const, virtualAddresses: ['fd00::100'] };
    sim.add(simParams('A', 150, 'fe80::11', v6));
    sim.add(simParams('B', 100, 'fe80::12', v6));
    sim.start('A', 0);
    sim.start('B', 0);
    sim.runUntil(5000);
    assert.deepEqual(sim.masters(), ['A']);
    const sent = sim.node('A').actions.find((x) => x.action.type === 'send-advert')?.action;
    assert.equal(sent?.type === 'send-advert' && sent.packets[0].destination, 'ff02::12');
    assert.equal(sim.node('B').state.stats.advertsReceived > 0, true);
    const last = sim.advertTimes('A').at(-1) ?? 0;
    sim.crash('A');
    sim.runUntil(10_000);
    assert.deepEqual(sim.masters(), ['B']);
    assert.equal(sim.transitions('B').at(-1)?.t, last + LAT + 3609.375);
  });
});

describe('VRRP unicast', () => {
  it('adverts go to each peer; peers elect; a non-peer source is dropped with check_unicast_src', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    const peers = (me: string) =>
      ['10.77.0.11', '10.77.0.12', '10.77.0.13'].filter((a) => a !== me).map((address) => ({ address }));
    sim.add(simParams('A', 150, '10.77.0.11', { unicastPeers: peers('10.77.0.11'), checkUnicastSrc: true }));
    sim.add(simParams('B', 100, '10.77.0.12', { unicastPeers: peers('10.77.0.12'), checkUnicastSrc: true }));
    sim.start('A', 0);
    sim.start('B', 0);
    sim.runUntil(6000);
    assert.deepEqual(sim.masters(), ['A']);
    const sent = sim.node('A').actions.find((x) => x.action.type === 'send-advert')!.action as Extract<
      VrrpAction,
      { type: 'send-advert' }
    >;
    assert.deepEqual(
      sent.packets.map((p) => p.destination),
      ['10.77.0.12', '10.77.0.13'],
    );
    const b = sim.node('B');
    const r = step(
      b.state,
      { type: 'packet', packet: advertFrom('10.77.0.99', 200, { destination: '10.77.0.12' }) },
      6000,
    );
    assert.equal(of(r.actions, 'drop')[0].reason, 'unicast-source');
    const m = step(b.state, { type: 'packet', packet: advertFrom('10.77.0.11', 200) }, 6000);
    assert.equal(of(m.actions, 'drop')[0].reason, 'cast-mismatch');
  });

  it('v3 unicast: detects a peer using the old checksum (224.0.0.18 in the pseudo-header) and switches to it', () => {
    const d = new Driver(
      simParams('B', 100, '10.77.0.12', { version: 3, unicastPeers: [{ address: '10.77.0.11' }] }),
    );
    d.ev({ type: 'start' }, 0);
    const a = d.ev(
      {
        type: 'packet',
        packet: advertFrom('10.77.0.11', 150, { version: 3, destination: '10.77.0.12', old: true }),
      },
      10,
    );
    assert.equal(of(a, 'drop').length, 0);
    assert.ok(d.messages().includes('(B) Setting unicast VRRPv3 checksum to old version'));
    assert.equal(d.s.oldUnicastChecksum, true);
    const never = new Driver(
      simParams('B', 100, '10.77.0.12', {
        version: 3,
        unicastPeers: [{ address: '10.77.0.11' }],
        unicastChecksumCompat: 'never',
      }),
    );
    never.ev({ type: 'start' }, 0);
    const n = never.ev(
      {
        type: 'packet',
        packet: advertFrom('10.77.0.11', 150, { version: 3, destination: '10.77.0.12', old: true }),
      },
      10,
    );
    assert.equal(of(n, 'drop')[0].reason, 'checksum');
  });
});

describe('VRRP instance: fuzz', () => {
  it('random packets and events never throw, and every drop is counted', () => {
    const ev = fc.oneof(
      fc.record({
        type: fc.constant('packet' as const),
        bytes: fc.uint8Array({ maxLength: 40 }),
        prio: fc.integer({ min: 0, max: 255 }),
        valid: fc.boolean(),
        src: fc.constantFrom('10.77.0.12', '10.77.0.10', '10.77.0.11', 'garbage', '::1'),
        ttl: fc.constantFrom(255, 64, undefined),
      }),
      fc.record({ type: fc.constant('timer' as const) }),
      fc.record({
        type: fc.constant('track' as const),
        p: fc.integer({ min: -300, max: 300 }),
        fault: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(ev, fc.integer({ min: 0, max: 3000 })), { maxLength: 40 }), (events) => {
        const d = new Driver(simParams('VI_1', 150, '10.77.0.11', { preemptDelayMs: 1000 }));
        d.ev({ type: 'start' }, 0);
        let t = 0;
        let drops = 0;
        for (const [e, dt] of events) {
          t += dt;
          d.advance(t);
          let acts: VrrpAction[];
          if (e.type === 'packet') {
            const pkt = e.valid
              ? advertFrom('10.77.0.12', e.prio)
              : { ...advertFrom('10.77.0.12', e.prio), data: Buffer.from(e.bytes) };
            acts = d.ev({ type: 'packet', packet: { ...pkt, source: e.src, ttl: e.ttl } }, t);
          } else if (e.type === 'timer') acts = d.ev({ type: 'timer' }, t);
          else acts = d.ev({ type: 'track', effectivePriority: e.p, fault: e.fault }, t);
          drops += of(acts, 'drop').length;
          assert.ok(['BACKUP', 'MASTER', 'FAULT'].includes(d.s.state));
          assert.ok(d.s.effectivePriority >= 1 && d.s.effectivePriority <= 254);
          const dl = nextDeadline(d.s);
          if (d.s.state !== 'FAULT') assert.ok(dl !== undefined && dl >= t);
        }
        const counted = Object.values(d.s.stats.drops).reduce((a, b) => a + b, 0);
        assert.equal(counted, drops);
      }),
      { numRuns: 300 },
    );
  });
});

describe('VRRP v2 authentication', () => {
  it('auth_type PASS: adverts carry the password (as in the keepalived capture); a wrong one is dropped', () => {
    const sim = new VrrpSim({ latencyMs: LAT });
    sim.add(simParams('VI_1', 150, '10.77.0.11', { authentication: { type: 'PASS', password: 'kabench1' } }));
    sim.add(simParams('VI_2', 100, '10.77.0.12', { authentication: { type: 'PASS', password: 'kabench1' } }));
    sim.add(simParams('VI_3', 50, '10.77.0.13', { auth: { type: 'pass', password: 'other' } }));
    for (const n of ['VI_1', 'VI_2', 'VI_3']) sim.start(n, 0);
    sim.runUntil(8000);
    const sent = sim.node('VI_1').actions.find((x) => x.action.type === 'send-advert')?.action;
    assert.equal(
      sent?.type === 'send-advert' && sent.packets[0].data.toString('hex'),
      '21339601010198bd0a4d00646b6162656e636831', // frame 1 of vrrpv2_authPASS_adverts.pcap
    );
    // VI_3 rejects everything and so believes nobody is master
    assert.deepEqual(sim.masters().sort(), ['VI_1', 'VI_3']);
    assert.ok(sim.node('VI_3').state.stats.drops['auth-failure'] > 0);
    assert.equal(sim.stateOf('VI_2'), 'BACKUP');
  });
});
