/**
 * The status document the daemon serves on its control socket (`halo status`) and dumps on SIGUSR1, the
 * statistics document it dumps on SIGUSR2, and their renderings: a table for people, keepalived-like text
 * dumps (in the spirit of /tmp/keepalived.data and /tmp/keepalived.stats) and JSON.
 *
 * The documents are plain JSON (times as ISO strings) with zod schemas, so the CLI can validate what a
 * daemon of another version sent instead of rendering garbage.
 */

import { z } from 'zod';
import { BgpStatusSchema, renderBgpStatusLines } from '../bgp/status.js';
import { escapeLine } from '../notify/escape.js';
import { type HaloPaths, writeFileAtomic } from './paths.js';
import { describeOrigin, RsOverrideStatusSchema } from './rs-overrides.js';

export const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'] as const;

export const LastCheckSchema = z.object({
  checker: z.string(),
  ok: z.boolean(),
  reason: z.string(),
  /** ISO time of the check. */
  at: z.string(),
  /** How long the check took (its latency), in ms. */
  durationMs: z.number().nonnegative().optional(),
});

export const REAL_SERVER_STATES = ['up', 'down', 'drained', 'disabled'] as const;

export const RealServerStatusSchema = z.object({
  address: z.string(),
  port: z.number().int(),
  up: z.boolean(),
  /** Configured weight. */
  weight: z.number().int(),
  /** Weight in the kernel right now (0 while down with inhibit_on_failure); absent if not programmed. */
  effectiveWeight: z.number().int().optional(),
  lastCheck: LastCheckSchema.nullable(),
  /** ISO time of the last up/down change (or of the start). */
  since: z.string(),
  /**
   * up, down, drained (up but weight 0: it takes no new connections) or disabled (an operator took it out
   * of IPVS). Older daemons omit it.
   */
  state: z.enum(REAL_SERVER_STATES).optional(),
  /** An operator's override (`halo rs`): what, who, since when, and the IPVS connection counts. */
  override: RsOverrideStatusSchema.optional(),
});

export const VirtualServerStatusSchema = z.object({
  /** keepalived-style name: "[10.0.0.100]:tcp:80", "FWM 1" or "[group]". */
  name: z.string(),
  address: z.string().optional(),
  port: z.number().int().optional(),
  protocol: z.string(),
  fwmark: z.number().int().optional(),
  group: z.string().optional(),
  scheduler: z.string(),
  /** Forwarding method: NAT, DR, TUN. */
  forwarding: z.string().optional(),
  /** False when quorum is lost (sorry server / quorum_down). */
  quorumUp: z.boolean().optional(),
  realServers: z.array(RealServerStatusSchema),
});

export const InstanceStatusSchema = z.object({
  name: z.string(),
  state: z.enum(VRRP_STATES),
  interface: z.string().optional(),
  vrid: z.number().int().optional(),
  /** Configured priority. */
  priority: z.number().int(),
  /** After tracked scripts/interfaces/files. */
  effectivePriority: z.number().int(),
  /** The current master's address (ours when MASTER), null when unknown. */
  masterAddress: z.string().nullable(),
  vips: z.array(z.string()),
  /** ISO time of the last transition. */
  since: z.string(),
  lastTransitionReason: z.string(),
  syncGroup: z.string().optional(),
  /**
   * The last advert received from another router on this VRID: who, with what priority, when, and what
   * that says about it. MASTER: its adverts keep coming. LEFT: its last advert had priority 0 (it stopped
   * or gave up mastership). SILENT: nothing for longer than the master-down interval (it is BACKUP, which
   * does not advertise, or it is down). null: no advert seen since this instance started.
   */
  peer: z
    .object({
      address: z.string(),
      priority: z.number().int(),
      lastAdvertAt: z.string(),
      state: z.enum(['MASTER', 'LEFT', 'SILENT']),
    })
    .nullable()
    .optional(),
  /** A peer advertises another VIP list than ours (config drift between the pair; its adverts still count). */
  peerDrift: z
    .object({ peer: z.string(), theirs: z.array(z.string()), ours: z.array(z.string()) })
    .optional(),
  /** Another router advertises as MASTER beside us (two masters), while it lasts. */
  splitBrain: z.object({ peer: z.string(), priority: z.number().int() }).optional(),
  /**
   * Held in BACKUP by an operator: `halo failover` (no preemption back; a silent master is still taken
   * over) or maintenance mode (never MASTER). Who asked, since when (ISO), until when for a timed failover.
   */
  hold: z
    .object({
      kind: z.enum(['failover', 'maintenance']),
      origin: z.string(),
      since: z.string(),
      until: z.string().optional(),
    })
    .optional(),
  /** Handing over right now: priority 0 sent, the VIPs kept until the new master announces itself. */
  handingOver: z.boolean().optional(),
});

