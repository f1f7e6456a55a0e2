/**
 * SMTP_CHECK (keepalived check_smtp.c smtp_engine_thread): connect, expect a
 * "220" banner, send "HELO <helo_name>", expect "250", send "QUIT", read the
 * reply (any line). A status is the 3 digits at the start of the first line
 * read, followed by a space or the end of the line (smtp_get_status()).
 * connect_timeout applies to each step.
 */
import { connect } from 'node:net';
import type { CheckResult, SmtpTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

export function smtpStatus(line: string): number {
  const m = /^(\d{3})(?: |$)/.exec(line.replace(/\r$/, ''));
  return m ? Number(m[1]) : -1;
}

export function checkSmtp(target: SmtpTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(aborted());
      return;
    }
    let done = false;
    let step: 'connect' | 'banner' | 'helo' | 'quit' = 'connect';
    let buf = '';
    const socket = connect({
      host: target.host,
      port: target.port,
      localAddress: target.bindTo,
      localPort: target.bindPort,
      autoSelectFamily: false,
    });
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => finish(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    const t = formatMs(target.connectTimeoutMs);
    socket.setTimeout(target.connectTimeoutMs, () =>
      finish({
        ok: false,
        reason: step === 'connect' ? `connect timeout after ${t}` : `read timeout after ${t} (${step})`,
        timedOut: true,
      }),
    );
    socket.once('error', (err) => finish({ ok: false, reason: describeError(err) }));
    socket.once('connect', () => {
      step = 'banner';
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      // keepalived wraps its 512-byte buffer; bound ours likewise.
      if (buf.length > 4096) buf = buf.slice(-512);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      const status = smtpStatus(line);
      if (step === 'banner') {
        if (status !== 220)
          return finish({ ok: false, reason: `bad greeting banner: ${line.trim().slice(0, 80)}` });
        step = 'helo';
        socket.write(`HELO ${target.heloName}\r\n`);
      } else if (step === 'helo') {
        if (status !== 250)
          return finish({ ok: false, reason: `bad HELO response: ${line.trim().slice(0, 80)}` });
        step = 'quit';
        socket.write('QUIT\r\n');
      } else if (step === 'quit') {
        finish({ ok: true, reason: 'SMTP banner, HELO and QUIT ok' });
      }
    });
    socket.once('end', () => finish({ ok: false, reason: `connection closed by server (${step})` }));
  });
}
