/**
 * Dispatch one attempt to the checker for its target type.
 *
 * `startCheck` is the engine's path: callback style, so an attempt costs the
 * I/O callbacks a C checker would get and nothing more (no promise per
 * attempt on the TCP and HTTP paths). `runCheck` is the same as a promise.
 */
import type { CheckResult, CheckTarget } from '../types.js';
import { checkDns } from './dns.js';
import { startHttpUrl } from './http.js';
import { checkMisc } from './misc.js';
import { checkPing } from './ping.js';
import { checkSmtp } from './smtp.js';
import { startTcp } from './tcp.js';
import { checkUdp } from './udp.js';

export type CheckDone = (result: CheckResult) => void;
/**
 * Start one attempt; `done` is called exactly once (also after an abort). `signal` aborts this attempt
 * alone; the engine hands it to a later attempt once `done` has been called (the controllers are pooled),
 * so an attempt removes any listener it added to it before calling `done`.
 */
export type StartCheck = (
  target: CheckTarget,
  urlIndex: number,
  signal: AbortSignal,
  done: CheckDone,
) => void;
export type RunCheck = (target: CheckTarget, urlIndex: number, signal: AbortSignal) => Promise<CheckResult>;

/** A thrown or rejected checker is a failed attempt, never a crashed engine. */
export function checkerError(err: unknown): CheckResult {
  return { ok: false, reason: `checker error: ${err instanceof Error ? err.message : String(err)}` };
}

/** A promise-returning checker as a StartCheck. */
export function fromPromise(run: RunCheck): StartCheck {
  return (target, urlIndex, signal, done) => {
    let p: Promise<CheckResult>;
    try {
      p = run(target, urlIndex, signal);
    } catch (err) {
      done(checkerError(err));
      return;
    }
    p.then(done, (err) => done(checkerError(err)));
  };
}

function promised(p: Promise<CheckResult>, done: CheckDone): void {
  p.then(done, (err) => done(checkerError(err)));
}

export const startCheck: StartCheck = (target, urlIndex, signal, done) => {
  switch (target.type) {
    case 'TCP_CHECK':
      return startTcp(target, signal, done);
    case 'HTTP_GET':
    case 'SSL_GET':
      return startHttpUrl(target, urlIndex, signal, done);
    case 'MISC_CHECK':
      return promised(checkMisc(target, signal), done);
    case 'PING_CHECK':
      return promised(checkPing(target, signal), done);
    case 'UDP_CHECK':
      return promised(checkUdp(target, signal), done);
    case 'DNS_CHECK':
      return promised(checkDns(target, signal), done);
    case 'SMTP_CHECK':
      return promised(checkSmtp(target, signal), done);
    case 'FILE_CHECK':
      // Driven by the file's value (file-check.ts), never started as an attempt.
      return done({ ok: false, reason: 'FILE_CHECK has no attempts' });
  }
};

export const runCheck: RunCheck = (target, urlIndex, signal) =>
  new Promise((resolve) => startCheck(target, urlIndex, signal, resolve));
