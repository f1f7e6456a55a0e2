/**
 * The supervisor behind `halo run`: it owns the logger, the pid file, the
 * control socket and the metrics, and starts the parts the config and the
 * command line ask for: the VRRP engine (in its own worker thread), and the
 * health checker with the IPVS reconciler. Signals: SIGHUP reloads (validated
 * first; an invalid config leaves the running one in place), SIGTERM/SIGINT
 * stop gracefully, SIGUSR1 writes the data dump, SIGUSR2 the stats.
 */
import { createRequire } from 'node:module';
import { type Diagnostic, formatDiagnostic, type HaloConfig, loadConfig } from '../config/index.js';
import { type ControlHandlers, ControlServer } from './control.js';
import type { HaloLogger } from './log.js';
import type { HaloMetrics } from './metrics.js';
import { acquirePidFile, type HaloPaths, type PidFileHandle } from './paths.js';
import { applyProcessScheduling, applyThreadScheduling, schedulingOf, watchRtTimeLimit } from './realtime.js';
import {
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
  start(config: HaloConfig): Promise<void>;
  reload(config: HaloConfig): Promise<void>;
  stop(): Promise<void>;
  status(): Pick<StatusDocument, 'virtualServers' | 'ipvs'>;
  /** VRRP state changes, for ha_suspend. */
  vrrpStateChanged?(instance: string, state: string): void;
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
  lvs?: (config: HaloConfig) => LvsPart | undefined;
}

export class ConfigRejected extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

export class Supervisor {
  private config!: HaloConfig;
  private vrrp: VrrpHost | undefined;
  private lvs: LvsPart | undefined;
  private control: ControlServer | undefined;
  private pidFile: PidFileHandle | undefined;
  private readonly startedAt = new Date();
  private configLoadedAt = new Date();
  private lastReloadError: string | undefined;
  private stopping: Promise<void> | undefined;
  private advertTimer: NodeJS.Timeout | undefined;
  private stopRtTimeWatch: (() => void) | undefined;
  private started = false;
  private reloading: Promise<unknown> = Promise.resolve();
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(private readonly opts: SupervisorOptions) {
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
  }

