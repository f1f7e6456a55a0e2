/**
 * The VRRP core's part of self-healing (issue 17), on a fake clock:
 *  - a MASTER that yields to a higher-priority advert sends one parting advert at its own priority, so
 *    the winner (halo or keepalived) answers with its lower-priority gratuitous ARPs and clients that
 *    followed the loser during a partition come back at once;
 *  - two masters are reported (split-brain) when a settled MASTER hears a lower-priority master, and
 *    cleared when the other goes quiet or we step down; the handoff right after a preemption is not one;
 *  - a reconfigure that changes the VIP list on a live master adds, announces and advertises at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advertFrom, Driver, of } from '../helpers/vrrp-driver.js';
import { simParams } from '../helpers/vrrp-sim.js';

const US = '10.77.0.11';
const PEER = '10.77.0.12';

/** An instance that has been MASTER since t = 3609.375 (v2, advert 1 s, priority 100). */
function masterAt(priority = 100, extra = {}): Driver {
  const d = new Driver(simParams('VI_1', priority, US, extra));
  d.ev({ type: 'start', tracking: { effectivePriority: priority, fault: false } }, 0);
  d.advance(4000);
  assert.equal(d.s.state, 'MASTER');
  return d;
}

describe('self-healing in the VRRP core', () => {
  it('yielding to a higher-priority master: a parting advert at our own priority, then BACKUP', () => {
    const d = masterAt(100);
    const acts = d.ev({ type: 'packet', packet: advertFrom(PEER, 150) }, 10_000);
    const adverts = of(acts, 'send-advert');
    assert.deepEqual(
      adverts.map((a) => a.priority),
      [100],
      'one advert, at our own priority (not priority 0)',
    );
    assert.equal(d.s.state, 'BACKUP');
    const order = acts.map((a) => a.type);
    assert.ok(order.indexOf('send-advert') < order.indexOf('remove-vips'), 'sent before the VIPs go');
  });

  it('strict mode keeps the RFC: no parting advert', () => {
    const d = masterAt(100, { strictMode: true });
    const acts = d.ev({ type: 'packet', packet: advertFrom(PEER, 150) }, 10_000);
    assert.deepEqual(of(acts, 'send-advert'), []);
  });

  it('the winner answers a parting (lower-priority) advert with gratuitous ARPs', () => {
    const d = masterAt(150);
    const acts = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 10_000);
    assert.equal(of(acts, 'send-garp')[0]?.reason, 'lower-priority');
    assert.equal(d.s.state, 'MASTER');
  });

  it('split brain: reported once while the other master advertises, cleared when it goes quiet', () => {
    const d = masterAt(150);
    const first = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 10_000);
    assert.deepEqual(of(first, 'split-brain'), [
      { type: 'split-brain', peer: PEER, peerPriority: 100, ourPriority: 150 },
    ]);
    const again = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 11_000);
    assert.deepEqual(of(again, 'split-brain'), [], 'once per episode');
    assert.equal(d.s.splitBrain?.peer, PEER);
    // Quiet for down_timer_adverts + 1 intervals (4 s): over.
    const quiet = d.advance(15_100);
    assert.deepEqual(of(quiet, 'split-brain-cleared'), [
      { type: 'split-brain-cleared', peer: PEER, how: 'peer-quiet' },
    ]);
    assert.equal(d.s.splitBrain, undefined);
  });

  it('a preemption handoff is not a split brain (we became MASTER moments ago)', () => {
    const d = new Driver(simParams('VI_1', 150, US));
    d.ev({ type: 'start', tracking: { effectivePriority: 150, fault: false } }, 0);
    // The lower-priority master's adverts are discarded while we wait the master-down interval...
    d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 1000);
    d.advance(3500);
    assert.equal(d.s.state, 'MASTER');
    // ...then its parting advert arrives right after we took over.
    const acts = d.ev({ type: 'packet', packet: advertFrom(PEER, 100) }, 3500.5);
    assert.deepEqual(of(acts, 'split-brain'), []);
  });

  it('reconfigure on a live master: new VIPs added and announced, an advert with the new list at once', () => {
    const d = masterAt(150, { virtualAddresses: ['10.77.0.100'] });
    const acts = d.ev(
      {
        type: 'reconfigure',
        params: simParams('VI_1', 150, US, { virtualAddresses: ['10.77.0.100', '10.77.0.110'] }),
      },
      10_000,
    );
    assert.deepEqual(of(acts, 'add-vips')[0]?.addresses, ['10.77.0.110']);
    assert.deepEqual(of(acts, 'send-garp')[0]?.addresses, ['10.77.0.110']);
    assert.deepEqual(of(acts, 'send-advert')[0]?.addresses, ['10.77.0.100', '10.77.0.110']);
    assert.deepEqual(of(acts, 'transition'), [], 'no state change');
  });
});
