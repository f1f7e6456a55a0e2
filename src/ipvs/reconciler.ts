/**
 * Keeps the kernel's IPVS table equal to the desired one: dump, diff, apply; periodically (drift repair)
 * and whenever the desired state changes (health change, reload) or someone asks.
 *
 * - Passes are serialised; requests arriving during a pass are coalesced into one follow-up pass.
 * - Ownership: halo touches only services it desires now, plus services it desired before and has not yet
 *   managed to delete (so a reload that drops a virtual server removes it, and a foreign service with a key
 *   halo never used is never touched).
 * - Drift: a pass that finds work although the desired state has not changed since the last clean pass means
 *   someone else changed the kernel (ipvsadm -C, a deleted destination...). It is repaired in the same pass
 *   and reported as a 'drift' event listing what was repaired. Worst-case repair time is intervalMs plus one
 *   pass.
 * - Kernel refusals are reported and retried on the next pass; they never throw out of the loop.
 */
import { EventEmitter } from 'node:events';
import type { IpvsBackend, OpFailure } from './client.js';
import { describeOp, diff, type IpvsOp } from './diff.js';
import { type IpvsTable, serviceKeyString } from './types.js';

export type PassReason = 'desired-changed' | 'periodic' | 'on-demand';

export interface PassReport {
  reason: PassReason;
  /** true when the kernel differed from a desired state that had already been applied */
  drift: boolean;
  ops: IpvsOp[];
  failures: OpFailure[];
  /** set when the pass could not run (dump failed) */
  error?: Error;
  durationMs: number;
}

export interface ReconcilerOptions {
  backend: IpvsBackend;
  /** drift-check period; default 5000 ms; 0 disables the periodic pass */
  intervalMs?: number;
  /** injectable timer (tests drive passes by hand) */
  schedule?: (fn: () => void, ms: number) => () => void;
  now?: () => number;
}

export interface ReconcilerEvents {
  pass: [PassReport];
  drift: [{ repaired: string[]; failures: string[] }];
  /** a pass could not run (the dump failed); retried on the next pass */
  failed: [Error];
}

const defaultSchedule = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  private desired: IpvsTable = { services: [] };
  private desiredKeys = new Set<string>();
  /** keys halo may delete: desired now or before and not yet confirmed gone */
  private owned = new Set<string>();
  /** the desired state changed since the last clean pass */
  private dirty = true;
  private generation = 0;
  private running: Promise<PassReport> | undefined;
  private queued: { reason: PassReason; promise: Promise<PassReport> } | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = true;
  private readonly backend: IpvsBackend;
  private readonly intervalMs: number;
  private readonly schedule: NonNullable<ReconcilerOptions['schedule']>;
  private readonly now: () => number;
  passes = 0;

  constructor(opts: ReconcilerOptions) {
    super();
    this.backend = opts.backend;
    this.intervalMs = opts.intervalMs ?? 5000;
    this.schedule = opts.schedule ?? defaultSchedule;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Keys of services halo owns right now (for `halo ipvs list`). */
  ownedKeys(): ReadonlySet<string> {
    return new Set([...this.owned, ...this.desiredKeys]);
  }

  /**
   * Sets the desired table and reconciles. `previouslyOwned` lets a restarted daemon claim the services its
   * previous incarnation created (e.g. from the last config), so that dropping them from the config deletes them.
   */
  setDesired(table: IpvsTable, previouslyOwned: Iterable<string> = []): Promise<PassReport> {
    this.desired = table;
    for (const k of this.desiredKeys) this.owned.add(k);
    for (const k of previouslyOwned) this.owned.add(k);
    this.desiredKeys = new Set(table.services.map((s) => serviceKeyString(s.service)));
    this.dirty = true;
    this.generation++;
    return this.reconcileNow('desired-changed');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** Runs a pass now, or joins the single pass queued behind the running one. */
  reconcileNow(reason: PassReason = 'on-demand'): Promise<PassReport> {
    if (!this.running) return this.startPass(reason);
    if (!this.queued) {
      const promise = this.running.then(() => {
        const r = this.queued?.reason ?? reason;
        this.queued = undefined;
        return this.startPass(r);
      });
      this.queued = { reason, promise };
    } else if (reason === 'desired-changed') this.queued.reason = reason;
    return this.queued.promise;
  }

  private startPass(reason: PassReason): Promise<PassReport> {
    const p: Promise<PassReport> = this.pass(reason).finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private arm(): void {
    if (this.stopped || this.intervalMs <= 0) return;
    this.cancelTimer = this.schedule(() => {
      void this.reconcileNow('periodic').finally(() => this.arm());
    }, this.intervalMs);
  }

  private async pass(reason: PassReason): Promise<PassReport> {
    const t0 = this.now();
    this.passes++;
    const wasDirty = this.dirty;
    const generation = this.generation;
    let report: PassReport;
    try {
      const kernel = await this.backend.dumpTable({ stats: false });
      const owned = new Set([...this.owned, ...this.desiredKeys]);
      const ops = diff(this.desired, { services: kernel }, owned);
      const result = ops.length ? await this.backend.apply(ops) : { sent: 0, failures: [] };
      // Previously-owned services that are gone now (or were never there) are no longer ours to track.
      const present = new Set(kernel.map((s) => serviceKeyString(s.service)));
      const failedDeletes = new Set(
        result.failures
          .filter((f) => f.op.kind === 'delete-service')
          .map((f) => serviceKeyString(f.op.service)),
      );
      this.owned = new Set(
        [...this.owned].filter((k) => this.desiredKeys.has(k) || (present.has(k) && failedDeletes.has(k))),
      );
      if (!result.failures.length && generation === this.generation) this.dirty = false;
      report = {
        reason,
        drift: !wasDirty && ops.length > 0,
        ops,
        failures: result.failures,
        durationMs: this.now() - t0,
      };
    } catch (e) {
      report = {
        reason,
        drift: false,
        ops: [],
        failures: [],
        error: e as Error,
        durationMs: this.now() - t0,
      };
      this.emit('failed', e as Error);
    }
    this.emit('pass', report);
    if (report.drift)
      this.emit('drift', {
        repaired: report.ops.filter((o) => !report.failures.some((f) => f.op === o)).map(describeOp),
        failures: report.failures.map((f) => `${describeOp(f.op)}: ${f.error.message}`),
      });
    return report;
  }
}
