/**
 * Every path halo writes, all settable on the command line so several halo instances can share a host
 * (each with its own --run-dir, or individual paths), and the pid-file lock.
 *
 * Defaults live under /run/halo (systemd's RuntimeDirectory=halo creates it, tmpfs, gone at reboot).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const DEFAULT_RUN_DIR = '/run/halo';

export interface HaloPaths {
  /** Directory for files not given explicitly. */
  runDir: string;
  /** Control socket (`halo status`, `halo reload`, `halo stop`). */
  controlSocket: string;
  pidFile: string;
  /** SIGUSR1 data dump, text (keepalived's /tmp/keepalived.data) and JSON. */
  dataFile: string;
  dataJsonFile: string;
  /** SIGUSR2 statistics dump, text (keepalived's /tmp/keepalived.stats) and JSON. */
  statsFile: string;
  statsJsonFile: string;
  /** Operators' real server overrides (`halo rs`), kept across reloads and restarts. */
  rsOverridesFile: string;
}

export function defaultPaths(runDir: string = DEFAULT_RUN_DIR): HaloPaths {
  return {
    runDir,
    controlSocket: join(runDir, 'halo.sock'),
    pidFile: join(runDir, 'halo.pid'),
    dataFile: join(runDir, 'halo.data'),
    dataJsonFile: join(runDir, 'halo.data.json'),
    statsFile: join(runDir, 'halo.stats'),
    statsJsonFile: join(runDir, 'halo.stats.json'),
    rsOverridesFile: join(runDir, 'rs-overrides.json'),
  };
}

/** Command-line flags for paths, shared by `halo run`, `halo status`, `halo reload|stop`. */
export const PATH_FLAGS = {
  '--run-dir': 'runDir',
  '--socket': 'controlSocket',
  '--pid-file': 'pidFile',
  '--data-file': 'dataFile',
  '--data-json-file': 'dataJsonFile',
  '--stats-file': 'statsFile',
  '--stats-json-file': 'statsJsonFile',
  '--rs-overrides-file': 'rsOverridesFile',
} as const satisfies Record<string, keyof HaloPaths>;

export const PATH_FLAGS_HELP = `path options (defaults under ${DEFAULT_RUN_DIR}; give each instance its own):
  --run-dir DIR            directory for every file below not given explicitly (default ${DEFAULT_RUN_DIR})
  --socket PATH            control socket (default DIR/halo.sock)
  --pid-file PATH          pid file (default DIR/halo.pid)
  --data-file PATH         SIGUSR1 text dump (default DIR/halo.data)
  --data-json-file PATH    SIGUSR1 JSON dump (default DIR/halo.data.json)
  --stats-file PATH        SIGUSR2 text stats (default DIR/halo.stats)
  --stats-json-file PATH   SIGUSR2 JSON stats (default DIR/halo.stats.json)
  --rs-overrides-file PATH real server overrides of 'halo rs' (default DIR/rs-overrides.json)`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Takes the path flags out of argv (`--socket PATH` or `--socket=PATH`), returns the paths and the other
 * arguments untouched (in order) for the command's own parser. `--run-dir` moves every default; explicit
 * flags win over it whatever their order.
 */
export function parsePathArgs(argv: readonly string[]): { paths: HaloPaths; rest: string[] } {
  const given: Partial<Record<keyof HaloPaths, string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = (PATH_FLAGS as Record<string, keyof HaloPaths>)[flag];
    if (!key) {
      rest.push(arg);
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) {
      throw new UsageError(`${flag} needs a path`);
    }
    given[key] = value;
  }
  const paths = { ...defaultPaths(given.runDir), ...given };
  return { paths, rest };
}

// ---------------------------------------------------------------------------------------------------------
// Pid file

