/**
 * Prometheus metrics (prom-client), served over HTTP only when the operator asks (`--metrics ADDR`, or
 * `--http ADDR` with the status page): the server is src/daemon/http.ts.
 *
 * Address policy: a bare port ("9650") or an empty host binds 127.0.0.1. Any other address is used as given
 * (the operator typed it: maybe a management VLAN address behind a firewall); the server's `exposure`
 * reports whether it is reachable from off the host so halo can log a warning. Metrics are read-only and
 * carry no secrets, but they do reveal topology (VIPs, real servers, states).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { IpvsOp, VrrpState } from './log.js';

/** keepalived's SNMP numbering (vrrpInstanceState): init 0, backup 1, master 2, fault 3; stop is ours. */
export const VRRP_STATE_NUMBER: Record<VrrpState, number> = {
  INIT: 0,
  BACKUP: 1,
  MASTER: 2,
  FAULT: 3,
  STOP: 4,
};
const STATES = Object.keys(VRRP_STATE_NUMBER) as VrrpState[];

export type CheckResult = 'success' | 'failure' | 'timeout';
export type ReloadOutcome = 'applied' | 'rejected';

export interface HaloMetricsOptions {
  /** Node/process default metrics (halo_process_*, halo_nodejs_*): on by default. */
  defaultMetrics?: boolean;
}

/**
 * The registry and one recording method per thing halo counts. Label values: `instance` is the VRRP
 * instance name; `virtual_server`/`real_server` use log.ts formatService() text ("[10.0.0.2]:tcp:80") so
 * metrics, logs and `halo status` name services the same way.
 */
export class HaloMetrics {
  readonly registry = new Registry();

