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
 *  - Commands with arguments (`failover`, `maintenance`, `rs`) have them validated against their zod
 *    schema before any handler runs, and are never shared between requests; who asked comes from the
 *    kernel (SO_PEERCRED) first.
 *
 * `events` is a stream (`halo events`):
 *
 *   request:  {"cmd":"events", "follow"?: bool, "since"?: SEQ, "id"?: ...}\n
 *   response: {"id"?: ..., "ok": true, "result": {"stream", "lastSeq", "missed"}}\n
 *             then {"event": {...}}\n per event: the kept backlog after SEQ, then (follow) each new one
 *
 * Without `follow` the server closes the connection after the backlog. A following connection takes no
 * further requests and is cut off (after a last error line when there is room) when it falls more than
 * `maxStreamBufferBytes` behind: a reader that stops reading costs the daemon a bounded buffer, never
 * memory without end. At most `maxFollowers` connections follow at once.
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
import {
  type EventEnvelope,
  EventEnvelopeSchema,
  type EventSource,
  type EventStreamInfo,
  EventStreamInfoSchema,
} from './events.js';
import { controlOrigin, type RsArgs, RsArgsSchema, type RsResult, RsResultSchema } from './rs-control.js';
import type { RsOrigin } from './rs-overrides.js';
import { describeOrigin } from './rs-overrides.js';
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
/** What a reload would do (nothing applied): the plan in words, and as data. */
export const ReloadPlanResultSchema = z.object({
  configFile: z.string(),
  /** False when the new config has errors (`errors` says which); there is then no plan. */
  valid: z.boolean(),
  errors: z.array(z.string()),
  text: z.string().optional(),
  plan: z.unknown().optional(),
});
export const StopResultSchema = z.object({ stopping: z.literal(true) });

/** Who asked, as the CLI says it ("root (pid 4242) via halo failover"); logged and shown in status. */
const OriginSchema = z.string().min(1).max(200);
/** `halo failover`: hand these instances (or all) to the peer and stay BACKUP; `clear` ends that. */
export const FailoverArgsSchema = z
  .object({
    instances: z.array(z.string().min(1).max(64)).max(256).optional(),
    all: z.boolean().optional(),
    clear: z.boolean().optional(),
    /** The hold clears itself after this many seconds (at most a week). */
    timeoutS: z
      .number()
      .positive()
      .max(7 * 24 * 3600)
      .optional(),
    origin: OriginSchema,
  })
  .strict()
  .refine((a) => a.all === true || (a.instances?.length ?? 0) > 0, {
    message: 'name the instances or ask for all of them',
  });
export const MaintenanceArgsSchema = z.object({ on: z.boolean(), origin: OriginSchema }).strict();
export const HoldResultSchema = z.object({
  /** The instances the request changed (a sync group's members go together). */
  instances: z.array(z.string()),
  /** Names that are not instances here. */
  unknown: z.array(z.string()),
  /** Maintenance mode after the request. */
  maintenance: z.boolean(),
});
export type FailoverArgs = z.infer<typeof FailoverArgsSchema>;
export type MaintenanceArgs = z.infer<typeof MaintenanceArgsSchema>;
export type HoldCommandResult = z.infer<typeof HoldResultSchema>;

/** The arguments of the commands that take some (`{"cmd": ..., "args": {...}}`), validated before dispatch. */
export interface ControlArgs {
  failover: FailoverArgs;
  maintenance: MaintenanceArgs;
  rs: RsArgs;
}
const ARG_SCHEMAS: { [C in keyof ControlArgs]: z.ZodType<ControlArgs[C]> } = {
  failover: FailoverArgsSchema,
  maintenance: MaintenanceArgsSchema,
  rs: RsArgsSchema,
};
type ArgsOf<C extends ControlCommand> = C extends keyof ControlArgs ? ControlArgs[C] : undefined;
export const DumpResultSchema = z.object({ files: z.array(z.string()) });

export type ReloadResult = z.infer<typeof ReloadResultSchema>;
export type ReloadPlanResult = z.infer<typeof ReloadPlanResultSchema>;
export type StopResult = z.infer<typeof StopResultSchema>;
export type DumpResult = z.infer<typeof DumpResultSchema>;

export interface ControlResults {
  status: StatusDocument;
  reload: ReloadResult;
  'reload-plan': ReloadPlanResult;
  stop: StopResult;
  dump: DumpResult;
  failover: HoldCommandResult;
  maintenance: HoldCommandResult;
  rs: RsResult;
}

const RESULT_SCHEMAS: { [C in ControlCommand]: z.ZodType<ControlResults[C]> } = {
  status: StatusDocumentSchema,
  reload: ReloadResultSchema,
  'reload-plan': ReloadPlanResultSchema,
  stop: StopResultSchema,
  dump: DumpResultSchema,
  failover: HoldResultSchema,
  maintenance: HoldResultSchema,
  rs: RsResultSchema,
};

