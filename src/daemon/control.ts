/**
 * The control socket: a root-only Unix domain socket (mode 0600) speaking newline-delimited JSON (the wire
 * format and its limits are in control-protocol.ts).
 *
 * Its clients are root, but they are scripts, and scripts break: a client may send garbage, a line that
 * never ends, a request nested 30,000 deep, requests faster than they are answered; it may connect and
 * say nothing, trickle one byte a second, close its write side right after the request, never read the
 * replies, or open hundreds of connections. None of that may crash the daemon, grow its memory without
 * bound, or lock `halo status` out. So:
 *
 *  - Every request line gets exactly one reply, in request order. A well-formed JSON object with a bad
 *    `cmd` or `id` gets an error reply and the connection goes on; garbage (not JSON, not an object, too
 *    deep, too long) gets one error reply and the connection is closed.
 *  - Size and depth are checked before parsing (control-protocol.ts); only a bounded, validated id is
 *    echoed back.
 *  - A complete request line must arrive within `requestTimeoutMs` of the connection opening or of the
 *    previous reply: a silent client or a slowloris (one byte at a time) is cut off at that deadline,
 *    trickling does not extend it.
 *  - A reply must be taken by the client within `writeTimeoutMs`; a client that never reads is cut off.
 *    At most one reply per connection is buffered at a time.
 *  - At most `maxPendingPerConnection` requests are queued per connection; beyond that halo stops reading
 *    from it (the kernel buffer fills and the client waits) until replies have gone out: a flood is
 *    slowed down, not dropped and not buffered.
 *  - Concurrent requests share work: all `status` (and `dump`) requests that arrive while one is being
 *    computed get its result, and `reload`s that arrive while one runs are served by a single next run
 *    (which reads the config after they arrived). So N clients flooding `status` cost the VRRP thread one
 *    status query at a time, not N.
 *  - A handler that does not answer within its deadline (`handlerTimeoutMs`) gets an error reply.
 *  - At most `maxConnections` connections are open. A new connection is always accepted: when the table
 *    is full, the connection idle the longest (no request queued or being answered) is closed with an
 *    error reply; if none is idle, the oldest connection is closed. Idle and abusive connections therefore
 *    cannot lock out `halo status`, whose connection is the newest and lives a few milliseconds. (Refusing
 *    the newcomer, as before, let 16 idle connections lock `halo status` out for as long as they stayed.)
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { chmod as chmodP, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  CONTROL_COMMANDS,
  type ControlCommand,
  DEFAULT_MAX_DEPTH,
  errorReply,
  OK_REPLY_SUFFIX,
  okReplyFromJson,
  okReplyPrefix,
  type ParsedRequest,
  parseRequestLine,
  type RequestId,
  resultJson,
} from './control-protocol.js';
import { type StatusDocument, StatusDocumentSchema } from './status.js';

export { CONTROL_COMMANDS, type ControlCommand };

export const ReloadResultSchema = z.object({
  /** False when the new config was rejected and the old one keeps running. */
  applied: z.boolean(),
  configFile: z.string(),
  /** Formatted diagnostics (`FILE:LINE:COL: error: ...`). */
  errors: z.array(z.string()),
  warnings: z.array(z.string()).optional(),
});
export const StopResultSchema = z.object({ stopping: z.literal(true) });
export const DumpResultSchema = z.object({ files: z.array(z.string()) });

export type ReloadResult = z.infer<typeof ReloadResultSchema>;
export type StopResult = z.infer<typeof StopResultSchema>;
export type DumpResult = z.infer<typeof DumpResultSchema>;

export interface ControlResults {
  status: StatusDocument;
  reload: ReloadResult;
  stop: StopResult;
  dump: DumpResult;
}

const RESULT_SCHEMAS: { [C in ControlCommand]: z.ZodType<ControlResults[C]> } = {
  status: StatusDocumentSchema,
  reload: ReloadResultSchema,
  stop: StopResultSchema,
  dump: DumpResultSchema,
};

/** What the supervisor provides. `stop` is called after the acknowledgement has been written. */
export interface ControlHandlers {
  status(): StatusDocument | Promise<StatusDocument>;
  reload(): ReloadResult | Promise<ReloadResult>;
  stop(): void | Promise<void>;
  /** Writes the data/stats dumps (as on SIGUSR1/SIGUSR2) and returns the files written. */
  dump(): DumpResult | Promise<DumpResult>;
}

