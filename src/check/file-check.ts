/**
 * FILE_CHECK (keepalived 2.2.x check/check_file.c, trackers/track_file.c): a
 * real server's checker driven by the integer in a track_file, not by
 * attempts. The pure part turns a file's text into a value and a value into
 * the checker's state; TrackFileWatcher is the I/O shell (fs.watch on the
 * file's directory, inotify underneath, as the VRRP engine does for
 * vrrp_track_file).
 *
 * keepalived's rules, kept here:
 *  - the value is strtol(first 127 bytes, base 0): leading blanks, a sign,
 *    0x.. hex, 0.. octal, digits up to the first other character; no digits
 *    is 0; a missing or empty file is 0; a number outside
 *    [-2^31, 2^31] is logged and ignored (the previous value stays);
 *  - weight 0: a non-zero value takes the checker down (with reverse, a zero
 *    value does); otherwise the checker is up and adds nothing;
 *  - weight w: status = value x w (x -1 with reverse), clamped to 32 bits;
 *    at -2^31 (IPVS_WEIGHT_FAULT) the checker is down, otherwise it is up and
 *    the status is added to the real server's weight (a sum at or below 0
 *    is weight 0 in IPVS: the server drains but stays);
 *  - the file is re-read when it is written or moved in; deleted or moved
 *    away it counts as 0.
 * One deliberate difference: keepalived 2.2.7 sets the state at start with a
 * shortcut that ignores `reverse` for weight 0 (set_track_file_checkers_down,
 * init_service_rs), so "weight 0 reverse" starts inverted until the file's
 * first change; halo applies the same rule at start as on every change.
 * And fs.watch reports writes rather than keepalived's IN_CLOSE_WRITE, so
 * halo reads the file once changes have settled (SETTLE_MS after the last
 * event) instead of seeing a half-written one.
 */
import { type FSWatcher, readFileSync, realpathSync, statSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
/** keepalived's IPVS_WEIGHT_FAULT (-IPVS_WEIGHT_MAX - 1): the status that means "down". */
export const WEIGHT_FAULT = INT32_MIN;
/** Delay between the last change event and reading the file. */
export const SETTLE_MS = 50;

/**
 * strtol(text, NULL, 0) as keepalived reads a track file (process_track_file).
 * undefined: keepalived's "Invalid number ... - ignoring" (the last value stays).
 */
export function parseTrackFileValue(raw: string): number | undefined {
  const text = raw.slice(0, 127);
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX](?=[0-9a-fA-F])([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*))?/.exec(text);
  if (!m || m[2] === undefined) return 0;
  let magnitude: bigint;
  if (m[3] !== undefined) magnitude = BigInt(`0x${m[3]}`);
  else if (m[4] !== undefined) magnitude = m[4] === '' ? 0n : BigInt(`0o${m[4]}`);
  else magnitude = BigInt(m[5]);
  const value = m[1] === '-' ? -magnitude : magnitude;
  // strtol's ERANGE (beyond 64 bits) and keepalived's own range check both mean "ignore".
  if (value < BigInt(INT32_MIN) || value > BigInt(INT32_MAX) + 1n) return undefined;
  return Number(value);
}

export interface FileCheckState {
  up: boolean;
  /** What the checker adds to the real server's weight while up. */
  weightDelta: number;
  /** keepalived's status: value x weight (clamped), or WEIGHT_FAULT. */
  status: number;
}

/** update_track_file_status / process_update_checker_track_file_status for one FILE_CHECK. */
export function fileCheckState(value: number, weight: number, reverse: boolean): FileCheckState {
  let status: number;
  if (weight === 0) {
    const fault = reverse ? value === 0 : value !== 0;
    status = fault ? WEIGHT_FAULT : 0;
  } else {
    const product = BigInt(value) * BigInt(weight) * (reverse ? -1n : 1n);
    status =
      product < BigInt(INT32_MIN) ? INT32_MIN : product > BigInt(INT32_MAX) ? INT32_MAX : Number(product);
  }
  if (status === WEIGHT_FAULT) return { up: false, weightDelta: 0, status };
  return { up: true, weightDelta: status, status };
}

/** The words a FILE_CHECK state change is reported with. */
export function fileCheckReason(name: string, value: number, state: FileCheckState): string {
  if (!state.up) return `track_file ${name} value ${value}: down`;
  return state.weightDelta === 0
    ? `track_file ${name} value ${value}`
    : `track_file ${name} value ${value}: weight ${state.weightDelta >= 0 ? '+' : ''}${state.weightDelta}`;
}

export interface WatchedFile {
  path: string;
  /** track_file init_file. */
  initFile?: { value: number; overwrite: boolean };
}

/**
 * Watches track files and reports their values. One watcher per directory;
 * files are read synchronously at start (they are a few bytes, and the
 * initial state must be known before the first real server state is).
 */
