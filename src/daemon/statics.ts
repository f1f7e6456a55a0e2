/**
 * static_ipaddress / static_routes / static_rules as a daemon part: set at start, applied as a diff on
 * reload, put back when something deletes a tracked one behind halo's back, removed at stop (keepalived
 * does this in its VRRP process; halo runs it beside the VRRP engine, on the main thread, because none of
 * it is timing-critical). The work itself is src/net/static-entries.ts.
 */
import { AddressWatcher, RouteWatcher } from '../net/addr-watch.js';
import { type StaticConfig, StaticEntries, type StaticLogEntry } from '../net/static-entries.js';
import type { HaloLogger } from './log.js';

function isEmpty(c: StaticConfig): boolean {
  return !c.staticIpaddresses.length && !c.staticRoutes.length && !c.staticRules.length;
}

export class StaticsPart {
  private entries: StaticEntries | undefined;
  private addresses: AddressWatcher | undefined;
  private routes: RouteWatcher | undefined;

  constructor(private readonly logger: HaloLogger) {}

  private log(e: StaticLogEntry): void {
    this.logger.pino[e.level](
      { event: 'host.static', kind: e.kind, action: e.action, what: e.what },
      e.message,
    );
  }

  async start(cfg: StaticConfig): Promise<void> {
    if (isEmpty(cfg)) return;
    this.entries = new StaticEntries((e) => this.log(e));
    await this.entries.start(cfg);
    this.addresses = new AddressWatcher({ ref: false });
    this.routes = new RouteWatcher({ ref: false });
    for (const w of [this.addresses, this.routes])
      w.on('error', (err: Error) =>
        this.logger.pino.warn({ event: 'host.static', err: err.message }, `static entries: ${err.message}`),
      );
    this.entries.watch(this.addresses, this.routes);
  }

  async reload(cfg: StaticConfig): Promise<void> {
    if (!this.entries) return this.start(cfg);
    await this.entries.reload(cfg);
  }

  async stop(): Promise<void> {
    await this.entries?.stop();
    this.addresses?.close();
    this.routes?.close();
  }
}