export const IpvsSummarySchema = z.object({
  services: z.number().int(),
  destinations: z.number().int(),
  /** ISO time of the last successful reconcile, null before the first. */
  lastSyncAt: z.string().nullable(),
  driftRepairs: z.number().int(),
  lastError: z.string().nullable().optional(),
  /** kernel, or dry-run (nothing is programmed: the table is what halo would program). */
  mode: z.enum(['kernel', 'dry-run']).optional(),
});

/**
 * A part that runs in a thread of its own (the VRRP engine, the checks + IPVS part) and is restarted when
 * it dies. While it is `down`, what the status shows of it is its last known state.
 */
export const PartStatusSchema = z.object({
  /** Times it was started again after it died. */
  restarts: z.number().int(),
  /** Present between a crash and the restart: why it died, since when, when it starts again (ISO). */
  down: z.object({ reason: z.string(), since: z.string(), restartAt: z.string() }).optional(),
});

export const DaemonStatusSchema = z.object({
  pid: z.number().int(),
  version: z.string(),
  startedAt: z.string(),
  configFile: z.string(),
  configLoadedAt: z.string(),
  /** The node's host name (the status page names the node by it). */
  hostname: z.string().optional(),
  /** Only present when the last reload was rejected. */
  lastReloadError: z.string().optional(),
  /** Maintenance mode: who turned it on and when (ISO); absent when off. */
  maintenance: z.object({ origin: z.string(), since: z.string() }).optional(),
  /** The parts that run in threads of their own, when they run. */
  parts: z.object({ vrrp: PartStatusSchema.optional(), checks: PartStatusSchema.optional() }).optional(),
});

export const StatusDocumentSchema = z.object({
  daemon: DaemonStatusSchema,
  instances: z.array(InstanceStatusSchema),
  virtualServers: z.array(VirtualServerStatusSchema),
  ipvs: IpvsSummarySchema.nullable(),
  /** BGP announcements (issue 16); absent when the config has no bgp block. */
  bgp: BgpStatusSchema.optional(),
});

export type LastCheck = z.infer<typeof LastCheckSchema>;
export type RealServerStatus = z.infer<typeof RealServerStatusSchema>;
export type VirtualServerStatus = z.infer<typeof VirtualServerStatusSchema>;
export type InstanceStatus = z.infer<typeof InstanceStatusSchema>;
export type IpvsSummary = z.infer<typeof IpvsSummarySchema>;
export type DaemonStatus = z.infer<typeof DaemonStatusSchema>;
export type PartStatus = z.infer<typeof PartStatusSchema>;

/** A part between a crash and its restart (times in ms since the epoch). */
export interface PartDown {
  reason: string;
  since: number;
  restartAt: number;
}

/** A part's status from its restart count and, while it is down, why and until when. */
export function partStatus(restarts: number, down: PartDown | undefined): PartStatus {
  if (!down) return { restarts };
  const iso = (ms: number) => new Date(ms).toISOString();
  return { restarts, down: { reason: down.reason, since: iso(down.since), restartAt: iso(down.restartAt) } };
}
export type StatusDocument = z.infer<typeof StatusDocumentSchema>;
export type PeerStatus = NonNullable<InstanceStatus['peer']>;

/** up / down / drained / disabled, also for documents of daemons that did not send `state`. */
export function realServerState(r: RealServerStatus): (typeof REAL_SERVER_STATES)[number] {
  if (r.state) return r.state;
  if (r.override?.kind === 'disable') return 'disabled';
  if (!r.up) return 'down';
  return (r.effectiveWeight ?? r.weight) === 0 ? 'drained' : 'up';
}

/** The words every output uses for dry-run, so one grep finds them all. */
export const DRY_RUN_TEXT = 'IPVS: dry-run, nothing programmed';

