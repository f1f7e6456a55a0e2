/**
 * `halo status [--socket PATH | --run-dir DIR] [--json] [--watch [SECONDS]] [--timeout SECONDS]`
 *
 * Asks the running daemon over its control socket and prints a table (or the raw JSON document).
 * Exit codes: 0 ok, 1 daemon not reachable / error answer, 2 usage.
 */
import { ControlClientError, controlRequest } from '../daemon/control.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';
import { renderJson, renderStatusText } from '../daemon/status.js';
import { oneLine } from './one-line.js';

const USAGE = `usage: halo status [--socket PATH] [--json] [--watch [SECONDS]] [--timeout SECONDS]

Shows VRRP instances, virtual and real servers and IPVS state of the running halo.
  --json             print the status document as JSON
  --watch [SECONDS]  redraw every SECONDS (default 2) until interrupted
  --timeout SECONDS  how long to wait for the daemon (default 5)
  --socket PATH      control socket (default /run/halo/halo.sock)
  --run-dir DIR      use DIR/halo.sock`;

export interface StatusOptions {
  socket: string;
  json: boolean;
  watchSeconds?: number;
  timeoutMs: number;
}

function positiveSeconds(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n <= 0 || n > 86400) {
    throw new UsageError(`${flag} needs a number of seconds`);
  }
  return n;
}

export function parseStatusArgs(argv: string[]): StatusOptions | 'help' {
  const { paths, rest } = parsePathArgs(argv);
  const opts: StatusOptions = { socket: paths.controlSocket, json: false, timeoutMs: 5000 };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--help' || a === '-h') return 'help';
    else if (a === '--json') opts.json = true;
    else if (a === '--watch' || a === '-w') {
      const next = rest[i + 1];
      if (next !== undefined && /^\d+(\.\d+)?$/.test(next)) {
        opts.watchSeconds = positiveSeconds(a, next);
        i++;
      } else opts.watchSeconds = 2;
    } else if (a.startsWith('--watch=')) opts.watchSeconds = positiveSeconds('--watch', a.slice(8));
    else if (a === '--timeout') opts.timeoutMs = positiveSeconds(a, rest[++i]) * 1000;
    else throw new UsageError(`unknown option '${a}'`);
  }
  return opts;
}

export interface StatusIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  /** Resolves after ms, or early (with false) when interrupted. */
  sleep(ms: number): Promise<boolean>;
  now(): number;
}

/** One fetch+render; returns the exit code. */
async function showOnce(opts: StatusOptions, io: StatusIo, clear: boolean): Promise<number> {
  try {
    const doc = await controlRequest(opts.socket, 'status', { timeoutMs: opts.timeoutMs });
    const text = opts.json ? renderJson(doc) : renderStatusText(doc, io.now());
    io.stdout.write(clear ? `\x1b[H\x1b[2J${text}` : text);
    return 0;
  } catch (err) {
    const msg = err instanceof ControlClientError ? err.message : `status failed: ${(err as Error).message}`;
    if (clear) io.stdout.write('\x1b[H\x1b[2J');
    io.stderr.write(`halo: ${oneLine(msg)}\n`);
    return 1;
  }
}

export async function runStatus(argv: string[], io: StatusIo): Promise<number> {
  let opts: StatusOptions | 'help';
  try {
    opts = parseStatusArgs(argv);
  } catch (err) {
    io.stderr.write(`halo status: ${oneLine((err as Error).message)}\n${USAGE}\n${PATH_FLAGS_HELP}\n`);
    return 2;
  }
  if (opts === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (opts.watchSeconds === undefined) return showOnce(opts, io, false);
  // --watch keeps going when the daemon is briefly away (restart) and shows why meanwhile.
  const clear = io.stdout.isTTY === true;
  for (;;) {
    await showOnce(opts, io, clear);
    if (!(await io.sleep(opts.watchSeconds * 1000))) return 0;
  }
}

export async function run(argv: string[]): Promise<number> {
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSigint = () => {
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onSigint);
  try {
    return await runStatus(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      now: Date.now,
      sleep: (ms) =>
        new Promise<boolean>((resolve) => {
          if (interrupted) return resolve(false);
          const t = setTimeout(() => resolve(!interrupted), ms);
          wake = () => {
            clearTimeout(t);
            resolve(false);
          };
        }),
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