export interface ControlServerOptions {
  path: string;
  handlers: ControlHandlers;
  /** Longest request line accepted (bytes, newline excluded). */
  maxLineBytes?: number;
  /** Deepest nesting of arrays/objects in a request line. */
  maxDepth?: number;
  /**
   * A complete request line must arrive within this long after the connection opened or the previous
   * reply went out; otherwise the connection is closed (with an error reply).
   */
  requestTimeoutMs?: number;
  /** A reply not taken by the client within this long closes the connection. */
  writeTimeoutMs?: number;
  /** How long each command's handler may take before the request gets an error reply. */
  handlerTimeoutMs?: Partial<Record<ControlCommand, number>>;
  maxConnections?: number;
  /** Requests queued on one connection before halo stops reading from it. */
  maxPendingPerConnection?: number;
  /** Handler failures and socket errors (the supervisor logs them as daemon.error). */
  onError?: (context: string, err: unknown) => void;
}

/** Counters, for tests and for whoever wants to see what clients did. */
export interface ControlServerStats {
  /** Connections open now. */
  connections: number;
  accepted: number;
  /** Closed to make room for a new connection. */
  evicted: number;
  /** Closed because a request did not arrive, or a reply was not read, in time. */
  timedOut: number;
  /** Garbage lines, over-long lines, bad commands or ids. */
  protocolErrors: number;
  /** Requests answered (successfully or not) by a handler. */
  requests: number;
  /** Handler runs (lower than `requests` when concurrent requests shared one run). */
  handlerRuns: number;
}

export class ControlSocketInUseError extends Error {
  override name = 'ControlSocketInUseError';
}

const DEFAULTS = {
  maxLineBytes: 64 * 1024,
  maxDepth: DEFAULT_MAX_DEPTH,
  requestTimeoutMs: 10_000,
  writeTimeoutMs: 10_000,
  maxConnections: 16,
  maxPendingPerConnection: 8,
};

/** Reload reads a config in a bounded worker (30 s) and then applies it: give it room. */
const HANDLER_TIMEOUTS: Record<ControlCommand, number> = {
  status: 10_000,
  dump: 30_000,
  reload: 120_000,
  stop: 5_000,
};

/** Status and dump documents are built at most this often (requests in between share the next one). */
const STATUS_MIN_INTERVAL_MS = 50;

/** After a final (error) reply, how long the client gets to read it before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Can something be reached on this socket path? (false: nothing there or nobody listening) */
async function socketIsLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // someone accepted but is slow: treat as live
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Runs a task so that concurrent callers share work. 'share': callers during a run get that run's result.
 * 'after': callers during a run wait for ONE next run, started when the current one ends (for reload: the
 * result must reflect a config read after the request arrived). With `minIntervalMs`, runs start at most
 * that often: callers in between wait for (and share) the next run, which still starts after they asked.
 */
export class Coalescer<T> {
  private running: Promise<T> | undefined;
  private queued: Promise<T> | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  runs = 0;

  constructor(
    private readonly task: () => T | Promise<T>,
    private readonly mode: 'share' | 'after',
    private readonly minIntervalMs = 0,
  ) {}

