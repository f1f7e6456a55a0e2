/**
 * The checker + IPVS part of the daemon: health checks feed a health map, the
 * pure computeDesired() turns config + health into the table halo wants, and
 * the reconciler makes the kernel equal to it (and repairs drift).
 *
 * Health is keyed by (virtual server, real server) identity, so it survives a
 * reload: a real server that was down stays down until its checker says
 * otherwise, and an unchanged real server keeps its kernel entry.
 *
 * IPVS backends: 'kernel' (generic netlink) or 'dry-run' (an in-memory table,
 * every operation logged), for hosts without ip_vs (the lab, a laptop).
 *
 * Global kernel settings from global_defs: lvs_flush (flush the whole table
 * at start), lvs_timeouts, lvs_sync_daemon (master/backup following a VRRP
 * instance) and lvs_flush_on_stop. In dry-run mode these are only logged.
 *
 * Operators' real server overrides (`halo rs drain|disable|enable|weight`,
 * src/daemon/rs-overrides.ts) are loaded before the first table is computed
 * (a restart does not flap a drained server back to full weight), applied by
 * computeDesired() on top of health, kept across reloads (an override whose
 * real server a reload removed is dropped and logged: it named something that
 * no longer exists, and a real server added back later should start under its
 * checks, not under a forgotten override), and each change is published at
 * once (one recomputation, one reconciler pass).
 */
import {
  type AttemptEvent,
  CheckEngine,
  type EngineReload,
  type EngineWarning,
  type SuspendEvent,
} from '../check/engine.js';
import type {
  CheckerStateAction,
  ResumedChecker,
  ServerStateAction,
  WeightAction,
} from '../check/scheduler.js';
import { runScript } from '../check/script-runner.js';
import type { CheckerType, CheckPlan } from '../check/types.js';
import { type IpvsBackend, IpvsClient } from '../ipvs/client.js';
import {
  computeDesired,
  type DesiredResult,
  healthWithOverrides,
  type QuorumAction,
  type RealServerHealth,
  type VirtualServerState,
} from '../ipvs/desired.js';
import { describeChanges, describeOp, type IpvsOp } from '../ipvs/diff.js';
import { MemoryKernel } from '../ipvs/memory-kernel.js';
import { KernelError } from '../ipvs/netlink.js';
import { type PassReport, Reconciler } from '../ipvs/reconciler.js';
import { type ServiceConfig, type SyncDaemon, type SyncState, serviceKeyString } from '../ipvs/types.js';
import { AddressWatcher } from '../net/addr-watch.js';
import type { AlertEvent, VirtualServerRef } from '../notify/events.js';
import { describeProblem, type PlanProblem } from '../plan/check.js';
import {
  type CheckerKey,
  describeRealServer,
  describeVirtualServer,
  type RealServerId,
  type RealServerKey,
  realServerEndpoint,
  type VirtualServerKey,
} from '../plan/ids.js';
import type { IpvsPlan, IpvsRealServerPlan, IpvsVirtualServerPlan } from '../plan/ipvs.js';
import type { LiveState } from '../plan/reload.js';
import { resolveRealServer } from '../plan/rs-select.js';
import type { PartScheduling } from '../plan/scheduling.js';
import type { HaloEventBody, RealServerState } from './events.js';
import { formatService, type HaloLogger, ipvsMessage, type IpvsOp as LogIpvsOp } from './log.js';
import { LvsHost, type LvsHostOptions } from './lvs-host.js';
import {
  type LvsCarriedState,
  type LvsMetrics,
  type OverrideMetricRow,
  overrideMetric,
  type VrrpStates,
} from './lvs-protocol.js';
import type { RsParams, RsResult } from './rs-control.js';
import {
  describeOrigin,
  describeOverride,
  overrideStatus,
  type RsOrigin,
  type RsOverride,
  type RsOverrideStatus,
  RsOverrideStore,
} from './rs-overrides.js';
import type { CheckStats, RealServerStatus, VirtualServerStatus } from './status.js';
import type { LvsPart } from './supervisor.js';

export type IpvsMode = 'kernel' | 'dry-run';

export interface LvsOptions {
  logger: HaloLogger;
  metrics?: LvsMetrics;
  ipvs: IpvsMode;
  /** Drift-check period (ms). */
  reconcileIntervalMs?: number;
  /** Leave halo's IPVS services in the kernel at stop (keepalived -I, --dont-release-ipvs). */
  keepIpvsOnStop?: boolean;
  /**
   * VRRP runs in this daemon (not --check-only): an lvs_sync_daemon that names a VRRP instance starts as
   * backup and follows that instance. Without VRRP it runs as master.
   */
  vrrp?: boolean;
  /** The BGP part's input: the whole real server health map after every change. */
  onHealth?: (health: ReadonlyMap<RealServerKey, RealServerHealth>) => void;
  /** The event bus (src/daemon/events.ts): real-server states, quorum, IPVS changes and drift repairs. */
  events?: (e: HaloEventBody) => void;
  /** Where operators' real server overrides persist (HaloPaths.rsOverridesFile); none: memory only. */
  overridesFile?: string;
  /**
   * Restarting after the part's worker died (lvs-host.ts): the state it had. Known servers and checkers
   * keep their state (no flap, no quorum event), the table is not flushed (lvs_flush is for a daemon
   * start), timeouts and the sync daemon already in the kernel are left alone.
   */
  resume?: LvsCarriedState;
  /** The VRRP states known before start (the instance an lvs_sync_daemon follows may be MASTER already). */
  vrrpStates?: VrrpStates;
  /** Called when what carriedState() returns may have changed (the worker sends it to the main thread). */
  onStateChange?: () => void;
}

/** What the checks + IPVS part reads: the checker plan and the IPVS plan (src/plan/). */
export interface LvsPlans {
  readonly check: { readonly plan: CheckPlan; readonly problems: readonly PlanProblem[] };
  readonly ipvs: IpvsPlan;
  /** checker_rt_priority & co. (applied by the part to its own thread when it has one: lvs-host.ts). */
  readonly checkerScheduling?: PartScheduling;
}

interface ServerInfo {
  vs: IpvsVirtualServerPlan;
  rs: IpvsRealServerPlan;
  since: number;
  lastCheck: { checker: string; ok: boolean; reason: string; at: number; durationMs: number } | null;
}

/** The kernel has no IPVS: an expected reason not to start (logged without a stack trace). */
export class IpvsUnavailableError extends Error {
  override name = 'IpvsUnavailableError';
}

/** The IPVS backend for a mode; a host without ip_vs gets a clear message. */
export async function openIpvsBackend(mode: IpvsMode): Promise<IpvsBackend & { close?(): void }> {
  if (mode === 'dry-run') return new MemoryKernel();
  try {
    return await IpvsClient.open();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new IpvsUnavailableError(
      `IPVS is not available in this kernel (${why}): load it with 'modprobe ip_vs', run with --vrrp-only, or use --ipvs dry-run to see what halo would program`,
    );
  }
}

