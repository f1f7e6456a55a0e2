/**
 * The supervisor behind `halo run`: it owns the logger, the pid file, the
 * control socket and the metrics, and starts the parts the config and the
 * command line ask for: the VRRP engine (in its own worker thread), and the
 * health checker with the IPVS reconciler. Signals: SIGHUP reloads (validated
 * first; an invalid config leaves the running one in place), SIGTERM/SIGINT
 * stop gracefully, SIGUSR1 writes the data dump, SIGUSR2 the stats.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { BgpPlan } from '../bgp/plan.js';
import { type Diagnostic, formatDiagnostic } from '../config/diagnostics.js';
import { loadConfigIsolated } from '../config/isolated.js';
import type { HaloConfig } from '../config/model.js';
import { type AlertEvent, Notifier } from '../notify/index.js';
import { buildPlans, type Plans } from '../plan/index.js';
import { type LiveState, planReload, renderReloadPlan } from '../plan/reload.js';
import type { VrrpReloadReport } from '../plan/vrrp-diff.js';
import { assertVrrpCapabilities } from './capabilities.js';
import {
  type ControlHandlers,
  ControlServer,
  type FailoverArgs,
  type HoldCommandResult,
  type MaintenanceArgs,
  type ReloadPlanResult,
} from './control.js';
import { EventBus } from './events.js';
import { heldVipsPath, releasedAtStart } from './held-vips.js';
import type { HaloLogger } from './log.js';
import type { LvsPlans } from './lvs.js';
import { MaintenanceFile } from './maintenance.js';
import type { HaloMetrics } from './metrics.js';
import { acquirePidFile, type HaloPaths, type PidFileHandle, type StalePidReason } from './paths.js';
import { applyPartScheduling } from './realtime.js';
import type { RsParams, RsResult } from './rs-control.js';
import type { RsOrigin } from './rs-overrides.js';
import { StaticsPart } from './statics.js';
import {
  type PartStatus,
  type StatsDocument,
  type StatusDocument,
  type InstanceStatus as StatusInstance,
  writeDataDump,
  writeStatsDump,
} from './status.js';
import type { InstanceStatus, VrrpEngineEvent } from './vrrp-engine.js';
import { VrrpHost } from './vrrp-host.js';

export const HALO_VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string })
  .version;

/** A part of the daemon that checks and programs IPVS (plugged in by run-cmd). */
export interface LvsPart {
  start(plans: LvsPlans): Promise<void>;
  reload(plans: LvsPlans): Promise<void>;
  stop(): Promise<void>;
  /** Synchronous for a part in this thread; the worker-hosted part (lvs-host.ts) answers asynchronously. */
  status():
    | Pick<StatusDocument, 'virtualServers' | 'ipvs'>
    | Promise<Pick<StatusDocument, 'virtualServers' | 'ipvs'>>;
  /** `halo rs drain|disable|enable|weight` (the control socket's `rs`). */
  rsCommand?(req: RsParams, origin: RsOrigin): Promise<RsResult>;
  /** Check and IPVS operation counts since start (the stats dump); the worker-hosted part answers asynchronously. */
  stats?(): Pick<StatsDocument, 'checks' | 'ipvs'> | Promise<Pick<StatsDocument, 'checks' | 'ipvs'>>;
  /** kernel or dry-run (said in daemon.start, the status and the dumps). */
  readonly ipvsMode?: 'kernel' | 'dry-run';
  /** VRRP state changes, for ha_suspend. */
  vrrpStateChanged?(instance: string, state: string): void;
  /**
   * The part runs in a thread of its own (lvs-host.ts) and applies checker_rt_priority & co. to it itself
   * (from the plans' checkerScheduling); otherwise the supervisor applies them to the main thread.
   */
  readonly ownThread?: boolean;
  /** Restarts of the part's thread, and whether it is down right now (a part in a thread of its own). */
  partStatus?(): PartStatus;
  /** The live health and quorum state (what a reload plan's IPVS operations are computed from). */
  live?(): LiveState;
}

/**
 * The BGP part (src/bgp/part.ts BgpPart) as the supervisor sees it: started after the LVS part, reloaded
 * with the others (undefined: the bgp block left the config), stopped BEFORE the LVS part (withdraw,
 * wait for the routes to go, then stop serving).
 */
