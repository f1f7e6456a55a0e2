/**
 * `halo ipvs list [-f CONFIG] [--socket PATH] [--json] [--plain]`
 *
 * Shows the kernel's IPVS table in `ipvsadm -Ln` layout. With a config, each service is marked as owned
 * by halo (it is in the config) or foreign, and each real server says why it is in or out of the kernel
 * (from the desired state). When a daemon answers on its control socket, its health results (up/down and
 * the last check's reason) are used, and its config file when -f is not given; otherwise real servers are
 * shown in their start-up state (up unless `alpha`). Annotations follow "  # " at the end of lines; --plain
 * omits them. Exit codes: 0 ok, 1 kernel/config error, 2 usage.
 *
 * A daemon that runs `--ipvs dry-run` programs nothing: the listing says so first ("IPVS: dry-run, nothing
 * programmed"), and where the kernel has no IPVS at all it shows the table that daemon would program.
 */
import { controlRequest } from '../daemon/control.js';
import { defaultPaths } from '../daemon/paths.js';
import { effectOf } from '../daemon/rs-overrides.js';
import { DRY_RUN_TEXT, type StatusDocument } from '../daemon/status.js';
import { IpvsClient } from '../ipvs/client.js';
import {
  computeDesired,
  type DesiredResult,
  type RealServerHealth,
  type RealServerOverride,
  type RealServerStatus,
  type VirtualServerState,
} from '../ipvs/desired.js';
import { renderIpvsadm } from '../ipvs/render.js';
import { destKeyString, type IpvsTable, type KernelService, serviceKeyString } from '../ipvs/types.js';
import type { RealServerKey, VirtualServerKey } from '../plan/ids.js';
import { buildIpvsPlan, type IpvsVirtualServerPlan } from '../plan/ipvs.js';

const USAGE = `usage: halo ipvs list [-f CONFIG] [--socket PATH] [--json] [--plain]

Shows the kernel IPVS table like 'ipvsadm -Ln', plus which services halo owns and why each real
server is in or out (from the running daemon's health checks when it answers).
  -f, --config FILE  the halo/keepalived config whose services halo owns (default: the running
                     daemon's config)
  --socket PATH      the daemon's control socket (default ${defaultPaths().controlSocket})
  --json             machine-readable output
  --plain            exactly the ipvsadm -Ln layout, no annotations`;

interface ListOptions {
  config?: string;
  socket?: string;
  json: boolean;
  plain: boolean;
}

function parseArgs(argv: string[]): ListOptions | 'help' | string {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h' || verb === 'help') return 'help';
  if (verb !== 'list') return verb ? `unknown ipvs subcommand '${verb}'` : 'missing subcommand';
  const o: ListOptions = { json: false, plain: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--json') o.json = true;
    else if (a === '--plain') o.plain = true;
    else if (a === '-f' || a === '--config') {
      o.config = rest[++i];
      if (!o.config) return `${a} needs a file`;
    } else if (a === '--socket') {
      o.socket = rest[++i];
      if (!o.socket) return `${a} needs a path`;
    } else if (a === '--help' || a === '-h') return 'help';
    else return `unknown option '${a}'`;
  }
  return o;
}