export class Lvs implements LvsPart {
  private plans!: LvsPlans;
  private engine: CheckEngine | undefined;
  /** A reload is applying the check plan: its single publish() follows (the engine's 'settled' waits for it). */
  private reloadingChecks = false;
  private backend!: IpvsBackend & { close?(): void };
  private reconciler!: Reconciler;
  private readonly health = new Map<RealServerKey, RealServerHealth>();
  private vsState = new Map<VirtualServerKey, VirtualServerState>();
  private desired: DesiredResult | undefined;
  /** The desired table's entry of each real server (looked up per server on every publish). */
  private desiredOf = new Map<RealServerKey, DesiredResult['status'][number]>();
  private servers = new Map<RealServerKey, ServerInfo>();
  /** Every checker: its config type (metrics labels), its real server, whether each failure is logged. */
  private checkers = new Map<CheckerKey, { type: CheckerType; rs: RealServerKey; logAllFailures: boolean }>();
  /** The checkers of each real server. */
  private checkersOf = new Map<RealServerKey, CheckerKey[]>();
  private lastSyncAt: number | null = null;
  private driftRepairs = 0;
  private lastError: string | null = null;
  private stopping = false;
  /** The sync daemon halo runs now (state + the config it was started with). */
  private syncDaemon: { state: SyncState; config: string } | undefined;
  /** Last VRRP state of the instance the sync daemon follows. */
  private followedState: SyncState = 'backup';
  private syncChain: Promise<void> = Promise.resolve();

  /** Each checker's last state (for mail and FIFO events about the real server it checks). */
  private readonly checkerUp = new Map<CheckerKey, boolean>();
  /** Checkers that have reported a state change since start. */
  private readonly checkerHasRun = new Set<CheckerKey>();
  /** ha_suspend: the host's addresses, watched only while some virtual server uses it. */
  private addressWatch: AddressWatcher | undefined;

  /** Each real server's last published state (up/down/drained), to publish changes only. */
  private readonly rsState = new Map<RealServerKey, RealServerState>();
  /** Why a real server's state is about to change (set before publish() recomputes the states). */
  private readonly pendingWhy = new Map<
    RealServerKey,
    { reason: string; checker?: string; initial?: boolean }
  >();
  /** Check results per checker since start (the SIGUSR2 stats). */
  private readonly checkCounts = new Map<CheckerKey, { ok: number; failed: number }>();
  /** IPVS operations done (or, in dry-run, that would have been done) since start. */
  private readonly opCounts: Record<string, number> = {};
  /** Operators' overrides (`halo rs`), by real server. */
  private readonly overrides: RsOverrideStore;
  /** halo_real_server_override (only with metrics): the gauge here, or the rows sent to the main thread. */
  private overrideMetric: ((rows: OverrideMetricRow[]) => void) | undefined;
  /** The lvs_timeouts last applied (JSON). */
  private appliedTimeouts: string | undefined;
  /** Starting from a carried state: ha_suspend states it had are not announced again. */
  private resumingSuspended: Set<string> | undefined;
  /** Reloads and override changes, one at a time (an override is resolved against one plan). */
  private serial: Promise<unknown> = Promise.resolve();

  /** kernel or dry-run, for daemon.start, the status and the dumps. */
  get ipvsMode(): IpvsMode {
    return this.opts.ipvs;
  }

  constructor(
    private readonly opts: LvsOptions,
    /** Events for the notify FIFO and smtp_alert mail (src/notify). */
    private readonly alert: (e: AlertEvent) => void = () => undefined,
  ) {
    this.overrides = new RsOverrideStore(opts.overridesFile);
  }

  async start(plans: LvsPlans): Promise<void> {
    this.plans = plans;
    const resume = this.opts.resume;
    if (this.opts.metrics) this.overrideMetric = await overrideMetric(this.opts.metrics);
    // The dry-run table stands for the kernel's, which outlives a restart of the part.
    const carriedTable = this.opts.ipvs === 'dry-run' ? resume?.dryRunTable : undefined;
    this.backend = carriedTable ? new MemoryKernel(carriedTable) : await openIpvsBackend(this.opts.ipvs);
    this.reconciler = new Reconciler({
      backend: this.backend,
      intervalMs: this.opts.reconcileIntervalMs ?? 5000,
    });
    this.reconciler.on('pass', (r) => {
      this.lastSyncAt = Date.now();
      this.lastError = r.error ? r.error.message : r.failures.length ? r.failures[0].error.message : null;
      for (const op of r.ops) this.logOp(op, r.drift);
      for (const f of r.failures) this.opts.logger.ipvsError({ op: opKind(f.op), err: f.error });
      if (r.error) this.opts.logger.ipvsError({ op: 'sync', err: r.error });
    });
    this.reconciler.on('drift', (d) => {
      this.driftRepairs++;
      this.opts.metrics?.ipvsDriftRepaired();
      this.opts.logger.pino.warn(
        { event: 'ipvs.drift', repaired: d.repaired.length, failures: d.failures },
        `IPVS table changed behind halo's back: ${d.repaired.length} operation(s) repaired it`,
      );
    });
    const followed = plans.ipvs.syncDaemon?.instance;
    const known = followed ? this.opts.vrrpStates?.get(followed) : undefined;
    if (known) this.followedState = known.toUpperCase() === 'MASTER' ? 'master' : 'backup';
    // keepalived lvs_flush: whatever a previous run (or anyone) left is removed before halo programs. Not
    // when the part restarts: the table is halo's own, and serving.
    if (plans.ipvs.flushAtStart && !resume)
      await this.kernelCall('flush', 'flushed the IPVS table (lvs_flush)', (c) => c.flush());
    if (resume?.timeouts !== undefined) this.appliedTimeouts = resume.timeouts;
    if (JSON.stringify(plans.ipvs.timeouts) !== this.appliedTimeouts) await this.applyTimeouts(plans.ipvs);
    this.indexServers(plans);
    if (resume) this.resumeFrom(resume);
    await this.loadOverrides();
    await this.startChecks(plans.check);
    // ha_suspend: a virtual server suspended before the restart whose address came meanwhile runs again.
    for (const key of this.resumingSuspended ?? []) {
      if (this.engine?.isSuspended(key)) continue;
      const vs = plans.check.plan.virtualServers.find((v) => v.key === key);
      const checkers = (vs?.realServers ?? []).flatMap((rs) => rs.checkers);
      this.onSuspend({
        vs: key,
        suspended: false,
        checkers: checkers.filter((c) => c.target.type !== 'FILE_CHECK').length,
      });
    }
    this.resumingSuspended = undefined;
    await this.publish();
    this.reconciler.start();
    await this.applySyncDaemon(plans.ipvs);
  }

  /** New plans: unchanged checkers keep running; the kernel gets only the difference. */
  reload(plans: LvsPlans): Promise<void> {
    return this.exclusive(() => this.reloadNow(plans));
  }

