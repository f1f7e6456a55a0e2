/**
 * The BGP part of the daemon (the I/O shell around core.ts): it adds the VIPs on `vip_interface`, feeds
 * the decision core with the checkers' health, maintenance and the speaker's state, tells the speaker
 * what to announce, watches the speaker's sessions and restarts, and runs the stop sequence
 * (withdraw, wait for the route to go, keep serving for withdraw_delay, then remove the VIPs).
 *
 * It has the same start/reload/stop/status shape as the supervisor's other parts, plus:
 *  - healthChanged(health): the checker part's real server health (by typed real server key), on every change;
 *  - drain() / resume(): maintenance mode (withdraw everything and keep serving; announce again).
 */

import type { HaloLogger } from '../daemon/log.js';
import type { HaloMetrics } from '../daemon/metrics.js';
import type { RealServerHealth } from '../ipvs/desired.js';
import { addAddress, removeAddress } from '../net/link.js';
import type { RealServerKey } from '../plan/ids.js';
import { BirdSpeaker } from './bird.js';
import {
  type BgpAction,
  type BgpCoreState,
  type BgpEvent,
  desiredRoutes,
  initialState,
  step,
} from './core.js';
import type { BgpPlan, SpeakerPlan } from './plan.js';
import type { BgpSpeaker, SpeakerSnapshot } from './speaker.js';
import type { BgpStatus } from './status.js';

export interface BgpPartOptions {
  logger: HaloLogger;
  metrics?: HaloMetrics;
  /** Builds the speaker driver (tests may pass their own); default: BIRD. */
  speaker?: (plan: SpeakerPlan) => BgpSpeaker;
  /** Add/remove the VIPs locally (default: rtnetlink in this namespace). */
  vips?: VipManager;
}

export interface VipManager {
  add(ifname: string, address: string, family: 4 | 6): Promise<void>;
  remove(ifname: string, address: string, family: 4 | 6): Promise<void>;
}

const netlinkVips: VipManager = {
  add: (ifname, address, family) =>
    addAddress(ifname, {
      address,
      prefixLength: family === 6 ? 128 : 32,
      ...(family === 6 ? { deprecated: true } : {}),
    }),
  remove: (ifname, address, family) =>
    removeAddress(ifname, { address, prefixLength: family === 6 ? 128 : 32 }),
};

export interface DrainResult {
  withdrawn: string[];
  /** True when the speaker confirmed it no longer originates them (false: timed out or unreachable). */
  confirmed: boolean;
}

function defaultSpeaker(plan: SpeakerPlan): BgpSpeaker {
  return new BirdSpeaker(plan);
}

export class BgpPart {
  private plan!: BgpPlan;
  private state: BgpCoreState = initialState();
  private speaker!: BgpSpeaker;
  private snapshot: SpeakerSnapshot | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private applyChain: Promise<void> = Promise.resolve();
  /** The routes last handed to the speaker successfully ("a,b"), for "does it need applying again". */
  private applied: string | undefined;
  private vipsAdded = new Map<string, 4 | 6>();
  /** Between start() and stop() (a reload may stop and start it when the bgp block comes or goes). */
  private running = false;
  private stopped: (() => void) | undefined;
  private readonly vips: VipManager;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly identityWarned = new Set<string>();

  constructor(private readonly opts: BgpPartOptions) {
    this.vips = opts.vips ?? netlinkVips;
  }

  async start(plan: BgpPlan): Promise<void> {
    this.plan = plan;
    this.running = true;
    this.state = { ...initialState(), health: this.state.health, maintenance: this.state.maintenance };
    this.applied = undefined;
    this.snapshot = undefined;
    this.speaker = (this.opts.speaker ?? defaultSpeaker)(plan.speaker);
    await this.syncVips();
    this.feed({ kind: 'health', health: this.state.health });
    await this.applyNow();
    await this.poll();
  }

