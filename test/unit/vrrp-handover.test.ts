/**
 * Planned operations in the VRRP core (issue 13), on a fake clock:
 *  - a stopping MASTER that hands over sends priority 0 and keeps its VIPs until another router advertises
 *    as MASTER (and a moment longer: its advert interval, or its second advert), then removes them and stops; with nobody answering it lets go after a master-down interval;
 *  - `halo failover` (a handover event) ends in BACKUP, held: a lower-priority master is accepted (no
 *    preemption back), but a master that goes silent is still taken over;
 *  - maintenance holds the instance in BACKUP whatever happens, and clearing it restores the election;
 *  - the immediate release (keepalived's) is unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HANDOVER_LINGER_MAX_MS } from '../../src/vrrp/instance.js';
import { advertFrom, Driver, of } from '../helpers/vrrp-driver.js';
import { simParams } from '../helpers/vrrp-sim.js';

const US = '10.77.0.11';
const PEER = '10.77.0.12';

/** MASTER since t = 3609.375 (v2, advert 1 s). */
function masterAt(priority = 150): Driver {
  const d = new Driver(simParams('VI_1', priority, US));
  d.ev({ type: 'start', tracking: { effectivePriority: priority, fault: false } }, 0);
  d.advance(4000);
  assert.equal(d.s.state, 'MASTER');
  return d;
}

describe('make-before-break in the VRRP core', () => {
  it('stop with handover: priority 0 now, VIPs kept until the new master advertises, then STOP', () => {
    const d = masterAt();
    const begin = d.ev({ type: 'stop', handover: true }, 10_000);
    assert.deepEqual(
      of(begin, 'send-advert').map((a) => a.priority),
      [0],
    );
    assert.deepEqual(of(begin, 'remove-vips'), [], 'the VIPs stay for now');
    assert.equal(d.s.state, 'MASTER');
    assert.ok(d.s.handover);
    // While waiting, the periodic adverts say priority 0, never our priority.
    const waiting = d.advance(11_000);
    assert.ok(of(waiting, 'send-advert').length > 0);
    assert.ok(of(waiting, 'send-advert').every((a) => a.priority === 0));
    assert.deepEqual(of(waiting, 'remove-vips'), []);
    // A priority 0 (another stopping router) or our own address does not count.
    assert.deepEqual(of(d.ev({ type: 'packet', packet: advertFrom(PEER, 0) }, 11_050), 'remove-vips'), []);
    // The backup's first advert as MASTER: it sends that before it adds the VIPs and its gratuitous ARPs, so
    // ours stay a moment longer (its advert interval, at most HANDOVER_LINGER_MAX_MS).
    const first = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 11_100);
    assert.deepEqual(of(first, 'remove-vips'), [], 'not on the first advert');
    assert.equal(d.s.handover?.releaseAt, 11_100 + HANDOVER_LINGER_MAX_MS);
    assert.deepEqual(of(d.advance(11_100 + HANDOVER_LINGER_MAX_MS - 1), 'remove-vips'), []);
    // Then the VIPs go, and the instance stops.
    const done = d.advance(11_100 + HANDOVER_LINGER_MAX_MS);
    assert.equal(of(done, 'remove-vips').length, 1);
    assert.deepEqual(of(done, 'send-advert'), [], 'no advert at our priority');
    assert.equal(d.s.state, 'STOP');
    assert.deepEqual(
      of(done, 'notify').map((n) => n.state),
      ['STOP'],
    );
  });

  it('nobody takes over: the VIPs go one master-down interval after the priority 0', () => {
    const d = masterAt();
    d.ev({ type: 'stop', handover: true }, 10_000);
    const deadline = d.s.handover?.deadline ?? 0;
    // v2, advert 1 s, priority 150: 3 s + (256 - 150) / 256 s.
    assert.ok(Math.abs(deadline - (10_000 + 3000 + (1000 * (256 - 150)) / 256)) < 0.01, String(deadline));
    const before = d.advance(deadline - 1);
    assert.deepEqual(of(before, 'remove-vips'), []);
    const after = d.advance(deadline);
    assert.equal(of(after, 'remove-vips').length, 1);
    assert.equal(d.s.state, 'STOP');
  });

  it('a second stop during the handover releases at once (no second priority 0)', () => {
    const d = masterAt();
    d.ev({ type: 'stop', handover: true }, 10_000);
    const now = d.ev({ type: 'stop' }, 10_200);
    assert.equal(of(now, 'remove-vips').length, 1);
    assert.deepEqual(of(now, 'send-advert'), []);
    assert.equal(d.s.state, 'STOP');
  });

  it("the immediate release is keepalived's: priority 0 and the VIPs go together", () => {
    const d = masterAt();
    const acts = d.ev({ type: 'stop' }, 10_000);
    assert.deepEqual(
      of(acts, 'send-advert').map((a) => a.priority),
      [0],
    );
    assert.equal(of(acts, 'remove-vips').length, 1);
    assert.equal(d.s.state, 'STOP');
  });

  it('a BACKUP stops at once whatever the release', () => {
    const d = new Driver(simParams('VI_1', 100, US));
    d.ev({ type: 'start', tracking: { effectivePriority: 100, fault: false } }, 0);
    d.ev({ type: 'stop', handover: true }, 10);
    assert.equal(d.s.state, 'STOP');
  });

  it('failover: hands over, then BACKUP held without preemption; the peer going silent is still taken over', () => {
    const d = masterAt(150);
    d.ev({ type: 'hold', hold: 'failover' }, 10_000);
    assert.ok(d.s.handover, 'holding a MASTER starts a handover');
    d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 10_100);
    assert.equal(d.s.state, 'MASTER', 'lingering after the first advert');
    // The new master's second advert ends the linger before the timer.
    const done = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 10_150);
    assert.equal(d.s.state, 'BACKUP');
    assert.equal(of(done, 'remove-vips').length, 1);
    // A lower-priority master's adverts keep us BACKUP (no preemption back).
    for (let t = 11_100; t < 20_000; t += 1000) d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, t);
    d.advance(20_000);
    assert.equal(d.s.state, 'BACKUP');
    // The peer dies: after the master-down interval we take over (the VIPs must have a master).
    d.advance(24_000);
    assert.equal(d.s.state, 'MASTER');
  });

  it('maintenance: never MASTER, even with the peer gone; cleared, the election preempts back', () => {
    const d = masterAt(150);
    d.ev({ type: 'hold', hold: 'maintenance' }, 10_000);
    d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 10_100);
    d.advance(10_100 + HANDOVER_LINGER_MAX_MS);
    assert.equal(d.s.state, 'BACKUP');
    const silent = d.advance(30_000);
    assert.equal(d.s.state, 'BACKUP', 'the peer went silent: still BACKUP');
    assert.equal(
      of(silent, 'log').filter((l) => /maintenance mode/.test(l.message)).length,
      1,
      'said once per silence',
    );
    d.ev({ type: 'hold', hold: undefined }, 30_000);
    d.advance(34_000);
    assert.equal(d.s.state, 'MASTER', 'no peer: ordinary election');
  });

  it('a held address owner does not take over at start', () => {
    const d = new Driver(simParams('VI_1', 255, US));
    d.ev({ type: 'hold', hold: 'maintenance' }, 0);
    d.ev({ type: 'start', tracking: { effectivePriority: 255, fault: false } }, 0);
    d.advance(10_000);
    assert.equal(d.s.state, 'BACKUP');
  });
});