const bigintJson = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  if (o === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (typeof o === 'string') {
    process.stderr.write(`halo ipvs: ${o}\n${USAGE}\n`);
    return 2;
  }

  // A running daemon knows the real health; without one (or when it does not answer) start-up health it is.
  const socket = o.socket ?? defaultPaths().controlSocket;
  const daemon = await controlRequest(socket, 'status', { timeoutMs: 2000 }).catch(() => undefined);
  const configFile = o.config ?? daemon?.daemon.configFile;
  let desired: DesiredResult | undefined;
  let source: HealthSource | undefined;
  if (configFile) {
    const { loadConfig, formatDiagnostic } = await import('../config/index.js');
    const { config, diagnostics } = await loadConfig(configFile, { hostChecks: 'off' });
    for (const d of diagnostics) if (d.severity === 'error') process.stderr.write(`${formatDiagnostic(d)}\n`);
    if (!config) return 1;
    try {
      const plan = buildIpvsPlan(config).virtualServers;
      if (daemon) {
        const h = healthFromDaemon(plan, daemon);
        desired = computeDesired(plan, h.health, h.vsState, h.overrides);
        desired.status = desired.status.map((s) => {
          const why = s.realServer && h.reasons.get(s.realServer);
          return why ? { ...s, reason: `${s.reason} (${why})` } : s;
        });
        source = { from: 'daemon', socket, pid: daemon.daemon.pid, configFile };
      } else {
        desired = computeDesired(plan, new Map());
        source = { from: 'config', configFile };
      }
    } catch (e) {
      process.stderr.write(`halo ipvs: ${(e as Error).message}\n`);
      return 1;
    }
  }

  const dryRun = daemon?.ipvs?.mode === 'dry-run';
  const dryRunNote = `# halo: ${DRY_RUN_TEXT} by the running daemon (pid ${daemon?.daemon.pid}, --ipvs dry-run)`;
  let client: IpvsClient;
  try {
    client = await IpvsClient.open();
  } catch (e) {
    if (dryRun && desired) {
      // Nothing to list in the kernel: show what the dry-run daemon would program, and say so.
      const table = asKernelTable(desired.table);
      const info = { version: 0, connTableSize: 0 };
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ ...listDocument(info, table, desired), ipvsMode: 'dry-run', kernel: null, healthSource: source }, bigintJson, 2)}\n`,
        );
      } else {
        if (o.plain) process.stderr.write(`${dryRunNote}; the table it would program:\n`);
        else process.stdout.write(`${dryRunNote}; the kernel has no IPVS; the table it would program:\n`);
        // There is no kernel version to show: the first line says whose table this is instead.
        const text = renderList(info, table, desired, o.plain).replace(
          /^IP Virtual Server version .*\n/,
          'IP Virtual Server: none in this kernel; halo (dry-run) would program:\n',
        );
        process.stdout.write(text);
      }
      return 0;
    }
    process.stderr.write(`halo ipvs: cannot talk to the kernel IPVS: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const [info, table] = await Promise.all([client.getInfo(), client.dumpTable()]);
    if (dryRun && o.plain) process.stderr.write(`${dryRunNote}: the kernel table below is not halo's\n`);
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ ...listDocument(info, table, desired), ...(dryRun ? { ipvsMode: 'dry-run' } : {}), healthSource: source }, bigintJson, 2)}\n`
        : `${dryRun && !o.plain ? `${dryRunNote}: the kernel table below is not halo's\n` : ''}${o.plain || source?.from !== 'daemon' ? '' : `${describeSource(source)}\n`}${renderList(info, table, desired, o.plain)}`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`halo ipvs: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

type HealthSource =
  | { from: 'daemon'; socket: string; pid: number; configFile: string }
  | { from: 'config'; configFile: string };

function describeSource(s: HealthSource): string {
  return s.from === 'daemon'
    ? `# halo: health from the running daemon (pid ${s.pid}, ${s.socket}); config ${s.configFile}`
    : `# halo: no daemon answered: real servers in their start-up state from ${s.configFile}`;
}

/** A desired table in the kernel's listing shape (no connections: nothing runs through it). */
export function asKernelTable(t: IpvsTable): KernelService[] {
  return t.services.map((s) => ({
    service: { ...s.service },
    dests: s.dests.map((d) => ({ ...d, activeConns: 0, inactiveConns: 0, persistConns: 0 })),
  }));
}

/**
 * The daemon's view as computeDesired() input: up/down per real server, quorum state, and the last
 * check's words as the reason. Matched to the plan by typed identity (protocol, addresses and ports
 * from the status document), not by display names.
 */
export function healthFromDaemon(
  plan: readonly IpvsVirtualServerPlan[],
  doc: Pick<StatusDocument, 'virtualServers'>,
): {
  health: Map<RealServerKey, RealServerHealth>;
  vsState: Map<VirtualServerKey, VirtualServerState>;
  reasons: Map<RealServerKey, string>;
  /** Operators' overrides (`halo rs`) the daemon applies. */
  overrides: Map<RealServerKey, RealServerOverride>;
} {
  const overrides = new Map<RealServerKey, RealServerOverride>();
  const health = new Map<RealServerKey, RealServerHealth>();
  const vsState = new Map<VirtualServerKey, VirtualServerState>();
  const reasons = new Map<RealServerKey, string>();
  for (const vs of plan) {
    const id = vs.id;
    const st = doc.virtualServers.find((d) =>
      id.kind === 'group'
        ? d.group === id.group && d.protocol.toLowerCase() === id.protocol
        : id.kind === 'fwmark'
          ? d.fwmark === id.fwmark
          : d.address === id.address && d.port === id.port && d.protocol.toLowerCase() === id.protocol,
    );
    if (!st) continue;
    if (st.quorumUp !== undefined) vsState.set(vs.key, { quorumUp: st.quorumUp });
    for (const rs of vs.realServers) {
      const r = st.realServers.find((x) => x.address === rs.address && x.port === rs.port);
      if (!r) continue;
      if (r.override) overrides.set(rs.key, effectOf(r.override));
      const dynamic = r.up && r.effectiveWeight !== undefined && r.effectiveWeight !== rs.weight;
      health.set(rs.key, { alive: r.up, ...(dynamic ? { dynamicWeight: r.effectiveWeight } : {}) });
      if (r.lastCheck)
        reasons.set(
          rs.key,
          `daemon: ${r.lastCheck.ok ? 'last check ok' : `last check failed: ${r.lastCheck.reason}`}`,
        );
    }
  }
  return { health, vsState, reasons, overrides };
}

