/**
 * The main thread's handle on the VRRP engine worker: start it, ask it for
 * status, stop it gracefully, and restart it if it dies (a part that dies is
 * restarted and logged; the VIPs it held are re-evaluated by the new engine).
 */
import { Worker } from 'node:worker_threads';
import type { HaloConfig } from '../config/model.js';
import { withoutSources } from '../config/yaml.js';
import type { InstanceStatus, VrrpEngineEvent } from './vrrp-engine.js';

export interface VrrpHostOptions {
  onEvent(ev: VrrpEngineEvent): void;
  /** The worker died unexpectedly (it is restarted after `restartDelayMs`). */
  onCrash(err: Error): void;
  restartDelayMs?: number;
  /** Leave the VIPs configured at stop (keepalived -V). */
  keepVipsOnStop?: boolean;
}

type WorkerMessage =
  | { type: 'event'; event: VrrpEngineEvent }
  | { type: 'started' }
  | { type: 'start-failed'; error: string }
  | { type: 'stopped' }
  | { type: 'status'; id: number; instances: InstanceStatus[] }
  | { type: 'reloaded'; id: number; result?: ReloadDiff; error?: string };

export interface ReloadDiff {
  kept: string[];
  stopped: string[];
  started: string[];
}

export class VrrpHost {
  private worker: Worker | undefined;
  private stopping = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (s: InstanceStatus[]) => void>();
  private readonly reloads = new Map<number, (m: { result?: ReloadDiff; error?: string }) => void>();
  private lastStatus: InstanceStatus[] = [];
  restarts = 0;

  constructor(
    private config: HaloConfig,
    private readonly opts: VrrpHostOptions,
  ) {}

  /** Resolves once every instance has started; rejects with the engine's reason if it could not. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./vrrp-worker.js', import.meta.url), {
        workerData: { config: this.config },
      });
      this.worker = worker;
      let started = false;
      worker.on('message', (m: WorkerMessage) => {
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
          case 'status': {
            this.lastStatus = m.instances;
            this.waiting.get(m.id)?.(m.instances);
            this.waiting.delete(m.id);
            break;
          }
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
        if (started && !this.stopping) {
          this.opts.onCrash(new Error(`VRRP engine exited with code ${code}`));
          this.restarts++;
          setTimeout(() => {
            if (!this.stopping) this.start().catch((err: Error) => this.opts.onCrash(err));
          }, this.opts.restartDelayMs ?? 1000);
        }
      });
    });
  }

  /** Current instance states (the last known ones if the worker does not answer within 1 s). */
  status(): Promise<InstanceStatus[]> {
    const w = this.worker;
    if (!w) return Promise.resolve(this.lastStatus);
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
      w.postMessage({ type: 'status', id });
    });
  }

  /** Graceful stop: the engine sends priority 0, removes its VIPs and runs notify STOP first. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ type: 'stop' });
    const timer = setTimeout(() => void w.terminate(), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /**
   * A new config, applied as a diff inside the engine: instances that did not
   * change keep their state (no transition, no VIP flap); only added, removed
   * or changed instances stop or start. A change to global_defs, vrrp_script
   * or vrrp_track_file restarts the engine.
   */
  async reload(config: HaloConfig): Promise<'unchanged' | ReloadDiff | 'restarted'> {
    if (vrrpPart(config) === vrrpPart(this.config)) {
      this.config = config;
      return 'unchanged';
    }
    const w = this.worker;
    const reply = w
      ? await new Promise<{ result?: ReloadDiff; error?: string }>((resolve) => {
          const id = this.nextId++;
          this.reloads.set(id, resolve);
          w.postMessage({ type: 'reload', id, config });
        })
      : {};
    if (reply.error) throw new Error(`VRRP reload failed: ${reply.error}`);
    this.config = config;
    if (reply.result) return reply.result;
    await this.stop();
    this.stopping = false;
    await this.start();
    return 'restarted';
  }
}

/** The VRRP-relevant part of a config, without source positions, for change detection. */
function vrrpPart(c: HaloConfig): string {
  const { global, vrrpScripts, trackFiles, vrrpInstances, syncGroups } = c;
  return JSON.stringify(withoutSources({ global, vrrpScripts, trackFiles, vrrpInstances, syncGroups }));
}