  private async reloadNow(plans: LvsPlans): Promise<void> {
    const before = this.plans.ipvs;
    this.plans = plans;
    if (JSON.stringify(before.timeouts) !== JSON.stringify(plans.ipvs.timeouts))
      await this.applyTimeouts(plans.ipvs);
    const kept = new Set(plans.ipvs.virtualServers.flatMap((vs) => vs.realServers.map((rs) => rs.key)));
    this.announceRemoved(
      [...this.servers.values()].filter((i) => !kept.has(i.rs.key)),
      false,
    );
    // A real server that leaves the config takes its health with it: if a later reload adds it back,
    // it starts like any new one (its initial state), not from what it was before it left.
    for (const key of this.servers.keys()) if (!kept.has(key)) this.health.delete(key);
    this.indexServers(plans);
    await this.dropStaleOverrides('reload');
    const counts = await this.reloadChecks(plans.check);
    // One recomputation for the whole reload; with nothing changed it sends no IPVS operation.
    const pass = await this.publish();
    if (counts) {
      this.opts.logger.pino.info(
        {
          event: 'check.reload',
          kept: counts.kept,
          started: counts.started.length,
          stopped: counts.stopped.length,
          restarted: counts.restarted.length,
          ipvsOps: pass.ops.length,
        },
        `checkers: ${counts.kept} kept, ${counts.started.length} started, ${counts.stopped.length} stopped, ${counts.restarted.length} restarted (changed); IPVS: ${pass.ops.length} operation(s)`,
      );
    }
    await this.applySyncDaemon(plans.ipvs);
  }

  /**
   * The engine takes the new check plan in place (CheckEngine.reload): unchanged checkers keep their
   * state, counters and schedule; a real server that was down stays down until its checks pass.
   */
  private async reloadChecks({ plan, problems }: LvsPlans['check']): Promise<EngineReload | undefined> {
    const engine = this.engine;
    if (!engine) return undefined;
    const hostAddresses = await this.hostAddresses(plan);
    for (const p of problems) this.opts.logger.pino.warn({ event: 'check.plan_problem' }, describeProblem(p));
    let counts: EngineReload;
    this.reloadingChecks = true;
    try {
      counts = engine.reload(plan, { hostAddresses });
    } finally {
      this.reloadingChecks = false;
    }
    // Checkers that stopped or restarted: their last state no longer describes a checker (a restarted
    // one starts in its real server's state, which is what onChecker assumes for a checker not seen yet).
    for (const key of [...counts.stopped, ...counts.restarted]) {
      this.checkerUp.delete(key as CheckerKey);
      this.checkerHasRun.delete(key as CheckerKey);
    }
    return counts;
  }

  /**
   * Stop checking; then remove the services halo owns (keepalived's default) or leave them to keep
   * forwarding while halo restarts (--dont-release-ipvs). Servers are not reported down one by one:
   * stopping is not a health event.
   */
  async stop(): Promise<void> {
    this.announceRemoved([...this.servers.values()], true);
    this.stopping = true;
    this.addressWatch?.close();
    this.addressWatch = undefined;
    await this.engine?.stop();
    await this.syncChain;
    await this.stopSyncDaemon();
    if (this.reconciler) {
      this.reconciler.stop();
      // -I wins over lvs_flush_on_stop: the point of -I is to keep forwarding while halo restarts.
      const flushOnStop = this.plans.ipvs.flushOnStop;
      if (this.opts.keepIpvsOnStop) {
        // leave the table as it is
      } else if (flushOnStop === 'full') {
        await this.kernelCall('flush', 'flushed the IPVS table (lvs_flush_on_stop)', (c) => c.flush());
      } else if (flushOnStop === 'rs') {
        // Only halo's real servers go; its virtual services stay (without destinations).
        const services = (this.desired?.table.services ?? []).map((s) => ({ service: s.service, dests: [] }));
        await this.reconciler.setDesired({ services });
      } else {
        await this.reconciler.setDesired({ services: [] });
      }
    }
    this.backend?.close?.();
  }

  live(): LiveState {
    return { health: this.health, quorum: this.vsState, overrides: this.overrides.effects() };
  }

  /** What a restarted part resumes from (LvsOptions.resume); copies, so it can be sent as it is. */
  carriedState(): LvsCarriedState {
    const checkers = new Map<CheckerKey, ResumedChecker>();
    for (const c of this.engine?.checkers() ?? [])
      checkers.set(c.id as CheckerKey, {
        up: c.up,
        ...(c.dynamicWeight !== undefined ? { dynamicWeight: c.dynamicWeight } : {}),
      });
    const suspended = (this.plans?.check.plan.virtualServers ?? [])
      .filter((vs) => this.engine?.isSuspended(vs.key))
      .map((vs) => vs.key);
    return {
      health: new Map(this.health),
      vsState: new Map(this.vsState),
      rsState: new Map(this.rsState),
      since: new Map([...this.servers].map(([k, i]) => [k, i.since])),
      checkers,
      checkersRun: [...this.checkerHasRun],
      overrides: this.overrides.entries().map(([, o]) => o),
      suspended,
      ...(this.syncDaemon ? { syncDaemon: { ...this.syncDaemon } } : {}),
      ...(this.appliedTimeouts !== undefined ? { timeouts: this.appliedTimeouts } : {}),
      ...(this.opts.ipvs === 'dry-run' && this.desired ? { dryRunTable: this.desired.table } : {}),
    };
  }

  /** Before the checks start: the state the previous worker had, for the servers still in the plan. */
  private resumeFrom(r: LvsCarriedState): void {
    for (const [key, info] of this.servers) {
      const h = r.health.get(key);
      if (h) this.health.set(key, { ...h });
      const st = r.rsState.get(key);
      if (st) this.rsState.set(key, st);
      const since = r.since.get(key);
      if (since !== undefined) info.since = since;
    }
    const vss = new Set(this.plans.ipvs.virtualServers.map((vs) => vs.key));
    for (const [key, v] of r.vsState) if (vss.has(key)) this.vsState.set(key, { ...v });
    for (const key of r.checkersRun) if (this.checkers.has(key)) this.checkerHasRun.add(key);
    if (r.syncDaemon) this.syncDaemon = { ...r.syncDaemon };
    this.resumingSuspended = new Set(r.suspended);
  }

  /** The state carriedState() returns may have changed. */
  private stateChanged(): void {
    this.opts.onStateChange?.();
  }

  /** VRRP state changes: the sync daemon follows its instance (master when MASTER, backup otherwise). */
  vrrpStateChanged(instance: string, state: string): void {
    const sync = this.plans?.ipvs.syncDaemon;
    if (!sync?.instance || sync.instance !== instance || this.stopping) return;
    this.followedState = state.toUpperCase() === 'MASTER' ? 'master' : 'backup';
    void this.applySyncDaemon(this.plans.ipvs);
  }