/** What the supervisor provides. `stop` is called after the acknowledgement has been written. */
export interface ControlHandlers {
  status(): StatusDocument | Promise<StatusDocument>;
  reload(): ReloadResult | Promise<ReloadResult>;
  /** What a reload would do now, without doing it. */
  reloadPlan(): ReloadPlanResult | Promise<ReloadPlanResult>;
  stop(): void | Promise<void>;
  /** Writes the data/stats dumps (as on SIGUSR1/SIGUSR2) and returns the files written. */
  dump(): DumpResult | Promise<DumpResult>;
  /** `halo failover`: hand instances to the peer (make-before-break) and hold them BACKUP, or clear that. */
  failover(args: FailoverArgs): HoldCommandResult | Promise<HoldCommandResult>;
  /** `halo maintenance on|off`: the whole node BACKUP, its VIPs away; kept across reloads and restarts. */
  maintenance(args: MaintenanceArgs): HoldCommandResult | Promise<HoldCommandResult>;
  /** `halo rs`: an operator's real server override; `origin` is who asked (absent: `rs` answers an error). */
  rs?(args: RsArgs, origin: RsOrigin): Promise<RsResult>;
}

export interface ControlServerOptions {
  path: string;
  handlers: ControlHandlers;
  /** The event bus `events` reads (without it, `events` answers an error). */
  events?: EventSource;
  /** Connections following the event stream at once. */
  maxFollowers?: number;
  /** Unsent bytes a following connection may have queued before it is cut off. */
  maxStreamBufferBytes?: number;
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
  maxFollowers: 8,
  maxStreamBufferBytes: 1024 * 1024,
};

/** Reload reads a config in a bounded worker (30 s) and then applies it: give it room. */
const HANDLER_TIMEOUTS: Record<ControlCommand, number> = {
  status: 10_000,
  dump: 30_000,
  reload: 120_000,
  'reload-plan': 120_000,
  stop: 5_000,
  // A handover waits for the peer (at most a master-down interval, capped at 8 s by the engine).
  failover: 30_000,
  maintenance: 30_000,
  rs: 30_000,
};

