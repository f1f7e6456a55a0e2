/**
 * Mail alerts (keepalived's smtp_alert), sent without ever blocking or failing the caller.
 *
 * `alert(event)` applies keepalived's rules (rules.ts) and queues the mail; `send(mail)`
 * queues one directly. Both return at once and never throw. A bounded queue (default 64
 * mails) feeds at most `concurrency` SMTP sessions; when it is full the oldest queued mail
 * is dropped, counted and logged, so the latest states always get out. A failed send is
 * counted and logged (not retried: keepalived does not retry either) and never throws.
 *
 * Sending uses nodemailer (see README "Dependencies"): one plain SMTP session per mail, as
 * keepalived (core/smtp.c) does: HELO name `smtp_helo_name`, MAIL FROM
 * `notification_email_from`, one RCPT TO per `notification_email` address, headers From,
 * To (all addresses), Subject, Date and `X-Mailer: halo`, then the body. keepalived speaks
 * plain SMTP to its relay and so does halo (`ignoreTLS`): a relay that requires STARTTLS
 * refuses it, as it refuses keepalived. `smtp_connect_timeout` bounds the connection and
 * each reply; a whole session is bounded by four times that.
 */
import type { SendMailOptions, Transporter } from 'nodemailer';
import type { AlertEvent } from './events.js';
import type { AlertPlan, MailPlan } from './plan.js';
import { type Mail, MailRules, safeSubject } from './rules.js';

export type AlertLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where the notify channels report (the daemon maps it onto its structured log). */
export type AlertLog = (level: AlertLogLevel, message: string, fields?: Record<string, unknown>) => void;

/** What actually delivers one mail; the default is nodemailer over SMTP. */
export interface MailTransport {
  send(mail: Mail, signal: AbortSignal): Promise<void>;
  close(): void;
}

export interface SmtpAlertsOptions {
  log: AlertLog;
  /** Mails waiting to be sent (default 64); past it the oldest waiting mail is dropped. */
  maxQueue?: number;
  /** SMTP sessions at once (default 2). */
  concurrency?: number;
  /** For tests: another transport than SMTP. */
  transport?: MailTransport;
}

export interface SmtpAlertStats {
  /** Mails the SMTP server accepted. */
  sent: number;
  /** Mails whose session failed (connection refused, timeout, an SMTP error reply...). */
  failed: number;
  /** Mails dropped before any attempt because the queue was full. */
  dropped: number;
  /** Waiting now. */
  queued: number;
  /** Being sent now. */
  sending: number;
}

/**
 * nodemailer loads on the first mail, not at start: most directors never send one, and its modules cost
 * a few MB of the daemon's memory (docs/footprint.md).
 */
function smtpTransport(mail: MailPlan): MailTransport {
  let transporter: Promise<Transporter> | undefined;
  const open = () => {
    transporter ??= import('nodemailer').then(({ default: nodemailer }) => createTransport(nodemailer, mail));
    return transporter;
  };
  return {
    async send(m, signal) {
      const t = await open();
      await t.sendMail({
        envelope: { from: mail.from, to: mail.to },
        from: mail.from,
        to: mail.to.join(', '),
        subject: safeSubject(m.subject),
        text: `${m.body}\r\n`,
        headers: { 'X-Mailer': 'halo' },
        signal,
      } as SendMailOptions);
    },
    close: () => {
      void transporter?.then((t) => t.close());
    },
  };
}