  async status(): Promise<{ virtualServers: VirtualServerStatus[]; ipvs: StatusIpvs }> {
    const counts = await this.connectionCounts(this.overrides.entries().map(([key]) => key));
    const byVs = new Map<VirtualServerKey, RealServerStatus[]>();
    const inKernel = new Map(
      (this.desired?.status ?? []).filter((s) => s.realServer !== undefined).map((s) => [s.realServer, s]),
    );
    for (const info of this.servers.values()) {
      const h = this.health.get(info.rs.key);
      const k = inKernel.get(info.rs.key);
      const list = byVs.get(info.vs.key) ?? [];
      list.push({
        address: info.rs.address,
        port: info.rs.port,
        up: h ? h.alive : !info.rs.checked || info.rs.startsAlive,
        weight: info.rs.weight,
        ...(k?.inKernel ? { effectiveWeight: k.weight } : {}),
        lastCheck: info.lastCheck
          ? { ...info.lastCheck, at: new Date(info.lastCheck.at).toISOString() }
          : null,
        since: new Date(info.since).toISOString(),
        state: this.rsState.get(info.rs.key) ?? this.stateOf(info.rs.key),
        ...this.overrideView(info.rs.key, counts),
      });
      byVs.set(info.vs.key, list);
    }
    const virtualServers = this.plans.ipvs.virtualServers.map((vs) => {
      const id = vs.id;
      return {
        name: vs.name,
        ...(id.kind === 'address' ? { address: id.address, port: id.port } : {}),
        protocol: id.kind === 'fwmark' ? 'TCP' : id.protocol.toUpperCase(),
        ...(id.kind === 'fwmark' ? { fwmark: id.fwmark } : {}),
        ...(id.kind === 'group' ? { group: id.group } : {}),
        scheduler: vs.scheduler,
        forwarding: vs.forwarding,
        quorumUp: this.vsState.get(vs.key)?.quorumUp ?? true,
        realServers: byVs.get(vs.key) ?? [],
      };
    });
    const table = this.desired?.table.services ?? [];
    return {
      virtualServers,
      ipvs: {
        services: table.length,
        destinations: table.reduce((n, s) => n + s.dests.length, 0),
        lastSyncAt: this.lastSyncAt ? new Date(this.lastSyncAt).toISOString() : null,
        driftRepairs: this.driftRepairs,
        lastError: this.lastError,
        mode: this.opts.ipvs,
      },
    };
  }

  /** Check counts per checker and IPVS operation counts since start (the SIGUSR2 stats dump). */
  stats(): {
    checks: CheckStats[];
    ipvs: { operations: Record<string, number>; driftRepairs: number; mode: IpvsMode };
  } {
    const checks: CheckStats[] = [];
    for (const [key, c] of this.checkers) {
      const info = this.servers.get(c.rs);
      const n = this.checkCounts.get(key);
      if (!info) continue;
      checks.push({
        virtualServer: info.vs.name,
        realServer: describeRealServer(info.rs.id),
        checker: c.type,
        ok: n?.ok ?? 0,
        failed: n?.failed ?? 0,
      });
    }
    return {
      checks,
      ipvs: { operations: { ...this.opCounts }, driftRepairs: this.driftRepairs, mode: this.opts.ipvs },
    };
  }

  /* ---------------------------------------------------------------- internals */

  /**
   * A kernel-wide IPVS call (flush, timeouts, sync daemon): done and logged with the kernel backend, only
   * logged in dry-run. Failures are logged, never thrown: they must not stop the daemon.
   */
  private async kernelCall(
    op: string,
    msg: string,
    fn: (client: IpvsClient) => Promise<void>,
    fields: Record<string, unknown> = {},
  ): Promise<boolean> {
    const log = this.opts.logger.pino;
    if (!(this.backend instanceof IpvsClient)) {
      if (op === 'flush' && this.backend instanceof MemoryKernel) this.backend.flush();
      log.info({ event: 'ipvs.global', op, dryRun: true, ...fields }, `dry-run: ${msg}`);
      return true;
    }
    try {
      await fn(this.backend);
      log.info({ event: 'ipvs.global', op, ...fields }, msg);
      return true;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.opts.logger.ipvsError({ op: 'sync', err });
      log.error(
        { event: 'ipvs.global_failed', op, ...fields, err: this.lastError },
        `${op} failed: ${this.lastError}`,
      );
      return false;
    }
  }

  private async applyTimeouts(ipvs: IpvsPlan): Promise<void> {
    const t = ipvs.timeouts;
    if (!t) return;
    const ok = await this.kernelCall(
      'timeouts',
      `IPVS timeouts set (tcp ${t.tcp} tcpfin ${t.tcpFin} udp ${t.udp}; 0 = unchanged)`,
      (c) => c.setTimeouts(t),
      { timeouts: t },
    );
    if (ok) {
      this.appliedTimeouts = JSON.stringify(t);
      this.stateChanged();
    }
  }

  /** Starts, switches or stops the sync daemon so that it matches the config and the followed VRRP state. */
  private applySyncDaemon(ipvs: IpvsPlan): Promise<void> {
    // Serialised: a VRRP transition may arrive while a start or reload is still talking to the kernel.
    this.syncChain = this.syncChain.then(() => this.syncDaemonNow(ipvs));
    return this.syncChain;
  }

  private async syncDaemonNow(ipvs: IpvsPlan): Promise<void> {
    if (this.stopping) return;
    const sync = ipvs.syncDaemon;
    if (!sync) {
      if (this.syncDaemon) await this.stopSyncDaemon();
      return;
    }
    // keepalived 2.2.7 starts the sync daemon as backup and switches with the named instance; halo does
    // too when VRRP runs here. Without VRRP (--check-only) or without an instance there is nothing to
    // follow: this director is the one forwarding, so it syncs as master.
    const state: SyncState = sync.instance && this.opts.vrrp !== false ? this.followedState : 'master';
    const config = JSON.stringify(sync);
    if (this.syncDaemon?.state === state && this.syncDaemon.config === config) return;
    if (this.syncDaemon) await this.stopSyncDaemon();
    const d: SyncDaemon = {
      state,
      mcastIfname: sync.interface,
      syncId: sync.syncId,
      ...(sync.maxLen !== undefined ? { syncMaxLen: sync.maxLen } : {}),
      ...(sync.group !== undefined ? { mcastGroup: sync.group } : {}),
      ...(sync.port !== undefined ? { mcastPort: sync.port } : {}),
      ...(sync.ttl !== undefined ? { mcastTtl: sync.ttl } : {}),
    };
    const fields = { state, interface: sync.interface, syncId: sync.syncId };
    const ok = await this.kernelCall(
      'start-sync-daemon',
      `IPVS sync daemon started as ${state} on ${sync.interface} (syncid ${sync.syncId})`,
      async (c) => {
        try {
          await c.startDaemon(d);
        } catch (e) {
          // A daemon in this state is already running (left by an earlier run with -I, or ipvsadm):
          // replace it so that it uses this config.
          if (!(e instanceof KernelError && e.code === 'EEXIST')) throw e;
          await c.stopDaemon(state);
          await c.startDaemon(d);
        }
      },
      fields,
    );
    if (ok) this.syncDaemon = { state, config };
    this.stateChanged();
  }

  private async stopSyncDaemon(): Promise<void> {
    const running = this.syncDaemon;
    if (!running) return;
    this.syncDaemon = undefined;
    this.stateChanged();
    await this.kernelCall(
      'stop-sync-daemon',
      `IPVS sync daemon (${running.state}) stopped`,
      (c) => c.stopDaemon(running.state),
      { state: running.state },
    );
  }

