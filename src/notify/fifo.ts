/**
 * The notify FIFOs (notify_fifo, vrrp_notify_fifo, lvs_notify_fifo) as keepalived 2.2.x
 * runs them (lib/notify.c fifo_open/fifo_close; the ownership check of later releases):
 *
 *  - a missing FIFO is created (mode 0644, chowned to `notify_fifo PATH user group` when
 *    given) and removed again at close; an existing one is used and left in place;
 *  - a path that is not a FIFO, is a symbolic link, or is owned by someone else than halo
 *    or the configured user is refused ("is not a fifo we own - not using");
 *  - halo opens it read-write and non-blocking, so it holds a read end itself: a write
 *    never blocks, never gets EPIPE or ENXIO, and lines written while no program reads
 *    wait in the pipe (64 KiB on Linux) for the next reader. When the pipe is full a line
 *    is dropped and counted (keepalived drops it silently); lines never exceed PIPE_BUF,
 *    so the kernel writes each whole or not at all and readers never see a torn line;
 *  - `*_fifo_script` starts with the FIFO's path as its last argument (as the configured
 *    script user, after the script security check) and gets SIGTERM at close.
 *
 * `write` is a synchronous non-blocking write(2): it cannot be delayed by the event loop
 * and keeps lines in order. Nothing here throws to the caller.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants, fstatSync, openSync, writeSync } from 'node:fs';
import { chown, lstat, unlink } from 'node:fs/promises';
import { checkScriptSecurity, resolveUserGroup, runScript } from '../check/script-runner.js';
import type { AlertPlan, FifoPlan, FifoSource } from './plan.js';
import type { FifoLine } from './rules.js';
import type { AlertLog } from './smtp-alerts.js';

/** Linux PIPE_BUF: writes up to this size are atomic on a pipe. */
export const PIPE_BUF = 4096;

export interface NotifyFifoStats {
  written: number;
  /** Lines lost because the pipe was full (no reader, or a reader too slow). */
  droppedFull: number;
  /** Lines lost for another reason (not open, longer than PIPE_BUF, an unexpected write error). */
  droppedOther: number;
}

export interface NotifyFifoOptions {
  log: AlertLog;
  /** Default user/group of the script (global script_user); root when undefined. */
  scriptUser?: { user: string; group?: string };
  /** enable_script_security: an insecure script is not started. */
  enforceScriptSecurity?: boolean;
  /** Grace between SIGTERM and SIGKILL for the script at close (default 2000 ms, keepalived's). */
  scriptKillGraceMs?: number;
}