export interface BgpPartHook {
  start(plan: BgpPlan): Promise<void>;
  reload(plan: BgpPlan | undefined): Promise<void>;
  stop(): Promise<void>;
  status(): NonNullable<StatusDocument['bgp']>;
  /** Maintenance mode: withdraw every route (and keep serving what still arrives); resume announces again. */
  drain?(): Promise<unknown>;
  resume?(): Promise<unknown>;
}

export interface SupervisorOptions {
  configFile: string;
  configId?: string;
  paths: HaloPaths;
  logger: HaloLogger;
  metrics?: HaloMetrics;
  vrrp: boolean;
  /** keepalived -V: leave the VIPs configured at stop. */
  keepVipsOnStop?: boolean;
  /** At stop a MASTER hands over (make-before-break, the default) or releases at once (keepalived's way). */
  release?: 'handover' | 'immediate';
  /** The checks + IPVS part; `alert` takes its events for the notify FIFO and mail. */
  lvs?: (plans: Plans, alert: (e: AlertEvent) => void) => LvsPart | undefined;
  /** The BGP part, for a config with a bgp block (undefined: no BGP). */
  bgp?: (plan: BgpPlan) => BgpPartHook | undefined;
  /** The event bus (`halo events`, the status page); the supervisor makes its own when none is given. */
  events?: EventBus;
}

const STALE_PID_WORDS: Record<StalePidReason, (pid: number | undefined) => string> = {
  dead: (pid) => `pid ${pid} is gone`,
  'not-halo': (pid) => `pid ${pid} is not halo`,
  'own-pid': () => 'it named our own pid',
  garbage: () => 'it held no pid',
};

export class ConfigRejected extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

export class Supervisor {
  private plans!: Plans;
  private vrrp: VrrpHost | undefined;
  private readonly maintenance: MaintenanceFile;
  private lvs: LvsPart | undefined;
  /** Notify FIFOs and smtp_alert mail, fed by both parts (one writer per FIFO). */
  private notifier: Notifier | undefined;
  private bgp: BgpPartHook | undefined;
  /** static_ipaddress / static_routes / static_rules, with the VRRP part (keepalived's VRRP process). */
  private statics: StaticsPart | undefined;
  private control: ControlServer | undefined;
  private pidFile: PidFileHandle | undefined;
  private readonly startedAt = new Date();
  private configLoadedAt = new Date();
  private lastReloadError: string | undefined;
  private stopping: Promise<void> | undefined;
  private advertTimer: NodeJS.Timeout | undefined;
  private stopRtTimeWatch: (() => void) | undefined;
  private started = false;
  private starting: Promise<void> | undefined;
  private reloading: Promise<unknown> = Promise.resolve();
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  /** Every state change, for `halo events` and the status page. */
  readonly events: EventBus;

  constructor(private readonly opts: SupervisorOptions) {
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
    this.events = opts.events ?? new EventBus();
    this.maintenance = MaintenanceFile.besidePidFile(opts.paths.pidFile);
  }

  /**
   * Load and validate the config the way `halo run` must: host problems (and missing includes) are
   * errors. It is read in a worker thread with a time and memory bound, so no config, however hostile,
   * can wedge or exhaust a daemon that holds VIPs (a reload runs while it does).
   */
  async load(): Promise<HaloConfig> {
    const { config, diagnostics } = await loadConfigIsolated(this.opts.configFile, {
      configId: this.opts.configId,
      hostChecks: 'error',
    });
    const errors = diagnostics.filter((d) => d.severity === 'error');
    if (!config || errors.length) throw new ConfigRejected(errors.length ? errors : diagnostics);
    for (const d of diagnostics) {
      this.opts.logger.configWarning({ configFile: this.opts.configFile, diagnostic: formatDiagnostic(d) });
    }
    return config;
  }

  async start(): Promise<void> {
    if (!this.starting) this.starting = this.startParts();
    return this.starting;
  }

