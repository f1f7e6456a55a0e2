/**
 * The HTTP server behind `--http`: the page and its files (no CDN, a strict CSP), /api/status, /metrics,
 * server-sent events from the bus (backlog, Last-Event-ID, live), read-only, the Host check against DNS
 * rebinding, and its bounds (event streams, a reader that stops reading).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventBus, type HaloEventBody } from '../../src/daemon/events.js';
import { HaloHttpServer } from '../../src/daemon/http.js';
import { HaloMetrics } from '../../src/daemon/metrics.js';
import { StatusDocumentSchema } from '../../src/daemon/status.js';
import { sampleStatus } from './daemon-sample.js';

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function get(
  port: number,
  path: string,
  opts: { method?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { ...(opts.host ? { host: opts.host } : {}), ...opts.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An SSE reader: collects frames until `until` holds, then closes. */
function sse(
  port: number,
  headers: Record<string, string>,
  until: (frames: { event?: string; id?: string; data: string }[]) => boolean,
): Promise<{ status: number; frames: { event?: string; id?: string; data: string }[] }> {
  return new Promise((resolve, reject) => {
    const frames: { event?: string; id?: string; data: string }[] = [];
    const req = request({ host: '127.0.0.1', port, path: '/api/events', headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0, frames });
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const f: { event?: string; id?: string; data: string } = { data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) f.event = line.slice(7);
            else if (line.startsWith('id: ')) f.id = line.slice(4);
            else if (line.startsWith('data: ')) f.data += line.slice(6);
          }
          if (f.data || f.event) frames.push(f);
        }
        if (until(frames)) {
          req.destroy();
          resolve({ status: 200, frames });
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}

function down(address: string): HaloEventBody {
  return {
    type: 'rs.state',
    virtualServer: '[10.0.0.100]:tcp:80',
    realServer: `[${address}]:tcp:80`,
    address,
    port: 80,
    state: 'down',
    previous: 'up',
    reason: 'connection refused',
    weight: 1,
    message: `[${address}]:tcp:80 is DOWN`,
  };
}

describe('HTTP server: page, API, metrics', () => {
  const bus = new EventBus({ backlog: 50 });
  const metrics = new HaloMetrics({ defaultMetrics: false });
  const server = new HaloHttpServer({
    address: { host: '127.0.0.1', port: 0 },
    metrics,
    page: { status: () => sampleStatus(), events: bus },
    maxEventClients: 2,
    maxStreamBufferBytes: 32 * 1024,
  });
  let port: number;
  before(async () => {
    await server.listen();
    port = server.boundAddress!.port;
  });
  after(() => server.close());

  it('serves the page and its own files, with a CSP that allows nothing from elsewhere', async () => {
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    // Every script and stylesheet the page names is one of ours, by a path on this server.
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(refs.sort(), ['/api/status', '/app.css', '/app.js', 'data:,']);
    for (const path of ['/app.js', '/app.css']) {
      const r = await get(port, path);
      assert.equal(r.status, 200, path);
      assert.doesNotMatch(r.body, /https?:\/\//, `${path} loads nothing from the network`);
    }
  });

  it('/api/status is the status document; /metrics is Prometheus text', async () => {
    const r = await get(port, '/api/status');
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual(StatusDocumentSchema.parse(JSON.parse(r.body)), sampleStatus());
    metrics.recordTransition('VI_1', 'MASTER');
    const m = await get(port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^halo_vrrp_state\{instance="VI_1"\} 2$/m);
  });

  it('is read-only and serves nothing else', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      assert.equal((await get(port, '/api/status', { method })).status, 405, method);
    }
    assert.equal((await get(port, '/app.js/../../package.json')).status, 404);
    assert.equal((await get(port, '/index.html')).status, 404);
    assert.equal((await get(port, '/api/reload')).status, 404);
  });

  it('answers the page and the API only for IP addresses, localhost and its host name (DNS rebinding)', async () => {
    assert.equal((await get(port, '/api/status', { host: 'attacker.example:9650' })).status, 403);
    assert.equal((await get(port, '/', { host: 'attacker.example' })).status, 403);
    assert.equal((await get(port, '/api/status', { host: `localhost:${port}` })).status, 200);
    assert.equal((await get(port, '/api/status', { host: `[::1]:${port}` })).status, 200);
    // Scrapers name their targets as they like.
    assert.equal((await get(port, '/metrics', { host: 'director1.example:9650' })).status, 200);
  });

  it('SSE: hello with the stream, the backlog, live events; resume by Last-Event-ID; another stream starts over', async () => {
    bus.publish(down('10.0.0.2'));
    bus.publish(down('10.0.0.3'));
    let published = false;
    const { frames } = await sse(port, {}, (f) => {
      // Once the backlog is in, something happens: it must arrive on the same stream.
      if (!published && f.filter((x) => !x.event).length === bus.backlog().length) {
        published = true;
        bus.publish(down('10.0.0.4'));
      }
      return f.some((x) => !x.event && JSON.parse(x.data).message.includes('10.0.0.4'));
    });
    assert.equal(frames[0].event, 'hello');
    const hello = JSON.parse(frames[0].data);
    assert.equal(hello.stream, bus.stream);
    const events = frames.filter((f) => !f.event).map((f) => JSON.parse(f.data));
    assert.deepEqual(
      events.map((e) => e.seq),
      bus.backlog().map((e) => e.seq),
      'every kept event, then the live one, in order',
    );
    assert.equal(frames.at(-1)?.id, `${bus.stream}:${bus.lastSeq}`);

    const lastSeen = bus.lastSeq;
    bus.publish(down('10.0.0.5'));
    const resumed = await sse(port, { 'last-event-id': `${bus.stream}:${lastSeen}` }, (f) =>
      f.some((x) => !x.event),
    );
    assert.deepEqual(
      resumed.frames.filter((f) => !f.event).map((f) => JSON.parse(f.data).seq),
      [lastSeen + 1],
      'only what came after the last event seen',
    );
    const otherStream = await sse(
      port,
      { 'last-event-id': `abcdef:${lastSeen}` },
      (f) => f.filter((x) => !x.event).length >= bus.backlog().length,
    );
    assert.equal(otherStream.frames.filter((f) => !f.event).length, bus.backlog().length);
  });

  it('bounds event streams; a reader that stops reading is ended, the server goes on', async () => {
    const a = sse(port, {}, () => false);
    const b = sse(port, {}, () => false);
    await waitUntil(() => server.eventClients === 2, 5000);
    const third = await sse(port, {}, () => true);
    assert.equal(third.status, 503);
    void a;
    void b;
    // The two streams never read (their requests stay in flight); flood until both are ended.
    const big = 'x'.repeat(4000);
    for (let i = 0; i < 50 && server.eventClients > 0; i++) {
      for (let j = 0; j < 50; j++) bus.publish({ ...down('10.0.0.9'), message: big });
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitUntil(() => server.eventClients === 0, 5000);
    assert.equal((await get(port, '/api/status')).status, 200);
  });
});

describe('HTTP server: metrics only (--metrics)', () => {
  it('serves /metrics and says so for anything else; a missing page file is a clear start error', async () => {
    const s = new HaloHttpServer({
      address: { host: '127.0.0.1', port: 0 },
      metrics: new HaloMetrics({ defaultMetrics: false }),
    });
    await s.listen();
    try {
      const r = await get(s.boundAddress!.port, '/api/status');
      assert.equal(r.status, 404);
      assert.match(r.body, /try \/metrics/);
    } finally {
      await s.close();
    }
    const dir = await mkdtemp(join(tmpdir(), 'halo-web-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html>');
      const broken = new HaloHttpServer({
        address: { host: '127.0.0.1', port: 0 },
        page: { status: () => sampleStatus(), events: new EventBus(), webDir: dir },
      });
      await assert.rejects(broken.listen(), /status page file .*app\.js is missing/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function waitUntil(pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
