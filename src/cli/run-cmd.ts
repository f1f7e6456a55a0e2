/**
 * `halo run`: the daemon in the foreground (systemd runs it as a simple service).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BgpPart } from '../bgp/part.js';
import { DEFAULT_CONFIG_PATHS } from '../config/default-paths.js';
import { ControlSocketInUseError } from '../daemon/control.js';
import { EventBus } from '../daemon/events.js';
import type { HaloHttpServer } from '../daemon/http.js';
import { DEFAULT_METRICS_PORT, type MetricsAddress, parseMetricsAddress } from '../daemon/http-address.js';
import { createLogger, type HaloLogger, parseLogFormat, parseLogLevel } from '../daemon/log.js';
import type { LvsPlans } from '../daemon/lvs.js';
import { PATH_FLAGS_HELP, PidFileLockedError, parsePathArgs, UsageError } from '../daemon/paths.js';
import { ConfigRejected, Supervisor } from '../daemon/supervisor.js';
import type { AlertEvent } from '../notify/index.js';
import type { Plans } from '../plan/index.js';
import { oneLine, safeLines } from './one-line.js';

const HELP = `usage: halo run [-f FILE] [--vrrp-only | --check-only | --bgp-only] [--config-id ID]
                [--log-format json|pretty] [--log-level LEVEL] [--http HOST:PORT]
                [--metrics HOST:PORT] [--ipvs kernel|dry-run] [--release handover|immediate]
                [path options]

Runs halo in the foreground: VRRP (in its own thread), the health checker, the
IPVS reconciler and, with a bgp block, the BGP announcements. SIGHUP reloads,
SIGTERM/SIGINT stop (priority 0 adverts, BGP routes withdrawn, VIPs removed),
SIGUSR1 writes the data dump, SIGUSR2 the stats.

  -f, --config FILE     config (default ${DEFAULT_CONFIG_PATHS.join(', then ')})
  --vrrp-only           run VRRP only (no checks, no IPVS)
  --check-only          run checks + IPVS only (no VRRP, no BGP)
  --bgp-only            run checks + IPVS + BGP announcements, no VRRP: an active-active
                        director with no VRRP peer (the config needs a bgp block)
  --config-id ID        for @ID conditional lines (default: short hostname)
  --log-format FORMAT   json (default, for journald) or pretty
  --log-level LEVEL     trace, debug, info (default), warn, error
  --http HOST:PORT      serve the status page (/), /metrics, /api/status and /api/events
                        (server-sent events) on this address (opt-in, read-only; use loopback,
                        e.g. 127.0.0.1:${DEFAULT_METRICS_PORT}, and an SSH tunnel to look from elsewhere)
  --metrics HOST:PORT   serve Prometheus metrics alone on this address (opt-in; use loopback)
  --ipvs MODE           kernel (default: program IPVS over generic netlink) or dry-run
                        (no kernel IPVS needed: log what would be programmed)
  -I, --dont-release-ipvs  leave halo's IPVS services in the kernel at stop
  --release MODE        at stop, a MASTER: handover (default: priority 0 sent, the VIPs kept and
                        answered for until the peer announces itself as MASTER, at most one
                        master-down interval, so clients lose nothing) or immediate (keepalived's
                        way: priority 0 and the VIPs go at once)
  -V, --dont-release-vrrp  leave the VIPs in place at stop (priority 0 is still sent)

${PATH_FLAGS_HELP}`;

/** How long a graceful stop after an uncaught error may take before the process exits anyway. */
const FATAL_STOP_MS = 15_000;

