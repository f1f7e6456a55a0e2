/**
 * `halo ipvs list` with a running daemon: the daemon's status document (up/down, effective weight, quorum,
 * last check) becomes computeDesired() input, matched to the config by addresses and ports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthFromDaemon, listDocument } from '../../src/cli/ipvs-cmd.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';
import type { VirtualServerStatus } from '../../src/daemon/status.js';
import { computeDesired } from '../../src/ipvs/desired.js';
import { buildIpvsPlan } from '../../src/plan/ipvs.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

const CONF = `virtual_server 10.0.0.100 80 {
  protocol TCP
  lb_algo wrr
  real_server 10.0.1.1 80 {
    weight 3
    TCP_CHECK {
    }
  }
  real_server 10.0.1.2 80 {
    weight 2
    TCP_CHECK {
    }
  }
}
virtual_server 10.0.0.100 443 {
  protocol TCP
  lb_algo wrr
  real_server 10.0.1.1 443 {
    weight 1
    TCP_CHECK {
    }
  }
}
`;

function rsStatus(address: string, port: number, up: boolean, weight: number, reason: string) {
  return {
    address,
    port,
    up,
    weight,
    lastCheck: { checker: 'TCP_CHECK', ok: up, reason, at: '2026-01-01T00:00:00.000Z' },
    since: '2026-01-01T00:00:00.000Z',
  };
}

describe('halo ipvs list: health from the daemon', () => {
  const config = parseKeepalivedText(CONF, 'k.conf', { host: anyHost }).config;
  assert.ok(config);
  const plan = buildIpvsPlan(config).virtualServers;
  const [web, tls] = plan;
  const doc: { virtualServers: VirtualServerStatus[] } = {
    virtualServers: [
      {
        name: '[10.0.0.100]:tcp:80',
        address: '10.0.0.100',
        port: 80,
        protocol: 'TCP',
        scheduler: 'wrr',
        quorumUp: true,
        realServers: [
          rsStatus('10.0.1.1', 80, true, 3, 'connected'),
          rsStatus('10.0.1.2', 80, false, 2, 'connection refused'),
        ],
      },
      // The 443 service's real server is up on port 80 only: it must not borrow that state.
      {
        name: '[10.0.0.100]:tcp:443',
        address: '10.0.0.100',
        port: 443,
        protocol: 'TCP',
        scheduler: 'wrr',
        quorumUp: true,
        realServers: [rsStatus('10.0.1.1', 443, false, 1, 'timeout')],
      },
    ],
  };

  it('puts down servers out of the desired table with the daemon reason', () => {
    const h = healthFromDaemon(plan, doc);
    const desired = computeDesired(plan, h.health, h.vsState);
    const inKernel = desired.status.map((s) => [s.virtualServer, s.endpoint, s.inKernel]);
    assert.deepEqual(inKernel, [
      [web.key, '10.0.1.1:80', true],
      [web.key, '10.0.1.2:80', false],
      [tls.key, '10.0.1.1:443', false],
    ]);
    assert.equal(h.reasons.get(web.realServers[1].key), 'daemon: last check failed: connection refused');
    assert.equal(h.reasons.get(web.realServers[0].key), 'daemon: last check ok');
    const table = listDocument({ version: 0x10201, connTableSize: 4096 }, [], desired);
    assert.deepEqual(table.missingServices?.sort(), ['tcp:10.0.0.100:443', 'tcp:10.0.0.100:80']);
  });

  it('without a daemon entry a server keeps its start-up health', () => {
    const h = healthFromDaemon(plan, { virtualServers: [] });
    assert.equal(h.health.size, 0);
    const desired = computeDesired(plan, h.health, h.vsState);
    assert.ok(desired.status.every((s) => s.inKernel));
  });
});