function createTransport(nodemailer: typeof import('nodemailer').default, mail: MailPlan): Transporter {
  return nodemailer.createTransport({
    host: mail.server.host,
    port: mail.server.port,
    secure: false,
    ignoreTLS: true,
    name: mail.heloName,
    connectionTimeout: mail.timeoutMs,
    greetingTimeout: mail.timeoutMs,
    socketTimeout: mail.timeoutMs,
    dnsTimeout: mail.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; responseCode?: number; response?: string };
  if (e.responseCode) return `SMTP status code = ${e.responseCode} (${e.response ?? e.message})`;
  return e.code ? `${e.code}: ${e.message}` : e.message;
}

export class SmtpAlerts {
  private readonly rules: MailRules;
  private readonly queue: Mail[] = [];
  private readonly transport?: MailTransport;
  private readonly maxQueue: number;
  private readonly concurrency: number;
  private readonly log: AlertLog;
  private readonly server: string;
  private readonly aborts = new Set<AbortController>();
  private readonly idleWaiters: (() => void)[] = [];
  private active = 0;
  private closed = false;
  /** The queue overflowed and has not drained since. */
  private overflowing = false;
  private counts = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly plan: AlertPlan,
    opts: SmtpAlertsOptions,
  ) {
    this.rules = new MailRules(plan);
    this.log = opts.log;
    this.maxQueue = Math.max(1, opts.maxQueue ?? 64);
    this.concurrency = Math.max(1, opts.concurrency ?? 2);
    const mail = plan.mail;
    this.server = mail ? `[${mail.server.host}]:${mail.server.port}` : '(none)';
    if (mail) this.transport = opts.transport ?? smtpTransport(mail);
  }

  /** Mail this event if keepalived's rules say so. Returns at once; never throws. */
  alert(event: AlertEvent): void {
    try {
      const mail = this.rules.mailFor(event);
      if (mail) this.send(mail);
    } catch (err) {
      this.log('error', `SMTP alert for a ${event?.type} event failed: ${describeError(err)}`);
    }
  }

  /** Queue one mail to the plan's recipients. Returns at once; never throws. */
  send(mail: Mail): void {
    if (!this.transport || this.closed) return;
    if (this.queue.length >= this.maxQueue) {
      const lost = this.queue.shift();
      this.counts.dropped++;
      // Logged once per overflow (a storm of events must not become a storm of log lines).
      if (!this.overflowing)
        this.log(
          'warn',
          `SMTP alert queue full (${this.maxQueue}) - dropping alert '${safeSubject(lost?.subject ?? '')}'`,
          {
            dropped: this.counts.dropped,
          },
        );
      this.overflowing = true;
    }
    this.queue.push(mail);
    this.pump();
  }

  stats(): SmtpAlertStats {
    return { ...this.counts, queued: this.queue.length, sending: this.active };
  }

  /** Resolves when nothing is queued or being sent, or after timeoutMs (whichever is first). */
  idle(timeoutMs: number): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Stop: give queued and running sessions up to `graceMs` to finish (halo's own STOP mails are
   * usually the last ones), then abort what is left (counted as failed) and release the transport.
   */
  async close(graceMs = 0): Promise<void> {
    if (graceMs > 0) await this.idle(graceMs);
    this.closed = true;
    this.counts.dropped += this.queue.length;
    this.queue.length = 0;
    for (const a of this.aborts) a.abort(new Error('halo is stopping'));
    await this.idle(1000);
    try {
      this.transport?.close();
    } catch {
      // nothing left to do
    }
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length > 0) {
      const mail = this.queue.shift() as Mail;
      this.active++;
      void this.deliver(mail).finally(() => {
        this.active--;
        if (!this.closed) this.pump();
        if (this.active === 0 && this.queue.length === 0) {
          if (this.overflowing) {
            this.overflowing = false;
            this.log('info', `SMTP alert queue drained; ${this.counts.dropped} alerts dropped in all`, {
              dropped: this.counts.dropped,
            });
          }
          for (const w of this.idleWaiters.splice(0)) w();
        }
      });
    }
  }

  private async deliver(mail: Mail): Promise<void> {
    const abort = new AbortController();
    this.aborts.add(abort);
    const timeoutMs = (this.plan.mail?.timeoutMs ?? 30_000) * 4;
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      await (this.transport as MailTransport).send(mail, abort.signal);
      this.counts.sent++;
      this.log('debug', 'SMTP alert successfully sent.', { subject: mail.subject, server: this.server });
    } catch (err) {
      this.counts.failed++;
      const why = abort.signal.aborted ? describeError(abort.signal.reason) : describeError(err);
      this.log('warn', `SMTP alert to ${this.server} failed: ${why}`, {
        subject: mail.subject,
        server: this.server,
        failed: this.counts.failed,
      });
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
  }
}