/** A status entry for people and JSON: names instead of opaque keys. */
function describeStatus(desired: DesiredResult, s: RealServerStatus) {
  const vs = [...desired.serviceOwner.values()].find((v) => v.key === s.virtualServer);
  return {
    virtualServer: vs?.name ?? '?',
    realServer: s.endpoint,
    sorry: s.realServer === undefined,
    inKernel: s.inKernel,
    weight: s.weight,
    reason: s.reason,
  };
}

export function listDocument(
  info: { version: number; connTableSize: number },
  table: KernelService[],
  desired?: DesiredResult,
) {
  return {
    info,
    services: table.map((ks) => ({
      ...ks.service,
      key: serviceKeyString(ks.service),
      owned: desired ? desired.owned.has(serviceKeyString(ks.service)) : undefined,
      dests: ks.dests,
    })),
    realServers: desired?.status.map((s) => describeStatus(desired, s)),
    missingServices: desired
      ? [...desired.owned].filter((k) => !table.some((ks) => serviceKeyString(ks.service) === k))
      : undefined,
  };
}

export function renderList(
  info: { version: number; connTableSize: number },
  table: KernelService[],
  desired: DesiredResult | undefined,
  plain: boolean,
): string {
  if (plain || !desired) return renderIpvsadm(info, table);
  const want = new Map(desired.table.services.map((s) => [serviceKeyString(s.service), s]));
  // Reasons are per (virtual server, endpoint); one virtual server can map to several services (groups).
  // A real server's reason wins over the sorry server's when both are the same endpoint.
  const reasons = new Map<string, string>();
  for (const s of [...desired.status].sort(
    (a, b) => Number(a.realServer !== undefined) - Number(b.realServer !== undefined),
  ))
    reasons.set(`${s.virtualServer}|${s.endpoint}`, `${s.inKernel ? 'in' : 'out'}: ${s.reason}`);
  let text = renderIpvsadm(info, table, {
    service: (s) => {
      const vs = desired.serviceOwner.get(serviceKeyString(s));
      return vs ? `halo: owned (virtual server ${vs.name})` : 'not halo';
    },
    dest: (s, d) => {
      const key = serviceKeyString(s);
      const w = want.get(key);
      if (!w) return undefined;
      const wd = w.dests.find((x) => destKeyString(x) === destKeyString(d));
      if (!wd) return 'halo: not in config (will be removed)';
      const vs = desired.serviceOwner.get(key);
      const r = reasons.get(`${vs?.key}|${destKeyString(d)}`) ?? 'in';
      return wd.weight !== d.weight || wd.forward !== d.forward
        ? `halo: ${r}; drift: should be ${wd.forward} weight ${wd.weight}`
        : `halo: ${r}`;
    },
    extra: (s) => {
      const key = serviceKeyString(s);
      const vs = desired.serviceOwner.get(key);
      const w = want.get(key);
      const lines: string[] = [];
      for (const st of desired.status) {
        if (st.virtualServer !== vs?.key) continue;
        const addr = st.endpoint;
        if (st.inKernel) {
          if (!w?.dests.some((d) => destKeyString(d) === addr)) continue;
          if (
            table.some(
              (ks) => serviceKeyString(ks.service) === key && ks.dests.some((d) => destKeyString(d) === addr),
            )
          )
            continue;
          lines.push(`  -- ${addr.padEnd(28)} missing  # halo: ${st.reason}; drift: should be in the kernel`);
        } else lines.push(`  -- ${addr.padEnd(28)} out      # halo: out: ${st.reason}`);
      }
      return lines;
    },
  });
  const missing = [...desired.owned].filter((k) => !table.some((ks) => serviceKeyString(ks.service) === k));
  if (missing.length) text += `# halo: services in config but not in the kernel: ${missing.join(', ')}\n`;
  return text;
}