export class TrackFileWatcher {
  private readonly values = new Map<string, number>();
  /** One fs.watch per directory, with the file names in it that are watched (live: the callback reads it). */
  private readonly dirs = new Map<string, { names: Set<string>; watcher?: FSWatcher }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Resolved path (symlinks followed, as keepalived's realpath) -> configured path. */
  private readonly resolved = new Map<string, string>();
  /** Configured path -> resolved path. */
  private readonly realOf = new Map<string, string>();
  private stopped = false;

  constructor(
    private files: WatchedFile[],
    private readonly onValue: (path: string, value: number) => void,
    private readonly onProblem: (path: string, message: string) => void,
    private readonly settleMs = SETTLE_MS,
  ) {}

  /**
   * Write init_file values, read every file once and start watching. Returns
   * the values (configured path -> value). `reload` skips init_file overwrites
   * (keepalived: "Don't overwrite a file on reload").
   */
  start(reload = false): Map<string, number> {
    this.watchFiles(this.files, reload);
    return new Map(this.values);
  }

  /**
   * A reload's files. Paths no longer listed stop being watched. Paths in both keep their watch and their
   * last value (no re-read: a kept FILE_CHECK keeps its state; a change the watch reports still comes
   * through onValue). New paths are read and watched. init_file runs as on a reload for every listed
   * path: a missing file is created, an existing one is never overwritten (keepalived: "Don't overwrite a
   * file on reload"); the watch then reports a created file like any change. Returns the value of every
   * listed path.
   */
  update(files: WatchedFile[]): Map<string, number> {
    if (this.stopped) return new Map();
    const wanted = new Set(files.map((f) => f.path));
    for (const path of [...this.values.keys()]) if (!wanted.has(path)) this.unwatch(path);
    const fresh: WatchedFile[] = [];
    for (const f of files) {
      if (this.values.has(f.path)) this.initFile(f, true);
      else fresh.push(f);
    }
    this.watchFiles(fresh, true);
    this.files = files;
    return new Map([...wanted].map((p) => [p, this.values.get(p) ?? 0]));
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.dirs.values()) d.watcher?.close();
    this.dirs.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Initialise, read and watch these files (a directory already watched only gains the name). */
  private watchFiles(files: WatchedFile[], reload: boolean): void {
    const newDirs = new Set<string>();
    for (const f of files) {
      if (this.values.has(f.path)) continue;
      this.initFile(f, reload);
      const real = resolvePath(f.path);
      this.resolved.set(real, f.path);
      this.realOf.set(f.path, real);
      const dir = dirname(real);
      let d = this.dirs.get(dir);
      if (!d) {
        d = { names: new Set() };
        this.dirs.set(dir, d);
        newDirs.add(dir);
      }
      d.names.add(basename(real));
      this.values.set(f.path, this.read(f.path, 0) ?? 0);
    }
    for (const dir of newDirs) {
      const d = this.dirs.get(dir) as { names: Set<string>; watcher?: FSWatcher };
      const names = d.names;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null) {
            for (const n of names) this.changed(join(dir, n));
          } else if (names.has(String(name))) this.changed(join(dir, String(name)));
        });
        w.on('error', (err) => this.onProblem(dir, `cannot watch ${dir}: ${err.message}`));
        d.watcher = w;
      } catch (err) {
        for (const n of names) {
          const p = this.resolved.get(join(dir, n)) ?? join(dir, n);
          this.onProblem(
            p,
            `cannot watch ${dir}: ${(err as Error).message}; the value stays ${this.values.get(p)}`,
          );
        }
      }
    }
  }

  /** Stop watching one configured path (and its directory when nothing else there is watched). */
  private unwatch(path: string): void {
    const real = this.realOf.get(path) ?? path;
    this.values.delete(path);
    this.realOf.delete(path);
    if (this.resolved.get(real) === path) this.resolved.delete(real);
    const t = this.timers.get(path);
    if (t) clearTimeout(t);
    this.timers.delete(path);
    const dir = dirname(real);
    const d = this.dirs.get(dir);
    if (!d) return;
    d.names.delete(basename(real));
    if (d.names.size > 0) return;
    d.watcher?.close();
    this.dirs.delete(dir);
  }

  private initFile(f: WatchedFile, reload: boolean): void {
    if (!f.initFile) return;
    let exists = false;
    try {
      const st = statSync(f.path);
      exists = true;
      if (!st.isFile()) {
        this.onProblem(f.path, `cannot initialise ${f.path}: it is not a regular file`);
        return;
      }
    } catch {
      // missing: create it
    }
    if (exists && (!f.initFile.overwrite || reload)) return;
    try {
      writeFileSync(f.path, `${f.initFile.value}\n`);
    } catch (err) {
      this.onProblem(f.path, `cannot initialise ${f.path}: ${(err as Error).message}`);
    }
  }

  /** The file's value; a missing or unreadable file is 0; undefined keeps `previous`. */
  private read(path: string, previous: number): number | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch {
      return 0;
    }
    const v = parseTrackFileValue(text);
    if (v === undefined) {
      this.onProblem(path, `invalid number read from ${path} - ignoring (value stays ${previous})`);
    }
    return v;
  }

  private changed(real: string): void {
    if (this.stopped) return;
    const path = this.resolved.get(real) ?? real;
    if (!this.values.has(path)) return; // no longer watched (a reload dropped it)
    const pending = this.timers.get(path);
    if (pending) pending.refresh();
    else {
      const t = setTimeout(() => {
        this.timers.delete(path);
        if (this.stopped || !this.values.has(path)) return;
        const previous = this.values.get(path) ?? 0;
        const v = this.read(path, previous);
        if (v === undefined || v === previous) return;
        this.values.set(path, v);
        this.onValue(path, v);
      }, this.settleMs);
      this.timers.set(path, t);
    }
  }
}

/** keepalived init_track_files: the real path of the file, or of its directory when it does not exist yet. */
function resolvePath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}
