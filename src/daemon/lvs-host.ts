/**
 * The checker + IPVS part as a supervised part of its own (issue 12 §3): the Lvs class runs in a worker
 * thread (lvs-worker.ts); this host, in the main thread, is what the supervisor sees (the LvsPart
 * interface), so the rest of the daemon does not change: start/reload/stop, status and stats, `halo rs`,
 * VRRP state changes, the live state for `halo reload --plan`, the alert callback (notify FIFO and mail),
 * the event bus, BGP's health input, logs and metrics all cross the boundary as messages (lvs-protocol.ts).
 *
 * Why a worker thread and not a child process: it is how the VRRP engine already runs; messages carry the
 * plans and events as structured clones, with no serialisation layer to keep in step; a worker's heap is
 * bounded (`resourceLimits`), so a runaway checker ends the worker, not the process; and a worker needs no
 * second copy of the process's capabilities, pid, cgroup or systemd unit. What a worker does not isolate is
 * a native abort (the process dies whatever thread aborts): the native code must turn every failure into a
 * JavaScript error.
 *
 * Supervision, as keepalived's parent restarts its checker child: when the worker dies (an uncaught
 * exception in a checker, out of memory), the host logs it (daemon.error, context `lvs`, then
 * daemon.part_restart) and starts a new worker after a delay that doubles on each crash (1 s up to 30 s,
 * back to 1 s once a worker has run for a minute). VRRP, in its own thread, never notices. Meanwhile the
 * kernel's IPVS table stays as it was (so traffic keeps flowing), `halo status` shows the last known state
 * of the part, and `halo rs` is refused (it would have nothing to apply it).
 *
 * State across a restart: keepalived's restarted checker starts from the config (every real server in its
 * alpha/inhibit start state). halo does better: the worker sends its state after every change (health,
 * quorum, each checker's state, overrides, published real server states, ha_suspend, the sync daemon and
 * timeouts it set, the dry-run table), and a restarted worker resumes from it: a checker that was up starts
 * up and one that was down starts down, quorum states are kept (no init quorum events again), the table is
 * not flushed (lvs_flush is for a daemon start), timeouts and the sync daemon are left as they are, and the
 * kernel table, still in place, needs no change. Nothing flaps, no IPVS operation is sent; the first check
 * results after the restart move servers as usual. Operators' overrides are read again from their file
 * (written before an override is applied). Not carried: retry counters and schedules (each checker's
 * first run is bootstrap + warmup again), the last check result shown in `halo status` until the next
 * one, the check and operation counts of the stats dump (they count from the restart), and the rate-limit
 * windows of the worker's log.
 */
import { Worker } from 'node:worker_threads';
import type { AlertEvent } from '../notify/events.js';
import type { LiveState } from '../plan/reload.js';
import type { LevelName } from './log.js';
import type { IpvsMode, LvsOptions, LvsPlans } from './lvs.js';
import {
  fromLvsError,
  LVS_METRIC_METHODS,
  type LvsCarriedState,
  type LvsPlansMessage,
  type LvsRequestType,
  type LvsStats,
  type LvsStatus,
  type LvsWorkerData,
  type LvsWorkerMessage,
  type LvsWorkerRequest,
  type OverrideMetricRow,
  overrideMetric,
} from './lvs-protocol.js';
import type { RsParams, RsResult } from './rs-control.js';
import type { RsOrigin } from './rs-overrides.js';
import { type PartDown, type PartStatus, partStatus } from './status.js';
import type { LvsPart } from './supervisor.js';

/** The part's own options (passed on to the worker), and how the host supervises the worker. */
export interface LvsHostOptions
  extends Pick<
    LvsOptions,
    | 'logger'
    | 'metrics'
    | 'ipvs'
    | 'reconcileIntervalMs'
    | 'keepIpvsOnStop'
    | 'vrrp'
    | 'onHealth'
    | 'events'
    | 'overridesFile'
  > {
  /** First restart delay; doubles on each crash up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A worker that ran this long before dying restarts after restartDelayMs again. */
  stableAfterMs?: number;
  /** The worker's old-generation heap limit (MB): a runaway checker ends the worker, not the daemon. */
  heapLimitMb?: number;
  /** How long a graceful stop may take before the worker is terminated. */
  stopTimeoutMs?: number;
  /** How long `halo status` waits for the worker before it shows the last known state. */
  statusTimeoutMs?: number;
  /** The worker's entry module (tests substitute one that can be made to crash). */
  workerUrl?: URL;
}

