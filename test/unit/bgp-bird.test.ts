/**
 * The BIRD driver's pure parts: the routes file it writes, and the parsers for control-socket replies
 * (captured from BIRD 2.0.12, Debian bookworm's bird2). The netns tests run the same code against a real BIRD.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseBirdBfd,
  parseBirdProtocols,
  parseBirdRoutes,
  parseBirdStatus,
  renderBirdRoutes,
  splitBirdReplies,
} from '../../src/bgp/bird.js';
import type { BirdSpeakerPlan } from '../../src/bgp/plan.js';

const SPEAKER: BirdSpeakerPlan = {
  kind: 'bird',
  controlSocket: '/run/bird/bird.ctl',
  routesFile: '/run/halo/bird/halo-vips.conf',
  protocolName: 'halo_vips',
  localAs: 65001,
  routerId: null,
};

/** Captured: `show status`, `show protocols all` (a static and a BGP protocol) and `show route ...`. */
const CAPTURE = `0001 BIRD 2.0.12 ready.
1000-BIRD 2.0.12
1011-Router ID is 10.99.1.11
 Hostname is vm
 Current server time is 2026-11-30 12:50:45.902
 Last reboot on 2026-11-30 12:50:40.510
 Last reconfiguration on 2026-11-30 12:50:40.510
0013 Daemon is up and running
2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     12:50:40.510  
1006-
1002-halo_vips4 Static     master4    up     12:50:40.510  
1006-  Channel ipv4
     State:          UP
     Routes:         1 imported, 0 exported, 1 preferred
 
1002-tor        BGP        ---        up     12:50:44.591  Established   
1006-  BGP state:          Established
     Neighbor address: 10.99.1.1
     Neighbor AS:      65000
     Local AS:         65001
     Neighbor ID:      10.99.1.1
     Hold timer:       1.622/3
   Channel ipv4
     State:          UP
     Routes:         0 imported, 1 exported, 0 preferred
 
1002-tor2       BGP        ---        start  12:50:44.591  Active        Socket: Connection refused
1006-  BGP state:          Active
     Neighbor address: 10.99.2.1
     Neighbor AS:      65000
     Local AS:         65001
 
0000 
1007-Table master4:
 10.99.0.100/32       blackhole [halo_vips4 12:50:40.510] * (200)
1007-Table master6:
 2001:db8::100/128    blackhole [halo_vips6 12:50:40.510] * (200)
0000 
0002-Reading configuration from d.conf
0003 Reconfigured
9001 syntax error, unexpected CF_SYM_UNDEFINED
`;

describe('BIRD control socket replies', () => {
  const { replies, rest } = splitBirdReplies(CAPTURE);

  it('splits a stream into replies by their final line', () => {
    assert.equal(rest, '');
    assert.deepEqual(
      replies.map((r) => [r.code, r.ok]),
      [
        [1, true],
        [13, true],
        [0, true],
        [0, true],
        [3, true],
        [9001, false],
      ],
    );
  });

  it('keeps an incomplete reply for the next chunk', () => {
    const cut = CAPTURE.indexOf('1002-tor ');
    const first = splitBirdReplies(CAPTURE.slice(0, cut));
    assert.equal(first.replies.length, 2);
    const second = splitBirdReplies(first.rest + CAPTURE.slice(cut));
    assert.equal(second.replies.length, 4);
  });

  it('reads the router id and the boot time (the restart marker)', () => {
    assert.deepEqual(parseBirdStatus(replies[1]), {
      routerId: '10.99.1.11',
      bootId: '2026-11-30 12:50:40.510',
    });
  });

  it('lists the BGP sessions with neighbour, AS numbers, state and exported routes', () => {
    assert.deepEqual(parseBirdProtocols(replies[2]), [
      {
        name: 'tor',
        neighborAddress: '10.99.1.1',
        neighborAs: 65000,
        localAs: 65001,
        state: 'Established',
        established: true,
        info: 'Established',
        exportedRoutes: 1,
        bfd: null,
      },
      {
        name: 'tor2',
        neighborAddress: '10.99.2.1',
        neighborAs: 65000,
        localAs: 65001,
        state: 'Active',
        established: false,
        info: 'Active        Socket: Connection refused',
        exportedRoutes: null,
        bfd: null,
      },
    ]);
  });

  it('lists the prefixes of a route listing, both families', () => {
    assert.deepEqual(parseBirdRoutes(replies[3]), ['10.99.0.100/32', '2001:db8::100/128']);
  });

  it('reads BFD session states', () => {
    const bfd = splitBirdReplies(`1020-bfd1:
 IP address                Interface  State      Since         Interval  Timeout
 10.99.1.1                 bxd0       Up         12:47:26.660    0.100    0.300
 10.99.2.1                 bxd1       Down       12:47:26.660    1.000    0.000
0000 
`).replies[0];
    assert.deepEqual(
      [...parseBirdBfd(bfd)],
      [
        ['10.99.1.1', 'Up'],
        ['10.99.2.1', 'Down'],
      ],
    );
  });
});

describe('the routes file', () => {
  it('puts each VIP in the static protocol of its family with its attributes', () => {
    const text = renderBirdRoutes(SPEAKER, [
      {
        prefix: '10.0.100.1/32',
        family: 4,
        attributes: {
          communities: ['65000:100'],
          largeCommunities: ['65000:1:2'],
          med: 10,
          asPathPrepend: 2,
        },
      },
      {
        prefix: '2001:db8::100/128',
        family: 6,
        attributes: { communities: [], largeCommunities: [], med: null, asPathPrepend: 0 },
      },
    ]);
    assert.equal(
      text.split('\n').slice(2).join('\n'),
      `protocol static halo_vips4 {
  ipv4;
  route 10.0.100.1/32 blackhole { bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); bgp_med = 10; bgp_path.prepend(65001); bgp_path.prepend(65001); };
}
protocol static halo_vips6 {
  ipv6;
  route 2001:db8::100/128 blackhole;
}
`,
    );
  });

  it('keeps both protocols when nothing is announced (withdrawal = an empty protocol)', () => {
    const text = renderBirdRoutes(SPEAKER, []);
    assert.match(
      text,
      /protocol static halo_vips4 \{\n {2}ipv4;\n\}\nprotocol static halo_vips6 \{\n {2}ipv6;\n\}\n$/,
    );
  });

  it('refuses a prepend without an AS', () => {
    assert.throws(
      () =>
        renderBirdRoutes({ ...SPEAKER, localAs: null }, [
          {
            prefix: '10.0.100.1/32',
            family: 4,
            attributes: { communities: [], largeCommunities: [], med: null, asPathPrepend: 1 },
          },
        ]),
      /as_path_prepend needs local_as/,
    );
  });
});
