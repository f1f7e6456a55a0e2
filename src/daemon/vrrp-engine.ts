/**
 * The VRRP engine's I/O shell: it feeds the pure core (src/vrrp/) with received
 * packets, timer expiries and tracking changes, and carries out the actions the
 * core returns (adverts, VIPs, gratuitous ARP / NA, notify scripts).
 *
 * It reads nothing but its plan (src/plan/vrrp.ts); a reload hands it a new plan
 * and it applies the difference (src/plan/vrrp-diff.ts): unchanged instances are
 * not touched, in-place changes reach the core as a `reconfigure` event without a
 * state change, and only identity changes restart an instance.
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

import { existsSync } from 'node:fs';
import { type AddressEvent, AddressWatcher, type RouteEvent, RouteWatcher } from '../net/addr-watch.js';
import { sendGratuitousArp, sendUnsolicitedNa } from '../net/announce.js';
import { type AddressScope, addAddress, LinkWatcher, listAddresses, removeAddress } from '../net/link.js';
import { ProcessTracker } from '../net/process-watch.js';
import { RawSocket, type ReceivedPacket } from '../net/raw-socket.js';
import { InstanceRoutes } from '../net/virtual-routes.js';
import { createVmac, deleteVmac, type Vmac, vmacManager } from '../net/vmac.js';
import type { InstanceName } from '../plan/ids.js';
import type { PartScheduling } from '../plan/scheduling.js';
import type { VipPlan, VrrpInstancePlan, VrrpPlan } from '../plan/vrrp.js';
import { diffVrrpPlans, type VrrpReloadReport } from '../plan/vrrp-diff.js';
import { emptyDropCounters, IPPROTO_VRRP } from '../vrrp/codec.js';
import { VrrpDispatcher } from '../vrrp/dispatch.js';
import {
  createInstance,
  isUnicast,
  multicastGroup,
  nextDeadline,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceParams,
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
import { evaluateTracking } from '../vrrp/tracking.js';
import { AdvertTimers } from './advert-timers.js';
import { HeldVipsFile } from './held-vips.js';
import { applyPartScheduling } from './realtime.js';
import { ScriptGate } from './script-gate.js';
import { Notifier, type NotifierSettings, type VrrpAlert } from './vrrp-notify.js';
import type { HoldInfo, HoldRequest, HoldResult, HoldState, VrrpRunOptions } from './vrrp-protocol.js';

/** A stop waits at most this long for successors to announce themselves (then releases the VIPs). */
const MAX_HANDOVER_MS = 8000;

import { type TrackerHost, TrackFiles, TrackScripts } from './vrrp-trackers.js';

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
  | { kind: 'peer-drift'; instance: string; peer: string; theirs: string[]; ours: string[] }
  | { kind: 'peer-drift-cleared'; instance: string; peer: string }
  /** For the notify FIFO and smtp_alert mail, written and sent by the main thread (src/notify). */
  | { kind: 'alert'; alert: VrrpAlert }
  /** We are MASTER and another router advertises as MASTER too / that is over. */
  | { kind: 'split-brain'; instance: string; peer: string; peerPriority: number; ourPriority: number }
  | { kind: 'split-brain-cleared'; instance: string; peer: string; how: string }
  /**
   * Something outside halo changed what an instance holds: a VIP (or virtual route) removed on a MASTER
   * was put back, or a VIP added on a BACKUP / FAULT node was removed. `ms`: from the kernel's
   * notification to the repair.
   */
  | {
      kind: 'drift-repaired';
      instance: string;
      what: 'vip-restored' | 'vip-removed' | 'route-restored';
      address: string;
      interface: string;
      ms: number;
    }
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
  /** A peer whose adverts carry another address list than ours (config drift between the pair). */
  peerDrift: { peer: string; theirs: string[]; ours: string[] } | null;
  /** Another router advertising as MASTER beside us (two masters), while it lasts. */
  splitBrain: { peer: string; priority: number } | null;
  /** The last advert accepted from another router, and what it says about that router (see status.ts). */
  peer: {
    address: string;
    priority: number;
    lastAdvertAt: number;
    state: 'MASTER' | 'LEFT' | 'SILENT';
  } | null;
  /** An operator's hold in BACKUP (halo failover, maintenance mode), with who asked and when. */
  hold: HoldInfo | null;
  /** Handing over right now: priority 0 sent, the VIPs kept until the new master announces itself. */
  handingOver: boolean;
  stats: VrrpStats;
}

type Unit =
  | { kind: 'single'; name: string; state: VrrpInstanceState }
  | { kind: 'group'; name: string; group: SyncGroupState };

type InstanceAction = VrrpAction & { instance: string };

/** What the engine keeps per running instance besides the core's state. */
interface Runtime {
  plan: VrrpInstancePlan;
  /** The address our adverts come from (configured, else the interface's primary address). */
  source: string;
  /** The interface the adverts go out of and come in on: the VMAC unless vmac_xmit_base, else `interface`. */
  advertIf: string;
  /** The VMAC this engine created for the instance (removed with it). */
  vmac: Vmac | undefined;
  /** VIPs this engine has added and not removed since (address -> how it was added). */
  installed: Map<string, VipPlan>;
  since: { at: number; reason: string };
  lastTracking: { effectivePriority: number; fault: boolean } | undefined;
  peerDrift: InstanceStatus['peerDrift'];
  /** virtual_routes / virtual_rules, set while MASTER. */
  routes: InstanceRoutes;
  /** The last advert the core accepted from another router (epoch ms for people, monotonic for ages). */
  lastAdvert: { address: string; priority: number; wallAt: number; at: number } | null;
  /** VIP changes, then the announcements that depend on them, in order. */
  chain: Promise<void>;
}

interface SocketEntry {
  socket: RawSocket;
  ifname: string;
  family: 4 | 6;
  /** Multicast groups this socket has joined. */
  groups: Set<string>;
  /** Routes a packet received on this socket to one of the instances that share it. */
  dispatcher?: VrrpDispatcher;
}

