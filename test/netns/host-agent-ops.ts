/**
 * The net-agent operations for host plumbing (routes, rules, static entries, VMACs, address and process
 * watching), run inside a lab namespace on the test's behalf. Events travel on the agent's 'packet' channel
 * under a stream name (NetAgent.waitPacket(stream, ...)).
 */

import type { NormalisedVrrpTrackProcess } from '../../src/config/model.js';
import { AddressWatcher, RouteWatcher } from '../../src/net/addr-watch.js';
import { type ProcessChange, ProcessTracker } from '../../src/net/process-watch.js';
import * as route from '../../src/net/route.js';
import { type StaticConfig, StaticEntries } from '../../src/net/static-entries.js';
import { VmacManager, type VmacOptions } from '../../src/net/vmac.js';

type Send = (msg: unknown) => void;

export function hostOps(send: Send): {
  ops: Record<string, (a: Record<string, unknown>) => unknown>;
  close: () => void;
} {
  const emit = (stream: string, packet: unknown) => send({ event: 'packet', sock: stream, packet });
  const statics = new Map<string, StaticEntries>();
  const watchers = new Map<string, { close(): void }>();
  const addressWatchers = new Map<string, AddressWatcher>();
  const vmacs = new VmacManager((e) => emit('vmac:log', e));
  const ns = (at: bigint) => at.toString();

  const ops: Record<string, (a: Record<string, unknown>) => unknown> = {
    addRoute: (a) => route.addRoute(a.spec as route.RouteSpec),
    deleteRoute: (a) => route.deleteRoute(a.spec as route.RouteSpec),
    listRoutes: (a) => route.listRoutes(a.family as 4 | 6, { table: a.table as number | undefined }),
    addRule: (a) => route.addRule(a.spec as route.RuleSpec),
    deleteRule: (a) => route.deleteRule(a.spec as route.RuleSpec),
    staticStart: (a) => {
      const s = new StaticEntries((e) => emit(`static:${String(a.name)}:log`, e));
      statics.set(String(a.name), s);
      return s.start(a.config as StaticConfig);
    },
    staticReload: (a) => statics.get(String(a.name))!.reload(a.config as StaticConfig),
    staticStop: (a) => statics.get(String(a.name))!.stop(),
    staticState: (a) => statics.get(String(a.name))!.state(),
    /** Static entries repaired through real watchers. */
    staticWatch: async (a) => {
      const s = statics.get(String(a.name))!;
      const aw = new AddressWatcher();
      const rw = new RouteWatcher();
      await aw.ready;
      s.watch(aw, rw);
      watchers.set(`static:${String(a.name)}`, {
        close: () => {
          aw.close();
          rw.close();
        },
      });
    },
    createVmac: (a) => vmacs.create(a.opts as VmacOptions),
    deleteVmac: (a) => vmacs.delete(a.vmac as { ifname: string; base: string; family: 4 | 6 }),
    restoreVmacHost: () => vmacs.restoreHostSettings(),
    /** AddressWatcher events on stream `addr:NAME` (link events on `link:NAME`), `at` as a decimal string. */
    watchAddresses: async (a) => {
      const w = new AddressWatcher({ recvBufferSize: a.recvBufferSize as number | undefined });
      w.on('address', (e) =>
        emit(`addr:${String(a.name)}`, { ...e, at: ns(e.at), seen: ns(process.hrtime.bigint()) }),
      );
      w.on('link', (e) => emit(`link:${String(a.name)}`, { ...e, at: ns(e.at) }));
      w.on('overrun', () => emit(`overrun:${String(a.name)}`, {}));
      await w.ready;
      watchers.set(String(a.name), w);
      addressWatchers.set(String(a.name), w);
      return w.addresses().map((x) => `${x.ifname} ${x.address}/${x.prefixLength}`);
    },
    watchedAddresses: (a) => {
      const w = addressWatchers.get(String(a.name))!;
      return {
        addresses: w.addresses().map((x) => `${x.ifname} ${x.address}/${x.prefixLength}`),
        overruns: w.overruns,
      };
    },
    watchRoutes: (a) => {
      const w = new RouteWatcher();
      w.on('route', (e) => emit(`route:${String(a.name)}`, { ...e.route, change: e.type }));
      w.on('rule', (e) => emit(`rule:${String(a.name)}`, { ...e.rule, change: e.type }));
      watchers.set(String(a.name), w);
    },
    /** Blocks this agent's event loop (to make the kernel drop notifications). */
    block: (a) => {
      const until = Date.now() + Number(a.ms);
      while (Date.now() < until) {
        // busy on purpose
      }
    },
    trackProcesses: async (a) => {
      const t = new ProcessTracker(a.tracked as NormalisedVrrpTrackProcess[], {
        mode: a.mode as 'auto' | 'scan',
        scanIntervalMs: a.scanIntervalMs as number | undefined,
      });
      t.on('change', (c: ProcessChange) => emit(`proc:${String(a.name)}`, { ...c, at: ns(c.at) }));
      t.on('quorum', (q) => emit(`quorum:${String(a.name)}`, q));
      const mode = await t.start();
      watchers.set(String(a.name), t);
      return { mode, quorum: t.quorum() };
    },
    unwatch: (a) => {
      watchers.get(String(a.name))?.close();
      watchers.delete(String(a.name));
    },
    hrtime: () => process.hrtime.bigint().toString(),
  };
  return {
    ops,
    close: () => {
      for (const w of watchers.values()) w.close();
    },
  };
}
