/**
 * The checker + IPVS part as a supervised part of its own (issue 12, isolation): the Lvs class runs in a
 * worker thread (lvs-worker.ts); this host, in the main thread, is what the supervisor sees (the LvsPart
 * interface: start/reload/stop/status/vrrpStateChanged, with the alert callback for src/notify and onHealth
 * for BGP), so the rest of the daemon does not change.
 *
 * Why a worker thread and not a child process: it is how the VRRP engine already runs; messages carry the
 * plans and events as structured clones, with no serialisation layer to keep in step; a worker's heap is
 * bounded (`resourceLimits`), so a runaway checker ends the worker, not the process; and a worker needs no
 * second copy of the process's capabilities, pid, cgroup or systemd unit. What a worker does not isolate is
 * a native abort (the process dies whatever thread aborts): the native code must turn every failure into a
 * JavaScript error.
 *
 * Supervision, as keepalived's parent restarts its checker child: when the worker dies (an uncaught
 * exception in a checker, out of memory), the host logs it (daemon.error, context `lvs`) and starts a new
 * worker after a delay that doubles on each crash (1 s up to 30 s, back to 1 s once a worker has run for a
 * minute). VRRP, in its own thread, never notices. Meanwhile the kernel's IPVS table stays as it was (so
 * traffic keeps flowing) and `halo status` shows the last known state of the part.
 *
 * Health across a restart: keepalived's restarted checker starts from the config (every real server in its
 * alpha/inhibit start state). halo does better: the worker sends its health and quorum state after every
 * change, and a restarted worker resumes from them: a real server that was up starts up (its checkers
 * start in the success state) and one that was down starts down, quorum states are kept (no init quorum
 * events again), the table is not flushed (lvs_flush is for a daemon start), and the kernel table, still in
 * place, needs no change. Nothing flaps; the first check results after the restart move servers as usual.
 * Not carried: per-checker "first run" flags (a checker's first state change after a restart is reported
 * as its first one) and rate-limit windows of the worker's log.
 */
import { Worker } from 'node:worker_threads';
import type { RealServerHealth } from '../ipvs/desired.js';
import type { AlertEvent } from '../notify/events.js';
import type { RealServerKey } from '../plan/ids.js';
import type { HaloLogger, LevelName } from './log.js';
import type { IpvsMode, LvsPlans } from './lvs.js';
import {
  LVS_METRIC_METHODS,
  type LvsCarriedState,
  type LvsMetrics,
  type LvsPlansMessage,
  type LvsStatus,
  type LvsWorkerData,
  type LvsWorkerMessage,
  type LvsWorkerRequest,
} from './lvs-protocol.js';
import type { LvsPart } from './supervisor.js';

export interface LvsHostOptions {
  logger: HaloLogger;
  metrics?: LvsMetrics;
  ipvs: IpvsMode;
  reconcileIntervalMs?: number;
  keepIpvsOnStop?: boolean;
  vrrp?: boolean;
  onHealth?: (health: ReadonlyMap<RealServerKey, RealServerHealth>) => void;
  /** First restart delay; doubles on each crash up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A worker that ran this long before dying restarts after restartDelayMs again. */
  stableAfterMs?: number;
  /** The worker's old-generation heap limit (MB): a runaway checker ends the worker, not the daemon. */
  heapLimitMb?: number;
  /** How long a graceful stop may take before the worker is terminated. */
  stopTimeoutMs?: number;
  /** The worker's entry module (tests substitute one that can be made to crash). */
  workerUrl?: URL;
}

const DEFAULTS = {
  restartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
  stableAfterMs: 60_000,
  heapLimitMb: 1024,
  stopTimeoutMs: 20_000,
};

type Pending = { kind: 'start' | 'reload' | 'stop'; resolve: () => void; reject: (err: Error) => void };

export class LvsHost implements LvsPart {
  private worker: Worker | undefined;
  private plans: LvsPlans | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly statusWaiters = new Map<number, (s: LvsStatus | null) => void>();
  private lastStatus: LvsStatus | undefined;
  private carried: LvsCarriedState | undefined;
  private readonly vrrpStates = new Map<string, string>();
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private delay: number;
  private startedAt = 0;
  /** The first start succeeded: from then on a dead worker is restarted (a failed first start is not). */
  private running = false;
  /** Workers started after a crash. */
  restarts = 0;
  private readonly o: typeof DEFAULTS & LvsHostOptions;

  constructor(
    opts: LvsHostOptions,
    private readonly alert: (e: AlertEvent) => void = () => undefined,
  ) {
    this.o = { ...DEFAULTS, ...opts };
    this.delay = this.o.restartDelayMs;
  }

  /** Starts the worker and the part in it; rejects with the part's reason if it could not start. */
  async start(plans: LvsPlans): Promise<void> {
    this.plans = plans;
    await this.spawn();
    this.running = true;
  }

  /** New plans for the running part (kept for a restart if the worker is down right now). */
  async reload(plans: LvsPlans): Promise<void> {
    this.plans = plans;
    if (!this.worker) return; // the restarted worker starts with these plans
    try {
      await this.request({ type: 'reload', id: this.nextId++, plans: toMessage(plans) });
    } catch (err) {
      // The part failed half-way through applying the plans: its state is unknown. Like a crash: log it
      // and restart the part, which starts from these plans and the health it had.
      this.o.logger.daemonError({ context: 'lvs reload', err });
      void this.worker?.terminate();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) {
      // Down between a crash and its restart: start it now, so that its stop releases the services.
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.stopping = false;
      await this.spawn().catch(() => undefined);
      this.stopping = true;
    }
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const timer = setTimeout(() => void w.terminate(), this.o.stopTimeoutMs);
    try {
      await this.request({ type: 'stop', id: this.nextId++ });
    } catch (err) {
      this.o.logger.daemonError({ context: 'lvs stop', err });
    }
    void w.terminate();
    await exited;
    clearTimeout(timer);
  }