  private indexServers(plans: LvsPlans): void {
    const next = new Map<RealServerKey, ServerInfo>();
    for (const vs of plans.ipvs.virtualServers) {
      for (const rs of vs.realServers) {
        const prev = this.servers.get(rs.key);
        next.set(rs.key, { vs, rs, since: prev?.since ?? Date.now(), lastCheck: prev?.lastCheck ?? null });
      }
    }
    this.servers = next;
    const realServers = plans.check.plan.virtualServers.flatMap((vs) => vs.realServers);
    this.checkers = new Map(
      realServers.flatMap((rs) =>
        rs.checkers.map(
          (c) =>
            [c.key, { type: c.target.type, rs: rs.key, logAllFailures: c.logAllFailures ?? false }] as const,
        ),
      ),
    );
    this.checkersOf = new Map(realServers.map((rs) => [rs.key, rs.checkers.map((c) => c.key)]));
  }

  /**
   * ha_suspend follows the host's addresses (keepalived: a virtual server's checks run only while its
   * address is on this host). The watcher exists only while some virtual server asks for it.
   */
  private async hostAddresses(plan: CheckPlan): Promise<string[] | undefined> {
    if (!plan.virtualServers.some((vs) => vs.haSuspend !== undefined)) {
      this.addressWatch?.close();
      this.addressWatch = undefined;
      return undefined;
    }
    if (!this.addressWatch) {
      const watch = new AddressWatcher();
      watch.on('address', (e) => {
        if (e.type === 'added') this.engine?.addressAdded(e.address);
        else this.engine?.addressRemoved(e.address);
      });
      watch.on('error', (err: Error) =>
        this.opts.logger.pino.warn({ event: 'check.ha_suspend' }, `ha_suspend address watch: ${err.message}`),
      );
      this.addressWatch = watch;
      await watch.ready;
    }
    return this.addressWatch.addresses().map((a) => a.address);
  }

  private async startChecks({ plan, problems }: LvsPlans['check']): Promise<void> {
    const hostAddresses = await this.hostAddresses(plan);
    for (const p of problems) this.opts.logger.pino.warn({ event: 'check.plan_problem' }, describeProblem(p));
    const resume = this.opts.resume?.checkers;
    const engine = new CheckEngine(plan, { hostAddresses, ...(resume ? { resume } : {}) });
    engine.on('server', (a: ServerStateAction) => this.onServer(a));
    engine.on('weight', (a: WeightAction) => this.onWeight(a));
    // One recomputation per batch of results: at start every real server reports at once, and a table per
    // report would keep a thousand tables alive until the reconciler caught up.
    engine.on('settled', () => {
      if (!this.reloadingChecks) void this.publish();
    });
    engine.on('warning', (w: EngineWarning) =>
      this.opts.logger.pino.warn({ event: 'check.warning', checker: w.checkerId }, w.message),
    );
    engine.on('suspend', (e: SuspendEvent) => this.onSuspend(e));
    engine.on('checker', (a: CheckerStateAction) => this.onChecker(a));
    engine.on('attempt', (a: AttemptEvent) => {
      const checker = this.checkerOf(a.checkerId);
      if (!checker) return;
      const { info, type } = checker;
      info.lastCheck = {
        checker: type,
        ok: a.result.ok,
        reason: a.result.reason,
        at: Date.now(),
        durationMs: Math.round(a.durationMs * 10) / 10,
      };
      const count = this.checkCounts.get(a.checkerId as CheckerKey) ?? { ok: 0, failed: 0 };
      if (a.result.ok) count.ok++;
      else count.failed++;
      this.checkCounts.set(a.checkerId as CheckerKey, count);
      // keepalived logs a failed attempt while the server is still up (the retries before it goes down);
      // log_all_failures logs the failures of a server that is already down too, each one.
      const all = this.checkers.get(a.checkerId as CheckerKey)?.logAllFailures ?? false;
      if (!a.result.ok && (all || this.health.get(info.rs.key)?.alive !== false)) {
        this.opts.logger.checkAttemptFailed(
          {
            virtualServer: info.vs.name,
            realServer: describeRealServer(info.rs.id),
            checker: type,
            reason: a.result.reason,
            attempt: a.retry + 1,
          },
          all,
        );
      }
      const result = a.result.ok ? 'success' : a.result.timedOut ? 'timeout' : 'failure';
      this.opts.metrics?.checkResult(
        info.vs.name,
        realServerEndpoint(info.rs.id),
        type,
        result,
        a.durationMs / 1000,
      );
    });
    this.engine = engine;
    engine.start();
  }

  /** The real server and config type of a checker, by its plan key. */
  private checkerOf(key: string): { info: ServerInfo; type: CheckerType } | undefined {
    const c = this.checkers.get(key as CheckerKey);
    const info = c && this.servers.get(c.rs);
    return c && info ? { info, type: c.type } : undefined;
  }

  private onServer(a: ServerStateAction): void {
    if (this.stopping) return;
    const info = this.servers.get(a.rs as RealServerKey);
    if (!info) return;
    const key = info.rs.key;
    const prev = this.health.get(key);
    // The engine announces every server's initial state at start (and after a reload restart): a
    // server we already know keeps its state until a real check result changes it.
    if (a.cause === 'initial' && prev) return;
    if (prev && prev.alive === a.up) return;
    this.health.set(key, { alive: a.up, dynamicWeight: prev?.dynamicWeight });
    info.since = Date.now();
    const fields = {
      virtualServer: info.vs.name,
      realServer: describeRealServer(info.rs.id),
      checker: a.checkerId
        ? (this.checkers.get(a.checkerId as CheckerKey)?.type ?? 'TCP_CHECK')
        : 'TCP_CHECK',
      reason: a.reason,
    };
    if (a.up) this.opts.logger.checkServerUp(fields);
    else this.opts.logger.checkServerDown(fields);
    this.alert({
      type: 'real-server',
      virtualServer: alertRef(info.vs),
      realServer: { address: info.rs.address, port: info.rs.port },
      up: a.up,
    });
    this.opts.metrics?.setRealServerUp(info.vs.name, realServerEndpoint(info.rs.id), a.up);
    const script = a.up ? info.rs.notifyUp : info.rs.notifyDown;
    if (script && a.notify) void this.runHook(script, 'other');
    // The engine's announcement of a server's first state is not a change to publish. The table is
    // recomputed once the engine's batch has settled.
    this.pendingWhy.set(key, { reason: a.reason, checker: fields.checker, initial: a.cause === 'initial' });
  }

  /** Alive real servers leaving the pool because of a reload or a stop (keepalived mails "Removing ..."). */
  private announceRemoved(infos: ServerInfo[], stopping: boolean): void {
    for (const info of infos) {
      const alive = this.health.get(info.rs.key)?.alive ?? (!info.rs.checked || info.rs.startsAlive);
      if (!alive) continue;
      this.alert({
        type: 'real-server-removed',
        virtualServer: alertRef(info.vs),
        realServer: { address: info.rs.address, port: info.rs.port },
        stopping,
      });
    }
  }

