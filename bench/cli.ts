/**
 * What every benchmark's command line shares:
 *  - `benchArgs(spec)`: parses the options; `--help` prints the usage and exits 0 before anything else
 *    happens (no namespace, no VM, no daemon); an unknown option prints the problem and the usage, exit 2;
 *    a bench that needs root says so in one line instead of failing half-way with a stack trace.
 *  - Ctrl-C (SIGINT), SIGTERM and SIGHUP: every namespace lab still alive in this process is cleaned up
 *    (its daemons, tcpdumps and servers killed by PID, its namespaces deleted) and whatever the bench
 *    registered with `atExit()` runs; then the process exits 130/143/129. Namespaces are named
 *    `halolab-<pid>-...` (test/helpers/netns.ts), so a bench killed too hard for that (SIGKILL) leaves
 *    names `npm run lab -- --cleanup` removes once this PID is gone.
 *
 *   const values = benchArgs({ usage: USAGE, options: { runs: { type: 'string', default: '5' } } });
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { cleanupLiveLabs } from '../test/helpers/netns.js';

export interface BenchSpec<O extends NonNullable<ParseArgsConfig['options']>> {
  /** The whole usage text, printed for --help and after a usage error. */
  usage: string;
  options: O;
  /** Refuse to start without root (namespaces, raw sockets), with one clear line. */
  needsRoot?: boolean;
  /** argv (default: process.argv without node and the script). */
  args?: string[];
}

const exitHooks: (() => unknown)[] = [];
let installed = false;
let leaving = false;

/** Runs `fn` (sync or async) when the bench is interrupted; returns a function that unregisters it. */
export function atExit(fn: () => unknown): () => void {
  installSignals();
  exitHooks.push(fn);
  return () => {
    const i = exitHooks.indexOf(fn);
    if (i >= 0) exitHooks.splice(i, 1);
  };
}

/** Cleans up after an interruption: the bench's own hooks (newest first), then every live lab. */
export async function cleanupAll(): Promise<void> {
  for (const fn of [...exitHooks].reverse()) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
  exitHooks.length = 0;
  await cleanupLiveLabs();
}

function installSignals(): void {
  if (installed) return;
  installed = true;
  const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
  for (const [sig, code] of Object.entries(codes) as [NodeJS.Signals, number][]) {
    process.on(sig, () => {
      if (leaving) return;
      leaving = true;
      process.stderr.write(`\n${sig}: cleaning up (daemons, namespaces) ...\n`);
      // A second signal during the cleanup is ignored: half a cleanup is what leaves namespaces behind.
      void cleanupAll().finally(() => process.exit(code));
    });
  }
}

export function benchArgs<O extends NonNullable<ParseArgsConfig['options']>>(spec: BenchSpec<O>) {
  const args = spec.args ?? process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${spec.usage.trimEnd()}\n`);
    process.exit(0);
  }
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: false }>>;
  try {
    parsed = parseArgs({ args, options: spec.options, allowPositionals: false });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${spec.usage.trimEnd()}\n`);
    process.exit(2);
  }
  if (spec.needsRoot && process.getuid?.() !== 0) {
    process.stderr.write('this benchmark needs root (network namespaces, raw sockets): run it as root\n');
    process.exit(1);
  }
  installSignals();
  return parsed.values;
}

/**
 * Runs the bench's main: an error is printed (its stack only when it is not a plain message of ours) and
 * everything still alive is cleaned up before the exit code is set.
 */
export async function runBench(main: () => Promise<void>): Promise<void> {
  installSignals();
  try {
    await main();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    if (!leaving) await cleanupAll();
  }
}
