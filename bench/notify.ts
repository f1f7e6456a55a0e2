/**
 * Notify channels benchmark (prints numbers; not a test): what `Notifier.notify()` costs
 * its caller (the VRRP or checker event loop) in the worst cases halo must survive.
 *
 *  1. a notify FIFO nobody reads (the pipe fills, then lines are dropped) and an SMTP
 *     server that refuses connections (every mail fails);
 *  2. the same FIFO with a reader (`cat > /dev/null`), mail off.
 *
 * For each: the time notify() takes per call (p50/p99/max), lines written / dropped, and
 * mails failed / dropped; everything runs on loopback and in a temporary directory that is
 * removed at the end or on Ctrl-C.
 *
 * Usage: node dist/bench/notify.js [--events 20000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { HaloConfig } from '../src/config/model.js';
import { NormalisedHaloConfigSchema } from '../src/config/model.js';
import { Notifier } from '../src/notify/notifier.js';
import { buildAlertPlan } from '../src/notify/plan.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '20000' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log('Usage: node dist/bench/notify.js [--events N]   (cost of Notifier.notify() per call)');
  process.exit(0);
}
const EVENTS = Number(values.events);
const dir = mkdtempSync(join(tmpdir(), 'halo-bench-notify-'));
const children: ReturnType<typeof spawn>[] = [];
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function config(fifo: string, smtpPort?: number): HaloConfig {
  return NormalisedHaloConfigSchema.parse({
    global: {
      notificationEmail: smtpPort ? ['ops@example.net'] : [],
      smtpServer: smtpPort ? { host: '127.0.0.1', port: smtpPort } : undefined,
      smtpConnectTimeoutMs: 1000,
      noEmailFaults: false,
      noCheckerEmails: false,
      vrrpNotifyFifo: { path: fifo },
    },
    vrrpScripts: [],
    trackFiles: [],
    vrrpInstances: [],
    syncGroups: [],
    virtualServerGroups: [],
    virtualServers: [],
  });
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function run(name: string, cfg: HaloConfig, withReader: boolean): Promise<void> {
  const plan = buildAlertPlan(cfg, { hostname: 'bench', username: 'root' });
  // Every instance alerts, so each event both writes a line and (with mail on) queues a mail.
  const instances = new Map([...Array(16).keys()].map((i) => [`VI_${i}`, { smtpAlert: true }] as const));
  const notifier = new Notifier({ ...plan, instances }, { log: () => undefined });
  await notifier.start();
  if (withReader) {
    const cat = spawn('sh', ['-c', `exec cat "$1" > /dev/null`, 'sh', cfg.global.vrrpNotifyFifo?.path ?? '']);
    children.push(cat);
  }
  const times: number[] = [];
  const states = ['MASTER', 'BACKUP'] as const;
  for (let i = 0; i < EVENTS; i++) {
    const t0 = performance.now();
    notifier.notify({
      type: 'vrrp-instance',
      instance: `VI_${i % 16}`,
      state: states[(i >> 4) & 1],
      priority: 100,
    });
    times.push((performance.now() - t0) * 1000);
    if (i % 500 === 0) await new Promise((r) => setImmediate(r)); // let the event loop breathe, as a daemon's does
  }
  const before = notifier.stats();
  await notifier.stop(3000);
  times.sort((a, b) => a - b);
  const fifo = Object.values(before.fifos)[0];
  console.log(
    `${name}: notify() p50 ${pct(times, 50).toFixed(1)} us, p99 ${pct(times, 99).toFixed(1)} us, max ${times[times.length - 1].toFixed(0)} us; ` +
      `FIFO written ${fifo?.written} dropped ${fifo?.droppedFull}; mail ${JSON.stringify(notifier.stats().mail)}`,
  );
}

const refused = createServer();
await new Promise<void>((r) => refused.listen(0, '127.0.0.1', r));
const port = (refused.address() as { port: number }).port;
await new Promise<void>((r) => refused.close(() => r()));

try {
  console.log(`${EVENTS} events per case`);
  await run('no FIFO reader + SMTP refused', config(join(dir, 'a.fifo'), port), false);
  await run('FIFO read by cat, mail off   ', config(join(dir, 'b.fifo')), true);
} finally {
  cleanup();
}
