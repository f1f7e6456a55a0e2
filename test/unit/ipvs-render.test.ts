import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderList } from '../../src/cli/ipvs-cmd.js';
import { NormalisedVirtualServerSchema } from '../../src/config/model.js';
import { computeDesired } from '../../src/ipvs/desired.js';
import { MemoryKernel } from '../../src/ipvs/memory-kernel.js';
import { renderIpvsadm } from '../../src/ipvs/render.js';
import { makeDest, makeService } from '../../src/ipvs/types.js';
import { buildIpvsVirtualServerPlan } from '../../src/plan/ipvs.js';

const FIXTURES = new URL('../../../test/fixtures/ipvs/', import.meta.url);
const info = { version: 0x010201, connTableSize: 4096 };

describe('ipvsadm -Ln rendering', () => {
  it('matches the text ipvsadm 1.31 printed for the same table (captured in the VM)', async () => {
    const s1 = makeService({
      address: '10.0.0.1',
      port: 80,
      scheduler: 'sh',
      flags: 0x19,
      timeout: 300,
      netmask: 24,
    });
    const s2 = makeService({
      family: 6,
      address: '::',
      port: 0,
      fwmark: 5,
      scheduler: 'mh',
      flags: 0x8 | 0x4,
    });
    const s3 = makeService({
      address: '2001:db8::1',
      port: 53,
      protocol: 'udp',
      scheduler: 'wrr',
      flags: 1,
      timeout: 60,
      netmask: 64,
    });
    const kernel = new MemoryKernel({
      services: [
        {
          service: s1,
          dests: [
            makeDest({
              address: '10.1.0.2',
              port: 80,
              forward: 'tunnel',
              tunnelType: 'gue',
              tunnelPort: 6080,
              tunnelFlags: 1,
            }),
            makeDest({
              address: '10.1.0.1',
              port: 80,
              forward: 'route',
              weight: 3,
              upperThreshold: 100,
              lowerThreshold: 10,
            }),
          ],
        },
        { service: s2, dests: [makeDest({ address: '2001:db8::a', port: 0 })] },
        {
          service: s3,
          dests: [
            makeDest({ address: '2001:db8::b', port: 53, forward: 'tunnel' }),
            makeDest({ address: '10.9.9.9', port: 53, forward: 'tunnel', tunnelType: 'gre', tunnelFlags: 1 }),
          ],
        },
      ],
    });
    const expected = readFileSync(new URL('captured-ipvsadm-Ln.txt', FIXTURES), 'utf8');
    assert.equal(renderIpvsadm(info, await kernel.dumpTable()), expected);
  });
});

describe('halo ipvs list annotations', () => {
  const inh = { connectTimeoutMs: 5000, delayLoopMs: 60000, retry: 1, delayBeforeRetryMs: 1000, warmupMs: 0 };
  const rs = (address: string) => ({
    address,
    port: 80,
    weight: 2,
    forwardingMethod: 'NAT',
    inhibitOnFailure: false,
    smtpAlert: false,
    ...inh,
    alpha: false,
    checkers: [{ type: 'TCP_CHECK', ...inh, alpha: false }],
  });
  const vs = NormalisedVirtualServerSchema.parse({
    address: '10.0.0.1',
    port: 80,
    family: 4,
    protocol: 'TCP',
    scheduler: 'rr',
    retry: 1,
    delayBeforeRetryMs: 1000,
    warmupMs: 0,
    smtpAlert: false,
    realServers: [rs('192.168.0.1'), rs('192.168.0.2')],
  });

  const plan = [buildIpvsVirtualServerPlan(vs, [])];

  it('marks owned and foreign services and says why each real server is in or out', async () => {
    const health = new Map([[plan[0].realServers[1].key, { alive: false }]]);
    const desired = computeDesired(plan, health);
    const kernel = new MemoryKernel(desired.table);
    kernel.apply1({ kind: 'add-service', service: makeService({ address: '10.9.9.9', port: 80 }) });
    const text = renderList(info, await kernel.dumpTable(), desired, false);
    assert.match(
      text,
      /^TCP {2}10\.0\.0\.1:80 rr {2}# halo: owned \(virtual server \[10\.0\.0\.1\]:tcp:80\)$/m,
    );
    assert.match(text, /^TCP {2}10\.9\.9\.9:80 wlc {2}# not halo$/m);
    assert.match(
      text,
      /^ {2}-> 192\.168\.0\.1:80 +Masq +2 +0 +0 +# halo: in: not checked yet \(starts up\)$/m,
    );
    assert.match(text, /^ {2}-- 192\.168\.0\.2:80 +out +# halo: out: checker failed$/m);
    // --plain is exactly the ipvsadm layout
    assert.doesNotMatch(renderList(info, await kernel.dumpTable(), desired, true), /#/);
  });

  it('flags drift: a missing destination and a wrong weight', async () => {
    const desired = computeDesired(plan, new Map());
    const kernel = new MemoryKernel(desired.table);
    const key = desired.table.services[0].service;
    kernel.apply1({
      kind: 'delete-dest',
      service: key,
      dest: makeDest({ address: '192.168.0.2', port: 80 }),
    });
    kernel.apply1({
      kind: 'edit-dest',
      service: key,
      dest: makeDest({ address: '192.168.0.1', port: 80, weight: 7 }),
      changed: ['weight'],
    });
    const text = renderList(info, await kernel.dumpTable(), desired, false);
    assert.match(text, /192\.168\.0\.1:80 .*drift: should be masq weight 2/);
    assert.match(text, /-- 192\.168\.0\.2:80 +missing .*drift: should be in the kernel/);
  });
});
