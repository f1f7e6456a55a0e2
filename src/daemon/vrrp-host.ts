/**
 * The main thread's handle on the VRRP engine worker: start it with a plan,
 * ask it for status, hand it new plans, stop it gracefully, and restart it if
 * it dies (a part that dies is restarted and logged; the VIPs it held are
 * re-evaluated by the new engine). Messages follow vrrp-protocol.ts.
 */
import { Worker } from 'node:worker_threads';
import type { VrrpPlan } from '../plan/vrrp.js';
import { diffVrrpPlans, type VrrpReloadReport, vrrpPlansEqual } from '../plan/vrrp-diff.js';
import { type PartDown, type PartStatus, partStatus } from './status.js';
import type { InstanceStatus, VrrpEngineEvent } from './vrrp-engine.js';
import type {
  HoldRequest,
  HoldResult,
  HoldState,
  VrrpRunOptions,
  VrrpWorkerData,
  VrrpWorkerMessage,
  VrrpWorkerRequest,
} from './vrrp-protocol.js';

export interface VrrpHostOptions extends VrrpRunOptions {
  onEvent(ev: VrrpEngineEvent): void;
  /** The worker died unexpectedly (it is restarted after `restartDelayMs`). */
  onCrash(err: Error): void;
  restartDelayMs?: number;
}

export class VrrpHost {
  private worker: Worker | undefined;
  private stopping = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (s: InstanceStatus[]) => void>();
  private readonly reloads = new Map<number, (m: { report?: VrrpReloadReport; error?: string }) => void>();
  private readonly holdReplies = new Map<number, (m: { result: HoldResult; holds: HoldState }) => void>();
  /** The holds in force, kept here so a restarted engine starts with them. */
  private holds: HoldState;
  private lastStatus: InstanceStatus[] = [];
  restarts = 0;
  /** Between a crash and the restart (status shows the instances' last known state meanwhile). */
  private down: PartDown | undefined;

  constructor(
    private plan: VrrpPlan,
    private readonly opts: VrrpHostOptions,
  ) {
    this.holds = opts.holds ?? {};
  }

  /** Resolves once every instance has started; rejects with the engine's reason if it could not. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const workerData: VrrpWorkerData = {
        plan: this.plan,
        options: {
          keepVipsOnStop: this.opts.keepVipsOnStop,
          heldVipsFile: this.opts.heldVipsFile,
          release: this.opts.release,
          holds: this.holds,
        },
      };
      const worker = new Worker(new URL('./vrrp-worker.js', import.meta.url), { workerData });
      this.worker = worker;
      let started = false;
      worker.on('message', (m: VrrpWorkerMessage) => {
        switch (m.type) {
          case 'event':
            this.opts.onEvent(m.event);
            break;
          case 'started':
            started = true;
            resolve();
            break;
          case 'start-failed':
            reject(new Error(m.error));
            void worker.terminate();
            break;
          case 'reloaded':
            this.reloads.get(m.id)?.(m);
            this.reloads.delete(m.id);
            break;
          case 'held':
            this.holds = m.holds;
            this.holdReplies.get(m.id)?.(m);
            this.holdReplies.delete(m.id);
            break;
          case 'status':
            this.lastStatus = m.instances;
            this.waiting.get(m.id)?.(m.instances);
            this.waiting.delete(m.id);
            break;
          case 'stopped':
            break;
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else if (!this.stopping) this.opts.onCrash(err);
      });
      worker.on('exit', (code) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        for (const r of this.waiting.values()) r(this.lastStatus);
        this.waiting.clear();
        for (const r of this.reloads.values()) r({ error: 'VRRP engine exited' });
        this.reloads.clear();
        for (const r of this.holdReplies.values())
          r({ result: { instances: [], unknown: [] }, holds: this.holds });
        this.holdReplies.clear();
        if (started && !this.stopping) {
          this.opts.onCrash(new Error(`VRRP engine exited with code ${code}`));
          this.restarts++;
          const delay = this.opts.restartDelayMs ?? 1000;
          this.down = {
            reason: `exited with code ${code}`,
            since: Date.now(),
            restartAt: Date.now() + delay,
          };
          setTimeout(() => {
            if (this.stopping) return;
            this.start().then(
              () => {
                this.down = undefined;
              },
              (err: Error) => this.opts.onCrash(err),
            );
          }, delay);
        }
      });
    });
  }

  private post(m: VrrpWorkerRequest): void {
    this.worker?.postMessage(m);
  }

  /** For `halo status`: restarts, and whether the engine is down right now. */
  partStatus(): PartStatus {
    return partStatus(this.restarts, this.down);
  }

  /** Current instance states (the last known ones if the worker does not answer within 1 s). */
  status(): Promise<InstanceStatus[]> {
    if (!this.worker) return Promise.resolve(this.lastStatus);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        resolve(this.lastStatus);
      }, 1000);
      this.waiting.set(id, (s) => {
        clearTimeout(t);
        resolve(s);
      });
      this.post({ type: 'status', id });
    });
  }

  /** Sets or clears a hold (halo failover, maintenance); rejects when the engine is not running. */
  hold(request: HoldRequest): Promise<HoldResult> {
    if (!this.worker) return Promise.reject(new Error('the VRRP engine is not running (restarting?)'));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.holdReplies.set(id, (m) => resolve(m.result));
      this.post({ type: 'hold', id, request });
    });
  }

  /**
   * Graceful stop: the engine hands over (priority 0, VIPs kept until the new master announces itself, at
   * most 8 s) or releases at once, then runs notify STOP.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    this.post({ type: 'stop' });
    const timer = setTimeout(() => void w.terminate(), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /**
   * A new plan, applied as a diff inside the engine (see src/plan/vrrp-diff.ts). Resolves with what the
   * engine did; with no worker running (it died and waits for its restart) the plan is only stored, and
   * the report says what the restarted engine will run.
   */
  async reload(plan: VrrpPlan): Promise<VrrpReloadReport> {
    const before = this.plan;
    this.plan = plan;
    if (vrrpPlansEqual(before, plan) || !this.worker) return diffVrrpPlans(before, plan);
    const id = this.nextId++;
    const reply = await new Promise<{ report?: VrrpReloadReport; error?: string }>((resolve) => {
      this.reloads.set(id, resolve);
      this.post({ type: 'reload', id, plan });
    });
    if (reply.error || !reply.report) throw new Error(`VRRP reload failed: ${reply.error ?? 'no report'}`);
    return reply.report;
  }
}
