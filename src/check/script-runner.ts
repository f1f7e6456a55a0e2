/**
 * The ONE place halo runs external programs: MISC_CHECK, vrrp_script, notify
 * and quorum scripts all come through `runScript`.
 *
 * Behaviour follows keepalived 2.2.7 (lib/notify.c system_call_script,
 * check_misc.c misc_check_child_thread):
 *  - a command line is split like keepalived's alloc_strvec_quoted_escaped():
 *    words separated by blanks, '...' and "..." quote, backslash escapes
 *    (\n \t \xHH \ooo \cX ...) work inside and outside quotes;
 *  - the program runs in its own process group (setpgid(0,0) there; here
 *    spawn's `detached`), with the requested uid/gid;
 *  - on timeout the whole group gets SIGTERM, then SIGKILL if it has not gone
 *    after a grace period (keepalived: 2 s); once the leader is gone the group
 *    is SIGKILLed so no grandchild survives;
 *  - captured stdout/stderr are bounded (a chatty script cannot grow memory).
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/* Mode bits Node's fs.constants does not export. */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;

export interface RunScriptOptions {
  /** Kill the process group after this long; Infinity: never (stop it with `signal`). */
  timeoutMs: number;
  user?: string;
  group?: string;
  env?: Record<string, string>;
  /** Extra arguments appended after the command's own (notify scripts get state words). */
  args?: string[];
  /** Time between SIGTERM and SIGKILL on timeout (keepalived: 2000 ms). */
  killGraceMs?: number;
  /** Bytes kept from each of stdout and stderr (default 64 KiB); the rest is dropped. */
  maxOutputBytes?: number;
  /** Abort: treated like a timeout (the group is killed). */
  signal?: AbortSignal;
}

export interface RunScriptResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT, EACCES, unknown user...). */
  error?: string;
}

/**
 * Split a command line like keepalived (lib/parser.c alloc_strvec_quoted_escaped).
 * Throws on an unterminated quote or a trailing backslash.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = line.length;
  const isBlank = (ch: string) =>
    ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
  const isOct = (ch: string | undefined) => ch !== undefined && ch >= '0' && ch <= '7';
  const isHex = (ch: string | undefined) => ch !== undefined && /[0-9a-fA-F]/.test(ch);
  while (i < n) {
    while (i < n && isBlank(line[i])) i++;
    if (i >= n) break;
    let word = '';
    let quote: string | null = null;
    while (i < n) {
      const ch = line[i];
      if (ch === '\\') {
        i++;
        if (i >= n) throw new Error(`missing escaped character at end of '${line}'`);
        const e = line[i];
        if (e === 'x' && isHex(line[i + 1])) {
          i++;
          let v = 0;
          while (isHex(line[i])) {
            v = ((v << 4) | Number.parseInt(line[i], 16)) & 0xff;
            i++;
          }
          word += String.fromCharCode(v);
        } else if (e === 'c' && i + 1 < n) {
          word += String.fromCharCode(line.charCodeAt(i + 1) & 0x1f);
          i += 2;
        } else if (isOct(e)) {
          let v = 0;
          for (let k = 0; k < 3 && isOct(line[i]); k++) {
            v = (v << 3) + (line.charCodeAt(i) - 48);
            i++;
          }
          word += String.fromCharCode(v & 0xff);
        } else {
          const map: Record<string, string> = {
            a: '\x07',
            b: '\b',
            E: '\x1b',
            f: '\f',
            n: '\n',
            r: '\r',
            t: '\t',
            v: '\v',
          };
          word += map[e] ?? e;
          i++;
        }
        continue;
      }
      if (quote) {
        if (ch === quote) quote = null;
        else word += ch;
        i++;
        continue;
      }
      if (ch === '"' || ch === "'") {
        quote = ch;
        i++;
        continue;
      }
      if (isBlank(ch)) break;
      word += ch;
      i++;
    }
    if (quote) throw new Error(`missing terminating ${quote} in '${line}'`);
    words.push(word);
  }
  return words;
}

interface IdEntry {
  name: string;
  id: number;
  gid: number;
}

async function readIdFile(path: string): Promise<IdEntry[]> {
  const text = await readFile(path, 'utf8');
  const out: IdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !f[0]) continue;
    out.push({ name: f[0], id: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/**
 * Resolve a user (name or numeric id) and optional group to uid/gid, like
 * keepalived's set_uid_gid(): the group defaults to the user's primary group.
 */
