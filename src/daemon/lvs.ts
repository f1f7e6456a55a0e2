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
import { planFromConfig, realServerKey, virtualServerKey } from '../check/from-config.js';
import type { ServerStateAction, WeightAction } from '../check/scheduler.js';
import { runScript } from '../check/script-runner.js';
import type { CheckerType, CheckPlan } from '../check/types.js';
import type { GlobalDefs, HaloConfig, RealServer, VirtualServer } from '../config/model.js';
import { withoutSources } from '../config/yaml.js';
import { type IpvsBackend, IpvsClient } from '../ipvs/client.js';
import {
  computeDesired,
  type DesiredResult,
  healthKey,
  type QuorumAction,
  type RealServerHealth,
  timeoutsFromConfig,
  type VirtualServerState,
  virtualServerId,
} from '../ipvs/desired.js';
import { describeOp, type IpvsOp } from '../ipvs/diff.js';
import { MemoryKernel } from '../ipvs/memory-kernel.js';
import { KernelError } from '../ipvs/netlink.js';
import { Reconciler } from '../ipvs/reconciler.js';
import type { SyncDaemon, SyncState } from '../ipvs/types.js';
import { formatService, type HaloLogger, type IpvsOp as LogIpvsOp, type Protocol } from './log.js';
import type { HaloMetrics } from './metrics.js';
import type { RealServerStatus, VirtualServerStatus } from './status.js';
import type { LvsPart } from './supervisor.js';

export type IpvsMode = 'kernel' | 'dry-run';

export interface LvsOptions {
  logger: HaloLogger;
  metrics?: HaloMetrics;
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
}

