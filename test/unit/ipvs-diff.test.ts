import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describeChanges, diff, type IpvsOp } from '../../src/ipvs/diff.js';
import { MemoryKernel } from '../../src/ipvs/memory-kernel.js';
import {
  type DestConfig,
  destKeyString,
  type IpvsTable,
  makeDest,
  makeService,
  type ServiceConfig,
  serviceKeyString,
} from '../../src/ipvs/types.js';

// Small value pools so that desired and kernel tables collide on keys often (the interesting cases).
const svcAddr = fc.constantFrom('10.0.0.1', '10.0.0.2', '2001:db8::1');
const destAddr = fc.constantFrom('192.168.0.1', '192.168.0.2', '192.168.0.3', '2001:db8::a', '2001:db8::b');

const arbService: fc.Arbitrary<ServiceConfig> = fc
  .record({
    addr: svcAddr,
    fwmark: fc.constantFrom(0, 0, 0, 1, 2),
    port: fc.constantFrom(80, 443),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    scheduler: fc.constantFrom('rr', 'wlc', 'sh'),
    flags: fc.constantFrom(0, 1, 0x19),
    timeout: fc.constantFrom(0, 300),
  })
  .map((r) =>
    r.fwmark
      ? makeService({
          family: r.addr.includes(':') ? 6 : 4,
          address: r.addr.includes(':') ? '::' : '0.0.0.0',
          port: 0,
          fwmark: r.fwmark,
          scheduler: r.scheduler,
          flags: r.flags,
          timeout: r.timeout,
        })
      : makeService({
          address: r.addr,
          port: r.port,
          protocol: r.protocol,
          scheduler: r.scheduler,
          flags: r.flags,
          timeout: r.timeout,
        }),
  );

const arbDest: fc.Arbitrary<DestConfig> = fc
  .record({
    addr: destAddr,
    port: fc.constantFrom(80, 8080),
    forward: fc.constantFrom('masq' as const, 'route' as const, 'tunnel' as const),
    weight: fc.integer({ min: 0, max: 3 }),
    upper: fc.constantFrom(0, 100),
  })
  .map((r) =>
    makeDest({
      address: r.addr,
      port: r.port,
      forward: r.forward,
      weight: r.weight,
      upperThreshold: r.upper,
    }),
  );

