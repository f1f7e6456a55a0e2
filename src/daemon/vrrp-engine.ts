/**
 * The VRRP engine's I/O shell: it feeds the pure core (src/vrrp/) with received
 * packets, timer expiries and tracking changes, and carries out the actions the
 * core returns (adverts, VIPs, gratuitous ARP / NA, notify scripts).
 *
 * It is meant to run alone in a worker thread (vrrp-worker.ts) so that neither
 * the health checker nor the garbage collector of the main thread can delay an
 * advert; nothing here blocks: sockets are non-blocking, netlink and scripts are
 * asynchronous, and the only timer is the one armed for the earliest deadline
 * the core asks for.
 *
 * Everything it has to say goes to one `sink` as structured events; the thread
 * that owns the logger turns them into log lines and metrics.
 */
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { checkScriptSecurity, resolveUserGroup, runScript } from '../check/script-runner.js';
import type { HaloConfig, VirtualIp, VrrpInstance, VrrpScript } from '../config/model.js';
import { withoutSources } from '../config/yaml.js';
import { sendGratuitousArp, sendUnsolicitedNa } from '../net/announce.js';
import { type AddressScope, addAddress, LinkWatcher, listAddresses, removeAddress } from '../net/link.js';
import { RawSocket } from '../net/raw-socket.js';
import { IPPROTO_VRRP } from '../vrrp/codec.js';
import { VrrpDispatcher } from '../vrrp/dispatch.js';
import {
  createInstance,
  isUnicast,
  multicastGroup,
  nextDeadline,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceState,
  type VrrpStateName,
  type VrrpStats,
} from '../vrrp/instance.js';
import {
  createSyncGroup,
  type SyncGroupAction,
  type SyncGroupState,
  stepSyncGroup,
  stepSyncGroupTimers,
  syncGroupNextDeadline,
} from '../vrrp/sync-group.js';
import {
  evaluateTracking,
  initialScriptTracker,
  recordScriptResult,
  type ScriptTrackerState,
  type TrackingConfig,
} from '../vrrp/tracking.js';
import { AdvertTimers } from './advert-timers.js';
import {
  applyProcessScheduling,
  applyThreadScheduling,
  type PartScheduling,
  watchRtTimeLimit,
} from './realtime.js';
import { instanceAddresses, instanceParams, trackingConfigOf } from './vrrp-config.js';

export type VrrpEngineEvent =
  | {
      kind: 'transition';
      instance: string;
      from: VrrpStateName;
      to: VrrpStateName;
      reason: string;
      message: string;
      priority: number;
      masterAddress: string | null;
    }
  | { kind: 'drop'; instance: string; reason: string; message: string }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string; instance?: string }
  | { kind: 'vips'; instance: string; action: 'add' | 'remove'; vips: string[] }
  | { kind: 'garp'; instance: string; interface: string; addresses: string[] }
  | { kind: 'priority'; instance: string; from: number; to: number }
  | { kind: 'script-state'; script: string; ok: boolean; exitCode: number | null; message: string }
  | {
      kind: 'script-exit';
      script: string;
      purpose: 'vrrp_script' | 'notify';
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      durationMs: number;
    };

export interface InstanceStatus {
  name: string;
  state: VrrpStateName;
  interface: string;
  virtualRouterId: number;
  priority: number;
  effectivePriority: number;
  masterAddress: string | null;
  vips: string[];
  /** Epoch ms of the last transition. */
  since: number;
  lastTransitionReason: string;
  faultReasons: string[];
  stats: VrrpStats;
}

type Unit =
  | { kind: 'single'; name: string; state: VrrpInstanceState }
  | { kind: 'group'; name: string; group: SyncGroupState };

type InstanceAction = VrrpAction & { instance: string };

interface SocketEntry {
  socket: RawSocket;
  ifname: string;
  family: 4 | 6;
  /** Routes a packet received on this socket to one of the instances that share it. */
  dispatcher?: VrrpDispatcher;
}

/** Notify scripts get a generous default timeout; keepalived has none, a hung script must not pile up. */
const NOTIFY_TIMEOUT_MS = 30_000;

export interface VrrpEngineOptions {
  /** Monotonic clock in ms (tests may pass a fake one). */
  now?: () => number;
  /** keepalived -V: at stop, send priority 0 but leave the VIPs configured. */
  keepVipsOnStop?: boolean;
  /**
   * The VRRP part's scheduling (vrrp_rt_priority, ...: realtime.ts schedulingOf): applied to the thread that
   * calls start() and to every advert timer thread. Only the VRRP worker passes it.
   */
  scheduling?: PartScheduling;
  /** Periodic adverts from native timer threads (default true); false: from this thread's event loop. */
  nativeAdverts?: boolean;
}