export async function resolveUserGroup(user: string, group?: string): Promise<{ uid: number; gid: number }> {
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    const pw = (await readIdFile('/etc/passwd')).find((e) => e.id === uid);
    gid = pw ? pw.gid : uid;
  } else {
    const pw = (await readIdFile('/etc/passwd')).find((e) => e.name === user);
    if (!pw) throw new Error(`unknown user '${user}'`);
    uid = pw.id;
    gid = pw.gid;
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const gr = (await readIdFile('/etc/group')).find((e) => e.name === group);
      if (!gr) throw new Error(`unknown group '${group}'`);
      gid = gr.id;
    }
  }
  return { uid, gid };
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Run a program (argv or a keepalived-style command line) with a timeout. */
export async function runScript(
  command: string[] | string,
  opts: RunScriptOptions,
): Promise<RunScriptResult> {
  const started = performance.now();
  const maxBytes = opts.maxOutputBytes ?? 64 * 1024;
  const fail = (error: string): RunScriptResult => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    durationMs: performance.now() - started,
    stdout: '',
    stderr: '',
    error,
  });
  let argv: string[];
  try {
    argv = typeof command === 'string' ? splitCommandLine(command) : [...command];
  } catch (err) {
    return fail((err as Error).message);
  }
  if (opts.args) argv.push(...opts.args);
  if (argv.length === 0) return fail('empty command');
  let ids: { uid?: number; gid?: number } = {};
  if (opts.user !== undefined) {
    try {
      ids = await resolveUserGroup(opts.user, opts.group);
    } catch (err) {
      return fail((err as Error).message);
    }
  } else if (opts.group !== undefined) {
    try {
      ids = { gid: (await resolveUserGroup(String(process.getuid?.() ?? 0), opts.group)).gid };
    } catch (err) {
      return fail((err as Error).message);
    }
  }

  return new Promise<RunScriptResult>((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(argv[0], argv.slice(1), {
        detached: true, // own process group, so a timeout can kill its children too
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        uid: ids.uid,
        gid: ids.gid,
      });
    } catch (err) {
      resolve(fail((err as Error).message));
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < maxBytes) {
        const part = b.subarray(0, maxBytes - outLen);
        out.push(part);
        outLen += part.length;
      }
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < maxBytes) {
        const part = b.subarray(0, maxBytes - errLen);
        errOut.push(part);
        errLen += part.length;
      }
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const terminate = () => {
      if (timedOut || settled || child.pid === undefined) return;
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, opts.killGraceMs ?? 2000);
    };
    // An infinite timeout runs until aborted (the notify FIFO scripts run as long as halo does).
    const timer = Number.isFinite(opts.timeoutMs) ? setTimeout(terminate, opts.timeoutMs) : undefined;
    const onAbort = () => terminate();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (r: Omit<RunScriptResult, 'durationMs' | 'stdout' | 'stderr'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Grandchildren may hold our pipes open: stop reading, the result is complete.
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        ...r,
        durationMs: performance.now() - started,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
      });
    };
    child.once('error', (err) => finish({ exitCode: null, signal: null, timedOut, error: err.message }));
    child.once('exit', (code, sig) => {
      // keepalived: once a timed-out script's leader is gone, SIGKILL the group.
      if (timedOut && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      // Let buffered output arrive (same tick 'data' events), then settle.
      setImmediate(() => finish({ exitCode: code, signal: sig, timedOut }));
    });
  });
}

export interface ScriptSecurityOptions {
  /** enable_script_security: insecure scripts are refused (else only reported). */
  enforce: boolean;
  /** uid/gid the script would run as (default: ours). */
  uid?: number;
  gid?: number;
  /** PATH used for bare names (default process.env.PATH). */
  path?: string;
}

export interface ScriptSecurityResult {
  /** May the script be run? */
  ok: boolean;
  /** The resolved absolute program path (after a PATH search and realpath). */
  program?: string;
  /** Found a path element non-root users can modify. */
  insecure: boolean;
  /** Messages in keepalived's words. */
  problems: string[];
}

