/**
 * Mail alerts end to end against a real SMTP server (the smtp-server package on loopback):
 * keepalived.conf text -> alert plan -> Notifier / SmtpAlerts -> SMTP -> the message as the
 * server received it. Also: an unreachable or silent server is counted and logged, never
 * thrown, and the queue stays bounded.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';
import type { AlertEvent } from '../../src/notify/events.js';
import { Notifier } from '../../src/notify/notifier.js';
import { type AlertPlan, buildAlertPlan } from '../../src/notify/plan.js';
import { type AlertLog, SmtpAlerts } from '../../src/notify/smtp-alerts.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

interface Received {
  helo: string;
  from: string;
  to: string[];
  headers: Map<string, string>;
  body: string;
}

function parseMessage(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return { headers, body: raw.slice(split + 4) };
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives. */
class SmtpSink {
  readonly received: Received[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { headers, body } = parseMessage(Buffer.concat(chunks).toString('utf8'));
        this.received.push({
          helo: session.hostNameAppearsAs,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          headers,
          body,
        });
        for (const w of this.waiters.filter((w) => this.received.length >= w.n)) w.resolve();
        callback();
      });
    },
  });
  port = 0;

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as { port: number }).port;
  }

  /** Resolves once n messages have arrived (bounded by the test runner's timeout). */
  waitFor(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function planFor(port: number, extraGlobals = ''): AlertPlan {
  const text = `global_defs {
  router_id LVS_A
  notification_email {
    ops@example.net
    oncall@example.net
  }
  notification_email_from lvs@example.net
  smtp_server 127.0.0.1 ${port}
  smtp_helo_name director1.example.net
  smtp_connect_timeout 5
${extraGlobals}
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    10.0.0.1/24
  }
  smtp_alert
}
virtual_server 10.0.0.100 80 {
  protocol TCP
  lb_algo rr
  real_server 10.0.0.21 80 {
    TCP_CHECK {
    }
  }
}
`;
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost });
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.ok(r.config);
  return buildAlertPlan(r.config, { hostname: 'unused', username: 'unused' });
}

/** planFor's config with router_id LVS_B and no smtp_alert on VI_1. */
function planB(port: number): AlertPlan {
  const p = planFor(port);
  return { ...p, routerId: 'LVS_B', instances: new Map([['VI_1', { smtpAlert: false }]]) };
}

function recordingLog(): { log: AlertLog; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Accepts connections and never says anything (a hung relay). */
async function silentServer(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server, sockets };
}

describe('SMTP alerts against a real SMTP server', () => {
  const sink = new SmtpSink();
  before(() => sink.listen());
  after(() => sink.close());

  it('a VRRP transition and a real server going down arrive with the expected envelope, headers and body', async () => {
    const { log, lines } = recordingLog();
    const notifier = new Notifier(planFor(sink.port), { log });
    await notifier.start();
    const master: AlertEvent = { type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 };
    notifier.notify(master);
    notifier.notify(master); // the same state again: keepalived mails it once
    notifier.notify({
      type: 'checker',
      virtualServer: { address: '10.0.0.100', port: 80, protocol: 'TCP' },
      realServer: { address: '10.0.0.21', port: 80 },
      checker: 'TCP_CHECK',
      wasUp: true,
      up: false,
      firstRun: false,
      realServerWasUp: true,
      realServerUp: false,
    });
    await sink.waitFor(2);
    await notifier.stop(2000);
    const bySubject = new Map(sink.received.map((m) => [m.headers.get('subject'), m]));
    const vrrp = bySubject.get('[LVS_A] VRRP Instance VI_1 - Entering MASTER state');
    assert.ok(vrrp, `got ${[...bySubject.keys()].join(' | ')}`);
    assert.equal(vrrp.helo, 'director1.example.net');
    assert.equal(vrrp.from, 'lvs@example.net');
    assert.deepEqual(vrrp.to, ['ops@example.net', 'oncall@example.net']);
    assert.equal(vrrp.headers.get('from'), 'lvs@example.net');
    assert.equal(vrrp.headers.get('to'), 'ops@example.net, oncall@example.net');
    assert.equal(vrrp.headers.get('x-mailer'), 'halo');
    assert.ok(vrrp.headers.get('date'));
    assert.equal(vrrp.body.trim(), '=> VRRP Instance is now owning VRRP VIPs <=');
    const rs = bySubject.get(
      '[LVS_A] Realserver [10.0.0.21]:tcp:80 of virtual server [10.0.0.100]:tcp:80 - DOWN',
    );
    assert.ok(rs, `got ${[...bySubject.keys()].join(' | ')}`);
    assert.equal(rs.body.trim(), '=> TCP CHECK failed on service <=');
    assert.equal(sink.received.length, 2);
    assert.deepEqual(notifier.stats().mail, { sent: 2, failed: 0, dropped: 0, queued: 0, sending: 0 });
    assert.equal(lines.filter((l) => l.level === 'warn' || l.level === 'error').length, 0);
  });

  it('after a reload mail follows the new plan, and the counts are totals since start', async () => {
    sink.received.length = 0;
    const notifier = new Notifier(planFor(sink.port), { log: () => undefined });
    await notifier.start();
    notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'BACKUP', priority: 100 });
    await notifier.reload(planB(sink.port));
    notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
    notifier.notify({
      type: 'real-server-removed',
      virtualServer: { address: '10.0.0.100', port: 80, protocol: 'TCP' },
      realServer: { address: '10.0.0.21', port: 80 },
      stopping: false,
    });
    await sink.waitFor(2);
    await notifier.stop(2000);
    // New plan: router_id LVS_B, and VI_1 without smtp_alert (so MASTER is not mailed).
    assert.deepEqual(sink.received.map((m) => m.headers.get('subject')).sort(), [
      '[LVS_A] VRRP Instance VI_1 - Entering BACKUP state',
      '[LVS_B] Realserver [10.0.0.21]:tcp:80 of virtual server [10.0.0.100]:tcp:80 - DOWN',
    ]);
    assert.equal(notifier.stats().mail.sent, 2);
  });

  it('a newline in a name cannot add a header', async () => {
    sink.received.length = 0;
    const plan = planFor(sink.port);
    const alerts = new SmtpAlerts(plan, { log: () => undefined });
    alerts.send({ subject: '[LVS_A] VRRP Instance x\r\nBcc: victim@example.net - Stopping', body: 'b' });
    await sink.waitFor(1);
    await alerts.close(2000);
    const m = sink.received[0];
    assert.equal(m.headers.get('bcc'), undefined);
    assert.deepEqual(m.to, ['ops@example.net', 'oncall@example.net']);
    assert.equal(m.headers.get('subject'), '[LVS_A] VRRP Instance x\\r\\nBcc: victim@example.net - Stopping');
  });
});

