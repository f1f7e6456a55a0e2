import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  evaluateTracking,
  initialScriptTracker,
  normaliseTracking,
  recordScriptResult,
  type ScriptTrackerParams,
  type ScriptTrackerState,
  type TrackingConfig,
} from '../../src/vrrp/tracking.js';

const base = (over: Partial<TrackingConfig> = {}): TrackingConfig => ({
  basePriority: 100,
  interfaces: [],
  scripts: [],
  files: [],
  ...over,
});
const noInputs = { interfaces: {}, scripts: {}, files: {} };

describe('tracking: effective priority and FAULT', () => {
  it('track_interface: weight 0 down => FAULT; weighted => priority change; reverse', () => {
    const cfg = base({
      interfaces: [
        { name: 'eth0', weight: 0 },
        { name: 'eth1', weight: -20 },
        { name: 'eth2', weight: 15 },
      ],
    });
    const allUp = evaluateTracking(cfg, { ...noInputs, interfaces: { eth0: true, eth1: true, eth2: true } });
    assert.deepEqual([allUp.effectivePriority, allUp.fault], [115, false]);
    const eth1Down = evaluateTracking(cfg, {
      ...noInputs,
      interfaces: { eth0: true, eth1: false, eth2: false },
    });
    assert.deepEqual([eth1Down.effectivePriority, eth1Down.fault], [80, false]);
    const eth0Down = evaluateTracking(cfg, {
      ...noInputs,
      interfaces: { eth0: false, eth1: true, eth2: true },
    });
    assert.equal(eth0Down.fault, true);
    assert.deepEqual(eth0Down.faultReasons, ['interface eth0 down']);
    // an interface we have never heard of counts as down
    assert.equal(evaluateTracking(cfg, noInputs).fault, true);
    const rev = base({ interfaces: [{ name: 'eth1', weight: 10, reverse: true }] });
    assert.equal(evaluateTracking(rev, { ...noInputs, interfaces: { eth1: true } }).effectivePriority, 90);
    assert.equal(evaluateTracking(rev, { ...noInputs, interfaces: { eth1: false } }).effectivePriority, 100);
  });

  it('track_script: weight applies after the first result; weight 0 holds the instance down until it reports ok', () => {
    const cfg = base({
      scripts: [
        { name: 'up', weight: 30 },
        { name: 'down', weight: -30 },
      ],
    });
    assert.equal(evaluateTracking(cfg, noInputs).effectivePriority, 100);
    assert.equal(
      evaluateTracking(cfg, { ...noInputs, scripts: { up: 'ok', down: 'ok' } }).effectivePriority,
      130,
    );
    assert.equal(
      evaluateTracking(cfg, { ...noInputs, scripts: { up: 'failed', down: 'failed' } }).effectivePriority,
      70,
    );
    const w0 = base({ scripts: [{ name: 'chk', weight: 0 }] });
    assert.equal(evaluateTracking(w0, noInputs).fault, true);
    assert.equal(evaluateTracking(w0, { ...noInputs, scripts: { chk: 'ok' } }).fault, false);
    assert.deepEqual(evaluateTracking(w0, { ...noInputs, scripts: { chk: 'failed' } }).faultReasons, [
      'script chk failed',
    ]);
  });

  it('track_file: value * weight, clamped; -254 means FAULT; weight 0 with a non-zero value means FAULT', () => {
    const cfg = base({ files: [{ name: 'f', weight: 10 }] });
    assert.equal(evaluateTracking(cfg, { ...noInputs, files: { f: 3 } }).effectivePriority, 130);
    assert.equal(evaluateTracking(cfg, { ...noInputs, files: { f: -5 } }).effectivePriority, 50);
    assert.equal(evaluateTracking(cfg, { ...noInputs, files: { f: 100 } }).effectivePriority, 254); // 253 clamp, then 254
    assert.equal(evaluateTracking(cfg, { ...noInputs, files: { f: -20 } }).effectivePriority, 1); // -200: clamp to 1
    assert.equal(evaluateTracking(cfg, { ...noInputs, files: { f: -26 } }).fault, true); // -260 -> -254 = FAULT
    const w0 = base({ files: [{ name: 'f', weight: 0 }] });
    assert.equal(evaluateTracking(w0, { ...noInputs, files: { f: 0 } }).fault, false);
    assert.equal(evaluateTracking(w0, { ...noInputs, files: { f: 7 } }).fault, true);
    const w0r = base({ files: [{ name: 'f', weight: 0, reverse: true }] });
    assert.equal(evaluateTracking(w0r, { ...noInputs, files: { f: 0 } }).fault, true);
    assert.equal(evaluateTracking(w0r, { ...noInputs, files: { f: 1 } }).fault, false);
  });

  it('the address owner keeps 255', () => {
    const cfg = base({ basePriority: 255, interfaces: [{ name: 'eth1', weight: -50 }] });
    assert.equal(evaluateTracking(cfg, { ...noInputs, interfaces: { eth1: false } }).effectivePriority, 255);
  });

  it('effective priority is always within 1..254 for non-owners', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 254 }),
        fc.array(fc.tuple(fc.integer({ min: -254, max: 254 }), fc.boolean(), fc.boolean()), { maxLength: 6 }),
        (prio, ifs) => {
          const cfg = base({
            basePriority: prio,
            interfaces: ifs.map(([w, r], i) => ({ name: `e${i}`, weight: w === 0 ? 1 : w, reverse: r })),
          });
          const up: Record<string, boolean> = {};
          ifs.forEach(([, , u], i) => {
            up[`e${i}`] = u;
          });
          const r = evaluateTracking(cfg, { ...noInputs, interfaces: up });
          assert.ok(r.effectivePriority >= 1 && r.effectivePriority <= 254);
          assert.equal(r.fault, false);
        },
      ),
    );
  });

  it('owner / sync-group normalisation follows keepalived', () => {
    const cfg = base({
      interfaces: [{ name: 'eth1', weight: -20 }],
      scripts: [
        { name: 's0', weight: 0 },
        { name: 's1', weight: 5 },
      ],
      files: [
        { name: 'f1', weight: 1 },
        { name: 'f2', weight: 7 },
      ],
    });
    const sync = normaliseTracking('VI_1', cfg, { inSyncGroupWithoutTrackingWeight: true });
    assert.deepEqual(sync.config.interfaces, [{ name: 'eth1', weight: 0 }]);
    assert.deepEqual(
      sync.config.scripts.map((s) => s.name),
      ['s0'],
    );
    assert.deepEqual(sync.config.files, [{ name: 'f1', weight: 0 }]);
    assert.equal(sync.warnings.length, 4);
    const owner = normaliseTracking(
      'VI_1',
      { ...cfg, basePriority: 255 },
      { inSyncGroupWithoutTrackingWeight: false },
    );
    assert.deepEqual(owner.config.interfaces, []);
    assert.ok(owner.warnings[0].includes('due to address owner'));
    const plain = normaliseTracking('VI_1', cfg, { inSyncGroupWithoutTrackingWeight: false });
    assert.equal(plain.config, cfg);
  });
});

