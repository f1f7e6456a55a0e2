/**
 * What a reload would do (src/plan/reload.ts), as `halo config diff OLD NEW` and `halo reload --plan`
 * print it: VRRP instances kept / updated in place / restarted and why, checkers kept / started /
 * stopped by typed identity, and the IPVS operations (none for what did not change).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckEngine } from '../../src/check/engine.js';
import type { CheckPlan } from '../../src/check/types.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { describeChecker } from '../../src/plan/ids.js';
import { buildPlans } from '../../src/plan/index.js';
import { planReload, renderReloadPlan } from '../../src/plan/reload.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const host = { hostname: 'lb1', username: 'root' };

function conf(o: {
  vips?: string[];
  priority?: number;
  iface?: string;
  timeout2?: number;
  rs3?: boolean;
  rs2?: boolean;
  routerId?: string;
  weight1?: number;
  logAll?: boolean;
}) {
  return `global_defs {
  router_id ${o.routerId ?? 'lb1'}
${o.logAll ? '  checker_log_all_failures\n' : ''}}
vrrp_instance VI_1 {
  interface ${o.iface ?? 'eth0'}
  virtual_router_id 51
  priority ${o.priority ?? 100}
  virtual_ipaddress {
${(o.vips ?? ['10.0.0.100/24']).map((v) => `    ${v}`).join('\n')}
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  virtual_ipaddress {
    10.0.0.101/24
  }
}
virtual_server 10.0.0.100 80 {
  protocol TCP
  lb_algo rr
  real_server 10.0.1.1 80 {
    weight ${o.weight1 ?? 1}
    TCP_CHECK {
      connect_timeout 2
    }
  }
${
  o.rs2 === false
    ? ''
    : `  real_server 10.0.1.2 80 {
    TCP_CHECK {
      connect_timeout ${o.timeout2 ?? 2}
    }
  }
`
}${o.rs3 ? '  real_server 10.0.1.3 80 {\n    TCP_CHECK {\n    }\n  }\n' : ''}}
`;
}

function plans(text: string) {
  const r = parseKeepalivedText(text, 'x.conf', { hostChecks: 'off' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return buildPlans(r.config, host);
}

describe('reload plan', () => {
  it('an unchanged config changes nothing: every instance and checker kept, no IPVS operation', () => {
    const p = planReload(plans(conf({})), plans(conf({})));
    assert.deepEqual(
      p.vrrp.instances.map((c) => c.kind),
      ['kept', 'kept'],
    );
    assert.deepEqual(p.checks, { started: [], stopped: [], changed: [], kept: 2 });
    assert.deepEqual(p.ipvs, []);
    assert.deepEqual(p.other, []);
  });

  it('VIPs and priority change in place; router_id restarts nothing', () => {
    const p = planReload(
      plans(conf({})),
      plans(conf({ vips: ['10.0.0.100/24', '10.0.0.110/24'], priority: 150, routerId: 'lb9' })),
    );
    const vi1 = p.vrrp.instances.find((c) => c.name === 'VI_1');
    assert.equal(vi1?.kind, 'updated');
    assert.deepEqual(vi1?.changes, ['VIPs +10.0.0.110/24', 'priority 100 -> 150', 'tracking changed']);
    assert.equal(p.vrrp.instances.find((c) => c.name === 'VI_2')?.kind, 'kept');
    assert.deepEqual(p.other, ['mail alerts and notify FIFOs'], 'router_id only names mail subjects');
  });

  it('an interface change restarts the instance and says why', () => {
    const p = planReload(plans(conf({})), plans(conf({ iface: 'eth1' })));
    const vi1 = p.vrrp.instances.find((c) => c.name === 'VI_1');
    assert.equal(vi1?.kind, 'restarted');
    assert.equal(vi1?.restartReason, 'interface eth0 -> eth1');
  });

  it('checkers by identity: an unchanged one keeps running, a changed one restarts, a new one starts', () => {
    const p = planReload(plans(conf({})), plans(conf({ timeout2: 3, rs3: true })));
    assert.equal(p.checks.kept, 1);
    assert.deepEqual(p.checks.changed, ['[10.0.0.100]:tcp:80 / [10.0.1.2]:tcp:80 #0']);
    assert.deepEqual(p.checks.started, [
      '[10.0.0.100]:tcp:80 / [10.0.1.2]:tcp:80 #0',
      '[10.0.0.100]:tcp:80 / [10.0.1.3]:tcp:80 #0',
    ]);
    assert.deepEqual(
      p.ipvs.map((op) => op.kind),
      ['add-dest'],
      'only the new real server reaches the kernel',
    );
    const text = renderReloadPlan(p);
    assert.match(text, /^checkers: 1 kept, 1 started, 0 stopped, 1 restarted \(changed\)$/m);
    assert.match(text, /^ {2}restart \[10\.0\.0\.100\]:tcp:80 \/ \[10\.0\.1\.2\]:tcp:80 #0$/m);
    assert.match(text, /^IPVS: 1 operation\(s\)$/m);
  });

  it('halo config diff OLD NEW prints the plan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-diff-'));
    try {
      writeFileSync(join(dir, 'old.conf'), conf({}));
      writeFileSync(join(dir, 'new.conf'), conf({ vips: ['10.0.0.100/24', '10.0.0.110/24'] }));
      const out = execFileSync(process.execPath, [
        HALO_MAIN,
        'config',
        'diff',
        join(dir, 'old.conf'),
        join(dir, 'new.conf'),
      ]).toString();
      assert.match(out, /^VRRP: 1 instance\(s\) change, 1 kept$/m);
      assert.match(out, /^ {2}VI_1: updated in place: VIPs \+10\.0\.0\.110\/24$/m);
      assert.match(out, /^checkers: 2 kept, 0 started, 0 stopped, 0 restarted \(changed\)$/m);
      assert.match(out, /^IPVS: 0 operation\(s\)$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('what the plan says about checkers is what the engine does with the same pair of plans', () => {
    const pairs: Array<[string, Parameters<typeof conf>[0], Parameters<typeof conf>[0]]> = [
      ['unchanged', {}, {}],
      ['one changed, one added', {}, { timeout2: 3, rs3: true }],
      ['one removed', { rs3: true }, { rs2: false }],
      ['a weight change restarts nothing', {}, { weight1: 5 }],
      ['checker_log_all_failures restarts nothing (logging only)', {}, { logAll: true }],
    ];
    for (const [what, a, b] of pairs) {
      const before = plans(conf(a));
      const after = plans(conf(b));
      const p = planReload(before, after).checks;
      // The engine, running the old plan (its attempts never finish), reloaded with the new one.
      const engine = new CheckEngine(before.check.plan, { startCheck: () => undefined, bootstrapDelayMs: 0 });
      engine.start();
      const r = engine.reload(after.check.plan);
      void engine.stop();
      const names = (plan: CheckPlan, keys: string[]) => {
        const all = plan.virtualServers.flatMap((vs) => vs.realServers.flatMap((rs) => rs.checkers));
        return keys.map((k) => describeChecker(all.find((c) => c.key === k)?.id ?? assert.fail(k)));
      };
      assert.equal(r.kept, p.kept, `${what}: kept`);
      assert.deepEqual(names(after.check.plan, r.restarted), p.changed, `${what}: restarted`);
      assert.deepEqual(
        [...names(after.check.plan, r.restarted), ...names(after.check.plan, r.started)].sort(),
        [...p.started].sort(),
        `${what}: started`,
      );
      assert.deepEqual(
        [...names(after.check.plan, r.restarted), ...names(before.check.plan, r.stopped)].sort(),
        [...p.stopped].sort(),
        `${what}: stopped`,
      );
      if (what.includes('restarts nothing')) assert.equal(r.kept, 2, what);
    }
  });
});
