/**
 * The net-agent operations for host plumbing (routes, rules, static entries, VMACs, address and process
 * watching), run inside a lab namespace on the test's behalf. Events travel on the agent's 'packet' channel
 * under a stream name (NetAgent.waitPacket(stream, ...)).
 */

import { execFileSync } from 'node:child_process';
import type { NormalisedVrrpTrackProcess } from '../../src/config/model.js';
import { AddressWatcher, RouteWatcher } from '../../src/net/addr-watch.js';
import { removeAddress } from '../../src/net/link.js';
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
    /**
     * Deletes an address and times it to the watcher's 'removed' event: `via` netlink (this process, a
     * separate socket) or ip (spawning `ip addr del`). Returns [kernel-to-read ms, to-handler ms].
     */
    timedAddressDel: async (a) => {
      const w = addressWatchers.get(String(a.name))!;
      const address = String(a.address);
      const seen = new Promise<{ at: bigint; handled: bigint }>((resolve) => {
        const on = (e: { type: string; address: string; at: bigint }) => {
          if (e.type !== 'removed' || e.address !== address) return;
          w.off('address', on);
          resolve({ at: e.at, handled: process.hrtime.bigint() });
        };
        w.on('address', on);
      });
      const t0 = process.hrtime.bigint();
      if (a.via === 'ip') {
        execFileSync('ip', ['addr', 'del', `${address}/${String(a.prefixLength)}`, 'dev', String(a.ifname)]);
      } else {
        await removeAddress(String(a.ifname), { address, prefixLength: Number(a.prefixLength) });
      }
      const r = await seen;
      return [Number(r.at - t0) / 1e6, Number(r.handled - t0) / 1e6];
    },
  };
  return {
    ops,
    close: () => {
      for (const w of watchers.values()) w.close();
    },
  };
}
