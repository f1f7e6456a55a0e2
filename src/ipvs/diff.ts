/**
 * Pure reconciliation: diff(desired, kernel, owned) -> the smallest list of IPVS operations that makes the
 * kernel's owned services equal to the desired ones.
 *
 * What the kernel lets us edit in place (net/netfilter/ipvs/ip_vs_ctl.c):
 *  - a service is keyed by (af, protocol, addr, port) or (af, fwmark); IPVS_CMD_SET_SERVICE (ip_vs_edit_service)
 *    changes scheduler, flags, timeout, netmask and persistence engine;
 *  - a destination is keyed by (addr, port) inside its service; IPVS_CMD_SET_DEST (ip_vs_edit_dest) changes
 *    forwarding method, weight, thresholds and tunnel type/port/flags.
 * A changed key field is a different entry, so only then do we delete and add. Deleting a service drops its
 * connections, which is why editable changes must never become delete+add.
 *
 * Ordering: dest deletions, then service deletions, then service adds/edits, then dest adds/edits, so that
 * a destination never references a service that does not exist yet.
 */
import {
  type DestConfig,
  type DestKey,
  destConfigOf,
  destKeyOf,
  destKeyString,
  type IpvsTable,
  type ServiceConfig,
  type ServiceKey,
  serviceConfigOf,
  serviceKeyOf,
  serviceKeyString,
} from './types.js';

export type IpvsOp =
  | { kind: 'add-service'; service: ServiceConfig }
  | {
      kind: 'edit-service';
      service: ServiceConfig;
      changed: string[];
      /** The kernel's values of the changed fields before the edit (for logs: "scheduler rr -> wlc"). */
      was?: Record<string, unknown>;
    }
  | { kind: 'delete-service'; service: ServiceKey }
  | { kind: 'add-dest'; service: ServiceKey; dest: DestConfig }
  | {
      kind: 'edit-dest';
      service: ServiceKey;
      dest: DestConfig;
      changed: string[];
      was?: Record<string, unknown>;
    }
  | { kind: 'delete-dest'; service: ServiceKey; dest: DestKey };

const SERVICE_EDITABLE = ['scheduler', 'flags', 'timeout', 'netmask', 'peName'] as const;
const DEST_EDITABLE = [
  'forward',
  'weight',
  'upperThreshold',
  'lowerThreshold',
  'tunnelType',
  'tunnelPort',
  'tunnelFlags',
] as const;

export function serviceChanges(want: ServiceConfig, have: ServiceConfig): string[] {
  return SERVICE_EDITABLE.filter((f) => want[f] !== have[f]);
}

export function destChanges(want: DestConfig, have: DestConfig): string[] {
  // Tunnel parameters only mean something (and are only reported) for tunnelled destinations.
  const fields =
    want.forward === 'tunnel' ? DEST_EDITABLE : DEST_EDITABLE.filter((f) => !f.startsWith('tunnel'));
  return fields.filter((f) => want[f] !== have[f]);
}

/**
 * @param desired the services halo wants, each with its full set of destinations
 * @param kernel  what the kernel has now (a dump)
 * @param owned   keys (serviceKeyString) of services halo owns beyond those desired, e.g. those of the previous
 *                config; a kernel service that is neither desired nor owned is never touched.
 */
export function diff(
  desired: IpvsTable,
  kernel: IpvsTable,
  owned: ReadonlySet<string> = new Set(),
): IpvsOp[] {
  const delDests: IpvsOp[] = [];
  const delServices: IpvsOp[] = [];
  const svcOps: IpvsOp[] = [];
  const destOps: IpvsOp[] = [];

  const kernelByKey = new Map<string, IpvsTable['services'][number]>();
  for (const s of kernel.services) kernelByKey.set(serviceKeyString(s.service), s);
  const desiredKeys = new Set<string>();

  for (const want of desired.services) {
    const key = serviceKeyString(want.service);
    if (desiredKeys.has(key)) throw new Error(`duplicate desired service ${key}`);
    desiredKeys.add(key);
    const have = kernelByKey.get(key);
    const svcKey = serviceKeyOf(want.service);
    if (!have) {
      svcOps.push({ kind: 'add-service', service: serviceConfigOf(want.service) });
    } else {
      const changed = serviceChanges(want.service, have.service);
      if (changed.length) {
        const was = Object.fromEntries(changed.map((f) => [f, have.service[f as keyof ServiceConfig]]));
        svcOps.push({ kind: 'edit-service', service: serviceConfigOf(want.service), changed, was });
      }
    }
    const haveDests = new Map<string, DestConfig>();
    for (const d of have?.dests ?? []) haveDests.set(destKeyString(d), d);
    const wantKeys = new Set<string>();
    for (const d of want.dests) {
      const dk = destKeyString(d);
      if (wantKeys.has(dk)) throw new Error(`duplicate desired destination ${dk} in ${key}`);
      wantKeys.add(dk);
      const h = haveDests.get(dk);
      if (!h) destOps.push({ kind: 'add-dest', service: svcKey, dest: destConfigOf(d) });
      else {
        const changed = destChanges(d, h);
        if (changed.length) {
          const was = Object.fromEntries(changed.map((f) => [f, h[f as keyof DestConfig]]));
          destOps.push({ kind: 'edit-dest', service: svcKey, dest: destConfigOf(d), changed, was });
        }
      }
    }
    for (const [dk, h] of haveDests) {
      if (!wantKeys.has(dk)) delDests.push({ kind: 'delete-dest', service: svcKey, dest: destKeyOf(h) });
    }
  }

  for (const [key, have] of kernelByKey) {
    if (desiredKeys.has(key) || !owned.has(key)) continue;
    // Deleting the service removes its destinations with it.
    delServices.push({ kind: 'delete-service', service: serviceKeyOf(have.service) });
  }

  return [...delDests, ...delServices, ...svcOps, ...destOps];
}

/** What an edit changes, field by field: ["scheduler rr -> wlc", "weight 1 -> 3"]; [] for other ops. */
export function describeChanges(op: IpvsOp): string[] {
  if (op.kind !== 'edit-service' && op.kind !== 'edit-dest') return [];
  const now = (op.kind === 'edit-service' ? op.service : op.dest) as unknown as Record<string, unknown>;
  return op.changed.map((f) =>
    op.was && f in op.was ? `${f} ${op.was[f]} -> ${now[f]}` : `${f} -> ${now[f]}`,
  );
}

export function describeOp(op: IpvsOp): string {
  const svc = serviceKeyString(op.service);
  switch (op.kind) {
    case 'add-service':
      return `add service ${svc} (${op.service.scheduler})`;
    case 'edit-service':
      return `edit service ${svc} (${op.changed.join(', ')})`;
    case 'delete-service':
      return `delete service ${svc}`;
    case 'add-dest':
      return `add ${destKeyString(op.dest)} to ${svc} (weight ${op.dest.weight}, ${op.dest.forward})`;
    case 'edit-dest':
      return `edit ${destKeyString(op.dest)} in ${svc} (${op.changed.join(', ')})`;
    case 'delete-dest':
      return `delete ${destKeyString(op.dest)} from ${svc}`;
  }
}
