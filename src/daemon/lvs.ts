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
 */
import { type AttemptEvent, CheckEngine } from '../check/engine.js';
import type { CheckerStateAction, ServerStateAction, WeightAction } from '../check/scheduler.js';
import { runScript } from '../check/script-runner.js';
import type { CheckerType, CheckPlan } from '../check/types.js';
import { type IpvsBackend, IpvsClient } from '../ipvs/client.js';
import {
  computeDesired,
  type DesiredResult,
  type QuorumAction,
  type RealServerHealth,
  type VirtualServerState,
} from '../ipvs/desired.js';
import { describeOp, type IpvsOp } from '../ipvs/diff.js';
import { MemoryKernel } from '../ipvs/memory-kernel.js';
import { KernelError } from '../ipvs/netlink.js';
import { Reconciler } from '../ipvs/reconciler.js';
import type { SyncDaemon, SyncState } from '../ipvs/types.js';
import type { AlertEvent, VirtualServerRef } from '../notify/events.js';
import { describeProblem, type PlanProblem } from '../plan/check.js';
import {
  type CheckerKey,
  describeRealServer,
  type RealServerKey,
  realServerEndpoint,
  type VirtualServerKey,
} from '../plan/ids.js';
import type { IpvsPlan, IpvsRealServerPlan, IpvsVirtualServerPlan } from '../plan/ipvs.js';
import type { HaloLogger, IpvsOp as LogIpvsOp } from './log.js';
import { LvsHost, type LvsHostOptions } from './lvs-host.js';
import type { LvsCarriedState, LvsMetrics, VrrpStates } from './lvs-protocol.js';
import type { RealServerStatus, VirtualServerStatus } from './status.js';
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
  /**
   * Restarting after the part's worker died (lvs-host.ts): the health and quorum state it had. Known
   * servers keep their state (no flap), and the table is not flushed (lvs_flush is for a daemon start).
   */
  resume?: LvsCarriedState;
  /** The VRRP states known before start (the instance an lvs_sync_daemon follows may be MASTER already). */
  vrrpStates?: VrrpStates;
}

/** What the checks + IPVS part reads: the checker plan and the IPVS plan (src/plan/). */
export interface LvsPlans {
  readonly check: { readonly plan: CheckPlan; readonly problems: readonly PlanProblem[] };
  readonly ipvs: IpvsPlan;
}

interface ServerInfo {
  vs: IpvsVirtualServerPlan;
  rs: IpvsRealServerPlan;
  since: number;
  lastCheck: { checker: string; ok: boolean; reason: string; at: number } | null;
}

/** The IPVS backend for a mode; a host without ip_vs gets a clear message. */
export async function openIpvsBackend(mode: IpvsMode): Promise<IpvsBackend & { close?(): void }> {
  if (mode === 'dry-run') return new MemoryKernel();
  try {
    return await IpvsClient.open();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `IPVS is not available in this kernel (${why}): load it with 'modprobe ip_vs', run with --vrrp-only, or use --ipvs dry-run to see what halo would program`,
    );
  }
}

export class Lvs implements LvsPart {
  private plans!: LvsPlans;
  private engine: CheckEngine | undefined;
  private planText = '';
  private backend!: IpvsBackend & { close?(): void };
  private reconciler!: Reconciler;
  private readonly health = new Map<RealServerKey, RealServerHealth>();
  private vsState = new Map<VirtualServerKey, VirtualServerState>();
  private desired: DesiredResult | undefined;
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

  constructor(
    private readonly opts: LvsOptions,
    /** Events for the notify FIFO and smtp_alert mail (src/notify). */
    private readonly alert: (e: AlertEvent) => void = () => undefined,
  ) {
    for (const [k, h] of opts.resume?.health ?? []) this.health.set(k, h);
    for (const [k, v] of opts.resume?.vsState ?? []) this.vsState.set(k, v);
  }

  /** What a restarted part resumes from (see LvsOptions.resume). */
  carriedState(): LvsCarriedState {
    return {
      health: new Map(this.health),
      vsState: new Map(this.vsState),
      // The dry-run table stands for the kernel's, which outlives the part: it is carried too (as the
      // table the reconciler converges to).
      ...(this.opts.ipvs === 'dry-run' && this.desired ? { dryRunTable: this.desired.table } : {}),
    };
  }

  async start(plans: LvsPlans): Promise<void> {
    this.plans = plans;
    const carriedTable = this.opts.ipvs === 'dry-run' ? this.opts.resume?.dryRunTable : undefined;
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
    // keepalived lvs_flush: whatever a previous run (or anyone) left is removed before halo programs.
    if (plans.ipvs.flushAtStart && !this.opts.resume)
      await this.kernelCall('flush', 'flushed the IPVS table (lvs_flush)', (c) => c.flush());
    await this.applyTimeouts(plans.ipvs);
    this.indexServers(plans);
    this.startChecks(plans.check);
    await this.publish();
    this.reconciler.start();
    await this.applySyncDaemon(plans.ipvs);
  }

