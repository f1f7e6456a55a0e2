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
 */
import { chmod as chmodP, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { z } from 'zod';
import { type StatusDocument, StatusDocumentSchema } from './status.js';

export const CONTROL_COMMANDS = ['status', 'reload', 'reload-plan', 'stop', 'dump'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

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
}

const RESULT_SCHEMAS: { [C in ControlCommand]: z.ZodType<ControlResults[C]> } = {
  status: StatusDocumentSchema,
  reload: ReloadResultSchema,
  'reload-plan': ReloadPlanResultSchema,
  stop: StopResultSchema,
  dump: DumpResultSchema,
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
}

export interface ControlServerOptions {
  path: string;
  handlers: ControlHandlers;
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
  private readonly opts: Required<Omit<ControlServerOptions, 'onError'>> &
    Pick<ControlServerOptions, 'onError'>;
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
      const r = req as { cmd?: unknown; id?: unknown } | null;
      const id = r && typeof r === 'object' ? r.id : undefined;
      if (!r || typeof r !== 'object' || !CONTROL_COMMANDS.includes(r.cmd as ControlCommand)) {
        fail(`bad request: unknown command (expected one of ${CONTROL_COMMANDS.join(', ')})`, id);
        return;
      }
      if (++pending > this.opts.maxPendingPerConnection) {
        fail('too many pending requests on this connection', id);
        return;
      }
      const cmd = r.cmd as ControlCommand;
      chain = chain.then(() => this.dispatch(socket, cmd, id)).finally(() => pending--);
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

  private async dispatch(socket: Socket, cmd: ControlCommand, id: unknown): Promise<void> {
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
                : ({ stopping: true } satisfies StopResult);
      response = JSON.stringify({ ...idPart, ok: true, result });
    } catch (err) {
      this.opts.onError?.(`control ${cmd}`, err);
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
