import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertVrrpCapabilities,
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  effectiveCapabilities,
  MissingCapabilityError,
  missingCapabilities,
} from '../../src/daemon/capabilities.js';

const status = (capEff: string) =>
  `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe('capabilities checked before halo run starts VRRP', () => {
  it('reads CapEff from /proc/PID/status text', () => {
    assert.equal(effectiveCapabilities(status('000001ffffffffff')), 0x1ffffffffffn);
    assert.equal(effectiveCapabilities('Name:\tx\n'), undefined);
    assert.equal(typeof effectiveCapabilities(), 'bigint', 'this Linux process has a CapEff line');
  });

  it('names what is missing: all of root, without CAP_NET_RAW (setpriv --bounding-set=-net_raw), none', () => {
    assert.deepEqual(missingCapabilities([CAP_NET_RAW, CAP_NET_ADMIN], 0x1ffffffffffn), []);
    const noRaw = 0x1ffffffffffn & ~(1n << 13n);
    assert.deepEqual(missingCapabilities([CAP_NET_RAW, CAP_NET_ADMIN], noRaw), [CAP_NET_RAW]);
    assert.throws(
      () => assertVrrpCapabilities(noRaw),
      (err: unknown) => {
        assert.ok(err instanceof MissingCapabilityError);
        assert.match(err.message, /lacks CAP_NET_RAW \(the raw sockets that send and receive VRRP adverts\)/);
        return true;
      },
    );
    assert.throws(() => assertVrrpCapabilities(0n), /lacks CAP_NET_RAW .* and CAP_NET_ADMIN/);
    assert.doesNotThrow(() => assertVrrpCapabilities(undefined), 'unknown: not refused');
  });
});
