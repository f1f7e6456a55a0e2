/**
 * The VRRP advert timer: a small native thread (native/halo_net.c) that sends
 * a master's periodic adverts on an absolute CLOCK_MONOTONIC schedule, so a
 * starved or busy JavaScript event loop, or a garbage collection, cannot
 * delay them. The JS engine stays in charge of everything else: it hands the
 * timer the exact bytes the VRRP core would send (set), again whenever they
 * change (priority, VIPs, interval), and stops it before acting on any state
 * change. After stop() returns no advert goes out until the next set().
 *
 * A watchdog (watchdogMs) makes the thread withhold adverts while the engine
 * has not fed it, so a wedged engine still loses mastership.
 *
 * The thread sends through a duplicate of the raw socket's descriptor, so it
 * shares the socket's options (TTL 255, TOS, multicast interface) and stays
 * valid until close(), whatever happens to the RawSocket object.
 */
import { loadAddon, type NativeAddon, type NativeTimer, type NativeTimerStats } from './addon.js';
import type { RawSocket } from './raw-socket.js';

export type AdvertTimerStats = NativeTimerStats;

export interface AdvertTimerSchedule {
  /** Source address of the adverts (IP_PKTINFO / IPV6_PKTINFO), as RawSocket.send's `source`. */
  source?: string;
  intervalMs: number;
  /**
   * When the next send is due, from now. Omitted on a running timer: the
   * current phase is kept (a new priority goes out at the next regular slot);
   * omitted on a stopped timer: one interval from now.
   */
  firstInMs?: number;
  /**
   * Withhold the adverts while feed() (or set()) has not been called for this long: a wedged engine then
   * loses mastership as a dead one would, instead of advertising forever. Undefined: no watchdog.
   */
  watchdogMs?: number;
}

export class AdvertTimer {
  private closed = false;
  private running = false;

  private constructor(
    private readonly native: NativeAddon,
    private readonly timer: NativeTimer,
  ) {}

  /**
   * Starts a (stopped) timer thread that will send through `socket`.
   * lockMemory: keep its stack, state and packets in RAM (mlock; vrrp_no_swap);
   * a failed mlock is reported in stats().lockError, the timer works anyway.
   */
  static open(socket: RawSocket, opts: { lockMemory?: boolean } = {}): AdvertTimer {
    const native = loadAddon();
    return new AdvertTimer(native, native.timerOpen(socket.nativeHandle(), opts.lockMemory ?? false));
  }

  /** The timer thread's kernel thread id, for its scheduling (src/net/sched.ts). */
  get threadId(): number {
    return this.stats().threadId;
  }

  get isRunning(): boolean {
    return this.running && !this.closed;
  }

  /** Sends `packets` (one datagram per destination) every `intervalMs` from now on. */
  set(packets: readonly { destination: string; data: Buffer }[], schedule: AdvertTimerSchedule): void {
    if (this.closed) throw Object.assign(new Error('advert timer is closed'), { code: 'EBADF' });
    this.native.timerSet(
      this.timer,
      packets.map((p) => p.data),
      packets.map((p) => p.destination),
      schedule.source,
      undefined,
      Math.round(schedule.intervalMs * 1000),
      schedule.firstInMs === undefined ? undefined : Math.max(0, Math.round(schedule.firstInMs * 1000)),
      schedule.watchdogMs === undefined ? undefined : Math.max(0, Math.round(schedule.watchdogMs * 1000)),
    );
    this.running = true;
  }

  /** The engine is alive: resets the watchdog. */
  feed(): void {
    if (!this.closed) this.native.timerFeed(this.timer);
  }

  /** No advert is sent after this returns (until the next set). Idempotent. */
  stop(): void {
    if (this.closed || !this.running) return;
    this.native.timerStop(this.timer);
    this.running = false;
  }

  /** Counters of the thread since it opened. */
  stats(): AdvertTimerStats {
    return this.native.timerStats(this.timer);
  }

  /** Stops and joins the thread. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.running = false;
    this.native.timerClose(this.timer);
  }
}