/** Per-instance VRRP counters (keepalived's /tmp/keepalived.stats), plus per-reason drop counts. */
export const InstanceStatsSchema = z.object({
  name: z.string(),
  advertsReceived: z.number().int(),
  advertsSent: z.number().int(),
  becameMaster: z.number().int(),
  releasedMaster: z.number().int(),
  priorityZeroReceived: z.number().int(),
  priorityZeroSent: z.number().int(),
  /** Drops by reason, e.g. { bad_checksum: 2, auth_mismatch: 1 }. */
  dropped: z.record(z.string(), z.number().int()),
});

export const CheckStatsSchema = z.object({
  virtualServer: z.string(),
  realServer: z.string(),
  checker: z.string(),
  ok: z.number().int(),
  failed: z.number().int(),
});

export const StatsDocumentSchema = z.object({
  /** ISO time the stats were taken. */
  at: z.string(),
  instances: z.array(InstanceStatsSchema),
  checks: z.array(CheckStatsSchema),
  ipvs: z.object({
    operations: z.record(z.string(), z.number().int()),
    driftRepairs: z.number().int(),
    mode: z.enum(['kernel', 'dry-run']).optional(),
  }),
});

export type InstanceStats = z.infer<typeof InstanceStatsSchema>;
export type CheckStats = z.infer<typeof CheckStatsSchema>;
export type StatsDocument = z.infer<typeof StatsDocumentSchema>;

// ---------------------------------------------------------------------------------------------------------
// Text helpers

/** "3d04h", "2h03m", "5m07s", "42s" (negative or invalid input gives "?"). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(sec)}s`;
  return `${sec}s`;
}

function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '?' : formatDuration(now - t);
}

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function latency(ms: number | undefined): string {
  return ms === undefined ? '' : ` ${ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`;
}

/** "10.0.0.12 prio 100 MASTER 1s ago" */
export function peerText(p: PeerStatus, now: number): string {
  return `${p.address} prio ${p.priority} ${p.state} ${ago(p.lastAdvertAt, now)} ago`;
}

/** What an operator's override does, in words. */
function overrideWords(o: NonNullable<RealServerStatus['override']>): string {
  switch (o.kind) {
    case 'drain':
      return 'DRAINED by the operator (weight 0: no new connections, open ones finish)';
    case 'disable':
      return 'DISABLED by the operator (out of IPVS)';
    case 'weight':
      return `WEIGHT ${o.weight} set by the operator`;
  }
}

/** One line under a virtual server's table for a real server with an override. */
export function overrideLine(r: RealServerStatus, now: number): string {
  const o = r.override;
  if (!o) return '';
  const conns = o.connections
    ? `; IPVS connections: ${o.connections.active} active, ${o.connections.inactive} inactive`
    : o.connectionsNote
      ? `; connections: ${o.connectionsNote}`
      : '';
  return `* ${hostPort(r.address, r.port)} ${overrideWords(o)}, ${ago(o.since, now)} ago by ${describeOrigin(o.origin)}${conns}`;
}

/**
 * Every string of a document (and every key), escaped for one line of text: names come from the config
 * (a YAML instance name may hold a newline or a terminal escape) and check reasons can quote what a real
 * server answered, so written raw they could forge a line of `halo status` or of a dump. Escaped as the
 * notify FIFO escapes names (src/notify/escape.ts).
 */
export function escapeStrings<T>(v: T): T {
  if (typeof v === 'string') return escapeLine(v) as T;
  if (Array.isArray(v)) return v.map((x) => escapeStrings(x)) as T;
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [escapeLine(k), escapeStrings(x)])) as T;
  }
  return v;
}

/** A multi-line text (a rejected reload's diagnostics, one per line): each line escaped on its own. */
function escapedLines(text: string): string[] {
  return text.split('\n').map(escapeLine);
}

const PART_NAMES = { vrrp: 'VRRP engine', checks: 'checks + IPVS part' } as const;

/** A part that is down right now, or was restarted: said at the top, so a stale table is never taken for live. */
function partLines(parts: DaemonStatus['parts'], now: number): string[] {
  const out: string[] = [];
  for (const key of ['vrrp', 'checks'] as const) {
    const p = parts?.[key];
    if (!p) continue;
    const name = PART_NAMES[key];
    if (p.down)
      out.push(
        `${name} DOWN since ${p.down.since} (${p.down.reason}); restarting in ${Math.max(0, Math.ceil((Date.parse(p.down.restartAt) - now) / 1000))} s: what is shown of it is its last known state`,
      );
    else if (p.restarts > 0)
      out.push(
        `${name} restarted ${p.restarts} time${p.restarts === 1 ? '' : 's'} after a crash (see the log: daemon.part_restart)`,
      );
  }
  return out;
}

