/**
 * Scheduling of halo's parts, from global_defs (vrrp_* / checker_*), applied
 * the way keepalived applies them to its child processes, but per thread:
 *  - vrrp_rt_priority: SCHED_RR (with SCHED_RESET_ON_FORK, so scripts forked
 *    from the thread run normal) on the VRRP worker thread and each advert
 *    timer thread; vrrp_priority (nice) instead when not realtime;
 *  - vrrp_cpu_affinity on the same threads;
 *  - vrrp_no_swap: the advert timer threads' stacks, state and packets, and
 *    the code they run (the addon and libc), locked in memory. Not mlockall:
 *    V8 returns memory with madvise(MADV_DONTNEED), which fails on locked
 *    pages, and V8 aborts on that (an isolate teardown did, in testing);
 *  - vrrp_rlimit_rttime: RLIMIT_RTTIME, also per process; SIGXCPU at the soft
 *    limit is counted and logged with keepalived's words;
 * and the checker_* settings on the thread that runs the checks and IPVS (the
 * checker part's worker, lvs-worker.ts; the main thread when it runs inline).
 * The resolution (config -> PartScheduling) is pure; the application goes
 * through src/net/sched.ts and reports failures as warnings: a host that
 * refuses realtime (no CAP_SYS_NICE, RestrictRealtime=) still runs halo.
 */

import {
  currentThreadId,
  lockNativeCode,
  rtTimeLimit,
  rtTimeSignals,
  setThreadPolicy,
  threadAffinity,
  threadNice,
  threadPolicy,
  watchRtTimeSignals,
} from '../net/sched.js';
import type { Part, PartScheduling } from '../plan/scheduling.js';

export type { Part, PartScheduling } from '../plan/scheduling.js';

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}` : String(err);
}

/** A thread's nice value and CPU set before halo first changed them, to go back to when a reload drops a setting. */
const originals = new Map<number, { nice: number; cpus: number[] }>();

/**
 * Applies the thread settings to one thread of this process (the calling one
 * when tid is 0), and undoes the ones a reload dropped: a realtime thread
 * whose part is no longer realtime goes back to SCHED_OTHER, an unset nice
 * value or CPU set back to what the thread had before. Returns what was
 * applied and what failed (never throws).
 */
export function applyThreadScheduling(
  s: PartScheduling,
  tid: number,
): { applied: string[]; warnings: string[]; realtime: boolean } {
  const applied: string[] = [];
  const warnings: string[] = [];
  const who = s.part === 'vrrp' ? 'VRRP' : 'checker';
  let realtime = false;
  let original: { nice: number; cpus: number[] };
  let policy: string;
  try {
    if (tid === 0) tid = currentThreadId();
    original = originals.get(tid) ?? { nice: threadNice(tid), cpus: threadAffinity(tid) };
    originals.set(tid, original);
    policy = threadPolicy(tid).policy;
  } catch (err) {
    return { applied, warnings: [`${who} thread ${tid}: ${describe(err)}`], realtime };
  }
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
      applied.push(what);
      return true;
    } catch (err) {
      warnings.push(`${who} thread ${tid}: cannot set ${what}: ${describe(err)}`);
      return false;
    }
  };
  if (s.rtPriority > 0) {
    realtime = attempt(`SCHED_RR priority ${s.rtPriority}`, () => setThreadPolicy(tid, 'rr', s.rtPriority));
  } else if (policy === 'rr' || policy === 'fifo') {
    attempt('SCHED_OTHER', () => setThreadPolicy(tid, 'other', 0));
  }
  // keepalived applies the nice value only when not realtime.
  if (s.rtPriority === 0) {
    const nice = s.nice ?? original.nice;
    if (nice !== threadNice(tid)) attempt(`nice ${nice}`, () => threadNice(tid, nice));
  }
  const cpus = s.cpus ?? original.cpus;
  if (cpus.join() !== threadAffinity(tid).join()) {
    attempt(`CPUs ${cpus.join(',')}`, () => threadAffinity(tid, cpus));
  }
  return { applied, warnings, realtime };
}

/**
 * The per-process part: the native code locked in memory and, when the
 * part's thread is realtime, RLIMIT_RTTIME. When both parts set an
 * RLIMIT_RTTIME, the larger one wins (one limit for the process; a smaller
 * one would kill the other part's thread). Never throws.
 */
export function applyProcessScheduling(
  s: PartScheduling,
  realtime: boolean,
): { applied: string[]; warnings: string[] } {
  const applied: string[] = [];
  const warnings: string[] = [];
  if (s.lockMemory) {
    try {
      applied.push(`native code locked in memory (${Math.round(lockNativeCode() / 1024)} kB)`);
    } catch (err) {
      warnings.push(`vrrp_no_swap: cannot lock the native code in memory: ${describe(err)}`);
    }
  }
  // RLIMIT_RTTIME only counts for realtime threads: nothing to set when the thread could not become one.
  if (s.rtTime && realtime) {
    try {
      if (!watchRtTimeSignals()) throw new Error('SIGXCPU is handled elsewhere');
      const cur = rtTimeLimit();
      const untouched = cur.soft === Number.POSITIVE_INFINITY && cur.hard === Number.POSITIVE_INFINITY;
      const want = untouched
        ? s.rtTime
        : { soft: Math.max(cur.soft, s.rtTime.soft), hard: Math.max(cur.hard, s.rtTime.hard) };
      const set = rtTimeLimit({ soft: Math.min(want.soft, want.hard), hard: want.hard });
      applied.push(`RLIMIT_RTTIME ${set.soft}/${set.hard} us`);
    } catch (err) {
      warnings.push(`cannot set ${s.part}_rlimit_rttime: ${describe(err)}`);
    }
  }
  return { applied, warnings };
}

/**
 * Reports SIGXCPU (the RLIMIT_RTTIME soft limit) with keepalived's message,
 * checking every `everyMs`. Returns the function that stops watching.
 */
export function watchRtTimeLimit(part: Part, warn: (message: string) => void, everyMs = 1000): () => void {
  let seen = rtTimeSignals();
  const timer = setInterval(() => {
    const now = rtTimeSignals();
    if (now === seen) return;
    seen = now;
    warn(
      `${part === 'vrrp' ? 'VRRP' : 'Checker'} process has used too much CPU time, ${part}_rlimit_rttime may need to be increased`,
    );
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A part's settings on the calling thread and on the process, at start and at each reload (the caller
 * stops the previous watch first): what was applied is logged at info, what the host refused at warn. A
 * realtime part also gets the RLIMIT_RTTIME watch (the VRRP part only with vrrp_rlimit_rttime set); its
 * stop is returned.
 */
export function applyPartScheduling(
  s: PartScheduling,
  log: (level: 'info' | 'warn', message: string) => void,
): (() => void) | undefined {
  const thread = applyThreadScheduling(s, 0);
  const proc = applyProcessScheduling(s, thread.realtime);
  for (const w of [...thread.warnings, ...proc.warnings]) log('warn', w);
  const applied = [...thread.applied, ...proc.applied];
  if (applied.length) log('info', `${s.part === 'vrrp' ? 'VRRP' : 'checker'} thread: ${applied.join(', ')}`);
  const watch = thread.realtime && (s.part !== 'vrrp' || Boolean(s.rtTime));
  return watch ? watchRtTimeLimit(s.part, (m) => log('warn', m)) : undefined;
}