  readonly vrrpState = new Gauge({
    name: 'halo_vrrp_state',
    help: 'VRRP instance state as a number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpStateInfo = new Gauge({
    name: 'halo_vrrp_state_info',
    help: 'VRRP instance state as a state set: 1 for the current state, 0 for the others',
    labelNames: ['instance', 'state'] as const,
    registers: [this.registry],
  });
  readonly vrrpTransitions = new Counter({
    name: 'halo_vrrp_transitions_total',
    help: 'VRRP state transitions by target state',
    labelNames: ['instance', 'to'] as const,
    registers: [this.registry],
  });
  readonly vrrpAdvertsSent = new Counter({
    name: 'halo_vrrp_adverts_sent_total',
    help: 'VRRP advertisements sent',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpAdvertsReceived = new Counter({
    name: 'halo_vrrp_adverts_received_total',
    help: 'VRRP advertisements received and accepted',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpAdvertsDropped = new Counter({
    name: 'halo_vrrp_adverts_dropped_total',
    help: 'VRRP advertisements dropped, by reason',
    labelNames: ['instance', 'reason'] as const,
    registers: [this.registry],
  });
  readonly vrrpPeerDrift = new Gauge({
    name: 'halo_vrrp_peer_drift',
    help: 'A peer advertises another VIP list than this instance has (config drift between the pair): 1 yes, 0 no',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpPeerDriftEvents = new Counter({
    name: 'halo_vrrp_peer_drift_total',
    help: 'Times a peer was seen advertising another VIP list than this instance has',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpSplitBrain = new Gauge({
    name: 'halo_vrrp_split_brain',
    help: 'Another router advertises as MASTER beside this MASTER (two masters): 1 yes, 0 no',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpSplitBrainEvents = new Counter({
    name: 'halo_vrrp_split_brain_total',
    help: 'Two-master episodes seen by this MASTER',
    labelNames: ['instance'] as const,
    registers: [this.registry],
  });
  readonly vrrpDriftRepairs = new Counter({
    name: 'halo_vrrp_drift_repairs_total',
    help: 'VIPs and virtual routes changed behind halo and put right (vip-restored, vip-removed, route-restored)',
    labelNames: ['instance', 'what'] as const,
    registers: [this.registry],
  });
  readonly checkResults = new Counter({
    name: 'halo_check_results_total',
    help: 'Health check attempts by result',
    labelNames: ['virtual_server', 'real_server', 'checker', 'result'] as const,
    registers: [this.registry],
  });
  readonly checkDuration = new Histogram({
    name: 'halo_check_duration_seconds',
    help: 'Health check attempt duration',
    labelNames: ['checker'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly realServerUp = new Gauge({
    name: 'halo_real_server_up',
    help: 'Real server health: 1 up, 0 down',
    labelNames: ['virtual_server', 'real_server'] as const,
    registers: [this.registry],
  });
  readonly ipvsOperations = new Counter({
    name: 'halo_ipvs_operations_total',
    help: 'IPVS changes made in the kernel, by operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly ipvsDriftRepairs = new Counter({
    name: 'halo_ipvs_drift_repairs_total',
    help: 'IPVS entries changed behind halo and put back',
    registers: [this.registry],
  });
  readonly bgpRouteAnnounced = new Gauge({
    name: 'halo_bgp_route_announced',
    help: 'BGP: 1 while halo has the speaker announce this VIP prefix, 0 while withdrawn',
    labelNames: ['prefix'] as const,
    registers: [this.registry],
  });
  readonly bgpRouteChanges = new Counter({
    name: 'halo_bgp_route_changes_total',
    help: 'BGP announcements and withdrawals halo asked the speaker for',
    labelNames: ['prefix', 'action'] as const,
    registers: [this.registry],
  });
  readonly bgpSessionUp = new Gauge({
    name: 'halo_bgp_session_up',
    help: "BGP sessions of halo's speaker: 1 Established, 0 otherwise",
    labelNames: ['session', 'neighbor'] as const,
    registers: [this.registry],
  });
  readonly bgpSpeakerUp = new Gauge({
    name: 'halo_bgp_speaker_up',
    help: "1 while halo can reach its BGP speaker's control socket",
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'halo_config_reloads_total',
    help: 'Configuration reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(opts: HaloMetricsOptions = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'halo_' });
  }

  setVrrpState(instance: string, state: VrrpState): void {
    this.vrrpState.set({ instance }, VRRP_STATE_NUMBER[state]);
    for (const s of STATES) this.vrrpStateInfo.set({ instance, state: s }, s === state ? 1 : 0);
  }
  /** A transition: counts it and updates the state gauges. */
  recordTransition(instance: string, to: VrrpState): void {
    this.vrrpTransitions.inc({ instance, to });
    this.setVrrpState(instance, to);
  }
  splitBrain(instance: string, on: boolean): void {
    this.vrrpSplitBrain.set({ instance }, on ? 1 : 0);
    if (on) this.vrrpSplitBrainEvents.inc({ instance });
  }
  driftRepaired(instance: string, what: string): void {
    this.vrrpDriftRepairs.inc({ instance, what });
  }
  /** A peer's VIP list started (true) or stopped (false) differing from ours. */
  peerDrift(instance: string, drifting: boolean): void {
    this.vrrpPeerDrift.set({ instance }, drifting ? 1 : 0);
    if (drifting) this.vrrpPeerDriftEvents.inc({ instance });
  }
  advertSent(instance: string, n = 1): void {
    this.vrrpAdvertsSent.inc({ instance }, n);
  }
  advertReceived(instance: string, n = 1): void {
    this.vrrpAdvertsReceived.inc({ instance }, n);
  }
  advertDropped(instance: string, reason: string, n = 1): void {
    this.vrrpAdvertsDropped.inc({ instance, reason }, n);
  }
  checkResult(
    virtualServer: string,
    realServer: string,
    checker: string,
    result: CheckResult,
    durationSeconds?: number,
  ): void {
    this.checkResults.inc({ virtual_server: virtualServer, real_server: realServer, checker, result });
    if (durationSeconds !== undefined) this.checkDuration.observe({ checker }, durationSeconds);
  }
  setRealServerUp(virtualServer: string, realServer: string, up: boolean): void {
    this.realServerUp.set({ virtual_server: virtualServer, real_server: realServer }, up ? 1 : 0);
  }
  ipvsOperation(op: IpvsOp, n = 1): void {
    this.ipvsOperations.inc({ op }, n);
  }
  ipvsDriftRepaired(n = 1): void {
    this.ipvsDriftRepairs.inc(n);
  }
  configReload(result: ReloadOutcome): void {
    this.configReloads.inc({ result });
  }

  bgpRoute(prefix: string, announced: boolean, changed: boolean): void {
    this.bgpRouteAnnounced.set({ prefix }, announced ? 1 : 0);
    if (changed) this.bgpRouteChanges.inc({ prefix, action: announced ? 'announce' : 'withdraw' });
  }
  bgpSession(session: string, neighbor: string, up: boolean): void {
    this.bgpSessionUp.set({ session, neighbor }, up ? 1 : 0);
  }
  bgpSpeaker(up: boolean): void {
    this.bgpSpeakerUp.set(up ? 1 : 0);
  }

  /** After a reload removed an instance: drop its series so dashboards don't show a ghost. */
  forgetInstance(instance: string): void {
    this.vrrpState.remove({ instance });
    for (const s of STATES) this.vrrpStateInfo.remove({ instance, state: s });
  }
  /** After a reload removed a real server. */
  forgetRealServer(virtualServer: string, realServer: string): void {
    this.realServerUp.remove({ virtual_server: virtualServer, real_server: realServer });
  }

  /** Text exposition (what /metrics serves). */
  async render(): Promise<string> {
    return this.registry.metrics();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Addresses: in http-address.ts (no prom-client), re-exported here for existing importers.

export {
  DEFAULT_METRICS_PORT,
  isLoopback,
  type MetricsAddress,
  parseMetricsAddress,
  parseMetricsArgs,
} from './http-address.js';
