/**
 * static_ipaddress / static_routes / static_rules: host configuration halo sets at start and removes at stop,
 * whatever the VRRP state, with keepalived 2.2.7's semantics (vrrp_daemon.c start_vrrp / vrrp_terminate_phase1,
 * vrrp_ipaddress.c clear_diff_static_addresses, keepalived_netlink.c reinstate_static_*):
 *
 * - start: rules left by a previous run are deleted first (keepalived forces this for rules only; ENOENT is
 *   not an error), then addresses, routes and rules are added in that order. An entry the kernel already has
 *   (EEXIST) counts as set, so a restart after a crash takes it over and removes it at stop.
 * - reload: entries that left the config and were set are removed; entries still configured are kept
 *   untouched (no flap); new ones are added.
 * - stop: rules, then routes, then addresses that are set are removed (also with --dont-release-vrrp, which
 *   only concerns VIPs: keepalived always clears static entries at stop).
 * - deleted behind halo's back: a static address (unless no_track), a tracked static route (not no_track,
 *   with a dev) or a tracked static rule (not no_track) is put back and logged "Restoring deleted static
 *   ...", as keepalived does. Feed the AddressWatcher / RouteWatcher events to onAddressRemoved /
 *   onRouteRemoved / onRuleRemoved (or call watch() to have it subscribe itself).
 *
 * One failing entry never stops the others: failures are reported through the log callback and in the
 * returned report, and the entry stays unset (retried on the next reload).
 */
import type {
  HaloConfig,
  NormalisedVirtualRoute,
  NormalisedVirtualRule,
  StaticAddress,
} from '../config/model.js';
import type { AddressEvent, AddressWatcher, RouteEvent, RouteWatcher, RuleEvent } from './addr-watch.js';
import { type AddressSpec, addAddress, removeAddress } from './link.js';
import {
  addRoute,
  addRule,
  deleteRoute,
  deleteRule,
  describeRoute,
  describeRule,
  type RouteSpec,
  type RuleSpec,
  routeSpecFromConfig,
  ruleSpecFromConfig,
  samePrefix,
} from './route.js';
import type { RtNames } from './rt-names.js';

export interface StaticConfig {
  staticIpaddresses: HaloConfig['staticIpaddresses'];
  staticRoutes: HaloConfig['staticRoutes'];
  staticRules: HaloConfig['staticRules'];
}

export type StaticKind = 'address' | 'route' | 'rule';

export interface StaticLogEntry {
  level: 'info' | 'warn' | 'error';
  kind: StaticKind;
  /** e.g. 'added', 'removed', 'restored', 'failed' */
  action: 'added' | 'removed' | 'restored' | 'failed' | 'kept';
  what: string;
  message: string;
}

export interface StaticReport {
  added: string[];
  removed: string[];
  failed: { what: string; error: string }[];
}

/** What the host operations are; replaced in unit tests by a recording fake. */
export interface StaticHostOps {
  addAddress(ifname: string, spec: AddressSpec): Promise<void>;
  removeAddress(ifname: string, spec: AddressSpec): Promise<void>;
  addRoute(spec: RouteSpec): Promise<'added' | 'exists'>;
  deleteRoute(spec: RouteSpec): Promise<'deleted' | 'absent'>;
  addRule(spec: RuleSpec): Promise<'added' | 'exists'>;
  deleteRule(spec: RuleSpec): Promise<'deleted' | 'absent'>;
}

export const kernelOps: StaticHostOps = {
  addAddress,
  removeAddress,
  addRoute,
  deleteRoute,
  addRule,
  deleteRule,
};

interface Entry<S> {
  key: string;
  what: string;
  spec: S;
  /** Put back when deleted behind our back. */
  track: boolean;
  set: boolean;
}

interface AddressItem {
  dev: string;
  spec: AddressSpec;
}

/** The kernel-facing address spec of a static address (broadcast '+' computed, '-' none). */
export function staticAddressSpec(a: StaticAddress): AddressItem {
  const spec: AddressSpec = { address: a.address, prefixLength: a.prefixLength };
  if (a.broadcast && a.broadcast !== '-') {
    spec.broadcast = a.broadcast === '+' ? ipv4Broadcast(a.address, a.prefixLength) : a.broadcast;
  }
  if (a.label) spec.label = a.label;
  if (a.scope !== undefined) spec.scope = a.scope === 'nowhere' ? 255 : a.scope;
  if (a.noprefixroute) spec.noprefixroute = true;
  return { dev: a.dev, spec };
}

function ipv4Broadcast(address: string, len: number): string {
  const n = address.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const host = len >= 32 ? 0 : (0xffffffff >>> len) >>> 0;
  const b = (n | host) >>> 0;
  return [24, 16, 8, 0].map((s) => (b >>> s) & 255).join('.');
}

const stripSource = <T extends { source?: unknown }>(o: T): Omit<T, 'source'> => {
  const { source: _s, ...rest } = o;
  return rest;
};