function mkfifo(path: string): Promise<void> {
  // Node has no mkfifo(3); coreutils' mkfifo is in every Debian system (Essential: yes).
  return new Promise((resolve, reject) => {
    execFile('mkfifo', ['-m', '0644', '--', path], { timeout: 5000 }, (err, _out, stderr) =>
      err ? reject(new Error(stderr.trim() || err.message)) : resolve(),
    );
  });
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

export class NotifyFifo {
  private fd: number | undefined;
  private created = false;
  private script?: { abort: AbortController; done: Promise<unknown> };
  /** While the pipe is full, further drops are counted but not logged again. */
  private full = false;
  private readonly counts: NotifyFifoStats = { written: 0, droppedFull: 0, droppedOther: 0 };

  constructor(
    readonly plan: FifoPlan,
    private readonly opts: NotifyFifoOptions,
  ) {}

  get path(): string {
    return this.plan.path;
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  stats(): NotifyFifoStats {
    return { ...this.counts };
  }

  /** Create (when missing), check, open, then start the script. false (and a log line) when unusable. */
  async open(): Promise<boolean> {
    if (this.fd !== undefined) return true;
    const { path, keyword } = this.plan;
    try {
      const owner =
        this.plan.user !== undefined ? await resolveUserGroup(this.plan.user, this.plan.group) : undefined;
      const ownUid = process.getuid?.() ?? 0;
      let st = await lstat(path).catch((err) => {
        if (errCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (!st) {
        await mkfifo(path);
        this.created = true;
        if (owner && (owner.uid !== ownUid || owner.gid !== (process.getgid?.() ?? 0)))
          await chown(path, owner.uid, owner.gid).catch((err) =>
            this.opts.log('warn', `Failed to set uid:gid for fifo ${path}: ${(err as Error).message}`),
          );
        st = await lstat(path);
      }
      const owned = (uid: number) => uid === ownUid || uid === owner?.uid;
      if (!st.isFIFO() || !owned(st.uid)) {
        this.opts.log('error', `${keyword} ${path} is not a fifo we own - not using`, { fifo: path });
        return false;
      }
      // O_NOFOLLOW and the fstat below close the window between lstat and open.
      const fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
      const fst = fstatSync(fd);
      if (!fst.isFIFO() || !owned(fst.uid)) {
        closeSync(fd);
        this.opts.log('error', `${keyword} ${path} is not a fifo we own - not using`, { fifo: path });
        return false;
      }
      this.fd = fd;
    } catch (err) {
      this.opts.log('error', `Unable to open ${keyword} ${path}: ${(err as Error).message}`, { fifo: path });
      await this.removeCreated();
      return false;
    }
    await this.startScript();
    return true;
  }

  /** Write one line (ending in "\n", at most PIPE_BUF bytes). Never blocks, never throws. */
  write(line: string): boolean {
    if (this.fd === undefined) {
      this.counts.droppedOther++;
      return false;
    }
    const buf = Buffer.from(line, 'utf8');
    if (buf.length > PIPE_BUF) {
      this.counts.droppedOther++;
      this.opts.log(
        'warn',
        `${this.plan.keyword} ${this.path}: line of ${buf.length} bytes dropped (max ${PIPE_BUF})`,
      );
      return false;
    }
    try {
      const n = writeSync(this.fd, buf);
      if (n !== buf.length) throw Object.assign(new Error(`short write ${n}/${buf.length}`), { code: 'EIO' });
      this.counts.written++;
      if (this.full) {
        this.full = false;
        this.opts.log('info', `${this.plan.keyword} ${this.path} is being read again`, {
          droppedFull: this.counts.droppedFull,
        });
      }
      return true;
    } catch (err) {
      if (errCode(err) === 'EAGAIN') {
        this.counts.droppedFull++;
        if (!this.full) {
          this.full = true;
          this.opts.log(
            'warn',
            `${this.plan.keyword} ${this.path} is full (nothing reading it?) - dropping lines`,
            {
              droppedFull: this.counts.droppedFull,
            },
          );
        }
      } else {
        this.counts.droppedOther++;
        this.opts.log('warn', `${this.plan.keyword} ${this.path}: write failed: ${(err as Error).message}`);
      }
      return false;
    }
  }

  /**
   * keepalived's order: the script gets SIGTERM, a FIFO halo created is unlinked (so a reader
   * that loops reopening it cannot reopen it), then halo's descriptor is closed. Lines still in
   * the pipe stay readable by the script until it has read them or exits.
   */
  async close(): Promise<void> {
    const script = this.script;
    this.script = undefined;
    script?.abort.abort();
    await this.removeCreated();
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    if (script) await script.done;
  }

  private async removeCreated(): Promise<void> {
    if (!this.created) return;
    this.created = false;
    await unlink(this.path).catch(() => undefined);
  }

  private async startScript(): Promise<void> {
    const s = this.plan.script;
    if (!s) return;
    const user = s.user ?? this.opts.scriptUser?.user;
    const group = s.user !== undefined ? s.group : (s.group ?? this.opts.scriptUser?.group);
    try {
      const ids = user !== undefined ? await resolveUserGroup(user, group) : undefined;
      const sec = await checkScriptSecurity(s.command, {
        enforce: this.opts.enforceScriptSecurity ?? false,
        uid: ids?.uid,
        gid: ids?.gid,
      });
      for (const p of sec.problems) this.opts.log('warn', `${this.plan.keyword}_script: ${p}`);
      if (!sec.ok) return;
    } catch (err) {
      this.opts.log('error', `${this.plan.keyword}_script ${s.command}: ${(err as Error).message}`);
      return;
    }
    const abort = new AbortController();
    const keyword = this.plan.keyword;
    const done = runScript(s.command, {
      timeoutMs: Number.POSITIVE_INFINITY,
      args: [this.path],
      user,
      group,
      signal: abort.signal,
      killGraceMs: this.opts.scriptKillGraceMs ?? 2000,
      maxOutputBytes: 4096,
    }).then(
      (r) => {
        const how = r.error ?? (r.signal ? `signal ${r.signal}` : `exit status ${r.exitCode}`);
        this.opts.log(abort.signal.aborted ? 'info' : 'warn', `${keyword} script terminated (${how})`, {
          script: s.command,
        });
      },
      () => undefined,
    );
    this.script = { abort, done };
  }
}

/**
 * All the notify FIFOs of a plan: a VRRP line goes to the FIFOs carrying VRRP events
 * (notify_fifo, vrrp_notify_fifo), a checker line to those carrying LVS events
 * (notify_fifo, lvs_notify_fifo). One FIFO per path, however many keywords name it.
 */
export class NotifyFifos {
  readonly fifos: NotifyFifo[];

  /** `sources`: the parts running in this process (VRRP only with --vrrp-only, ...). */
  constructor(
    plan: AlertPlan,
    opts: NotifyFifoOptions,
    sources: ReadonlySet<FifoSource> = new Set(['vrrp', 'lvs']),
  ) {
    this.fifos = plan.fifos
      .filter((f) => [...f.sources].some((s) => sources.has(s)))
      .map(
        (f) =>
          new NotifyFifo(
            { ...f, sources: new Set([...f.sources].filter((s) => sources.has(s))) },
            {
              ...opts,
              scriptUser: opts.scriptUser ?? plan.scriptUser,
              enforceScriptSecurity: opts.enforceScriptSecurity ?? plan.enforceScriptSecurity,
            },
          ),
      );
  }

  /** Open every FIFO (those that cannot be used are logged and skipped). */
  async open(): Promise<void> {
    await Promise.all(this.fifos.map((f) => f.open()));
  }

  write(line: FifoLine): void {
    for (const f of this.fifos) if (f.plan.sources.has(line.source)) f.write(line.line);
  }

  async close(): Promise<void> {
    await Promise.all(this.fifos.map((f) => f.close()));
  }

  stats(): Record<string, NotifyFifoStats> {
    return Object.fromEntries(this.fifos.map((f) => [f.path, f.stats()]));
  }
}
