/**
 * The one message protocol between the supervisor's LvsHost (main thread) and the checker + IPVS part in
 * its worker thread (lvs-worker.ts). Both sides import these types.
 *
 * The worker is started with `LvsWorkerData`, then:
 *   main -> worker: LvsWorkerRequest     (those with an id get exactly one `done` reply each, in order)
 *   worker -> main: LvsWorkerMessage
 * What the part reports flows back as messages: log lines, metrics, alerts (notify FIFO, mail), events
 * (the event bus), and its state after every change (BGP's health input, `halo reload --plan`'s live
 * state, and what a restarted worker resumes from). Everything is plain data (structured clones).
 */
import type { Gauge, Registry } from 'prom-client';
import type { ResumedChecker } from '../check/scheduler.js';
import type { RealServerHealth, RealServerOverride, VirtualServerState } from '../ipvs/desired.js';
import type { IpvsTable, SyncState } from '../ipvs/types.js';
import type { AlertEvent } from '../notify/events.js';
import type { CheckerKey, RealServerKey, VirtualServerKey } from '../plan/ids.js';
import type { PartScheduling } from '../plan/scheduling.js';
import type { HaloEventBody, RealServerState } from './events.js';
import type { LevelName } from './log.js';
import type { IpvsMode } from './lvs.js';
import type { HaloMetrics } from './metrics.js';
import type { RsParams } from './rs-control.js';
import type { RsOrigin, RsOverride } from './rs-overrides.js';
import type { StatsDocument, StatusDocument } from './status.js';

/**
 * What the part carries across a restart of its worker: everything a restarted part needs to go on as if
 * nothing happened (no server flaps, no quorum event, no IPVS operation, no sync daemon restart).
 */
export interface LvsCarriedState {
  readonly health: ReadonlyMap<RealServerKey, RealServerHealth>;
  readonly vsState: ReadonlyMap<VirtualServerKey, VirtualServerState>;
  /** Each real server's published state (up/down/drained/disabled): the event bus continues from it. */
  readonly rsState: ReadonlyMap<RealServerKey, RealServerState>;
  /** Since when each real server is in its state (ms since the epoch), for `halo status`. */
  readonly since: ReadonlyMap<RealServerKey, number>;
  /** Each checker's state (the engine's checkers resume from it). */
  readonly checkers: ReadonlyMap<CheckerKey, ResumedChecker>;
  /** Checkers that have reported a state change (the notify events' first-run flag). */
  readonly checkersRun: readonly CheckerKey[];
  /** Operators' overrides: the file is read again when there is one; without one these are what is known. */
  readonly overrides: readonly RsOverride[];
  /** ha_suspend: virtual servers whose checkers were suspended (the restarted watcher says again; not logged twice). */
  readonly suspended: readonly VirtualServerKey[];
  /** The IPVS sync daemon halo runs (it runs in the kernel: not restarted). */
  readonly syncDaemon?: { readonly state: SyncState; readonly config: string };
  /** The lvs_timeouts applied (JSON), not applied again when unchanged. */
  readonly timeouts?: string;
  /** --ipvs dry-run: the in-memory table that stands for the kernel's (which a restart does not touch). */
  readonly dryRunTable?: IpvsTable;
}

/** Last VRRP state of each instance (for lvs_sync_daemon following an instance). */
export type VrrpStates = ReadonlyMap<string, string>;

export type LvsStatus = Pick<StatusDocument, 'virtualServers' | 'ipvs'>;
export type LvsStats = Pick<StatsDocument, 'checks' | 'ipvs'>;

/** One row of halo_real_server_override. */
export interface OverrideMetricRow {
  readonly virtual_server: string;
  readonly real_server: string;
  readonly override: string;
}

/** The metrics the part records, forwarded as calls when the part runs in a worker. */
export const LVS_METRIC_METHODS = [
  'checkResult',
  'ipvsOperation',
  'ipvsDriftRepaired',
  'setRealServerUp',
  'realServerOverrides',
] as const;
export type LvsMetricMethod = (typeof LVS_METRIC_METHODS)[number];

/**
 * What the part needs of the metrics: HaloMetrics in the same thread (halo_real_server_override is then
 * registered in its registry), or a worker's proxy that forwards each call (realServerOverrides: the
 * rows; the main thread keeps the gauge).
 */
export interface LvsMetrics
  extends Pick<HaloMetrics, 'checkResult' | 'ipvsOperation' | 'ipvsDriftRepaired' | 'setRealServerUp'> {
  readonly registry?: HaloMetrics['registry'];
  realServerOverrides?(rows: OverrideMetricRow[]): void;
}
export type LvsMetricCall = {
  [K in LvsMetricMethod]: {
    readonly method: K;
    readonly args: Parameters<NonNullable<LvsMetrics[K]>>;
  };
}[LvsMetricMethod];