  private async startParts(): Promise<void> {
    const log = this.opts.logger;
    this.plans = buildPlans(await this.load());
    // Refused before the pid file is taken and before any native code runs: no CAP_NET_RAW used to end
    // in an abort (exit 134) that left the pid file behind.
    if (this.opts.vrrp && this.plans.vrrp.instances.length > 0) assertVrrpCapabilities();
    this.pidFile = await acquirePidFile(this.opts.paths.pidFile);
    await this.maintenance.load((m) => log.pino.warn({ event: 'vrrp.hold' }, m));
    const runsVrrp = this.opts.vrrp && this.plans.vrrp.instances.length > 0;
    const lvs = this.opts.lvs?.(this.plans, (e) => this.alert(e));
    const ipvs = lvs?.ipvsMode ?? null;
    log.daemonStart({ version: HALO_VERSION, configFile: this.opts.configFile, ipvs });
    this.events.publish({
      type: 'daemon.start',
      version: HALO_VERSION,
      pid: process.pid,
      configFile: this.opts.configFile,
      ipvs,
      message: `Starting halo v${HALO_VERSION}${ipvs === 'dry-run' ? ' (IPVS: dry-run, nothing programmed)' : ''}`,
    });
    if (releasedAtStart.vips.length) {
      log.pino.warn(
        {
          event: 'vrrp.leftover_vips_removed',
          vips: releasedAtStart.vips,
          msAfterProcessStart: Math.round(releasedAtStart.msAfterProcessStart),
        },
        `removed VIPs a crashed predecessor left behind (${releasedAtStart.vips.map((v) => `${v.address} on ${v.ifname}`).join(', ')}), ${Math.round(releasedAtStart.msAfterProcessStart)} ms after start`,
      );
    }
    this.started = true;
    const stale = this.pidFile.takenOver;
    if (stale) {
      log.pino.warn(
        {
          event: 'daemon.stale_pid_file',
          pidFile: this.pidFile.path,
          holderPid: stale.holderPid,
          reason: stale.reason,
        },
        `took over stale pid file ${this.pidFile.path} (${STALE_PID_WORDS[stale.reason](stale.holderPid)})`,
      );
    }
    // A stop asked for while starting (SIGTERM from systemd) waits for the start, then undoes it.
    this.installStopSignals();
    try {
      await this.startPartsLocked(runsVrrp, lvs);
    } catch (err) {
      // A start that fails for any reason leaves no pid file and no socket behind. They go first, before
      // the parts are stopped: stopping a half-started part is where a native error could still abort.
      await this.releaseFiles();
      throw err;
    }
  }

  private async startPartsLocked(runsVrrp: boolean, lvs: LvsPart | undefined): Promise<void> {
    const log = this.opts.logger;
    this.notifier = new Notifier(this.plans.alerts, {
      log: (level, message, fields) => log.pino[level]({ event: 'notify', ...fields }, message),
      // A FIFO that only carries the events of a part that does not run here is not opened.
      sources: new Set([...(runsVrrp ? (['vrrp'] as const) : []), ...(lvs ? (['lvs'] as const) : [])]),
    });
    await this.notifier.start();
    if (this.opts.vrrp) {
      this.statics = new StaticsPart(log);
      await this.statics.start(this.plans.statics);
    }
    if (runsVrrp) {
      this.vrrp = this.newVrrpHost(this.plans);
      await this.vrrp.start();
    }
    this.lvs = lvs;
    await this.lvs?.start(this.plans);
    if (this.lvs && !this.lvs.ownThread) this.applyCheckerScheduling(this.plans);
    // BGP after the checks and IPVS, so a VIP is announced only once it can be served.
    if (this.plans.bgp) {
      this.bgp = this.opts.bgp?.(this.plans.bgp);
      await this.bgp?.start(this.plans.bgp);
      if (this.maintenance.current) await this.bgp?.drain?.();
    }

    this.control = new ControlServer({
      path: this.opts.paths.controlSocket,
      handlers: this.controlHandlers(),
      events: this.events,
      onError: (context, err) => log.daemonError({ context, err }),
    });
    await this.control.listen();
    this.installSignals();
    if (this.opts.metrics) this.startAdvertCounters(this.opts.metrics);
  }

  /** Removes the control socket and the pid file (each only if it is still ours). */
  private async releaseFiles(): Promise<void> {
    await this.control?.close().catch(() => undefined);
    await this.pidFile?.release().catch(() => undefined);
  }

  /**
   * The same, synchronously: for the last moment of a process that is going down on an uncaught error,
   * when a graceful stop could not finish (run-cmd calls it).
   */
  releaseFilesSync(): void {
    this.control?.removeSocketFileSync();
    this.pidFile?.releaseSync();
  }

  /**
   * checker_rt_priority & co. on this (main) thread when it runs the checks and IPVS (a part without a
   * thread of its own); keepalived gives them to its checker process (realtime.ts). Applied at start and at
   * each reload (a dropped setting is undone).
   */
  private applyCheckerScheduling(plans: Plans): void {
    const pino = this.opts.logger.pino;
    this.stopRtTimeWatch?.();
    this.stopRtTimeWatch = applyPartScheduling(plans.checkerScheduling, (level, m) =>
      pino[level]({ event: 'checker.scheduling' }, m),
    );
  }