  /** A new plan; undefined: the bgp block left the config. */
  async reload(plan: BgpPlan | undefined): Promise<void> {
    if (!this.running) {
      if (plan) await this.start(plan);
      return;
    }
    if (!plan) {
      // The bgp block left the config: withdraw and remove the VIPs as at stop.
      await this.stop();
      return;
    }
    const before = this.plan;
    if (JSON.stringify(before.speaker) !== JSON.stringify(plan.speaker)) {
      // A different speaker (socket, file, protocol names): the old one stops announcing first.
      try {
        await this.speaker.apply([]);
      } catch (err) {
        this.opts.logger.bgpError({ op: 'withdraw from the previous speaker', err });
      }
      await this.speaker.close();
      this.speaker = (this.opts.speaker ?? defaultSpeaker)(plan.speaker);
      this.applied = undefined;
      this.snapshot = undefined;
    }
    this.plan = plan;
    // New VIPs are added before anything announces them; VIPs that left the config stay until the
    // routers have had withdraw_delay to forget them.
    const gone = [...this.vipsAdded.keys()].filter((a) => !plan.announcements.some((x) => x.address === a));
    await this.syncVips({ keep: gone });
    this.feed({ kind: 'reload' });
    await this.applyNow();
    if (gone.length) {
      const t = setTimeout(() => void this.syncVips(), plan.withdrawDelayMs);
      t.unref();
    }
    if (before.pollIntervalMs !== plan.pollIntervalMs) this.schedulePoll();
  }

  /** Stop: withdraw, wait for the speaker to drop the routes, serve withdraw_delay longer, remove the VIPs. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const done = new Promise<void>((resolve) => {
      this.stopped = resolve;
    });
    this.feed({ kind: 'stop' });
    await this.applyNow();
    // Poll faster than usual: the withdrawal is confirmed as soon as the speaker's table lost the routes.
    this.schedulePoll(100);
    await this.poll();
    await done;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.pollTimer = undefined;
    this.wakeTimer = undefined;
    for (const [address, family] of this.vipsAdded) {
      try {
        await this.vips.remove(this.plan.vipInterface, address, family);
      } catch (err) {
        this.opts.logger.bgpError({ op: `remove VIP ${address}`, err });
      }
    }
    this.vipsAdded.clear();
    await this.speaker.close();
  }

  /** The checker part's real server health changed (the whole map, keyed by ipvs/desired.ts healthKey). */
  healthChanged(health: ReadonlyMap<RealServerKey, RealServerHealth>): void {
    if (!this.running) {
      this.state = { ...this.state, health: new Map(health) };
      return;
    }
    this.feed({ kind: 'health', health: new Map(health) });
    void this.applyNow();
  }

  /** Maintenance on: withdraw every VIP (they stay local, serving what is already here). */
  async drain(): Promise<DrainResult> {
    if (!this.running) {
      this.state = { ...this.state, maintenance: true };
      return { withdrawn: [], confirmed: true };
    }
    const withdrawn = desiredRoutes(this.plan, this.state).map((r) => r.prefix);
    this.feed({ kind: 'drain' });
    await this.applyNow();
    const confirmed = await this.waitWithdrawn();
    return { withdrawn, confirmed };
  }

  /** Maintenance off: announce again every VIP whose virtual servers have quorum. */
  async resume(): Promise<{ announced: string[] }> {
    if (!this.running) {
      this.state = { ...this.state, maintenance: false };
      return { announced: [] };
    }
    this.feed({ kind: 'resume' });
    await this.applyNow();
    return { announced: desiredRoutes(this.plan, this.state).map((r) => r.prefix) };
  }

  status(): BgpStatus {
    const snap = this.snapshot;
    const originated = snap?.reachable ? new Set(snap.originated) : undefined;
    return {
      speaker: {
        kind: this.speaker?.kind ?? this.plan?.speaker.kind ?? 'bird',
        controlSocket: this.plan?.speaker.controlSocket ?? '',
        reachable: snap?.reachable ?? false,
        error: snap?.error ?? null,
        routerId: snap?.routerId ?? null,
        lastRestart: snap?.bootId ?? null,
      },
      maintenance: this.state.maintenance,
      sessions: snap?.sessions ?? [],
      routes: (this.running ? this.plan.announcements : []).map((a) => {
        const s = this.state.announcements[a.route.prefix];
        return {
          prefix: a.route.prefix,
          announced: s?.announced ?? false,
          healthy: s?.healthy ?? false,
          inSpeaker: originated ? originated.has(a.route.prefix) : null,
          reason: s?.reason ?? 'starting',
          since: new Date(s?.since ?? Date.now()).toISOString(),
          virtualServers: a.virtualServers.map((vs) => ({ id: vs.id, quorumUp: s?.quorum[vs.id] ?? false })),
        };
      }),
    };
  }