describe('SMTP alerts when the server is not there', () => {
  it('an unreachable server is counted and logged; alert() returns and nothing throws', async () => {
    const { log, lines } = recordingLog();
    const alerts = new SmtpAlerts(planFor(await closedPort()), { log });
    alerts.alert({ type: 'vrrp-instance', instance: 'VI_1', state: 'BACKUP', priority: 100 });
    alerts.alert({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
    await alerts.idle(10_000);
    assert.deepEqual(alerts.stats(), { sent: 0, failed: 2, dropped: 0, queued: 0, sending: 0 });
    const warns = lines.filter((l) => l.level === 'warn').map((l) => l.message);
    assert.equal(warns.length, 2);
    assert.match(warns[0], /^SMTP alert to \[127\.0\.0\.1\]:\d+ failed: .*ECONNREFUSED/);
    await alerts.close();
  });

  it('a server that never answers times out, and the queue stays bounded (oldest dropped first)', async () => {
    const silent = await silentServer();
    const { log, lines } = recordingLog();
    const plan = planFor(silent.port);
    const fast: AlertPlan = { ...plan, mail: plan.mail && { ...plan.mail, timeoutMs: 300 } };
    const alerts = new SmtpAlerts(fast, { log, maxQueue: 2, concurrency: 1 });
    for (let i = 0; i < 5; i++) alerts.send({ subject: `alert ${i}`, body: 'b' });
    // 1 being sent, 2 waiting, 2 dropped: alert 1 and alert 2, the oldest waiting ones; logged once.
    assert.deepEqual(alerts.stats(), { sent: 0, failed: 0, dropped: 2, queued: 2, sending: 1 });
    assert.deepEqual(
      lines.filter((l) => l.message.includes('queue full')).map((l) => l.message.replace(/.*alert '/, '')),
      ["alert 1'"],
    );
    await alerts.idle(10_000);
    assert.deepEqual(alerts.stats(), { sent: 0, failed: 3, dropped: 2, queued: 0, sending: 0 });
    assert.ok(lines.some((l) => l.message === 'SMTP alert queue drained; 2 alerts dropped in all'));
    assert.ok(
      lines.some((l) => /failed: .*(ETIMEDOUT|timeout|no answer)/i.test(l.message)),
      JSON.stringify(lines),
    );
    await alerts.close();
    for (const s of silent.sockets) s.destroy();
    await new Promise<void>((resolve) => silent.server.close(() => resolve()));
  });

  it('without notification_email nothing is queued at all', () => {
    const plan = planFor(25);
    const alerts = new SmtpAlerts({ ...plan, mail: undefined }, { log: () => undefined });
    alerts.alert({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
    alerts.send({ subject: 's', body: 'b' });
    assert.deepEqual(alerts.stats(), { sent: 0, failed: 0, dropped: 0, queued: 0, sending: 0 });
  });
});
