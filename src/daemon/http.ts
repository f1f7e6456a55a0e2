/**
 * halo's opt-in HTTP server (`--http 127.0.0.1:9650`, and `--metrics ADDR` for metrics alone):
 *
 *   /              the status page (web/index.html, web/app.js, web/app.css: shipped with halo, no CDN)
 *   /metrics       Prometheus metrics
 *   /api/status    the status document (as `halo status --json`)
 *   /api/events    server-sent events from the event bus (as `halo events --follow --json`)
 *
 * Read-only: GET and HEAD only, nothing changes the daemon. It carries no secrets but reveals topology, so
 * keep it on loopback (or firewall it). Because a web page on another site could point a name it controls
 * at 127.0.0.1 (DNS rebinding) and read the API from the operator's own browser, the page and the API
 * answer only requests whose Host is an IP address, `localhost` or this machine's host name; /metrics
 * answers any Host (scrapers name targets as they like).
 *
 * Bounded: at most `maxEventClients` event streams; a stream whose reader falls more than
 * `maxStreamBufferBytes` behind is ended (the browser reconnects with Last-Event-ID and gets what it
 * missed from the backlog); a heartbeat comment every `heartbeatMs` finds dead readers.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { EventSource, HaloEvent } from './events.js';
import { type HaloMetrics, isLoopback, type MetricsAddress } from './metrics.js';
import type { StatusDocument } from './status.js';

/** The page's files, from the package's web/ folder (dist/src/daemon/ -> ../../../web). */
export const WEB_DIR = join(import.meta.dirname, '..', '..', '..', 'web');

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const STATUS_REUSE_MS = 250;

/** Everything the page may load: its own files and its own API, nothing from anywhere else. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface HaloHttpOptions {
  address: MetricsAddress;
  /** Serves /metrics when given. */
  metrics?: HaloMetrics;
  /** Serves the page and the API when given. */
  page?: {
    status(): Promise<StatusDocument> | StatusDocument;
    events: EventSource;
    /** Where index.html, app.js and app.css are (default WEB_DIR). */
    webDir?: string;
  };
  maxEventClients?: number;
  maxStreamBufferBytes?: number;
  heartbeatMs?: number;
  onError?: (err: unknown) => void;
}

export class HaloHttpServer {
  private server: Server | undefined;
  private readonly assets = new Map<string, { body: Buffer; type: string }>();
  private readonly streams = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly allowedHosts: Set<string>;
  /** One status document serves every request within STATUS_REUSE_MS: tabs and reloads cost the daemon once. */
  private statusCache: { at: number; doc: Promise<StatusDocument> } | undefined;

  constructor(private readonly opts: HaloHttpOptions) {
    const h = hostname().toLowerCase();
    this.allowedHosts = new Set(['localhost', h, h.split('.')[0], opts.address.host.toLowerCase()]);
  }

  /** The address asked for. */
  get address(): MetricsAddress {
    return this.opts.address;
  }

  /** 'loopback' or 'network': the caller warns on 'network'. */
  get exposure(): 'loopback' | 'network' {
    return isLoopback(this.opts.address.host) ? 'loopback' : 'network';
  }

  /** Bound address (the port is real even when 0 was asked for). */
  get boundAddress(): MetricsAddress | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  get eventClients(): number {
    return this.streams.size;
  }

