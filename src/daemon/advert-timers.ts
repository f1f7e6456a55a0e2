/**
 * The VRRP engine's side of the native advert timers (src/net/advert-timer.ts):
 * one timer thread per instance, kept in step with the pure core after every
 * step and before the step's actions run.
 *
 *  - Not MASTER (or stopping): the timer is stopped first, so no stale advert
 *    follows a transition or the priority-0 advert of a stop.
 *  - MASTER: the timer repeats exactly what the core would send now
 *    (advertPackets at the effective priority). When the step sends an advert
 *    because of an event (becoming MASTER, answering a lower priority), the
 *    shell sends that one at once and the timer is re-phased to one interval
 *    after it, as keepalived re-arms its advert timer. The core's own periodic
 *    adverts are dropped from the actions: the timer thread has sent them on
 *    time, even if this thread ran late.
 * If a timer cannot be created, that instance falls back to the JavaScript
 * sends (logged once): timing gets worse, behaviour does not change.
 */

import { AdvertTimer } from '../net/advert-timer.js';
import type { RawSocket } from '../net/raw-socket.js';
import { advertPackets, type VrrpInstanceState } from '../vrrp/instance.js';
import { applyThreadScheduling, type PartScheduling } from './realtime.js';

/** What AdvertTimers needs of a timer (AdvertTimer; tests pass a recording fake). */
export type AdvertTimerLike = Pick<
  AdvertTimer,
  'set' | 'feed' | 'stop' | 'close' | 'stats' | 'isRunning' | 'threadId'
>;

/**
 * How long the timer keeps advertising without hearing from the engine: 1 s plus three intervals. The
 * engine feeds it at every one of its own advert deadlines, so only a wedged engine (or a stall of over a
 * second, far beyond what a realtime thread sees) lets it run out; then the adverts stop and the backup
 * takes over, as it would from a dead master.
 */
export function watchdogMs(intervalMs: number): number {
  return 1000 + 3 * intervalMs;
}

interface Entry {
  timer?: AdvertTimerLike;
  /** The bytes and interval last handed to the timer (to skip unchanged updates). */
  key?: string;
  watchdogMs?: number;
  /** Send errors and withheld adverts already reported. */
  errorsSeen: number;
  withheldSeen: number;
  /** The timer could not be created: this instance sends from JavaScript. */
  fallback: boolean;
}

type Action = { type: string; instance?: string; periodic?: boolean };

export interface AdvertTimersOptions {
  /** Scheduling for each timer thread (realtime priority, CPU set); undefined = inherit. */
  scheduling?: PartScheduling;
  log(level: 'info' | 'warn', instance: string, message: string): void;
  /** Opens a timer for a socket (default AdvertTimer.open; tests substitute a fake). */
  open?: (socket: RawSocket, opts: { lockMemory: boolean }) => AdvertTimerLike;
  /** Applies scheduling to a thread (default realtime.ts applyThreadScheduling; tests substitute a recorder). */
  applyScheduling?: (s: PartScheduling, threadId: number) => { warnings: string[] };
}

/**
 * A timer thread runs one realtime priority above the VRRP worker thread: at equal SCHED_RR priority on one
 * CPU, a wake-up waits until the running thread blocks or ends its 100 ms round-robin slice, so a busy
 * JavaScript thread (a garbage collection) would hold the advert back.
 */
export function timerScheduling(s: PartScheduling): PartScheduling {
  return s.rtPriority > 0 ? { ...s, rtPriority: Math.min(99, s.rtPriority + 1) } : s;
}

export class AdvertTimers {
  private readonly entries = new Map<string, Entry>();
  private scheduling: PartScheduling | undefined;

  constructor(private readonly opts: AdvertTimersOptions) {
    this.scheduling = opts.scheduling;
  }

  /**
   * A reload changed vrrp_rt_priority & co.: every open timer thread takes the new scheduling now (one
   * priority above the VRRP thread again), and timers opened later take it too. vrrp_no_swap is the
   * exception: a timer's memory is locked, or not, when it opens (the next mastership's timer follows).
   */
  reschedule(s: PartScheduling): void {
    this.scheduling = s;
    for (const [name, e] of this.entries) if (e.timer) this.schedule(name, e.timer, s);
  }

