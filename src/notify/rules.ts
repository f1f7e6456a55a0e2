/**
 * keepalived 2.2.7's words and rules for alerts, without I/O: which event becomes which
 * notify FIFO line (vrrp_notify.c notify_fifo, ipwrapper.c notify_fifo_vs/_rs) and which
 * becomes a mail, with what subject and body (core/smtp.c smtp_alert, vrrp_notify.c
 * vrrp_smtp_notifier, check_*.c, ipwrapper.c do_vs_notifies / clear_service_rs).
 */
import { escapeBare, escapeLine, escapeQuoted } from './escape.js';
import {
  type AlertEvent,
  type CheckerEvent,
  type CheckerKind,
  formatRealServer,
  formatVirtualServer,
  type GroupNotifyState,
  type InstanceNotifyState,
} from './events.js';
import type { AlertPlan, FifoSource } from './plan.js';

export interface Mail {
  subject: string;
  body: string;
}

export interface FifoLine {
  source: FifoSource;
  /** One line, ending in "\n", with every name escaped (see escape.ts). */
  line: string;
}

/** The notify FIFO line for an event, or undefined (checker results and omega-less stops write none). */
export function fifoLine(event: AlertEvent, plan: AlertPlan): FifoLine | undefined {
  switch (event.type) {
    case 'vrrp-instance':
      return vrrpLine('INSTANCE', event.instance, event.state, event.priority);
    case 'vrrp-group':
      // keepalived prints 0 as a group's priority.
      return vrrpLine('GROUP', event.group, event.state, 0);
    case 'vrrp-master-rx-lower-pri':
      return vrrpLine('INSTANCE', event.instance, 'MASTER_RX_LOWER_PRI', event.priority);
    case 'real-server':
    case 'real-server-removed': {
      if (event.type === 'real-server-removed' && event.stopping && !omega(plan, event.virtualServer))
        return undefined;
      const up = event.type === 'real-server' && event.up;
      const rs = escapeBare(formatRealServer(event.realServer, event.virtualServer));
      const vs = escapeBare(formatVirtualServer(event.virtualServer));
      return { source: 'lvs', line: `RS ${rs} ${vs} ${up ? 'UP' : 'DOWN'}\n` };
    }
    case 'quorum':
      if (event.stopping && !omega(plan, event.virtualServer)) return undefined;
      return {
        source: 'lvs',
        line: `VS ${escapeBare(formatVirtualServer(event.virtualServer))} ${event.up ? 'UP' : 'DOWN'}\n`,
      };
    case 'checker':
      return undefined;
  }
}

function vrrpLine(type: 'INSTANCE' | 'GROUP', name: string, state: string, priority: number): FifoLine {
  return { source: 'vrrp', line: `${type} "${escapeQuoted(name)}" ${state} ${priority}\n` };
}

function omega(plan: AlertPlan, vs: Parameters<typeof formatVirtualServer>[0]): boolean {
  return plan.virtualServers.get(formatVirtualServer(vs))?.omega ?? false;
}

const INSTANCE_MAIL: Record<InstanceNotifyState, Mail> = {
  MASTER: { subject: 'Entering MASTER state', body: '=> VRRP Instance is now owning VRRP VIPs <=' },
  BACKUP: { subject: 'Entering BACKUP state', body: '=> VRRP Instance is no longer owning VRRP VIPs <=' },
  FAULT: { subject: 'Entering FAULT state', body: '=> VRRP Instance is no longer owning VRRP VIPs <=' },
  STOP: { subject: 'Stopping', body: '=> VRRP Instance stopping <=' },
  DELETED: { subject: 'Deleted', body: '=> VRRP Deleted at reload <=' },
};

const GROUP_MAIL: Record<GroupNotifyState, Mail> = {
  MASTER: {
    subject: 'Entering MASTER state',
    body: '=> All VRRP group instances are now in MASTER state <=',
  },
  BACKUP: {
    subject: 'Entering BACKUP state',
    body: '=> All VRRP group instances are now in BACKUP state <=',
  },
  FAULT: { subject: 'Entering FAULT state', body: '=> All VRRP group instances are now in FAULT state <=' },
  STOP: { subject: 'Stopping', body: '=> All VRRP group instances are now stopping <=' },
};

/** The body each checker sends (its check_*.c), by result. */
function checkerBody(kind: CheckerKind, e: CheckerEvent): string | undefined {
  const ok = e.up;
  switch (kind) {
    case 'TCP_CHECK':
      return ok ? '=> TCP CHECK succeed on service <=' : '=> TCP CHECK failed on service <=';
    case 'HTTP_GET':
    case 'SSL_GET':
      return ok ? '=> CHECK succeed on service <=' : '=> CHECK failed on service : HTTP request failed <=';
    case 'MISC_CHECK':
      return `=> MISC CHECK ${ok ? 'succeeded' : e.timedOut ? 'timed out' : 'failed'} on service <=`;
    case 'PING_CHECK':
      return ok ? '=> ICMP CHECK succeed on service <=' : '=> ICMP CHECK failed on service <=';
    case 'UDP_CHECK':
      return ok ? '=> UDP CHECK succeed on service <=' : '=> UDP CHECK failed on service <=';
    case 'DNS_CHECK':
      return ok ? '=> DNS_CHECK: succeed on service <=' : '=> DNS_CHECK: failed on service <=';
    case 'SMTP_CHECK':
      if (ok) return '=> CHECK succeed on service <=';
      return e.detail ? `=> CHECK failed on service : ${e.detail} <=` : '=> CHECK failed on service <=';
    default:
      // FILE_CHECK (track_file) sends no mail in keepalived 2.2.7.
      return undefined;
  }
}