  /** Load and validate the config the way `halo run` must: host problems are errors. */
  async load(): Promise<HaloConfig> {
    const { config, diagnostics } = await loadConfig(this.opts.configFile, {
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
    const log = this.opts.logger;
    this.config = await this.load();
    this.pidFile = await acquirePidFile(this.opts.paths.pidFile);
    log.daemonStart({ version: HALO_VERSION, configFile: this.opts.configFile });
    this.started = true;

    if (this.opts.vrrp && this.config.vrrpInstances.length > 0) {
      this.vrrp = this.newVrrpHost(this.config);
      await this.vrrp.start();
    }
    this.lvs = this.opts.lvs?.(this.config);
    await this.lvs?.start(this.config);
    if (this.lvs) this.applyCheckerScheduling(this.config);

    this.control = new ControlServer({
      path: this.opts.paths.controlSocket,
      handlers: this.controlHandlers(),
      onError: (context, err) => log.daemonError({ context, err }),
    });
    await this.control.listen();
    this.installSignals();
    if (this.opts.metrics) this.startAdvertCounters(this.opts.metrics);
  }

  /**
   * checker_rt_priority & co. on this (main) thread, which runs the checks and IPVS; keepalived gives them to
   * its checker process (realtime.ts). Applied at start and at each reload (a dropped setting is undone).
   */
  private applyCheckerScheduling(config: HaloConfig): void {
    const s = schedulingOf(config.global, 'checker');
    const thread = applyThreadScheduling(s, 0);
    const proc = applyProcessScheduling(s, thread.realtime);
    const pino = this.opts.logger.pino;
    for (const w of [...thread.warnings, ...proc.warnings]) pino.warn({ event: 'checker.scheduling' }, w);
    const applied = [...thread.applied, ...proc.applied];
    if (applied.length) pino.info({ event: 'checker.scheduling' }, `checker thread: ${applied.join(', ')}`);
    this.stopRtTimeWatch?.();
    this.stopRtTimeWatch = thread.realtime
      ? watchRtTimeLimit('checker', (m) => pino.warn({ event: 'checker.scheduling' }, m))
      : undefined;
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

  private newVrrpHost(config: HaloConfig): VrrpHost {
    return new VrrpHost(config, {
      keepVipsOnStop: this.opts.keepVipsOnStop,
      onEvent: (ev) => this.onVrrpEvent(ev),
      onCrash: (err) => this.opts.logger.daemonError({ context: 'vrrp', err }),
    });
  }

  private controlHandlers(): ControlHandlers {
    return {
      status: () => this.statusDocument(),
      reload: async () => ({ ...(await this.reload()), configFile: this.opts.configFile }),
      stop: () => {
        void this.stop('control socket');
      },
      dump: () => this.dump(),
    };
  }

  private installSignals(): void {
    const onStop = (sig: NodeJS.Signals) => void this.stop(sig);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => void this.reload());
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
      let next: HaloConfig;
      try {
        next = await this.load();
      } catch (err) {
        const errors = err instanceof ConfigRejected ? err.diagnostics.map(formatDiagnostic) : [String(err)];
        this.lastReloadError = errors.join('\n');
        log.configReloadRejected({ configFile: this.opts.configFile, errors });
        this.opts.metrics?.configReload('rejected');
        return { applied: false, errors };
      }
      if (this.vrrp) {
        const r = await this.vrrp.reload(next);
        if (typeof r === 'object') {
          log.pino.info(
            { event: 'vrrp.reloaded', ...r },
            `VRRP reload: ${r.kept.length} instance(s) kept, ${r.stopped.length} stopped, ${r.started.length} started`,
          );
        } else if (r === 'restarted') {
          log.pino.warn(
            { event: 'vrrp.reloaded', restarted: true },
            'VRRP reload: global VRRP settings changed, engine restarted',
          );
        }
      } else if (this.opts.vrrp && next.vrrpInstances.length > 0) {
        this.vrrp = this.newVrrpHost(next);
        await this.vrrp.start();
      }
      await this.lvs?.reload(next);
      if (this.lvs) this.applyCheckerScheduling(next);
      this.config = next;
      this.configLoadedAt = new Date();
      this.lastReloadError = undefined;
      log.configReloaded({
        configFile: this.opts.configFile,
        durationMs: Math.round(performance.now() - started),
        instances: next.vrrpInstances.length,
        virtualServers: next.virtualServers.length,
      });
      this.opts.metrics?.configReload('applied');
      return { applied: true, errors: [] };
    };
    const p = this.reloading.then(run, run);
    this.reloading = p.catch(() => undefined);
    return p;
  }

  stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const log = this.opts.logger;
        // A start refused before anything ran (bad config, pid file held) has nothing to stop.
        if (this.started) log.daemonStop({ reason });
        if (this.advertTimer) clearInterval(this.advertTimer);
        this.stopRtTimeWatch?.();
        // VRRP first: the backup takes over one skew time after our priority 0 advert, so every
        // millisecond spent before sending it is a millisecond of outage.
        await this.vrrp?.stop();
        await this.control?.close();
        await this.lvs?.stop();
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
    const lvs = this.lvs?.status();
    return {
      daemon: {
        pid: process.pid,
        version: HALO_VERSION,
        startedAt: this.startedAt.toISOString(),
        configFile: this.opts.configFile,
        configLoadedAt: this.configLoadedAt.toISOString(),
        ...(this.lastReloadError ? { lastReloadError: this.lastReloadError } : {}),
      },
      instances: instances.map((i) => toStatusInstance(i, this.config)),
      virtualServers: lvs?.virtualServers ?? [],
      ipvs: lvs?.ipvs ?? null,
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
      checks: [],
      ipvs: { operations: {}, driftRepairs: 0 },
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

function toStatusInstance(i: InstanceStatus, config: HaloConfig): StatusInstance {
  const group = config.syncGroups.find((g) => g.group.includes(i.name));
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
  };
}