export interface LvsWorkerOptions {
  readonly ipvs: IpvsMode;
  readonly reconcileIntervalMs?: number;
  readonly keepIpvsOnStop?: boolean;
  readonly vrrp?: boolean;
  readonly overridesFile?: string;
  readonly metrics: boolean;
  readonly events: boolean;
  /** The main thread feeds BGP: send the health it takes (with the overrides applied) after every change. */
  readonly health: boolean;
  readonly logLevel: LevelName;
}

export interface LvsWorkerData {
  readonly options: LvsWorkerOptions;
  /** Set when the part is restarted after its worker died: what the previous worker knew. */
  readonly resume?: LvsCarriedState;
}

/** The plans as the worker receives them (see reviveBuffers). */
export interface LvsPlansMessage {
  readonly check: unknown;
  readonly ipvs: unknown;
  /** checker_rt_priority & co., applied to the worker's thread. */
  readonly scheduling?: PartScheduling;
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
  | { readonly type: 'stats'; readonly id: number }
  | { readonly type: 'rs'; readonly id: number; readonly req: RsParams; readonly origin: RsOrigin }
  | { readonly type: 'vrrp-state'; readonly instance: string; readonly state: string };

export type LvsRequestType = Extract<LvsWorkerRequest, { id: number }>['type'];

/** An error crossing the boundary: what the control socket shows and whether it is the client's mistake. */
export interface LvsError {
  readonly message: string;
  readonly name?: string;
  readonly expected?: boolean;
}

/** The live state `halo reload --plan` computes a reload's IPVS operations from (LiveState). */
export interface LvsLive {
  readonly health: ReadonlyMap<RealServerKey, RealServerHealth>;
  readonly quorum: ReadonlyMap<VirtualServerKey, VirtualServerState>;
  readonly overrides: ReadonlyMap<RealServerKey, RealServerOverride>;
}

export type LvsWorkerMessage =
  /** One JSON log line, already level-filtered and rate-limited by the worker's logger. */
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'metric'; readonly call: LvsMetricCall }
  | { readonly type: 'alert'; readonly event: AlertEvent }
  | { readonly type: 'event'; readonly event: HaloEventBody }
  /** After every change: the live state, BGP's health input (when asked for) and what a restart resumes from. */
  | {
      readonly type: 'state';
      readonly carried: LvsCarriedState;
      readonly live: LvsLive;
      readonly health?: ReadonlyMap<RealServerKey, RealServerHealth>;
    }
  /** The answer to a request; `result` for status (null: the part has not started), stats and rs. */
  | { readonly type: 'done'; readonly id: number; readonly error?: LvsError; readonly result?: unknown };

/** An error as it crosses the boundary (the message, its name, the control socket's `expected` flag). */
export function toLvsError(err: unknown): LvsError {
  if (err instanceof Error) {
    const expected = (err as { expected?: unknown }).expected === true;
    return { message: err.message, name: err.name, ...(expected ? { expected } : {}) };
  }
  return { message: String(err) };
}

/** The error again, on the other side. */
export function fromLvsError(e: LvsError): Error {
  const err = new Error(e.message);
  if (e.name && e.name !== 'Error') err.name = e.name;
  if (e.expected) Object.assign(err, { expected: true });
  return err;
}

/**
 * halo_real_server_override, registered once per registry. prom-client is loaded here only when metrics
 * are on (a daemon without --metrics/--http does not load it at all).
 */
async function overrideGauge(
  registry: Registry,
): Promise<Gauge<'virtual_server' | 'real_server' | 'override'>> {
  const name = 'halo_real_server_override';
  const known = registry.getSingleMetric(name) as
    | Gauge<'virtual_server' | 'real_server' | 'override'>
    | undefined;
  if (known) return known;
  const { Gauge } = await import('prom-client');
  return new Gauge({
    name,
    help: "An operator's override of a real server (halo rs): 1 while it is set, by kind (drain, disable, weight)",
    labelNames: ['virtual_server', 'real_server', 'override'] as const,
    registers: [registry],
  });
}

/**
 * Sets halo_real_server_override to these rows: the gauge in this thread's registry, or, in a worker (no
 * registry), the rows sent to the main thread, which keeps the gauge (LvsHost).
 */
export async function overrideMetric(
  metrics: LvsMetrics,
): Promise<((rows: OverrideMetricRow[]) => void) | undefined> {
  if (metrics.realServerOverrides) return (rows) => metrics.realServerOverrides?.(rows);
  if (!metrics.registry) return undefined;
  const g = await overrideGauge(metrics.registry);
  return (rows) => {
    g.reset();
    for (const r of rows) g.set(r, 1);
  };
}

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