/** Commands whose requests carry arguments: each runs on its own (never shared), validated first. */
const WITH_ARGS = new Set<ControlCommand>(['failover', 'maintenance', 'rs']);
type SharedCommand = Exclude<ControlCommand, 'failover' | 'maintenance' | 'rs'>;

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
    const parsed = this.server.validate(parseRequestLine(text, this.limits.maxDepth));
    if (parsed.kind === 'rejected' || parsed.kind === 'fatal') this.server.stats.protocolErrors++;
    if (parsed.kind === 'fatal') {
      this.fatal(parsed.error);
      return;
    }
    this.queue.push(parsed);
    // The connection now belongs to the event stream: later lines are not requests.
    if (parsed.kind === 'events') {
      this.closing = true;
      this.input = Buffer.alloc(0);
    }
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
        const reply = await this.server.execute(item.cmd, item.id, item.args, this.socket);
        const written = await this.write(reply);
        if (item.cmd === 'stop') this.server.runStop();
        return written;
      }
      case 'events':
        // The stream owns the socket from here: no request deadline, no more requests.
        this.finished = true;
        this.clearRequestTimer();
        this.server.forget(this);
        await this.server.stream(this.socket, item.id, item.since, item.follow);
        return false;
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
  private readonly runs: { [C in SharedCommand]: Coalescer<unknown> };
  private followers = 0;
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
      maxFollowers: Math.max(0, opts.maxFollowers ?? DEFAULTS.maxFollowers),
      maxStreamBufferBytes: opts.maxStreamBufferBytes ?? DEFAULTS.maxStreamBufferBytes,
    };
    this.handlerTimeouts = { ...HANDLER_TIMEOUTS, ...opts.handlerTimeoutMs };
    const h = opts.handlers;
    // A flood of status requests costs at most 20 status documents a second (each one shared by every
    // request that arrived before it started), however many clients ask.
    this.runs = {
      status: new Coalescer(() => h.status(), 'share', STATUS_MIN_INTERVAL_MS),
      dump: new Coalescer(() => h.dump(), 'share', STATUS_MIN_INTERVAL_MS),
      reload: new Coalescer(() => h.reload(), 'after'),
      'reload-plan': new Coalescer(() => h.reloadPlan(), 'after'),
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

  /**
   * @internal Validates a parsed request's arguments against its command's schema (a bad one is rejected:
   * answered with the reason, the connection goes on).
   */
  validate(p: ParsedRequest): ParsedRequest {
    if (p.kind !== 'request' || !WITH_ARGS.has(p.cmd)) return p;
    const schema = (ARG_SCHEMAS as Record<string, z.ZodType>)[p.cmd] ?? RsArgsSchema;
    const parsed = schema.safeParse(p.args);
    if (parsed.success) return { ...p, args: parsed.data };
    const why = parsed.error.issues
      .map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`)
      .join('; ');
    return {
      kind: 'rejected',
      error: `bad request: ${p.cmd} arguments: ${why}`,
      ...(p.id === undefined ? {} : { id: p.id }),
    };
  }

  /** Runs a command with arguments (already validated), with who asked taken from the socket. */
  private async runWithArgs(cmd: ControlCommand, args: unknown, socket: Socket): Promise<unknown> {
    const h = this.opts.handlers;
    if (cmd === 'failover') return h.failover(await this.withOrigin(socket, args as FailoverArgs));
    if (cmd === 'maintenance') return h.maintenance(await this.withOrigin(socket, args as MaintenanceArgs));
    return this.rs(socket, args as RsArgs);
  }

  /** Who asked: the kernel's word (SO_PEERCRED uid/pid and the process) first, what the client says after. */
  private async withOrigin<A extends { origin: string }>(socket: Socket, args: A): Promise<A> {
    const verified = describeOrigin(await controlOrigin(socket));
    return { ...args, origin: `${verified} (${args.origin})`.slice(0, 300) };
  }

  /** `rs`: who asked is taken from the socket (the arguments were validated on arrival). */
  private async rs(socket: Socket, args: RsArgs): Promise<RsResult> {
    const handler = this.opts.handlers.rs;
    if (!handler)
      throw Object.assign(new Error('real server overrides are not available in this daemon'), {
        expected: true,
      });
    return handler(args, await controlOrigin(socket, args.user));
  }

  /** @internal Runs (or joins) the handler of a command; always resolves to a reply line (in pieces). */
  async execute(
    cmd: ControlCommand,
    rid: RequestId | undefined,
    args: unknown,
    socket: Socket,
  ): Promise<(string | Buffer)[]> {
    this.stats.requests++;
    const ms = this.handlerTimeouts[cmd];
    try {
      const shareable = !WITH_ARGS.has(cmd);
      const run = shareable ? this.runs[cmd as SharedCommand] : undefined;
      const result = run
        ? await withDeadline(run.run(), ms, cmd, () => run.abandon())
        : await withDeadline(this.runWithArgs(cmd, args, socket), ms, cmd, () => undefined);
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
      // A request naming what does not exist is the client's mistake, not a daemon error.
      if (!(err as { expected?: unknown } | null)?.expected) this.opts.onError?.(`control ${cmd}`, err);
      return [errorReply(`${cmd} failed: ${describe(err)}`, rid)];
    }
  }

  /** `events`: the answer line, the backlog after `since`, then (follow) every new event until the end. */
  /** @internal */
  async stream(
    socket: Socket,
    id: RequestId | undefined,
    since: number | undefined,
    follow: boolean,
  ): Promise<void> {
    const idPart = id === undefined ? {} : { id };
    const bye = (error: string) => {
      if (socket.destroyed) return;
      socket.end(`${JSON.stringify({ ...idPart, ok: false, error })}\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const source = this.opts.events;
    if (!source) return bye('events are not available in this daemon');
    if (socket.destroyed) return;
    if (follow && this.followers >= this.limits.maxFollowers) {
      return bye(`too many connections follow the events (${this.limits.maxFollowers}); try again later`);
    }
    socket.setTimeout(0);
    const limit = this.limits.maxStreamBufferBytes;
    // Events published while the backlog is still being written wait here, behind it.
    const queued: string[] = [];
    let queuedBytes = 0;
    let live = false;
    let cut = false;
    // Frees the follower's slot and its subscription once, at the cut-off or at the close.
    let released = !follow;
    const release = () => {
      sub.unsubscribe();
      if (released) return;
      released = true;
      this.followers--;
    };
    const cutOff = () => {
      // The reader stopped reading: say so if there is still room for a line, then let it go.
      cut = true;
      release();
      bye('too slow: this reader fell too far behind the events and was cut off; reconnect with "since"');
    };
    const sub = source.subscribe(since, (e) => {
      if (cut || socket.destroyed) return;
      const line = `${JSON.stringify({ event: e })}\n`;
      if (!live) {
        queued.push(line);
        queuedBytes += line.length;
        if (queuedBytes > limit) cutOff();
      } else if (socket.writableLength + line.length > limit) cutOff();
      else socket.write(line);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (follow) {
      this.followers++;
      void closed.then(release);
    }
    // Keep reading (and dropping) what the client sends, so that its close is noticed. The server allows
    // half-open sockets (a one-shot client may shut its write side and still get its reply); a follower
    // that ends its side is gone, so the stream ends too (else its slot would stay taken until the next
    // event failed to reach it).
    socket.resume();
    if (follow) socket.once('end', () => socket.end(() => socket.destroy()));
    const info: EventStreamInfo = { stream: sub.stream, lastSeq: sub.lastSeq, missed: sub.missed };
    // The backlog is written with back-pressure (it may be larger than one reader's buffer allowance).
    for (const line of [
      `${JSON.stringify({ ...idPart, ok: true, result: info })}\n`,
      ...sub.replay.map((e) => `${JSON.stringify({ event: e })}\n`),
    ]) {
      if (cut || socket.destroyed) break;
      if (!socket.write(line)) {
        await Promise.race([new Promise<void>((resolve) => socket.once('drain', () => resolve())), closed]);
      }
    }
    if (!follow) {
      sub.unsubscribe();
      if (!cut && !socket.destroyed) {
        for (const line of queued) socket.write(line);
        socket.end();
      }
      return;
    }
    if (cut || socket.destroyed) return;
    for (const line of queued) socket.write(line);
    queued.length = 0;
    live = true;
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
  opts: ControlRequestOptions & { args?: ArgsOf<C> } = {},
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
    const request = opts.args === undefined ? { cmd } : { cmd, args: opts.args };
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
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

export interface EventStreamOptions {
  /** Keep the connection open and receive new events as they happen. */
  follow: boolean;
  /** Only events after this sequence number (of the same stream). */
  since?: number;
  /** How long to wait for the daemon's first answer. */
  timeoutMs?: number;
  /** Longest event line accepted. */
  maxLineBytes?: number;
  /** Called once, before any event, with the stream's identity. */
  onInfo?(info: EventStreamInfo): void;
  onEvent(e: EventEnvelope): void;
  /** Ends the stream (resolves with 'aborted'). */
  signal?: AbortSignal;
}

/**
 * `events` over the control socket. Resolves when the stream ends: 'end' when the daemon closed it (the
 * whole backlog was sent, or with `follow` the daemon went away), 'aborted' on `signal`. Rejects with a
 * ControlClientError when the daemon cannot be reached, refuses, or sends something malformed.
 */
export function readEvents(socketPath: string, opts: EventStreamOptions): Promise<'end' | 'aborted'> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxLine = opts.maxLineBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let settled = false;
    let answered = false;
    let buf = '';
    const finish = (err: ControlClientError | undefined, how: 'end' | 'aborted' = 'end') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(how);
    };
    const onAbort = () => finish(undefined, 'aborted');
    if (opts.signal?.aborted) return finish(undefined, 'aborted');
    opts.signal?.addEventListener('abort', onAbort);
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
    const line = (text: string) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return finish(new ControlClientError(`answer from ${socketPath} is not JSON`, 'protocol'));
      }
      const p = parsed as { ok?: unknown; error?: unknown; result?: unknown; event?: unknown };
      if (p && typeof p === 'object' && p.ok === false) {
        return finish(new ControlClientError(String(p.error ?? 'error'), 'remote'));
      }
      if (!answered) {
        const info = EventStreamInfoSchema.safeParse(p?.result);
        if (p?.ok !== true || !info.success) {
          return finish(
            new ControlClientError(
              `unexpected events answer from ${socketPath} (daemon of another version?)`,
              'protocol',
            ),
          );
        }
        answered = true;
        clearTimeout(timer);
        opts.onInfo?.(info.data);
        return;
      }
      const ev = EventEnvelopeSchema.safeParse(p?.event);
      if (!ev.success)
        return finish(new ControlClientError(`malformed event from ${socketPath}`, 'protocol'));
      opts.onEvent(ev.data);
    };
    socket.setEncoding('utf8');
    socket.once('connect', () =>
      socket.write(
        `${JSON.stringify({ cmd: 'events', follow: opts.follow, ...(opts.since !== undefined ? { since: opts.since } : {}) })}\n`,
      ),
    );
    socket.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl !== -1 && !settled; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (text.trim()) line(text);
      }
      if (buf.length > maxLine)
        finish(new ControlClientError(`event line from ${socketPath} is too long`, 'protocol'));
    });
    socket.once('end', () => {
      if (!answered)
        finish(new ControlClientError(`halo closed ${socketPath} without answering`, 'protocol'));
      else finish(undefined, 'end');
    });
    socket.once('close', () => finish(undefined, 'end'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (answered) finish(undefined, 'end');
      else finish(connectError(socketPath, err));
    });
  });
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
