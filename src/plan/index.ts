/**
 * One plan per engine, each built by a pure function from the normalised config model; the engines
 * read their plan and never the config. A reload is a diff of two plans by typed id.
 */
import { type BgpPlan, buildBgpPlan } from '../bgp/plan.js';
import type { HaloConfig } from '../config/model.js';
import type { StaticConfig } from '../net/static-entries.js';
import { type AlertPlan, buildAlertPlan, type LocalHost, localHost } from '../notify/index.js';
import { buildCheckPlan } from './check.js';
import { buildIpvsPlan, type IpvsPlan } from './ipvs.js';
import { type PartScheduling, schedulingOf } from './scheduling.js';
import { buildVrrpPlan, type VrrpPlan } from './vrrp.js';

export interface Plans {
  readonly vrrp: VrrpPlan;
  readonly check: ReturnType<typeof buildCheckPlan>;
  readonly ipvs: IpvsPlan;
  /** Mails and notify FIFOs (src/notify), fed by both engines' events. */
  readonly alerts: AlertPlan;
  /** BGP announcements (src/bgp); undefined without a bgp block. */
  readonly bgp: BgpPlan | undefined;
  /** static_ipaddress / static_routes / static_rules: set at start, kept, removed at stop. */
  readonly statics: StaticConfig;
  /** checker_rt_priority & co.: the main thread's scheduling (it runs the checks and IPVS). */
  readonly checkerScheduling: PartScheduling;
}

/** `host` (the host name and user keepalived's mail defaults use) is the one host fact; tests pass it. */
export function buildPlans(cfg: HaloConfig, host: LocalHost = localHost()): Plans {
  return {
    vrrp: buildVrrpPlan(cfg),
    check: buildCheckPlan(cfg),
    ipvs: buildIpvsPlan(cfg),
    alerts: buildAlertPlan(cfg, host),
    bgp: buildBgpPlan(cfg),
    statics: {
      staticIpaddresses: cfg.staticIpaddresses,
      staticRoutes: cfg.staticRoutes,
      staticRules: cfg.staticRules,
    },
    checkerScheduling: schedulingOf(cfg.global, 'checker'),
  };
}