export interface VrrpEngineOptions extends Partial<VrrpRunOptions> {
  /** Monotonic clock in ms (tests may pass a fake one). */
  now?: () => number;
  /** Periodic adverts from native timer threads (default true); false: from this thread's event loop. */
  nativeAdverts?: boolean;
}

export class VrrpEngine {
  private readonly now: () => number;
  private readonly keepVipsOnStop: boolean;
  private units: Unit[] = [];
  private readonly unitOf = new Map<InstanceName, Unit>();
  private readonly runtimes = new Map<InstanceName, Runtime>();
  /** dynamic_interfaces: instances (whole sync groups) whose interface does not exist yet. */
  private readonly waiting = new Map<InstanceName, VrrpInstancePlan>();
  private pickUp: Promise<void> = Promise.resolve();
  private readonly sockets = new Map<string, SocketEntry>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly scripts: TrackScripts;
  private readonly files: TrackFiles;
  private readonly notifier: Notifier;
  private processes: ProcessTracker | undefined;
  /** The VIPs held, on disk, for a successor after a crash (see held-vips.ts). */
  private readonly held: HeldVipsFile | undefined;
  private readonly adverts: AdvertTimers | undefined;
  /** Only the VRRP worker applies the plan's scheduling (realtime) to its thread; tests and benches do not. */
  private readonly applySchedulingOn: boolean;
  private stopRtTimeWatch: (() => void) | undefined;
  private gate: ScriptGate;
  private links: LinkWatcher | undefined;
  /** Addresses and routes changed behind halo's back (self-healing, issue 17). */
  private addressWatch: AddressWatcher | undefined;
  private routeWatch: RouteWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private stopping = false;
  /** Make-before-break stop in progress: the instances still MASTER wait for their successor. */
  private leaving = false;
  private readonly release: 'handover' | 'immediate';
  /** Maintenance mode (every instance held in BACKUP) and failover holds per instance. */
  private maintenance: HoldInfo | undefined;
  private readonly failovers = new Map<string, { info: HoldInfo; timer?: NodeJS.Timeout }>();
  /** Packets that matched no configured instance. */
  unknownVridPackets = 0;

  constructor(
    private plan: VrrpPlan,
    private readonly sink: (ev: VrrpEngineEvent) => void,
    opts: VrrpEngineOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.keepVipsOnStop = opts.keepVipsOnStop ?? false;
    this.release = opts.release ?? 'handover';
    this.maintenance = opts.holds?.maintenance;
    for (const [name, info] of Object.entries(opts.holds?.failover ?? {})) this.setFailover(name, info);
    this.held = opts.heldVipsFile
      ? new HeldVipsFile(opts.heldVipsFile, (err) =>
          this.sink({ kind: 'log', level: 'warn', message: `held VIPs file: ${err.message}` }),
        )
      : undefined;
    this.gate = this.newGate(plan);
    const host: TrackerHost = {
      now: this.now,
      gate: () => this.gate,
      onChange: () => this.retrackAll(),
      onScriptState: (script, ok, exitCode, message) =>
        this.sink({ kind: 'script-state', script, ok, exitCode, message }),
      onScriptExit: (script, r) => this.scriptExit(script, 'vrrp_script', r),
      warn: (message) => this.sink({ kind: 'log', level: 'warn', message }),
      track: (p) => this.track(p),
    };
    this.scripts = new TrackScripts(host);
    this.files = new TrackFiles(host);
    this.notifier = new Notifier(this.notifierSettings(plan), {
      alert: (alert) => this.sink({ kind: 'alert', alert }),
      onScriptExit: (script, r) => this.scriptExit(script, 'notify', r),
      track: (p) => this.track(p),
    });
    this.applySchedulingOn = opts.applyScheduling ?? false;
    if (opts.nativeAdverts !== false) {
      this.adverts = new AdvertTimers({
        scheduling: this.applySchedulingOn ? plan.scheduling : undefined,
        log: (level, instance, message) => this.sink({ kind: 'log', level, instance, message }),
      });
    }
  }

  /** Resolve host facts, open sockets, start tracking, then start every instance. */
  async start(): Promise<void> {
    this.links = new LinkWatcher();
    this.links.on('error', (err) =>
      this.sink({ kind: 'log', level: 'error', message: `netlink: ${err.message}` }),
    );
    await this.links.ready;
    this.watchHeldState();
    this.links.on('change', () => {
      this.retrackAll();
      // One pick-up at a time: a new link sends several events while it is set up.
      this.pickUp = this.pickUp.then(() => this.pickUpInterfaces());
    });
    const names = await this.addInstances(this.plan.instances);
    await this.removeLeftoverVips(names);
    await this.files.apply(this.plan.trackFiles);
    this.scripts.apply(this.plan.scripts);
    await this.trackProcesses(this.plan);
    // vrrp_startup_delay holds every BACKUP timer until the delay has passed (keepalived
    // vrrp_delayed_start_time); it applies to the engine's start, not to instances a reload adds.
    const delay = this.plan.startupDelayMs;
    this.startInstances(names, delay > 0 ? this.now() + delay : undefined);
    if (this.applySchedulingOn) this.applyScheduling(this.plan.scheduling);
  }

