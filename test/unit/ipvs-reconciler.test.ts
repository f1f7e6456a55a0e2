import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApplyResult } from '../../src/ipvs/client.js';
import type { IpvsOp } from '../../src/ipvs/diff.js';
import { MemoryKernel } from '../../src/ipvs/memory-kernel.js';
import { Reconciler } from '../../src/ipvs/reconciler.js';
import { type IpvsTable, makeDest, makeService, serviceKeyString } from '../../src/ipvs/types.js';

const svcA = makeService({ address: '10.0.0.1', port: 80, scheduler: 'rr' });
const svcB = makeService({ address: '10.0.0.2', port: 443, scheduler: 'wlc' });
const foreign = makeService({ address: '10.9.9.9', port: 80 });
const rs = (n: number, weight = 1) => makeDest({ address: `192.168.0.${n}`, port: 80, weight });

const tableAB: IpvsTable = {
  services: [
    { service: svcA, dests: [rs(1), rs(2)] },
    { service: svcB, dests: [rs(3)] },
  ],
};

/** A kernel that records every op it is asked to apply. */
class RecordingKernel extends MemoryKernel {
  log: IpvsOp[] = [];
  override async apply(ops: IpvsOp[]): Promise<ApplyResult> {
    this.log.push(...ops);
    return super.apply(ops);
  }
}

/** Timer driven by hand: fire() runs what is scheduled. */
function manualTimer() {
  let pending: (() => void) | undefined;
  return {
    schedule: (fn: () => void) => {
      pending = fn;
      return () => {
        pending = undefined;
      };
    },
    fire() {
      const f = pending;
      pending = undefined;
      f?.();
    },
    get armed() {
      return pending !== undefined;
    },
  };
}

describe('IPVS reconciler', () => {
  it('applies the desired table from empty, then a no-op pass sends nothing', async () => {
    const kernel = new RecordingKernel();
    const r = new Reconciler({ backend: kernel, intervalMs: 0 });
    const first = await r.setDesired(tableAB);
    assert.equal(first.ops.length, 5);
    assert.equal(first.drift, false);
    kernel.log = [];
    const again = await r.reconcileNow();
    assert.deepEqual(again.ops, []);
    assert.deepEqual(kernel.log, []);
  });

  it('repairs drift (flush, deleted destination, changed weight) and reports it', async () => {
    const kernel = new RecordingKernel(
      new MemoryKernel({ services: [{ service: foreign, dests: [rs(9)] }] }).table(),
    );
    const timer = manualTimer();
    const r = new Reconciler({ backend: kernel, intervalMs: 5000, schedule: timer.schedule });
    await r.setDesired(tableAB);
    const drifts: { repaired: string[] }[] = [];
    r.on('drift', (d) => drifts.push(d));
    r.start();
    assert.ok(timer.armed);

    // someone deletes a destination and edits a weight
    kernel.apply1({ kind: 'delete-dest', service: svcA, dest: rs(2) });
    kernel.apply1({ kind: 'edit-dest', service: svcB, dest: rs(3, 7), changed: ['weight'] });
    const passDone = new Promise((res) => r.once('pass', res));
    timer.fire();
    await passDone;
    await new Promise(setImmediate); // the pass promise settles (and re-arms) after its event
    assert.equal(drifts.length, 1);
    assert.deepEqual(drifts[0].repaired.sort(), [
      'add 192.168.0.2:80 to tcp:10.0.0.1:80 (weight 1, masq)',
      'edit 192.168.0.3:80 in tcp:10.0.0.2:443 (weight)',
    ]);
    assert.ok(timer.armed, 're-armed after the pass');

    // ipvsadm -C: everything gone, including the foreign service (not ours to restore)
    kernel.flush();
    const rep = await r.reconcileNow();
    assert.equal(rep.drift, true);
    const after = await kernel.dumpTable();
    assert.deepEqual(after.map((s) => serviceKeyString(s.service)).sort(), [
      'tcp:10.0.0.1:80',
      'tcp:10.0.0.2:443',
    ]);
    r.stop();
    assert.equal(timer.armed, false);
  });

  it('never touches a foreign service; a dropped owned service is deleted on reload', async () => {
    const kernel = new RecordingKernel(
      new MemoryKernel({ services: [{ service: foreign, dests: [rs(9)] }] }).table(),
    );
    const r = new Reconciler({ backend: kernel, intervalMs: 0 });
    await r.setDesired(tableAB);
    const rep = await r.setDesired({ services: [tableAB.services[0]] });
    assert.deepEqual(
      rep.ops.map((o) => [o.kind, serviceKeyString(o.service)]),
      [['delete-service', 'tcp:10.0.0.2:443']],
    );
    assert.equal(rep.drift, false);
    assert.ok(kernel.log.every((o) => serviceKeyString(o.service) !== serviceKeyString(foreign)));
    assert.deepEqual([...r.ownedKeys()], ['tcp:10.0.0.1:80']);
  });

  it('reload keeps unchanged destinations: no delete op for them', async () => {
    const kernel = new RecordingKernel();
    const r = new Reconciler({ backend: kernel, intervalMs: 0 });
    await r.setDesired(tableAB);
    kernel.log = [];
    await r.setDesired({
      services: [
        { service: { ...svcA, scheduler: 'wrr' }, dests: [rs(1), rs(2, 5), rs(4)] },
        { service: svcB, dests: [rs(3)] },
      ],
    });
    assert.deepEqual(
      kernel.log.map((o) => o.kind),
      ['edit-service', 'edit-dest', 'add-dest'],
    );
  });

  it('kernel refusals are reported and retried on the next pass', async () => {
    const kernel = new RecordingKernel();
    let refuse = true;
    const flaky = {
      dumpTable: () => kernel.dumpTable(),
      apply: async (ops: IpvsOp[]) => {
        if (!refuse) return kernel.apply(ops);
        const ok = ops.filter((o) => o.kind !== 'add-dest' || o.dest.address !== '192.168.0.2');
        const res = await kernel.apply(ok);
        const bad = ops.filter((o) => !ok.includes(o));
        return {
          sent: ops.length,
          failures: [...res.failures, ...bad.map((op) => ({ op, error: new Error('EPERM') }))],
        };
      },
    };
    const r = new Reconciler({ backend: flaky, intervalMs: 0 });
    const first = await r.setDesired(tableAB);
    assert.equal(first.failures.length, 1);
    refuse = false;
    const second = await r.reconcileNow();
    assert.equal(second.drift, false, 'finishing a failed apply is not drift');
    assert.deepEqual(
      second.ops.map((o) => o.kind),
      ['add-dest'],
    );
    assert.deepEqual((await r.reconcileNow()).ops, []);
  });

  it('a failing dump is reported, not thrown', async () => {
    const r = new Reconciler({
      backend: {
        dumpTable: async () => {
          throw new Error('netlink gone');
        },
        apply: async () => ({ sent: 0, failures: [] }),
      },
      intervalMs: 0,
    });
    const errors: Error[] = [];
    r.on('failed', (e) => errors.push(e));
    const rep = await r.setDesired(tableAB);
    assert.match(rep.error?.message ?? '', /netlink gone/);
    assert.equal(errors.length, 1);
  });

  it('passes requested during a pass are coalesced into one', async () => {
    const kernel = new RecordingKernel();
    const r = new Reconciler({ backend: kernel, intervalMs: 0 });
    const p1 = r.setDesired(tableAB);
    const p2 = r.reconcileNow();
    const p3 = r.reconcileNow();
    await Promise.all([p1, p2, p3]);
    assert.equal(r.passes, 2);
    assert.equal(await p2, await p3);
  });
});
