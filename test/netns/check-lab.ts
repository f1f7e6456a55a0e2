/**
 * Shared netns setup for the health-check tests (not a test file itself):
 * a checker namespace "chk" (10.80.0.1, fd00:80::1) where the engine runs
 * through dist/src/check/run-plan.js, and a server namespace "srv"
 * (10.80.0.2, 10.80.0.3, fd00:80::2) running small node servers: HTTP/HTTPS,
 * SMTP, UDP echo, DNS. nftables in "srv" drops TCP port 81, UDP port 5353 and
 * everything to 10.80.0.3, so attempts against those time out.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckPlan } from '../../src/check/types.js';
import { type NetnsLab, sh, waitFor } from '../helpers/netns.js';

export const CHK4 = '10.80.0.1';
export const SRV4 = '10.80.0.2';
export const DROP4 = '10.80.0.3';
export const CHK6 = 'fd00:80::1';
export const SRV6 = 'fd00:80::2';
export const BODY = 'hello from halo\n';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/check/run-plan.js, seen from dist/test/netns/. */
export const RUN_PLAN = join(here, '..', '..', 'src', 'check', 'run-plan.js');

/** The servers, as a CommonJS script (argv[2] = JSON { cert, key }). */
const SERVERS_JS = String.raw`
const net = require('net'), http = require('http'), https = require('https'), dgram = require('dgram'), fs = require('fs');
const cfg = JSON.parse(process.argv[2]);
const counters = {};
const bump = (k) => (counters[k] = (counters[k] || 0) + 1);
const body = ${JSON.stringify(BODY)};
function handler(req, res) {
  const n = bump(req.url);
  const send = (st) => { res.writeHead(st, { 'Content-Length': Buffer.byteLength(body) }); res.end(body); };
  if (req.url === '/ok') send(200);
  else if (req.url === '/flip') send(n === 1 ? 200 : 503);
  else if (req.url === '/slow') setTimeout(() => send(200), 1500);
  else if (req.url === '/missing') send(404);
  else if (req.url === '/sni') send(req.socket.servername === 'www.halo.test' ? 200 : 421);
  else if (req.url === '/host') send(req.headers.host === 'www.halo.test' ? 200 : 400);
  else if (req.url === '/chunked') { res.writeHead(200); res.write('part one\n'); setTimeout(() => res.end('part two\n'), 20); }
  else if (req.url === '/status') { const b = 'service: web\nstatus: ready\n'; res.writeHead(200, { 'Content-Length': b.length }); res.end(b); }
  else if (req.url === '/status-flip') { const b = n === 1 ? 'status: ready\n' : 'status: maintenance\n'; res.writeHead(200, { 'Content-Length': b.length }); res.end(b); }
  else if (req.url === '/split') { res.writeHead(200, { 'Content-Length': 20 }); res.write('0123456789'); setTimeout(() => res.end('READY.....'), 30); }
  else if (req.url === '/big') { const b = Buffer.alloc(100000, 'x'); res.writeHead(200, { 'Content-Length': b.length }); res.end(b); }
  else if (req.url === '/nolength') { res.useChunkedEncodingByDefault = false; res.shouldKeepAlive = false; res.writeHead(200, { Connection: 'close' }); res.end('streamed until close\n'); }
  else send(500);
}
http.createServer(handler).listen(80, '::');
https.createServer({ cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key) }, handler).listen(443, '::');
function smtp(port, goodConnections) {
  net.createServer((s) => {
    s.on('error', () => {});
    if (bump('smtp' + port) > goodConnections) { s.end('554 no service\r\n'); return; }
    s.write('220 halo.test ESMTP\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i); buf = buf.slice(i + 1);
        if (/^HELO /i.test(l)) s.write('250 halo.test\r\n');
        else if (/^QUIT/i.test(l)) s.end('221 bye\r\n');
        else s.write('500 what\r\n');
      }
    });
  }).listen(port, '::');
}
smtp(25, Infinity); smtp(2525, 0); smtp(2526, 1);
net.createServer((s) => { s.on('error', () => {}); s.destroy(); }).listen(8080, '::');
const echo = dgram.createSocket({ type: 'udp6', ipv6Only: false });
echo.on('message', (m, r) => echo.send(m, r.port, r.address));
echo.bind(7, '::');
const flip = dgram.createSocket({ type: 'udp6', ipv6Only: false });
flip.on('message', (m, r) => { if (bump('udpflip') === 1) flip.send(m, r.port, r.address); });
flip.bind(8, '::');
function qname(msg) {
  const labels = []; let off = 12;
  while (off < msg.length && msg[off] !== 0) { labels.push(msg.subarray(off + 1, off + 1 + msg[off]).toString()); off += 1 + msg[off]; }
  return { name: labels.join('.'), end: off + 5 };
}
const dns = dgram.createSocket({ type: 'udp6', ipv6Only: false });
dns.on('message', (q, r) => {
  if (q.length < 17) return;
  const { name, end } = qname(q);
  let rcode = 0, id = q.readUInt16BE(0), question = q.subarray(12, end);
  if (name === 'nx.halo.test') rcode = 3;
  else if (name === 'flip.halo.test') rcode = bump('dnsflip') === 1 ? 0 : 2;
  else if (name === 'wrongid.halo.test') id = (id + 1) & 0xffff;
  else if (name === 'wrongq.halo.test') question = Buffer.from([5, 0x6f, 0x74, 0x68, 0x65, 0x72, 0, 0, 6, 0, 1]);
  else if (name !== 'halo.test') rcode = 3;
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0); h.writeUInt16BE(0x8180 | rcode, 2); h.writeUInt16BE(1, 4);
  dns.send(Buffer.concat([h, question]), r.port, r.address);
});
dns.bind(53, '::');
setTimeout(() => process.stdout.write('ready\n'), 100);
`;

