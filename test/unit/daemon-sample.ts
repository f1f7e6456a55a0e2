/** A status document for the daemon-* tests (not a test file itself). */
import type { StatusDocument } from '../../src/daemon/status.js';

export const NOW = Date.parse('2026-11-21T07:00:00Z');

export function sampleStatus(): StatusDocument {
  return {
    daemon: {
      pid: 1234,
      version: '0.1.0',
      startedAt: '2026-11-21T05:00:00.000Z',
      configFile: '/etc/halo/halo.conf',
      configLoadedAt: '2026-11-21T06:59:00.000Z',
    },
    instances: [
      {
        name: 'VI_1',
        state: 'MASTER',
        interface: 'eth0',
        vrid: 51,
        priority: 150,
        effectivePriority: 150,
        masterAddress: '10.0.0.1',
        vips: ['10.0.0.100/24'],
        since: '2026-11-21T06:58:30.000Z',
        lastTransitionReason: 'master_down_timer',
      },
      {
        name: 'VI_6',
        state: 'BACKUP',
        interface: 'eth1',
        vrid: 52,
        priority: 100,
        effectivePriority: 80,
        masterAddress: null,
        vips: ['fd00::100/64'],
        since: '2026-11-21T05:00:01.000Z',
        lastTransitionReason: 'init',
        peer: {
          address: 'fd00::9',
          priority: 120,
          lastAdvertAt: '2026-11-21T06:59:59.000Z',
          state: 'MASTER',
        },
      },
    ],
    virtualServers: [
      {
        name: '[10.0.0.100]:tcp:80',
        address: '10.0.0.100',
        port: 80,
        protocol: 'TCP',
        scheduler: 'rr',
        forwarding: 'DR',
        quorumUp: true,
        realServers: [
          {
            address: '10.0.0.2',
            port: 80,
            up: true,
            weight: 1,
            lastCheck: {
              checker: 'TCP_CHECK',
              ok: true,
              reason: 'connected',
              at: '2026-11-21T06:59:58.000Z',
            },
            since: '2026-11-21T05:00:03.000Z',
          },
          {
            address: '10.0.0.3',
            port: 80,
            up: false,
            weight: 2,
            effectiveWeight: 0,
            lastCheck: {
              checker: 'TCP_CHECK',
              ok: false,
              reason: 'connection refused',
              at: '2026-11-21T06:59:57.000Z',
              durationMs: 0.4,
            },
            since: '2026-11-21T06:50:00.000Z',
          },
        ],
      },
    ],
    ipvs: {
      services: 1,
      destinations: 1,
      lastSyncAt: '2026-11-21T06:59:59.000Z',
      driftRepairs: 2,
      lastError: null,
    },
  };
}
