/**
 * The scheduling plan: what global_defs' vrrp_* / checker_* keywords ask of each part (pure). The VRRP
 * worker applies the vrrp part to its thread and the advert timer threads, the supervisor the checker part
 * to the main thread (src/daemon/realtime.ts).
 */
import type { GlobalDefs } from '../config/model.js';

export type Part = 'vrrp' | 'checker';

export interface PartScheduling {
  part: Part;
  /** SCHED_RR priority; 0 = not realtime. */
  rtPriority: number;
  /** Nice value when not realtime; undefined = unchanged. */
  nice?: number;
  cpus?: number[];
  /** Lock the native send path in memory (vrrp_no_swap; the checker has no native path to lock). */
  lockMemory: boolean;
  /** RLIMIT_RTTIME (microseconds, hard may be Infinity) while realtime; undefined when not realtime. */
  rtTime?: { soft: number; hard: number };
}

/** keepalived's RT_RLIMIT_DEFAULT is 10000 us, half of it the soft (warning) limit. */
const SOFT_ONLY_RTTIME = { soft: 5000, hard: Number.POSITIVE_INFINITY };

/** What global_defs asks for one part (pure). */
export function schedulingOf(g: GlobalDefs, part: Part): PartScheduling {
  const rtPriority = part === 'vrrp' ? g.vrrpRtPriority : g.checkerRtPriority;
  const rttime = part === 'vrrp' ? g.vrrpRlimitRttimeUs : g.checkerRlimitRttimeUs;
  return {
    part,
    rtPriority,
    nice: part === 'vrrp' ? g.vrrpPriority : g.checkerPriority,
    cpus: part === 'vrrp' ? g.vrrpCpuAffinity : g.checkerCpuAffinity,
    lockMemory: part === 'vrrp' && g.vrrpNoSwap,
    // keepalived: soft = N/2 (SIGXCPU), hard = N (SIGKILL). Unwritten: only the warning (see model.ts).
    rtTime:
      rtPriority === 0
        ? undefined
        : rttime === undefined
          ? SOFT_ONLY_RTTIME
          : { soft: Math.floor(rttime / 2), hard: rttime },
  };
}
