/**
 * The one message protocol between the supervisor's LvsHost (main thread) and the checker + IPVS part in
 * its worker thread (lvs-worker.ts). Both sides import these types.
 *
 * The worker is started with `LvsWorkerData`, then:
 *   main -> worker: LvsWorkerRequest     (start/reload/stop/status carry an id and get one reply each)
 *   worker -> main: LvsWorkerMessage
 * What the part reports (log lines, metrics, alerts, health) flows back as messages; the main thread
 * writes the log lines, updates the metrics, feeds the notifier and the BGP part.
 */
import type { RealServerHealth, VirtualServerState } from '../ipvs/desired.js';
import type { IpvsTable } from '../ipvs/types.js';
import type { AlertEvent } from '../notify/events.js';
import type { RealServerKey, VirtualServerKey } from '../plan/ids.js';
import type { LevelName } from './log.js';
import type { IpvsMode } from './lvs.js';
import type { HaloMetrics } from './metrics.js';
import type { StatusDocument } from './status.js';

/** The health the part carries across a restart of its worker (and across reloads). */
export interface LvsCarriedState {
  readonly health: ReadonlyMap<RealServerKey, RealServerHealth>;
  readonly vsState: ReadonlyMap<VirtualServerKey, VirtualServerState>;
  /** --ipvs dry-run: the in-memory table that stands for the kernel's (which a restart does not touch). */
  readonly dryRunTable?: IpvsTable;
}

/** Last VRRP state of each instance (for lvs_sync_daemon following an instance). */
export type VrrpStates = ReadonlyMap<string, string>;

export type LvsStatus = Pick<StatusDocument, 'virtualServers' | 'ipvs'>;

/** The metrics the part updates (HaloMetrics lives in the main thread). */
export const LVS_METRIC_METHODS = [
  'checkResult',
  'ipvsOperation',
  'ipvsDriftRepaired',
  'setRealServerUp',
] as const;
export type LvsMetricMethod = (typeof LVS_METRIC_METHODS)[number];
export type LvsMetrics = Pick<HaloMetrics, LvsMetricMethod>;
export type LvsMetricCall = {
  [K in LvsMetricMethod]: { readonly method: K; readonly args: Parameters<HaloMetrics[K]> };
}[LvsMetricMethod];

export interface LvsWorkerOptions {
  readonly ipvs: IpvsMode;
  readonly reconcileIntervalMs?: number;
  readonly keepIpvsOnStop?: boolean;
  readonly vrrp?: boolean;
  readonly metrics: boolean;
  readonly logLevel: LevelName;
}

export interface LvsWorkerData {
  readonly options: LvsWorkerOptions;
  /** Set when the part is restarted after its worker died: what the previous worker knew. */
  readonly resume?: LvsCarriedState;
}

/** The plans as the worker receives them (see revivePlans). */
export interface LvsPlansMessage {
  readonly check: unknown;
  readonly ipvs: unknown;
}

export type LvsWorkerRequest =
  | {
      readonly type: 'start';
      readonly id: number;
      readonly plans: LvsPlansMessage;
      readonly vrrpStates: VrrpStates;
    }
  | { readonly type: 'reload'; readonly id: number; readonly plans: LvsPlansMessage }
  | { readonly type: 'stop'; readonly id: number }
  | { readonly type: 'status'; readonly id: number }
  | { readonly type: 'vrrp-state'; readonly instance: string; readonly state: string };

export type LvsWorkerMessage =
  /** One JSON log line, already level-filtered and rate-limited by the worker's logger. */
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'metric'; readonly call: LvsMetricCall }
  | { readonly type: 'alert'; readonly event: AlertEvent }
  /** After every change of the health map (feeds BGP, and is what a restarted worker resumes from). */
  | { readonly type: 'state'; readonly state: LvsCarriedState }
  | { readonly type: 'done'; readonly id: number; readonly error?: string }
  /** null: the part has not started yet (the host answers with what it knew last). */
  | { readonly type: 'status'; readonly id: number; readonly status: LvsStatus | null };

/**
 * Structured cloning turns a Buffer into a plain Uint8Array: the checkers' byte patterns (UDP_CHECK
 * payload, require_reply) must be Buffers again on the other side. Walks plain data (plans are plain data:
 * objects, arrays, strings, numbers, Uint8Arrays) and returns it with every Uint8Array made a Buffer.
 */
export function reviveBuffers<T>(v: T): T {
  if (v instanceof Uint8Array)
    return (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length)) as T;
  if (Array.isArray(v)) return v.map((x) => reviveBuffers(x)) as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = reviveBuffers(x);
    return out as T;
  }
  return v;
}
