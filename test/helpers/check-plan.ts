/**
 * Hand-built check plans for engine and scheduler tests: the test picks short keys ('a', 'rs1') so its
 * assertions stay readable; the typed ids beside them are placeholders (the engine treats keys as opaque
 * and never looks at ids).
 */
import type { CheckPlan, PlanChecker, PlanRealServer, PlanVirtualServer } from '../../src/check/types.js';
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

type RawChecker = Omit<PlanChecker, 'key' | 'id'> & { key?: string; id?: string };
type RawRealServer = { key: string; weight: number; checkers: RawChecker[] };
type RawVirtualServer = Omit<PlanVirtualServer, 'key' | 'id' | 'realServers'> & {
  key: string;
  realServers: RawRealServer[];
};

/**
 * A whole plan written with short string keys (a checker's `key`, or its old-style `id`, names it): typed
 * keys and placeholder ids are filled in.
 */
export function testPlan(raw: { virtualServers: RawVirtualServer[] }): CheckPlan {
  return {
    virtualServers: raw.virtualServers.map(({ key, realServers, ...rest }) => ({
      ...testVirtualServer(
        key,
        realServers.map((rs) =>
          testRealServer(
            rs.key,
            rs.checkers.map(({ key: k, id, ...c }) => ({ ...c, key: testCheckerKey(k ?? id ?? '') })),
            rs.weight,
          ),
        ),
        rest.omega,
      ),
      ...rest,
    })),
  };
}