/**
 * keepalived's check_script_secure(): resolve the program (PATH search for a
 * bare name), check the target user can execute it, and — when it runs with
 * root privileges (uid or gid 0, or set-uid/gid root) — that neither the file
 * nor any directory on its path (as written and as resolved) is writable by a
 * non-root user: owner not root, or group-writable with a non-root group, or
 * world-writable (directories with the sticky bit are allowed).
 */
export async function checkScriptSecurity(
  command: string[] | string,
  opts: ScriptSecurityOptions,
): Promise<ScriptSecurityResult> {
  const problems: string[] = [];
  let argv: string[];
  try {
    argv = typeof command === 'string' ? splitCommandLine(command) : command;
  } catch (err) {
    return { ok: false, insecure: false, problems: [(err as Error).message] };
  }
  const name = argv[0];
  if (!name) return { ok: false, insecure: false, problems: ['empty command'] };
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const gid = opts.gid ?? process.getgid?.() ?? 0;
  // "</path" only tests that a file can be opened; it is not executed.
  if (/^<\s*\//.test(name)) return { ok: true, insecure: false, problems };

  let program = name;
  if (!name.includes('/')) {
    let found: string | undefined;
    for (const dir of (opts.path ?? process.env.PATH ?? '').split(delimiter)) {
      const candidate = join(dir || '.', name);
      try {
        const st = await stat(candidate);
        if (st.isFile() && isExecutableBy(st, uid, gid)) {
          found = candidate;
          break;
        }
      } catch {
        // not here
      }
    }
    if (!found)
      return { ok: false, insecure: false, problems: [`Cannot find script ${name} in path - disabling`] };
    problems.push(
      `WARNING - script \`${name}\` resolved by path search to \`${found}\`. Please specify full path.`,
    );
    program = found;
  }
  let real: string;
  try {
    real = await realpath(program);
  } catch (err) {
    return {
      ok: false,
      insecure: false,
      problems: [`Script ${program} cannot be accessed - ${(err as Error).message}`],
    };
  }
  const st = await stat(real);
  if (!isExecutableBy(st, uid, gid)) {
    problems.push(`WARNING - script '${program}' is not executable for uid:gid ${uid}:${gid} - disabling.`);
    return { ok: false, program: real, insecure: false, problems };
  }
  const runsAsRoot =
    uid === 0 ||
    gid === 0 ||
    (st.uid === 0 && (st.mode & fsConstants.S_IXUSR) !== 0 && (st.mode & S_ISUID) !== 0) ||
    (st.gid === 0 && (st.mode & fsConstants.S_IXGRP) !== 0 && (st.mode & S_ISGID) !== 0);
  let insecure = false;
  if (runsAsRoot) {
    const paths = isAbsolute(program) && program !== real ? [program, real] : [real];
    for (const p of paths) {
      const bad = await firstInsecureElement(p);
      if (bad) {
        insecure = true;
        problems.push(
          `Unsafe permissions found for script '${p}'${opts.enforce ? ' - disabling' : ''} (${bad} is writable by non-root users).`,
        );
        break;
      }
    }
  }
  return { ok: !(insecure && opts.enforce), program: real, insecure, problems };
}

function isExecutableBy(st: { mode: number; uid: number; gid: number }, uid: number, gid: number): boolean {
  if (uid === 0) return (st.mode & 0o111) !== 0;
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (st.gid === gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** lib/notify.c check_security(): walk "/", "/a", "/a/b", ... "/a/b/script" without following links. */
async function firstInsecureElement(path: string): Promise<string | undefined> {
  const parts = path.split('/').filter(Boolean);
  const prefixes = ['/'];
  for (let i = 1; i <= parts.length; i++) prefixes.push(`/${parts.slice(0, i).join('/')}`);
  for (const p of prefixes) {
    const st = await lstat(p);
    const isDir = st.isDirectory();
    const groupOrWorldWritable =
      (st.gid !== 0 && (st.mode & fsConstants.S_IWGRP) !== 0) || (st.mode & fsConstants.S_IWOTH) !== 0;
    const stickyDir = isDir && (st.mode & S_ISVTX) !== 0;
    if (st.uid !== 0 || ((st.isFile() || (isDir && !stickyDir)) && groupOrWorldWritable)) return p;
  }
  return undefined;
}