const NFT_RULES = `
table inet halo_check_test {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 81 drop
    udp dport 5353 drop
    ip daddr ${DROP4} drop
  }
}
`;

export interface CheckLab {
  chkNs: string;
  srvNs: string;
  dir: string;
  servers: ChildProcess;
}

export async function setupCheckLab(lab: NetnsLab): Promise<CheckLab> {
  const dir = mkdtempSync(join(tmpdir(), 'halo-check-'));
  const chk = await lab.addHost('chk', [`${CHK4}/24`, `${CHK6}/64`]);
  const srv = await lab.addHost('srv', [`${SRV4}/24`, `${DROP4}/24`, `${SRV6}/64`]);
  await sh('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=halo.test',
  ]);
  writeFileSync(join(dir, 'servers.cjs'), SERVERS_JS);
  writeFileSync(join(dir, 'rules.nft'), NFT_RULES);
  await lab.exec(srv.ns, 'nft', ['-f', join(dir, 'rules.nft')]);
  const servers = lab.spawn(srv.ns, process.execPath, [
    join(dir, 'servers.cjs'),
    JSON.stringify({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }),
  ]);
  let out = '';
  servers.stdout?.on('data', (d) => {
    out += d;
  });
  servers.stderr?.on('data', (d) => process.stderr.write(`servers: ${d}`));
  await waitFor(() => out.includes('ready'), 10_000);
  return { chkNs: chk.ns, srvNs: srv.ns, dir, servers };
}

export interface RunEvent {
  ev: 'server' | 'checker' | 'weight' | 'attempt' | 'done';
  t: number;
  id?: string;
  checkerId?: string;
  rs?: string;
  up?: boolean;
  ok?: boolean;
  retry?: number;
  url?: number;
  reason?: string;
  weight?: number;
  [k: string]: unknown;
}

export interface PlanRun {
  events: RunEvent[];
  done: Promise<RunEvent[]>;
}

/** JSON replacer writing Buffers as { hex } (run-plan's reviver reads them back). */
function bufferReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(raw)) return { hex: raw.toString('hex') };
  return value;
}

/** Run a plan in the checker namespace; events stream into `events` as they happen. */
export function runPlan(
  lab: NetnsLab,
  cl: CheckLab,
  plan: CheckPlan,
  runMs: number,
  env: Record<string, string> = {},
): PlanRun {
  const job = join(cl.dir, `job-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    job,
    JSON.stringify(
      { plan, runMs, options: { bootstrapDelayMs: 0, noWarmupRandom: true }, attempts: true },
      bufferReplacer,
    ),
  );
  const child = lab.spawn(cl.chkNs, process.execPath, [RUN_PLAN, job], { env: { ...process.env, ...env } });
  const events: RunEvent[] = [];
  let buf = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    buf += d;
    let i: number;
    for (;;) {
      i = buf.indexOf('\n');
      if (i < 0) break;
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) events.push(JSON.parse(line) as RunEvent);
    }
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const done = new Promise<RunEvent[]>((resolve, reject) => {
    child.once('close', (code) => {
      if (code === 0) resolve(events);
      else reject(new Error(`run-plan exited ${code}: ${err}`));
    });
  });
  return { events, done };
}

/** Attempts of one checker, in order. */
export function attempts(
  events: RunEvent[],
  id: string,
): Array<{ retry: number; ok: boolean; reason: string }> {
  return events
    .filter((e) => e.ev === 'attempt' && e.id === id)
    .map((e) => ({ retry: e.retry as number, ok: e.ok as boolean, reason: e.reason as string }));
}

/** Server up/down events of one real server (key), in order, without the final stop. */
export function serverStates(events: RunEvent[], rs: string): Array<{ up: boolean; reason: string }> {
  return events
    .filter((e) => e.ev === 'server' && e.rs === rs && e.reason !== 'shutting down')
    .map((e) => ({ up: e.up as boolean, reason: e.reason as string }));
}