  /**
   * Advert counters live in the VRRP thread (incrementing a metric per advert there would cost the
   * thread that must never wait); the main thread folds their growth into the metrics every 5 s.
   */
  private startAdvertCounters(m: HaloMetrics): void {
    const last = new Map<string, { sent: number; received: number }>();
    this.advertTimer = setInterval(async () => {
      for (const i of this.vrrp ? await this.vrrp.status() : []) {
        const prev = last.get(i.name) ?? { sent: 0, received: 0 };
        const sent = i.stats.advertsSent;
        const received = i.stats.advertsReceived;
        // A restarted instance starts counting again from 0.
        if (sent >= prev.sent) m.advertSent(i.name, sent - prev.sent);
        if (received >= prev.received) m.advertReceived(i.name, received - prev.received);
        last.set(i.name, { sent, received });
      }
    }, 5000);
    this.advertTimer.unref();
  }

  private newVrrpHost(plans: Plans): VrrpHost {
    return new VrrpHost(plans.vrrp, {
      keepVipsOnStop: this.opts.keepVipsOnStop ?? false,
      heldVipsFile: heldVipsPath(this.opts.paths.pidFile),
      release: this.opts.release ?? 'handover',
      holds: this.maintenance.current ? { maintenance: this.maintenance.current } : {},
      onEvent: (ev) => this.onVrrpEvent(ev),
      onCrash: (err) => this.opts.logger.daemonError({ context: 'vrrp', err }),
    });
  }

  private controlHandlers(): ControlHandlers {
    return {
      status: () => this.statusDocument(),
      reload: async () => ({ ...(await this.reload()), configFile: this.opts.configFile }),
      reloadPlan: () => this.reloadPlan(),
      stop: () => {
        void this.stop('control socket');
      },
      dump: () => this.dump(),
      failover: (a) => this.failover(a),
      maintenance: (a) => this.setMaintenance(a),
      rs: (req, origin) => {
        if (!this.lvs?.rsCommand)
          throw Object.assign(
            new Error('no checks + IPVS part runs in this halo (--vrrp-only, or no virtual servers)'),
            { expected: true },
          );
        return this.lvs.rsCommand(req, origin);
      },
    };
  }

  /** `halo failover`: make-before-break towards the peer, then BACKUP until cleared (or the timeout). */
  private async failover(a: FailoverArgs): Promise<HoldCommandResult> {
    if (!this.vrrp) throw new Error('no VRRP instance runs here');
    const on = a.clear !== true;
    const r = await this.vrrp.hold({
      kind: 'failover',
      on,
      instances: a.all ? 'all' : (a.instances ?? []),
      origin: a.origin,
      ...(a.timeoutS !== undefined ? { untilMs: a.timeoutS * 1000 } : {}),
    });
    if (r.instances.length) this.logHold('failover', on, r.instances, a.origin, a.timeoutS);
    return { ...r, maintenance: this.maintenance.current !== undefined };
  }

  /** `halo maintenance on|off`: every instance BACKUP (VIPs away), BGP withdrawn; kept beside the pid file. */
  private async setMaintenance(a: MaintenanceArgs): Promise<HoldCommandResult> {
    const info = a.on ? { kind: 'maintenance' as const, since: Date.now(), origin: a.origin } : undefined;
    await this.maintenance.save(info);
    const r = this.vrrp
      ? await this.vrrp.hold({ kind: 'maintenance', on: a.on, instances: 'all', origin: a.origin })
      : { instances: [], unknown: [] };
    if (a.on) await this.bgp?.drain?.();
    else await this.bgp?.resume?.();
    this.logHold('maintenance', a.on, r.instances, a.origin);
    return { ...r, maintenance: a.on };
  }

  private logHold(
    kind: 'failover' | 'maintenance',
    on: boolean,
    instances: string[],
    origin: string,
    timeoutS?: number,
  ) {
    const what =
      kind === 'maintenance'
        ? `maintenance mode ${on ? 'on: every instance held in BACKUP, VIPs handed over' : 'off: ordinary election'}`
        : on
          ? `failover: ${instances.join(', ')} handed to the peer and held in BACKUP${timeoutS ? ` for ${timeoutS} s` : ' until cleared'}`
          : `failover cleared for ${instances.join(', ')}: ordinary election`;
    const message = `${what} (asked by ${origin})`;
    this.opts.logger.pino.warn({ event: 'vrrp.hold', kind, on, instances, origin }, message);
    this.events.publish({ type: 'vrrp.hold', kind, on, instances, origin, message });
  }

