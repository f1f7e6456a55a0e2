/**
 * A VRRP instance's virtual_routes and virtual_rules, following its state as keepalived 2.2.7 does
 * (vrrp.c vrrp_state_become_master / vrrp_restore_interface, keepalived_netlink.c netlink_route_filter):
 *
 * - becoming MASTER: after the VIPs, add the routes, then the rules;
 * - leaving MASTER (BACKUP, FAULT, stop): remove the rules, then the routes, then (the caller) the VIPs;
 * - a tracked route or rule (not no_track; a route also needs a dev) deleted behind halo's back while MASTER
 *   makes keepalived drop the instance to BACKUP (set_vrrp_backup). onRouteRemoved / onRuleRemoved say whether
 *   an event is such a loss; the engine decides what to do (keepalived's choice, or put it back).
 *
 * A route or rule that fails is reported and the others still go in; `held()` says what is set.
 */
import type { NormalisedVirtualRoute, NormalisedVirtualRule } from '../config/model.js';
import type { RouteEvent, RuleEvent } from './addr-watch.js';
import {
  describeRoute,
  describeRule,
  type RouteSpec,
  type RuleSpec,
  routeSpecFromConfig,
  ruleSpecFromConfig,
  samePrefix,
} from './route.js';
import type { RtNames } from './rt-names.js';
import { kernelOps, type StaticHostOps } from './static-entries.js';

export interface InstanceRouteLog {
  level: 'info' | 'warn' | 'error';
  message: string;
}

interface Item<S> {
  spec: S;
  what: string;
  track: boolean;
  set: boolean;
}

export class InstanceRoutes {
  private readonly routes: Item<RouteSpec>[] = [];
  private readonly rules: Item<RuleSpec>[] = [];

  constructor(
    readonly instance: string,
    routes: NormalisedVirtualRoute[],
    rules: NormalisedVirtualRule[],
    private readonly log: (e: InstanceRouteLog) => void = () => {},
    private readonly ops: Pick<
      StaticHostOps,
      'addRoute' | 'deleteRoute' | 'addRule' | 'deleteRule'
    > = kernelOps,
    names?: RtNames,
  ) {
    for (const r of routes) {
      try {
        const spec = routeSpecFromConfig(r, names);
        this.routes.push({ spec, what: describeRoute(spec), track: !r.noTrack && !!r.dev, set: false });
      } catch (err) {
        this.log({
          level: 'error',
          message: `(${instance}) virtual route ${r.destination}: ${(err as Error).message}`,
        });
      }
    }
    for (const r of rules) {
      try {
        const spec = ruleSpecFromConfig(r, names);
        this.rules.push({ spec, what: describeRule(spec), track: !r.noTrack, set: false });
      } catch (err) {
        this.log({
          level: 'error',
          message: `(${instance}) virtual rule ${r.priority}: ${(err as Error).message}`,
        });
      }
    }
  }

  /** Adds the routes, then the rules (call after the VIPs are set). */
  async becomeMaster(): Promise<void> {
    for (const r of this.routes) {
      try {
        await this.ops.addRoute(r.spec);
        r.set = true;
      } catch (err) {
        r.set = false;
        this.log({ level: 'error', message: `(${this.instance}) ${(err as Error).message}` });
      }
    }
    for (const r of this.rules) {
      try {
        await this.ops.addRule(r.spec);
        r.set = true;
      } catch (err) {
        r.set = false;
        this.log({ level: 'error', message: `(${this.instance}) ${(err as Error).message}` });
      }
    }
  }

  /**
   * Removes the rules, then the routes (call before removing the VIPs). `force` removes them even if this
   * process did not set them (--dont-release-vrrp at start, or a predecessor's leftovers).
   */
  async leaveMaster(force = false): Promise<void> {
    for (const r of this.rules) {
      if (!r.set && !force) continue;
      try {
        await this.ops.deleteRule(r.spec);
      } catch (err) {
        this.log({ level: 'error', message: `(${this.instance}) ${(err as Error).message}` });
      }
      r.set = false;
    }
    for (const r of this.routes) {
      if (!r.set && !force) continue;
      try {
        await this.ops.deleteRoute(r.spec);
      } catch (err) {
        this.log({ level: 'error', message: `(${this.instance}) ${(err as Error).message}` });
      }
      r.set = false;
    }
  }

  /** True when the event removed a tracked route this instance set (it is marked unset). */
  onRouteRemoved(ev: Pick<RouteEvent, 'route'>): boolean {
    const r = ev.route;
    const hit = this.routes.find(
      (x) =>
        x.set &&
        (x.spec.table ?? 254) === r.table &&
        x.spec.family === r.family &&
        (x.spec.metric ?? (r.family === 6 ? 1024 : 0)) === (r.metric ?? 0) &&
        (x.spec.tos ?? 0) === r.tos &&
        samePrefix(x.spec.destination, r.destination, r.family),
    );
    if (!hit) return false;
    hit.set = false;
    if (!hit.track) return false;
    this.log({ level: 'warn', message: `(${this.instance}) tracked virtual route ${hit.what} was removed` });
    return true;
  }

  /** True when the event removed a tracked rule this instance set (it is marked unset). */
  onRuleRemoved(ev: Pick<RuleEvent, 'rule'>): boolean {
    const r = ev.rule;
    const hit = this.rules.find(
      (x) =>
        x.set && x.spec.family === r.family && x.spec.priority === r.priority && x.spec.action === r.action,
    );
    if (!hit) return false;
    hit.set = false;
    if (!hit.track) return false;
    this.log({ level: 'warn', message: `(${this.instance}) tracked virtual rule ${hit.what} was removed` });
    return true;
  }

  held(): { routes: string[]; rules: string[] } {
    return {
      routes: this.routes.filter((r) => r.set).map((r) => r.what),
      rules: this.rules.filter((r) => r.set).map((r) => r.what),
    };
  }
}
