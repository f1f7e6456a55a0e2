/** Alerts to people and programs: keepalived's smtp_alert mails and notify FIFOs. */
export { escapeBare, escapeLine, escapeQuoted, unescapeField } from './escape.js';
export type {
  AlertEvent,
  CheckerEvent,
  CheckerKind,
  GroupNotifyState,
  InstanceNotifyState,
  QuorumEvent,
  RealServerEvent,
  RealServerRef,
  RealServerRemovedEvent,
  VirtualServerRef,
  VrrpGroupEvent,
  VrrpInstanceEvent,
  VrrpMasterRxLowerPriEvent,
} from './events.js';
export { formatRealServer, formatVirtualServer } from './events.js';
export { NotifyFifo, NotifyFifos, PIPE_BUF } from './fifo.js';
export { localHost, Notifier, type NotifierOptions, type NotifierStats } from './notifier.js';
export { type AlertPlan, buildAlertPlan, type LocalHost, virtualServerRef } from './plan.js';
export { fifoLine, type Mail, MailRules } from './rules.js';
export { type AlertLog, type SmtpAlertStats, SmtpAlerts } from './smtp-alerts.js';