  /**
   * Brings instance `name`'s timer in line with its state after a step;
   * returns `actions` without the periodic adverts the timer now sends.
   */
  sync<A extends Action>(
    name: string,
    s: VrrpInstanceState,
    socket: RawSocket | undefined,
    actions: A[],
    stopping: boolean,
  ): A[] {
    let e = this.entries.get(name);
    // A handover sends priority 0 from the core: the timer must not go on announcing our priority.
    if (s.state !== 'MASTER' || s.handover || stopping || !socket) {
      e?.timer?.stop();
      if (e) e.key = undefined;
      return actions;
    }
    if (!e) {
      e = { errorsSeen: 0, withheldSeen: 0, fallback: false };
      this.entries.set(name, e);
    }
    if (!e.timer && !e.fallback) e.timer = this.open(name, socket, e);
    const timer = e.timer;
    if (!timer) return actions;

    const packets = advertPackets(s, s.effectivePriority);
    const intervalMs = s.params.advertIntervalMs;
    const key = `${intervalMs}|${s.params.sourceAddress}|${packets.map((p) => `${p.destination}:${p.data.toString('hex')}`).join(',')}`;
    const sentNow = actions.some((a) => a.type === 'send-advert' && a.instance === name && !a.periodic);
    const schedule = { source: s.params.sourceAddress, intervalMs, watchdogMs: watchdogMs(intervalMs) };
    if (sentNow || !timer.isRunning) {
      timer.set(packets, { ...schedule, firstInMs: intervalMs });
      e.key = key;
      e.watchdogMs = schedule.watchdogMs;
    } else if (key !== e.key) {
      timer.set(packets, schedule);
      e.key = key;
      e.watchdogMs = schedule.watchdogMs;
    } else {
      timer.feed();
    }
    const periodic = actions.filter((a) => a.type === 'send-advert' && a.instance === name && a.periodic);
    if (periodic.length > 0) this.reportErrors(name, e, timer);
    return periodic.length > 0 ? actions.filter((a) => !periodic.includes(a)) : actions;
  }

  /** Stops and joins instance `name`'s timer thread (the instance was removed). */
  close(name: string): void {
    this.entries.get(name)?.timer?.close();
    this.entries.delete(name);
  }

  closeAll(): void {
    for (const name of [...this.entries.keys()]) this.close(name);
  }

  /** Adverts sent by the timer threads (for tests and status). */
  sent(name: string): number {
    return this.entries.get(name)?.timer?.stats().sent ?? 0;
  }

  private open(name: string, socket: RawSocket, e: Entry): AdvertTimerLike | undefined {
    let timer: AdvertTimerLike;
    try {
      const opts = { lockMemory: this.scheduling?.lockMemory ?? false };
      timer = this.opts.open ? this.opts.open(socket, opts) : AdvertTimer.open(socket, opts);
    } catch (err) {
      e.fallback = true;
      this.opts.log(
        'warn',
        name,
        `(${name}) no native advert timer (${(err as Error).message}): adverts are sent from JavaScript`,
      );
      return undefined;
    }
    if (this.scheduling) this.schedule(name, timer, this.scheduling);
    const lockError = timer.stats().lockError;
    if (lockError) {
      this.opts.log(
        'warn',
        name,
        `(${name}) vrrp_no_swap: cannot lock the advert timer in memory: ${lockError}`,
      );
    }
    return timer;
  }

  private schedule(name: string, timer: AdvertTimerLike, s: PartScheduling): void {
    const apply = this.opts.applyScheduling ?? applyThreadScheduling;
    const r = apply(timerScheduling(s), timer.threadId);
    for (const w of r.warnings) this.opts.log('warn', name, `(${name}) advert timer: ${w}`);
  }

  private reportErrors(name: string, e: Entry, timer: AdvertTimerLike): void {
    const st = timer.stats();
    if (st.withheld !== e.withheldSeen) {
      const n = st.withheld - e.withheldSeen;
      e.withheldSeen = st.withheld;
      this.opts.log(
        'warn',
        name,
        `(${name}) the VRRP engine did not run for over ${e.watchdogMs} ms: ${n} advert(s) withheld`,
      );
    }
    if (st.sendErrors === e.errorsSeen) return;
    const n = st.sendErrors - e.errorsSeen;
    e.errorsSeen = st.sendErrors;
    this.opts.log(
      'warn',
      name,
      `(${name}) could not send ${n} advert(s): ${st.lastError ?? 'unknown error'}`,
    );
  }
}
