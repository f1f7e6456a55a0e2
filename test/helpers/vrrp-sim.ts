/**
 * A discrete-event simulation of VRRP routers on one shared, lossless medium, driving the pure core
 * (src/vrrp/instance.ts) with a fake clock. Reusable by any test or benchmark:
 *
 *   const sim = new VrrpSim({ latencyMs: 0.5 });
 *   sim.add(params('r1', 150, '10.0.0.1'));  sim.add(params('r2', 100, '10.0.0.2'));
 *   sim.start('r1', 0); sim.start('r2', 0);
 *   sim.runUntil(10_000);
 *   sim.masters()            // ['r1']
 *   sim.crash('r1') / sim.stop('r1') / sim.track('r2', { effectivePriority, fault })
 *   sim.transitions('r2')    // [{ t, from, to, reason, message }]
 *
 * Every send-advert packet is delivered (after latencyMs) to every other running node for multicast, or to the
 * node owning the destination address for unicast, with TTL 255. Crashed nodes neither send nor receive.
 */
import {
  createInstance,
  nextDeadline,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceParams,
  type VrrpInstanceState,
  type VrrpStateName,
} from '../../src/vrrp/instance.js';

export interface SimNode {
  name: string;
  state: VrrpInstanceState;
  crashed: boolean;
  actions: { t: number; action: VrrpAction }[];
}

interface Pending {
  t: number;
  seq: number;
  node: string;
  event: VrrpEvent;
}

export interface SimOptions {
  /** One-way delivery delay, fixed or per (from, to) pair. Default 0.1 ms. */
  latencyMs?: number | ((from: string, to: string) => number);
  /** Safety stop: the maximum number of events a runUntil() may process. */
  maxEvents?: number;
}

export function simParams(
  name: string,
  priority: number,
  sourceAddress: string,
  extra: Partial<VrrpInstanceParams> = {},
): VrrpInstanceParams {
  return {
    name,
    virtualRouterId: 51,
    version: 2,
    family: 4,
    priority,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    virtualAddresses: ['10.77.0.100'],
    sourceAddress,
    ...extra,
  };
}

export class VrrpSim {
  now = 0;
  readonly nodes = new Map<string, SimNode>();
  private queue: Pending[] = [];
  private seq = 0;
  private readonly latency: (from: string, to: string) => number;
  private readonly maxEvents: number;

  constructor(opts: SimOptions = {}) {
    const l = opts.latencyMs ?? 0.1;
    this.latency = typeof l === 'function' ? l : () => l;
    this.maxEvents = opts.maxEvents ?? 1_000_000;
  }

  add(params: VrrpInstanceParams): SimNode {
    const node: SimNode = { name: params.name, state: createInstance(params), crashed: false, actions: [] };
    this.nodes.set(params.name, node);
    return node;
  }

  node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no sim node ${name}`);
    return n;
  }

  private schedule(t: number, node: string, event: VrrpEvent) {
    this.queue.push({ t, seq: this.seq++, node, event });
  }

  start(name: string, at = this.now, tracking?: { effectivePriority: number; fault: boolean }) {
    this.schedule(at, name, { type: 'start', tracking });
  }
  /** Graceful shutdown (priority 0 from a master). */
  stop(name: string, at = this.now) {
    this.schedule(at, name, { type: 'stop' });
  }
  track(
    name: string,
    update: { effectivePriority: number; fault: boolean; faultReasons?: string[] },
    at = this.now,
  ) {
    this.schedule(at, name, { type: 'track', ...update });
  }
  /** The node goes silent at once (SIGKILL / cable cut): no more sends, receives or timers. */
  crash(name: string) {
    this.node(name).crashed = true;
  }

  private deliver(from: SimNode, action: Extract<VrrpAction, { type: 'send-advert' }>) {
    const p = from.state.params;
    for (const pkt of action.packets) {
      for (const to of this.nodes.values()) {
        if (to === from || to.crashed) continue;
        const tp = to.state.params;
        if (tp.family !== p.family) continue;
        const unicast = (p.unicastPeers?.length ?? 0) > 0;
        if (unicast && tp.sourceAddress !== pkt.destination) continue;
        this.schedule(this.now + this.latency(from.name, to.name), to.name, {
          type: 'packet',
          packet: {
            data: pkt.data,
            family: p.family,
            source: p.sourceAddress,
            destination: pkt.destination,
            ttl: 255,
          },
        });
      }
    }
  }

  private apply(node: SimNode, event: VrrpEvent) {
    const r = step(node.state, event, this.now);
    node.state = r.state;
    for (const a of r.actions) {
      node.actions.push({ t: this.now, action: a });
      if (a.type === 'send-advert') this.deliver(node, a);
    }
  }

  /** Process everything due up to and including time `until`; the clock ends at `until`. */
  runUntil(until: number) {
    let processed = 0;
    for (;;) {
      if (++processed > this.maxEvents) throw new Error('simulation did not settle (maxEvents)');
      // earliest of queued events and node deadlines; queued events first at equal times
      let best: Pending | undefined;
      let bestIdx = -1;
      this.queue.forEach((e, i) => {
        if (!best || e.t < best.t || (e.t === best.t && e.seq < best.seq)) {
          best = e;
          bestIdx = i;
        }
      });
      let timerNode: SimNode | undefined;
      let timerAt = Number.POSITIVE_INFINITY;
      for (const n of this.nodes.values()) {
        if (n.crashed) continue;
        const d = nextDeadline(n.state);
        if (d !== undefined && d < timerAt) {
          timerAt = d;
          timerNode = n;
        }
      }
      const eventAt = best ? best.t : Number.POSITIVE_INFINITY;
      const t = Math.min(eventAt, timerAt);
      if (t > until || t === Number.POSITIVE_INFINITY) break;
      this.now = Math.max(this.now, t);
      if (best && eventAt <= timerAt) {
        this.queue.splice(bestIdx, 1);
        const n = this.node(best.node);
        if (!n.crashed) this.apply(n, best.event);
      } else if (timerNode) {
        this.apply(timerNode, { type: 'timer' });
      }
    }
    this.now = Math.max(this.now, until);
  }

  /** Run in steps of `stepMs` until `pred` holds (returns the time) or `limit` passes (returns undefined). */
  runUntilTrue(pred: () => boolean, limit: number, stepMs = 1): number | undefined {
    while (this.now <= limit) {
      if (pred()) return this.now;
      this.runUntil(this.now + stepMs);
    }
    return pred() ? this.now : undefined;
  }

  masters(): string[] {
    return [...this.nodes.values()]
      .filter((n) => !n.crashed && n.state.state === 'MASTER')
      .map((n) => n.name);
  }

  stateOf(name: string): VrrpStateName {
    return this.node(name).state.state;
  }

  transitions(name: string) {
    return this.node(name)
      .actions.filter((x) => x.action.type === 'transition')
      .map((x) => ({ t: x.t, ...(x.action as Extract<VrrpAction, { type: 'transition' }>) }));
  }

  /** Log lines (transition + log + drop messages) of a node, in order. */
  messages(name: string): string[] {
    const out: string[] = [];
    for (const { action: a } of this.node(name).actions) {
      if (a.type === 'transition' || a.type === 'log' || a.type === 'drop') out.push(a.message);
    }
    return out;
  }

  /** Times at which a node sent adverts with the given priority. */
  advertTimes(name: string, priority?: number): number[] {
    return this.node(name)
      .actions.filter(
        (x) => x.action.type === 'send-advert' && (priority === undefined || x.action.priority === priority),
      )
      .map((x) => x.t);
  }
}