  /** A checker changed state: the mail / FIFO event keepalived sends for it (after the engine's stop, none). */
  private onChecker(a: CheckerStateAction): void {
    if (this.stopping) return;
    const info = this.servers.get(a.rs as RealServerKey);
    const key = a.checkerId as CheckerKey;
    const type = this.checkers.get(key)?.type;
    if (!info || !type) return;
    const firstRun = !this.checkerHasRun.has(key);
    this.checkerHasRun.add(key);
    const realServerWasUp = this.health.get(info.rs.key)?.alive ?? (!info.rs.checked || info.rs.startsAlive);
    this.checkerUp.set(key, a.up);
    this.stateChanged();
    const siblings = this.checkersOf.get(info.rs.key) ?? [];
    const realServerUp = siblings.every((k) => this.checkerUp.get(k) ?? realServerWasUp);
    this.alert({
      type: 'checker',
      virtualServer: alertRef(info.vs),
      realServer: { address: info.rs.address, port: info.rs.port },
      checker: type,
      wasUp: !a.up,
      up: a.up,
      firstRun,
      realServerWasUp,
      realServerUp,
      ...(type === 'SMTP_CHECK' && !a.up ? { detail: a.reason } : {}),
    });
  }

  private onWeight(a: WeightAction): void {
    if (this.stopping) return;
    const info = this.servers.get(a.rs as RealServerKey);
    if (!info) return;
    const prev = this.health.get(info.rs.key) ?? { alive: true };
    this.health.set(info.rs.key, { ...prev, dynamicWeight: a.weight });
    this.pendingWhy.set(info.rs.key, { reason: `dynamic weight ${a.weight} (misc_dynamic)` });
  }

  /** keepalived's words for ha_suspend ("Activating/Suspending healthchecker for service ..."). */
  private onSuspend(e: SuspendEvent): void {
    this.stateChanged();
    // A restarted part finds the host's addresses as they were: the state it had is not news.
    if (this.resumingSuspended && this.resumingSuspended.has(e.vs) === e.suspended) return;
    const vs = this.plans.check.plan.virtualServers.find((v) => v.key === e.vs);
    const name = vs ? describeVirtualServer(vs.id) : String(e.vs);
    this.opts.logger.pino.info(
      { event: e.suspended ? 'check.suspended' : 'check.resumed', virtualServer: name, checkers: e.checkers },
      `${e.suspended ? 'Suspending' : 'Activating'} healthchecker for service ${name}`,
    );
  }

  /** Recompute the desired table and hand it to the reconciler; resolves with the pass that applied it. */
  private async publish(): Promise<PassReport> {
    const vss = this.plans.ipvs.virtualServers;
    const overrides = this.overrides.effects();
    const result = computeDesired(vss, this.health, this.vsState, overrides);
    this.desired = result;
    this.desiredOf = new Map(
      result.status.flatMap((x) => (x.realServer ? [[x.realServer, x] as const] : [])),
    );
    this.vsState = result.state;
    this.publishStateChanges();
    for (const a of result.actions) this.onQuorum(a);
    // The BGP part computes quorum from health alone: a drained or disabled server must weigh 0 there too.
    this.opts.onHealth?.(healthWithOverrides(vss, this.health, overrides));
    this.stateChanged();
    return this.reconciler.setDesired(result.table);
  }

  /**
   * up, down, drained (alive with weight 0: no new connections) or disabled (an operator took it out), from
   * the overrides, health and the desired table.
   */
  private stateOf(key: RealServerKey): RealServerState {
    if (this.overrides.get(key)?.kind === 'disable') return 'disabled';
    const info = this.servers.get(key);
    const alive = this.health.get(key)?.alive ?? (info ? !info.rs.checked || info.rs.startsAlive : false);
    if (!alive) return 'down';
    const st = this.desiredOf.get(key);
    const weight = st?.weight ?? this.health.get(key)?.dynamicWeight ?? info?.rs.weight ?? 1;
    return weight === 0 ? 'drained' : 'up';
  }

  /**
   * Puts every real server whose state changed on the event bus. The first computation after start only
   * records the states (nothing changed yet); a server a reload added is published with previous null.
   */
  private publishStateChanges(): void {
    const first = this.rsState.size === 0;
    const byKey = new Map((this.desired?.status ?? []).map((s) => [s.realServer, s]));
    for (const [key, info] of this.servers) {
      const state = this.stateOf(key);
      const previous = this.rsState.get(key) ?? null;
      this.rsState.set(key, state);
      const why = this.pendingWhy.get(key) ?? {
        reason: previous === null ? 'added by reload' : 'weight changed',
      };
      if (first || state === previous || why.initial) continue;
      const rs = describeRealServer(info.rs.id);
      this.opts.events?.({
        type: 'rs.state',
        virtualServer: info.vs.name,
        realServer: rs,
        address: info.rs.address,
        port: info.rs.port,
        state,
        previous,
        reason: why.reason,
        ...(why.checker ? { checker: why.checker } : {}),
        weight: byKey.get(key)?.weight ?? info.rs.weight,
        message: `${rs} in VS ${info.vs.name} is ${state.toUpperCase()}${why.reason ? ` (${why.reason})` : ''}`,
      });
    }
    for (const key of this.rsState.keys()) if (!this.servers.has(key)) this.rsState.delete(key);
    this.pendingWhy.clear();
  }

  // ------------------------------------------------------------------------------------------------------
  // Operators' overrides (halo rs)

  /** One at a time: a reload and an override change never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.serial.then(fn, fn);
    this.serial = p.catch(() => undefined);
    return p;
  }

  /**
   * At start, before the first table: the overrides the file kept, minus those naming unknown servers. A
   * restarted part reads the file again (it is written before an override is applied, so it is what was in
   * force); without a file it takes the overrides it carried. Only what differs from what it carried is
   * logged as restored.
   */
  private async loadOverrides(): Promise<void> {
    const log = this.opts.logger.pino;
    const file = this.overrides.file;
    const r = await this.overrides.load();
    const carried = this.opts.resume?.overrides;
    if (carried && !file) for (const o of carried) await this.overrides.set(o);
    const had = new Set((carried ?? []).map((o) => JSON.stringify(o)));
    if (r.unusable) {
      log.warn(
        { event: 'rs.overrides_file', file, reason: r.unusable.reason, movedTo: r.unusable.movedTo },
        `real server overrides file ${file} not used: ${r.unusable.reason}${r.unusable.movedTo ? ` (moved to ${r.unusable.movedTo})` : ''}; starting without overrides`,
      );
    }
    for (const why of r.skipped)
      log.warn(
        { event: 'rs.overrides_file', file, reason: why },
        `real server overrides file ${file}: skipped ${why}`,
      );
    await this.dropStaleOverrides('start');
    for (const [key, o] of this.overrides.entries()) {
      const info = this.servers.get(key);
      if (!info || had.has(JSON.stringify(o))) continue;
      const vs = info.vs.name;
      const rs = describeRealServer(info.rs.id);
      log.info(
        {
          event: 'rs.override_restored',
          virtualServer: vs,
          realServer: rs,
          override: describeOverride(o),
          origin: o.origin,
        },
        `${rs} in VS ${vs}: override ${describeOverride(o)} restored from ${file} (set ${o.origin.at} by ${describeOrigin(o.origin)})`,
      );
    }
    this.refreshOverrideMetric();
  }

