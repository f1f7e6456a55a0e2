/**
 * The parser of `keepalived -t` stderr used by the config differential test,
 * on output captured from keepalived 2.2.7.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { corpusDirectives, parseKeepalivedOutput } from '../helpers/keepalived.js';

const dir = mkdtempSync(join(tmpdir(), 'halo-ka-out-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('first-pass "(Line N)" lines belong to the main file and duplicates collapse', () => {
  const main = join(dir, 'e.conf');
  // keepalived reads the file in the parent, then again for each child: the
  // first read does not name the file.
  const stderr = [
    "(Line 11) Extra '}' found",
    "(Line 11) Unknown keyword '}'",
    `(${main}: Line 11) Extra '}' found`,
    `(${main}: Line 11) Unknown keyword '}'`,
    `(${main}: Line 11) Extra '}' found`,
    '(VI_1) No VIP specified; at least one is sensible',
    '',
  ].join('\n');
  assert.deepEqual(parseKeepalivedOutput(main, stderr), [
    { file: main, line: 11, text: "Extra '}' found" },
    { file: main, line: 11, text: "Unknown keyword '}'" },
    { text: '(VI_1) No VIP specified; at least one is sensible' },
  ]);
});

test('included files are named relative to the including file, also when nested', () => {
  mkdirSync(join(dir, 'inc/nested'), { recursive: true });
  const main = join(dir, 'main.conf');
  writeFileSync(join(dir, 'inc/a.conf'), '');
  writeFileSync(join(dir, 'inc/nested/web.conf'), '');
  const stderr = [
    "(inc/a.conf: Line 5) Unknown keyword 'priorty'",
    "(nested/web.conf: Line 2) Unknown keyword 'wieght'",
  ].join('\n');
  const msgs = parseKeepalivedOutput(main, stderr);
  assert.equal(msgs[0]?.file, join(dir, 'inc/a.conf'));
  assert.equal(msgs[1]?.file, join(dir, 'inc/nested/web.conf'));
  assert.equal(msgs[1]?.line, 2);
});

test('messages that only look like a prefix are kept whole', () => {
  const msgs = parseKeepalivedOutput(
    join(dir, 'x.conf'),
    "(VI_1) Unknown interface!\nThere are 1 missing '}'s or extra '{'s\n",
  );
  assert.deepEqual(msgs, [
    { text: '(VI_1) Unknown interface!' },
    { text: "There are 1 missing '}'s or extra '{'s" },
  ]);
});

test('corpus directives', () => {
  assert.deepEqual(corpusDirectives('# halo-test: config-id=lb1\nvrrp_instance'), { configId: 'lb1' });
  assert.deepEqual(corpusDirectives('! halo-test: config-id=lb2'), { configId: 'lb2' });
  assert.deepEqual(corpusDirectives('vrrp_instance VI_1 {}'), {});
});