  /** Apply a new plan as a diff; returns what was done (see src/plan/vrrp-diff.ts). */
  async reload(next: VrrpPlan): Promise<VrrpReloadReport> {
    const report = diffVrrpPlans(this.plan, next);
    const byName = new Map(next.instances.map((i) => [i.name, i]));
    // Instances still waiting for their interface take the new plan as they are (nothing runs yet).
    for (const c of report.instances) {
      if (!this.waiting.has(c.name)) continue;
      const p = byName.get(c.name);
      if (p && c.kind !== 'removed') this.waiting.set(c.name, p);
      else this.waiting.delete(c.name);
    }
    const running = (c: { name: InstanceName }) => this.runtimes.has(c.name);
    const goes = report.instances.filter(
      (c) => (c.kind === 'removed' || c.kind === 'restarted') && running(c),
    );
    for (const c of goes) {
      if (this.stateOf(c.name).state !== 'STOP')
        this.deliver(c.name, { type: 'stop', deleted: c.kind === 'removed' });
    }
    await Promise.allSettled(goes.map((c) => this.runtimes.get(c.name)?.chain));
    for (const c of goes) this.forget(c.name);

    const scheduled = JSON.stringify(this.plan.scheduling) !== JSON.stringify(next.scheduling);
    this.plan = next;
    // The worker thread and the open advert timer threads follow vrrp_rt_priority & co. at once.
    if (this.applySchedulingOn && scheduled) {
      this.applyScheduling(next.scheduling);
      this.adverts?.reschedule(next.scheduling);
    }
    if (report.engine.includes('enable_script_security')) this.gate = this.newGate(next);
    this.notifier.update(this.notifierSettings(next));
    await this.files.apply(next.trackFiles);
    this.scripts.apply(next.scripts);
    if (report.engine.includes('vrrp_track_process')) await this.trackProcesses(next);

    for (const c of report.instances.filter((x) => x.kind === 'updated' && running(x))) {
      this.updateInstance(byName.get(c.name) as VrrpInstancePlan);
    }
    this.rebuildDispatchers();
    const comes = report.instances
      .filter((c) => (c.kind === 'added' || c.kind === 'restarted') && !this.waiting.has(c.name))
      .map((c) => byName.get(c.name) as VrrpInstancePlan);
    const names = await this.addInstances(comes);
    this.startInstances(names, undefined);
    this.retrackAll();
    return report;
  }

  /** Graceful stop: priority 0 adverts, VIPs removed, notify STOP; waits for all of it. */
  async stop(): Promise<void> {
    if (this.stopping || this.leaving) return;
    // -V keeps the VIPs: nothing to hand over (keepalived's priority 0, then nothing removed).
    if (this.release === 'handover' && !this.keepVipsOnStop) {
      this.leaving = true;
      for (const n of this.runtimes.keys()) {
        if (this.stateOf(n).state !== 'STOP') this.deliver(n, { type: 'stop', handover: true });
      }
      await this.untilHandedOver();
    }
    this.stopping = true;
    for (const f of this.failovers.values()) clearTimeout(f.timer);
    for (const n of this.runtimes.keys()) {
      if (this.stateOf(n).state !== 'STOP') this.deliver(n, { type: 'stop' });
    }
    this.clearTimer();
    this.scripts.stop();
    this.files.stop();
    this.processes?.close();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.saveHeld();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.adverts?.closeAll();
    this.stopRtTimeWatch?.();
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
    this.links?.close();
    this.addressWatch?.close();
    this.routeWatch?.close();
    // -V keeps the VIPs, which live on the VMACs: the VMACs stay too.
    if (!this.keepVipsOnStop) {
      for (const rt of this.runtimes.values()) if (rt.vmac) await this.removeVmac(rt.vmac);
      vmacManager.restoreHostSettings();
    }
  }

  /**
   * Waits while MASTER instances hand over: each ends when its successor's first advert arrives or its
   * own deadline (a master-down interval) passes; the engine keeps receiving and timing meanwhile. Bounded
   * by MAX_HANDOVER_MS so a stop never hangs on a very long advert interval.
   */
  private async untilHandedOver(): Promise<void> {
    const started = this.now();
    const pending = () =>
      [...this.runtimes.keys()].filter((n) => {
        const s = this.stateOf(n);
        return s.state !== 'STOP' && s.handover !== undefined;
      });
    while (pending().length > 0 && this.now() - started < MAX_HANDOVER_MS) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const left = pending();
    if (left.length > 0) {
      this.sink({
        kind: 'log',
        level: 'warn',
        message: `handover not finished after ${MAX_HANDOVER_MS} ms for ${left.join(', ')}: releasing now`,
      });
    }
  }

  /* ---------------------------------------------------------------- operator holds */

  /** The hold in force for an instance: maintenance wins over a failover. */
  private holdOf(name: string): HoldInfo | undefined {
    return this.maintenance ?? this.failovers.get(name)?.info;
  }

  /** Tells the core of `name` which hold applies now (a MASTER that becomes held hands over). */
  private applyHold(name: InstanceName): void {
    if (!this.runtimes.has(name) || this.stateOf(name).state === 'STOP') return;
    this.deliver(name, { type: 'hold', hold: this.holdOf(name)?.kind });
  }

  private setFailover(name: string, info: HoldInfo): void {
    const old = this.failovers.get(name);
    clearTimeout(old?.timer);
    const left = info.until !== undefined ? info.until - Date.now() : undefined;
    const timer =
      left !== undefined
        ? setTimeout(
            () => {
              this.failovers.delete(name);
              this.sink({ kind: 'log', level: 'info', instance: name, message: 'failover hold expired' });
              this.applyHold(name as InstanceName);
              this.rearm();
            },
            Math.max(0, left),
          )
        : undefined;
    timer?.unref();
    this.failovers.set(name, { info, timer });
  }

  /**
   * `halo failover` and `halo maintenance`: set or clear a hold. A sync group's members go together (the
   * group would pull a lone member back). Returns what changed and the holds now in force.
   */
  hold(req: HoldRequest): { result: HoldResult; holds: HoldState } {
    const known = new Set([...this.runtimes.keys(), ...this.waiting.keys()].map(String));
    const asked = req.instances === 'all' ? [...known] : [...req.instances];
    const unknown = asked.filter((n) => !known.has(n));
    const names = new Set(asked.filter((n) => known.has(n)));
    for (const g of this.plan.syncGroups) {
      if (g.members.some((m) => names.has(m))) for (const m of g.members) names.add(m);
    }
    const info: HoldInfo = {
      kind: req.kind,
      since: Date.now(),
      origin: req.origin,
      ...(req.untilMs !== undefined ? { until: Date.now() + req.untilMs } : {}),
    };
    if (req.kind === 'maintenance') {
      this.maintenance = req.on ? info : undefined;
      for (const n of known) names.add(n);
    } else {
      for (const n of names) {
        if (req.on) this.setFailover(n, info);
        else {
          clearTimeout(this.failovers.get(n)?.timer);
          this.failovers.delete(n);
        }
      }
    }
    for (const n of names) this.applyHold(n as InstanceName);
    this.rearm();
    return { result: { instances: [...names].sort(), unknown }, holds: this.holdState() };
  }

