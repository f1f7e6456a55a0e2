import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeAdvert, type ReceivedAdvertPacket } from '../../src/vrrp/codec.js';
import { createInstance } from '../../src/vrrp/instance.js';
import {
  createSyncGroup,
  type SyncGroupAction,
  type SyncGroupState,
  stepSyncGroup,
  stepSyncGroupTimers,
  syncGroupNextDeadline,
} from '../../src/vrrp/sync-group.js';
import { simParams } from '../helpers/vrrp-sim.js';

function advert(vrid: number, vip: string, priority: number, source = '10.77.0.11'): ReceivedAdvertPacket {
  const data = encodeAdvert(
    { version: 2, vrid, priority, addresses: [vip], advertIntervalMs: 1000 },
    { family: 4, source, destination: '224.0.0.18' },
  );
  return { data, family: 4, source, destination: '224.0.0.18', ttl: 255 };
}

function group(prio = 100): SyncGroupState {
  const a = createInstance(
    simParams('VI_1', prio, '10.77.0.12', { virtualRouterId: 51, virtualAddresses: ['10.77.0.100'] }),
  );
  const b = createInstance(
    simParams('VI_2', prio, '10.77.1.12', { virtualRouterId: 52, virtualAddresses: ['10.77.1.100'] }),
  );
  return createSyncGroup({ name: 'G', group: ['VI_1', 'VI_2'] }, [a, b]);
}

class GroupDriver {
  actions: SyncGroupAction[] = [];
  constructor(public g: SyncGroupState) {}
  ev(name: string, ev: Parameters<typeof stepSyncGroup>[2], t: number) {
    const r = stepSyncGroup(this.g, name, ev, t);
    this.g = r.group;
    this.actions.push(...r.actions);
    return r.actions;
  }
  advance(t: number) {
    for (;;) {
      const d = syncGroupNextDeadline(this.g);
      if (d === undefined || d > t) return;
      const r = stepSyncGroupTimers(this.g, d);
      this.g = r.group;
      this.actions.push(...r.actions);
    }
  }
  states() {
    return [this.g.members.VI_1.state, this.g.members.VI_2.state, this.g.state];
  }
}

describe('vrrp_sync_group', () => {
  it('members become MASTER together (only once every member wants MASTER)', () => {
    const d = new GroupDriver(group());
    d.ev('VI_1', { type: 'start' }, 0);
    d.ev('VI_2', { type: 'start' }, 500);
    assert.deepEqual(d.states(), ['BACKUP', 'BACKUP', 'BACKUP']);
    // VI_1's master-down timer expires first: it must wait for VI_2
    d.advance(3609.375);
    assert.deepEqual(d.states(), ['BACKUP', 'BACKUP', 'BACKUP']);
    assert.equal(d.g.members.VI_1.wantState, 'MASTER');
    d.advance(4109.375);
    assert.deepEqual(d.states(), ['MASTER', 'MASTER', 'MASTER']);
    const g = d.actions.filter((a) => a.type === 'group-notify');
    assert.deepEqual(
      g.map((a) => a.type === 'group-notify' && a.message),
      ['VRRP_Group(G) Syncing instances to MASTER state'],
    );
    // both members added their own VIPs
    const adds = d.actions
      .filter((a) => a.type === 'add-vips')
      .map((a) => a.type === 'add-vips' && [a.instance, a.addresses]);
    assert.deepEqual(adds, [
      ['VI_2', ['10.77.1.100']],
      ['VI_1', ['10.77.0.100']],
    ]);
  });

  it('one member seeing a higher-priority master takes the whole group to BACKUP', () => {
    const d = new GroupDriver(group());
    d.ev('VI_1', { type: 'start' }, 0);
    d.ev('VI_2', { type: 'start' }, 0);
    d.advance(5000);
    assert.deepEqual(d.states(), ['MASTER', 'MASTER', 'MASTER']);
    d.ev('VI_1', { type: 'packet', packet: advert(51, '10.77.0.100', 200) }, 5100);
    assert.deepEqual(d.states(), ['BACKUP', 'BACKUP', 'BACKUP']);
    const removes = d.actions
      .filter((a) => a.type === 'remove-vips')
      .map((a) => a.type === 'remove-vips' && a.instance);
    assert.deepEqual(removes, ['VI_1', 'VI_2']);
  });

  it('a fault in one member faults the group (the master sends priority 0); recovery brings all back to BACKUP', () => {
    const d = new GroupDriver(group());
    d.ev('VI_1', { type: 'start' }, 0);
    d.ev('VI_2', { type: 'start' }, 0);
    d.advance(5000);
    d.ev(
      'VI_2',
      { type: 'track', effectivePriority: 100, fault: true, faultReasons: ['interface eth1 down'] },
      6000,
    );
    assert.deepEqual(d.states(), ['FAULT', 'FAULT', 'FAULT']);
    const zero = d.actions
      .filter((a) => a.type === 'send-advert' && a.priority === 0)
      .map((a) => a.type === 'send-advert' && a.instance);
    assert.deepEqual(zero.sort(), ['VI_1', 'VI_2']);
    // VI_1 is fine but cannot leave FAULT on its own while VI_2 is faulted
    d.ev('VI_1', { type: 'track', effectivePriority: 100, fault: false }, 6500);
    assert.deepEqual(d.states(), ['FAULT', 'FAULT', 'FAULT']);
    d.ev('VI_2', { type: 'track', effectivePriority: 100, fault: false }, 7000);
    assert.deepEqual(d.states(), ['BACKUP', 'BACKUP', 'BACKUP']);
    d.advance(7000 + 3609.375);
    assert.deepEqual(d.states(), ['MASTER', 'MASTER', 'MASTER']);
  });

  it('a master member hearing a lower-priority advert makes every member send its lower-priority GARPs', () => {
    const d = new GroupDriver(group());
    d.ev('VI_1', { type: 'start' }, 0);
    d.ev('VI_2', { type: 'start' }, 0);
    d.advance(5000);
    const acts = d.ev('VI_1', { type: 'packet', packet: advert(51, '10.77.0.100', 50) }, 5100);
    const garps = acts
      .filter((a) => a.type === 'send-garp')
      .map((a) => a.type === 'send-garp' && [a.instance, a.reason]);
    assert.deepEqual(garps, [
      ['VI_1', 'lower-priority'],
      ['VI_2', 'lower-priority'],
    ]);
    // and both repeat them after garp_lower_prio_delay (5 s)
    d.advance(10_100);
    const delayed = d.actions.filter((a) => a.type === 'send-garp' && a.reason === 'lower-priority-delayed');
    assert.deepEqual(delayed.map((a) => a.type === 'send-garp' && a.instance).sort(), ['VI_1', 'VI_2']);
  });

  it('a member that starts faulted keeps the whole group in FAULT', () => {
    const d = new GroupDriver(group());
    d.ev('VI_1', { type: 'start', tracking: { effectivePriority: 100, fault: true } }, 0);
    d.ev('VI_2', { type: 'start' }, 0);
    assert.deepEqual(d.states(), ['FAULT', 'FAULT', 'FAULT']);
    d.advance(20_000);
    assert.deepEqual(d.states(), ['FAULT', 'FAULT', 'FAULT']);
  });
});