  private installStopSignals(): void {
    const onStop = (sig: NodeJS.Signals) => void this.stop(sig);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  }

  private installSignals(): void {
    // A reload that throws (a part failed to apply it) is logged; it must not become an unhandled
    // rejection, which run-cmd treats as fatal.
    process.on(
      'SIGHUP',
      () =>
        void this.reload().catch((err: unknown) => this.opts.logger.daemonError({ context: 'reload', err })),
    );
    process.on('SIGUSR1', () => void this.dump('data'));
    process.on('SIGUSR2', () => void this.dump('stats'));
  }

  /**
   * Reload: validate the new config first; if it is invalid, keep running
   * the old one and log why. Otherwise each part applies it as a diff.
   */
  reload(): Promise<{ applied: boolean; errors: string[] }> {
    const run = async () => {
      const log = this.opts.logger;
      const started = performance.now();
      log.configReloadStarted({ configFile: this.opts.configFile });
      let next: Plans;
      try {
        next = buildPlans(await this.load());
      } catch (err) {
        const errors = err instanceof ConfigRejected ? err.diagnostics.map(formatDiagnostic) : [String(err)];
        this.lastReloadError = errors.join('\n');
        log.configReloadRejected({ configFile: this.opts.configFile, errors });
        this.events.publish({
          type: 'config.reload_rejected',
          configFile: this.opts.configFile,
          errors,
          message: `Reload rejected: ${errors.length} error(s); keeping the running configuration`,
        });
        this.opts.metrics?.configReload('rejected');
        return { applied: false, errors };
      }
      // The plan first, in the log: what this reload is about to do.
      const plan = planReload(this.plans, next, this.lvs?.live?.());
      log.pino.info(
        { event: 'config.reload_plan', plan: renderReloadPlan(plan).trimEnd().split('\n') },
        `reload plan: ${plan.vrrp.instances.filter((c) => c.kind !== 'kept').length} VRRP instance(s) change, ${plan.checks.started.length} checker(s) start, ${plan.checks.stopped.length} stop, ${plan.ipvs.length} IPVS operation(s)`,
      );
      const changes: string[] = [];
      if (this.vrrp) {
        changes.push(...this.logVrrpReload(await this.vrrp.reload(next.vrrp)));
      } else if (this.opts.vrrp && next.vrrp.instances.length > 0) {
        this.vrrp = this.newVrrpHost(next);
        await this.vrrp.start();
      }
      await this.lvs?.reload(next);
      if (this.lvs && !this.lvs.ownThread) this.applyCheckerScheduling(next);
      await this.notifier?.reload(next.alerts);
      await this.statics?.reload(next.statics);
      if (this.bgp) await this.bgp.reload(next.bgp);
      else if (next.bgp) {
        this.bgp = this.opts.bgp?.(next.bgp);
        await this.bgp?.start(next.bgp);
      }
      this.plans = next;
      this.configLoadedAt = new Date();
      this.lastReloadError = undefined;
      log.configReloaded({
        configFile: this.opts.configFile,
        durationMs: Math.round(performance.now() - started),
        instances: next.vrrp.instances.length,
        virtualServers: next.ipvs.virtualServers.length,
      });
      this.opts.metrics?.configReload('applied');
      this.events.publish({
        type: 'config.reloaded',
        configFile: this.opts.configFile,
        durationMs: Math.round(performance.now() - started),
        changes,
        message: `Reloaded configuration from ${this.opts.configFile}${changes.length ? `: ${changes.join('; ')}` : ''}`,
      });
      return { applied: true, errors: [] };
    };
    const p = this.reloading.then(run, run);
    this.reloading = p.catch(() => undefined);
    return p;
  }

  /** What a reload would do now, from the running plans and live health; nothing is applied. */
  private async reloadPlan(): Promise<ReloadPlanResult> {
    const configFile = this.opts.configFile;
    let next: Plans;
    try {
      next = buildPlans(await this.load());
    } catch (err) {
      const errors = err instanceof ConfigRejected ? err.diagnostics.map(formatDiagnostic) : [String(err)];
      return { configFile, valid: false, errors };
    }
    const plan = planReload(this.plans, next, this.lvs?.live?.());
    return { configFile, valid: true, errors: [], text: renderReloadPlan(plan), plan };
  }