  /** The part's status (the last known one while its worker restarts or does not answer within 1 s). */
  status(): Promise<LvsStatus> | LvsStatus {
    const empty: LvsStatus = { virtualServers: [], ipvs: null };
    if (!this.worker) return this.lastStatus ?? empty;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.statusWaiters.delete(id);
        resolve(this.lastStatus ?? empty);
      }, 1000);
      this.statusWaiters.set(id, (s) => {
        clearTimeout(t);
        if (s) this.lastStatus = s;
        resolve(this.lastStatus ?? empty);
      });
      this.post({ type: 'status', id });
    });
  }

  vrrpStateChanged(instance: string, state: string): void {
    this.vrrpStates.set(instance, state);
    this.post({ type: 'vrrp-state', instance, state });
  }

  /* ---------------------------------------------------------------- internals */

  private post(m: LvsWorkerRequest): void {
    this.worker?.postMessage(m);
  }

  private request(m: Extract<LvsWorkerRequest, { type: 'start' | 'reload' | 'stop' }>): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.worker) {
        resolve();
        return;
      }
      this.pending.set(m.id, { kind: m.type, resolve, reject });
      this.post(m);
    });
  }

  /** A new worker, started with the current plans (and the carried state after a crash). */
  private spawn(): Promise<void> {
    const plans = this.plans;
    if (!plans) return Promise.resolve();
    const logLevel = this.o.logger.pino.level as LevelName;
    const workerData: LvsWorkerData = {
      options: {
        ipvs: this.o.ipvs,
        reconcileIntervalMs: this.o.reconcileIntervalMs,
        keepIpvsOnStop: this.o.keepIpvsOnStop,
        vrrp: this.o.vrrp,
        metrics: this.o.metrics !== undefined,
        logLevel,
      },
      ...(this.carried ? { resume: this.carried } : {}),
    };
    const worker = new Worker(this.o.workerUrl ?? new URL('./lvs-worker.js', import.meta.url), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: this.o.heapLimitMb },
    });
    this.worker = worker;
    this.startedAt = Date.now();
    let lastError: Error | undefined;
    worker.on('message', (m: LvsWorkerMessage) => this.onMessage(m));
    worker.on('error', (err) => {
      lastError = err;
      this.o.logger.daemonError({ context: 'lvs', err });
    });
    worker.on('exit', (code) => this.onExit(worker, code, lastError));
    return this.request({
      type: 'start',
      id: this.nextId++,
      plans: toMessage(plans),
      vrrpStates: new Map(this.vrrpStates),
    });
  }

  private onMessage(m: LvsWorkerMessage): void {
    switch (m.type) {
      case 'log':
        this.o.logger.forward(m.line);
        break;
      case 'metric': {
        const metrics = this.o.metrics;
        if (!metrics || !(LVS_METRIC_METHODS as readonly string[]).includes(m.call.method)) break;
        (metrics[m.call.method] as (...args: unknown[]) => void)(...m.call.args);
        break;
      }
      case 'alert':
        this.alert(m.event);
        break;
      case 'state':
        this.carried = m.state;
        this.o.onHealth?.(m.state.health);
        break;
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve();
        break;
      }
      case 'status':
        this.statusWaiters.get(m.id)?.(m.status);
        this.statusWaiters.delete(m.id);
        break;
    }
  }

  private onExit(worker: Worker, code: number, err: Error | undefined): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const why = err ? err.message : `exited with code ${code}`;
    // Requests in flight: a start that died is a failed start; a reload's plans are applied by the
    // restart; a stop is done (the worker is gone).
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.kind === 'start') p.reject(new Error(`checker/IPVS part ${why}`));
      else p.resolve();
    }
    for (const [id, r] of this.statusWaiters) {
      this.statusWaiters.delete(id);
      r(null);
    }
    if (this.stopping || !this.running) return;
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= this.o.stableAfterMs) this.delay = this.o.restartDelayMs;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.o.maxRestartDelayMs);
    this.o.logger.pino.error(
      { event: 'daemon.part_restart', part: 'lvs', reason: why, delayMs: delay, restarts: this.restarts + 1 },
      `checker/IPVS part ${why}; restarting it in ${delay / 1000}s (VRRP is not affected; the IPVS table stays as it is meanwhile)`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      this.spawn().then(
        () =>
          this.o.logger.pino.info(
            { event: 'daemon.part_restarted', part: 'lvs', restarts: this.restarts },
            `checker/IPVS part restarted (restart ${this.restarts}), resuming from the health it had`,
          ),
        (e: unknown) => {
          // It could not start (its worker may still run, half started): end it; its exit schedules the
          // next attempt, later.
          this.o.logger.daemonError({ context: 'lvs restart', err: e });
          void this.worker?.terminate();
        },
      );
    }, delay);
  }
}

function toMessage(plans: LvsPlans): LvsPlansMessage {
  return { check: plans.check, ipvs: plans.ipvs };
}
