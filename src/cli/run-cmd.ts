/**
 * `halo run`: the daemon in the foreground (systemd runs it as a simple service).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BgpPart } from '../bgp/part.js';
import { createLogger, parseLogFormat, parseLogLevel } from '../daemon/log.js';
import { createLvsPart } from '../daemon/lvs.js';
import { HaloMetrics, MetricsServer, parseMetricsAddress } from '../daemon/metrics.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';
import { ConfigRejected, Supervisor } from '../daemon/supervisor.js';
import type { AlertEvent } from '../notify/index.js';
import type { Plans } from '../plan/index.js';
import { DEFAULT_CONFIG_PATHS } from './config-cmd.js';
import { oneLine, safeLines } from './one-line.js';

const HELP = `usage: halo run [-f FILE] [--vrrp-only | --check-only | --bgp-only] [--config-id ID]
                [--log-format json|pretty] [--log-level LEVEL] [--metrics HOST:PORT] [path options]

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
  --metrics HOST:PORT   serve Prometheus metrics on this address (opt-in; use loopback)
  --ipvs MODE           kernel (default: program IPVS over generic netlink) or dry-run
                        (no kernel IPVS needed: log what would be programmed)
  -I, --dont-release-ipvs  leave halo's IPVS services in the kernel at stop
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
      ipvs: { type: 'string', default: 'kernel' },
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
  const modes = (['vrrp-only', 'check-only', 'bgp-only'] as const).filter((m) => values[m]);
  if (modes.length > 1) {
    process.stderr.write(`halo run: --${modes[0]} and --${modes[1]} exclude each other\n`);
    return 2;
  }
  const configFile =
    values.config ?? DEFAULT_CONFIG_PATHS.find((p) => existsSync(p)) ?? DEFAULT_CONFIG_PATHS[0];
  const logger = createLogger({ format, level });
  const metrics = values.metrics ? new HaloMetrics() : undefined;
  // One BGP part, fed by the checker part's health; it runs when the config has a bgp block, except with
  // --vrrp-only / --check-only. --bgp-only is checks + IPVS + BGP without VRRP.
  const withBgp = !values['vrrp-only'] && !values['check-only'];
  const bgp = withBgp ? new BgpPart({ logger, metrics }) : undefined;

  const newLvsPart = createLvsPart({
    logger,
    metrics,
    ipvs: values.ipvs,
    keepIpvsOnStop: values['dont-release-ipvs'],
    vrrp: !values['check-only'] && !values['bgp-only'],
    onHealth: bgp ? (health) => bgp.healthChanged(health) : undefined,
  });
  const lvsPart = (plans: Plans, alert: (e: AlertEvent) => void) => {
    // --bgp-only without a bgp block: refuse before the checker and IPVS start (the LVS part is the first
    // part the supervisor builds when VRRP does not run).
    if (values['bgp-only'] && !plans.bgp) throw new Error('--bgp-only needs a bgp block in the config');
    return newLvsPart(plans, alert);
  };
  const supervisor = new Supervisor({
    configFile,
    configId: values['config-id'],
    paths,
    logger,
    metrics,
    vrrp: !values['check-only'] && !values['bgp-only'],
    keepVipsOnStop: values['dont-release-vrrp'],
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
  try {
    await supervisor.start();
  } catch (err) {
    if (err instanceof ConfigRejected) {
      process.stderr.write(
        `halo run: refusing to start with an invalid config:\n${safeLines(err.message)}\n`,
      );
    } else {
      logger.daemonError({ context: 'start', err });
      process.stderr.write(`halo run: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    }
    await supervisor.stop('start failed').catch(() => undefined);
    return 1;
  }
  let metricsServer: MetricsServer | undefined;
  if (metrics && values.metrics) {
    metricsServer = new MetricsServer(metrics, parseMetricsAddress(values.metrics), (err) =>
      logger.daemonError({ context: 'metrics', err }),
    );
    await metricsServer.listen();
  }
  await supervisor.stopped;
  await metricsServer?.close();
  return 0;
}