  /* ---------------------------------------------------------------- internals */

  private feed(event: BgpEvent): void {
    const r = step(this.plan, this.state, event, Date.now());
    this.state = r.state;
    for (const a of r.actions) this.act(a);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (r.wakeAt !== null) {
      this.wakeTimer = setTimeout(
        () => {
          this.feed({ kind: 'tick' });
          void this.applyNow();
        },
        Math.max(0, r.wakeAt - Date.now()),
      );
    }
  }

  private act(a: BgpAction): void {
    const log = this.opts.logger;
    switch (a.kind) {
      case 'announce':
        log.bgpAnnounce({ prefix: a.prefix, reason: a.reason });
        this.opts.metrics?.bgpRoute(a.prefix, true, true);
        break;
      case 'withdraw':
        log.bgpWithdraw({ prefix: a.prefix, reason: a.reason });
        this.opts.metrics?.bgpRoute(a.prefix, false, true);
        break;
      case 'quorum':
        // The announce decision's own quorum (the announce block may override the virtual server's).
        log.pino.info(
          {
            event: 'bgp.quorum',
            up: a.up,
            virtualServer: a.virtualServer,
            prefix: a.prefix,
            weightSum: a.weightSum,
            threshold: a.threshold,
          },
          `BGP ${a.prefix}: ${a.up ? 'gained' : 'lost'} quorum ${a.weightSum}${a.up ? '>=' : '<'}${a.threshold} for VS ${a.virtualServer}`,
        );
        break;
      case 'stopped':
        log.pino.info(
          { event: 'bgp.stopped', confirmed: a.confirmed, waitedMs: a.waitedMs },
          a.confirmed
            ? `BGP routes withdrawn and withdraw_delay over after ${a.waitedMs} ms: removing the VIPs`
            : `BGP speaker did not confirm the withdrawal within ${this.plan.withdrawTimeoutMs} ms: removing the VIPs anyway`,
        );
        this.stopped?.();
        break;
    }
  }

  /** Hands the speaker the routes the core wants now (serialised; each run applies the latest state). */
  private applyNow(force = false): Promise<void> {
    const run = async () => {
      const routes = this.routesToApply();
      const key = routes.map((r) => JSON.stringify(r)).join('|');
      if (!force && key === this.applied) return;
      try {
        await this.speaker.apply(routes);
        this.applied = key;
      } catch (err) {
        this.applied = undefined;
        this.opts.logger.bgpError({ op: 'apply', err });
        // The speaker cannot be told now (not running yet?): still leave the file right for its next start.
        if (this.speaker instanceof BirdSpeaker) {
          await this.speaker
            .writeRoutes(routes)
            .catch((e) => this.opts.logger.bgpError({ op: 'write', err: e }));
        }
      }
    };
    this.applyChain = this.applyChain.then(run, run);
    return this.applyChain;
  }

  /**
   * What the core wants announced, less any VIP halo could not add locally (its add failed and was logged):
   * a director never announces an address it does not hold.
   */
  private routesToApply() {
    const held = new Set(
      this.plan.announcements.filter((a) => this.vipsAdded.has(a.address)).map((a) => a.route.prefix),
    );
    return desiredRoutes(this.plan, this.state).filter((r) => held.has(r.prefix));
  }

