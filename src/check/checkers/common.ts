/**
 * Helpers shared by the network checkers: readable failure reasons and a
 * timeout formatter, so every checker reports in the same words.
 */
import type { CheckResult } from '../types.js';

/** "3s", "1.5s", "250ms": how a configured timeout reads in a reason. */
export function formatMs(ms: number): string {
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const ERRNO_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EPIPE: 'connection closed by peer',
  ETIMEDOUT: 'timed out',
  EINVAL: 'invalid argument',
};

/** Turn a socket error into the words an operator expects ("connection refused"). */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code && ERRNO_WORDS[e.code]) return ERRNO_WORDS[e.code];
  if (e?.code) return `${e.code.toLowerCase()}`;
  return e instanceof Error ? e.message : String(err);
}

export function ok(reason: string): CheckResult {
  return { ok: true, reason };
}

export function fail(reason: string): CheckResult {
  return { ok: false, reason };
}

/** A failure because a timeout ran out. */
export function timedOut(reason: string): CheckResult {
  return { ok: false, reason, timedOut: true };
}

/** A result for an attempt that was aborted by the engine (stop/reload). */
export function aborted(): CheckResult {
  return { ok: false, reason: 'aborted' };
}