const DEFAULTS = {
  restartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
  stableAfterMs: 60_000,
  heapLimitMb: 1024,
  stopTimeoutMs: 20_000,
  // Above the 2 s the part gives the kernel for connection counts.
  statusTimeoutMs: 5000,
};

type Pending = {
  kind: LvsRequestType;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
};

/** An error the control socket reports as the client's problem (no daemon.error line). */
const expected = (message: string) => Object.assign(new Error(message), { expected: true });

export class LvsHost implements LvsPart {
  /** checker_* scheduling goes to the worker's thread, not the supervisor's. */
  readonly ownThread = true;
  private worker: Worker | undefined;
  private plans: LvsPlans | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lastStatus: LvsStatus | undefined;
  private lastStats: LvsStats | undefined;
  private carried: LvsCarriedState | undefined;
  private liveState: LiveState = { health: new Map(), quorum: new Map(), overrides: new Map() };
  private readonly vrrpStates = new Map<string, string>();
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartAt = 0;
  private delay: number;
  private startedAt = 0;
  /** The first start succeeded: from then on a dead worker is restarted (a failed first start is not). */
  private running = false;
  private overrideRows: ((rows: OverrideMetricRow[]) => void) | undefined;
  /** Workers started after a crash. */
  restarts = 0;
  /** Between a crash and the restart: why, since when, when (status shows the part's last known state). */
  private down: PartDown | undefined;
  private readonly o: typeof DEFAULTS & LvsHostOptions;

  constructor(
    opts: LvsHostOptions,
    private readonly alert: (e: AlertEvent) => void = () => undefined,
  ) {
    this.o = { ...DEFAULTS, ...opts };
    this.delay = this.o.restartDelayMs;
  }

  get ipvsMode(): IpvsMode {
    return this.o.ipvs;
  }

