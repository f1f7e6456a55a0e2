/**
 * Hand-built check plans for engine and scheduler tests: the test picks short keys ('a', 'rs1') so its
 * assertions stay readable; the typed ids beside them are placeholders (the engine treats keys as opaque
 * and never looks at ids).
 */
import type { PlanChecker, PlanRealServer, PlanVirtualServer } from '../../src/check/types.js';
import type {
  CheckerKey,
  RealServerId,
  RealServerKey,
  VirtualServerId,
  VirtualServerKey,
} from '../../src/plan/ids.js';

export function testVirtualServer(
  key: string,
  realServers: PlanRealServer[],
  omega = false,
): PlanVirtualServer {
  const id: VirtualServerId = { kind: 'group', family: 4, protocol: 'tcp', group: key };
  return { key: key as VirtualServerKey, id, omega, realServers };
}

const placeholderVs: VirtualServerId = { kind: 'group', family: 4, protocol: 'tcp', group: 'test' };

export function testRealServer(key: string, checkers: Omit<PlanChecker, 'id'>[], weight = 1): PlanRealServer {
  const id: RealServerId = { vs: placeholderVs, address: '192.0.2.1', port: 0 };
  return {
    key: key as RealServerKey,
    id,
    weight,
    checkers: checkers.map((c, index) => ({ ...c, id: { rs: id, index } })),
  };
}

export function testCheckerKey(key: string): CheckerKey {
  return key as CheckerKey;
}
