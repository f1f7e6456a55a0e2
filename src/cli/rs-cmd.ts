/**
 * `halo rs drain|disable|enable|weight VS RS [N]`: runtime control of one real server of the running halo,
 * through the control socket's `rs` command (src/daemon/rs-control.ts). The daemon resolves VS and RS
 * against its running plan, records who asked, keeps the override across reloads and restarts, and sends
 * the change to IPVS at once.
 *
 * Exit codes: 0 done (or already so), 1 the daemon refused (unknown VS/RS...) or is not reachable, 2 usage.
 */
import { userInfo } from 'node:os';
import { ControlClientError, controlRequest } from '../daemon/control.js';
import { PATH_FLAGS_HELP, parsePathArgs, UsageError } from '../daemon/paths.js';
import { RS_ACTIONS, type RsAction, type RsParams, type RsResult } from '../daemon/rs-control.js';
import { WEIGHT_MAX } from '../daemon/rs-overrides.js';
import { parseRsArgs, RsSelectError } from '../plan/rs-select.js';

export const RS_USAGE = `usage: halo rs drain   VS RS    [options]
       halo rs disable VS RS    [options]
       halo rs enable  VS RS    [options]
       halo rs weight  VS RS N  [options]

Runtime control of one real server of the running halo. An override stays across reloads and
restarts of halo, is listed by 'halo status' with who set it and when, and 'enable' removes it.

  drain     weight 0 in IPVS: no new connections, open ones finish ('halo status' shows the
            IPVS active/inactive connection counts while it drains)
  disable   out of IPVS now, even while its checks pass
  enable    remove the override: the real server is back under its checks
  weight N  weight N (0-${WEIGHT_MAX}) while its checks pass; a failed check still takes it out

VS, the virtual server, as keepalived.conf or 'halo status' writes it:
  10.0.0.1:80   10.0.0.1 80   [2001:db8::1]:80   [10.0.0.1]:tcp:80   fwmark 1   group NAME
RS, a real server of that virtual server:
  10.0.0.21:80   10.0.0.21 80   [2001:db8::21]:80   10.0.0.21
A port or protocol may be left out when that leaves one candidate.

options:
  -p, --protocol P   tcp, udp or sctp: for an address and port that several protocols serve
  --json             print the daemon's answer as JSON
  --timeout SECONDS  how long to wait for the daemon (default 10)
  --socket PATH      control socket (default /run/halo/halo.sock)
  --run-dir DIR      use DIR/halo.sock`;

export interface RsOptions {
  socket: string;
  json: boolean;
  timeoutMs: number;
  params: RsParams;
}

/** Who runs this command, as the daemon records it beside the kernel's uid/pid: the sudo user if any. */
function whoAmI(env: NodeJS.ProcessEnv): string | undefined {
  if (env.SUDO_USER) return env.SUDO_USER;
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** The command line -> the request (throws UsageError / RsSelectError with the operator's words). */
export function parseRsCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): RsOptions | 'help' {
  const { paths, rest } = parsePathArgs(argv);
  let json = false;
  let timeoutMs = 10_000;
  let protocol: string | undefined;
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--json') json = true;
    else if (a === '--protocol' || a === '-p') {
      protocol = rest[++i];
      if (protocol === undefined) throw new UsageError(`${a} needs tcp, udp or sctp`);
    } else if (a.startsWith('--protocol=')) protocol = a.slice('--protocol='.length);
    else if (a === '--timeout') {
      const n = Number(rest[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout needs a number of seconds');
      timeoutMs = n * 1000;
    } else if (a.startsWith('-') && !/^-\d+$/.test(a)) throw new UsageError(`unknown option '${a}'`);
    else words.push(a);
  }
  const [verb, ...args] = words;
  if (verb === undefined) throw new UsageError(`say what to do: ${RS_ACTIONS.join(', ')}`);
  if (!(RS_ACTIONS as readonly string[]).includes(verb))
    throw new UsageError(`unknown action '${verb}' (expected ${RS_ACTIONS.join(', ')})`);
  const action = verb as RsAction;
  let weight: number | undefined;
  if (action === 'weight') {
    const text = args.pop();
    if (text === undefined) throw new UsageError('weight needs VS RS N');
    weight = Number(text);
    if (!/^\d+$/.test(text) || weight > WEIGHT_MAX)
      throw new UsageError(`weight: '${text}' is not a weight (an integer 0-${WEIGHT_MAX})`);
  }
  if (args.length === 0) throw new UsageError(`${action} needs the virtual server and the real server`);
  const { virtualServer, realServer } = parseRsArgs(args, protocol);
  const user = whoAmI(env);
  return {
    socket: paths.controlSocket,
    json,
    timeoutMs,
    params: {
      action,
      virtualServer,
      realServer,
      ...(weight !== undefined ? { weight } : {}),
      ...(user ? { user } : {}),
    },
  };
}

/** The answer for people: what is in force now, and the connection counts while an override holds. */
export function renderRsResult(r: RsResult): string {
  const lines = [r.message];
  const o = r.override;
  if (o?.connections)
    lines.push(
      `IPVS connections now: ${o.connections.active} active, ${o.connections.inactive} inactive${
        o.kind === 'drain' ? " ('halo status' follows them as they finish)" : ''
      }`,
    );
  else if (o?.connectionsNote && o.kind !== 'disable') lines.push(`connections: ${o.connectionsNote}`);
  lines.push(
    `state: ${r.state.toUpperCase()}${r.ipvsMode === 'dry-run' ? ' (IPVS: dry-run, nothing programmed)' : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

export interface RsIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env?: NodeJS.ProcessEnv;
}

export async function runRs(argv: string[], io: RsIo): Promise<number> {
  let o: RsOptions | 'help';
  try {
    o = parseRsCommand(argv, io.env ?? process.env);
  } catch (err) {
    if (err instanceof UsageError || err instanceof RsSelectError) {
      io.stderr.write(`halo rs: ${err.message}\n${RS_USAGE}\n${PATH_FLAGS_HELP}\n`);
      return 2;
    }
    throw err;
  }
  if (o === 'help') {
    io.stdout.write(`${RS_USAGE}\n`);
    return 0;
  }
  try {
    const r = await controlRequest(o.socket, 'rs', { timeoutMs: o.timeoutMs, args: o.params });
    io.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : renderRsResult(r));
    return 0;
  } catch (err) {
    const msg = err instanceof ControlClientError ? err.message : `rs failed: ${(err as Error).message}`;
    io.stderr.write(`halo: ${msg}\n`);
    return 1;
  }
}

export async function run(argv: string[]): Promise<number> {
  return runRs(argv, { stdout: process.stdout, stderr: process.stderr });
}