/** The `halo status` screen. `now` is injectable so tests are deterministic. */
export function renderStatusText(raw: StatusDocument, now: number = Date.now()): string {
  const doc = escapeStrings(raw);
  const out: string[] = [];
  const d = doc.daemon;
  out.push(
    `halo ${d.version}  pid ${d.pid}  up ${ago(d.startedAt, now)}  config ${d.configFile} (loaded ${ago(d.configLoadedAt, now)} ago)`,
  );
  if (raw.daemon.lastReloadError) {
    const [first, ...rest] = escapedLines(raw.daemon.lastReloadError);
    out.push(`last reload REJECTED: ${first}`, ...rest.map((l) => `  ${l}`));
  }
  if (d.maintenance)
    out.push(
      `MAINTENANCE MODE since ${d.maintenance.since} (by ${d.maintenance.origin}): every instance held in BACKUP; 'halo maintenance off' ends it`,
    );
  for (const line of partLines(d.parts, now)) out.push(line);
  if (doc.ipvs?.mode === 'dry-run') out.push(`${DRY_RUN_TEXT} (halo run --ipvs dry-run)`);
  out.push('');

  out.push(`VRRP instances (${doc.instances.length})`);
  if (doc.instances.length === 0) out.push('  none');
  else {
    const rows = doc.instances.map((i) => [
      i.name,
      i.handingOver ? `${i.state} (handing over)` : i.hold ? `${i.state} (held)` : i.state,
      i.interface ?? '-',
      i.vrid === undefined ? '-' : String(i.vrid),
      i.effectivePriority === i.priority ? String(i.priority) : `${i.effectivePriority}/${i.priority}`,
      i.masterAddress ?? '-',
      ago(i.since, now),
      i.lastTransitionReason,
      i.peer ? peerText(i.peer, now) : '-',
      i.vips.join(' ') || '-',
    ]);
    const table = renderTable(
      ['NAME', 'STATE', 'IFACE', 'VRID', 'PRIO', 'MASTER', 'FOR', 'REASON', 'PEER', 'VIPS'],
      rows,
    );
    out.push(...table.map((l) => `  ${l}`));
    // What needs an operator's eye, one line each, under the table.
    for (const i of doc.instances) {
      if (i.splitBrain)
        out.push(
          `  ! ${i.name}: split brain: ${i.splitBrain.peer} also advertises as MASTER (priority ${i.splitBrain.priority})`,
        );
      if (i.hold?.kind === 'failover')
        out.push(
          `  ! ${i.name}: held in BACKUP by a failover since ${i.hold.since} (by ${i.hold.origin})${i.hold.until ? ` until ${i.hold.until}` : ''}; 'halo failover --clear ${i.name}' ends it`,
        );
      if (i.peerDrift)
        out.push(
          `  ! ${i.name}: peer ${i.peerDrift.peer} advertises ${i.peerDrift.theirs.length} VIP(s), we have ${i.peerDrift.ours.length} (config drift between the pair)`,
        );
    }
  }
  out.push('');

  out.push(`Virtual servers (${doc.virtualServers.length})`);
  if (doc.virtualServers.length === 0) out.push('  none');
  for (const vs of doc.virtualServers) {
    const up = vs.realServers.filter((r) => r.up).length;
    const quorum = vs.quorumUp === false ? '  QUORUM DOWN' : '';
    const fwd = vs.forwarding ? ` ${vs.forwarding}` : '';
    out.push(`  ${vs.name} ${vs.scheduler}${fwd}  ${up}/${vs.realServers.length} up${quorum}`);
    if (vs.realServers.length === 0) continue;
    const rows = vs.realServers.map((r) => {
      const weight =
        r.effectiveWeight !== undefined && r.effectiveWeight !== r.weight
          ? `${r.effectiveWeight}/${r.weight}`
          : String(r.weight);
      const check = r.lastCheck
        ? `${r.lastCheck.checker} ${r.lastCheck.ok ? 'ok' : 'FAIL'}${latency(r.lastCheck.durationMs)} ${ago(r.lastCheck.at, now)} ago${
            r.lastCheck.reason ? `: ${r.lastCheck.reason}` : ''
          }`
        : 'not checked yet';
      const state = realServerState(r).toUpperCase();
      return [hostPort(r.address, r.port), state, weight, ago(r.since, now), check];
    });
    out.push(
      ...renderTable(['REAL SERVER', 'STATE', 'WEIGHT', 'FOR', 'LAST CHECK'], rows).map((l) => `    ${l}`),
    );
    for (const r of vs.realServers) if (r.override) out.push(`    ${overrideLine(r, now)}`);
  }
  out.push('');

  if (doc.ipvs) {
    const i = doc.ipvs;
    const sync = i.lastSyncAt ? `${ago(i.lastSyncAt, now)} ago` : 'never';
    out.push(
      i.mode === 'dry-run'
        ? `${DRY_RUN_TEXT}: ${i.services} services, ${i.destinations} real servers would be programmed; last pass ${sync}`
        : `IPVS: ${i.services} services, ${i.destinations} real servers programmed; last sync ${sync}; ${i.driftRepairs} drift repairs`,
    );
    if (i.lastError) out.push(`IPVS last error: ${i.lastError}`);
  } else {
    out.push('IPVS: not managed (no virtual servers or checker disabled)');
  }
  if (doc.bgp) out.push('', ...renderBgpStatusLines(doc.bgp, (iso) => ago(iso, now)));
  return `${out.join('\n')}\n`;
}

