/**
 * The one message protocol between the supervisor (main thread) and the VRRP engine's worker thread.
 * Both sides import these types, so a field one side sends and the other does not read is a type error,
 * not a silent no-op.
 *
 * The worker is started with `VrrpWorkerData` (its first plan and the run options), then:
 *   main -> worker: VrrpWorkerRequest
 *   worker -> main: VrrpWorkerMessage
 * Requests with an `id` get exactly one reply carrying the same id.
 */

import type { VrrpPlan } from '../plan/vrrp.js';
import type { VrrpReloadReport } from '../plan/vrrp-diff.js';
import type { HoldKind } from '../vrrp/instance.js';
import type { InstanceStatus, VrrpEngineEvent } from './vrrp-engine.js';

/** Command-line options the engine obeys (not part of the config, so not part of the plan). */
export interface VrrpRunOptions {
  /** keepalived -V: at stop, send priority 0 but leave the VIPs configured. */
  readonly keepVipsOnStop: boolean;
  /** Where the engine keeps the list of VIPs it holds (src/daemon/held-vips.ts); none: not kept. */
  readonly heldVipsFile?: string;
  /**
   * Apply the plan's scheduling (vrrp_rt_priority, ...) to the engine's thread and its advert timer threads.
   * The VRRP worker does; an engine run on a test's or bench's main thread does not.
   */
  readonly applyScheduling?: boolean;
  /**
   * At stop, a MASTER hands over (make-before-break: priority 0, the VIPs kept until a new master announces
   * itself) or releases at once as keepalived does. Default handover; -V always releases (keeping the VIPs).
   */
  readonly release?: 'handover' | 'immediate';
  /** Operator holds to apply from the start (maintenance mode kept across restarts, failovers in force). */
  readonly holds?: HoldState;
}

/** Who put an instance (or the node) in a hold, when, and until when. */
export interface HoldInfo {
  readonly kind: HoldKind;
  /** Epoch ms. */
  readonly since: number;
  /** Who asked (e.g. "root (pid 4242) via halo failover"). */
  readonly origin: string;
  /** Epoch ms after which a failover hold clears itself; none: until cleared. */
  readonly until?: number;
}

export interface HoldState {
  readonly maintenance?: HoldInfo;
  /** Failover holds by instance name. */
  readonly failover?: Readonly<Record<string, HoldInfo>>;
}

export interface HoldRequest {
  readonly kind: HoldKind;
  /** true: set; false: clear. */
  readonly on: boolean;
  /** Instance names, or every instance (maintenance is always every instance). */
  readonly instances: readonly string[] | 'all';
  readonly origin: string;
  readonly untilMs?: number;
}

export interface HoldResult {
  /** The instances the request changed (a sync group's members go together). */
  readonly instances: string[];
  /** Names that are not instances of the running plan. */
  readonly unknown: string[];
}

export interface VrrpWorkerData {
  readonly plan: VrrpPlan;
  readonly options: VrrpRunOptions;
}

export type VrrpWorkerRequest =
  | { readonly type: 'stop' }
  | { readonly type: 'status'; readonly id: number }
  | { readonly type: 'reload'; readonly id: number; readonly plan: VrrpPlan }
  | { readonly type: 'hold'; readonly id: number; readonly request: HoldRequest };

export type VrrpWorkerMessage =
  | { readonly type: 'event'; readonly event: VrrpEngineEvent }
  | { readonly type: 'started' }
  | { readonly type: 'start-failed'; readonly error: string }
  | { readonly type: 'stopped' }
  | { readonly type: 'status'; readonly id: number; readonly instances: InstanceStatus[] }
  | { readonly type: 'held'; readonly id: number; readonly result: HoldResult; readonly holds: HoldState }
  | {
      readonly type: 'reloaded';
      readonly id: number;
      readonly report?: VrrpReloadReport;
      readonly error?: string;
    };
