/**
 * Maintenance mode kept across reloads and restarts: a file beside the pid file (`/run/halo/halo.maintenance`
 * for the default `/run/halo/halo.pid`; per daemon, like its held-VIPs file) holds who turned it on
 * and when. Written atomically (write, rename); removed when maintenance ends. An unreadable or malformed
 * file is reported and ignored: the node then runs normally, which is the safe side of a lost setting only
 * if the operator hears about it, hence the warning.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { HoldInfo } from './vrrp-protocol.js';

export class MaintenanceFile {
  current: HoldInfo | undefined;

  constructor(readonly path: string) {}

  static besidePidFile(pidFile: string): MaintenanceFile {
    return new MaintenanceFile(`${pidFile.replace(/\.pid$/, '')}.maintenance`);
  }

  async load(warn: (message: string) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`${this.path}: ${(err as Error).message}`);
      return;
    }
    try {
      const v = JSON.parse(text) as Partial<HoldInfo>;
      if (typeof v.since !== 'number' || typeof v.origin !== 'string')
        throw new Error('missing since/origin');
      this.current = { kind: 'maintenance', since: v.since, origin: v.origin.slice(0, 200) };
      warn(
        `maintenance mode is on (since ${new Date(v.since).toISOString()}, asked by ${this.current.origin}): every instance starts held in BACKUP; 'halo maintenance off' ends it`,
      );
    } catch (err) {
      warn(
        `${this.path} is not a maintenance record (${(err as Error).message}): ignored, maintenance is off`,
      );
    }
  }

  async save(info: HoldInfo | undefined): Promise<void> {
    this.current = info;
    if (!info) {
      await rm(this.path, { force: true });
      return;
    }
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