/** SIGUSR1 text dump, laid out like keepalived's /tmp/keepalived.data. */
export function renderDataText(raw: StatusDocument): string {
  const doc = escapeStrings(raw);
  const out: string[] = [];
  const d = doc.daemon;
  out.push('------< Global definitions >------');
  out.push(` halo version = ${d.version}`);
  out.push(` Process id = ${d.pid}`);
  out.push(` Started = ${d.startedAt}`);
  out.push(` Config file = ${d.configFile}`);
  out.push(` Config loaded = ${d.configLoadedAt}`);
  if (raw.daemon.lastReloadError) {
    const [first, ...rest] = escapedLines(raw.daemon.lastReloadError);
    out.push(` Last reload rejected = ${first}`, ...rest.map((l) => `   ${l}`));
  }
  if (doc.ipvs?.mode === 'dry-run') out.push(` ${DRY_RUN_TEXT}`);
  out.push('------< VRRP Topology >------');
  for (const i of doc.instances) {
    out.push(` VRRP Instance = ${i.name}`);
    out.push(`   State = ${i.state}`);
    out.push(`   Since = ${i.since}`);
    out.push(`   Last transition reason = ${i.lastTransitionReason}`);
    if (i.interface) out.push(`   Interface = ${i.interface}`);
    if (i.vrid !== undefined) out.push(`   Virtual Router ID = ${i.vrid}`);
    if (i.syncGroup) out.push(`   Sync group = ${i.syncGroup}`);
    out.push(`   Priority = ${i.priority}`);
    out.push(`   Effective priority = ${i.effectivePriority}`);
    out.push(`   Master router = ${i.masterAddress ?? '(unknown)'}`);
    if (i.peer) {
      out.push(
        `   Last peer advert = ${i.peer.address} priority ${i.peer.priority} at ${i.peer.lastAdvertAt} (${i.peer.state})`,
      );
    }
    out.push(`   Virtual IP = ${i.vips.length}`);
    for (const v of i.vips) out.push(`     ${v}`);
  }
  out.push('------< LVS Topology >------');
  for (const vs of doc.virtualServers) {
    out.push(` VS = ${vs.name}`);
    out.push(`   lb_algo = ${vs.scheduler}`);
    if (vs.forwarding) out.push(`   lb_kind = ${vs.forwarding}`);
    out.push(`   protocol = ${vs.protocol}`);
    if (vs.quorumUp !== undefined) out.push(`   quorum state = ${vs.quorumUp ? 'UP' : 'DOWN'}`);
    for (const r of vs.realServers) {
      out.push(`   RS = ${hostPort(r.address, r.port)}`);
      out.push(`     Alive = ${r.up ? 'yes' : 'no'}`);
      out.push(`     State = ${realServerState(r)}`);
      out.push(`     Weight = ${r.weight}`);
      if (r.effectiveWeight !== undefined) out.push(`     Effective weight = ${r.effectiveWeight}`);
      if (r.override) {
        const o = r.override;
        out.push(
          `     Override = ${o.kind === 'weight' ? `weight ${o.weight}` : o.kind} since ${o.since} by ${describeOrigin(o.origin)}`,
        );
        if (o.connections)
          out.push(`     Connections = ${o.connections.active} active, ${o.connections.inactive} inactive`);
      }
      out.push(`     Since = ${r.since}`);
      if (r.lastCheck) {
        out.push(
          `     Last check = ${r.lastCheck.checker} ${r.lastCheck.ok ? 'ok' : 'failed'} at ${r.lastCheck.at}${r.lastCheck.durationMs === undefined ? '' : ` in ${r.lastCheck.durationMs} ms`}`,
        );
        if (r.lastCheck.reason) out.push(`     Last check result = ${r.lastCheck.reason}`);
      }
    }
  }
  if (doc.ipvs) {
    out.push('------< IPVS >------');
    out.push(` Mode = ${doc.ipvs.mode === 'dry-run' ? `dry-run (${DRY_RUN_TEXT})` : 'kernel'}`);
    out.push(` Services = ${doc.ipvs.services}`);
    out.push(` Destinations = ${doc.ipvs.destinations}`);
    out.push(` Last sync = ${doc.ipvs.lastSyncAt ?? 'never'}`);
    out.push(` Drift repairs = ${doc.ipvs.driftRepairs}`);
    if (doc.ipvs.lastError) out.push(` Last error = ${doc.ipvs.lastError}`);
  }
  return `${out.join('\n')}\n`;
}