/**
 * Which events send mail, and the mail. Stateful only in what keepalived keeps: the last state
 * mailed per instance and group (a state is mailed once, however often it is notified).
 */
export class MailRules {
  private readonly lastInstanceState = new Map<string, string>();
  private readonly lastGroupState = new Map<string, string>();

  constructor(private readonly plan: AlertPlan) {}

  mailFor(event: AlertEvent): Mail | undefined {
    const p = this.plan;
    if (!p.mail) return undefined;
    const rid = p.routerId;
    switch (event.type) {
      case 'vrrp-instance': {
        if (!p.instances.get(event.instance)?.smtpAlert) return undefined;
        if (!this.firstTime(this.lastInstanceState, event.instance, event.state)) return undefined;
        const m = INSTANCE_MAIL[event.state];
        return { subject: `[${rid}] VRRP Instance ${event.instance} - ${m.subject}`, body: m.body };
      }
      case 'vrrp-group': {
        if (!p.syncGroups.get(event.group)?.smtpAlert) return undefined;
        if (!this.firstTime(this.lastGroupState, event.group, event.state)) return undefined;
        const m = GROUP_MAIL[event.state];
        return { subject: `[${rid}] VRRP Group ${event.group} - ${m.subject}`, body: m.body };
      }
      case 'vrrp-master-rx-lower-pri':
      case 'real-server':
        // keepalived mails real server changes from the checker, with the checker's words.
        return undefined;
      case 'checker': {
        if (!this.realServerAlerts(event)) return undefined;
        const changed = event.up !== event.wasUp || (event.checker === 'MISC_CHECK' && event.firstRun);
        const serverChanged = event.realServerUp !== event.realServerWasUp;
        if (!changed || (p.noCheckerEmails && !serverChanged)) return undefined;
        const body = checkerBody(event.checker, event);
        if (!body) return undefined;
        return { subject: this.realServerSubject(event, event.realServerUp ? 'UP' : 'DOWN'), body };
      }
      case 'real-server-removed': {
        if (!this.realServerAlerts(event)) return undefined;
        const vs = p.virtualServers.get(formatVirtualServer(event.virtualServer));
        if (event.stopping && !vs?.omega) return undefined;
        return {
          subject: this.realServerSubject(event, 'DOWN'),
          body: event.stopping ? '=> Shutting down <=' : '=> Removing <=',
        };
      }
      case 'quorum': {
        const vs = p.virtualServers.get(formatVirtualServer(event.virtualServer));
        if (!vs?.smtpAlert) return undefined;
        if (event.stopping && !vs.omega) return undefined;
        const what = event.up
          ? event.init
            ? 'Starting with quorum up'
            : 'Gained quorum'
          : event.init
            ? 'Starting with quorum down'
            : 'Lost quorum';
        const body = event.stopping
          ? '=> Shutting down <='
          : `=> ${what} ${vs.quorum}+${vs.hysteresis}=${event.threshold} <= ${event.weightSum} <=`;
        return {
          subject: `[${rid}] Virtualserver ${formatVirtualServer(event.virtualServer)} - ${event.up ? 'UP' : 'DOWN'}`,
          body,
        };
      }
    }
  }

  /** vrrp_smtp_notifier: a state is mailed when it differs from the last state mailed (no_email_faults aside). */
  private firstTime(last: Map<string, string>, name: string, state: string): boolean {
    if (this.plan.noEmailFaults && state === 'FAULT') return false;
    if (last.get(name) === state) return false;
    last.set(name, state);
    return true;
  }

  private realServerAlerts(e: {
    virtualServer: CheckerEvent['virtualServer'];
    realServer: CheckerEvent['realServer'];
  }) {
    const vs = this.plan.virtualServers.get(formatVirtualServer(e.virtualServer));
    return vs?.realServers.get(formatRealServer(e.realServer, e.virtualServer))?.smtpAlert ?? false;
  }

  private realServerSubject(e: Pick<CheckerEvent, 'virtualServer' | 'realServer'>, state: 'UP' | 'DOWN') {
    const rs = formatRealServer(e.realServer, e.virtualServer);
    return `[${this.plan.routerId}] Realserver ${rs} of virtual server ${formatVirtualServer(e.virtualServer)} - ${state}`;
  }
}

/** A mail's subject as one header line: names can hold anything, the header cannot. */
export function safeSubject(subject: string): string {
  return escapeLine(subject);
}