  /** One line per instance that the reload touched, with what changed and (for a restart) why; returns them. */
  private logVrrpReload(r: VrrpReloadReport): string[] {
    const lines: string[] = [];
    const log = this.opts.logger.pino;
    const count = (k: string) => r.instances.filter((c) => c.kind === k).length;
    for (const c of r.instances) {
      if (c.kind === 'kept') continue;
      const level = c.kind === 'restarted' ? 'warn' : 'info';
      const why = c.restartReason ? ` because ${c.restartReason}` : '';
      const what = c.changes.length ? `: ${c.changes.join('; ')}` : '';
      lines.push(`(${c.name}) ${c.kind}${why}${what}`);
      log[level](
        {
          event: 'vrrp.reload_instance',
          instance: c.name,
          action: c.kind,
          changes: c.changes,
          reason: c.restartReason,
        },
        `(${c.name}) ${c.kind}${why}${what}`,
      );
    }
    log.info(
      {
        event: 'vrrp.reloaded',
        kept: count('kept'),
        updated: count('updated'),
        restarted: count('restarted'),
        added: count('added'),
        removed: count('removed'),
        scripts: r.scripts,
        trackFiles: r.trackFiles,
        engine: r.engine,
      },
      `VRRP reload: ${count('kept')} kept, ${count('updated')} updated in place, ${count('restarted')} restarted, ${count('added')} added, ${count('removed')} removed`,
    );
    return lines;
  }

  /** Alerts go to the notify FIFOs and mail; those no other event already says go on the bus too. */
  private alert(e: AlertEvent): void {
    this.notifier?.notify(e);
    const message = alertMessage(e);
    if (message) this.events.publish({ type: 'alert', alert: e, message });
  }

  stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const log = this.opts.logger;
        // Parts still starting are stopped once they have started (or failed to).
        await this.starting?.catch(() => undefined);
        // A start refused before anything ran (bad config, pid file held) has nothing to stop.
        if (this.started) {
          log.daemonStop({ reason });
          this.events.publish({ type: 'daemon.stop', reason, message: `Stopping (${reason})` });
        }
        if (this.advertTimer) clearInterval(this.advertTimer);
        this.stopRtTimeWatch?.();
        // VRRP first: the backup takes over one skew time after our priority 0 advert, so every
        // millisecond spent before sending it is a millisecond of outage.
        await this.vrrp?.stop();
        // BGP: withdraw and wait for the routes to go while IPVS still serves.
        await this.bgp?.stop();
        await this.control?.close();
        await this.lvs?.stop();
        await this.statics?.stop();
        // The STOP notifications are queued by now; their mails get a bounded grace.
        await this.notifier?.stop(5000);
        await this.pidFile?.release();
        if (this.started) log.daemonStopped({ version: HALO_VERSION });
        log.close();
        this.resolveStopped();
      })();
    }
    return this.stopping;
  }

  private onVrrpEvent(ev: VrrpEngineEvent): void {
    const log = this.opts.logger;
    const m = this.opts.metrics;
    switch (ev.kind) {
      case 'transition':
        log.vrrpTransition({
          instance: ev.instance,
          from: ev.from,
          to: ev.to,
          reason: ev.reason,
          priority: ev.priority,
          masterAddress: ev.masterAddress,
        });
        m?.recordTransition(ev.instance, ev.to);
        m?.setVrrpState(ev.instance, ev.to);
        this.lvs?.vrrpStateChanged?.(ev.instance, ev.to);
        this.events.publish({
          type: 'vrrp.transition',
          instance: ev.instance,
          from: ev.from,
          to: ev.to,
          reason: ev.reason,
          priority: ev.priority,
          masterAddress: ev.masterAddress,
          message: ev.message,
        });
        break;
      case 'drop':
        log.vrrpAdvertDropped({
          instance: ev.instance,
          reason: ev.reason,
          detail: ev.message,
          level: ev.reason === 'lower_priority' ? 'info' : 'warn',
        });
        m?.advertDropped(ev.instance, ev.reason);
        break;
      case 'vips':
        log.vrrpVips({ instance: ev.instance, action: ev.action, vips: ev.vips });
        break;
      case 'garp':
        log.vrrpGarp({ instance: ev.instance, interface: ev.interface, addresses: ev.addresses });
        break;
      case 'priority':
        log.vrrpPriorityChanged({ instance: ev.instance, from: ev.from, to: ev.to });
        this.events.publish({
          type: 'vrrp.priority_changed',
          instance: ev.instance,
          from: ev.from,
          to: ev.to,
          message: `(${ev.instance}) Changing effective priority from ${ev.from} to ${ev.to}`,
        });
        break;
      case 'alert':
        this.alert(ev.alert);
        break;
      case 'peer-drift':
        log.pino.warn(
          {
            event: 'vrrp.peer_drift',
            instance: ev.instance,
            peer: ev.peer,
            theirs: ev.theirs,
            ours: ev.ours,
          },
          `(${ev.instance}) peer ${ev.peer} advertises ${ev.theirs.length} VIP(s), we have ${ev.ours.length}: config drift between the pair (their ${ev.theirs.join(' ') || 'none'}; ours ${ev.ours.join(' ') || 'none'})`,
        );
        m?.peerDrift(ev.instance, true);
        this.events.publish({
          type: 'vrrp.peer_drift',
          instance: ev.instance,
          peer: ev.peer,
          theirs: ev.theirs,
          ours: ev.ours,
          message: `(${ev.instance}) peer ${ev.peer} advertises other VIPs than ours (theirs ${ev.theirs.join(' ') || 'none'}; ours ${ev.ours.join(' ') || 'none'})`,
        });
        break;
      case 'split-brain':
        log.pino.warn(
          {
            event: 'vrrp.split_brain',
            instance: ev.instance,
            peer: ev.peer,
            peerPriority: ev.peerPriority,
            ourPriority: ev.ourPriority,
          },
          `(${ev.instance}) split brain: ${ev.peer} also advertises as MASTER (priority ${ev.peerPriority}, ours ${ev.ourPriority})`,
        );
        m?.splitBrain(ev.instance, true);
        break;
      case 'split-brain-cleared':
        log.pino.info(
          { event: 'vrrp.split_brain_cleared', instance: ev.instance, peer: ev.peer, how: ev.how },
          `(${ev.instance}) split brain with ${ev.peer} is over (${ev.how})`,
        );
        m?.splitBrain(ev.instance, false);
        break;
      case 'drift-repaired': {
        const words = {
          'vip-restored': `VIP ${ev.address} was removed from ${ev.interface} behind halo's back: put back and announced`,
          'vip-removed': `VIP ${ev.address} appeared on ${ev.interface} while not MASTER: removed`,
          'route-restored': `virtual route ${ev.address} was removed behind halo's back: put back`,
        }[ev.what];
        log.pino.warn(
          {
            event: ev.what === 'vip-removed' ? 'vrrp.vip_drift_removed' : 'vrrp.vip_drift_repaired',
            instance: ev.instance,
            what: ev.what,
            address: ev.address,
            interface: ev.interface,
            ms: Math.round(ev.ms * 10) / 10,
          },
          `(${ev.instance}) ${words} (${ev.ms.toFixed(1)} ms)`,
        );
        m?.driftRepaired(ev.instance, ev.what);
        break;
      }
      case 'peer-drift-cleared':
        log.pino.info(
          { event: 'vrrp.peer_drift_cleared', instance: ev.instance, peer: ev.peer },
          `(${ev.instance}) peer ${ev.peer} advertises the same VIPs as we do again`,
        );
        m?.peerDrift(ev.instance, false);
        this.events.publish({
          type: 'vrrp.peer_drift_cleared',
          instance: ev.instance,
          peer: ev.peer,
          message: `(${ev.instance}) peer ${ev.peer} advertises the same VIPs as we do again`,
        });
        break;
      case 'script-state':
        log.vrrpScriptState({ script: ev.script, ok: ev.ok, exitCode: ev.exitCode });
        break;
      case 'script-exit':
        log.scriptExit({
          script: ev.script,
          purpose: ev.purpose,
          exitCode: ev.exitCode,
          signal: ev.signal,
          timedOut: ev.timedOut,
          durationMs: Math.round(ev.durationMs),
        });
        break;
      case 'log':
        // The core's own lines ("received lower priority (100) advert from ... - discarding") keep
        // keepalived's words; "setting VIPs" and gratuitous ARP lines are logged by their own events.
        if (/setting VIPs|removing VIPs|Sending\/queueing/.test(ev.message)) break;
        log.pino[ev.level]({ event: 'vrrp.message', instance: ev.instance }, ev.message);
        break;
    }
  }

  async statusDocument(): Promise<StatusDocument> {
    const instances = this.vrrp ? await this.vrrp.status() : [];
    const lvs = await this.lvs?.status();
    return {
      daemon: {
        pid: process.pid,
        version: HALO_VERSION,
        startedAt: this.startedAt.toISOString(),
        configFile: this.opts.configFile,
        configLoadedAt: this.configLoadedAt.toISOString(),
        hostname: hostname(),
        ...(this.lastReloadError ? { lastReloadError: this.lastReloadError } : {}),
        ...(this.maintenance.current
          ? {
              maintenance: {
                origin: this.maintenance.current.origin,
                since: new Date(this.maintenance.current.since).toISOString(),
              },
            }
          : {}),
        ...(this.vrrp || this.lvs?.partStatus
          ? {
              parts: {
                ...(this.vrrp ? { vrrp: this.vrrp.partStatus() } : {}),
                ...(this.lvs?.partStatus ? { checks: this.lvs.partStatus() } : {}),
              },
            }
          : {}),
      },
      instances: instances.map((i) => toStatusInstance(i, this.plans)),
      virtualServers: lvs?.virtualServers ?? [],
      ipvs: lvs?.ipvs ?? null,
      ...(this.bgp ? { bgp: this.bgp.status() } : {}),
    };
  }

  async statsDocument(): Promise<StatsDocument> {
    const instances = this.vrrp ? await this.vrrp.status() : [];
    return {
      at: new Date().toISOString(),
      instances: instances.map((i) => ({
        name: i.name,
        advertsReceived: i.stats.advertsReceived,
        advertsSent: i.stats.advertsSent,
        becameMaster: i.stats.becameMaster,
        releasedMaster: i.stats.releasedMaster,
        priorityZeroReceived: i.stats.priorityZeroReceived,
        priorityZeroSent: i.stats.priorityZeroSent,
        dropped: Object.fromEntries(Object.entries(i.stats.drops).filter(([, n]) => n > 0)),
      })),
      ...((await this.lvs?.stats?.()) ?? { checks: [], ipvs: { operations: {}, driftRepairs: 0 } }),
    };
  }

  /** SIGUSR1 / SIGUSR2 / control `dump`: keepalived's data and stats files, in text and JSON. */
  async dump(which: 'data' | 'stats' | 'both' = 'both'): Promise<{ files: string[] }> {
    const p = this.opts.paths;
    const files: string[] = [];
    if (which !== 'stats') files.push(...(await writeDataDump(p, await this.statusDocument())));
    if (which !== 'data') files.push(...(await writeStatsDump(p, await this.statsDocument())));
    return { files };
  }
}