/** SIGUSR2 text dump, laid out like keepalived's /tmp/keepalived.stats. */
export function renderStatsText(raw: StatsDocument): string {
  const stats = escapeStrings(raw);
  const out: string[] = [`halo statistics at ${stats.at}`];
  for (const i of stats.instances) {
    out.push(`VRRP Instance: ${i.name}`);
    out.push('  Advertisements:');
    out.push(`    Received: ${i.advertsReceived}`);
    out.push(`    Sent: ${i.advertsSent}`);
    out.push(`  Became master: ${i.becameMaster}`);
    out.push(`  Released master: ${i.releasedMaster}`);
    out.push('  Priority Zero:');
    out.push(`    Received: ${i.priorityZeroReceived}`);
    out.push(`    Sent: ${i.priorityZeroSent}`);
    out.push('  Dropped:');
    const reasons = Object.keys(i.dropped).sort();
    if (reasons.length === 0) out.push('    none');
    for (const r of reasons) out.push(`    ${r}: ${i.dropped[r]}`);
  }
  if (stats.checks.length) {
    out.push('Checks:');
    for (const c of stats.checks) {
      out.push(`  ${c.realServer} in VS ${c.virtualServer} ${c.checker}: ok ${c.ok}, failed ${c.failed}`);
    }
  }
  const ops = Object.keys(stats.ipvs.operations).sort();
  out.push(
    stats.ipvs.mode === 'dry-run' ? `IPVS (${DRY_RUN_TEXT}; counts are what would have been done):` : 'IPVS:',
  );
  for (const op of ops) out.push(`  ${op}: ${stats.ipvs.operations[op]}`);
  out.push(`  drift repairs: ${stats.ipvs.driftRepairs}`);
  return `${out.join('\n')}\n`;
}

/** JSON dumps: stable 2-space JSON with a trailing newline. */
export function renderJson(doc: StatusDocument | StatsDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * SIGUSR1: writes the text and JSON data dumps (atomically) and returns the files written, which is also
 * what the control socket's `dump` answers.
 */
export async function writeDataDump(
  paths: Pick<HaloPaths, 'dataFile' | 'dataJsonFile'>,
  doc: StatusDocument,
): Promise<string[]> {
  await writeFileAtomic(paths.dataFile, renderDataText(doc));
  await writeFileAtomic(paths.dataJsonFile, renderJson(doc));
  return [paths.dataFile, paths.dataJsonFile];
}

/** SIGUSR2: writes the text and JSON statistics dumps and returns the files written. */
export async function writeStatsDump(
  paths: Pick<HaloPaths, 'statsFile' | 'statsJsonFile'>,
  stats: StatsDocument,
): Promise<string[]> {
  await writeFileAtomic(paths.statsFile, renderStatsText(stats));
  await writeFileAtomic(paths.statsJsonFile, renderJson(stats));
  return [paths.statsFile, paths.statsJsonFile];
}