function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = key(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const arbTable: fc.Arbitrary<IpvsTable> = fc
  .array(fc.record({ service: arbService, dests: fc.array(arbDest, { maxLength: 5 }) }), { maxLength: 6 })
  .map((services) => ({
    services: uniqueBy(services, (s) => serviceKeyString(s.service)).map((s) => ({
      service: s.service,
      dests: uniqueBy(s.dests, destKeyString),
    })),
  }));

/** Canonical form for comparing tables regardless of order. */
function canon(t: IpvsTable, only?: (key: string) => boolean) {
  return t.services
    .filter((s) => !only || only(serviceKeyString(s.service)))
    .map((s) => ({
      key: serviceKeyString(s.service),
      service: s.service,
      dests: [...s.dests].sort((a, b) => destKeyString(a).localeCompare(destKeyString(b))),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

function applyAll(kernel: MemoryKernel, ops: IpvsOp[]) {
  for (const op of ops) kernel.apply1(op); // throws on any op the kernel would refuse
}

describe('IPVS diff properties', () => {
  it('applying diff(desired, kernel) yields desired for owned services and leaves the others alone', () => {
    fc.assert(
      fc.property(
        arbTable,
        arbTable,
        fc.array(arbService, { maxLength: 4 }),
        (desired, kernelTable, extraOwned) => {
          const owned = new Set([
            ...extraOwned.map(serviceKeyString),
            ...desired.services.map((s) => serviceKeyString(s.service)),
          ]);
          const kernel = new MemoryKernel(kernelTable);
          applyAll(kernel, diff(desired, kernelTable, owned));
          const after = kernel.table();
          const desiredKeys = new Set(desired.services.map((s) => serviceKeyString(s.service)));
          // Owned: exactly desired (owned-but-undesired services are gone).
          assert.deepEqual(
            canon(after, (k) => owned.has(k)),
            canon(desired),
          );
          // Not owned: untouched.
          assert.deepEqual(
            canon(after, (k) => !owned.has(k) && !desiredKeys.has(k)),
            canon(kernelTable, (k) => !owned.has(k) && !desiredKeys.has(k)),
          );
        },
      ),
    );
  });

  it('diff(desired, desired) is empty', () => {
    fc.assert(
      fc.property(arbTable, (t) =>
        assert.deepEqual(diff(t, t, new Set(t.services.map((s) => serviceKeyString(s.service)))), []),
      ),
    );
  });

  it('a second diff after applying the first is empty (idempotent repair)', () => {
    fc.assert(
      fc.property(arbTable, arbTable, (desired, kernelTable) => {
        const kernel = new MemoryKernel(kernelTable);
        applyAll(kernel, diff(desired, kernelTable));
        assert.deepEqual(diff(desired, kernel.table()), []);
      }),
    );
  });

  it('editable-field changes give edits, never delete+add', () => {
    fc.assert(
      fc.property(
        arbTable,
        fc.constantFrom('wrr', 'lc', 'mh'),
        fc.integer({ min: 4, max: 100 }),
        fc.constantFrom('masq' as const, 'route' as const, 'tunnel' as const),
        (table, scheduler, weight, forward) => {
          const edited: IpvsTable = {
            services: table.services.map((s) => ({
              service: {
                ...s.service,
                scheduler,
                timeout: s.service.timeout + 1,
                flags: s.service.flags ^ 1,
              },
              dests: s.dests.map((d) => ({ ...d, weight, forward, lowerThreshold: d.lowerThreshold + 1 })),
            })),
          };
          const ops = diff(edited, table);
          assert.ok(
            ops.every((o) => o.kind === 'edit-service' || o.kind === 'edit-dest'),
            JSON.stringify(ops),
          );
          assert.equal(ops.filter((o) => o.kind === 'edit-service').length, table.services.length);
          assert.equal(
            ops.filter((o) => o.kind === 'edit-dest').length,
            table.services.reduce((n, s) => n + s.dests.length, 0),
          );
        },
      ),
    );
  });

  it('non-owned kernel services are never in any op', () => {
    fc.assert(
      fc.property(arbTable, arbTable, (desired, kernelTable) => {
        const desiredKeys = new Set(desired.services.map((s) => serviceKeyString(s.service)));
        for (const op of diff(desired, kernelTable, new Set())) {
          assert.ok(
            desiredKeys.has(serviceKeyString(op.service)),
            `op on non-owned ${serviceKeyString(op.service)}`,
          );
        }
      }),
    );
  });
});

describe('IPVS diff examples', () => {
  const svc = makeService({ address: '10.0.0.1', port: 80, scheduler: 'rr' });
  const rs1 = makeDest({ address: '192.168.0.1', port: 80, weight: 1 });
  const rs2 = makeDest({ address: '192.168.0.2', port: 80, weight: 1 });

  it('weight change is one edit-dest naming the field', () => {
    const ops = diff(
      { services: [{ service: svc, dests: [rs1, { ...rs2, weight: 0 }] }] },
      { services: [{ service: svc, dests: [rs1, rs2] }] },
    );
    assert.deepEqual(ops, [
      {
        kind: 'edit-dest',
        service: { family: 4, fwmark: 0, protocol: 'tcp', address: '10.0.0.1', port: 80 },
        dest: { ...rs2, weight: 0 },
        changed: ['weight'],
        was: { weight: 1 },
      },
    ]);
    assert.deepEqual(describeChanges(ops[0]), ['weight 1 -> 0']);
  });

  it('port change of a dest is delete + add (port is a key)', () => {
    const ops = diff(
      { services: [{ service: svc, dests: [{ ...rs1, port: 81 }] }] },
      { services: [{ service: svc, dests: [rs1] }] },
    );
    assert.deepEqual(
      ops.map((o) => o.kind),
      ['delete-dest', 'add-dest'],
    );
  });

  it('scheduler change is an edit-service and keeps the dests', () => {
    const ops = diff(
      { services: [{ service: { ...svc, scheduler: 'wlc' }, dests: [rs1] }] },
      { services: [{ service: svc, dests: [rs1] }] },
    );
    assert.deepEqual(
      ops.map((o) => [o.kind, o.kind === 'edit-service' ? o.changed : []]),
      [['edit-service', ['scheduler']]],
    );
    assert.deepEqual(describeChanges(ops[0]), ['scheduler rr -> wlc']);
  });

  it('tunnel fields are ignored for non-tunnel dests (the kernel does not report them)', () => {
    const ops = diff(
      { services: [{ service: svc, dests: [{ ...rs1, tunnelPort: 99 }] }] },
      { services: [{ service: svc, dests: [rs1] }] },
    );
    assert.deepEqual(ops, []);
  });

  it('an owned service no longer desired is deleted whole; a foreign one is kept', () => {
    const foreign = makeService({ address: '10.9.9.9', port: 80 });
    const ops = diff(
      { services: [] },
      {
        services: [
          { service: svc, dests: [rs1, rs2] },
          { service: foreign, dests: [] },
        ],
      },
      new Set([serviceKeyString(svc)]),
    );
    assert.deepEqual(
      ops.map((o) => o.kind),
      ['delete-service'],
    );
  });
});
