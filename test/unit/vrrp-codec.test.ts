import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIpv6, parseIpv4, parseIpv6 } from '../../src/vrrp/addr.js';
import {
  type AdvertExpectations,
  DROP_REASONS,
  type DropReason,
  decodeAdvert,
  encodeAdvert,
  IPPROTO_AH,
  peekVrid,
  type ReceivedAdvertPacket,
  validateAdvert,
  vrrpChecksum,
} from '../../src/vrrp/codec.js';
import { VrrpDispatcher } from '../../src/vrrp/dispatch.js';
import { readIpPackets, readVrrpPackets } from '../helpers/vrrp-pcap.js';

/** Independent RFC 1071 check: the one's-complement sum over (pseudo-header +) message is 0xffff. */
function sumIsValid(parts: number[][]): boolean {
  let s = 0;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

const V2_EXPECT: AdvertExpectations = {
  family: 4,
  version: 2,
  vrid: 51,
  advertIntervalMs: 1000,
  auth: { type: 'none' },
  virtualAddresses: ['10.77.0.100'],
  checkAddresses: true,
  unicast: false,
  unicastPeers: [],
  checkUnicastSrc: false,
};

function v2Packet(overrides: Partial<ReceivedAdvertPacket> = {}): ReceivedAdvertPacket {
  const data = encodeAdvert(
    { version: 2, vrid: 51, priority: 150, addresses: ['10.77.0.100'], advertIntervalMs: 1000 },
    { family: 4, source: '10.77.0.11', destination: '224.0.0.18' },
  );
  return { data, family: 4, source: '10.77.0.11', destination: '224.0.0.18', ttl: 255, ...overrides };
}

/** Patch bytes of a v2/IPv4 message and fix its checksum so only the patched field is wrong. */
function patched(data: Uint8Array, patch: (b: Buffer) => void, version: 2 | 3 = 2): Buffer {
  const b = Buffer.from(data);
  patch(b);
  const sum = vrrpChecksum(b, version, 4, '10.77.0.11', '224.0.0.18');
  b.writeUInt16BE(sum ?? 0, 6);
  return b;
}

describe('VRRP codec: keepalived 2.2.7 captures', () => {
  const captures = [
    'vrrpv2_adverts.pcap',
    'vrrpv2_authPASS_adverts.pcap',
    'vrrpv3_adv0.1_adverts.pcap',
    'failover_v3.pcap',
  ];
  for (const file of captures) {
    it(`${file}: every advert decodes and re-encodes to identical bytes`, () => {
      const pkts = readVrrpPackets(file);
      assert.ok(pkts.length >= 3, 'capture has adverts');
      for (const p of pkts) {
        assert.equal(p.ttl, 255);
        assert.equal(p.tos, 0xc0);
        const dec = decodeAdvert(p.payload, p.family);
        assert.ok(dec.ok, `frame ${p.frame}: ${!dec.ok && dec.message}`);
        const a = dec.advert;
        const auth =
          a.authType === 1
            ? { type: 'pass' as const, password: Buffer.from(a.authData ?? []).toString('latin1') }
            : undefined;
        const again = encodeAdvert(
          {
            version: a.version,
            vrid: a.vrid,
            priority: a.priority,
            addresses: a.addresses,
            advertIntervalMs: a.advertIntervalMs,
            auth,
          },
          { family: p.family, source: p.source, destination: p.destination },
        );
        assert.deepEqual(again, p.payload, `frame ${p.frame}`);
        assert.ok(
          a.version === 2
            ? sumIsValid([[...p.payload]])
            : sumIsValid([
                [...parseIpv4(p.source)!, ...parseIpv4(p.destination)!, 0, 112, 0, p.payload.length],
                [...p.payload],
              ]),
          `frame ${p.frame} checksum`,
        );
      }
    });
  }

  it('v2 advert matches the README bytes and fields', () => {
    const [p] = readVrrpPackets('vrrpv2_adverts.pcap');
    assert.equal(p.payload.toString('hex'), '2133960100013e190a4d00640000000000000000');
    const dec = decodeAdvert(p.payload, 4);
    assert.ok(dec.ok);
    assert.deepEqual(
      {
        v: dec.advert.version,
        vrid: dec.advert.vrid,
        prio: dec.advert.priority,
        int: dec.advert.advertIntervalMs,
      },
      { v: 2, vrid: 51, prio: 150, int: 1000 },
    );
    assert.deepEqual(dec.advert.addresses, ['10.77.0.100']);
    assert.equal(dec.advert.checksum, 0x3e19);
  });

  it('v2 auth PASS carries the password in clear and validates only with it', () => {
    const [p] = readVrrpPackets('vrrpv2_authPASS_adverts.pcap');
    const dec = decodeAdvert(p.payload, 4);
    assert.ok(dec.ok);
    assert.equal(dec.advert.authType, 1);
    assert.equal(Buffer.from(dec.advert.authData!).toString(), 'kabench1');
    const pkt = {
      data: p.payload,
      family: 4 as const,
      source: p.source,
      destination: p.destination,
      ttl: p.ttl,
    };
    assert.ok(validateAdvert(pkt, { ...V2_EXPECT, auth: { type: 'pass', password: 'kabench1' } }).ok);
    const bad = validateAdvert(pkt, { ...V2_EXPECT, auth: { type: 'pass', password: 'kabench2' } });
    assert.equal(!bad.ok && bad.reason, 'auth-failure');
  });

  it('v3 0.1 s advert: 10 centiseconds, pseudo-header checksum, IP total length 32', () => {
    const [p] = readVrrpPackets('vrrpv3_adv0.1_adverts.pcap');
    assert.equal(p.ipTotalLength, 32);
    const dec = decodeAdvert(p.payload, 4);
    assert.ok(dec.ok);
    assert.equal(dec.advert.rawInterval, 10);
    assert.equal(dec.advert.advertIntervalMs, 100);
    assert.equal(dec.advert.checksum, 0x4329);
    const pkt = {
      data: p.payload,
      family: 4 as const,
      source: p.source,
      destination: p.destination,
      ttl: 255,
    };
    assert.ok(validateAdvert(pkt, { ...V2_EXPECT, version: 3, advertIntervalMs: 100 }).ok);
    // The same bytes fail when checked without the pseudo-header (v3_checksum_as_v2) or from another source.
    const asV2 = validateAdvert(pkt, {
      ...V2_EXPECT,
      version: 3,
      advertIntervalMs: 100,
      v3ChecksumAsV2: true,
    });
    assert.equal(!asV2.ok && asV2.reason, 'checksum');
    const otherSrc = validateAdvert({ ...pkt, source: '10.77.0.12' }, { ...V2_EXPECT, version: 3 });
    assert.equal(!otherSrc.ok && otherSrc.reason, 'checksum');
  });

  it('failover capture contains both directors and their priority-0 adverts', () => {
    const pkts = readVrrpPackets('failover_v3.pcap');
    const prios = new Set(pkts.map((p) => `${p.source}/${p.payload[2]}`));
    assert.ok(prios.has('10.77.0.11/150'));
    assert.ok(prios.has('10.77.0.12/100'));
    assert.ok(prios.has('10.77.0.11/0'));
    // and gratuitous ARPs are not VRRP
    assert.ok(readIpPackets('failover_v3.pcap').length === pkts.length);
  });
});

describe('VRRP codec: encode', () => {
  it('v3 over IPv6 uses the IPv6 pseudo-header; round trip', () => {
    const src = 'fe80::1';
    const dst = 'ff02::12';
    const data = encodeAdvert(
      { version: 3, vrid: 7, priority: 200, addresses: ['fd00::100', 'fd00::101'], advertIntervalMs: 1000 },
      { family: 6, source: src, destination: dst },
    );
    assert.equal(data.length, 8 + 32);
    const ph = [...parseIpv6(src)!, ...parseIpv6(dst)!, 0, 0, 0, data.length, 0, 0, 0, 112];
    assert.ok(sumIsValid([ph, [...data]]));
    const dec = decodeAdvert(data, 6);
    assert.ok(dec.ok);
    assert.deepEqual(dec.advert.addresses, ['fd00::100', 'fd00::101']);
    assert.equal(dec.advert.advertIntervalMs, 1000);
    const ok = validateAdvert(
      { data, family: 6, source: src, destination: dst, ttl: 255 },
      { ...V2_EXPECT, family: 6, version: 3, vrid: 7, virtualAddresses: ['fd00::100', 'fd00::101'] },
    );
    assert.ok(ok.ok);
  });

  it('v3 IPv4 variants: v3_checksum_as_v2 and the old unicast checksum (224.0.0.18 in the pseudo-header)', () => {
    const advert = {
      version: 3 as const,
      vrid: 1,
      priority: 100,
      addresses: ['10.0.0.1'],
      advertIntervalMs: 1000,
    };
    const asV2 = encodeAdvert(advert, {
      family: 4,
      source: '10.0.0.2',
      destination: '224.0.0.18',
      v3ChecksumAsV2: true,
    });
    assert.ok(sumIsValid([[...asV2]]));
    const old = encodeAdvert(advert, {
      family: 4,
      source: '10.0.0.2',
      destination: '10.0.0.3',
      pseudoHeaderDestination: '224.0.0.18',
    });
    const std = encodeAdvert(advert, { family: 4, source: '10.0.0.2', destination: '10.0.0.3' });
    assert.notDeepEqual(old, std);
    assert.ok(sumIsValid([[10, 0, 0, 2, 224, 0, 0, 18, 0, 112, 0, old.length], [...old]]));
    assert.ok(sumIsValid([[10, 0, 0, 2, 10, 0, 0, 3, 0, 112, 0, std.length], [...std]]));
  });

  it("keepalived's v2 over IPv6: no auth bytes, IPv6 pseudo-header checksum", () => {
    const data = encodeAdvert(
      { version: 2, vrid: 9, priority: 100, addresses: ['fd00::9'], advertIntervalMs: 2000 },
      { family: 6, source: 'fe80::2', destination: 'ff02::12' },
    );
    assert.equal(data.length, 8 + 16);
    const ph = [...parseIpv6('fe80::2')!, ...parseIpv6('ff02::12')!, 0, 0, 0, data.length, 0, 0, 0, 112];
    assert.ok(sumIsValid([ph, [...data]]));
    const dec = decodeAdvert(data, 6);
    assert.ok(dec.ok);
    assert.equal(dec.advert.advertIntervalMs, 2000);
    assert.equal(dec.advert.authData, undefined);
  });

  it('AH (protocol 51) is recognised: the AH header is decoded, the VRRP message behind it too', () => {
    const vrrp = v2Packet().data;
    const ah = Buffer.alloc(24);
    ah[0] = 112;
    ah[1] = 4;
    ah.writeUInt32BE(0x0a4d000b, 4);
    ah.writeUInt32BE(42, 8);
    ah.fill(0xab, 12, 24);
    const dec = decodeAdvert(Buffer.concat([ah, vrrp]), 4, IPPROTO_AH);
    assert.ok(dec.ok);
    assert.deepEqual(
      [dec.advert.ah?.spi, dec.advert.ah?.sequence, dec.advert.ah?.icv.length, dec.advert.vrid],
      [0x0a4d000b, 42, 12, 51],
    );
    // without AH support an AH packet is an auth-type mismatch, like keepalived's "Received AH header but auth type not AH"
    const r = validateAdvert(
      {
        data: Buffer.concat([ah, vrrp]),
        family: 4,
        protocol: IPPROTO_AH,
        source: '10.77.0.11',
        destination: '224.0.0.18',
        ttl: 255,
      },
      V2_EXPECT,
    );
    assert.equal(!r.ok && r.reason, 'auth-type-mismatch');
  });

  it('IPv6 text is canonical', () => {
    assert.equal(formatIpv6(parseIpv6('FD00:0:0:0:0:0:0:100')!), 'fd00::100');
    assert.equal(formatIpv6(parseIpv6('::ffff:10.0.0.1')!), '::ffff:a00:1');
    assert.equal(parseIpv6('1::2::3'), undefined);
    assert.equal(parseIpv4('10.0.0.256'), undefined);
  });

  it('peekVrid reads the VRID, also behind an AH header', () => {
    const p = v2Packet();
    assert.equal(peekVrid(p.data), 51);
    const ah = Buffer.concat([Buffer.alloc(24), p.data]);
    assert.equal(peekVrid(ah, IPPROTO_AH), 51);
    assert.equal(peekVrid(Buffer.alloc(3)), undefined);
  });
});

describe('VRRP codec: every drop reason', () => {
  const cases: { reason: DropReason; pkt: () => ReceivedAdvertPacket; exp?: Partial<AdvertExpectations> }[] =
    [
      { reason: 'bad-address', pkt: () => v2Packet({ source: '10.77.0' }) },
      { reason: 'too-short', pkt: () => v2Packet({ data: Buffer.from([0x21, 0x33, 0x96]) }) },
      { reason: 'length', pkt: () => v2Packet({ data: patched(v2Packet().data, (b) => (b[3] = 2)) }) },
      { reason: 'ip-length', pkt: () => v2Packet({ ipHeaderLength: 20, ipTotalLength: 41 }) },
      { reason: 'ttl', pkt: () => v2Packet({ ttl: 254 }) },
      { reason: 'version', pkt: () => v2Packet(), exp: { version: 3 } },
      { reason: 'type', pkt: () => v2Packet({ data: patched(v2Packet().data, (b) => (b[0] = 0x22)) }) },
      { reason: 'vrid', pkt: () => v2Packet(), exp: { vrid: 52 } },
      {
        reason: 'auth-type-invalid',
        pkt: () => v2Packet({ data: patched(v2Packet().data, (b) => (b[4] = 3)) }),
      },
      {
        reason: 'auth-type-mismatch',
        pkt: () => v2Packet(),
        exp: { auth: { type: 'pass', password: 'secret' } },
      },
      {
        reason: 'auth-failure',
        pkt: () =>
          v2Packet({
            data: encodeAdvert(
              {
                version: 2,
                vrid: 51,
                priority: 150,
                addresses: ['10.77.0.100'],
                advertIntervalMs: 1000,
                auth: { type: 'pass', password: 'wrong' },
              },
              { family: 4, source: '10.77.0.11', destination: '224.0.0.18' },
            ),
          }),
        exp: { auth: { type: 'pass', password: 'secret' } },
      },
      {
        reason: 'ah-not-vrrp',
        pkt: () => {
          const ah = Buffer.alloc(24);
          ah[0] = 6;
          return v2Packet({ data: Buffer.concat([ah, v2Packet().data]), protocol: IPPROTO_AH });
        },
        exp: { auth: { type: 'ah', password: 'secret' } },
      },
      { reason: 'advert-interval', pkt: () => v2Packet(), exp: { advertIntervalMs: 2000 } },
      {
        reason: 'address-count',
        pkt: () => v2Packet(),
        exp: { virtualAddresses: ['10.77.0.100', '10.77.0.101'] },
      },
      { reason: 'address-list', pkt: () => v2Packet(), exp: { virtualAddresses: ['10.77.0.101'] } },
      { reason: 'checksum', pkt: () => v2Packet({ data: Buffer.from(v2Packet().data).fill(0x55, 6, 7) }) },
      {
        reason: 'cast-mismatch',
        pkt: () => v2Packet(),
        exp: { unicast: true, unicastPeers: [{ address: '10.77.0.11' }] },
      },
      {
        reason: 'unicast-source',
        pkt: () => v2Packet({ destination: '10.77.0.12' }),
        exp: { unicast: true, checkUnicastSrc: true, unicastPeers: [{ address: '10.77.0.13' }] },
      },
      {
        reason: 'unicast-ttl',
        pkt: () => v2Packet({ destination: '10.77.0.12', ttl: 64 }),
        exp: { unicast: true, checkUnicastSrc: true, unicastPeers: [{ address: '10.77.0.11', minTtl: 250 }] },
      },
    ];

  for (const c of cases) {
    it(`drops with '${c.reason}'`, () => {
      const r = validateAdvert(c.pkt(), { ...V2_EXPECT, ...c.exp });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, c.reason, !r.ok ? r.message : '');
    });
  }

  it('covers every reason except not-running (an instance-state reason, tested in vrrp-instance)', () => {
    const tested = new Set<string>(cases.map((c) => c.reason));
    tested.add('not-running');
    assert.deepEqual([...tested].sort(), [...DROP_REASONS].sort());
  });

  it('unicast without check_unicast_src accepts any TTL and source (keepalived behaviour)', () => {
    const r = validateAdvert(v2Packet({ destination: '10.77.0.12', ttl: 3, source: '10.77.0.11' }), {
      ...V2_EXPECT,
      unicast: true,
      unicastPeers: [{ address: '10.77.0.99' }],
    });
    assert.ok(r.ok);
  });

  it('skip-check of addresses skips the count and list checks', () => {
    const r = validateAdvert(v2Packet(), {
      ...V2_EXPECT,
      virtualAddresses: ['10.9.9.9', '10.9.9.8'],
      checkAddresses: false,
    });
    assert.ok(r.ok);
  });
});

