/**
 * `halo events [--follow] [--json] [--socket PATH | --run-dir DIR] [--timeout SECONDS]`
 *
 * Prints the running daemon's events (VRRP transitions, real servers up/down/drained, quorum, IPVS changes
 * and drift repairs, reloads, peer drift, alerts, start and stop): the backlog it kept, then with --follow
 * each new one as it happens, until Ctrl-C. With --follow a daemon restart is survived: the command waits
 * for the daemon to answer again and goes on with the new daemon's events.
 * Exit codes: 0 ok (or interrupted), 1 daemon not reachable / error answer, 2 usage.
 */
import { ControlClientError, readEvents } from '../daemon/control.js';
import { type EventEnvelope, formatEventLine } from '../daemon/events.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';

const USAGE = `usage: halo events [--follow] [--json] [--socket PATH | --run-dir DIR] [--timeout SECONDS]

Shows what happened in the running halo, oldest first: VRRP transitions, real servers going
up/down/drained, quorum, IPVS changes and drift repairs, reloads, peer drift, alerts.
  -f, --follow       keep going: print each new event as it happens (Ctrl-C to stop)
  --json             one JSON object per line (the event as the daemon sent it)
  --timeout SECONDS  how long to wait for the daemon to answer (default 5)
  --socket PATH      control socket (default /run/halo/halo.sock)
  --run-dir DIR      use DIR/halo.sock`;

export interface EventsOptions {
  socket: string;
  follow: boolean;
  json: boolean;
  timeoutMs: number;
}

export function parseEventsArgs(argv: string[]): EventsOptions | 'help' {
  const { paths, rest } = parsePathArgs(argv);
  const o: EventsOptions = { socket: paths.controlSocket, follow: false, json: false, timeoutMs: 5000 };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--follow' || a === '-f') o.follow = true;
    else if (a === '--json') o.json = true;
    else if (a === '--timeout') {
      const n = Number(rest[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout needs a number of seconds');
      o.timeoutMs = n * 1000;
    } else throw new UsageError(`unknown option '${a}'`);
  }
  return o;
}

export interface EventsIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /** Resolves after ms (or early when `signal` aborts). */
  sleep(ms: number): Promise<void>;
}

export async function runEvents(argv: string[], io: EventsIo): Promise<number> {
  let o: EventsOptions | 'help';
  try {
    o = parseEventsArgs(argv);
  } catch (err) {
    io.stderr.write(`halo events: ${(err as Error).message}\n${USAGE}\n${PATH_FLAGS_HELP}\n`);
    return 2;
  }
  if (o === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const opts = o;
  const print = (e: EventEnvelope) =>
    io.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : `${formatEventLine(e)}\n`);
  let stream: string | undefined;
  let lastSeq: number | undefined;
  let waiting = false;
  for (;;) {
    try {
      const how = await readEvents(opts.socket, {
        follow: opts.follow,
        // After a reconnect to the same daemon, only what we have not printed yet.
        since: lastSeq,
        timeoutMs: opts.timeoutMs,
        signal: io.signal,
        onInfo: (info) => {
          if (stream !== undefined && info.stream !== stream) {
            io.stderr.write('halo events: the daemon restarted; its events follow\n');
            lastSeq = undefined;
          }
          if (waiting) io.stderr.write('halo events: connected again\n');
          waiting = false;
          stream = info.stream;
          if (info.missed > 0)
            io.stderr.write(
              `halo events: ${info.missed} earlier event(s) are no longer kept by the daemon\n`,
            );
        },
        onEvent: (e) => {
          if (lastSeq !== undefined && e.seq <= lastSeq) return;
          lastSeq = e.seq;
          print(e);
        },
      });
      if (how === 'aborted' || !opts.follow) return 0;
      io.stderr.write('halo events: the daemon closed the stream (stopping?); waiting for it to come back\n');
      waiting = true;
    } catch (err) {
      const msg =
        err instanceof ControlClientError ? err.message : `events failed: ${(err as Error).message}`;
      const reachable =
        !(err instanceof ControlClientError) || err.code === 'remote' || err.code === 'protocol';
      if (!opts.follow || stream === undefined || reachable) {
        io.stderr.write(`halo: ${msg}\n`);
        return 1;
      }
      if (!waiting) io.stderr.write(`halo events: ${msg}; waiting for it to come back\n`);
      waiting = true;
    }
    if (io.signal.aborted) return 0;
    await io.sleep(1000);
    if (io.signal.aborted) return 0;
  }
}

export async function run(argv: string[]): Promise<number> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  // `halo events | head`: the reader left, which is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') ac.abort();
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await runEvents(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      signal: ac.signal,
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          ac.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