function toStatusInstance(i: InstanceStatus, plans: Plans): StatusInstance {
  const group = plans.vrrp.syncGroups.find((g) => g.members.includes(i.name));
  return {
    name: i.name,
    state: i.state,
    interface: i.interface,
    vrid: i.virtualRouterId,
    priority: i.priority,
    effectivePriority: i.effectivePriority,
    masterAddress: i.masterAddress,
    vips: i.vips,
    since: new Date(i.since).toISOString(),
    lastTransitionReason: i.lastTransitionReason,
    ...(group ? { syncGroup: group.name } : {}),
    ...(i.peerDrift ? { peerDrift: i.peerDrift } : {}),
    ...(i.splitBrain ? { splitBrain: i.splitBrain } : {}),
    peer: i.peer ? { ...i.peer, lastAdvertAt: new Date(i.peer.lastAdvertAt).toISOString() } : null,
    ...(i.hold
      ? {
          hold: {
            kind: i.hold.kind,
            origin: i.hold.origin,
            since: new Date(i.hold.since).toISOString(),
            ...(i.hold.until !== undefined ? { until: new Date(i.hold.until).toISOString() } : {}),
          },
        }
      : {}),
    ...(i.handingOver ? { handingOver: true } : {}),
  };
}

/**
 * The bus line for an alert, or undefined for the alerts another event already carries (instance
 * states are vrrp.transition, real servers up/down are rs.state, checker results are not events).
 */
function alertMessage(e: AlertEvent): string | undefined {
  switch (e.type) {
    case 'vrrp-group':
      return `sync group ${e.group} is ${e.state}`;
    case 'vrrp-master-rx-lower-pri':
      return `(${e.instance}) master received a lower-priority advert (ours ${e.priority})`;
    case 'real-server-removed':
      return `[${e.realServer.address}]:${e.realServer.port} leaves the pool (${e.stopping ? 'halo is stopping' : 'removed from the config'})`;
    default:
      return undefined;
  }
}