describe('VRRP codec: fuzz', () => {
  it('random bytes never throw: a decode or a known drop reason', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom<4 | 6>(4, 6),
        fc.constantFrom(112, 51),
        (bytes, family, protocol) => {
          const d = decodeAdvert(bytes, family, protocol);
          if (!d.ok) assert.ok((DROP_REASONS as readonly string[]).includes(d.reason));
          const v = validateAdvert(
            {
              data: bytes,
              family,
              protocol,
              source: family === 4 ? '10.0.0.1' : 'fe80::1',
              destination: family === 4 ? '224.0.0.18' : 'ff02::12',
              ttl: 255,
            },
            { ...V2_EXPECT, family },
          );
          if (!v.ok) assert.ok((DROP_REASONS as readonly string[]).includes(v.reason));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('mutated valid adverts never throw, and single-byte corruption is never accepted silently as the same advert', () => {
    const base = v2Packet();
    fc.assert(
      fc.property(fc.nat(base.data.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const data = Buffer.from(base.data);
        data[pos] ^= x;
        const r = validateAdvert({ ...base, data }, V2_EXPECT);
        // any change to the protected message breaks the checksum or a field check
        assert.equal(r.ok, false);
      }),
    );
  });

  it('structurally valid random adverts round-trip', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<2 | 3>(2, 3),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), { maxLength: 20 }),
        fc.integer({ min: 1, max: 40 }),
        (version, vrid, priority, addrs, ivl) => {
          const addresses = addrs.map((a) => a.join('.'));
          const advertIntervalMs = version === 2 ? ivl * 1000 : ivl * 10;
          const data = encodeAdvert(
            { version, vrid, priority, addresses, advertIntervalMs },
            { family: 4, source: '10.1.1.1', destination: '224.0.0.18' },
          );
          const d = decodeAdvert(data, 4);
          assert.ok(d.ok);
          assert.deepEqual(
            [
              d.advert.version,
              d.advert.vrid,
              d.advert.priority,
              d.advert.addresses,
              d.advert.advertIntervalMs,
            ],
            [version, vrid, priority, addresses, advertIntervalMs],
          );
        },
      ),
    );
  });
});

