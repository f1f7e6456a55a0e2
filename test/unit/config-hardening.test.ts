/**
 * Bad input must give a located error in bounded time and memory, never an exception, a hang or an
 * abort (issue 12): one regression test per case found by probing. Timing is not asserted (unit tests
 * have no timed assertions); each case is bounded by the limits it hits, and the test runner's timeout
 * catches a regression to "hangs".
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfig, loadConfigIsolated, parseConfigText } from '../../src/config/index.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { parseYamlText } from '../../src/config/yaml.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = `${ROOT}dist/src/cli/main.js`;
const dir = mkdtempSync(join(tmpdir(), 'halo-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function errorsOf(text: string, name = 'h.conf') {
  const r = parseKeepalivedText(text, join(dir, name), { hostChecks: 'off' });
  return { ok: r.config !== undefined, lines: r.diagnostics.map(formatDiagnostic) };
}

const at = (line: number, col = 1) => `${join(dir, 'h.conf')}:${line}:${col}`;

describe('keepalived.conf: expansion bounds', () => {
  it('~SEQ with bounds beyond 2^53 is refused (it used to loop forever)', () => {
    const r = errorsOf('~SEQ(i, 9007199254740992, 9007199254740993) x $i\n');
    assert.deepEqual(r.lines, [`${at(1)}: error: invalid ~SEQ: numbers must be within +/-9007199254740991`]);
  });

  it('~SEQ with more values than the limit', () => {
    const r = errorsOf('~SEQ(i, 1, 100001) x $i\n');
    assert.deepEqual(r.lines, [`${at(1)}: error: invalid ~SEQ: 100001 values, more than 100000`]);
  });

  it('nested ~SEQ multiplying to millions of lines stops at the line limit', () => {
    const r = errorsOf('~SEQ(i, 1, 1000) ~SEQ(j, 1, 1000) x $i $j\n');
    assert.deepEqual(r.lines, [
      `${at(1, 35)}: error: the config expands to more than 200000 lines; stopped reading the config here`,
    ]);
  });

  it('self-doubling definitions stop at the line length limit', () => {
    let text = '$A0=x\n';
    for (let i = 1; i <= 40; i++) text += `$A${i}=$A${i - 1} $A${i - 1}\n`;
    text += 'global_defs {\n  router_id $A40\n}\n';
    const r = errorsOf(text);
    assert.deepEqual(r.lines, [
      `${at(43, 13)}: error: more than 10000 $NAME replacements on one line; stopped reading the config here (does a definition refer to itself?)`,
    ]);
  });

  it('a definition that refers to itself stops at the replacement limit', () => {
    const r = errorsOf('$A=$A\nglobal_defs {\n  router_id $A\n}\n');
    assert.deepEqual(r.lines, [
      `${at(3, 13)}: error: more than 10000 $NAME replacements on one line; stopped reading the config here (does a definition refer to itself?)`,
    ]);
  });

  it('a 100,000-line continued definition is read in linear time, then bounded by its size', () => {
    const lines = ['$BIG=10.0.0.1 \\'];
    for (let i = 0; i < 100_000; i++) lines.push(`x${i}-a-longer-value \\`);
    lines.push('end');
    const r = errorsOf(`${lines.join('\n')}\n`);
    assert.deepEqual(r.lines, [
      `${at(1)}: error: definition $BIG is longer than 1 MiB; stopped reading the config here`,
    ]);
    // Within the size limit, a long multi-line definition works.
    const ok = ['$VIPS=10.0.0.1 \\'];
    for (let i = 2; i < 5000; i++) ok.push(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1} \\`);
    ok.push('10.1.0.1');
    const text = `${ok.join('\n')}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n$VIPS\n }\n}\n`;
    const parsed = parseKeepalivedText(text, 'v.conf', { hostChecks: 'off' });
    assert.equal(parsed.config?.vrrpInstances[0].virtualIpaddresses.length, 5000);
  });

  it('a 20 MB line is refused by the file size limit, a 1 MB line by the line length limit', () => {
    assert.deepEqual(errorsOf(`global_defs {\n  router_id ${'x'.repeat(20_000_000)}\n}\n`).lines, [
      `${at(1)}: error: config file is larger than 16 MiB; stopped reading the config here`,
    ]);
    assert.deepEqual(errorsOf(`global_defs {\n${'y'.repeat(1_000_000)}\n}\n`).lines, [
      `${at(2)}: error: line 2 is 1000000 characters long, more than 65536; stopped reading the config here (keepalived reads at most 1023 characters per line)`,
    ]);
  });

  it('a long unknown keyword gets no "did you mean" search and a clipped message', () => {
    const word = 'z'.repeat(60_000);
    const r = errorsOf(`global_defs {\n  ${word}\n}\n`);
    assert.deepEqual(r.lines, [
      `${at(2, 3)}: error: unknown keyword '${'z'.repeat(64)}...(60000 characters)' in global_defs`,
    ]);
  });
});

describe('keepalived.conf: files that are not config files', () => {
  it('include /dev/zero and a FIFO are refused without reading them', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = errorsOf(`include /dev/zero\ninclude ${fifo}\n`);
    assert.deepEqual(r.lines, [
      `${at(1)}: error: include file '/dev/zero' is a character device, not a regular file`,
      `${at(2)}: error: include file '${fifo}' is a FIFO (named pipe), not a regular file`,
    ]);
  });

  it('loadConfig of /dev/zero, a FIFO or a directory is a located error', async () => {
    const fifo = join(dir, 'fifo2');
    execFileSync('mkfifo', [fifo]);
    for (const [p, why] of [
      ['/dev/zero', 'is a character device, not a regular file'],
      [fifo, 'is a FIFO (named pipe), not a regular file'],
      [dir, 'is a directory'],
    ]) {
      const r = await loadConfig(p, { hostChecks: 'off' });
      assert.equal(r.config, undefined);
      assert.equal(r.diagnostics.length, 1);
      assert.deepEqual(
        [r.diagnostics[0].file, r.diagnostics[0].line, r.diagnostics[0].message],
        [p, 1, `cannot read config: ${why}`],
      );
    }
  });

  it('include [z-a]* is a located error, not a SyntaxError', () => {
    assert.deepEqual(errorsOf('include [z-a]*\n').lines, [
      `${at(1)}: error: bad include pattern '[z-a]*': '[z-a]*' is not a valid pattern (a range such as [z-a] runs backwards?)`,
    ]);
  });

  it('more includes than the limit', () => {
    const inc = file('one.inc', '! nothing\n');
    const text = `${`include ${inc}\n`.repeat(1001)}`;
    const r = parseKeepalivedText(text, join(dir, 'h.conf'), { hostChecks: 'off' });
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      `${at(1000)}: error: more than 1000 files included; stopped reading the config here`,
    ]);
  });
});

describe('YAML: located errors, bounded time', () => {
  const yaml = (text: string) =>
    parseYamlText(text, 'y.yaml', { hostChecks: 'off' }).diagnostics.map(formatDiagnostic);

  it('an alias without an anchor', () => {
    assert.deepEqual(yaml('global: *nope\n'), [
      'y.yaml:1:9: error: YAML: alias *nope has no anchor &nope before it',
    ]);
  });
  it('an alias bomb', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 12; i++)
      text += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    assert.deepEqual(yaml(text), [
      'y.yaml:2:10: error: YAML: Excessive alias count indicates a resource exhaustion attack (an alias may repeat an anchor a few times, not multiply it)',
    ]);
  });
  it('an anchor used inside itself', () => {
    assert.deepEqual(yaml('global: &g\n  x: *g\n'), [
      'y.yaml:2:6: error: YAML: alias *g is inside the node its anchor names (a cycle)',
    ]);
  });
  it('a __proto__ key is an unknown setting, and pollutes nothing', () => {
    assert.deepEqual(yaml('__proto__:\n  polluted: 1\n'), ["y.yaml:1:1: error: unknown setting '__proto__'"]);
    assert.deepEqual(yaml('global:\n  __proto__:\n    routerId: x\n'), [
      "y.yaml:2:3: error: unknown setting '__proto__' in global",
    ]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
  it('100,000 unknown keys: the first 200 are reported, the rest counted', () => {
    let text = 'global:\n';
    for (let i = 0; i < 100_000; i++) text += `  k${i}: 1\n`;
    const d = yaml(text);
    assert.equal(d.length, 201);
    assert.equal(d[0], 'y.yaml:1:1: error: 99800 more problems not shown (fix the ones above first)');
    assert.equal(d[1], "y.yaml:2:3: error: unknown setting 'k0' in global");
  });
  it('a repeated key', () => {
    assert.deepEqual(yaml('global:\n  routerId: a\n  routerId: b\n'), [
      "y.yaml:3:3: error: YAML: map keys must be unique: 'routerId' is repeated",
    ]);
  });
  it('deep nesting', () => {
    assert.deepEqual(yaml(`global: ${'['.repeat(100)}${']'.repeat(100)}\n`), [
      'y.yaml:1:1: error: YAML: nested more than 64 levels deep',
    ]);
  });
});

describe('parseConfigText never throws', () => {
  it('returns a located error for whatever it is given', () => {
    const r = parseConfigText('\u0000\u0001{{{{}}}}$$${', 'x.conf', { hostChecks: 'off' });
    assert.ok(r.diagnostics.every((d) => d.line >= 1 && d.col >= 1));
  });
});

describe('loadConfigIsolated', () => {
  const conf = file(
    'ok.conf',
    'vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n',
  );
  it('returns what loadConfig returns', async () => {
    const a = await loadConfig(conf, { hostChecks: 'off' });
    const b = await loadConfigIsolated(conf, { hostChecks: 'off' });
    assert.deepEqual(b, a);
  });
  it('a timeout is a located error, and the worker is stopped', async () => {
    const r = await loadConfigIsolated(conf, { hostChecks: 'off' }, { timeoutMs: 1 });
    assert.equal(r.config, undefined);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      `${conf}:1:1: error: reading the config took longer than 0.001 s; stopped (is it very large, or does it expand (~SEQ, definitions, includes) into a very large one?)`,
    ]);
  });
  it('running out of the heap limit is a located error, not the end of the process', async () => {
    let big = '';
    for (let i = 0; i < 150_000; i++) big += `global_defs {\n router_id x${i}\n}\n`;
    const p = file('big.conf', big);
    const r = await loadConfigIsolated(p, { hostChecks: 'off' }, { maxHeapMb: 16 });
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      `${p}:1:1: error: reading the config needed more than 16 MiB of memory; stopped (is it very large, or does it expand (~SEQ, definitions, includes) into a very large one?)`,
    ]);
  });
});

describe('CLI usage errors: exit 2, a message, no stack trace', () => {
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 20_000 });
    return { code: r.status, err: r.stderr };
  };
  for (const args of [
    ['run', '--bogus'],
    ['run', '-f'],
    ['run', '--config='],
    ['run', '--run-dir'],
  ]) {
    it(`halo ${args.join(' ')}`, () => {
      const r = run(...args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /^halo run: /);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    });
  }
  it('halo config check --file= does not fall back to the default config', () => {
    const r = run('config', 'check', '--file=');
    assert.equal(r.code, 2);
    assert.match(r.err, /^halo config check: --file needs a file name, got an empty one/);
  });
  it('an unwritable -o path', () => {
    const r = run('config', 'schema', '-o', '/nonexistent-dir/x.json');
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      "halo config schema: cannot write '/nonexistent-dir/x.json': its directory does not exist\n",
    );
  });
});