describe('tracking: vrrp_script rise / fall', () => {
  function run(p: ScriptTrackerParams, results: boolean[]): { statuses: string[]; changes: string[] } {
    let s: ScriptTrackerState = initialScriptTracker(p);
    const statuses: string[] = [];
    const changes: string[] = [];
    for (const ok of results) {
      const r = recordScriptResult(p, s, ok);
      s = r.state;
      statuses.push(s.status);
      if (r.message) changes.push(r.message);
    }
    return { statuses, changes };
  }

  it('one success is enough at start; then `fall` failures to fail and `rise` successes to recover', () => {
    const p = { name: 'chk', rise: 2, fall: 3 };
    const r = run(p, [true, false, false, false, true, true, false]);
    assert.deepEqual(r.statuses, ['ok', 'ok', 'ok', 'failed', 'failed', 'ok', 'ok']);
    assert.deepEqual(r.changes, [
      'VRRP_Script(chk) succeeded',
      'VRRP_Script(chk) failed',
      'VRRP_Script(chk) succeeded',
    ]);
  });

  it('a failure at start fails at once; init_fail starts failed', () => {
    assert.deepEqual(run({ name: 'c', rise: 3, fall: 3 }, [false]).statuses, ['failed']);
    const p = { name: 'c', rise: 2, fall: 1, initFail: true };
    assert.equal(initialScriptTracker(p).status, 'failed');
    assert.deepEqual(run(p, [true, true]).statuses, ['failed', 'ok']);
  });

  it('timeouts and exit codes are failures with keepalived words', () => {
    const p = { name: 'c', rise: 1, fall: 1 };
    const ok = recordScriptResult(p, initialScriptTracker(p), { exitCode: 0 }).state;
    assert.equal(
      recordScriptResult(p, ok, { exitCode: null, timedOut: true }).message,
      'VRRP_Script(c) timed_out',
    );
    assert.equal(
      recordScriptResult(p, ok, { exitCode: 3 }).message,
      'VRRP_Script(c) failed (exited with status 3)',
    );
  });

  it('property: status flips only after `rise` consecutive successes / `fall` consecutive failures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        (rise, fall, xs) => {
          const p = { name: 'c', rise, fall };
          let s = initialScriptTracker(p);
          let run = 0;
          let last: boolean | undefined;
          for (const x of xs) {
            run = x === last ? run + 1 : 1;
            last = x;
            const r = recordScriptResult(p, s, x);
            if (r.changed && s.status !== 'init') assert.equal(run >= (x ? rise : fall), true);
            if (s.status !== 'init' && run >= (x ? rise : fall))
              assert.equal(r.state.status, x ? 'ok' : 'failed');
            s = r.state;
          }
        },
      ),
    );
  });
});