/** The options `halo run` takes; `--bogus`, `-f` without a file or `--config=` are usage errors (exit 2). */
export function parseRunArgs(argv: string[]) {
  const { paths, rest } = parsePathArgs(argv);
  const { values } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'f' },
      'vrrp-only': { type: 'boolean', default: false },
      'check-only': { type: 'boolean', default: false },
      'bgp-only': { type: 'boolean', default: false },
      'config-id': { type: 'string' },
      'log-format': { type: 'string', default: 'json' },
      'log-level': { type: 'string', default: 'info' },
      metrics: { type: 'string' },
      http: { type: 'string' },
      ipvs: { type: 'string', default: 'kernel' },
      release: { type: 'string', default: 'handover' },
      'dont-release-ipvs': { type: 'boolean', short: 'I', default: false },
      'dont-release-vrrp': { type: 'boolean', short: 'V', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.config === '') throw new UsageError('-f/--config needs a file name, got an empty one');
  return { paths, values };
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    parsed = parseRunArgs(argv);
  } catch (err) {
    // node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes; paths.ts throws UsageError.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`halo run: ${oneLine((err as Error).message)}\n${HELP}\n`);
      return 2;
    }
    throw err;
  }
  const { paths, values } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const format = parseLogFormat(values['log-format']);
  const level = parseLogLevel(values['log-level']);
  if (!format || !level) {
    process.stderr.write(`halo run: bad --log-format or --log-level\n${HELP}\n`);
    return 2;
  }
  if (values.ipvs !== 'kernel' && values.ipvs !== 'dry-run') {
    process.stderr.write(`halo run: --ipvs takes kernel or dry-run\n`);
    return 2;
  }
  if (values.release !== 'handover' && values.release !== 'immediate') {
    process.stderr.write(`halo run: --release takes handover or immediate\n`);
    return 2;
  }
  const modes = (['vrrp-only', 'check-only', 'bgp-only'] as const).filter((m) => values[m]);
  if (modes.length > 1) {
    process.stderr.write(`halo run: --${modes[0]} and --${modes[1]} exclude each other\n`);
    return 2;
  }
  const configFile =
    values.config ?? DEFAULT_CONFIG_PATHS.find((p) => existsSync(p)) ?? DEFAULT_CONFIG_PATHS[0];
  let httpAddress: MetricsAddress | undefined;
  let metricsAddress: MetricsAddress | undefined;
  for (const flag of ['http', 'metrics'] as const) {
    const text = values[flag];
    if (text === undefined) continue;
    try {
      const a = parseMetricsAddress(text);
      if (flag === 'http') httpAddress = a;
      else metricsAddress = a;
    } catch (err) {
      process.stderr.write(`halo run: ${(err as Error).message.replace(/^--metrics/, `--${flag}`)}\n`);
      return 2;
    }
  }
  const logger = createLogger({ format, level });
  // Each part's modules load only when it runs: a VRRP-only director never loads the checker, IPVS
  // and BGP stacks, nor prom-client without --metrics/--http (docs/footprint.md).
  const metrics =
    metricsAddress || httpAddress ? new (await import('../daemon/metrics.js')).HaloMetrics() : undefined;
  const events = new EventBus({ onListenerError: (err) => logger.daemonError({ context: 'events', err }) });
  // One BGP part, fed by the checker part's health; it runs when the config has a bgp block, except with
  // --vrrp-only / --check-only. --bgp-only is checks + IPVS + BGP without VRRP.
  const withBgp = !values['vrrp-only'] && !values['check-only'];
  const bgp: BgpPart | undefined = withBgp
    ? new (await import('../bgp/part.js')).BgpPart({ logger, metrics })
    : undefined;

  const lvsModule = values['vrrp-only'] ? undefined : await import('../daemon/lvs.js');
  const newLvsPart = lvsModule?.createLvsPart({
    logger,
    metrics,
    ipvs: values.ipvs,
    keepIpvsOnStop: values['dont-release-ipvs'],
    vrrp: !values['check-only'] && !values['bgp-only'],
    onHealth: bgp ? (health) => bgp.healthChanged(health) : undefined,
    events: (e) => events.publish(e),
    overridesFile: paths.rsOverridesFile,
  });
  const lvsPart = (plans: Plans, alert: (e: AlertEvent) => void) => {
    // --bgp-only without a bgp block: refuse before the checker and IPVS start (the LVS part is the first
    // part the supervisor builds when VRRP does not run).
    if (values['bgp-only'] && !plans.bgp) throw new Error('--bgp-only needs a bgp block in the config');
    return newLvsPart?.(plans as LvsPlans, alert);
  };
  const supervisor = new Supervisor({
    configFile,
    configId: values['config-id'],
    paths,
    logger,
    metrics,
    events,
    vrrp: !values['check-only'] && !values['bgp-only'],
    keepVipsOnStop: values['dont-release-vrrp'],
    release: values.release,
    lvs: values['vrrp-only'] ? undefined : lvsPart,
    bgp: bgp ? () => bgp : undefined,
  });
  // An uncaught error anywhere in the main thread is a bug: log it, stop gracefully (priority 0, VIPs
  // and services released, notify STOP), and leave no pid file or socket behind even if that stop hangs.
  // Node's default (print and exit at once) would leave the VIPs, the pid file and the socket.
  let fatal = false;
  const onFatal = (err: unknown) => {
    logger.daemonError({ context: 'fatal', err });
    if (fatal) return;
    fatal = true;
    process.stderr.write(
      `halo run: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    const exit = () => {
      supervisor.releaseFilesSync();
      process.exit(1);
    };
    setTimeout(exit, FATAL_STOP_MS).unref();
    supervisor.stop('fatal error').then(exit, exit);
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);

  // The HTTP servers bind before anything else starts: a taken port refuses the start before VRRP
  // has claimed a VIP, instead of after.
  const servers: HaloHttpServer[] = [];
  const HttpServer =
    httpAddress || metricsAddress ? (await import('../daemon/http.js')).HaloHttpServer : undefined;
  const onHttpError = (err: unknown) => logger.daemonError({ context: 'http', err });
  if (httpAddress && HttpServer) {
    servers.push(
      new HttpServer({
        address: httpAddress,
        metrics,
        page: { status: () => supervisor.statusDocument(), events },
        onError: onHttpError,
      }),
    );
  }
  // --metrics on its own address keeps serving /metrics alone (on the --http address it is served already).
  if (metricsAddress && HttpServer && !(httpAddress && sameAddress(httpAddress, metricsAddress))) {
    servers.push(new HttpServer({ address: metricsAddress, metrics, onError: onHttpError }));
  }
  try {
    for (const s of servers) {
      await s.listen().catch((err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.message;
        throw new StartRefused(`cannot serve HTTP on ${describeAddress(s)}: ${why}`, 'http-address');
      });
      if (s.exposure === 'network') {
        logger.pino.warn(
          { event: 'http.exposed', address: describeAddress(s) },
          `HTTP on ${describeAddress(s)} is reachable from the network: it shows the topology (VIPs, real servers, states); keep it on loopback or firewall it`,
        );
      }
    }
    await supervisor.start();
  } catch (err) {
    if (err instanceof ConfigRejected) {
      process.stderr.write(
        `halo run: refusing to start with an invalid config:\n${safeLines(err.message)}\n`,
      );
    } else {
      reportStartFailure(logger, err);
    }
    await supervisor.stop('start failed').catch(() => undefined);
    for (const s of servers) await s.close();
    return 1;
  }
  await supervisor.stopped;
  for (const s of servers) await s.close();
  return 0;
}

class StartRefused extends Error {
  constructor(
    message: string,
    readonly kind: string,
  ) {
    super(message);
  }
}

/** Why the start failed: expected reasons in one clear line, anything else with its stack trace. */
function reportStartFailure(logger: HaloLogger, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const cause =
    err instanceof StartRefused
      ? err.kind
      : err instanceof PidFileLockedError || err instanceof ControlSocketInUseError
        ? 'already-running'
        : (err as Error | undefined)?.name === 'IpvsUnavailableError'
          ? 'ipvs-unavailable'
          : (err as Error | undefined)?.name === 'MissingCapabilityError'
            ? 'missing-capability'
            : undefined;
  if (cause) logger.daemonStartRefused({ reason: message, cause });
  else logger.daemonError({ context: 'start', err });
  process.stderr.write(`halo run: ${oneLine(message)}\n`);
}

function sameAddress(a: MetricsAddress, b: MetricsAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

function describeAddress(s: HaloHttpServer): string {
  const a = s.boundAddress ?? s.address;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
