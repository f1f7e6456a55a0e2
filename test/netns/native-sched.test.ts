/**
 * Per-thread scheduling through the addon (src/net/sched.ts, src/daemon/realtime.ts) on the real kernel.
 * Each case runs in a child process: realtime policies and RLIMIT_RTTIME must not leak into the test
 * runner. Needs root (CAP_SYS_NICE), hence this lane; no namespace is created.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const skip = process.getuid?.() !== 0 && 'needs root (realtime scheduling)';
const SCHED = new URL('../../src/net/sched.js', import.meta.url).href;
const REALTIME = new URL('../../src/daemon/realtime.js', import.meta.url).href;

/** Runs an ES module script in a fresh node; returns its exit, signal and output. */
function run(script: string, timeout = 20000) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('per-thread scheduling', { skip }, () => {
  it('SCHED_RR on one worker thread only, and a script it forks runs SCHED_OTHER (reset on fork)', () => {
    const r = run(`
      import { Worker } from 'node:worker_threads';
      import { currentThreadId, threadPolicy } from ${JSON.stringify(SCHED)};
      // The eval'd worker inherits --input-type=module.
      const w = new Worker(\`
        import { parentPort } from 'node:worker_threads';
        import { execFileSync } from 'node:child_process';
        const s = await import(${JSON.stringify(SCHED)});
        s.setThreadPolicy(0, 'rr', 12);
        const child = execFileSync('sh', ['-c', 'chrt -p $$'], { encoding: 'utf8' });
        parentPort.postMessage({ tid: s.currentThreadId(), own: s.threadPolicy(0), child });
        setInterval(() => {}, 1000); // alive until the main thread has looked at it
      \`, { eval: true });
      w.on('message', (m) => {
        console.log(JSON.stringify({ ...m, main: threadPolicy(currentThreadId()), workerSeenFromMain: threadPolicy(m.tid) }));
        process.exit(0);
      });
    `);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.own, { policy: 'rr', priority: 12, resetOnFork: true });
    assert.deepEqual(out.workerSeenFromMain, out.own, 'the same thread, seen from another one');
    assert.equal(out.main.policy, 'other', 'the main thread is untouched');
    assert.match(out.child, /SCHED_OTHER/);
  });

  it('applyThreadScheduling: nice and CPU set per thread; a reload that drops them restores the thread', () => {
    const r = run(`
      import { applyThreadScheduling } from ${JSON.stringify(REALTIME)};
      import { currentThreadId, threadAffinity, threadNice, threadPolicy } from ${JSON.stringify(SCHED)};
      const tid = currentThreadId();
      const before = { nice: threadNice(tid), cpus: threadAffinity(tid) };
      const base = { part: 'checker', lockMemory: false };
      const a = applyThreadScheduling({ ...base, rtPriority: 0, nice: 7, cpus: [0] }, 0);
      const set = { nice: threadNice(tid), cpus: threadAffinity(tid), policy: threadPolicy(tid).policy };
      const b = applyThreadScheduling({ ...base, rtPriority: 5 }, 0);
      const rt = threadPolicy(tid);
      const c = applyThreadScheduling({ ...base, rtPriority: 0 }, 0);
      const after = { nice: threadNice(tid), cpus: threadAffinity(tid), policy: threadPolicy(tid).policy };
      console.log(JSON.stringify({ before, a, set, b, rt, c, after }));
    `);
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.deepEqual(o.a, { applied: ['nice 7', 'CPUs 0'], warnings: [], realtime: false });
    assert.deepEqual(o.set, { nice: 7, cpus: [0], policy: 'other' });
    assert.deepEqual(o.rt, { policy: 'rr', priority: 5, resetOnFork: true });
    assert.deepEqual(o.after, { ...o.before, policy: 'other' }, 'back to SCHED_OTHER, the old nice and CPUs');
    assert.deepEqual(o.c.warnings, []);
  });

  it('RLIMIT_RTTIME soft limit: SIGXCPU is counted and the process lives on', () => {
    const r = run(`
      import { rtTimeLimit, rtTimeSignals, setThreadPolicy, watchRtTimeSignals } from ${JSON.stringify(SCHED)};
      const watching = watchRtTimeSignals();
      rtTimeLimit({ soft: 20000, hard: Infinity });
      setThreadPolicy(0, 'rr', 1);
      const until = performance.now() + 150;
      while (performance.now() < until) {}
      setThreadPolicy(0, 'other', 0);
      console.log(JSON.stringify({ watching, signals: rtTimeSignals(), limit: rtTimeLimit() }));
    `);
    assert.equal(r.status, 0, `${r.signal} ${r.stderr}`);
    const o = JSON.parse(r.stdout);
    assert.equal(o.watching, true);
    assert.ok(o.signals >= 1, `SIGXCPU counted ${o.signals} times`);
    assert.equal(o.limit.hard, null, 'Infinity (JSON null): no hard limit');
  });

  it('RLIMIT_RTTIME hard limit: a realtime thread that never blocks is killed (keepalived semantics)', () => {
    const r = run(`
      import { rtTimeLimit, setThreadPolicy, watchRtTimeSignals } from ${JSON.stringify(SCHED)};
      watchRtTimeSignals();
      rtTimeLimit({ soft: 20000, hard: 40000 });
      setThreadPolicy(0, 'rr', 1);
      const until = performance.now() + 2000;
      while (performance.now() < until) {}
      console.log('survived');
    `);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.stdout, '');
  });

  it('locking the native code keeps V8 healthy (mlockall aborted an isolate teardown)', () => {
    const r = run(`
      import { Worker } from 'node:worker_threads';
      import { lockNativeCode, lockedMemoryKb } from ${JSON.stringify(SCHED)};
      const bytes = lockNativeCode();
      for (let i = 0; i < 3; i++) {
        const w = new Worker('let a = []; for (let i = 0; i < 2e5; i++) a.push({ i });', { eval: true });
        await new Promise((res) => w.on('exit', res));
      }
      let junk = [];
      for (let i = 0; i < 1e6; i++) junk.push({ i });
      console.log(JSON.stringify({ bytes, lockedKb: lockedMemoryKb() }));
    `);
    assert.equal(r.status, 0, `${r.signal} ${r.stderr.slice(0, 500)}`);
    const o = JSON.parse(r.stdout);
    assert.ok(o.bytes > 0);
    assert.ok(o.lockedKb * 1024 >= o.bytes * 0.9, `VmLck ${o.lockedKb} kB for ${o.bytes} bytes`);
    assert.ok(o.lockedKb < 64 * 1024, 'only the native path is locked, not the heap');
  });

  it('refuses a thread id that is not one of ours, and bad arguments, with JavaScript errors', () => {
    const r = run(`
      import { setThreadPolicy, threadAffinity, threadPolicy } from ${JSON.stringify(SCHED)};
      const out = [];
      for (const fn of [() => threadPolicy(1), () => setThreadPolicy(0, 'rr', 100), () => setThreadPolicy(0, 'bogus', 0), () => threadAffinity(0, [])]) {
        try { fn(); out.push('no error'); } catch (e) { out.push(e.code); }
      }
      console.log(JSON.stringify(out));
    `);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      'ESRCH',
      'ERR_INVALID_ARG',
      'ERR_INVALID_ARG',
      'ERR_INVALID_ARG',
    ]);
  });
});
