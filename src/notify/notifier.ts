/**
 * The one entry point the engines use: `notifier.notify(event)` writes the event's notify
 * FIFO line and queues its mail, per keepalived's rules, and returns at once. It never
 * throws and never waits on a reader or an SMTP server.
 *
 *   const notifier = new Notifier(buildAlertPlan(config, localHost()), { log });
 *   await notifier.start();            // creates/opens the FIFOs, starts their scripts
 *   notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
 *   await notifier.stop(5000);         // lets queued mails go out (bounded), closes the FIFOs
 *
 * On reload, `reload(newPlan)`: the FIFOs are closed and opened again for the new plan, with
 * their scripts restarted (keepalived does the same on reload), and mail follows the new plan
 * while mails already queued under the old one still go out in the background (bounded).
 */
import { hostname, userInfo } from 'node:os';
import type { AlertEvent } from './events.js';
import { type NotifyFifoOptions, type NotifyFifoStats, NotifyFifos } from './fifo.js';
import type { AlertPlan, FifoSource, LocalHost } from './plan.js';
import { fifoLine } from './rules.js';
import { type AlertLog, type SmtpAlertStats, SmtpAlerts, type SmtpAlertsOptions } from './smtp-alerts.js';

/** How long mails queued before a reload may still take to go out. */
const OLD_MAIL_GRACE_MS = 120_000;

export interface NotifierOptions {
  log: AlertLog;
  /** The parts running in this process: FIFOs that carry only the others are not opened. */
  sources?: ReadonlySet<FifoSource>;
  smtp?: Omit<SmtpAlertsOptions, 'log'>;
  fifo?: Omit<NotifyFifoOptions, 'log'>;
}

export interface NotifierStats {
  mail: SmtpAlertStats;
  fifos: Record<string, NotifyFifoStats>;
}

/** The host facts keepalived's defaults use: the host name and the user halo runs as. */
export function localHost(): LocalHost {
  let username = 'root';
  try {
    username = userInfo().username;
  } catch {
    // no passwd entry for our uid: keepalived then sets no default From either; root@ is a usable stand-in
  }
  return { hostname: hostname(), username };
}

export class Notifier {
  private mail: SmtpAlerts;
  private fifos: NotifyFifos;
  private readonly log: AlertLog;
  /** Mail senders of earlier plans still finishing their queue after a reload. */
  private readonly draining = new Set<SmtpAlerts>();
  /** Counts of mail senders retired by reloads, so the stats are totals since start. */
  private readonly retired = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    private currentPlan: AlertPlan,
    private readonly opts: NotifierOptions,
  ) {
    this.log = opts.log;
    this.mail = new SmtpAlerts(currentPlan, { ...opts.smtp, log: opts.log });
    this.fifos = new NotifyFifos(currentPlan, { ...opts.fifo, log: opts.log }, opts.sources);
  }

  get plan(): AlertPlan {
    return this.currentPlan;
  }

  async start(): Promise<void> {
    for (const note of this.plan.notes) this.log('info', note);
    await this.fifos.open();
  }

  /** Switch to a new plan (config reload). Never throws. */
  async reload(plan: AlertPlan): Promise<void> {
    const oldMail = this.mail;
    const oldFifos = this.fifos;
    this.currentPlan = plan;
    this.mail = new SmtpAlerts(plan, { ...this.opts.smtp, log: this.log });
    this.fifos = new NotifyFifos(plan, { ...this.opts.fifo, log: this.log }, this.opts.sources);
    this.draining.add(oldMail);
    void oldMail.close(OLD_MAIL_GRACE_MS).finally(() => {
      this.draining.delete(oldMail);
      const s = oldMail.stats();
      this.retired.sent += s.sent;
      this.retired.failed += s.failed;
      this.retired.dropped += s.dropped;
    });
    await oldFifos.close();
    await this.start();
  }

  notify(event: AlertEvent): void {
    try {
      const line = fifoLine(event, this.plan);
      if (line) this.fifos.write(line);
    } catch (err) {
      this.log('error', `notify FIFO: ${event?.type} event not written: ${(err as Error).message}`);
    }
    this.mail.alert(event);
  }

  /** Mail counts since start (across reloads); FIFO counts since the last (re)open. */
  stats(): NotifierStats {
    const mail = { ...this.mail.stats() };
    for (const m of [...this.draining]
      .map((d) => d.stats())
      .concat([{ ...this.retired, queued: 0, sending: 0 }])) {
      mail.sent += m.sent;
      mail.failed += m.failed;
      mail.dropped += m.dropped;
      mail.queued += m.queued;
      mail.sending += m.sending;
    }
    return { mail, fifos: this.fifos.stats() };
  }

  /** Give queued mails up to `mailGraceMs` (halo's STOP mails), then close everything. */
  async stop(mailGraceMs = 0): Promise<void> {
    const senders = [this.mail, ...this.draining];
    await Promise.all([...senders.map((m) => m.close(mailGraceMs)), this.fifos.close()]);
  }
}
