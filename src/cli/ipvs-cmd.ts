/**
 * `halo ipvs list [-f CONFIG] [--json] [--plain]`
 *
 * Shows the kernel's IPVS table in `ipvsadm -Ln` layout. With a config (-f), each service is marked as owned
 * by halo (it is in the config) or foreign, and each real server says why it is in or out of the kernel
 * (from the desired state; without a running daemon's health results, real servers are shown in their
 * start-up state: up unless `alpha`). Annotations follow "  # " at the end of lines; --plain omits them.
 * Exit codes: 0 ok, 1 kernel/config error, 2 usage.
 */
import { IpvsClient } from '../ipvs/client.js';
import { computeDesired, type DesiredResult } from '../ipvs/desired.js';
import { renderIpvsadm } from '../ipvs/render.js';
import { destKeyString, type KernelService, serviceKeyString } from '../ipvs/types.js';

const USAGE = `usage: halo ipvs list [-f CONFIG] [--json] [--plain]

Shows the kernel IPVS table like 'ipvsadm -Ln', plus which services halo owns and why each real
server is in or out.
  -f, --config FILE  the halo/keepalived config whose services halo owns
  --json             machine-readable output
  --plain            exactly the ipvsadm -Ln layout, no annotations`;

interface ListOptions {
  config?: string;
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

  let desired: DesiredResult | undefined;
  if (o.config) {
    const { loadConfig, formatDiagnostic } = await import('../config/index.js');
    const { config, diagnostics } = await loadConfig(o.config, { hostChecks: 'off' });
    for (const d of diagnostics) if (d.severity === 'error') process.stderr.write(`${formatDiagnostic(d)}\n`);
    if (!config) return 1;
    try {
      desired = computeDesired(config, new Map());
    } catch (e) {
      process.stderr.write(`halo ipvs: ${(e as Error).message}\n`);
      return 1;
    }
  }

  let client: IpvsClient;
  try {
    client = await IpvsClient.open();
  } catch (e) {
    process.stderr.write(`halo ipvs: cannot talk to the kernel IPVS: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const [info, table] = await Promise.all([client.getInfo(), client.dumpTable()]);
    process.stdout.write(
      o.json
        ? `${JSON.stringify(listDocument(info, table, desired), bigintJson, 2)}\n`
        : renderList(info, table, desired, o.plain),
    );
    return 0;
  } catch (e) {
    process.stderr.write(`halo ipvs: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

export function listDocument(
  info: { version: number; connTableSize: number },
  table: KernelService[],
  desired?: DesiredResult,
) {
  const statusByVs = new Map<string, NonNullable<DesiredResult>['status']>();
  for (const s of desired?.status ?? []) {
    const l = statusByVs.get(s.virtualServer) ?? [];
    l.push(s);
    statusByVs.set(s.virtualServer, l);
  }
  return {
    info,
    services: table.map((ks) => ({
      ...ks.service,
      key: serviceKeyString(ks.service),
      owned: desired ? desired.owned.has(serviceKeyString(ks.service)) : undefined,
      dests: ks.dests,
    })),
    realServers: desired?.status,
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
  // Reasons are per (virtual server, real server); one virtual server can map to several services (groups).
  const reasons = new Map<string, string>();
  for (const s of desired.status)
    reasons.set(`${s.virtualServer}|${s.realServer}`, `${s.inKernel ? 'in' : 'out'}: ${s.reason}`);
  let text = renderIpvsadm(info, table, {
    service: (s) => {
      const vsId = desired.serviceOwner.get(serviceKeyString(s));
      return vsId ? `halo: owned (virtual server ${vsId})` : 'not halo';
    },
    dest: (s, d) => {
      const key = serviceKeyString(s);
      const w = want.get(key);
      if (!w) return undefined;
      const wd = w.dests.find((x) => destKeyString(x) === destKeyString(d));
      if (!wd) return 'halo: not in config (will be removed)';
      const vsId = desired.serviceOwner.get(key);
      const r =
        reasons.get(`${vsId}|${destKeyString(d)}`) ??
        reasons.get(`${vsId}|sorry ${destKeyString(d)}`) ??
        'in';
      return wd.weight !== d.weight || wd.forward !== d.forward
        ? `halo: ${r}; drift: should be ${wd.forward} weight ${wd.weight}`
        : `halo: ${r}`;
    },
    extra: (s) => {
      const key = serviceKeyString(s);
      const vsId = desired.serviceOwner.get(key);
      const w = want.get(key);
      const lines: string[] = [];
      for (const st of desired.status) {
        if (st.virtualServer !== vsId) continue;
        const addr = st.realServer.replace(/^sorry /, '');
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