  /** Starts the worker and the part in it; rejects with the part's reason if it could not start. */
  async start(plans: LvsPlans): Promise<void> {
    this.plans = plans;
    if (this.o.metrics) this.overrideRows = await overrideMetric(this.o.metrics);
    try {
      await this.spawn();
    } catch (err) {
      // A half-started part in a worker that still runs: end it (a failed start is not restarted).
      await this.worker?.terminate();
      throw err;
    }
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
      // and restart the part, which starts from these plans and the state it had.
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
      await this.spawn().catch((err: unknown) => this.o.logger.daemonError({ context: 'lvs stop', err }));
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

  /** The part's status (the last known one while its worker restarts or does not answer in time). */
  async status(): Promise<LvsStatus> {
    const last = (): LvsStatus => this.lastStatus ?? { virtualServers: [], ipvs: null };
    if (!this.worker) return last();
    const s = await this.request<LvsStatus | null>(
      { type: 'status', id: this.nextId++ },
      this.o.statusTimeoutMs,
    ).catch(() => null);
    if (s) this.lastStatus = s;
    return last();
  }

  /** Check and IPVS operation counts (since the part's last start or restart). */
  async stats(): Promise<LvsStats> {
    const last = (): LvsStats =>
      this.lastStats ?? { checks: [], ipvs: { operations: {}, driftRepairs: 0, mode: this.o.ipvs } };
    if (!this.worker) return last();
    const s = await this.request<LvsStats | null>(
      { type: 'stats', id: this.nextId++ },
      this.o.statusTimeoutMs,
    ).catch(() => null);
    if (s) this.lastStats = s;
    return last();
  }

  /** `halo rs`: applied by the part in its worker; refused while the worker is down. */
  rsCommand(req: RsParams, origin: RsOrigin): Promise<RsResult> {
    if (!this.worker || this.stopping) {
      if (this.stopping) return Promise.reject(expected('halo is stopping'));
      const inS = Math.max(0, Math.ceil((this.restartAt - Date.now()) / 1000));
      return Promise.reject(
        expected(
          `the checks + IPVS part is restarting after a crash (in ${inS} s); nothing was changed, try again then`,
        ),
      );
    }
    return this.request<RsResult>({ type: 'rs', id: this.nextId++, req, origin });
  }

  /** For `halo status`: restarts, and whether the part is down right now. */
  partStatus(): PartStatus {
    return partStatus(this.restarts, this.down);
  }

  vrrpStateChanged(instance: string, state: string): void {
    this.vrrpStates.set(instance, state);
    this.post({ type: 'vrrp-state', instance, state });
  }

  /** The live health, quorum and overrides, as the worker last sent them (synchronous, for --plan). */
  live(): LiveState {
    return this.liveState;
  }

  /* ---------------------------------------------------------------- internals */

  private post(m: LvsWorkerRequest): void {
    this.worker?.postMessage(m);
  }

  /** One request, one reply; a reply that does not come within `timeoutMs` (when given) rejects. */
  private request<T = void>(m: Extract<LvsWorkerRequest, { id: number }>, timeoutMs?: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.worker) {
        reject(new Error('the checks + IPVS part is not running'));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.pending.delete(m.id);
          reject(new Error(`the checks + IPVS part did not answer ${m.type} within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
      }
      this.pending.set(m.id, {
        kind: m.type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.post(m);
    });
  }

  /** A new worker, started with the current plans (and the carried state after a crash). */
  private spawn(): Promise<void> {
    const plans = this.plans;
    if (!plans) return Promise.resolve();
    const workerData: LvsWorkerData = {
      options: {
        ipvs: this.o.ipvs,
        reconcileIntervalMs: this.o.reconcileIntervalMs,
        keepIpvsOnStop: this.o.keepIpvsOnStop,
        vrrp: this.o.vrrp,
        overridesFile: this.o.overridesFile,
        metrics: this.o.metrics !== undefined,
        events: this.o.events !== undefined,
        health: this.o.onHealth !== undefined,
        logLevel: this.o.logger.pino.level as LevelName,
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
        if (!(LVS_METRIC_METHODS as readonly string[]).includes(m.call.method)) break;
        if (m.call.method === 'realServerOverrides') {
          this.overrideRows?.(...m.call.args);
          break;
        }
        const metrics = this.o.metrics;
        if (metrics) (metrics[m.call.method] as (...args: unknown[]) => void)(...m.call.args);
        break;
      }
      case 'alert':
        this.alert(m.event);
        break;
      case 'event':
        this.o.events?.(m.event);
        break;
      case 'state':
        this.carried = m.carried;
        this.liveState = { health: m.live.health, quorum: m.live.quorum, overrides: m.live.overrides };
        if (m.health) this.o.onHealth?.(m.health);
        break;
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(fromLvsError(m.error));
        else p?.resolve(m.result);
        break;
      }
    }
  }

  private onExit(worker: Worker, code: number, err: Error | undefined): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const why = err ? err.message : `exited with code ${code}`;
    // Requests in flight: a start that died is a failed start; a reload's plans are applied by the
    // restart; a stop is done (the worker is gone); status and stats show what was known; an rs command
    // may or may not have been applied (the restarted part reads the overrides file: it says).
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.kind === 'start') p.reject(new Error(`checker/IPVS part ${why}`));
      else if (p.kind === 'rs')
        p.reject(
          new Error(
            `the checks + IPVS part died while applying it (${why}); it restarts with the overrides its file holds: see halo status`,
          ),
        );
      else p.resolve(null);
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
    this.restartAt = Date.now() + delay;
    this.down = { reason: why, since: Date.now(), restartAt: this.restartAt };
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      this.spawn().then(
        () => {
          this.down = undefined;
          this.o.logger.pino.info(
            { event: 'daemon.part_restarted', part: 'lvs', restarts: this.restarts },
            `checker/IPVS part restarted (restart ${this.restarts}), resuming from the state it had`,
          );
        },
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
  return {
    check: plans.check,
    ipvs: plans.ipvs,
    ...(plans.checkerScheduling ? { scheduling: plans.checkerScheduling } : {}),
  };
}
