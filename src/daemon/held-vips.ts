/**
 * The VIPs a running halo holds, kept in a small state file beside its pid file, so that a halo that
 * starts after a crash (kill -9, OOM) removes its predecessor's VIPs first thing, within milliseconds of
 * process start and before it loads its config: a restarted director must never hold a VIP beside the
 * new master for longer than keepalived does (keepalived removes them ~20 ms after start).
 *
 * The VRRP engine rewrites the file whenever what it holds changes (atomically: write, then rename);
 * a clean stop leaves it empty. A file whose owner (the pid in the pid file) is still alive is left
 * alone: that daemon still runs, and the new one will refuse to start.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

export interface HeldVip {
  ifname: string;
  address: string;
  prefixLength: number;
}

export function heldVipsPath(pidFile: string): string {
  return `${pidFile}.vips`;
}

/** Serialised writes of the latest list (a burst of changes ends with the last one on disk). */
export class HeldVipsFile {
  private latest: HeldVip[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  save(vips: HeldVip[]): Promise<void> {
    this.latest = vips;
    this.chain = this.chain.then(async () => {
      const tmp = `${this.path}.tmp`;
      try {
        await writeFile(tmp, `${JSON.stringify(this.latest)}\n`, { mode: 0o600 });
        await rename(tmp, this.path);
      } catch (err) {
        this.onError(err as Error);
      }
    });
    return this.chain;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isHeldVip(v: unknown): v is HeldVip {
  const o = v as Partial<HeldVip> | null;
  return (
    !!o &&
    typeof o.ifname === 'string' &&
    typeof o.address === 'string' &&
    typeof o.prefixLength === 'number' &&
    !o.ifname.includes('/')
  );
}

/** What `halo run` removed at its very start (the daemon logs it once its logger exists). */
export const releasedAtStart: { vips: HeldVip[]; msAfterProcessStart: number } = {
  vips: [],
  msAfterProcessStart: 0,
};

/**
 * Removes the VIPs a dead predecessor left behind (as its state file lists them) and the file. Returns
 * what it removed; never throws (an unreadable file or an address already gone is simply skipped).
 */
export async function releaseHeldVips(pidFile: string): Promise<HeldVip[]> {
  const path = heldVipsPath(pidFile);
  let listed: unknown;
  try {
    listed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return [];
  }
  const owner = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) return [];
  const vips = Array.isArray(listed) ? listed.filter(isHeldVip) : [];
  const removed = vips.length ? await (await import('../net/quick-deladdr.js')).deleteAddressesNow(vips) : [];
  await rm(path, { force: true });
  return removed;
}