  private schedulePoll(intervalMs = this.plan.pollIntervalMs): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(async () => {
      await this.poll();
      if (this.pollTimer) this.schedulePoll(intervalMs);
    }, intervalMs);
  }

  private async poll(): Promise<void> {
    // A VIP that could not be added (interface missing, ...) is tried again; until then it is not announced.
    if (
      this.running &&
      !this.state.stop &&
      this.plan.announcements.some((a) => !this.vipsAdded.has(a.address))
    )
      await this.syncVips({ keep: [...this.vipsAdded.keys()] });
    let snap = await this.speaker.read();
    const prev = this.snapshot;
    this.snapshot = snap;
    this.reportSpeaker(prev, snap);
    if (!this.pollTimer && !this.state.stop) this.schedulePoll();
    if (snap.reachable) {
      const restarted = prev?.reachable && prev.bootId !== null && snap.bootId !== prev.bootId;
      const want = this.routesToApply()
        .map((r) => r.prefix)
        .sort();
      const has = [...snap.originated].sort();
      // Apply again after a restart, when the speaker came (back), or when its table is not what we want.
      if (restarted || !prev?.reachable || want.join() !== has.join()) {
        await this.applyNow(true);
        snap = await this.speaker.read();
        this.snapshot = snap;
      }
    }
    this.feed({ kind: 'speaker', originated: snap.reachable ? new Set(snap.originated) : null });
    if (snap.reachable && snap.originated.length === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private reportSpeaker(prev: SpeakerSnapshot | undefined, snap: SpeakerSnapshot): void {
    const log = this.opts.logger;
    const kind = this.speaker.kind;
    this.opts.metrics?.bgpSpeaker(snap.reachable);
    if (!prev || prev.reachable !== snap.reachable) {
      log.bgpSession({
        speaker: kind,
        state: snap.reachable ? 'reachable' : 'unreachable',
        ...(snap.error ? { detail: snap.error } : {}),
      });
    } else if (snap.reachable && prev.bootId && snap.bootId !== prev.bootId) {
      log.bgpSession({ speaker: kind, state: 'restarted', detail: `last reboot ${snap.bootId}` });
    }
    const before = new Map((prev?.sessions ?? []).map((s) => [s.name, s]));
    for (const s of snap.sessions) {
      const b = before.get(s.name);
      if (!b || b.state !== s.state || b.bfd !== s.bfd) {
        log.bgpSession({
          speaker: kind,
          session: s.name,
          neighbor: s.neighborAddress,
          state: s.state,
          ...(s.info && s.info !== s.state ? { detail: s.info } : {}),
        });
      }
      this.opts.metrics?.bgpSession(s.name, s.neighborAddress ?? '', s.established);
    }
    if (snap.reachable) this.checkIdentity(snap);
  }

  /** router_id / local_as in the bgp block must match the speaker: a wrong socket is caught at once. */
  private checkIdentity(snap: SpeakerSnapshot): void {
    const want = this.plan.speaker;
    const problems: string[] = [];
    if (want.routerId && snap.routerId && want.routerId !== snap.routerId)
      problems.push(`router id is ${snap.routerId}, the bgp block says ${want.routerId}`);
    for (const s of snap.sessions) {
      if (want.localAs !== null && s.localAs !== null && s.localAs !== want.localAs)
        problems.push(`session ${s.name} uses local AS ${s.localAs}, the bgp block says ${want.localAs}`);
    }
    for (const p of problems) {
      if (this.identityWarned.has(p)) continue;
      this.identityWarned.add(p);
      this.opts.logger.bgpError({ op: 'speaker identity check', err: new Error(`the speaker's ${p}`) });
    }
  }

  private async syncVips(opts: { keep?: string[] } = {}): Promise<void> {
    const want = new Map(this.plan.announcements.map((a) => [a.address, a.route.family]));
    for (const [address, family] of want) {
      if (this.vipsAdded.has(address)) continue;
      try {
        await this.vips.add(this.plan.vipInterface, address, family);
        this.vipsAdded.set(address, family);
      } catch (err) {
        this.opts.logger.bgpError({ op: `add VIP ${address}`, err });
      }
    }
    for (const [address, family] of [...this.vipsAdded]) {
      if (want.has(address) || opts.keep?.includes(address)) continue;
      try {
        await this.vips.remove(this.plan.vipInterface, address, family);
      } catch (err) {
        this.opts.logger.bgpError({ op: `remove VIP ${address}`, err });
      }
      this.vipsAdded.delete(address);
    }
  }

  private waitWithdrawn(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.drainWaiters.indexOf(done);
        if (i >= 0) this.drainWaiters.splice(i, 1);
        resolve(false);
      }, this.plan.withdrawTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.drainWaiters.push(done);
      void this.poll();
    });
  }
}