  holdState(): HoldState {
    return {
      ...(this.maintenance ? { maintenance: this.maintenance } : {}),
      failover: Object.fromEntries([...this.failovers].map(([n, f]) => [n, f.info])),
    };
  }

  private async removeVmac(v: Vmac): Promise<void> {
    await deleteVmac(v).catch((err: Error) =>
      this.sink({ kind: 'log', level: 'warn', message: `VMAC ${v.ifname}: ${err.message}` }),
    );
  }

  status(): InstanceStatus[] {
    const waiting: InstanceStatus[] = [...this.waiting.values()].map((p) => ({
      name: p.name,
      state: 'FAULT',
      interface: p.interface,
      virtualRouterId: p.core.virtualRouterId,
      priority: p.core.priority,
      effectivePriority: p.core.priority,
      masterAddress: null,
      vips: p.vips.map((v) => v.address),
      since: Date.now(),
      lastTransitionReason: 'interface missing (dynamic_interfaces)',
      faultReasons: [`interface ${p.interface} does not exist`],
      peerDrift: null,
      splitBrain: null,
      peer: null,
      hold: this.holdOf(p.name) ?? null,
      handingOver: false,
      stats: emptyStats(),
    }));
    return [
      ...waiting,
      ...[...this.runtimes.values()].map((rt) => {
        const s = this.stateOf(rt.plan.name);
        return {
          name: rt.plan.name,
          state: s.state,
          interface: rt.plan.interface,
          virtualRouterId: rt.plan.core.virtualRouterId,
          priority: rt.plan.core.priority,
          effectivePriority: s.effectivePriority,
          masterAddress: s.state === 'MASTER' ? s.params.sourceAddress : (s.masterAddress ?? null),
          vips: rt.plan.vips.map((v) => v.address),
          since: rt.since.at,
          lastTransitionReason: rt.since.reason,
          faultReasons: s.faultReasons,
          peerDrift: rt.peerDrift,
          splitBrain: s.splitBrain ? { peer: s.splitBrain.peer, priority: s.splitBrain.priority } : null,
          peer: this.peerOf(rt, s),
          hold: s.state === 'STOP' ? null : (this.holdOf(rt.plan.name) ?? null),
          handingOver: s.handover !== undefined,
          stats: s.stats,
        };
      }),
    ];
  }

  /**
   * Only a master advertises, so a peer whose adverts keep coming is MASTER; one whose last advert had
   * priority 0 left; one silent for longer than a master-down interval (3 intervals + at most 1 of skew)
   * is BACKUP or gone.
   */
  private peerOf(rt: Runtime, s: VrrpInstanceState): InstanceStatus['peer'] {
    const a = rt.lastAdvert;
    if (!a) return null;
    const silentAfter = 4 * Math.max(s.masterAdverIntMs, rt.plan.core.advertIntervalMs);
    const state = a.priority === 0 ? 'LEFT' : this.now() - a.at > silentAfter ? 'SILENT' : 'MASTER';
    return { address: a.address, priority: a.priority, lastAdvertAt: a.wallAt, state };
  }

  /* ---------------------------------------------------------------- instances */

  /**
   * Self-healing: the engine watches the addresses (RTNLGRP_IPV4/6_IFADDR) and its routes, and puts its
   * held state back when something else changes it. A VIP removed behind halo's back on a MASTER is
   * added again with gratuitous ARP / NA (keepalived does this too, ~60 ms later); a VIP that appears on
   * a BACKUP or FAULT node is removed (two holders is worse than none; keepalived leaves it); a tracked
   * virtual route removed on a MASTER is put back (keepalived drops to BACKUP instead).
   */
  private watchHeldState(): void {
    const warn = (err: Error) =>
      this.sink({ kind: 'log', level: 'warn', message: `address / route watch: ${err.message}` });
    this.addressWatch = new AddressWatcher({ ref: false });
    this.addressWatch.on('error', warn);
    this.addressWatch.on('address', (ev) => this.onAddressChange(ev));
    this.routeWatch = new RouteWatcher({ ref: false, rules: true });
    this.routeWatch.on('error', warn);
    this.routeWatch.on('route', (ev) => this.onRouteChange(ev));
    this.routeWatch.on('rule', (ev) => {
      if (ev.type !== 'removed' || this.stopping) return;
      for (const rt of this.runtimes.values()) {
        if (rt.routes.onRuleRemoved(ev) && this.stateOf(rt.plan.name).vipsSet)
          this.inOrder(rt, () => rt.routes.becomeMaster());
      }
    });
  }

  private onAddressChange(ev: AddressEvent): void {
    if (this.stopping) return;
    for (const rt of this.runtimes.values()) {
      const vip = rt.plan.vips.find((v) => v.address === ev.address && v.interface === ev.ifname);
      if (!vip) continue;
      const held = this.stateOf(rt.plan.name).vipsSet;
      const ms = () => Number(process.hrtime.bigint() - ev.at) / 1e6;
      const report = (what: 'vip-restored' | 'vip-removed') =>
        this.sink({
          kind: 'drift-repaired',
          instance: rt.plan.name,
          what,
          address: vip.address,
          interface: vip.interface,
          ms: ms(),
        });
      if (ev.type === 'removed' && held && rt.installed.has(vip.address)) {
        // Not ours to lose: the kernel dropped it or someone ran `ip addr del`. Put it back and announce it.
        rt.installed.delete(vip.address);
        this.inOrder(rt, async () => {
          await addAddress(vip.interface, addressSpec(vip));
          rt.installed.set(vip.address, vip);
          this.saveHeld();
          report('vip-restored');
        });
        this.announce(rt, [vip.address], rt.plan.core.garpMasterRepeat ?? 5);
      } else if (ev.type === 'added' && !held && !rt.installed.has(vip.address)) {
        this.inOrder(rt, async () => {
          if (this.stateOf(rt.plan.name).vipsSet) return; // became MASTER meanwhile: it is ours now
          await removeAddress(vip.interface, addressSpec(vip));
          report('vip-removed');
        });
      }
    }
  }