  /** Overrides whose real server is not in the plan any more are dropped, logged and announced. */
  private async dropStaleOverrides(via: 'start' | 'reload'): Promise<void> {
    const dropped = await this.overrides.retain(
      (key) => this.servers.has(key),
      (err) =>
        this.opts.logger.pino.error(
          { event: 'rs.overrides_file', file: this.overrides.file, err: String(err) },
          `cannot write the real server overrides file ${this.overrides.file}: ${String(err)}`,
        ),
    );
    const origin: RsOrigin = { via, at: new Date().toISOString() };
    for (const o of dropped) this.announceOverride('dropped', o.realServer, undefined, o, origin);
    if (dropped.length) this.refreshOverrideMetric();
  }

  /**
   * `halo rs drain|disable|enable|weight VS RS [N]` (the control socket's `rs`): resolves the real server in
   * the running plan, records the override (persisted before it is applied), publishes the new table at
   * once and answers with what is in force now. Asking for what is already in force changes nothing.
   */
  rsCommand(req: RsParams, origin: RsOrigin): Promise<RsResult> {
    return this.exclusive(async () => {
      if (this.stopping) throw Object.assign(new Error('halo is stopping'), { expected: true });
      const { vs, rs } = resolveRealServer(this.plans.ipvs.virtualServers, req.virtualServer, req.realServer);
      const key = rs.key;
      const previous = this.overrides.get(key);
      const next: RsOverride | undefined =
        req.action === 'enable'
          ? undefined
          : {
              realServer: rs.id,
              kind: req.action,
              ...(req.action === 'weight' ? { weight: req.weight } : {}),
              origin,
            };
      const changed = previous?.kind !== next?.kind || (previous?.weight ?? null) !== (next?.weight ?? null);
      // Taking a destination out of IPVS breaks its open connections (the kernel drops their packets, or
      // resets them with expire_nodest_conn): say how many there were.
      const cut =
        changed && next?.kind === 'disable' ? (await this.connectionCounts([key])).get(key) : undefined;
      if (changed) {
        if (next) await this.overrides.set(next);
        else await this.overrides.remove(key);
        this.pendingWhy.set(key, { reason: overrideReason(next, previous) });
        this.announceOverride(req.action, rs.id, next, previous, origin);
        this.refreshOverrideMetric();
        // A stop that began meanwhile owns the table now (it removes or keeps it as configured).
        if (!this.stopping) await this.publish();
      }
      const now = this.overrides.get(key);
      const counts = await this.connectionCounts(now ? [key] : []);
      const st = this.desiredOf.get(key);
      const view = this.overrideView(key, counts).override ?? null;
      const rsName = describeRealServer(rs.id);
      const inKernel = st?.inKernel ? `weight ${st.weight} in IPVS` : 'not in IPVS';
      return {
        action: req.action,
        virtualServer: vs.name,
        realServer: rsName,
        override: view,
        previous: previous ? overrideStatus(previous) : null,
        changed,
        ipvsWeight: st?.inKernel ? st.weight : null,
        state: this.stateOf(key),
        ipvsMode: this.opts.ipvs,
        ...(cut?.connections ? { connectionsCut: cut.connections } : {}),
        message: changed
          ? `${rsName} in VS ${vs.name}: ${overrideReason(next, previous)} (${inKernel})${
              cut?.connections
                ? `; it had ${cut.connections.active} active and ${cut.connections.inactive} inactive connection(s), which IPVS no longer serves`
                : ''
            }`
          : `${rsName} in VS ${vs.name}: already ${next ? describeOverride(next) : 'without override'}; nothing changed (${inKernel})`,
      };
    });
  }

  /** The `override` field of a real server's status, with its connection counts. */
  private overrideView(
    key: RealServerKey,
    counts: ReadonlyMap<RealServerKey, Pick<RsOverrideStatus, 'connections' | 'connectionsNote'>>,
  ): { override?: RsOverrideStatus } {
    const o = this.overrides.get(key);
    return o ? { override: { ...overrideStatus(o), ...counts.get(key) } } : {};
  }

  /**
   * IPVS active/inactive connection counts of these real servers, read from the kernel now (summed over the
   * services of their virtual server: a group has several). Dry-run has none, and says so.
   */
  private async connectionCounts(
    keys: readonly RealServerKey[],
  ): Promise<Map<RealServerKey, Pick<RsOverrideStatus, 'connections' | 'connectionsNote'>>> {
    const out = new Map<RealServerKey, Pick<RsOverrideStatus, 'connections' | 'connectionsNote'>>();
    const desired = this.desired;
    const wanted: { key: RealServerKey; info: ServerInfo; services: ServiceConfig[] }[] = [];
    for (const key of keys) {
      const info = this.servers.get(key);
      const st = this.desiredOf.get(key);
      if (!info || !desired || !st?.inKernel) {
        out.set(key, { connectionsNote: 'not in the IPVS table' });
        continue;
      }
      if (!(this.backend instanceof IpvsClient)) {
        out.set(key, { connectionsNote: 'none in dry-run (nothing is programmed)' });
        continue;
      }
      const services = desired.table.services
        .map((s) => s.service)
        .filter((svc) => desired.serviceOwner.get(serviceKeyString(svc))?.key === info.vs.key);
      wanted.push({ key, info, services });
    }
    if (!wanted.length) return out;
    const client = this.backend as IpvsClient;
    const dumps = new Map<string, ReturnType<IpvsClient['listDests']>>();
    const destsOf = (svc: ServiceConfig) => {
      const k = serviceKeyString(svc);
      let p = dumps.get(k);
      if (!p) {
        p = withTimeout(client.listDests(svc), 2000, `listing ${k}`);
        dumps.set(k, p);
      }
      return p;
    };
    await Promise.all(
      wanted.map(async ({ key, info, services }) => {
        try {
          let active = 0;
          let inactive = 0;
          for (const svc of services) {
            const port = info.rs.port || (svc.fwmark ? 0 : svc.port);
            for (const d of await destsOf(svc)) {
              if (d.address !== info.rs.address || d.port !== port) continue;
              active += d.activeConns;
              inactive += d.inactiveConns;
            }
          }
          out.set(key, { connections: { active, inactive } });
        } catch (err) {
          out.set(key, {
            connectionsNote: `the kernel did not answer (${err instanceof Error ? err.message : String(err)})`,
          });
        }
      }),
    );
    return out;
  }

