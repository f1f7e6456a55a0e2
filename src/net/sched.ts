/**
 * Per-thread scheduling through the addon: the realtime policy, nice value
 * and CPU set of one thread (by its kernel thread id, gettid), plus the
 * per-process knobs that go with realtime: RLIMIT_RTTIME and locking the
 * native send path's code in memory.
 *
 * Node has no API for any of this, and a process-wide setting (chrt, the
 * systemd unit's CPUSchedulingPolicy=) would make every thread realtime:
 * the checker, libuv's thread pool, V8's compiler and GC helpers.
 *
 * Thread ids must belong to this process (0 = the calling thread). Failures
 * throw an Error whose `code` is the errno name (EPERM without CAP_SYS_NICE
 * or an RLIMIT_RTPRIO allowance, EINVAL for a CPU set with no online CPU).
 */
import { readFileSync } from 'node:fs';
import { loadAddon, type SchedPolicy } from './addon.js';

export type { SchedPolicy } from './addon.js';

/** The calling thread's kernel thread id (gettid). */
export function currentThreadId(): number {
  return loadAddon().threadId();
}

/** sched_setscheduler(tid, policy | SCHED_RESET_ON_FORK): children forked from the thread start normal. */
export function setThreadPolicy(tid: number, policy: SchedPolicy, priority = 0): void {
  loadAddon().setScheduler(tid, policy, priority);
}

export function threadPolicy(tid: number): {
  policy: SchedPolicy | 'unknown';
  priority: number;
  resetOnFork: boolean;
} {
  return loadAddon().getScheduler(tid);
}

/** The thread's nice value; sets it first when `value` is given. */
export function threadNice(tid: number, value?: number): number {
  return loadAddon().nice(tid, value);
}

/** The thread's CPU set; sets it first when `cpus` is given. */
export function threadAffinity(tid: number, cpus?: number[]): number[] {
  return loadAddon().affinity(tid, cpus);
}

/**
 * Locks the loaded segments of the addon and of libc in memory (what the
 * advert timer threads execute) and returns the bytes locked. Not mlockall:
 * V8 gives memory back with madvise(MADV_DONTNEED), which fails on locked
 * pages, and V8 aborts on that failure.
 */
export function lockNativeCode(): number {
  return loadAddon().lockCode();
}

/** Locked memory of this process in kB (VmLck), from /proc/self/status. */
export function lockedMemoryKb(): number {
  const m = /^VmLck:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** RLIMIT_RTTIME in microseconds (Infinity = none); sets it first when both limits are given. */
export function rtTimeLimit(limits?: { soft: number; hard: number }): { soft: number; hard: number } {
  return limits ? loadAddon().rtTimeLimit(limits.soft, limits.hard) : loadAddon().rtTimeLimit();
}

/**
 * Installs the addon's SIGXCPU counter unless someone else handles SIGXCPU
 * (its default action kills the process). True when the counter is in place.
 */
export function watchRtTimeSignals(): boolean {
  return loadAddon().watchSigxcpu();
}

/** SIGXCPU signals counted since watchRtTimeSignals() (RLIMIT_RTTIME soft limit reached). */
export function rtTimeSignals(): number {
  return loadAddon().sigxcpuCount();
}