  private onRouteChange(ev: RouteEvent): void {
    if (ev.type !== 'removed' || this.stopping) return;
    for (const rt of this.runtimes.values()) {
      if (!rt.routes.onRouteRemoved(ev) || !this.stateOf(rt.plan.name).vipsSet) continue;
      this.inOrder(rt, async () => {
        await rt.routes.becomeMaster();
        this.sink({
          kind: 'drift-repaired',
          instance: rt.plan.name,
          what: 'route-restored',
          address: ev.route.destination ?? 'default',
          interface: rt.plan.interface,
          ms: Number(process.hrtime.bigint() - ev.at) / 1e6,
        });
      });
    }
  }

  /** vrrp_track_process: watch the tracked processes; a quorum change re-evaluates tracking. */
  private async trackProcesses(plan: VrrpPlan): Promise<void> {
    this.processes?.close();
    this.processes = undefined;
    if (!plan.trackProcesses.length) return;
    const tracker = new ProcessTracker([...plan.trackProcesses]);
    tracker.on('quorum', (q) =>
      this.sink({ kind: 'log', level: q.haveQuorum ? 'info' : 'warn', message: q.message }),
    );
    tracker.on('quorum', () => this.retrackAll());
    tracker.on('error', (err) =>
      this.sink({ kind: 'log', level: 'error', message: `track_process: ${err.message}` }),
    );
    const mode = await tracker.start();
    this.processes = tracker;
    this.sink({
      kind: 'log',
      level: 'info',
      message: `tracking ${plan.trackProcesses.length} process(es) with ${mode === 'connector' ? "the kernel's process events" : 'a /proc scan and pidfds'}`,
    });
  }

  private newRoutes(plan: VrrpInstancePlan): InstanceRoutes {
    return new InstanceRoutes(plan.name, [...plan.routes], [...plan.rules], (e) =>
      this.sink({ kind: 'log', level: e.level, message: e.message, instance: plan.name }),
    );
  }

  private newGate(plan: VrrpPlan): ScriptGate {
    return new ScriptGate(plan.scriptSecurity, (message) =>
      this.sink({ kind: 'log', level: 'warn', message }),
    );
  }

  private notifierSettings(plan: VrrpPlan): NotifierSettings {
    return { scriptUser: plan.scriptUser, gate: this.gate };
  }

  private params(rt: Pick<Runtime, 'plan' | 'source'>): VrrpInstanceParams {
    return { ...rt.plan.core, sourceAddress: rt.source };
  }

