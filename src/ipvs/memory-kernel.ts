/**
 * A pure in-memory model of the kernel's IPVS rule table, with the kernel's error rules
 * (ip_vs_ctl.c: adding an existing service/dest is EEXIST, a missing service is ESRCH, a missing dest on
 * edit/delete is ENOENT). Used by property tests of diff() and as the backend of reconciler unit tests.
 */
import type { ApplyResult, IpvsBackend, OpFailure } from './client.js';
import type { IpvsOp } from './diff.js';
import { KernelError } from './netlink.js';
import {
  type DestConfig,
  destConfigOf,
  destKeyString,
  type IpvsTable,
  type KernelService,
  type ServiceConfig,
  serviceConfigOf,
  serviceKeyString,
} from './types.js';

const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;

export class MemoryKernel implements IpvsBackend {
  private services = new Map<string, { service: ServiceConfig; dests: Map<string, DestConfig> }>();
  /** Count of change operations applied (the benchmark and no-op tests assert on it). */
  opsApplied = 0;

  constructor(initial?: IpvsTable) {
    for (const s of initial?.services ?? []) {
      const dests = new Map<string, DestConfig>();
      for (const d of s.dests) dests.set(destKeyString(d), destConfigOf(d));
      this.services.set(serviceKeyString(s.service), { service: serviceConfigOf(s.service), dests });
    }
  }

  /** Applies one op or throws a KernelError the way the kernel would refuse it. */
  apply1(op: IpvsOp): void {
    const key = serviceKeyString(op.service);
    const svc = this.services.get(key);
    switch (op.kind) {
      case 'add-service':
        if (svc) throw new KernelError(EEXIST, `add service ${key}`);
        this.services.set(key, { service: serviceConfigOf(op.service), dests: new Map() });
        break;
      case 'edit-service':
        if (!svc) throw new KernelError(ESRCH, `edit service ${key}`);
        svc.service = serviceConfigOf(op.service);
        break;
      case 'delete-service':
        if (!svc) throw new KernelError(ESRCH, `delete service ${key}`);
        this.services.delete(key);
        break;
      case 'add-dest': {
        if (!svc) throw new KernelError(ESRCH, `add dest to ${key}`);
        const dk = destKeyString(op.dest);
        if (svc.dests.has(dk)) throw new KernelError(EEXIST, `add dest ${dk} to ${key}`);
        svc.dests.set(dk, destConfigOf(op.dest));
        break;
      }
      case 'edit-dest': {
        if (!svc) throw new KernelError(ESRCH, `edit dest in ${key}`);
        const dk = destKeyString(op.dest);
        if (!svc.dests.has(dk)) throw new KernelError(ENOENT, `edit dest ${dk} in ${key}`);
        svc.dests.set(dk, destConfigOf(op.dest));
        break;
      }
      case 'delete-dest': {
        if (!svc) throw new KernelError(ESRCH, `delete dest from ${key}`);
        const dk = destKeyString(op.dest);
        if (!svc.dests.delete(dk)) throw new KernelError(ENOENT, `delete dest ${dk} from ${key}`);
        break;
      }
    }
    this.opsApplied++;
  }

  /** IpvsBackend: a dump, with zero counters. */
  async dumpTable(_opts?: unknown): Promise<KernelService[]> {
    return this.table().services.map((s) => ({
      service: { ...s.service },
      dests: s.dests.map((d) => ({ ...d, activeConns: 0, inactiveConns: 0, persistConns: 0 })),
    }));
  }

  /** IpvsBackend: applies in order; refused ops are reported, the rest still applied (as the kernel does). */
  async apply(ops: IpvsOp[]): Promise<ApplyResult> {
    const failures: OpFailure[] = [];
    for (const op of ops) {
      try {
        this.apply1(op);
      } catch (e) {
        failures.push({ op, error: e as Error });
      }
    }
    return { sent: ops.length, failures };
  }

  flush(): void {
    this.services.clear();
  }

  table(): IpvsTable {
    return {
      services: [...this.services.values()].map((s) => ({
        service: serviceConfigOf(s.service),
        dests: [...s.dests.values()].map(destConfigOf),
      })),
    };
  }
}
