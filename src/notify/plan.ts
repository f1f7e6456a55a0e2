/**
 * The alert plan: everything the mail and FIFO channels need from the config, built by a
 * pure function from the normalised model. It is the only reader of these config fields:
 *
 *  global: routerId, notificationEmail, notificationEmailFrom, smtpServer, smtpHeloName,
 *          smtpConnectTimeoutMs, noEmailFaults, noCheckerEmails, notifyFifo, vrrpNotifyFifo,
 *          lvsNotifyFifo, scriptUser, enableScriptSecurity
 *  (smtpAlert / smtpAlertVrrp / smtpAlertChecker are resolved into the per-object flags by
 *  normalisation, as keepalived resolves them at config load)
 *  vrrpInstances[]: name, smtpAlert        syncGroups[]: name, smtpAlert
 *  virtualServers[]: address/fwmark/group, port, protocol, smtpAlert, omega, quorum, hysteresis
 *  virtualServers[].realServers[]: address, port, smtpAlert
 */
import type { HaloConfig, NotifyFifo } from '../config/model.js';
import { formatRealServer, formatVirtualServer, type VirtualServerRef } from './events.js';

export interface MailPlan {
  server: { host: string; port: number };
  heloName: string;
  from: string;
  to: string[];
  /** smtp_connect_timeout: for the connection and for each reply, as keepalived. */
  timeoutMs: number;
}

/** Which events a FIFO carries: VRRP lines, checker (LVS) lines, or both. */
export type FifoSource = 'vrrp' | 'lvs';

export interface FifoPlan {
  path: string;
  /** Owner given to the FIFO when halo creates it (notify_fifo PATH [user [group]]). */
  user?: string;
  group?: string;
  /** notify_fifo_script: started with the FIFO's path as its last argument, stopped (SIGTERM) at close. */
  script?: { command: string; user?: string; group?: string };
  sources: ReadonlySet<FifoSource>;
  /** The keyword it came from, for messages. */
  keyword: 'notify_fifo' | 'vrrp_notify_fifo' | 'lvs_notify_fifo';
}

export interface VirtualServerAlertPlan {
  smtpAlert: boolean;
  omega: boolean;
  quorum: number;
  hysteresis: number;
  /** By keepalived's FMT_RS text. */
  realServers: ReadonlyMap<string, { smtpAlert: boolean }>;
}

export interface AlertPlan {
  routerId: string;
  /** undefined: no mail at all (keepalived sends none without notification_email and smtp_server). */
  mail?: MailPlan;
  noEmailFaults: boolean;
  noCheckerEmails: boolean;
  instances: ReadonlyMap<string, { smtpAlert: boolean }>;
  syncGroups: ReadonlyMap<string, { smtpAlert: boolean }>;
  /** By keepalived's FMT_VS text. */
  virtualServers: ReadonlyMap<string, VirtualServerAlertPlan>;
  /** One entry per distinct FIFO path. */
  fifos: FifoPlan[];
  /** Default user/group for FIFO scripts and whether insecure scripts are refused. */
  scriptUser?: { user: string; group?: string };
  enforceScriptSecurity: boolean;
  /** Config combinations keepalived resolves with a log line; the notifier logs them at start. */
  notes: string[];
}

/** The host facts keepalived's defaults use (router_id, the From address and the HELO name). */
export interface LocalHost {
  hostname: string;
  username: string;
}

export function virtualServerRef(vs: HaloConfig['virtualServers'][number]): VirtualServerRef {
  if (vs.fwmark !== undefined) return { fwmark: vs.fwmark, protocol: vs.protocol };
  if (vs.group !== undefined) return { group: vs.group, port: vs.port, protocol: vs.protocol };
  return { address: vs.address ?? '', port: vs.port, protocol: vs.protocol };
}

function fifoPlan(f: NotifyFifo, keyword: FifoPlan['keyword'], sources: FifoSource[]): FifoPlan {
  return {
    path: f.path,
    user: f.user,
    group: f.group,
    script: f.script ? { command: f.script, user: f.scriptUser, group: f.scriptGroup } : undefined,
    sources: new Set(sources),
    keyword,
  };
}

