/**
 * script-runner: keepalived-style command splitting, exit codes, timeouts that
 * kill the whole process group, bounded output, uid/gid, script security.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { checkScriptSecurity, runScript, splitCommandLine } from '../../src/check/script-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'halo-runner-'));
// Other users (the uid/gid tests) must be able to reach the scripts.
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}

describe('splitCommandLine (lib/parser.c alloc_strvec_quoted_escaped)', () => {
  it('splits on blanks and honours both quote kinds', () => {
    assert.deepEqual(splitCommandLine('/bin/check  a "b c" \'d e\'  f'), [
      '/bin/check',
      'a',
      'b c',
      'd e',
      'f',
    ]);
    assert.deepEqual(splitCommandLine('x"y z"w'), ['xy zw']);
    assert.deepEqual(splitCommandLine("'it''s'"), ['its']);
    assert.deepEqual(splitCommandLine('   '), []);
  });

  it('processes escapes inside and outside quotes', () => {
    assert.deepEqual(splitCommandLine('a\\ b "c\\"d" \'e\\\'f\''), ['a b', 'c"d', "e'f"]);
    assert.deepEqual(splitCommandLine('\\x41\\102\\t\\cA'), ['AB\t\x01']);
  });

  it('rejects an unterminated quote or a trailing backslash', () => {
    assert.throws(() => splitCommandLine('a "b'), /missing terminating "/);
    assert.throws(() => splitCommandLine('a \\'), /missing escaped character/);
  });

  it('property: words without specials round-trip through single quotes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-zA-Z0-9 ._/-]+$/), { minLength: 1, maxLength: 6 }),
        (words) => {
          assert.deepEqual(splitCommandLine(words.map((w) => `'${w}'`).join(' ')), words);
        },
      ),
    );
  });
});

describe('runScript', () => {
  it('reports exit codes and captures output', async () => {
    const r = await runScript(`${script('out.sh', 'echo hello; echo oops >&2; exit 5')} ignored-arg`, {
      timeoutMs: 5000,
    });
    assert.equal(r.exitCode, 5);
    assert.equal(r.timedOut, false);
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.stderr, 'oops\n');
  });

  it('passes argv (with extra args) and environment', async () => {
    const p = script('args.sh', 'printf "%s|" "$@"; printf "%s" "$HALO_X"');
    const r = await runScript([p, 'a b'], { timeoutMs: 5000, args: ['MASTER'], env: { HALO_X: 'x1' } });
    assert.equal(r.stdout, 'a b|MASTER|x1');
  });

  it('on timeout kills the whole process group, grandchildren included', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const p = script('hang.sh', `sleep 60 &\necho $! > ${pidFile}\nwait`);
    const r = await runScript(p, { timeoutMs: 300, killGraceMs: 500 });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGTERM');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++)
      await new Promise((res) => setTimeout(res, 20));
    const state = existsSync(`/proc/${pid}/stat`)
      ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]
      : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `grandchild still running (${state})`);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const p = script('stubborn.sh', "trap '' TERM\nwhile :; do sleep 0.05; done");
    const r = await runScript(p, { timeoutMs: 200, killGraceMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
  });

  it('bounds captured output', async () => {
    const p = script('chatty.sh', 'head -c 200000 /dev/zero | tr "\\0" a');
    const r = await runScript(p, { timeoutMs: 5000, maxOutputBytes: 1000 });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, 1000);
  });

  it('reports programs that cannot be started instead of throwing', async () => {
    const r = await runScript('/nonexistent/program', { timeoutMs: 1000 });
    assert.ok(r.error);
    assert.equal(r.exitCode, null);
    const bad = await runScript('"unterminated', { timeoutMs: 1000 });
    assert.match(bad.error ?? '', /missing terminating/);
  });

  it('runs as another user', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    const p = script('id.sh', 'id -u; id -g');
    const r = await runScript(p, { timeoutMs: 5000, user: 'nobody' });
    assert.equal(r.error, undefined);
    const [uid, gid] = r.stdout.trim().split('\n').map(Number);
    assert.equal(uid, 65534);
    assert.equal(gid, 65534);
    const r2 = await runScript(p, { timeoutMs: 5000, user: '65534', group: 'root' });
    assert.deepEqual(r2.stdout.trim().split('\n').map(Number), [65534, 0]);
    const unknown = await runScript(p, { timeoutMs: 5000, user: 'no-such-user-halo' });
    assert.match(unknown.error ?? '', /unknown user/);
  });
});

describe('checkScriptSecurity (lib/notify.c check_script_secure)', {
  skip: process.getuid?.() !== 0 && 'needs root',
}, () => {
  it('accepts a root-owned script in root-owned directories', async () => {
    const secureDir = join(dir, 'secure');
    mkdirSync(secureDir, { mode: 0o755 });
    const p = join(secureDir, 'ok.sh');
    writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r = await checkScriptSecurity(`${p} arg`, { enforce: true, uid: 0, gid: 0 });
    assert.equal(r.ok, true, r.problems.join('; '));
    assert.equal(r.insecure, false);
  });

  it('refuses a world-writable script, or one in a world-writable directory, when enforced', async () => {
    const p = script('ww.sh', 'exit 0', 0o777);
    const r = await checkScriptSecurity(p, { enforce: true, uid: 0, gid: 0 });
    assert.equal(r.ok, false);
    assert.equal(r.insecure, true);
    assert.match(r.problems.join(' '), /Unsafe permissions found for script/);
    const loose = join(dir, 'loose');
    mkdirSync(loose);
    chmodSync(loose, 0o777);
    const q = join(loose, 'ok.sh');
    writeFileSync(q, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r2 = await checkScriptSecurity(q, { enforce: true, uid: 0, gid: 0 });
    assert.equal(r2.ok, false);
    assert.match(r2.problems.join(' '), /loose is writable by non-root users/);
    // Not enforced: reported but allowed (keepalived logs it without disabling).
    const r3 = await checkScriptSecurity(q, { enforce: false, uid: 0, gid: 0 });
    assert.equal(r3.ok, true);
    assert.equal(r3.insecure, true);
  });

  it('a script that runs as a non-root user is not subject to the path checks', async () => {
    const p = script('user.sh', 'exit 0', 0o777);
    const r = await checkScriptSecurity(p, { enforce: true, uid: 65534, gid: 65534 });
    assert.equal(r.ok, true);
    assert.equal(r.insecure, false);
  });

  it('resolves bare names through PATH and refuses missing or non-executable scripts', async () => {
    const r = await checkScriptSecurity('sh -c true', { enforce: false, uid: 0, gid: 0 });
    assert.equal(r.ok, true);
    assert.match(r.problems[0] ?? '', /resolved by path search/);
    const missing = await checkScriptSecurity('no-such-program-halo', { enforce: true, uid: 0, gid: 0 });
    assert.equal(missing.ok, false);
    const noexec = script('noexec.sh', 'exit 0', 0o644);
    const r2 = await checkScriptSecurity(noexec, { enforce: false, uid: 0, gid: 0 });
    assert.equal(r2.ok, false);
    assert.match(r2.problems.join(' '), /not executable/);
  });
});