export class PidFileLockedError extends Error {
  override name = 'PidFileLockedError';
  constructor(
    readonly path: string,
    readonly holderPid: number,
  ) {
    super(`halo is already running (pid ${holderPid} holds ${path}); use another --pid-file/--run-dir`);
  }
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Parses a pid file's text: a positive integer, optional trailing newline; anything else is undefined. */
export function parsePidFile(text: string): number | undefined {
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  return pid > 0 && pid <= 4_194_304 ? pid : undefined;
}

/**
 * Does this live pid run halo? Read from /proc/PID/cmdline: the interpreter's script (or the command) is
 * `halo`, halo's entry point (`.../cli/main.js`) or the same script as ours. A pid the kernel reused for
 * an unrelated process after halo died (kill -9, an abort) is not halo, so its pid file is stale. When
 * /proc cannot tell (no /proc, no permission), the answer is yes: never take over a file that may be live.
 */
export function processIsHalo(pid: number): boolean {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch (err) {
    // ENOENT/ESRCH: gone since the liveness probe; anything else: cannot tell.
    const code = (err as NodeJS.ErrnoException).code;
    return !(code === 'ENOENT' || code === 'ESRCH');
  }
  // A zombie (exited, not yet reaped) has an empty command line: it holds nothing any more.
  const args = raw.split('\0').filter((a) => a !== '');
  if (!args.length) return false;
  let own: string | undefined;
  try {
    own = process.argv[1] ? realpathSync(process.argv[1]) : undefined;
  } catch {
    own = process.argv[1];
  }
  return args
    .slice(0, 3)
    .some(
      (a) => basename(a) === 'halo' || /(^|\/)cli\/main\.js$/.test(a) || (own !== undefined && a === own),
    );
}

/** Why an existing pid file was taken over (logged by the supervisor). */
export type StalePidReason =
  | 'dead' // the pid it names does not exist
  | 'not-halo' // the pid exists but runs something else (reused after halo died)
  | 'own-pid' // it names us (a previous life in a container with the same pid)
  | 'garbage'; // empty or not a pid

export interface PidFileHandle {
  path: string;
  pid: number;
  /** Set when a stale file was found and replaced. */
  takenOver?: { holderPid?: number; reason: StalePidReason };
  /** Removes the file if it still holds our pid (a successor may have taken it over). */
  release(): Promise<void>;
  /** The same, synchronously, for exit paths (uncaught errors) where nothing asynchronous runs any more. */
  releaseSync(): void;
}

export interface PidFileOptions {
  pid?: number;
  /** Liveness probe (tests inject one). Default: kill(pid, 0). */
  isAlive?: (pid: number) => boolean;
  /** Is this live pid a halo? (tests inject one). Default: processIsHalo (/proc/PID/cmdline). */
  isHalo?: (pid: number) => boolean;
}

function handle(path: string, pid: number, takenOver?: PidFileHandle['takenOver']): PidFileHandle {
  return {
    path,
    pid,
    ...(takenOver ? { takenOver } : {}),
    release: async () => {
      const now = await readFile(path, 'utf8').catch(() => '');
      if (parsePidFile(now) === pid) await unlink(path).catch(() => {});
    },
    releaseSync: () => {
      try {
        if (parsePidFile(readFileSync(path, 'utf8')) === pid) unlinkSync(path);
      } catch {
        // gone already, or not ours to remove
      }
    },
  };
}

/**
 * Takes the pid file: refuses when it names a live halo other than us; takes over a stale one (dead pid, a
 * live pid that is not halo, our own pid, empty or garbage content) and says why in `takenOver`. The file
 * appears atomically with its full content (written aside, then hard-linked into place, which fails if
 * someone else got there first), so a concurrent starter never reads a half-written pid and two starters
 * cannot both win.
 *
 * A daemon killed with SIGKILL, or aborted by a native error, leaves its pid file behind: the next start
 * finds the pid dead (or reused by something that is not halo) and takes the file over. keepalived only
 * checks that the pid is alive, so a reused pid blocks it until the file is removed by hand.
 */
export async function acquirePidFile(path: string, opts: PidFileOptions = {}): Promise<PidFileHandle> {
  const pid = opts.pid ?? process.pid;
  const isAlive = opts.isAlive ?? processIsAlive;
  const isHalo = opts.isHalo ?? processIsHalo;
  const holderIsLiveHalo = (holder: number) => holder !== pid && isAlive(holder) && isHalo(holder);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(tmp, path);
        return handle(path, pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // removed meanwhile: try again
        throw err;
      });
      if (text === undefined) continue;
      const holder = parsePidFile(text);
      if (holder !== undefined && holderIsLiveHalo(holder)) throw new PidFileLockedError(path, holder);
      const reason: StalePidReason =
        holder === undefined ? 'garbage' : holder === pid ? 'own-pid' : isAlive(holder) ? 'not-halo' : 'dead';
      // Stale: take it over. Renaming our file over it is atomic; a concurrent starter that also judged it
      // stale would overwrite ours, so re-read to confirm we won.
      await rename(tmp, path);
      const confirm = parsePidFile(await readFile(path, 'utf8').catch(() => ''));
      if (confirm === pid) return handle(path, pid, { ...(holder ? { holderPid: holder } : {}), reason });
      if (confirm !== undefined && holderIsLiveHalo(confirm)) throw new PidFileLockedError(path, confirm);
      await writeFile(tmp, `${pid}\n`, { mode: 0o644 });
    }
    throw new Error(`could not take pid file ${path}: it keeps changing`);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Writes a dump file atomically (temp file + rename) so a reader (`cat /run/halo/halo.data`) never sees a
 * half-written dump. Mode 0644: dumps hold no secrets (auth passwords are masked by the renderers).
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
