/**
 * MISC_CHECK (keepalived check_misc.c): run a program; exit 0 is up, anything
 * else down. With misc_dynamic, exit 1 is down and 2..255 is up with the
 * weight set to code-2 (0 restores the configured weight). A program that
 * outlives misc_timeout has its whole process group terminated and counts as
 * a failure ("timed out").
 */
import { checkScriptSecurity, resolveUserGroup, runScript } from '../script-runner.js';
import type { CheckResult, MiscTarget } from '../types.js';
import { aborted, formatMs } from './common.js';

const securityVerdicts = new WeakMap<MiscTarget, Promise<string | undefined>>();

async function securityProblem(target: MiscTarget): Promise<string | undefined> {
  let ids: { uid?: number; gid?: number } = {};
  if (target.user !== undefined) ids = await resolveUserGroup(target.user, target.group);
  const r = await checkScriptSecurity(target.command, { enforce: true, uid: ids.uid, gid: ids.gid });
  return r.ok ? undefined : r.problems.join('; ');
}

export async function checkMisc(target: MiscTarget, signal: AbortSignal): Promise<CheckResult> {
  if (signal.aborted) return aborted();
  if (target.scriptSecurity) {
    let verdict = securityVerdicts.get(target);
    if (!verdict) {
      verdict = securityProblem(target).catch((err: Error) => err.message);
      securityVerdicts.set(target, verdict);
    }
    const problem = await verdict;
    if (problem) return { ok: false, reason: `script refused: ${problem}` };
  }
  const r = await runScript(target.command, {
    timeoutMs: target.timeoutMs,
    user: target.user,
    group: target.group,
    signal,
    maxOutputBytes: 4096,
  });
  if (signal.aborted) return aborted();
  if (r.error) return { ok: false, reason: `cannot run script: ${r.error}` };
  if (r.timedOut)
    return { ok: false, reason: `script timed out after ${formatMs(target.timeoutMs)}`, timedOut: true };
  if (r.signal) return { ok: false, reason: `script killed by ${r.signal}` };
  const code = r.exitCode ?? -1;
  if (code === 0) return { ok: true, reason: 'script exit 0' };
  if (target.dynamic && code >= 2 && code <= 255) {
    return { ok: true, reason: `script exit ${code} (weight ${code - 2})`, weight: code - 2 };
  }
  return { ok: false, reason: `script exit ${code}` };
}