  /** Logs an override change with its origin and puts it on the event bus. */
  private announceOverride(
    action: 'drain' | 'disable' | 'enable' | 'weight' | 'dropped',
    id: RealServerId,
    override: RsOverride | undefined,
    previous: RsOverride | undefined,
    origin: RsOrigin,
  ): void {
    const vs = describeVirtualServer(id.vs);
    const rs = describeRealServer(id);
    const what =
      action === 'dropped'
        ? `override ${describeOverride(previous)} dropped: the real server is no longer in the configuration (${origin.via})`
        : overrideReason(override, previous);
    const who = action === 'dropped' ? '' : `; asked by ${describeOrigin(origin)}`;
    const message = `${rs} in VS ${vs}: ${what}${who}`;
    const brief = (o: RsOverride | undefined) =>
      o ? { kind: o.kind, ...(o.weight !== undefined ? { weight: o.weight } : {}) } : null;
    this.opts.logger.pino[action === 'dropped' ? 'warn' : 'info'](
      {
        event: 'rs.override',
        action,
        virtualServer: vs,
        realServer: rs,
        override: brief(override),
        previous: brief(previous),
        origin,
      },
      message,
    );
    this.opts.events?.({
      type: 'rs.override',
      virtualServer: vs,
      realServer: rs,
      address: id.address,
      port: id.port,
      action,
      override: brief(override),
      previous: brief(previous),
      origin,
      message,
    });
  }

  private refreshOverrideMetric(): void {
    const set = this.overrideMetric;
    if (!set) return;
    const rows: OverrideMetricRow[] = [];
    for (const [key, o] of this.overrides.entries()) {
      const info = this.servers.get(key);
      if (!info) continue;
      rows.push({
        virtual_server: info.vs.name,
        real_server: realServerEndpoint(info.rs.id),
        override: o.kind,
      });
    }
    set(rows);
  }

  private onQuorum(a: QuorumAction): void {
    this.opts.logger.pino.warn(
      {
        event: a.kind === 'quorum-up' ? 'check.quorum_up' : 'check.quorum_down',
        virtualServer: a.virtualServer.name,
        weightSum: a.weightSum,
        threshold: a.threshold,
      },
      `${a.kind === 'quorum-up' ? 'Gained' : 'Lost'} quorum ${a.weightSum}${a.kind === 'quorum-up' ? '>=' : '<'}${a.threshold} for VS ${a.virtualServer.name}`,
    );
    if (!a.init) {
      this.opts.events?.({
        type: 'vs.quorum',
        virtualServer: a.virtualServer.name,
        up: a.kind === 'quorum-up',
        weightSum: a.weightSum,
        threshold: a.threshold,
        message: `${a.kind === 'quorum-up' ? 'Gained' : 'Lost'} quorum ${a.weightSum}${a.kind === 'quorum-up' ? '>=' : '<'}${a.threshold} for VS ${a.virtualServer.name}`,
      });
    }
    this.alert({
      type: 'quorum',
      virtualServer: alertRef(a.virtualServer),
      up: a.kind === 'quorum-up',
      init: a.init,
      stopping: false,
      threshold: a.threshold,
      weightSum: a.weightSum,
    });
    if (a.script) void this.runHook(a.script, 'quorum');
  }

  private async runHook(script: string, purpose: 'quorum' | 'other'): Promise<void> {
    const su = this.plans.ipvs.scriptUser;
    const r = await runScript(script, { timeoutMs: 30_000, user: su?.user, group: su?.group });
    this.opts.logger.scriptExit({
      script,
      purpose,
      exitCode: r.exitCode,
      signal: r.signal,
      timedOut: r.timedOut,
      durationMs: Math.round(r.durationMs),
    });
  }

  private logOp(op: IpvsOp, drift: boolean): void {
    const kind = opKind(op);
    this.opts.metrics?.ipvsOperation(kind);
    this.opCounts[kind] = (this.opCounts[kind] ?? 0) + 1;
    const s = op.service;
    const service = s.fwmark
      ? { fwmark: s.fwmark }
      : { address: s.address, port: s.port, protocol: s.protocol };
    const dest =
      'dest' in op ? { address: op.dest.address, port: op.dest.port, protocol: s.protocol } : undefined;
    const weight = 'dest' in op && 'weight' in op.dest ? op.dest.weight : undefined;
    const changes = describeChanges(op);
    const dryRun = this.opts.ipvs === 'dry-run';
    if (drift) this.opts.logger.ipvsDriftRepaired({ op: kind, service, dest, weight, drift: describeOp(op) });
    else
      this.opts.logger.ipvsChange({
        op: kind,
        service,
        dest,
        weight,
        ...(changes.length ? { changes } : {}),
        ...(dryRun ? { dryRun } : {}),
      });
    const dst = dest ? formatService(dest) : undefined;
    const words = ipvsMessage({ op: kind, service, dest, weight, ...(changes.length ? { changes } : {}) });
    this.opts.events?.({
      type: drift ? 'ipvs.drift_repaired' : 'ipvs.change',
      op: kind,
      service: formatService(service),
      ...(dst ? { dest: dst } : {}),
      ...(weight !== undefined ? { weight } : {}),
      dryRun,
      ...(drift ? { drift: describeOp(op) } : {}),
      message: drift
        ? `IPVS drift repaired (${describeOp(op)}): ${words}`
        : `${words}${dryRun ? ' (dry-run: not programmed)' : ''}`,
    });
  }
}

type StatusIpvs = {
  services: number;
  destinations: number;
  lastSyncAt: string | null;
  driftRepairs: number;
  lastError: string | null;
  mode: IpvsMode;
};

const OP_NAMES: Record<IpvsOp['kind'], LogIpvsOp> = {
  'add-service': 'add-service',
  'edit-service': 'update-service',
  'delete-service': 'remove-service',
  'add-dest': 'add-dest',
  'edit-dest': 'update-dest',
  'delete-dest': 'remove-dest',
};

/** What an override change does, in words ("drained by the operator (weight 0: ...)"). */
function overrideReason(next: RsOverride | undefined, previous: RsOverride | undefined): string {
  if (!next) return `override ${describeOverride(previous)} removed: back under its checks`;
  switch (next.kind) {
    case 'drain':
      return 'drained by the operator (weight 0: no new connections, open ones finish)';
    case 'disable':
      return 'disabled by the operator (out of IPVS)';
    case 'weight':
      return `weight ${next.weight} set by the operator`;
  }
}

/** Rejects after `ms` (a kernel that does not answer must not hold `halo status`). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function opKind(op: IpvsOp): LogIpvsOp {
  return OP_NAMES[op.kind];
}

/** A virtual server as src/notify's events name it (keepalived's words). */
function alertRef(vs: IpvsVirtualServerPlan): VirtualServerRef {
  const id = vs.id;
  if (id.kind === 'fwmark') return { fwmark: id.fwmark, protocol: 'TCP' };
  const protocol = id.protocol.toUpperCase() as 'TCP' | 'UDP' | 'SCTP';
  if (id.kind === 'group') return { group: id.group, port: 0, protocol };
  return { address: id.address, port: id.port, protocol };
}

/**
 * The LVS part the supervisor runs: the Lvs class in its own supervised worker thread (lvs-host.ts), or,
 * with `inline`, in the calling thread (tests that want to step it directly).
 */
export function createLvsPart(
  opts: LvsOptions & Omit<LvsHostOptions, keyof LvsOptions> & { inline?: boolean },
): (plans: LvsPlans, alert: (e: AlertEvent) => void) => LvsPart | undefined {
  return (plans, alert) => {
    if (!plans.ipvs.virtualServers.length) return undefined;
    return opts.inline ? new Lvs(opts, alert) : new LvsHost(opts, alert);
  };
}