export class StaticEntries {
  private addresses: Entry<AddressItem>[] = [];
  private routes: Entry<RouteSpec>[] = [];
  private rules: Entry<RuleSpec>[] = [];
  private stopped = false;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly log: (e: StaticLogEntry) => void = () => {},
    private readonly ops: StaticHostOps = kernelOps,
    private readonly names?: RtNames,
  ) {}

  /** Builds the entries from the config; an entry whose names do not resolve is reported and skipped. */
  private build(cfg: StaticConfig): {
    addresses: Entry<AddressItem>[];
    routes: Entry<RouteSpec>[];
    rules: Entry<RuleSpec>[];
    failed: StaticReport['failed'];
  } {
    const failed: StaticReport['failed'] = [];
    const addresses = cfg.staticIpaddresses.map((a) => {
      const item = staticAddressSpec(a);
      return {
        key: JSON.stringify(stripSource(a)),
        what: `${a.address}/${a.prefixLength} dev ${a.dev}`,
        spec: item,
        track: !a.noTrack,
        set: false,
      };
    });
    const routes: Entry<RouteSpec>[] = [];
    for (const r of cfg.staticRoutes) {
      try {
        const spec = routeSpecFromConfig(r as NormalisedVirtualRoute, this.names);
        routes.push({
          key: JSON.stringify(spec),
          what: describeRoute(spec),
          spec,
          track: !r.noTrack && !!r.dev,
          set: false,
        });
      } catch (err) {
        failed.push(this.fail('route', `${r.destination}`, err));
      }
    }
    const rules: Entry<RuleSpec>[] = [];
    for (const r of cfg.staticRules) {
      try {
        const spec = ruleSpecFromConfig(r as NormalisedVirtualRule, this.names);
        rules.push({
          key: JSON.stringify(spec),
          what: describeRule(spec),
          spec,
          track: !r.noTrack,
          set: false,
        });
      } catch (err) {
        failed.push(this.fail('rule', `preference ${r.priority}`, err));
      }
    }
    return { addresses, routes, rules, failed };
  }

  private fail(kind: StaticKind, what: string, err: unknown): { what: string; error: string } {
    const error = err instanceof Error ? err.message : String(err);
    this.log({ level: 'error', kind, action: 'failed', what, message: `static ${kind} ${what}: ${error}` });
    return { what: `${kind} ${what}`, error };
  }

  /** Sets every static entry (start of the daemon). */
  async start(cfg: StaticConfig): Promise<StaticReport> {
    this.stopped = false;
    const built = this.build(cfg);
    const report: StaticReport = { added: [], removed: [], failed: built.failed };
    // keepalived clears leftover static rules (and only rules) before adding, so duplicates cannot pile up.
    for (const r of built.rules) {
      try {
        await this.ops.deleteRule(r.spec);
      } catch {
        // ENOENT is absorbed by deleteRule; anything else shows up again on the add below.
      }
    }
    this.addresses = built.addresses;
    this.routes = built.routes;
    this.rules = built.rules;
    await this.addAll(report);
    return report;
  }

  /** Applies a new config: removes what left it, keeps what stayed, adds what is new. */
  async reload(cfg: StaticConfig): Promise<StaticReport> {
    const built = this.build(cfg);
    const report: StaticReport = { added: [], removed: [], failed: built.failed };
    const carry = <S>(old: Entry<S>[], next: Entry<S>[]) => {
      const keys = new Set(next.map((e) => e.key));
      const byKey = new Map(old.map((e) => [e.key, e]));
      for (const e of next) e.set = byKey.get(e.key)?.set ?? false;
      return old.filter((e) => !keys.has(e.key) && e.set);
    };
    const goneRules = carry(this.rules, built.rules);
    const goneRoutes = carry(this.routes, built.routes);
    const goneAddresses = carry(this.addresses, built.addresses);
    for (const e of goneRules) await this.remove('rule', e, report);
    for (const e of goneRoutes) await this.remove('route', e, report);
    for (const e of goneAddresses) await this.remove('address', e, report);
    this.addresses = built.addresses;
    this.routes = built.routes;
    this.rules = built.rules;
    await this.addAll(report);
    return report;
  }

  /** Removes every static entry halo set (stop of the daemon). */
  async stop(): Promise<StaticReport> {
    this.stopped = true;
    this.unwatch?.();
    const report: StaticReport = { added: [], removed: [], failed: [] };
    for (const e of this.rules) if (e.set) await this.remove('rule', e, report);
    for (const e of this.routes) if (e.set) await this.remove('route', e, report);
    for (const e of this.addresses) if (e.set) await this.remove('address', e, report);
    return report;
  }

  private async addAll(report: StaticReport): Promise<void> {
    for (const e of this.addresses) if (!e.set) await this.add('address', e, report);
    for (const e of this.routes) if (!e.set) await this.add('route', e, report);
    for (const e of this.rules) if (!e.set) await this.add('rule', e, report);
  }

  private async add(
    kind: StaticKind,
    e: Entry<unknown>,
    report: StaticReport,
    restoring = false,
  ): Promise<void> {
    try {
      if (kind === 'address') {
        const a = e.spec as AddressItem;
        await this.ops.addAddress(a.dev, a.spec);
      } else if (kind === 'route') await this.ops.addRoute(e.spec as RouteSpec);
      else await this.ops.addRule(e.spec as RuleSpec);
      e.set = true;
      report.added.push(`${kind} ${e.what}`);
      this.log({
        level: restoring ? 'warn' : 'info',
        kind,
        action: restoring ? 'restored' : 'added',
        what: e.what,
        message: restoring ? `Restoring deleted static ${kind} ${e.what}` : `static ${kind} ${e.what} set`,
      });
    } catch (err) {
      e.set = false;
      report.failed.push(this.fail(kind, e.what, err));
    }
  }

  private async remove(kind: StaticKind, e: Entry<unknown>, report: StaticReport): Promise<void> {
    try {
      if (kind === 'address') {
        const a = e.spec as AddressItem;
        await this.ops.removeAddress(a.dev, a.spec);
      } else if (kind === 'route') await this.ops.deleteRoute(e.spec as RouteSpec);
      else await this.ops.deleteRule(e.spec as RuleSpec);
      e.set = false;
      report.removed.push(`${kind} ${e.what}`);
      this.log({
        level: 'info',
        kind,
        action: 'removed',
        what: e.what,
        message: `static ${kind} ${e.what} removed`,
      });
    } catch (err) {
      report.failed.push(this.fail(kind, e.what, err));
    }
  }

  /** An address was removed: if it is a tracked static address halo set, put it back. */
  async onAddressRemoved(ev: Pick<AddressEvent, 'ifname' | 'address' | 'prefixLength'>): Promise<boolean> {
    if (this.stopped) return false;
    const e = this.addresses.find(
      (x) =>
        x.set &&
        x.track &&
        x.spec.dev === ev.ifname &&
        x.spec.spec.address === ev.address &&
        x.spec.spec.prefixLength === ev.prefixLength,
    );
    if (!e) return false;
    e.set = false;
    await this.add('address', e, { added: [], removed: [], failed: [] }, true);
    return true;
  }

  /**
   * A route was removed: if it is a tracked static route halo set, put it back. Matched as keepalived's
   * route_is_ours does for static routes: family, table, destination (address and length) and tos.
   */
  async onRouteRemoved(ev: Pick<RouteEvent, 'route'>): Promise<boolean> {
    if (this.stopped) return false;
    const r = ev.route;
    const e = this.routes.find((x) => {
      const s = x.spec;
      return (
        x.set &&
        x.track &&
        s.family === r.family &&
        (s.table ?? 254) === r.table &&
        (s.tos ?? 0) === r.tos &&
        samePrefix(s.destination, r.destination, s.family)
      );
    });
    if (!e) return false;
    e.set = false;
    await this.add('route', e, { added: [], removed: [], failed: [] }, true);
    return true;
  }

  /** A rule was removed: if it is a tracked static rule halo set, put it back. */
  async onRuleRemoved(ev: Pick<RuleEvent, 'rule'>): Promise<boolean> {
    if (this.stopped) return false;
    const r = ev.rule;
    const e = this.rules.find((x) => {
      const s = x.spec;
      return (
        x.set &&
        x.track &&
        s.family === r.family &&
        s.priority === r.priority &&
        s.action === r.action &&
        (s.action !== 'table' || (s.table ?? 254) === r.table) &&
        samePrefix(s.from ?? 'all', r.from ?? 'all', s.family) &&
        samePrefix(s.to ?? 'all', r.to ?? 'all', s.family) &&
        (s.fwmark ?? undefined) === r.fwmark &&
        (s.iif ?? undefined) === r.iif &&
        (s.oif ?? undefined) === r.oif
      );
    });
    if (!e) return false;
    e.set = false;
    await this.add('rule', e, { added: [], removed: [], failed: [] }, true);
    return true;
  }

  /** Subscribes to watchers so deletions are repaired; stop() unsubscribes. */
  watch(addresses?: AddressWatcher, routes?: RouteWatcher): void {
    this.unwatch?.();
    const onAddr = (ev: AddressEvent) => {
      if (ev.type === 'removed') void this.onAddressRemoved(ev);
    };
    const onRoute = (ev: RouteEvent) => {
      if (ev.type === 'removed') void this.onRouteRemoved(ev);
    };
    const onRule = (ev: RuleEvent) => {
      if (ev.type === 'removed') void this.onRuleRemoved(ev);
    };
    addresses?.on('address', onAddr);
    routes?.on('route', onRoute);
    routes?.on('rule', onRule);
    this.unwatch = () => {
      addresses?.off('address', onAddr);
      routes?.off('route', onRoute);
      routes?.off('rule', onRule);
      this.unwatch = undefined;
    };
  }

  /** What halo currently holds (for status / tests). */
  state(): { addresses: string[]; routes: string[]; rules: string[] } {
    const set = <S>(l: Entry<S>[]) => l.filter((e) => e.set).map((e) => e.what);
    return { addresses: set(this.addresses), routes: set(this.routes), rules: set(this.rules) };
  }
}