export class VrrpEngine {
  private readonly now: () => number;
  private readonly keepVipsOnStop: boolean;
  private units: Unit[] = [];
  private readonly unitOf = new Map<string, Unit>();
  private readonly instances = new Map<string, VrrpInstance>();
  private readonly tracking = new Map<string, TrackingConfig>();
  private readonly lastTracking = new Map<string, { effectivePriority: number; fault: boolean }>();
  private readonly sockets = new Map<string, SocketEntry>();
  private readonly since = new Map<string, { at: number; reason: string }>();
  private readonly scriptStatus = new Map<string, ScriptTrackerState>();
  private readonly fileValues = new Map<string, number>();
  private readonly scriptTimers = new Set<NodeJS.Timeout>();
  private readonly scriptVerdicts = new Map<string, Promise<boolean>>();
  private readonly fileWatchers: FSWatcher[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  /** Per-instance chains: VIP changes, then the announcements that depend on them, in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly notifyChains = new Map<string, Promise<void>>();
  private links: LinkWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private stopping = false;
  private readonly adverts: AdvertTimers | undefined;
  private stopRtTimeWatch: (() => void) | undefined;
  /** Packets that matched no configured instance. */
  unknownVridPackets = 0;

  constructor(
    private config: HaloConfig,
    private readonly sink: (ev: VrrpEngineEvent) => void,
    opts: VrrpEngineOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.keepVipsOnStop = opts.keepVipsOnStop ?? false;
    this.scheduling = opts.scheduling;
    if (opts.nativeAdverts !== false) {
      this.adverts = new AdvertTimers({
        scheduling: opts.scheduling,
        log: (level, instance, message) => this.sink({ kind: 'log', level, instance, message }),
      });
    }
  }

  private readonly scheduling: PartScheduling | undefined;

  /** Resolve host facts, open sockets, start tracking, then start every instance. */
  async start(): Promise<void> {
    this.links = new LinkWatcher();
    this.links.on('error', (err) =>
      this.sink({ kind: 'log', level: 'error', message: `netlink: ${err.message}` }),
    );
    await this.links.ready;
    this.links.on('change', () => this.retrackAll());
    const names = await this.addInstances(this.config.vrrpInstances, this.config.syncGroups);
    await this.removeLeftoverVips(names);
    await this.startTrackFiles();
    this.startTrackScripts();
    this.startInstances(names);
    this.applyScheduling();
  }

  /** vrrp_rt_priority & co. on this thread and the process (advert timer threads get theirs as they open). */
  private applyScheduling(): void {
    const s = this.scheduling;
    if (!s) return;
    const thread = applyThreadScheduling(s, 0);
    const proc = applyProcessScheduling(s, thread.realtime);
    for (const w of [...thread.warnings, ...proc.warnings])
      this.sink({ kind: 'log', level: 'warn', message: w });
    const applied = [...thread.applied, ...proc.applied];
    if (applied.length)
      this.sink({ kind: 'log', level: 'info', message: `VRRP thread: ${applied.join(', ')}` });
    if (s.rtTime && thread.realtime) {
      this.stopRtTimeWatch = watchRtTimeLimit('vrrp', (message) =>
        this.sink({ kind: 'log', level: 'warn', message }),
      );
    }
  }

  /**
   * Apply a new config as a diff: instances whose settings (and sync group)
   * did not change keep their state, timers and VIPs untouched; removed and
   * changed ones are stopped (priority 0, VIPs removed), added and changed
   * ones start. Returns undefined when the change is global (global_defs,
   * vrrp_script, vrrp_track_file): the caller then restarts the engine.
   */
  async reload(
    next: HaloConfig,
  ): Promise<{ kept: string[]; stopped: string[]; started: string[] } | undefined> {
    const shared = (c: HaloConfig) =>
      stableText({ global: c.global, vrrpScripts: c.vrrpScripts, trackFiles: c.trackFiles });
    if (shared(next) !== shared(this.config)) return undefined;
    const groupOf = (c: HaloConfig, n: string) => c.syncGroups.find((g) => g.group.includes(n));
    const text = (c: HaloConfig, n: string) => {
      const inst = c.vrrpInstances.find((i) => i.name === n);
      const g = groupOf(c, n);
      // A sync group member's fate is its whole group's: the group is compared with its members.
      const members = g ? g.group.map((m) => c.vrrpInstances.find((i) => i.name === m)) : [inst];
      return inst ? stableText({ members, g }) : undefined;
    };
    const oldNames = this.config.vrrpInstances.map((i) => i.name);
    const newNames = next.vrrpInstances.map((i) => i.name);
    const kept = newNames.filter((n) => oldNames.includes(n) && text(this.config, n) === text(next, n));
    const stopped = oldNames.filter((n) => !kept.includes(n));
    const started = newNames.filter((n) => !kept.includes(n));

    for (const n of stopped) {
      if (this.stateOf(n).state !== 'STOP') this.deliver(n, { type: 'stop' });
    }
    await Promise.allSettled(stopped.map((n) => this.chains.get(n)));
    for (const n of stopped) this.forget(n);
    this.config = next;
    for (const n of kept) this.instances.set(n, next.vrrpInstances.find((i) => i.name === n)!);
    const names = await this.addInstances(
      next.vrrpInstances.filter((i) => started.includes(i.name)),
      next.syncGroups.filter((g) => g.group.some((m) => started.includes(m))),
    );
    this.startInstances(names);
    return { kept, stopped, started };
  }

  /** Create the core state, tracking, socket and dispatch entries of these instances. */
  private async addInstances(insts: VrrpInstance[], groups: HaloConfig['syncGroups']): Promise<string[]> {
    const cfg = this.config;
    const states = new Map<string, VrrpInstanceState>();
    for (const inst of insts) {
      this.instances.set(inst.name, inst);
      const primary = await primaryAddress(inst.interface, inst.family);
      if (!primary && !inst.unicastSrcIp && !inst.mcastSrcIp) {
        throw new Error(
          `(${inst.name}) interface ${inst.interface} has no IPv${inst.family} address to send from`,
        );
      }
      states.set(inst.name, createInstance(instanceParams(cfg, inst, primary ?? '')));
      const t = trackingConfigOf(cfg, inst);
      for (const w of t.warnings) this.sink({ kind: 'log', level: 'warn', message: w, instance: inst.name });
      this.tracking.set(inst.name, t.config);
      this.openSocket(inst, states.get(inst.name)!);
    }
    this.rebuildDispatchers();
    const grouped = new Set<string>();
    for (const g of groups) {
      const members = g.group.map((n) => states.get(n)!).filter(Boolean);
      const unit: Unit = {
        kind: 'group',
        name: g.name,
        group: createSyncGroup({ name: g.name, group: g.group }, members),
      };
      this.units.push(unit);
      for (const n of g.group) {
        this.unitOf.set(n, unit);
        grouped.add(n);
      }
    }
    for (const [name, state] of states) {
      if (grouped.has(name)) continue;
      const unit: Unit = { kind: 'single', name, state };
      this.units.push(unit);
      this.unitOf.set(name, unit);
    }
    return [...states.keys()];
  }

  /**
   * A VIP still configured from before (halo was killed, or crashed) would be
   * held by two directors while this one sits in BACKUP: remove it before the
   * instance starts. An address owner (priority 255) goes MASTER at once and
   * keeps it.
   */
  private async removeLeftoverVips(names: string[]): Promise<void> {
    for (const name of names) {
      const inst = this.instances.get(name)!;
      if (this.stateOf(name).wantState === 'MASTER' && inst.priority === 255) continue;
      for (const [ifname, vips] of vipsByInterface(inst, instanceAddresses(inst))) {
        const present = new Set((await listAddresses(ifname).catch(() => [])).map((a) => a.address));
        const stale = vips.filter((v) => present.has(v.address));
        if (!stale.length) continue;
        this.sink({
          kind: 'log',
          level: 'warn',
          instance: name,
          message: `(${name}) removing leftover VIPs ${stale.map((v) => v.address).join(' ')} from ${ifname} before start`,
        });
        for (const v of stale) await removeAddress(ifname, addressSpec(v));
      }
    }
  }

  /** Deliver `start` (with the current tracking) to these instances. */
  private startInstances(names: string[]): void {
    for (const name of names) {
      const t = this.evaluate(name);
      this.lastTracking.set(name, { effectivePriority: t.effectivePriority, fault: t.fault });
      this.since.set(name, { at: Date.now(), reason: 'startup' });
      this.deliver(name, { type: 'start', tracking: t });
    }
    this.rearm();
  }

  /** Drop a stopped instance (and its sync group unit) from every table. */
  private forget(name: string): void {
    const unit = this.unitOf.get(name);
    if (unit) this.units = this.units.filter((u) => u !== unit);
    this.unitOf.delete(name);
    this.instances.delete(name);
    this.tracking.delete(name);
    this.lastTracking.delete(name);
    this.since.delete(name);
    this.chains.delete(name);
    this.adverts?.close(name);
    this.rebuildDispatchers();
  }

  private rebuildDispatchers(): void {
    for (const entry of this.sockets.values()) {
      const on = [...this.instances.values()].filter(
        (i) => i.interface === entry.ifname && i.family === entry.family,
      );
      entry.dispatcher = new VrrpDispatcher(
        on.map((i) => ({
          name: i.name,
          family: i.family,
          vrid: i.virtualRouterId,
          unicastPeers: i.unicastPeers.map((p) => p.address),
        })),
      );
    }
  }

  /** Graceful stop: priority 0 adverts, VIPs removed, notify STOP; waits for all of it. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const n of this.instances.keys()) {
      if (this.stateOf(n).state !== 'STOP') this.deliver(n, { type: 'stop' });
    }
    this.clearTimer();
    for (const t of this.scriptTimers) clearTimeout(t);
    for (const w of this.fileWatchers) w.close();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.adverts?.closeAll();
    this.stopRtTimeWatch?.();
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
    this.links?.close();
  }

  status(): InstanceStatus[] {
    return [...this.instances.values()].map((inst) => {
      const s = this.stateOf(inst.name);
      const since = this.since.get(inst.name);
      return {
        name: inst.name,
        state: s.state,
        interface: inst.interface,
        virtualRouterId: inst.virtualRouterId,
        priority: inst.priority,
        effectivePriority: s.effectivePriority,
        masterAddress: s.state === 'MASTER' ? s.params.sourceAddress : (s.masterAddress ?? null),
        vips: instanceAddresses(inst).map((v) => v.address),
        since: since?.at ?? Date.now(),
        lastTransitionReason: since?.reason ?? 'startup',
        faultReasons: s.faultReasons,
        stats: s.stats,
      };
    });
  }

  /* ---------------------------------------------------------------- driving the core */

  private stateOf(name: string): VrrpInstanceState {
    const u = this.unitOf.get(name)!;
    return u.kind === 'single' ? u.state : u.group.members[name];
  }

  private deliver(name: string, ev: VrrpEvent): void {
    const unit = this.unitOf.get(name);
    if (!unit) return;
    const now = this.now();
    let actions: InstanceAction[] | SyncGroupAction[];
    if (unit.kind === 'single') {
      const r = step(unit.state, ev, now);
      unit.state = r.state;
      actions = r.actions.map((a) => ({ ...a, instance: name }));
    } else {
      const r = stepSyncGroup(unit.group, name, ev, now);
      unit.group = r.group;
      actions = r.actions;
    }
    this.execute(this.syncAdvertTimers(unit, actions));
    this.rearm();
  }

  /** The native advert timers follow the unit's new state before its actions run (advert-timers.ts). */
  private syncAdvertTimers<A extends InstanceAction | SyncGroupAction>(unit: Unit, actions: A[]): A[] {
    if (!this.adverts) return actions;
    const names = unit.kind === 'single' ? [unit.name] : Object.keys(unit.group.members);
    for (const n of names) {
      const inst = this.instances.get(n);
      const socket = inst ? this.sockets.get(socketKey(inst))?.socket : undefined;
      actions = this.adverts.sync(n, this.stateOf(n), socket, actions, this.stopping);
    }
    return actions;
  }

  /**
   * Reads every advert already queued on the VRRP sockets. After a stall, Node runs expired timers before it
   * polls sockets: without this, a master-down timer that expired while adverts sat in the queue would take
   * over from a live master.
   */
  private drainSockets(): void {
    for (const entry of this.sockets.values()) {
      try {
        entry.socket.drain();
      } catch (err) {
        this.sink({
          kind: 'log',
          level: 'error',
          message: `VRRP socket on ${entry.ifname}: ${(err as Error).message}`,
        });
      }
    }
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    this.drainSockets();
    const now = this.now();
    for (const unit of this.units) {
      if (unit.kind === 'single') {
        const d = nextDeadline(unit.state);
        if (d !== undefined && d <= now) {
          const r = step(unit.state, { type: 'timer' }, now);
          unit.state = r.state;
          this.execute(
            this.syncAdvertTimers(
              unit,
              r.actions.map((a) => ({ ...a, instance: unit.name })),
            ),
          );
        }
      } else {
        const d = syncGroupNextDeadline(unit.group);
        if (d !== undefined && d <= now) {
          const r = stepSyncGroupTimers(unit.group, now);
          unit.group = r.group;
          this.execute(this.syncAdvertTimers(unit, r.actions));
        }
      }
    }
    this.rearm();
  }

  /** One timer for the earliest deadline of all units. */
  private rearm(): void {
    if (this.stopping) return;
    let at: number | undefined;
    for (const u of this.units) {
      const d = u.kind === 'single' ? nextDeadline(u.state) : syncGroupNextDeadline(u.group);
      if (d !== undefined && (at === undefined || d < at)) at = d;
    }
    if (at === this.timerAt && this.timer) return;
    this.clearTimer();
    if (at === undefined) return;
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - this.now()));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  /* ---------------------------------------------------------------- actions */

