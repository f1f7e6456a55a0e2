import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  buildGratuitousArp,
  buildUnsolicitedNa,
  formatIp,
  formatMac,
  internetChecksum,
  parseIpv4,
  parseIpv6,
  parseMac,
} from '../../src/net/frames.js';

// Tests run from dist/test/unit; fixtures stay in the source tree.
const fixtureDir = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'net');

function fixture(name: string): Buffer {
  const hex = readFileSync(join(fixtureDir, name), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('')
    .trim();
  return Buffer.from(hex, 'hex');
}

describe('gratuitous ARP frame', () => {
  it('matches keepalived 2.2.7 byte for byte', () => {
    const captured = fixture('keepalived-2.2.7-garp.hex');
    assert.equal(captured.length, 42);
    assert.deepEqual(buildGratuitousArp('2a:6b:7b:ab:17:4c', '10.77.0.100'), captured);
  });

  it('puts the MAC and the address in the sender and target fields', () => {
    const f = buildGratuitousArp(Buffer.from([2, 0, 0, 0, 0, 9]), '192.0.2.7');
    assert.equal(formatMac(f.subarray(6, 12)), '02:00:00:00:00:09');
    assert.equal(formatMac(f.subarray(22, 28)), '02:00:00:00:00:09');
    assert.deepEqual([...f.subarray(28, 32)], [192, 0, 2, 7]);
    assert.deepEqual([...f.subarray(38, 42)], [192, 0, 2, 7]);
  });

  it('rejects bad input', () => {
    assert.throws(() => buildGratuitousArp('2a:6b:7b:ab:17', '10.0.0.1'), /MAC/);
    assert.throws(() => buildGratuitousArp('2a:6b:7b:ab:17:4c', '10.0.0.256'), /IPv4/);
    assert.throws(() => buildGratuitousArp('2a:6b:7b:ab:17:4c', 'fd00::1'), /IPv4/);
  });
});

describe('unsolicited neighbour advertisement frame', () => {
  it('matches keepalived 2.2.7 byte for byte', () => {
    const captured = fixture('keepalived-2.2.7-na.hex');
    assert.equal(captured.length, 86);
    assert.deepEqual(buildUnsolicitedNa('2a:6b:7b:ab:17:4c', 'fd00:77::100'), captured);
  });

  it('sets the router flag only when asked, with a valid checksum either way', () => {
    for (const router of [false, true]) {
      const f = buildUnsolicitedNa('02:00:00:00:00:01', 'fd00:1::5', { router });
      assert.equal(f[54], 136);
      assert.equal(f[21], 255, 'hop limit');
      assert.equal(f[58], router ? 0xa0 : 0x20);
      const pseudo = Buffer.concat([f.subarray(22, 54), Buffer.from([0, 0, 0, 32, 0, 0, 0, 58])]);
      assert.equal(internetChecksum(pseudo, f.subarray(54)), 0, 'checksum verifies');
    }
  });
});

describe('address parsing', () => {
  it('parses IPv6 text forms', () => {
    assert.equal(parseIpv6('::').toString('hex'), '0'.repeat(32));
    assert.equal(parseIpv6('ff02::12').toString('hex'), `ff02${'0'.repeat(26)}12`);
    assert.equal(parseIpv6('fe80::1:2').toString('hex'), `fe80${'0'.repeat(20)}00010002`);
    assert.equal(parseIpv6('::ffff:10.1.2.3').toString('hex'), `${'0'.repeat(20)}ffff0a010203`);
    assert.equal(parseIpv6('1:2:3:4:5:6:7:8').toString('hex'), '00010002000300040005000600070008');
  });

  it('rejects malformed IPv6 and IPv4', () => {
    for (const bad of [
      '',
      ':',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      'g::1',
      '12345::',
      '::1%eth0',
    ]) {
      assert.throws(() => parseIpv6(bad), /IPv6/, bad);
    }
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', ' 1.2.3.4']) {
      assert.throws(() => parseIpv4(bad), /IPv4/, bad);
    }
  });

  it('round-trips any 16 bytes through the canonical text form', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const groups = [];
        for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
        assert.deepEqual(parseIpv6(groups.join(':')), Buffer.from(bytes));
      }),
    );
  });

  it('formats IPv6 canonically (RFC 5952), as the WHATWG URL parser does', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const bytes = Buffer.alloc(16);
        groups.forEach((g, i) => {
          bytes.writeUInt16BE(g, i * 2);
        });
        const text = formatIp(bytes);
        assert.equal(
          `[${text}]`,
          new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname,
        );
        assert.deepEqual(parseIpv6(text), bytes);
      }),
    );
    assert.equal(formatIp(Buffer.from([10, 0, 0, 255])), '10.0.0.255');
    assert.throws(() => formatIp(Buffer.alloc(5)), /4 or 16 bytes/);
  });

  it('parses MACs', () => {
    assert.deepEqual([...parseMac('FF:00:0a:0B:10:20')], [255, 0, 10, 11, 16, 32]);
    assert.throws(() => parseMac('ff-00-0a-0b-10-20'), /MAC/);
  });
});