interface ServerInfo {
  vs: VirtualServer;
  rs: RealServer;
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
  private config!: HaloConfig;
  private engine: CheckEngine | undefined;
  private planText = '';
  private backend!: IpvsBackend & { close?(): void };
  private reconciler!: Reconciler;
  private readonly health = new Map<string, RealServerHealth>();
  private vsState = new Map<string, VirtualServerState>();
  private desired: DesiredResult | undefined;
  /** check engine keys "VS/RS" -> the real server they check. */
  private servers = new Map<string, ServerInfo>();
  private lastSyncAt: number | null = null;
  private driftRepairs = 0;
  private lastError: string | null = null;
  private stopping = false;
  /** The sync daemon halo runs now (state + the config it was started with). */
  private syncDaemon: { state: SyncState; config: string } | undefined;
  /** Last VRRP state of the instance the sync daemon follows. */
  private followedState: SyncState = 'backup';
  private syncChain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LvsOptions) {}

  async start(config: HaloConfig): Promise<void> {
    this.config = config;
    this.backend = await openIpvsBackend(this.opts.ipvs);
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
    // keepalived lvs_flush: whatever a previous run (or anyone) left is removed before halo programs.
    if (config.global.lvsFlush)
      await this.kernelCall('flush', 'flushed the IPVS table (lvs_flush)', (c) => c.flush());
    await this.applyTimeouts(config.global);
    this.indexServers(config);
    this.startChecks(planFromConfig(config));
    await this.publish();
    this.reconciler.start();
    await this.applySyncDaemon(config.global);
  }

  /** A new config: unchanged checkers keep running; the kernel gets only the difference. */
  async reload(config: HaloConfig): Promise<void> {
    const before = this.config.global;
    this.config = config;
    if (JSON.stringify(before.lvsTimeouts) !== JSON.stringify(config.global.lvsTimeouts))
      await this.applyTimeouts(config.global);
    this.indexServers(config);
    const built = planFromConfig(config);
    if (planText(built.plan) !== this.planText) {
      // The old engine's shutdown reports every server down ("shutting down"): that is not health.
      const old = this.engine;
      old?.removeAllListeners();
      await old?.stop();
      this.startChecks(built);
    }
    await this.publish();
    await this.applySyncDaemon(config.global);
  }

  /**
   * Stop checking; then remove the services halo owns (keepalived's default) or leave them to keep
   * forwarding while halo restarts (--dont-release-ipvs). Servers are not reported down one by one:
   * stopping is not a health event.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.engine?.stop();
    await this.syncChain;
    await this.stopSyncDaemon();
    if (this.reconciler) {
      this.reconciler.stop();
      // -I wins over lvs_flush_on_stop: the point of -I is to keep forwarding while halo restarts.
      const flushOnStop = this.config.global.lvsFlushOnStop;
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
    const sync = this.config?.global.lvsSyncDaemon;
    if (!sync?.instance || sync.instance !== instance || this.stopping) return;
    this.followedState = state.toUpperCase() === 'MASTER' ? 'master' : 'backup';
    void this.applySyncDaemon(this.config.global);
  }

  status(): { virtualServers: VirtualServerStatus[]; ipvs: StatusIpvs } {
    const byVs = new Map<string, RealServerStatus[]>();
    const inKernel = new Map(
      (this.desired?.status ?? []).map((s) => [`${s.virtualServer}|${s.realServer}`, s]),
    );
    for (const info of this.servers.values()) {
      const key = healthKey(info.vs, info.rs);
      const h = this.health.get(key);
      const k = inKernel.get(key);
      const list = byVs.get(virtualServerId(info.vs)) ?? [];
      list.push({
        address: info.rs.address,
        port: info.rs.port,
        up: h ? h.alive : info.rs.checkers.every((c) => c.type === 'FILE_CHECK' || !c.alpha),
        weight: info.rs.weight,
        ...(k?.inKernel ? { effectiveWeight: k.weight } : {}),
        lastCheck: info.lastCheck
          ? { ...info.lastCheck, at: new Date(info.lastCheck.at).toISOString() }
          : null,
        since: new Date(info.since).toISOString(),
      });
      byVs.set(virtualServerId(info.vs), list);
    }
    const virtualServers = this.config.virtualServers.map((vs) => ({
      name: vsName(vs),
      ...(vs.address ? { address: vs.address, port: vs.port } : {}),
      protocol: vs.protocol,
      ...(vs.fwmark ? { fwmark: vs.fwmark } : {}),
      ...(vs.group ? { group: vs.group } : {}),
      scheduler: vs.scheduler,
      forwarding: vs.forwardingMethod,
      quorumUp: this.vsState.get(virtualServerId(vs))?.quorumUp ?? true,
      realServers: byVs.get(virtualServerId(vs)) ?? [],
    }));
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

  private async applyTimeouts(global: GlobalDefs): Promise<void> {
    const t = timeoutsFromConfig(global.lvsTimeouts);
    if (!t) return;
    await this.kernelCall(
      'timeouts',
      `IPVS timeouts set (tcp ${t.tcp} tcpfin ${t.tcpFin} udp ${t.udp}; 0 = unchanged)`,
      (c) => c.setTimeouts(t),
      { timeouts: t },
    );
  }

  /** Starts, switches or stops the sync daemon so that it matches the config and the followed VRRP state. */
  private applySyncDaemon(global: GlobalDefs): Promise<void> {
    // Serialised: a VRRP transition may arrive while a start or reload is still talking to the kernel.
    this.syncChain = this.syncChain.then(() => this.syncDaemonNow(global));
    return this.syncChain;
  }

  private async syncDaemonNow(global: GlobalDefs): Promise<void> {
    if (this.stopping) return;
    const sync = global.lvsSyncDaemon;
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

  private indexServers(config: HaloConfig): void {
    const next = new Map<string, ServerInfo>();
    for (const vs of config.virtualServers) {
      for (const rs of vs.realServers) {
        const key = `${virtualServerKey(vs)}/${realServerKey(vs, rs)}`;
        const prev = this.servers.get(key);
        next.set(key, { vs, rs, since: prev?.since ?? Date.now(), lastCheck: prev?.lastCheck ?? null });
      }
    }
    this.servers = next;
  }

  private startChecks({ plan, problems }: ReturnType<typeof planFromConfig>): void {
    // Compared on reload; taken before the health seeding below changes the plan.
    this.planText = planText(plan);
    // Carry health across a reload: a server we know is down starts down (alpha: down until a check
    // succeeds), one we know is up starts up, whatever the config's alpha says for a fresh start.
    for (const vs of plan.virtualServers) {
      for (const rs of vs.realServers) {
        const info = this.servers.get(`${vs.key}/${rs.key}`);
        const h = info && this.health.get(healthKey(info.vs, info.rs));
        if (h) for (const c of rs.checkers) c.timing = { ...c.timing, alpha: !h.alive };
      }
    }
    for (const p of problems)
      this.opts.logger.pino.warn({ event: 'check.plan_problem', checker: p.checkerId }, p.message);
    const engine = new CheckEngine(plan);
    engine.on('server', (a: ServerStateAction) => this.onServer(a));
    engine.on('weight', (a: WeightAction) => this.onWeight(a));
    engine.on('attempt', (a: AttemptEvent) => {
      const info = this.servers.get(a.checkerId.replace(/#\d+$/, ''));
      if (!info) return;
      info.lastCheck = { checker: a.checkerId, ok: a.result.ok, reason: a.result.reason, at: Date.now() };
      const checker = checkerTypeOf(info, a.checkerId);
      const result = a.result.ok
        ? 'success'
        : /timeout|timed out/i.test(a.result.reason)
          ? 'timeout'
          : 'failure';
      this.opts.metrics?.checkResult(
        vsName(info.vs),
        `${info.rs.address}:${info.rs.port}`,
        checker,
        result,
        a.durationMs / 1000,
      );
    });
    this.engine = engine;
    engine.start();
  }

  private onServer(a: ServerStateAction): void {
    if (this.stopping) return;
    const info = this.servers.get(`${a.vs}/${a.rs}`);
    if (!info) return;
    const key = healthKey(info.vs, info.rs);
    const prev = this.health.get(key);
    // The engine announces every server's initial state at start (and after a reload restart): a
    // server we already know keeps its state until a real check result changes it.
    if (a.reason.startsWith('initial state') && prev) return;
    if (prev && prev.alive === a.up) return;
    this.health.set(key, { alive: a.up, dynamicWeight: prev?.dynamicWeight });
    info.since = Date.now();
    const checker = checkerTypeOf(info, a.checkerId);
    const fields = {
      virtualServer: vsName(info.vs),
      realServer: formatService({
        address: info.rs.address,
        port: info.rs.port,
        protocol: info.vs.protocol.toLowerCase() as Protocol,
      }),
      checker,
      reason: a.reason,
    };
    if (a.up) this.opts.logger.checkServerUp(fields);
    else this.opts.logger.checkServerDown(fields);
    this.opts.metrics?.setRealServerUp(vsName(info.vs), `${info.rs.address}:${info.rs.port}`, a.up);
    const script = a.up ? info.rs.notifyUp : info.rs.notifyDown;
    if (script && a.notify) void this.runHook(script, 'other');
    void this.publish();
  }

  private onWeight(a: WeightAction): void {
    if (this.stopping) return;
    const info = this.servers.get(`${a.vs}/${a.rs}`);
    if (!info) return;
    const key = healthKey(info.vs, info.rs);
    const prev = this.health.get(key) ?? { alive: true };
    this.health.set(key, { ...prev, dynamicWeight: a.weight });
    void this.publish();
  }

  /** Recompute the desired table and hand it to the reconciler. */
  private async publish(): Promise<void> {
    const result = computeDesired(
      { virtualServers: this.config.virtualServers, virtualServerGroups: this.config.virtualServerGroups },
      this.health,
      this.vsState,
    );
    this.desired = result;
    this.vsState = result.state;
    for (const a of result.actions) this.onQuorum(a);
    await this.reconciler.setDesired(result.table);
  }

  private onQuorum(a: QuorumAction): void {
    this.opts.logger.pino.warn(
      {
        event: a.kind === 'quorum-up' ? 'check.quorum_up' : 'check.quorum_down',
        virtualServer: a.virtualServer,
        weightSum: a.weightSum,
        threshold: a.threshold,
      },
      `${a.kind === 'quorum-up' ? 'Gained' : 'Lost'} quorum ${a.weightSum}${a.kind === 'quorum-up' ? '>=' : '<'}${a.threshold} for VS ${a.virtualServer}`,
    );
    if (a.script) void this.runHook(a.script, 'quorum');
  }

  private async runHook(script: string, purpose: 'quorum' | 'other'): Promise<void> {
    const su = this.config.global.scriptUser;
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

/** keepalived's spelling of a virtual server ("[10.0.0.1]:tcp:80", "FWM 1", "[group]"), as logs use it. */
function vsName(vs: VirtualServer): string {
  const protocol = vs.protocol.toLowerCase() as Protocol;
  if (vs.group) return formatService({ group: vs.group });
  if (vs.fwmark) return formatService({ fwmark: vs.fwmark });
  return formatService({ address: vs.address ?? '', port: vs.port, protocol });
}

/** The config type of the checker an engine checker id ("VS/RS#i") names. */
function checkerTypeOf(info: ServerInfo, checkerId: string | undefined): CheckerType {
  return info.rs.checkers[Number(/#(\d+)$/.exec(checkerId ?? '')?.[1] ?? 0)]?.type ?? 'TCP_CHECK';
}

/** What the checkers do, for "did the check plan change" on reload (sources ignored). */
function planText(plan: CheckPlan): string {
  return JSON.stringify(withoutSources(plan));
}

export function createLvsPart(opts: LvsOptions): (config: HaloConfig) => LvsPart | undefined {
  return (config) => (config.virtualServers.length ? new Lvs(opts) : undefined);
}