describe('VRRP dispatch', () => {
  it('routes by family, VRID, interface, and unicast peer for duplicate VRIDs', () => {
    const d = new VrrpDispatcher([
      { name: 'VI_1', family: 4, vrid: 51, ifindex: 2 },
      { name: 'VI_6', family: 6, vrid: 51, ifindex: 2 },
      { name: 'U_A', family: 4, vrid: 60, ifindex: 3, unicastPeers: ['10.1.0.1'] },
      { name: 'U_B', family: 4, vrid: 60, ifindex: 3, unicastPeers: ['10.1.0.2'] },
    ]);
    const pkt = (vrid: number, source = '10.77.0.11', ifindex = 2, family: 4 | 6 = 4) => ({
      data: Buffer.from([0x21, vrid, 100, 1, 0, 1, 0, 0]),
      family,
      source,
      ifindex,
    });
    assert.deepEqual(d.route(pkt(51)), { type: 'instance', name: 'VI_1' });
    assert.deepEqual(d.route(pkt(51, 'fe80::1', 2, 6)), { type: 'instance', name: 'VI_6' });
    assert.deepEqual(d.route(pkt(52)), { type: 'unknown-vrid', vrid: 52 });
    assert.deepEqual(d.route(pkt(51, '10.77.0.11', 9)), { type: 'unknown-vrid', vrid: 51 });
    assert.deepEqual(d.route(pkt(60, '10.1.0.2', 3)), { type: 'instance', name: 'U_B' });
    assert.deepEqual(d.route(pkt(60, '10.1.0.9', 3)), { type: 'unknown-vrid', vrid: 60 });
    assert.deepEqual(d.route({ ...pkt(51), data: Buffer.alloc(2) }), { type: 'too-short' });
  });
});
