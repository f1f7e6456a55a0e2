/**
 * The notify FIFOs with real FIFOs and real reader programs: the exact lines a
 * notify_fifo_script reads, the FIFO's life cycle (created and removed, or used and kept;
 * refused when it is not a FIFO halo owns), and that no reader, a full pipe or a reader
 * that went away never blocks or throws.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import { chmod, chown, lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { NotifyFifo, NotifyFifos, PIPE_BUF } from '../../src/notify/fifo.js';
import { Notifier } from '../../src/notify/notifier.js';
import { type AlertPlan, buildAlertPlan, type FifoPlan } from '../../src/notify/plan.js';
import type { AlertLog } from '../../src/notify/smtp-alerts.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};
const isRoot = process.getuid?.() === 0;

function planOf(text: string): AlertPlan {
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost });
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.ok(r.config);
  return buildAlertPlan(r.config, { hostname: 'h', username: 'root' });
}

function recordingLog(): { log: AlertLog; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}

/** Poll until `cond` holds; a bounded wait, not a timing assertion. */
async function waitFor(cond: () => Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const readLines = async (path: string) =>
  (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l, i, a) => i < a.length - 1 || l !== '');

const fifoPlan = (path: string, over: Partial<FifoPlan> = {}): FifoPlan => ({
  path,
  sources: new Set(['vrrp', 'lvs']),
  keyword: 'notify_fifo',
  ...over,
});

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'halo-notify-fifo-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('notify FIFO with a real notify_fifo_script', () => {
  it('the script gets the FIFO as its last argument and reads exactly the expected lines', async () => {
    const fifo = join(dir, 'keepalived.fifo');
    const out = join(dir, 'reader.out');
    const reader = join(dir, 'reader.sh');
    // keepalived's sample reader, reduced: one line in, one line out; TERM is recorded.
    await writeFile(
      reader,
      `#!/bin/bash
out="$1"
printf '%s\\n' "$@" > "$out.args"
trap 'echo TERM > "$out.term"; exit 0' TERM
exec < "\${@: -1}"
while IFS= read -r line; do printf '%s\\n' "$line" >> "$out"; done
`,
    );
    await chmod(reader, 0o755);
    const plan = planOf(`global_defs {\n notify_fifo ${fifo}\n notify_fifo_script "${reader} ${out}"\n}\n`);
    const { log, lines } = recordingLog();
    const notifier = new Notifier(plan, { log });
    await notifier.start();
    const vs = { address: '10.0.0.100', port: 80, protocol: 'TCP' as const };
    notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
    notifier.notify({ type: 'vrrp-group', group: 'G1', state: 'MASTER' });
    notifier.notify({
      type: 'vrrp-instance',
      instance: 'evil" FAULT 0\nINSTANCE "VI_1',
      state: 'BACKUP',
      priority: 90,
    });
    notifier.notify({
      type: 'real-server',
      virtualServer: vs,
      realServer: { address: '10.0.0.21', port: 80 },
      up: false,
    });
    notifier.notify({
      type: 'quorum',
      virtualServer: vs,
      up: false,
      init: false,
      stopping: false,
      threshold: 1,
      weightSum: 0,
    });
    notifier.notify({ type: 'vrrp-master-rx-lower-pri', instance: 'VI_1', priority: 100 });
    const expected = [
      'INSTANCE "VI_1" MASTER 100',
      'GROUP "G1" MASTER 0',
      'INSTANCE "evil\\" FAULT 0\\nINSTANCE \\"VI_1" BACKUP 90',
      'RS [10.0.0.21]:tcp:80 [10.0.0.100]:tcp:80 DOWN',
      'VS [10.0.0.100]:tcp:80 DOWN',
      'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100',
    ];
    await waitFor(async () => (await readLines(out)).length >= expected.length, 'the reader');
    assert.deepEqual(await readLines(out), expected);
    assert.deepEqual(await readLines(`${out}.args`), [out, fifo]);
    assert.equal((await lstat(fifo)).isFIFO(), true);
    assert.equal((await stat(fifo)).mode & 0o777, 0o644);
    await notifier.stop();
    assert.equal((await readFile(`${out}.term`, 'utf8')).trim(), 'TERM', 'the script got SIGTERM');
    await assert.rejects(lstat(fifo), { code: 'ENOENT' }, 'a FIFO halo created is removed at stop');
    assert.ok(
      lines.some((l) => /notify_fifo script terminated/.test(l.message)),
      JSON.stringify(lines),
    );
    assert.deepEqual(notifier.stats().fifos[fifo], { written: 6, droppedFull: 0, droppedOther: 0 });
  });

  it('with --vrrp-only (VRRP source only) an lvs_notify_fifo is not opened and VRRP lines skip it', async () => {
    const v = join(dir, 'vrrp-only.fifo');
    const l = join(dir, 'lvs-only.fifo');
    const plan = planOf(`global_defs {\n vrrp_notify_fifo ${v}\n lvs_notify_fifo ${l}\n}\n`);
    const fifos = new NotifyFifos(plan, { log: () => undefined }, new Set(['vrrp']));
    await fifos.open();
    assert.deepEqual(
      fifos.fifos.map((f) => f.path),
      [v],
    );
    await assert.rejects(lstat(l), { code: 'ENOENT' });
    fifos.write({ source: 'lvs', line: 'VS x UP\n' });
    fifos.write({ source: 'vrrp', line: 'INSTANCE "a" MASTER 1\n' });
    assert.deepEqual(fifos.stats()[v], { written: 1, droppedFull: 0, droppedOther: 0 });
    await fifos.close();
  });
});