  private execute(actions: (InstanceAction | SyncGroupAction)[]): void {
    for (const a of actions) {
      if (a.type === 'group-notify') {
        this.sink({ kind: 'log', level: 'info', message: a.message });
        const g = this.config.syncGroups.find((x) => x.name === a.group);
        if (g) this.runNotify(`group:${g.name}`, g.notify, 'GROUP', g.name, a.state, 0);
        continue;
      }
      const inst = this.instances.get(a.instance)!;
      switch (a.type) {
        case 'send-advert':
          this.sendAdvert(inst, a.packets, a.source);
          break;
        case 'remove-vips':
          if (this.stopping && this.keepVipsOnStop) break;
          this.changeVips(inst, 'remove', a.addresses);
          break;
        case 'add-vips':
          this.changeVips(inst, 'add', a.addresses);
          break;
        case 'send-garp':
          this.announce(inst, a.addresses, a.count);
          break;
        case 'transition': {
          const s = this.stateOf(inst.name);
          this.since.set(inst.name, { at: Date.now(), reason: a.reason });
          this.sink({
            kind: 'transition',
            instance: inst.name,
            from: a.from,
            to: a.to,
            reason: a.reason,
            message: a.message,
            priority: s.effectivePriority,
            masterAddress: a.to === 'MASTER' ? s.params.sourceAddress : (s.masterAddress ?? null),
          });
          break;
        }
        case 'notify':
          this.runNotify(inst.name, inst.notify, 'INSTANCE', inst.name, a.state, a.priority);
          break;
        case 'notify-event':
          if (inst.notify.masterRxLowerPri) {
            this.runNotify(
              inst.name,
              { any: inst.notify.masterRxLowerPri },
              'INSTANCE',
              inst.name,
              'MASTER',
              0,
            );
          }
          break;
        case 'log':
          this.sink({
            kind: 'log',
            level: a.level === 'warning' ? 'warn' : 'info',
            message: a.message,
            instance: inst.name,
          });
          break;
        case 'drop':
          this.sink({ kind: 'drop', instance: inst.name, reason: a.reason, message: a.message });
          break;
      }
    }
  }

