/**
 * The control socket: a root-only Unix domain socket (mode 0600) speaking newline-delimited JSON.
 *
 *   request:  {"cmd":"status"|"reload"|"stop"|"dump", "id"?: any}\n
 *   response: {"id"?: any, "ok": true, "result": ...}\n   or   {"id"?: any, "ok": false, "error": "..."}\n
 *
 * A connection may carry several requests; they are answered in order. Anything malformed (not JSON, an
 * unknown command, a line over the size limit, too many queued requests) gets one error response and the
 * connection is closed. Idle connections are closed too. Nothing a client sends can throw out of the
 * server: the daemon must not die because someone piped /dev/urandom into its socket.
 *
 * `rs` (`halo rs drain|disable|enable|weight`) takes its arguments as RsArgsSchema (rs-control.ts) says;
 * the peer's kernel credentials (SO_PEERCRED) are recorded as the change's origin.
 *
 * `events` is a stream (`halo events`):
 *
 *   request:  {"cmd":"events", "follow"?: bool, "since"?: SEQ, "id"?: any}\n
 *   response: {"id"?: any, "ok": true, "result": {"stream", "lastSeq", "missed"}}\n
 *             then {"event": {...}}\n per event: the kept backlog after SEQ, then (follow) each new one
 *
 * Without `follow` the server closes the connection after the backlog. A following connection is not
 * idle-timed out, takes no further requests, and is cut off (after a last error line when there is room)
 * when it falls more than `maxStreamBufferBytes` behind: a reader that stops reading costs the daemon a
 * bounded buffer, never memory without end. At most `maxFollowers` connections follow at once, so the
 * one-shot commands always have room.
 */
import { chmod as chmodP, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { z } from 'zod';
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

/** Commands with one answer. */
export const CONTROL_COMMANDS = [
  'status',
  'reload',
  'reload-plan',
  'stop',
  'dump',
  'failover',
  'maintenance',
  'rs',
] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];
/** Every command the socket takes: the one-answer ones and `events` (a stream, see below). */
const ALL_COMMANDS = [...CONTROL_COMMANDS, 'events'] as const;
type AnyCommand = (typeof ALL_COMMANDS)[number];

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
  /** Close a connection that sends nothing for this long. */
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** Requests queued on one connection before it is cut off. */
  maxPendingPerConnection?: number;
  /** Handler failures and socket errors (the supervisor logs them as daemon.error). */
  onError?: (context: string, err: unknown) => void;
}

export class ControlSocketInUseError extends Error {
  override name = 'ControlSocketInUseError';
}