/**
 * keepalived 2.2.7 (global_data.c): a vrrp_ or lvs_ FIFO on the global FIFO's path is ignored
 * (else every line would be written twice); vrrp_ and lvs_ FIFOs on one path are one FIFO that
 * carries both, and when both have a script the VRRP one runs.
 */
function planFifos(g: HaloConfig['global'], notes: string[]): FifoPlan[] {
  const out: FifoPlan[] = [];
  if (g.notifyFifo) out.push(fifoPlan(g.notifyFifo, 'notify_fifo', ['vrrp', 'lvs']));
  let vrrp: FifoPlan | undefined;
  if (g.vrrpNotifyFifo) {
    if (g.notifyFifo?.path === g.vrrpNotifyFifo.path)
      notes.push(
        `notify FIFO ${g.vrrpNotifyFifo.path} has been specified for global and vrrp FIFO - ignoring vrrp FIFO`,
      );
    else {
      vrrp = fifoPlan(g.vrrpNotifyFifo, 'vrrp_notify_fifo', ['vrrp']);
      out.push(vrrp);
    }
  }
  if (g.lvsNotifyFifo) {
    if (g.notifyFifo?.path === g.lvsNotifyFifo.path)
      notes.push(
        `notify FIFO ${g.lvsNotifyFifo.path} has been specified for global and LVS FIFO - ignoring LVS FIFO`,
      );
    else if (vrrp && vrrp.path === g.lvsNotifyFifo.path) {
      (vrrp.sources as Set<FifoSource>).add('lvs');
      if (g.lvsNotifyFifo.script && vrrp.script)
        notes.push('LVS notify FIFO and vrrp FIFO are the same both with scripts - ignoring LVS FIFO script');
      else if (g.lvsNotifyFifo.script) vrrp.script = fifoPlan(g.lvsNotifyFifo, 'lvs_notify_fifo', []).script;
    } else out.push(fifoPlan(g.lvsNotifyFifo, 'lvs_notify_fifo', ['lvs']));
  }
  return out;
}

export function buildAlertPlan(config: HaloConfig, host: LocalHost): AlertPlan {
  const g = config.global;
  const notes: string[] = [];
  const mail: MailPlan | undefined =
    g.notificationEmail.length > 0 && g.smtpServer
      ? {
          server: { host: g.smtpServer.host, port: g.smtpServer.port },
          heloName: g.smtpHeloName ?? host.hostname,
          from: g.notificationEmailFrom ?? `${host.username}@${host.hostname}`,
          to: [...g.notificationEmail],
          timeoutMs: g.smtpConnectTimeoutMs,
        }
      : undefined;
  const virtualServers = new Map<string, VirtualServerAlertPlan>();
  for (const vs of config.virtualServers) {
    const ref = virtualServerRef(vs);
    virtualServers.set(formatVirtualServer(ref), {
      smtpAlert: vs.smtpAlert,
      omega: vs.omega,
      quorum: vs.quorum,
      hysteresis: vs.hysteresis,
      realServers: new Map(
        vs.realServers.map((rs) => [formatRealServer(rs, ref), { smtpAlert: rs.smtpAlert }] as const),
      ),
    });
  }
  return {
    routerId: g.routerId ?? host.hostname,
    mail,
    noEmailFaults: g.noEmailFaults,
    noCheckerEmails: g.noCheckerEmails,
    instances: new Map(config.vrrpInstances.map((vi) => [vi.name, { smtpAlert: vi.smtpAlert }] as const)),
    syncGroups: new Map(config.syncGroups.map((sg) => [sg.name, { smtpAlert: sg.smtpAlert }] as const)),
    virtualServers,
    fifos: planFifos(g, notes),
    scriptUser: g.scriptUser,
    enforceScriptSecurity: g.enableScriptSecurity,
    notes,
  };
}