  run(): Promise<T> {
    if (this.running && this.mode === 'share') return this.running;
    if (this.queued) return this.queued;
    if (!this.running && this.wait() === 0) return this.start();
    const queued = (this.running ?? Promise.resolve())
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => new Promise((r) => setTimeout(r, this.wait())))
      .then(() => {
        if (this.queued === queued) this.queued = undefined;
        return this.start();
      });
    this.queued = queued;
    return queued;
  }

  /**
   * Gives up on the current run (it missed its deadline): the next caller starts a fresh one instead of
   * joining a run that may never end. At most one abandoned run per deadline period can pile up.
   */
  abandon(): void {
    this.running = undefined;
    this.queued = undefined;
  }

  private wait(): number {
    return Math.max(0, this.lastStart + this.minIntervalMs - performance.now());
  }

  private start(): Promise<T> {
    this.runs++;
    this.lastStart = performance.now();
    const p = Promise.resolve().then(this.task);
    this.running = p;
    const clear = () => {
      if (this.running === p) this.running = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} did not finish within ${ms / 1000}s`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}

type Limits = typeof DEFAULTS;

/** One client connection: input framing, the request queue, timers, ordered replies. */
class ControlConnection {
  /** Order of arrival (the oldest has the smallest). */
  readonly seq: number;
  /** When it last became idle (nothing queued or being answered), for eviction. */
  idleSince: number;
  private input: Buffer = Buffer.alloc(0);
  /** Where to resume looking for a newline in `input`. */
  private scanFrom = 0;
  private readonly queue: (ParsedRequest | { kind: 'timeout'; error: string })[] = [];
  private busy = false;
  private paused = false;
  private readEnded = false;
  /** No more input is read (a fatal error is queued or the connection is going away). */
  private closing = false;
  private finished = false;
  private requestTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly server: ControlServer,
    private readonly limits: Limits,
    seq: number,
  ) {
    this.seq = seq;
    this.idleSince = seq;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => socket.destroy()); // a client vanishing mid-write is not our problem
    socket.on('close', () => {
      this.clearRequestTimer();
      this.server.forget(this);
    });
    this.armRequestTimer();
  }

  get idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  /** Closed to make room: an idle client is told why, a busy one is cut. */
  evict(): void {
    if (this.idle && !this.finished) {
      this.finish(errorReply('closed: too many control connections; this one was idle the longest'));
    } else {
      this.socket.destroy();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    this.pump();
  }

  /** Takes complete lines out of the input while the queue has room; applies backpressure otherwise. */
  private pump(): void {
    const max = this.limits.maxLineBytes;
    while (!this.closing && this.queue.length < this.limits.maxPendingPerConnection) {
      const nl = this.input.indexOf(10, this.scanFrom);
      if (nl === -1) {
        if (this.input.length > max) {
          this.fatal(`bad request: line longer than ${max} bytes`);
        } else if (this.readEnded && this.input.length > 0) {
          // The client closed its write side: a last line without a newline is still a request.
          const last = this.input;
          this.input = Buffer.alloc(0);
          this.scanFrom = 0;
          this.handleLine(last);
          continue;
        } else {
          this.scanFrom = this.input.length;
        }
        break;
      }
      const line = this.input.subarray(0, nl);
      this.input = this.input.subarray(nl + 1);
      this.scanFrom = 0;
      if (line.length > max) {
        this.fatal(`bad request: line longer than ${max} bytes`);
        break;
      }
      this.handleLine(line);
    }
    if (this.closing || this.readEnded) return;
    // The queue is full and complete lines may still be waiting: stop reading until replies have gone.
    const full = this.queue.length >= this.limits.maxPendingPerConnection;
    if (full && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private handleLine(bytes: Buffer): void {
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    const parsed = parseRequestLine(text, this.limits.maxDepth);
    if (parsed.kind !== 'request') this.server.stats.protocolErrors++;
    if (parsed.kind === 'fatal') {
      this.fatal(parsed.error);
      return;
    }
    this.queue.push(parsed);
    this.next();
  }

  /** Garbage: stop reading, answer once after the replies still owed, then close. */
  private fatal(error: string): void {
    if (this.closing) return;
    this.closing = true;
    this.input = Buffer.alloc(0);
    this.socket.pause();
    this.queue.push({ kind: 'fatal', error });
    this.next();
  }

  private onEnd(): void {
    this.readEnded = true;
    this.clearRequestTimer();
    this.pump();
    if (this.idle) this.finish();
  }

  private next(): void {
    if (this.busy || this.finished) return;
    const item = this.queue.shift();
    if (!item) {
      this.idleSince = this.server.tick();
      // pump() has run before this: with the read side ended, the input is empty by now.
      if (this.readEnded || this.closing) this.finish();
      else this.armRequestTimer();
      return;
    }
    this.clearRequestTimer();
    this.busy = true;
    void this.answer(item).then(
      (keepGoing) => {
        this.busy = false;
        if (!keepGoing) return;
        if (!this.closing) this.pump();
        this.next();
      },
      () => {
        this.busy = false;
        this.socket.destroy();
      },
    );
  }

  /** Writes the reply to one queued item; false when the connection is done. */
  private async answer(item: ParsedRequest | { kind: 'timeout'; error: string }): Promise<boolean> {
    switch (item.kind) {
      case 'fatal':
      case 'timeout':
        this.finish(errorReply(item.error));
        return false;
      case 'rejected':
        return this.write(errorReply(item.error, item.id));
      case 'request': {
        const reply = await this.server.execute(item.cmd, item.id);
        const written = await this.write(reply);
        if (item.cmd === 'stop') this.server.runStop();
        return written;
      }
    }
  }

  /** Resolves true once the reply is in the kernel, false if the client did not take it in time. */
  private write(line: string | (string | Buffer)[]): Promise<boolean> {
    if (this.socket.destroyed || this.finished) return Promise.resolve(false);
    const pieces = typeof line === 'string' ? [line] : line;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.stats.timedOut++;
        this.socket.destroy();
        resolve(false);
      }, this.limits.writeTimeoutMs);
      this.socket.cork();
      pieces.forEach((piece, i) => {
        if (i < pieces.length - 1) this.socket.write(piece);
        else
          this.socket.write(piece, (err) => {
            clearTimeout(timer);
            resolve(!err && !this.socket.destroyed);
          });
      });
      this.socket.uncork();
    });
  }

  /** Ends the connection, optionally with a last line; destroyed for good after a short grace. */
  private finish(lastLine?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.closing = true;
    this.clearRequestTimer();
    this.server.forget(this);
    if (this.socket.destroyed) return;
    // Once the last line is in the kernel the socket is closed at once (a Unix socket's peer can still
    // read what was sent), so a burst of connections does not linger; a client that does not even take
    // the last line gets CLOSE_GRACE_MS.
    const close = () => this.socket.destroy();
    if (lastLine === undefined) this.socket.end(close);
    else this.socket.end(lastLine, close);
    setTimeout(close, CLOSE_GRACE_MS).unref();
  }

  private armRequestTimer(): void {
    this.clearRequestTimer();
    if (this.readEnded || this.closing) return;
    this.requestTimer = setTimeout(() => {
      this.requestTimer = undefined;
      if (!this.idle || this.closing) return;
      this.server.stats.timedOut++;
      const s = this.limits.requestTimeoutMs / 1000;
      const partial = this.input.length > 0;
      this.closing = true;
      this.input = Buffer.alloc(0);
      this.socket.pause();
      this.queue.push({
        kind: 'timeout',
        error: partial
          ? `request not completed within ${s}s (a request is one line ending in a newline)`
          : `no request within ${s}s`,
      });
      this.next();
    }, this.limits.requestTimeoutMs);
  }

  private clearRequestTimer(): void {
    if (this.requestTimer) clearTimeout(this.requestTimer);
    this.requestTimer = undefined;
  }
}

export class ControlServer {
  private server: Server | undefined;
  private readonly connections = new Set<ControlConnection>();
  /** Every open socket, including connections already finishing (close() cuts them all). */
  private readonly sockets = new Set<Socket>();
  private readonly limits: Limits;
  private readonly handlerTimeouts: Record<ControlCommand, number>;
  private readonly runs: { [C in ControlCommand]: Coalescer<unknown> };
  private ino: number | undefined;
  private clock = 0;
  private stopRequested = false;
  /** Each shared result's JSON, serialised once (a status document can be large, a flood asks often). */
  private readonly resultBytes = new WeakMap<object, Buffer>();
  readonly stats: Omit<ControlServerStats, 'connections' | 'handlerRuns'> = {
    accepted: 0,
    evicted: 0,
    timedOut: 0,
    protocolErrors: 0,
    requests: 0,
  };

  constructor(private readonly opts: ControlServerOptions) {
    this.limits = {
      maxLineBytes: opts.maxLineBytes ?? DEFAULTS.maxLineBytes,
      maxDepth: opts.maxDepth ?? DEFAULTS.maxDepth,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      writeTimeoutMs: opts.writeTimeoutMs ?? DEFAULTS.writeTimeoutMs,
      maxConnections: Math.max(1, opts.maxConnections ?? DEFAULTS.maxConnections),
      maxPendingPerConnection: Math.max(1, opts.maxPendingPerConnection ?? DEFAULTS.maxPendingPerConnection),
    };
    this.handlerTimeouts = { ...HANDLER_TIMEOUTS, ...opts.handlerTimeoutMs };
    const h = opts.handlers;
    // A flood of status requests costs at most 20 status documents a second (each one shared by every
    // request that arrived before it started), however many clients ask.
    this.runs = {
      status: new Coalescer(() => h.status(), 'share', STATUS_MIN_INTERVAL_MS),
      dump: new Coalescer(() => h.dump(), 'share', STATUS_MIN_INTERVAL_MS),
      reload: new Coalescer(() => h.reload(), 'after'),
      stop: new Coalescer(() => ({ stopping: true }) satisfies StopResult, 'share'),
    };
  }

  get path(): string {
    return this.opts.path;
  }

  /** Counters and the number of open connections. */
  currentStats(): ControlServerStats {
    const handlerRuns = Object.values(this.runs).reduce((n, c) => n + c.runs, 0);
    return { ...this.stats, connections: this.connections.size, handlerRuns };
  }

  /**
   * Creates the socket (and its directory). A leftover socket nobody listens on is replaced; a live one
   * means another halo uses this path (ControlSocketInUseError); a non-socket file there is never deleted.
   */
  async listen(): Promise<void> {
    const path = this.opts.path;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st) {
      if (!st.isSocket())
        throw new ControlSocketInUseError(`refusing to replace ${path}: it is not a socket`);
      if (await socketIsLive(path)) {
        throw new ControlSocketInUseError(
          `another halo is already listening on ${path}; give this instance its own --socket/--run-dir`,
        );
      }
      await unlink(path);
    }

    // allowHalfOpen: a client that sends its request and shuts down its write side (`printf ... | socat`)
    // still gets its reply; the connection is ended once every reply owed has gone out.
    const server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket must never be reachable with a looser mode, not even between bind() and chmod():
      // bind() creates it with 0777 & ~umask, and net.Server binds a pipe synchronously inside listen().
      let oldMask: number | undefined;
      try {
        oldMask = process.umask(0o177);
      } catch {
        // process.umask cannot be set inside a worker thread; the chmod below still applies.
      }
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (oldMask !== undefined) process.umask(oldMask);
      }
    });
    await chmodP(path, 0o600);
    this.ino = (await lstat(path)).ino;
    server.on('error', (err) => this.opts.onError?.('control socket', err));
    this.server = server;
  }

  /** Stops accepting, cuts open connections, removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.connections.clear();
    await closed;
    await this.removeSocketFile();
  }

  /** Removes the socket file if it is still the one this server created (a successor may have replaced it). */
  async removeSocketFile(): Promise<void> {
    if (this.ino === undefined) return;
    const st = await lstat(this.opts.path).catch(() => undefined);
    if (st && st.ino === this.ino) await unlink(this.opts.path).catch(() => {});
  }

  /** removeSocketFile for exit paths (an uncaught error) where nothing asynchronous runs any more. */
  removeSocketFileSync(): void {
    if (this.ino === undefined) return;
    try {
      if (lstatSync(this.opts.path).ino === this.ino) unlinkSync(this.opts.path);
    } catch {
      // gone already
    }
  }

  /** @internal A monotonic counter for connection ages and idle times. */
  tick(): number {
    return ++this.clock;
  }

  /** @internal */
  forget(c: ControlConnection): void {
    this.connections.delete(c);
  }

  private accept(socket: Socket): void {
    if (!this.server) {
      socket.destroy();
      return;
    }
    this.stats.accepted++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    while (this.connections.size >= this.limits.maxConnections) {
      const victim = this.victim();
      if (!victim) break;
      this.connections.delete(victim);
      this.stats.evicted++;
      victim.evict();
    }
    this.connections.add(new ControlConnection(socket, this, this.limits, this.tick()));
  }

  /** The connection idle the longest, else the oldest. */
  private victim(): ControlConnection | undefined {
    let idle: ControlConnection | undefined;
    let oldest: ControlConnection | undefined;
    for (const c of this.connections) {
      if (c.idle && (!idle || c.idleSince < idle.idleSince)) idle = c;
      if (!oldest || c.seq < oldest.seq) oldest = c;
    }
    return idle ?? oldest;
  }

  /** @internal Runs (or joins) the handler of a command; always resolves to a reply line (in pieces). */
  async execute(cmd: ControlCommand, rid: RequestId | undefined): Promise<(string | Buffer)[]> {
    this.stats.requests++;
    const run = this.runs[cmd];
    const ms = this.handlerTimeouts[cmd];
    try {
      const result = await withDeadline(run.run(), ms, cmd, () => run.abandon());
      // Requests that share a run share its serialisation too: written from one Buffer, not copied.
      const shared = typeof result === 'object' && result !== null;
      let bytes = shared ? this.resultBytes.get(result) : undefined;
      if (!bytes) {
        const json = resultJson(result);
        if (json === '') return [okReplyFromJson(json, rid)]; // no result to carry (undefined)
        bytes = Buffer.from(json);
        if (shared) this.resultBytes.set(result, bytes);
      }
      return [okReplyPrefix(rid), bytes, OK_REPLY_SUFFIX];
    } catch (err) {
      this.opts.onError?.(`control ${cmd}`, err);
      return [errorReply(`${cmd} failed: ${describe(err)}`, rid)];
    }
  }

  /** @internal The stop handler, once, after the acknowledgement was written. */
  runStop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    Promise.resolve()
      .then(() => this.opts.handlers.stop())
      .catch((err) => this.opts.onError?.('control stop', err));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Client

export type ControlClientErrorCode = 'not_running' | 'permission' | 'timeout' | 'protocol' | 'remote' | 'io';

export class ControlClientError extends Error {
  override name = 'ControlClientError';
  constructor(
    message: string,
    readonly code: ControlClientErrorCode,
  ) {
    super(message);
  }
}

export interface ControlRequestOptions {
  timeoutMs?: number;
  /** Longest response accepted (a status document of a big config is a few MB at most). */
  maxResponseBytes?: number;
}

/** Sends one command, waits for its answer (validated), closes the connection. */
export async function controlRequest<C extends ControlCommand>(
  socketPath: string,
  cmd: C,
  opts: ControlRequestOptions = {},
): Promise<ControlResults[C]> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024 * 1024;
  const line = await new Promise<string>((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: ControlClientError | undefined, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ControlClientError(
            `no answer from halo on ${socketPath} within ${timeoutMs / 1000}s`,
            'timeout',
          ),
        ),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(`${JSON.stringify({ cmd })}\n`));
    socket.on('data', (chunk: Buffer) => {
      const nl = chunk.indexOf(10);
      if (nl !== -1) {
        chunks.push(chunk.subarray(0, nl));
        finish(undefined, Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > maxBytes)
        finish(new ControlClientError(`answer from ${socketPath} is too large`, 'protocol'));
    });
    socket.once('end', () =>
      finish(new ControlClientError(`halo closed ${socketPath} without answering`, 'protocol')),
    );
    socket.once('error', (err: NodeJS.ErrnoException) => finish(connectError(socketPath, err)));
  });

  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ControlClientError(`answer from ${socketPath} is not JSON`, 'protocol');
  }
  const envelope = z
    .union([
      z.object({ ok: z.literal(true), result: z.unknown() }),
      z.object({ ok: z.literal(false), error: z.string() }),
    ])
    .safeParse(parsed);
  if (!envelope.success) throw new ControlClientError(`answer from ${socketPath} is malformed`, 'protocol');
  if (!envelope.data.ok) throw new ControlClientError(envelope.data.error, 'remote');
  const result = RESULT_SCHEMAS[cmd].safeParse(envelope.data.result);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ControlClientError(
      `unexpected ${cmd} answer from ${socketPath} (daemon of another version?): ${first?.path.join('.') ?? ''} ${first?.message ?? ''}`.trim(),
      'protocol',
    );
  }
  return result.data as ControlResults[C];
}

function connectError(path: string, err: NodeJS.ErrnoException): ControlClientError {
  switch (err.code) {
    case 'ENOENT':
      return new ControlClientError(`halo is not running (no socket at ${path})`, 'not_running');
    case 'ECONNREFUSED':
      return new ControlClientError(`halo is not running (nobody listens on ${path})`, 'not_running');
    case 'EACCES':
    case 'EPERM':
      return new ControlClientError(
        `permission denied on ${path}: the control socket is root-only (run as root)`,
        'permission',
      );
    case 'ENOTSOCK':
      return new ControlClientError(`${path} is not a socket`, 'io');
    default:
      return new ControlClientError(`cannot talk to halo on ${path}: ${err.message}`, 'io');
  }
}