  /** Create the core state, socket and dispatch entries of these instances, and their sync groups. */
  private async addInstances(all: readonly VrrpInstancePlan[]): Promise<InstanceName[]> {
    const plans = this.holdBackMissingInterfaces(all);
    const states = new Map<InstanceName, VrrpInstanceState>();
    for (const plan of plans) {
      const vmac = plan.vmac
        ? await createVmac({
            base: plan.interface,
            vrid: plan.core.virtualRouterId,
            family: plan.family,
            name: plan.vmac.name,
            xmitBase: plan.vmac.xmitBase,
            otherFamilyAddresses: plan.vips.some((v) => v.family !== plan.family),
          })
        : undefined;
      if (vmac)
        this.sink({
          kind: 'log',
          level: 'info',
          instance: plan.name,
          message: `(${plan.name}) VMAC ${vmac.ifname} (${vmac.mac}) on ${plan.interface}${vmac.created ? '' : ' (kept)'}`,
        });
      const advertIf = vmac && !plan.vmac?.xmitBase ? vmac.ifname : plan.interface;
      // IPv6 adverts come from the link-local address of the interface they leave by (RFC 5798 5.1.2.1).
      const source =
        plan.sourceAddress ??
        (plan.family === 6 && vmac?.linkLocal && advertIf === vmac.ifname
          ? vmac.linkLocal
          : await primaryAddress(plan.interface, plan.family));
      if (!source) {
        throw new Error(
          `(${plan.name}) interface ${plan.interface} has no IPv${plan.family} address to send from`,
        );
      }
      const rt: Runtime = {
        plan,
        source,
        advertIf,
        vmac: vmac?.created ? vmac : undefined,
        installed: new Map(),
        since: { at: Date.now(), reason: 'startup' },
        lastTracking: undefined,
        peerDrift: null,
        routes: this.newRoutes(plan),
        lastAdvert: null,
        chain: Promise.resolve(),
      };
      this.runtimes.set(plan.name, rt);
      const state = createInstance(this.params(rt));
      states.set(plan.name, state);
      for (const note of plan.trackingNotes)
        this.sink({ kind: 'log', level: 'warn', message: note, instance: plan.name });
      this.openSocket(rt, state);
    }
    this.rebuildDispatchers();
    const grouped = new Set<InstanceName>();
    for (const g of this.plan.syncGroups) {
      if (!g.members.some((m) => states.has(m))) continue;
      const members = g.members.map((n) => states.get(n)).filter((s): s is VrrpInstanceState => !!s);
      const unit: Unit = {
        kind: 'group',
        name: g.name,
        group: createSyncGroup({ name: g.name, group: [...g.members] }, members),
      };
      this.units.push(unit);
      for (const n of g.members) {
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
   * dynamic_interfaces: instances whose interface does not exist yet wait (with their whole sync group,
   * which moves as one) until a link appears; the others start now. Without dynamic_interfaces a missing
   * interface refused the config before anything started.
   */
  private holdBackMissingInterfaces(plans: readonly VrrpInstancePlan[]): VrrpInstancePlan[] {
    if (!this.plan.dynamicInterfaces) return [...plans];
    const missing = new Set(plans.filter((p) => !interfaceExists(p.interface)).map((p) => p.name));
    for (const g of this.plan.syncGroups) {
      if (g.members.some((m) => missing.has(m))) for (const m of g.members) missing.add(m);
    }
    for (const p of plans) {
      if (!missing.has(p.name)) continue;
      this.waiting.set(p.name, p);
      this.sink({
        kind: 'log',
        level: 'warn',
        instance: p.name,
        message: `(${p.name}) interface ${p.interface} does not exist: waiting for it (dynamic_interfaces)`,
      });
    }
    return plans.filter((p) => !missing.has(p.name));
  }

  /**
   * A link appeared or changed: start the waiting instances whose interfaces exist now and are up, with
   * an address to send from (a new link is created, addressed and brought up in steps).
   */
  private async pickUpInterfaces(): Promise<void> {
    if (this.stopping || !this.waiting.size) return;
    const candidates = [...this.waiting.values()].filter(
      (p) => interfaceExists(p.interface) && this.links?.isUp(p.interface),
    );
    const ready: VrrpInstancePlan[] = [];
    for (const p of candidates) {
      if (p.sourceAddress || p.vmac || (await primaryAddress(p.interface, p.family).catch(() => undefined)))
        ready.push(p);
    }
    if (!ready.length) return;
    for (const p of ready) this.waiting.delete(p.name);
    try {
      const names = await this.addInstances(ready);
      for (const n of names)
        this.sink({
          kind: 'log',
          level: 'info',
          instance: n,
          message: `(${n}) interface appeared: starting`,
        });
      this.startInstances(names, undefined);
    } catch (err) {
      this.sink({ kind: 'log', level: 'error', message: `dynamic_interfaces: ${(err as Error).message}` });
    }
  }

  /**
   * A VIP still configured from before (halo was killed, or crashed) would be
   * held by two directors while this one sits in BACKUP: remove it before the
   * instance starts. An address owner (priority 255) goes MASTER at once and
   * keeps it.
   */
  private async removeLeftoverVips(names: InstanceName[]): Promise<void> {
    for (const name of names) {
      const plan = this.runtimes.get(name)?.plan as VrrpInstancePlan;
      if (this.stateOf(name).wantState === 'MASTER' && plan.core.priority === 255) continue;
      for (const [ifname, vips] of byInterface(plan.vips)) {
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
  private startInstances(names: InstanceName[], delayedStartUntil: number | undefined): void {
    for (const name of names) {
      const rt = this.runtimes.get(name) as Runtime;
      const t = this.evaluate(rt.plan);
      rt.lastTracking = { effectivePriority: t.effectivePriority, fault: t.fault };
      rt.since = { at: Date.now(), reason: 'startup' };
      // A hold in force (maintenance kept across a restart) applies before the first election.
      const hold = this.holdOf(name);
      if (hold) this.deliver(name, { type: 'hold', hold: hold.kind });
      this.deliver(name, { type: 'start', tracking: t, delayedStartUntil });
    }
    this.rearm();
  }

  /** In-place changes: the core takes the new parameters without a state change. */
  private updateInstance(plan: VrrpInstancePlan): void {
    const rt = this.runtimes.get(plan.name) as Runtime;
    const before = rt.plan;
    rt.plan = plan;
    // A VIP whose options changed (prefix, label, dev, ...) is re-added with them while we hold it.
    const now = new Map(plan.vips.map((v) => [v.address, v]));
    const respec = [...rt.installed.values()].filter((v) => {
      const n = now.get(v.address);
      return n !== undefined && JSON.stringify(n) !== JSON.stringify(v);
    });
    if (respec.length) {
      this.inOrder(rt, async () => {
        for (const old of respec) {
          await removeAddress(old.interface, addressSpec(old)).catch(() => undefined);
          const fresh = now.get(old.address) as VipPlan;
          await addAddress(fresh.interface, addressSpec(fresh));
          rt.installed.set(fresh.address, fresh);
        }
      });
    }
    if (before.core.unicastPeers !== plan.core.unicastPeers) this.rebuildDispatchers();
    if (JSON.stringify([before.routes, before.rules]) !== JSON.stringify([plan.routes, plan.rules])) {
      // New routes and rules replace the old ones; a MASTER swaps them at once.
      const old = rt.routes;
      const fresh = this.newRoutes(plan);
      rt.routes = fresh;
      if (this.stateOf(plan.name).vipsSet) {
        this.inOrder(rt, async () => {
          await old.leaveMaster();
          await fresh.becomeMaster();
        });
      }
    }
    this.deliver(plan.name, { type: 'reconfigure', params: this.params(rt) });
    // The base priority or the tracked objects may have changed: the core hears the new total now.
    rt.lastTracking = undefined;
  }

  /** Drop a stopped instance (and its sync group unit) from every table. */
  /**
   * vrrp_rt_priority & co. on this thread and the process (advert timer threads: AdvertTimers).
   * At a reload too: a dropped setting is undone (realtime.ts).
   */
  private applyScheduling(s: PartScheduling): void {
    this.stopRtTimeWatch?.();
    this.stopRtTimeWatch = applyPartScheduling(s, (level, message) =>
      this.sink({ kind: 'log', level, message }),
    );
  }

  private forget(name: InstanceName): void {
    const vmac = this.runtimes.get(name)?.vmac;
    if (vmac) this.track(this.removeVmac(vmac));
    this.waiting.delete(name);
    const unit = this.unitOf.get(name);
    if (unit) {
      this.units = this.units.filter((u) => u !== unit);
      if (unit.kind === 'group') for (const m of unit.group.params.group) this.unitOf.delete(m);
    }
    this.unitOf.delete(name);
    this.runtimes.delete(name);
    this.adverts?.close(name);
    this.rebuildDispatchers();
  }

  private rebuildDispatchers(): void {
    for (const entry of this.sockets.values()) {
      const on = [...this.runtimes.values()]
        .filter((rt) => rt.advertIf === entry.ifname && rt.plan.family === entry.family)
        .map((rt) => rt.plan);
      entry.dispatcher = new VrrpDispatcher(
        on.map((p) => ({
          name: p.name,
          family: p.family,
          vrid: p.core.virtualRouterId,
          unicastPeers: (p.core.unicastPeers ?? []).map((u) => u.address),
        })),
      );
    }
  }

  /* ---------------------------------------------------------------- driving the core */

  private stateOf(name: InstanceName): VrrpInstanceState {
    const u = this.unitOf.get(name) as Unit;
    return u.kind === 'single' ? u.state : u.group.members[name];
  }

  private deliver(name: InstanceName, ev: VrrpEvent): void {
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
      const rt = this.runtimes.get(n);
      const socket = rt ? this.sockets.get(socketKey(rt))?.socket : undefined;
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
        const g = this.plan.syncGroups.find((x) => x.name === a.group);
        if (g) this.notifier.notify('GROUP', g.name, g.notify, a.state, 0);
        continue;
      }
      const rt = this.runtimes.get(a.instance);
      if (!rt) continue;
      const name = rt.plan.name;
      switch (a.type) {
        case 'send-advert':
          this.sendAdvert(rt, a.packets, a.source);
          break;
        case 'remove-vips':
          if (this.stopping && this.keepVipsOnStop) break;
          this.changeVips(rt, 'remove', a.addresses);
          break;
        case 'add-vips':
          this.changeVips(rt, 'add', a.addresses);
          break;
        case 'send-garp':
          this.announce(rt, a.addresses, a.count);
          break;
        case 'transition': {
          const s = this.stateOf(name);
          rt.since = { at: Date.now(), reason: a.reason };
          this.sink({
            kind: 'transition',
            instance: name,
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
          // keepalived's old way for an instance a reload removed is FAULT, unless notify_deleted.
          this.notifier.notify(
            'INSTANCE',
            name,
            rt.plan.notify,
            a.state === 'DELETED' && !rt.plan.notifyDeleted ? 'FAULT' : a.state,
            a.priority,
          );
          break;
        case 'notify-event':
          this.notifier.masterRxLowerPri(
            name,
            rt.plan.notify.masterRxLowerPri,
            this.stateOf(name).effectivePriority,
          );
          break;
        case 'peer-drift':
          rt.peerDrift = { peer: a.peer, theirs: a.theirs, ours: a.ours };
          this.sink({ kind: 'peer-drift', instance: name, peer: a.peer, theirs: a.theirs, ours: a.ours });
          break;
        case 'peer-drift-cleared':
          rt.peerDrift = null;
          this.sink({ kind: 'peer-drift-cleared', instance: name, peer: a.peer });
          break;
        case 'split-brain':
          this.sink({
            kind: 'split-brain',
            instance: name,
            peer: a.peer,
            peerPriority: a.peerPriority,
            ourPriority: a.ourPriority,
          });
          break;
        case 'split-brain-cleared':
          this.sink({ kind: 'split-brain-cleared', instance: name, peer: a.peer, how: a.how });
          break;
        case 'log':
          this.sink({
            kind: 'log',
            level: a.level === 'warning' ? 'warn' : 'info',
            message: a.message,
            instance: name,
          });
          break;
        case 'drop':
          this.sink({ kind: 'drop', instance: name, reason: a.reason, message: a.message });
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

  private scriptExit(
    script: string,
    purpose: 'vrrp_script' | 'notify',
    r: { exitCode: number | null; signal: string | null; timedOut: boolean; durationMs: number },
  ): void {
    this.sink({
      kind: 'script-exit',
      script,
      purpose,
      exitCode: r.exitCode,
      signal: r.signal,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
    });
  }

  /** Writes the VIPs held now to the held-VIPs file (after each change). */
  private saveHeld(): void {
    if (!this.held) return;
    const vips = [...this.runtimes.values()].flatMap((rt) =>
      [...rt.installed.values()].map((v) => ({
        ifname: v.interface,
        address: v.address,
        prefixLength: v.prefixLength,
      })),
    );
    this.track(this.held.save(vips));
  }

  /** Run `fn` after everything queued before it for this instance (VIPs before their announcements). */
  private inOrder(rt: Runtime, fn: () => Promise<void>): void {
    const next = rt.chain.then(fn, fn);
    rt.chain = next.catch(() => undefined);
    this.track(next);
  }

  private sendAdvert(rt: Runtime, packets: { destination: string; data: Buffer }[], source: string): void {
    const entry = this.sockets.get(socketKey(rt));
    if (!entry) return;
    for (const p of packets) {
      try {
        entry.socket.send(p.data, p.destination, { source });
      } catch (err) {
        this.sink({
          kind: 'log',
          level: 'warn',
          instance: rt.plan.name,
          message: `(${rt.plan.name}) could not send advert to ${p.destination}: ${(err as Error).message}`,
        });
      }
    }
  }

  private changeVips(rt: Runtime, action: 'add' | 'remove', addresses: string[]): void {
    const wanted = new Set(addresses);
    // Added with the plan's options; removed with the options they were added with (a reload may have
    // dropped them from the plan already).
    const chosen =
      action === 'add'
        ? rt.plan.vips.filter((v) => wanted.has(v.address))
        : addresses
            .map((a) => rt.installed.get(a) ?? rt.plan.vips.find((v) => v.address === a))
            .filter(isVip);
    const name = rt.plan.name;
    this.sink({
      kind: 'log',
      level: 'info',
      instance: name,
      message: `(${name}) ${action === 'add' ? 'setting' : 'removing'} VIPs.`,
    });
    this.sink({ kind: 'vips', instance: name, action, vips: chosen.map((v) => v.address) });
    // The routes and rules follow mastership (keepalived): set after all the VIPs, removed before them.
    // A reload that adds or removes single VIPs on a live master leaves them as they are.
    const vipsSet = this.stateOf(name).vipsSet;
    const wholeSet = rt.plan.vips.every((v) => wanted.has(v.address));
    this.inOrder(rt, async () => {
      if (action === 'remove' && !vipsSet) await rt.routes.leaveMaster();
      for (const v of chosen) {
        const spec = addressSpec(v);
        if (action === 'add') {
          // On disk before it is on the wire: a crash right after must not leave an unlisted VIP.
          rt.installed.set(v.address, v);
          this.saveHeld();
          await addAddress(v.interface, spec);
        } else {
          rt.installed.delete(v.address);
          await removeAddress(v.interface, spec);
        }
      }
      if (action === 'remove') this.saveHeld();
      if (action === 'add' && wholeSet) await rt.routes.becomeMaster();
    });
  }

  private announce(rt: Runtime, addresses: string[], count: number): void {
    const wanted = new Set(addresses);
    const byIf = byInterface(rt.plan.vips.filter((v) => wanted.has(v.address)));
    const name = rt.plan.name;
    for (const [ifname, vips] of byIf) {
      this.sink({
        kind: 'log',
        level: 'info',
        instance: name,
        message: `(${name}) Sending/queueing gratuitous ARPs on ${ifname} for ${vips.map((v) => v.address).join(' ')}`,
      });
      this.sink({
        kind: 'garp',
        instance: name,
        interface: ifname,
        addresses: vips.map((v) => v.address),
      });
    }
    const { garpIntervalMs = 0, gnaIntervalMs = 0 } = rt.plan.core;
    this.inOrder(rt, async () => {
      for (let i = 0; i < count; i++) {
        for (const [ifname, vips] of byIf) {
          for (const v of vips) {
            if (v.family === 4) await sendGratuitousArp(ifname, v.address);
            else await sendUnsolicitedNa(ifname, v.address);
            const gap = v.family === 4 ? garpIntervalMs : gnaIntervalMs;
            if (gap > 0) await sleep(gap);
          }
        }
      }
    });
  }

  /* ---------------------------------------------------------------- sockets */

  private openSocket(rt: Runtime, state: VrrpInstanceState): void {
    const { plan, advertIf } = rt;
    const key = socketKey(rt);
    let entry = this.sockets.get(key);
    if (!entry) {
      const socket = RawSocket.open({ family: plan.family, protocol: IPPROTO_VRRP, ifname: advertIf });
      // RFC 5798 5.1.1.3 / 5.1.2.3: TTL / hop limit 255; keepalived also marks adverts DSCP CS6 (TOS 0xc0).
      socket.setTtl(255);
      socket.setMulticastTtl(255);
      socket.setTos(0xc0);
      socket.setMulticastLoop(false);
      entry = { socket, ifname: advertIf, family: plan.family, groups: new Set() };
      const e = entry;
      socket.onPacket((p) => this.onPacket(e, p));
      socket.onError((err) =>
        this.sink({ kind: 'log', level: 'error', message: `VRRP socket on ${e.ifname}: ${err.message}` }),
      );
      this.sockets.set(key, entry);
    }
    if (!isUnicast(state.params)) {
      const group = multicastGroup(state.params);
      if (!entry.groups.has(group)) {
        try {
          entry.socket.joinGroup(group, advertIf);
        } catch (err) {
          // Joined already (another instance on this interface, or an earlier run of this one).
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
        entry.groups.add(group);
      }
      entry.socket.setMulticastInterface(
        advertIf,
        plan.family === 4 ? state.params.sourceAddress : undefined,
      );
    }
  }

  private onPacket(entry: SocketEntry, p: ReceivedPacket): void {
    if (this.stopping) return;
    const routed = entry.dispatcher?.route({ data: p.data, family: entry.family, source: p.source });
    if (routed?.type !== 'instance') {
      this.unknownVridPackets++;
      return;
    }
    const before = this.unitOf.has(routed.name) ? this.stateOf(routed.name).stats.advertsReceived : 0;
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
    // The core counts the adverts it accepted (valid, ours by VRID and auth): remember who sent it. The
    // priority is the advert's third byte in both versions (RFC 3768 5.1, RFC 5798 5.1).
    const rt = this.runtimes.get(routed.name);
    if (rt && this.unitOf.has(routed.name) && this.stateOf(routed.name).stats.advertsReceived > before) {
      rt.lastAdvert = { address: p.source, priority: p.data[2] ?? 0, wallAt: Date.now(), at: this.now() };
    }
  }

  /* ---------------------------------------------------------------- tracking */

  private evaluate(plan: VrrpInstancePlan) {
    const cfg = plan.tracking;
    const interfaces: Record<string, boolean> = {};
    for (const t of cfg.interfaces) interfaces[t.name] = this.links?.isUp(t.name) ?? false;
    const scripts: Record<string, 'init' | 'ok' | 'failed'> = {};
    for (const t of cfg.scripts) scripts[t.name] = this.scripts.status(t.name);
    const files: Record<string, number> = {};
    for (const t of cfg.files) files[t.name] = this.files.value(t.name);
    return evaluateTracking(cfg, { interfaces, scripts, files, processes: this.processes?.quorum() ?? {} });
  }

  private retrackAll(): void {
    if (this.stopping) return;
    for (const rt of this.runtimes.values()) {
      const name = rt.plan.name;
      const t = this.evaluate(rt.plan);
      const last = rt.lastTracking;
      if (last && last.effectivePriority === t.effectivePriority && last.fault === t.fault) continue;
      rt.lastTracking = { effectivePriority: t.effectivePriority, fault: t.fault };
      const current = this.stateOf(name).effectivePriority;
      if (current !== t.effectivePriority && this.stateOf(name).basePriority !== 255) {
        this.sink({ kind: 'priority', instance: name, from: current, to: t.effectivePriority });
      }
      this.deliver(name, {
        type: 'track',
        effectivePriority: t.effectivePriority,
        fault: t.fault,
        faultReasons: t.faultReasons,
      });
    }
  }
}

function isVip(v: VipPlan | undefined): v is VipPlan {
  return v !== undefined;
}

/** VIPs grouped by the interface they live on. */
function byInterface(vips: readonly VipPlan[]): Map<string, VipPlan[]> {
  const byIf = new Map<string, VipPlan[]>();
  for (const v of vips) byIf.set(v.interface, [...(byIf.get(v.interface) ?? []), v]);
  return byIf;
}

function socketKey(rt: Pick<Runtime, 'advertIf' | 'plan'>): string {
  return `${rt.advertIf}/${rt.plan.family}`;
}

function interfaceExists(ifname: string): boolean {
  return existsSync(`/sys/class/net/${ifname}`);
}

function emptyStats(): VrrpStats {
  return {
    advertsReceived: 0,
    advertsSent: 0,
    priorityZeroReceived: 0,
    priorityZeroSent: 0,
    becameMaster: 0,
    releasedMaster: 0,
    drops: emptyDropCounters(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function addressSpec(v: VipPlan) {
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
