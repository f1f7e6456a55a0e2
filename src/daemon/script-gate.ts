/**
 * enable_script_security for the scripts the VRRP engine runs (notify and vrrp_script): a script that
 * runs as root but could be modified by a non-root user (its file, or a directory on its path) is
 * refused, as keepalived does. The verdict is decided once per command line and user.
 */
import { checkScriptSecurity, resolveUserGroup } from '../check/script-runner.js';

export class ScriptGate {
  private readonly verdicts = new Map<string, Promise<boolean>>();

  constructor(
    private readonly enforce: boolean,
    private readonly warn: (message: string) => void,
  ) {}

  allowed(cmd: string, user?: string, group?: string): Promise<boolean> {
    if (!this.enforce) return Promise.resolve(true);
    const key = `${user ?? ''}:${group ?? ''}:${cmd}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = (async () => {
        const ids = user ? await resolveUserGroup(user, group) : undefined;
        const r = await checkScriptSecurity(cmd, { enforce: true, uid: ids?.uid, gid: ids?.gid });
        if (!r.ok) this.warn(`SECURITY VIOLATION - refusing to run ${cmd}: ${r.problems.join('; ')}`);
        return r.ok;
      })().catch((err: unknown) => {
        this.warn(`cannot run ${cmd}: ${(err as Error).message}`);
        return false;
      });
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }
}