const DEFAULTS = {
  maxLineBytes: 64 * 1024,
  idleTimeoutMs: 30_000,
  maxConnections: 16,
  maxPendingPerConnection: 8,
  maxFollowers: 8,
  maxStreamBufferBytes: 1024 * 1024,
};

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

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly opts: Required<Omit<ControlServerOptions, 'onError' | 'events'>> &
    Pick<ControlServerOptions, 'onError' | 'events'>;
  private followers = 0;
  private ino: number | undefined;

  constructor(opts: ControlServerOptions) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  get path(): string {
    return this.opts.path;
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

    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    server.maxConnections = this.opts.maxConnections;
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
    await closed;
    const st = await lstat(this.opts.path).catch(() => undefined);
    if (st && st.ino === this.ino) await unlink(this.opts.path).catch(() => {});
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.opts.idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy()); // a client vanishing mid-write is not our problem

    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    let pending = 0;
    let closing = false;
    let chain: Promise<void> = Promise.resolve();

    // A protocol error stops reading at once, but its answer is queued behind the answers still owed to
    // earlier requests on this connection: replies always come back in request order.
    const fail = (error: string, id?: unknown) => {
      if (closing) return;
      closing = true;
      socket.pause();
      chain = chain.then(() => {
        if (socket.destroyed) return;
        socket.end(`${JSON.stringify({ ...(id === undefined ? {} : { id }), ok: false, error })}\n`);
        // end() waits for the client to read; don't let a client that never reads keep us busy.
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    };

    const handleLine = (line: string) => {
      if (line.trim() === '') return;
      let req: unknown;
      try {
        req = JSON.parse(line);
      } catch {
        fail('bad request: not JSON (expected {"cmd":"status"|"reload"|"stop"|"dump"})');
        return;
      }
      const r = req as {
        cmd?: unknown;
        id?: unknown;
        follow?: unknown;
        since?: unknown;
        args?: unknown;
      } | null;
      const id = r && typeof r === 'object' ? r.id : undefined;
      if (!r || typeof r !== 'object' || !ALL_COMMANDS.includes(r.cmd as AnyCommand)) {
        fail(`bad request: unknown command (expected one of ${ALL_COMMANDS.join(', ')})`, id);
        return;
      }
      if (++pending > this.opts.maxPendingPerConnection) {
        fail('too many pending requests on this connection', id);
        return;
      }
      if (r.cmd === 'events') {
        const since = r.since;
        if (since !== undefined && !(Number.isSafeInteger(since) && (since as number) >= 0)) {
          fail('bad request: "since" must be a sequence number (an integer >= 0)', id);
          return;
        }
        if (r.follow !== undefined && typeof r.follow !== 'boolean') {
          fail('bad request: "follow" must be true or false', id);
          return;
        }
        // The connection now belongs to the stream: later lines are not requests.
        closing = true;
        const follow = r.follow === true;
        chain = chain.then(() => this.stream(socket, id, since as number | undefined, follow));
        return;
      }
      const cmd = r.cmd as ControlCommand;
      let args: unknown;
      if (cmd in ARG_SCHEMAS) {
        const parsed = ARG_SCHEMAS[cmd as keyof ControlArgs].safeParse(r.args);
        if (!parsed.success) {
          pending--;
          const why = parsed.error.issues
            .map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`)
            .join('; ');
          fail(`bad request: ${cmd} arguments: ${why}`, id);
          return;
        }
        args = parsed.data;
      }
      chain = chain.then(() => this.dispatch(socket, cmd, id, args)).finally(() => pending--);
    };

    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        start = nl + 1;
        if (bufferedBytes + piece.length > this.opts.maxLineBytes) {
          fail(`bad request: line longer than ${this.opts.maxLineBytes} bytes`);
          return;
        }
        const line = Buffer.concat([...buffered, piece]).toString('utf8');
        buffered = [];
        bufferedBytes = 0;
        handleLine(line);
        if (closing) return;
      }
      const tail = chunk.subarray(start);
      if (bufferedBytes + tail.length > this.opts.maxLineBytes) {
        fail(`bad request: line longer than ${this.opts.maxLineBytes} bytes`);
        return;
      }
      if (tail.length) {
        buffered.push(tail);
        bufferedBytes += tail.length;
      }
    });
  }

  private async dispatch(socket: Socket, cmd: ControlCommand, id: unknown, args: unknown): Promise<void> {
    const idPart = id === undefined ? {} : { id };
    let response: string;
    // A slow handler (a reload re-resolving names) is not an idle client.
    socket.setTimeout(0);
    try {
      const h = this.opts.handlers;
      const result =
        cmd === 'status'
          ? await h.status()
          : cmd === 'reload'
            ? await h.reload()
            : cmd === 'reload-plan'
              ? await h.reloadPlan()
              : cmd === 'dump'
                ? await h.dump()
                : cmd === 'failover'
                  ? await h.failover(await this.withOrigin(socket, args as FailoverArgs))
                  : cmd === 'maintenance'
                    ? await h.maintenance(await this.withOrigin(socket, args as MaintenanceArgs))
                    : cmd === 'rs'
                      ? await this.rs(socket, args as RsArgs)
                      : ({ stopping: true } satisfies StopResult);
      response = JSON.stringify({ ...idPart, ok: true, result });
    } catch (err) {
      // A request naming what does not exist is the client's mistake, not a daemon error.
      if (!(err as { expected?: unknown } | null)?.expected) this.opts.onError?.(`control ${cmd}`, err);
      response = JSON.stringify({ ...idPart, ok: false, error: `${cmd} failed: ${describe(err)}` });
    }
    if (socket.destroyed) {
      if (cmd === 'stop') this.runStop();
      return;
    }
    socket.setTimeout(this.opts.idleTimeoutMs);
    await new Promise<void>((resolve) => {
      socket.write(`${response}\n`, () => resolve());
    });
    // Acknowledge first, then stop: the client learns the request was taken before the socket goes away.
    if (cmd === 'stop') this.runStop();
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

  /** `events`: the answer line, the backlog after `since`, then (follow) every new event until the end. */
  private async stream(
    socket: Socket,
    id: unknown,
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
    if (follow && this.followers >= this.opts.maxFollowers) {
      return bye(`too many connections follow the events (${this.opts.maxFollowers}); try again later`);
    }
    socket.setTimeout(0);
    const limit = this.opts.maxStreamBufferBytes;
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
    // Keep reading (and dropping) what the client sends, so that its close is noticed.
    socket.resume();
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

  private runStop(): void {
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
