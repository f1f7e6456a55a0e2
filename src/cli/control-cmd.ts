/**
 * `halo reload [--socket PATH]` and `halo stop [--socket PATH]`: main.ts passes the verb as argv[0].
 * Also serves `halo dump`.
 *
 * reload: the daemon re-reads its config; a config with errors is rejected and the running one kept (the
 * errors are printed and the exit code is 1). stop: the daemon acknowledges, then shuts down (priority 0
 * adverts, VIPs removed). Exit codes: 0 ok, 1 failure/rejected/not running, 2 usage.
 */
import { ControlClientError, controlRequest } from '../daemon/control.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';
import { oneLine } from './one-line.js';

const USAGE = `usage: halo reload [--plan] [--socket PATH | --run-dir DIR] [--timeout SECONDS]
       halo stop [--socket PATH | --run-dir DIR] [--timeout SECONDS]
       halo dump [--socket PATH | --run-dir DIR] [--timeout SECONDS]

  reload   re-read the configuration of the running halo (kept unchanged if the new one has errors);
           with --plan, print what the reload would do (VRRP instances updated in place or restarted,
           VIPs, checkers, IPVS operations) and change nothing
  stop     stop the running halo (under systemd prefer 'systemctl stop halo')
  dump     write the data and stats dumps (as SIGUSR1/SIGUSR2 do) and print their paths

  --socket PATH      the running halo's control socket (default /run/halo/halo.sock)
  --run-dir DIR      the --run-dir the halo was started with (its socket is DIR/halo.sock)
  --timeout SECONDS  how long to wait for the answer (default 30 for reload, 5 otherwise)`;

export interface ControlIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export async function runControl(argv: string[], io: ControlIo): Promise<number> {
  const [verb, ...args] = argv;
  if (verb !== 'reload' && verb !== 'stop' && verb !== 'dump') {
    io.stderr.write(`halo: control command must be reload, stop or dump, not '${verb ?? ''}'\n${USAGE}\n`);
    return 2;
  }
  let socket: string;
  let timeoutMs = verb === 'reload' ? 30_000 : 5000; // a reload re-resolves and re-checks: give it time
  let planOnly = false;
  try {
    const { paths, rest } = parsePathArgs(args);
    socket = paths.controlSocket;
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i];
      if (a === '--help' || a === '-h') {
        io.stdout.write(`${USAGE}\n`);
        return 0;
      }
      if (a === '--plan' && verb === 'reload') {
        planOnly = true;
        continue;
      }
      if (a === '--timeout') {
        const n = Number(rest[++i]);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout needs a number of seconds');
        timeoutMs = n * 1000;
      } else throw new UsageError(`unknown option '${a}'`);
    }
  } catch (err) {
    io.stderr.write(`halo ${verb}: ${oneLine((err as Error).message)}\n${USAGE}\n${PATH_FLAGS_HELP}\n`);
    return 2;
  }

  try {
    if (verb === 'stop') {
      await controlRequest(socket, 'stop', { timeoutMs });
      io.stdout.write('halo is stopping\n');
      return 0;
    }
    if (verb === 'dump') {
      const d = await controlRequest(socket, 'dump', { timeoutMs });
      for (const f of d.files) io.stdout.write(`${oneLine(f)}\n`);
      return 0;
    }
    if (planOnly) {
      const p = await controlRequest(socket, 'reload-plan', { timeoutMs });
      if (!p.valid) {
        for (const e of p.errors) io.stderr.write(`${e}\n`);
        io.stderr.write(`halo: ${p.configFile} has errors: a reload would be rejected\n`);
        return 1;
      }
      io.stdout.write(p.text ?? '');
      return 0;
    }
    const r = await controlRequest(socket, 'reload', { timeoutMs });
    for (const w of r.warnings ?? []) io.stderr.write(`${oneLine(w)}\n`);
    if (r.applied) {
      io.stdout.write(`reloaded ${oneLine(r.configFile)}\n`);
      return 0;
    }
    for (const e of r.errors) io.stderr.write(`${oneLine(e)}\n`);
    io.stderr.write(
      `halo: reload rejected: ${oneLine(r.configFile)} has errors; the running configuration is unchanged\n`,
    );
    return 1;
  } catch (err) {
    const msg = err instanceof ControlClientError ? err.message : `${verb} failed: ${(err as Error).message}`;
    io.stderr.write(`halo: ${oneLine(msg)}\n`);
    return 1;
  }
}

export async function run(argv: string[]): Promise<number> {
  return runControl(argv, { stdout: process.stdout, stderr: process.stderr });
}