  private track<T>(p: Promise<T>): void {
    const q = p.catch((err: unknown) => {
      this.sink({ kind: 'log', level: 'error', message: err instanceof Error ? err.message : String(err) });
    });
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /** Run `fn` after everything queued before it for this instance (VIPs before their announcements). */
  private inOrder(instance: string, fn: () => Promise<void>): void {
    const prev = this.chains.get(instance) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.chains.set(
      instance,
      next.catch(() => undefined),
    );
    this.track(next);
  }

  private sendAdvert(
    inst: VrrpInstance,
    packets: { destination: string; data: Buffer }[],
    source: string,
  ): void {
    const entry = this.sockets.get(socketKey(inst));
    if (!entry) return;
    for (const p of packets) {
      try {
        entry.socket.send(p.data, p.destination, { source });
      } catch (err) {
        this.sink({
          kind: 'log',
          level: 'warn',
          instance: inst.name,
          message: `(${inst.name}) could not send advert to ${p.destination}: ${(err as Error).message}`,
        });
      }
    }
  }

  private changeVips(inst: VrrpInstance, action: 'add' | 'remove', addresses: string[]): void {
    const specs = instanceAddresses(inst);
    const wanted = new Set(addresses);
    const chosen = specs.filter((v) => wanted.has(v.address));
    this.sink({
      kind: 'log',
      level: 'info',
      instance: inst.name,
      message: `(${inst.name}) ${action === 'add' ? 'setting' : 'removing'} VIPs.`,
    });
    this.sink({ kind: 'vips', instance: inst.name, action, vips: chosen.map((v) => v.address) });
    this.inOrder(inst.name, async () => {
      for (const v of chosen) {
        const spec = addressSpec(v);
        if (action === 'add') await addAddress(v.dev ?? inst.interface, spec);
        else await removeAddress(v.dev ?? inst.interface, spec);
      }
    });
  }

  private announce(inst: VrrpInstance, addresses: string[], count: number): void {
    const byIf = vipsByInterface(
      inst,
      instanceAddresses(inst).filter((v) => addresses.includes(v.address)),
    );
    for (const [ifname, vips] of byIf) {
      this.sink({
        kind: 'log',
        level: 'info',
        instance: inst.name,
        message: `(${inst.name}) Sending/queueing gratuitous ARPs on ${ifname} for ${vips.map((v) => v.address).join(' ')}`,
      });
      this.sink({
        kind: 'garp',
        instance: inst.name,
        interface: ifname,
        addresses: vips.map((v) => v.address),
      });
    }
    this.inOrder(inst.name, async () => {
      for (let i = 0; i < count; i++) {
        for (const [ifname, vips] of byIf) {
          for (const v of vips) {
            if (v.family === 4) await sendGratuitousArp(ifname, v.address);
            else await sendUnsolicitedNa(ifname, v.address);
            const gap = v.family === 4 ? inst.garpIntervalMs : inst.gnaIntervalMs;
            if (gap > 0) await sleep(gap);
          }
        }
      }
    });
  }

  /**
   * notify_master/backup/fault/stop (the command as written), `notify` (with
   * keepalived's arguments TYPE NAME STATE PRIORITY) and the notify FIFO. Per
   * instance they run one after the other, so a MASTER script never races the
   * BACKUP script that follows it.
   */
  private runNotify(
    key: string,
    notify: VrrpInstance['notify'],
    type: 'INSTANCE' | 'GROUP',
    name: string,
    state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP',
    priority: number,
  ): void {
    const specific = { MASTER: notify.master, BACKUP: notify.backup, FAULT: notify.fault, STOP: notify.stop }[
      state
    ];
    const runs: { cmd: string; args: string[] }[] = [];
    if (specific) runs.push({ cmd: specific, args: [] });
    if (notify.any) runs.push({ cmd: notify.any, args: [type, name, state, String(priority)] });
    const fifo = this.config.global.vrrpNotifyFifo ?? this.config.global.notifyFifo;
    if (!runs.length && !fifo) return;
    const prev = this.notifyChains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (fifo) await writeFile(fifo.path, `${type} "${name}" ${state} ${priority}\n`, { flag: 'a' });
      for (const r of runs) {
        const script = this.config.global.scriptUser;
        if (!(await this.scriptAllowed(r.cmd, script?.user, script?.group))) continue;
        const res = await runScript(r.cmd, {
          timeoutMs: NOTIFY_TIMEOUT_MS,
          args: r.args,
          user: script?.user,
          group: script?.group,
        });
        this.sink({
          kind: 'script-exit',
          script: r.cmd,
          purpose: 'notify',
          exitCode: res.exitCode,
          signal: res.signal,
          timedOut: res.timedOut,
          durationMs: res.durationMs,
        });
      }
    });
    this.notifyChains.set(
      key,
      next.catch(() => undefined),
    );
    this.track(next);
  }

  /* ---------------------------------------------------------------- sockets */

  private openSocket(inst: VrrpInstance, state: VrrpInstanceState): void {
    const key = socketKey(inst);
    let entry = this.sockets.get(key);
    if (!entry) {
      const socket = RawSocket.open({ family: inst.family, protocol: IPPROTO_VRRP, ifname: inst.interface });
      // RFC 5798 5.1.1.3 / 5.1.2.3: TTL / hop limit 255; keepalived also marks adverts DSCP CS6 (TOS 0xc0).
      socket.setTtl(255);
      socket.setMulticastTtl(255);
      socket.setTos(0xc0);
      socket.setMulticastLoop(false);
      entry = { socket, ifname: inst.interface, family: inst.family };
      const e = entry;
      socket.onPacket((p) => this.onPacket(e, p));
      socket.onError((err) =>
        this.sink({ kind: 'log', level: 'error', message: `VRRP socket on ${e.ifname}: ${err.message}` }),
      );
      this.sockets.set(key, entry);
    }
    if (!isUnicast(state.params)) {
      try {
        entry.socket.joinGroup(multicastGroup(state.params), inst.interface);
      } catch (err) {
        // Joined already by another instance on this interface.
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
      entry.socket.setMulticastInterface(
        inst.interface,
        inst.family === 4 ? state.params.sourceAddress : undefined,
      );
    }
  }

  private onPacket(entry: SocketEntry, p: import('../net/raw-socket.js').ReceivedPacket): void {
    if (this.stopping) return;
    const routed = entry.dispatcher?.route({ data: p.data, family: entry.family, source: p.source });
    if (routed?.type !== 'instance') {
      this.unknownVridPackets++;
      return;
    }
    this.deliver(routed.name, {
      type: 'packet',
      packet: {
        data: p.data,
        family: entry.family,
        source: p.source,
        destination: p.destination,
        ttl: p.ttl,
        protocol: IPPROTO_VRRP,
        ipHeaderLength: p.ipHeaderLength,
        ipTotalLength: p.ipTotalLength,
      },
    });
  }

  /* ---------------------------------------------------------------- tracking */

  private evaluate(name: string) {
    const cfg = this.tracking.get(name)!;
    const interfaces: Record<string, boolean> = {};
    for (const t of cfg.interfaces) interfaces[t.name] = this.links?.isUp(t.name) ?? false;
    const scripts: Record<string, 'init' | 'ok' | 'failed'> = {};
    for (const t of cfg.scripts) scripts[t.name] = this.scriptStatus.get(t.name)?.status ?? 'init';
    const files: Record<string, number> = {};
    for (const t of cfg.files) files[t.name] = this.fileValues.get(t.name) ?? 0;
    return evaluateTracking(cfg, { interfaces, scripts, files });
  }

  private retrackAll(): void {
    if (this.stopping) return;
    for (const name of this.instances.keys()) {
      const t = this.evaluate(name);
      const last = this.lastTracking.get(name);
      if (last && last.effectivePriority === t.effectivePriority && last.fault === t.fault) continue;
      this.lastTracking.set(name, { effectivePriority: t.effectivePriority, fault: t.fault });
      if (last && last.effectivePriority !== t.effectivePriority) {
        this.sink({
          kind: 'priority',
          instance: name,
          from: last.effectivePriority,
          to: t.effectivePriority,
        });
      }
      this.deliver(name, {
        type: 'track',
        effectivePriority: t.effectivePriority,
        fault: t.fault,
        faultReasons: t.faultReasons,
      });
    }
  }

  /** vrrp_script: each tracked script runs every `interval`, through the one script runner. */
  private startTrackScripts(): void {
    const used = new Set([...this.tracking.values()].flatMap((t) => t.scripts.map((s) => s.name)));
    for (const script of this.config.vrrpScripts) {
      if (!used.has(script.name)) continue;
      const params = { name: script.name, rise: script.rise, fall: script.fall, initFail: script.initFail };
      this.scriptStatus.set(script.name, initialScriptTracker(params));
      /** One run; false when the script is refused and must not be scheduled again. */
      const runOnce = async (): Promise<boolean> => {
        if (this.stopping) return false;
        const res = await this.runTrackScript(script);
        if (!res) return false;
        if (this.stopping) return false;
        const r = recordScriptResult(params, this.scriptStatus.get(script.name)!, res);
        this.scriptStatus.set(script.name, r.state);
        if (r.changed) {
          this.sink({
            kind: 'script-state',
            script: script.name,
            ok: r.state.status === 'ok',
            exitCode: res.exitCode,
            message: r.message ?? `VRRP_Script(${script.name}) ${r.state.status}`,
          });
          this.retrackAll();
        }
        return true;
      };
      const loop = () => {
        const started = this.now();
        this.track(
          runOnce()
            .catch((err: unknown) => {
              this.sink({
                kind: 'log',
                level: 'warn',
                message: `VRRP_Script(${script.name}): ${String(err)}`,
              });
              return true;
            })
            .then((again) => {
              if (!again || this.stopping) return;
              const t = setTimeout(loop, Math.max(0, script.intervalMs - (this.now() - started)));
              this.scriptTimers.add(t);
            }),
        );
      };
      loop();
    }
  }

  private async runTrackScript(script: VrrpScript) {
    const su = this.config.global.scriptUser;
    if (!(await this.scriptAllowed(script.script, script.user ?? su?.user, script.group ?? su?.group))) {
      // keepalived disables an insecure track script: it never reports a result (stays 'init').
      return undefined;
    }
    const res = await runScript(script.script, {
      timeoutMs: script.timeoutMs,
      user: script.user ?? su?.user,
      group: script.group ?? su?.group,
    });
    if (res.error)
      this.sink({ kind: 'log', level: 'warn', message: `VRRP_Script(${script.name}): ${res.error}` });
    return res;
  }

  /**
   * enable_script_security: a script that runs as root but could be modified
   * by a non-root user (its file or a directory on its path) is refused, as
   * keepalived does. Decided once per command and user.
   */
  private scriptAllowed(cmd: string, user?: string, group?: string): Promise<boolean> {
    if (!this.config.global.enableScriptSecurity) return Promise.resolve(true);
    const key = `${user ?? ''}:${group ?? ''}:${cmd}`;
    let verdict = this.scriptVerdicts.get(key);
    if (!verdict) {
      verdict = (async () => {
        const ids = user ? await resolveUserGroup(user, group) : undefined;
        const r = await checkScriptSecurity(cmd, { enforce: true, uid: ids?.uid, gid: ids?.gid });
        if (!r.ok) {
          this.sink({
            kind: 'log',
            level: 'warn',
            message: `SECURITY VIOLATION - refusing to run ${cmd}: ${r.problems.join('; ')}`,
          });
        }
        return r.ok;
      })().catch((err: unknown) => {
        this.sink({ kind: 'log', level: 'warn', message: `cannot run ${cmd}: ${(err as Error).message}` });
        return false;
      });
      this.scriptVerdicts.set(key, verdict);
    }
    return verdict;
  }

  /** vrrp_track_file: the file's integer value, re-read whenever inotify says it changed. */
  private async startTrackFiles(): Promise<void> {
    const used = new Set([...this.tracking.values()].flatMap((t) => t.files.map((f) => f.name)));
    for (const tf of this.config.trackFiles) {
      if (!used.has(tf.name)) continue;
      if (tf.initFile) {
        const exists = await readFile(tf.file).then(
          () => true,
          () => false,
        );
        if (!exists || tf.initFile.overwrite) await writeFile(tf.file, `${tf.initFile.value}\n`);
      }
      const read = async () => {
        const text = await readFile(tf.file, 'utf8').catch(() => '');
        // keepalived reads the first integer; an unreadable or empty file counts as 0.
        const value = Number.parseInt(text.trim(), 10);
        const v = Number.isNaN(value) ? 0 : value;
        if (this.fileValues.get(tf.name) !== v) {
          this.fileValues.set(tf.name, v);
          this.retrackAll();
        }
      };
      await read();
      try {
        const w = fsWatch(dirname(tf.file), (_ev, file) => {
          if (file === null || file === basename(tf.file)) this.track(read());
        });
        this.fileWatchers.push(w);
      } catch (err) {
        this.sink({
          kind: 'log',
          level: 'warn',
          message: `track_file ${tf.name}: cannot watch ${tf.file}: ${(err as Error).message}`,
        });
      }
    }
  }
}

