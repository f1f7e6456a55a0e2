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
 * On reload, stop the old notifier and start one for the new plan (keepalived closes and
 * reopens its FIFOs and restarts their scripts on reload too).
 */
import { hostname, userInfo } from 'node:os';
import type { AlertEvent } from './events.js';
import { type NotifyFifoOptions, type NotifyFifoStats, NotifyFifos } from './fifo.js';
import type { AlertPlan, FifoSource, LocalHost } from './plan.js';
import { fifoLine } from './rules.js';
import { type AlertLog, type SmtpAlertStats, SmtpAlerts, type SmtpAlertsOptions } from './smtp-alerts.js';

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
  private readonly mail: SmtpAlerts;
  private readonly fifos: NotifyFifos;
  private readonly log: AlertLog;

  constructor(
    readonly plan: AlertPlan,
    opts: NotifierOptions,
  ) {
    this.log = opts.log;
    this.mail = new SmtpAlerts(plan, { ...opts.smtp, log: opts.log });
    this.fifos = new NotifyFifos(plan, { ...opts.fifo, log: opts.log }, opts.sources);
  }

  async start(): Promise<void> {
    for (const note of this.plan.notes) this.log('info', note);
    await this.fifos.open();
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

  stats(): NotifierStats {
    return { mail: this.mail.stats(), fifos: this.fifos.stats() };
  }

  /** Give queued mails up to `mailGraceMs` (halo's STOP mails), then close everything. */
  async stop(mailGraceMs = 0): Promise<void> {
    await Promise.all([this.mail.close(mailGraceMs), this.fifos.close()]);
  }
}
