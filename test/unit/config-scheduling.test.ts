/**
 * global_defs scheduling keywords (keepalived 2.2.7: vrrp_/checker_ priority, rt_priority, no_swap,
 * cpu_affinity, rlimit_rttime) -> the model, and the pure resolution into what each part applies
 * (src/plan/scheduling.ts schedulingOf). Applying it to real threads is tested in test/netns/native-sched.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { DEFAULT_VRRP_RT_PRIORITY } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { schedulingOf } from '../../src/plan/scheduling.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function parse(globalBody: string, strict = false) {
  const r = parseKeepalivedText(`global_defs {\n${globalBody}\n}\n`, 'k.conf', { host: anyHost, strict });
  return { global: r.config?.global, diagnostics: r.diagnostics.map(formatDiagnostic) };
}

describe('global_defs scheduling keywords', () => {
  it('reads every vrrp_ and checker_ setting', () => {
    const { global, diagnostics } = parse(
      [
        'vrrp_rt_priority 40',
        'vrrp_priority -5',
        'vrrp_no_swap off',
        'vrrp_cpu_affinity 1 0 1',
        'vrrp_rlimit_rttime 20000',
        'checker_rt_priority 3',
        'checker_priority 4',
        'checker_cpu_affinity 1',
        'checker_rlimit_rttime 1',
      ].join('\n'),
    );
    assert.deepEqual(diagnostics, []);
    assert.equal(global?.vrrpRtPriority, 40);
    assert.equal(global?.vrrpPriority, -5);
    assert.equal(global?.vrrpNoSwap, false);
    assert.deepEqual(global?.vrrpCpuAffinity, [1, 0], 'duplicates dropped');
    assert.equal(global?.vrrpRlimitRttimeUs, 20000);
    assert.equal(global?.checkerRtPriority, 3);
    assert.equal(global?.checkerPriority, 4);
    assert.deepEqual(global?.checkerCpuAffinity, [1]);
    assert.equal(global?.checkerRlimitRttimeUs, 2, 'keepalived raises 1 to 2 (its soft limit is half)');
  });

  it('defaults: the VRRP part realtime and its send path locked (halo), the checker as keepalived', () => {
    const { global, diagnostics } = parse('router_id x');
    assert.deepEqual(diagnostics, []);
    assert.equal(global?.vrrpRtPriority, DEFAULT_VRRP_RT_PRIORITY);
    assert.equal(global?.vrrpNoSwap, true);
    assert.equal(global?.vrrpPriority, undefined);
    assert.equal(global?.vrrpCpuAffinity, undefined);
    assert.equal(global?.vrrpRlimitRttimeUs, undefined);
    assert.equal(global?.checkerRtPriority, 0);
  });

  it('refuses what keepalived would clamp or reject, with the location (ranges: a warning unless --strict)', () => {
    const { diagnostics } = parse(
      'vrrp_rt_priority 100\nvrrp_priority 20\ncheckers_cpu_affinity 0\nvrrp_cpu_affinity x',
    );
    assert.deepEqual(diagnostics, [
      'k.conf:2:18: warning: vrrp_rt_priority: 100 is outside the range [0, 99]: line ignored (an error with --strict)',
      'k.conf:3:15: warning: vrrp_priority: 20 is outside the range [-20, 19]: line ignored (an error with --strict)',
      "k.conf:4:1: error: unknown keyword 'checkers_cpu_affinity' in global_defs (did you mean 'checker_cpu_affinity'?)",
      "k.conf:5:19: error: vrrp_cpu_affinity: 'x' is not a whole number",
    ]);
  });

  it('reads the old *_rlimit_rtime spelling with a deprecation warning (error with --strict)', () => {
    const r = parse('vrrp_rlimit_rtime 8000');
    assert.equal(r.global?.vrrpRlimitRttimeUs, 8000);
    assert.deepEqual(r.diagnostics, [
      "k.conf:2:1: warning: 'vrrp_rlimit_rtime' is deprecated (keepalived still reads it) (use 'vrrp_rlimit_rttime')",
    ]);
    assert.match(
      parse('vrrp_rlimit_rtime 8000', true).diagnostics[0],
      /error: 'vrrp_rlimit_rtime' is deprecated/,
    );
  });

  it('checker_no_swap is known but not done (warning naming it): V8 cannot run with locked memory', () => {
    const r = parse('checker_no_swap');
    assert.deepEqual(r.diagnostics, [
      "k.conf:2:1: warning: 'checker_no_swap' in global_defs is not implemented by halo yet and is ignored",
    ]);
  });
});

describe('schedulingOf (what each part applies)', () => {
  it('VRRP by default: SCHED_RR, the send path locked, and only the RLIMIT_RTTIME warning (no kill)', () => {
    const s = schedulingOf(parse('router_id x').global!, 'vrrp');
    assert.deepEqual(s, {
      part: 'vrrp',
      rtPriority: DEFAULT_VRRP_RT_PRIORITY,
      nice: undefined,
      cpus: undefined,
      lockMemory: true,
      rtTime: { soft: 5000, hard: Number.POSITIVE_INFINITY },
    });
  });

  it("a written rlimit_rttime is keepalived's: soft half of it, hard all of it", () => {
    const g = parse('vrrp_rlimit_rttime 30000').global!;
    assert.deepEqual(schedulingOf(g, 'vrrp').rtTime, { soft: 15000, hard: 30000 });
  });

  it('vrrp_rt_priority 0: not realtime, so the nice value applies and there is no RLIMIT_RTTIME', () => {
    const s = schedulingOf(parse('vrrp_rt_priority 0\nvrrp_priority -10\nvrrp_no_swap off').global!, 'vrrp');
    assert.equal(s.rtPriority, 0);
    assert.equal(s.nice, -10);
    assert.equal(s.rtTime, undefined);
    assert.equal(s.lockMemory, false);
  });

  it('the checker part: not realtime unless asked; never locks memory', () => {
    const g = parse('checker_rt_priority 5').global!;
    const s = schedulingOf(g, 'checker');
    assert.equal(s.rtPriority, 5);
    assert.equal(s.lockMemory, false);
    assert.deepEqual(s.rtTime, { soft: 5000, hard: Number.POSITIVE_INFINITY });
    assert.equal(schedulingOf(parse('router_id x').global!, 'checker').rtPriority, 0);
  });
});