/** JSON without source positions: equal text = equal settings. */
function stableText(v: unknown): string {
  return JSON.stringify(withoutSources(v));
}

/** VIPs grouped by the interface they live on (their `dev`, else the instance's interface). */
function vipsByInterface(inst: VrrpInstance, vips: VirtualIp[]): Map<string, VirtualIp[]> {
  const byIf = new Map<string, VirtualIp[]>();
  for (const v of vips) {
    const ifname = v.dev ?? inst.interface;
    byIf.set(ifname, [...(byIf.get(ifname) ?? []), v]);
  }
  return byIf;
}

function socketKey(inst: VrrpInstance): string {
  return `${inst.interface}/${inst.family}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function addressSpec(v: VirtualIp) {
  const scope: AddressScope | undefined = v.scope === 'nowhere' ? 255 : v.scope;
  return {
    address: v.address,
    prefixLength: v.prefixLength,
    broadcast: v.broadcast,
    label: v.label,
    scope,
    noprefixroute: v.noprefixroute,
  };
}

/**
 * The address our adverts come from when none is configured: the interface's
 * primary IPv4 address, or its IPv6 link-local address (RFC 5798 5.1.2.1:
 * the source of an IPv6 advert is the link-local address).
 */
async function primaryAddress(ifname: string, family: 4 | 6): Promise<string | undefined> {
  const addrs = (await listAddresses(ifname)).filter((a) => a.family === family);
  if (family === 6) return addrs.find((a) => a.address.toLowerCase().startsWith('fe80'))?.address;
  return (addrs.find((a) => !a.secondary) ?? addrs[0])?.address;
}