  async listen(): Promise<void> {
    if (this.opts.page) {
      // Read once: a missing file is a packaging fault, said at start rather than as a 404 later.
      const dir = this.opts.page.webDir ?? WEB_DIR;
      for (const [path, a] of Object.entries(ASSETS)) {
        try {
          this.assets.set(path, { body: readFileSync(join(dir, a.file)), type: a.type });
        } catch (err) {
          throw new Error(`status page file ${join(dir, a.file)} is missing (${(err as Error).message})`);
        }
      }
    }
    const server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        this.opts.onError?.(err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      }
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.address.port, this.opts.address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.onError?.(err));
    server.on('clientError', (_err, socket) => socket.destroy());
    this.server = server;
    const every = this.opts.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => {
      for (const res of this.streams) this.write(res, ': ping\n\n');
    }, every);
    this.heartbeat.unref();
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const res of this.streams) res.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    const base = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
    const text = (status: number, body: string, extra: Record<string, string> = {}) =>
      res.writeHead(status, { ...base, 'content-type': 'text/plain; charset=utf-8', ...extra }).end(body);
    const known = path === '/metrics' ? !!this.opts.metrics : !!this.opts.page && this.isPagePath(path);
    if (!known) {
      text(404, this.opts.page ? 'not found\n' : 'not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(405, 'method not allowed: this server is read-only\n', { allow: 'GET, HEAD' });
      return;
    }
    const head = req.method === 'HEAD';
    if (path === '/metrics') {
      const metrics = this.opts.metrics!;
      metrics.render().then(
        (body) =>
          res
            .writeHead(200, { ...base, 'content-type': metrics.registry.contentType })
            .end(head ? undefined : body),
        (err) => {
          this.opts.onError?.(err);
          text(500, 'metrics collection failed\n');
        },
      );
      return;
    }
    if (!this.hostAllowed(req.headers.host)) {
      text(403, 'refused: address this server by IP address, localhost or its host name\n');
      return;
    }
    const page = this.opts.page!;
    if (path === '/api/status') {
      this.status(page).then(
        (doc) =>
          res
            .writeHead(200, { ...base, 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end(head ? undefined : JSON.stringify(doc)),
        (err) => {
          this.opts.onError?.(err);
          text(500, 'status failed\n');
        },
      );
      return;
    }
    if (path === '/api/events') {
      if (head) {
        res.writeHead(200, { ...base, 'content-type': 'text/event-stream' }).end();
        return;
      }
      this.openStream(req, res, page.events);
      return;
    }
    const asset = this.assets.get(path)!;
    res.writeHead(200, {
      ...base,
      'content-type': asset.type,
      'cache-control': 'no-cache',
      ...(path === '/' ? { 'content-security-policy': PAGE_CSP, 'x-frame-options': 'DENY' } : {}),
    });
    res.end(head ? undefined : asset.body);
  }

  private status(page: NonNullable<HaloHttpOptions['page']>): Promise<StatusDocument> {
    const now = Date.now();
    if (this.statusCache && now - this.statusCache.at < STATUS_REUSE_MS) return this.statusCache.doc;
    const doc = Promise.resolve().then(() => page.status());
    this.statusCache = { at: now, doc };
    // A failure is not reused.
    doc.catch(() => {
      if (this.statusCache?.doc === doc) this.statusCache = undefined;
    });
    return doc;
  }

  private isPagePath(path: string): boolean {
    return path === '/api/status' || path === '/api/events' || path in ASSETS;
  }

  /** Host header check against DNS rebinding: IP literals, localhost, our own host name. */
  private hostAllowed(host: string | undefined): boolean {
    if (!host) return false;
    const name = (/^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '')).toLowerCase();
    return isIP(name) !== 0 || this.allowedHosts.has(name);
  }

  private openStream(req: IncomingMessage, res: ServerResponse, source: EventSource): void {
    const max = this.opts.maxEventClients ?? 32;
    if (this.streams.size >= max) {
      res
        .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' })
        .end('too many event streams\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const since = parseSince(req.headers['last-event-id'], url.searchParams.get('since'));
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    this.streams.add(res);
    const limit = this.opts.maxStreamBufferBytes ?? 1024 * 1024;
    const queued: string[] = [];
    let live = false;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.streams.delete(res);
      sub.unsubscribe();
      res.end();
    };
    const frame = (e: HaloEvent) => `id: ${source.stream}:${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;
    // A Last-Event-ID from an earlier daemon start does not compare: that reader gets the whole backlog.
    const sameStream = since !== undefined && (since.stream === '' || since.stream === source.stream);
    const sub = source.subscribe(sameStream ? since.seq : undefined, (e) => {
      if (ended) return;
      if (!live) queued.push(frame(e));
      else if (res.writableLength > limit) end();
      else this.write(res, frame(e));
    });
    res.on('close', end);
    const hello = { stream: sub.stream, lastSeq: sub.lastSeq, missed: sub.missed };
    const lines = [`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`, ...sub.replay.map(frame)];
    void (async () => {
      for (const l of lines) {
        if (ended) return;
        if (!res.write(l))
          await new Promise<void>((r) => res.once('drain', () => r()).once('close', () => r()));
      }
      if (ended) return;
      for (const l of queued) this.write(res, l);
      queued.length = 0;
      live = true;
    })();
  }

  private write(res: ServerResponse, chunk: string): void {
    try {
      res.write(chunk);
    } catch {
      // the reader is gone; 'close' cleans up
    }
  }
}

/** Last-Event-ID ("STREAM:SEQ") or ?since=SEQ (same stream assumed). */
function parseSince(
  header: string | string[] | undefined,
  query: string | null,
): { stream: string | undefined; seq: number } | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  const m = h ? /^([0-9a-f]{1,32}):(\d{1,15})$/.exec(h) : null;
  if (m) return { stream: m[1], seq: Number(m[2]) };
  if (query !== null && /^\d{1,15}$/.test(query)) return { stream: '', seq: Number(query) };
  return undefined;
}
