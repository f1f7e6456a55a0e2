/**
 * Planned operations on the VRRP side, over the control socket (main.ts passes the verb as argv[0]):
 *
 *   halo failover INSTANCE... | --all [--timeout SECONDS]   hand mastership to the peer, stay BACKUP
 *   halo failover --clear INSTANCE... | --all               end that: ordinary election again
 *   halo maintenance on | off                               the whole node BACKUP (kept across restarts)
 *
 * Every request carries who asked ("USER (pid N) via halo failover"), which the daemon logs and shows in
 * `halo status`. Exit codes: 0 done, 1 failure or not running, 2 usage.
 */
import { userInfo } from 'node:os';
import { ControlClientError, controlRequest, type HoldCommandResult } from '../daemon/control.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';
import type { ControlIo } from './control-cmd.js';

const USAGE = `usage: halo failover INSTANCE... | --all [--timeout SECONDS] [--json] [path options]
       halo failover --clear INSTANCE... | --all [--json] [path options]
       halo maintenance on | off [--json] [path options]

  failover      hand the named instances (a sync group's members go together) to the peer without
                stopping: priority 0 adverts, the VIPs kept until the peer announces itself as MASTER,
                then BACKUP. They stay BACKUP (no preemption back) until --clear or --timeout; if the
                peer goes silent meanwhile they still take over, so the VIPs are never left unserved.
  --clear       end a failover: ordinary election (a higher priority preempts back)
  --timeout S   the failover ends by itself after S seconds
  maintenance   on: every instance hands over and stays BACKUP whatever happens, BGP routes are
                withdrawn; kept across reloads and restarts (/run/halo/halo.maintenance). off: ends it.
  --json        print the daemon's answer as JSON`;

function origin(verb: string): string {
  let user = 'unknown user';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: keep the placeholder
  }
  return `${user} (pid ${process.pid}) via halo ${verb}`;
}

export async function runHold(argv: string[], io: ControlIo): Promise<number> {
  const [verb, ...args] = argv;
  let socket: string;
  let json = false;
  const names: string[] = [];
  let all = false;
  let clear = false;
  let timeoutS: number | undefined;
  let onOff: boolean | undefined;
  try {
    const { paths, rest } = parsePathArgs(args);
    socket = paths.controlSocket;
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i];
      if (a === '--help' || a === '-h') {
        io.stdout.write(`${USAGE}\n`);
        return 0;
      }
      if (a === '--json') json = true;
      else if (verb === 'failover' && a === '--all') all = true;
      else if (verb === 'failover' && a === '--clear') clear = true;
      else if (verb === 'failover' && a === '--timeout') {
        const n = Number(rest[++i]);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout needs a number of seconds');
        timeoutS = n;
      } else if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
      else if (verb === 'maintenance' && onOff === undefined && (a === 'on' || a === 'off'))
        onOff = a === 'on';
      else if (verb === 'failover') names.push(a);
      else throw new UsageError(`unexpected '${a}'`);
    }
    if (verb === 'failover' && !all && names.length === 0)
      throw new UsageError('name the instances to fail over, or --all');
    if (verb === 'failover' && all && names.length > 0)
      throw new UsageError('--all and instance names exclude each other');
    if (verb === 'failover' && clear && timeoutS !== undefined)
      throw new UsageError('--timeout goes with a failover, not with --clear');
    if (verb === 'maintenance' && onOff === undefined) throw new UsageError("say 'on' or 'off'");
  } catch (err) {
    io.stderr.write(`halo ${verb}: ${(err as Error).message}\n${USAGE}\n${PATH_FLAGS_HELP}\n`);
    return 2;
  }

  try {
    // A handover waits for the peer (bounded by its master-down interval): give it time.
    const timeoutMs = 20_000;
    const r: HoldCommandResult =
      verb === 'maintenance'
        ? await controlRequest(socket, 'maintenance', {
            timeoutMs,
            args: { on: onOff === true, origin: origin(verb) },
          })
        : await controlRequest(socket, 'failover', {
            timeoutMs,
            args: {
              ...(all ? { all: true } : { instances: names }),
              ...(clear ? { clear: true } : {}),
              ...(timeoutS !== undefined ? { timeoutS } : {}),
              origin: origin(verb),
            },
          });
    if (json) io.stdout.write(`${JSON.stringify(r)}\n`);
    else io.stdout.write(describe(verb, r, clear, onOff));
    if (r.unknown.length) {
      io.stderr.write(`halo ${verb}: no such instance: ${r.unknown.join(', ')}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    const msg = err instanceof ControlClientError ? err.message : `${verb} failed: ${(err as Error).message}`;
    io.stderr.write(`halo: ${msg}\n`);
    return 1;
  }
}

function describe(verb: string, r: HoldCommandResult, clear: boolean, on: boolean | undefined): string {
  const list = r.instances.join(', ') || 'no instance';
  if (verb === 'maintenance')
    return on
      ? `maintenance mode on: ${list} handed over and held in BACKUP\n`
      : `maintenance mode off: ${list} back to the ordinary election\n`;
  return clear
    ? `failover cleared: ${list} back to the ordinary election\n`
    : `failover: ${list} handed to the peer and held in BACKUP (see 'halo status')\n`;
}

export async function run(argv: string[]): Promise<number> {
  return runHold(argv, { stdout: process.stdout, stderr: process.stderr });
}