  /** New plans: unchanged checkers keep running; the kernel gets only the difference. */
  async reload(plans: LvsPlans): Promise<void> {
    const before = this.plans.ipvs;
    this.plans = plans;
    if (JSON.stringify(before.timeouts) !== JSON.stringify(plans.ipvs.timeouts))
      await this.applyTimeouts(plans.ipvs);
    const kept = new Set(plans.ipvs.virtualServers.flatMap((vs) => vs.realServers.map((rs) => rs.key)));
    this.announceRemoved(
      [...this.servers.values()].filter((i) => !kept.has(i.rs.key)),
      false,
    );
    this.indexServers(plans);
    if (planText(plans.check.plan) !== this.planText) {
      // The old engine's shutdown reports every server down ("shutting down"): that is not health.
      const old = this.engine;
      old?.removeAllListeners();
      await old?.stop();
      this.startChecks(plans.check);
    }
    await this.publish();
    await this.applySyncDaemon(plans.ipvs);
  }

  /**
   * Stop checking; then remove the services halo owns (keepalived's default) or leave them to keep
   * forwarding while halo restarts (--dont-release-ipvs). Servers are not reported down one by one:
   * stopping is not a health event.
   */
  async stop(): Promise<void> {
    this.announceRemoved([...this.servers.values()], true);
    this.stopping = true;
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

  /** VRRP state changes: the sync daemon follows its instance (master when MASTER, backup otherwise). */
  vrrpStateChanged(instance: string, state: string): void {
    // ha_suspend (checks follow VRRP state) is not implemented yet: checks always run.
    const sync = this.plans?.ipvs.syncDaemon;
    if (!sync?.instance || sync.instance !== instance || this.stopping) return;
    this.followedState = state.toUpperCase() === 'MASTER' ? 'master' : 'backup';
    void this.applySyncDaemon(this.plans.ipvs);
  }

  status(): { virtualServers: VirtualServerStatus[]; ipvs: StatusIpvs } {
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
      },
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
    await this.kernelCall(
      'timeouts',
      `IPVS timeouts set (tcp ${t.tcp} tcpfin ${t.tcpFin} udp ${t.udp}; 0 = unchanged)`,
      (c) => c.setTimeouts(t),
      { timeouts: t },
    );
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
  }

  private async stopSyncDaemon(): Promise<void> {
    const running = this.syncDaemon;
    if (!running) return;
    this.syncDaemon = undefined;
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

  private startChecks({ plan, problems }: LvsPlans['check']): void {
    // Compared on reload; taken before the health seeding below changes the plan.
    this.planText = planText(plan);
    // Carry health across a reload: a server we know is down starts down (alpha: down until a check
    // succeeds), one we know is up starts up, whatever the config's alpha says for a fresh start.
    const seeded: CheckPlan = {
      virtualServers: plan.virtualServers.map((vs) => ({
        ...vs,
        realServers: vs.realServers.map((rs) => {
          const h = this.health.get(rs.key);
          if (!h) return rs;
          return {
            ...rs,
            checkers: rs.checkers.map((c) => ({ ...c, timing: { ...c.timing, alpha: !h.alive } })),
          };
        }),
      })),
    };
    for (const p of problems) this.opts.logger.pino.warn({ event: 'check.plan_problem' }, describeProblem(p));
    const engine = new CheckEngine(seeded);
    engine.on('server', (a: ServerStateAction) => this.onServer(a));
    engine.on('weight', (a: WeightAction) => this.onWeight(a));
    engine.on('checker', (a: CheckerStateAction) => this.onChecker(a));
    engine.on('attempt', (a: AttemptEvent) => {
      const checker = this.checkerOf(a.checkerId);
      if (!checker) return;
      const { info, type } = checker;
      info.lastCheck = { checker: type, ok: a.result.ok, reason: a.result.reason, at: Date.now() };
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
    void this.publish();
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
    void this.publish();
  }

  /** Recompute the desired table and hand it to the reconciler. */
  private async publish(): Promise<void> {
    const result = computeDesired(this.plans.ipvs.virtualServers, this.health, this.vsState);
    this.desired = result;
    this.vsState = result.state;
    for (const a of result.actions) this.onQuorum(a);
    this.opts.onHealth?.(this.health);
    await this.reconciler.setDesired(result.table);
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
    const s = op.service;
    const service = s.fwmark
      ? { fwmark: s.fwmark }
      : { address: s.address, port: s.port, protocol: s.protocol };
    const dest =
      'dest' in op ? { address: op.dest.address, port: op.dest.port, protocol: s.protocol } : undefined;
    const weight = 'dest' in op && 'weight' in op.dest ? op.dest.weight : undefined;
    if (drift) this.opts.logger.ipvsDriftRepaired({ op: kind, service, dest, weight, drift: describeOp(op) });
    else this.opts.logger.ipvsChange({ op: kind, service, dest, weight });
  }
}

type StatusIpvs = {
  services: number;
  destinations: number;
  lastSyncAt: string | null;
  driftRepairs: number;
  lastError: string | null;
};

const OP_NAMES: Record<IpvsOp['kind'], LogIpvsOp> = {
  'add-service': 'add-service',
  'edit-service': 'update-service',
  'delete-service': 'remove-service',
  'add-dest': 'add-dest',
  'edit-dest': 'update-dest',
  'delete-dest': 'remove-dest',
};

function opKind(op: IpvsOp): LogIpvsOp {
  return OP_NAMES[op.kind];
}

/** What the checkers do, for "did the check plan change" on reload. */
function planText(plan: CheckPlan): string {
  return JSON.stringify(plan);
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