describe('notify FIFO across a reload', () => {
  it('closes the old FIFO (removing it) and writes to the new one', async () => {
    const a = join(dir, 'before-reload.fifo');
    const b = join(dir, 'after-reload.fifo');
    const notifier = new Notifier(planOf(`global_defs {\n vrrp_notify_fifo ${a}\n}\n`), {
      log: () => undefined,
    });
    await notifier.start();
    notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'BACKUP', priority: 100 });
    assert.deepEqual(notifier.stats().fifos[a], { written: 1, droppedFull: 0, droppedOther: 0 });
    await notifier.reload(planOf(`global_defs {\n vrrp_notify_fifo ${b}\n}\n`));
    await assert.rejects(lstat(a), { code: 'ENOENT' });
    const rd = openSync(b, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    notifier.notify({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 });
    const buf = Buffer.alloc(256);
    assert.equal(buf.subarray(0, readSync(rd, buf)).toString(), 'INSTANCE "VI_1" MASTER 100\n');
    closeSync(rd);
    await notifier.stop();
    await assert.rejects(lstat(b), { code: 'ENOENT' });
  });
});

describe('notify FIFO without (or with a vanished) reader', () => {
  it('never blocks: lines wait in the pipe up to its size, the rest are dropped and counted, logged once', async () => {
    const path = join(dir, 'nobody-reads.fifo');
    const { log, lines } = recordingLog();
    const f = new NotifyFifo(fifoPlan(path), { log });
    assert.equal(await f.open(), true);
    const line = (i: number) => `INSTANCE "VI_${String(i).padStart(5, '0')}" MASTER 100\n`;
    const size = Buffer.byteLength(line(0));
    const total = 5000; // 155 KB, well over a 64 KiB pipe
    let ok = 0;
    for (let i = 0; i < total; i++) if (f.write(line(i))) ok++;
    const s = f.stats();
    assert.equal(s.written, ok);
    assert.equal(s.written + s.droppedFull, total);
    assert.ok(s.written > 0 && s.written * size <= 1024 * 1024, `written ${s.written}`);
    assert.ok(s.droppedFull > 0);
    assert.equal(lines.filter((l) => /is full/.test(l.message)).length, 1, 'one log line, not one per drop');
    // A reader that comes later gets the buffered lines, oldest first, whole.
    const rd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const chunks: Buffer[] = [];
    for (;;) {
      const buf = Buffer.alloc(65536);
      let n = 0;
      try {
        n = readSync(rd, buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    }
    const all = Buffer.concat(chunks);
    assert.equal(all.length, s.written * size);
    const got = all.toString().split('\n').slice(0, -1);
    assert.equal(got.length, s.written);
    assert.equal(got[0], line(0).trim());
    assert.equal(got[got.length - 1], line(s.written - 1).trim());
    // Room again: the next line goes through, and the recovery is logged.
    assert.equal(f.write(line(99999)), true);
    assert.ok(lines.some((l) => /being read again/.test(l.message)));
    closeSync(rd);
    await f.close();
  });

  it('a reader that goes away changes nothing for halo (no EPIPE, no throw)', async () => {
    const path = join(dir, 'reader-dies.fifo');
    const f = new NotifyFifo(fifoPlan(path), { log: () => undefined });
    assert.equal(await f.open(), true);
    const cat = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    cat.stdout.on('data', (d) => {
      seen += d;
    });
    assert.equal(f.write('INSTANCE "A" MASTER 1\n'), true);
    await waitFor(async () => seen.includes('INSTANCE "A" MASTER 1\n'), 'cat to read');
    const exited = new Promise((r) => cat.once('exit', r));
    cat.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 10; i++) assert.equal(f.write(`INSTANCE "B" BACKUP ${i}\n`), true);
    assert.deepEqual(f.stats(), { written: 11, droppedFull: 0, droppedOther: 0 });
    await f.close();
  });

  it('drops a line longer than PIPE_BUF (it could be torn) and a line written when not open', async () => {
    const path = join(dir, 'long.fifo');
    const f = new NotifyFifo(fifoPlan(path), { log: () => undefined });
    assert.equal(f.write('early\n'), false);
    assert.equal(await f.open(), true);
    assert.equal(f.write(`${'x'.repeat(PIPE_BUF)}\n`), false);
    assert.equal(f.write(`${'x'.repeat(PIPE_BUF - 1)}\n`), true);
    assert.deepEqual(f.stats(), { written: 1, droppedFull: 0, droppedOther: 2 });
    await f.close();
  });
});

describe('notify FIFO ownership', () => {
  it('uses an existing FIFO and leaves it in place at close', async () => {
    const path = join(dir, 'existing.fifo');
    const a = new NotifyFifo(fifoPlan(path), { log: () => undefined });
    assert.equal(await a.open(), true); // creates it
    const b = new NotifyFifo(fifoPlan(path), { log: () => undefined });
    assert.equal(await b.open(), true); // uses it
    await b.close();
    assert.equal((await lstat(path)).isFIFO(), true, 'not created by b: kept');
    await a.close();
    await assert.rejects(lstat(path), { code: 'ENOENT' });
  });

  it('refuses a regular file and a symbolic link, and leaves them alone', async () => {
    const file = join(dir, 'regular');
    await writeFile(file, 'keep me\n');
    const { log, lines } = recordingLog();
    const f = new NotifyFifo(fifoPlan(file), { log });
    assert.equal(await f.open(), false);
    assert.equal(f.write('INSTANCE "A" MASTER 1\n'), false);
    assert.equal(await readFile(file, 'utf8'), 'keep me\n');
    const real = join(dir, 'real.fifo');
    const keep = new NotifyFifo(fifoPlan(real), { log: () => undefined });
    await keep.open();
    const link = join(dir, 'link.fifo');
    await symlink(real, link);
    assert.equal(await new NotifyFifo(fifoPlan(link), { log }).open(), false);
    assert.equal(lines.filter((l) => /is not a fifo we own - not using/.test(l.message)).length, 2);
    await keep.close();
  });

  it('creates the FIFO for `notify_fifo PATH user group`, and refuses a FIFO owned by someone else', async (t) => {
    if (!isRoot) return t.skip('needs root to chown');
    const path = join(dir, 'owned.fifo');
    const f = new NotifyFifo(fifoPlan(path, { user: 'nobody', group: 'nogroup' }), { log: () => undefined });
    assert.equal(await f.open(), true);
    const st = await lstat(path);
    const passwd = await readFile('/etc/passwd', 'utf8');
    const nobody = Number(/^nobody:[^:]*:(\d+):/m.exec(passwd)?.[1]);
    assert.equal(st.uid, nobody);
    await f.close();
    const other = join(dir, 'other.fifo');
    const g = new NotifyFifo(fifoPlan(other), { log: () => undefined });
    await g.open();
    await chown(other, nobody, nobody);
    const { log, lines } = recordingLog();
    assert.equal(await new NotifyFifo(fifoPlan(other), { log }).open(), false);
    assert.match(lines[0].message, /not a fifo we own/);
    await g.close();
  });
});
