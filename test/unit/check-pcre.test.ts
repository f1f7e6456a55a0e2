/**
 * keepalived's regex is PCRE2; halo runs a JS translation of it. Every case
 * here is run through the real PCRE2 (pcre2test from Debian's pcre2-utils,
 * the 10.42 library keepalived 2.2.7 links on Debian 12) and through the
 * translation, and the two must agree on whether and where the first match
 * starts and what it spans. Constructs JS cannot express must be refused
 * with a message naming them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { PcreTranslationError, translatePcre } from '../../src/check/pcre.js';
import type { Pcre2Option } from '../../src/config/model.js';

const havePcre2test = spawnSync('pcre2test', ['-version']).status === 0;
const mustHave = process.env.CI === 'true';

interface Case {
  pattern: string;
  options?: Pcre2Option[];
  /** Subjects as JS strings: one char per byte (without utf) or per code point (utf). */
  subjects: string[];
}

const CASES: Case[] = [
  { pattern: 'ok', subjects: ['status: ok\n', 'status: OK\n'] },
  { pattern: 'OK', options: ['caseless'], subjects: ['all ok', 'nope'] },
  { pattern: '(?i)ok', subjects: ['all Ok', 'nope'] },
  { pattern: 'a.c', subjects: ['a\nc abc', 'a\rc'] },
  { pattern: 'a.c', options: ['dotall'], subjects: ['a\nc abc', 'xa\rc'] },
  { pattern: 'up$', subjects: ['up', 'up\n', 'up\n\n', 'up\r\n', 'up there'] },
  { pattern: 'up$', options: ['dollar_endonly'], subjects: ['up', 'up\n'] },
  { pattern: '^up$', options: ['multiline'], subjects: ['x\nup\ny', 'x\rup\r', 'up'] },
  { pattern: '^', options: ['multiline'], subjects: ['a\n', 'a\nb'] },
  { pattern: '^$', options: ['multiline'], subjects: ['a\n', 'a\n\n'] },
  { pattern: '^$', options: ['multiline', 'alt_circumflex'], subjects: ['a\n'] },
  { pattern: '^ok', subjects: ['ok', 'x\nok'] },
  { pattern: '\\Aok\\z', subjects: ['ok', 'ok\n'] },
  { pattern: 'ok\\Z', subjects: ['ok', 'ok\n', 'ok\n\n'] },
  { pattern: 'a\\s+b', subjects: ['a \t\x0b\f\r\nb', 'a\xa0b'] },
  { pattern: '[\\s]+', subjects: ['x\xa0 \ty'] },
  { pattern: '\\S+', subjects: ['  ab\xa0c  '] },
  { pattern: '[a\\S]+', subjects: ['  ab c'] },
  { pattern: '[^a\\S]+', subjects: ['ab  \t a'] },
  { pattern: '[^\\D5]+', subjects: ['ab1234567'] },
  { pattern: '\\d{2,3}', subjects: ['a1b22c3333'] },
  { pattern: '\\w+\\b', subjects: ['  hello, world'] },
  { pattern: '\\h+', subjects: ['a \t\xa0b'] },
  { pattern: '\\v+', subjects: ['a\n\x0b\f\r\x85b'] },
  { pattern: 'a\\Rb', subjects: ['a\r\nb', 'a\nb', 'a\rb', 'ab'] },
  { pattern: '[[:alpha:]]+[[:digit:]]', subjects: ['--abc1', 'x'] },
  { pattern: '[[:^digit:]x]+', subjects: ['12ab3'] },
  { pattern: '[]a]+', subjects: ['x]a]y'] },
  { pattern: '[^]a]+', subjects: [']a]xy'] },
  { pattern: '[]', options: ['allow_empty_class'], subjects: ['abc'] },
  { pattern: 'a[^]b', options: ['allow_empty_class'], subjects: ['a\nb'] },
  { pattern: '\\Q.*+\\E+', subjects: ['a.*++', 'x'] },
  { pattern: '\\x41\\x{42}\\o{103}\\103', subjects: ['ABCC'] },
  { pattern: '\\e\\a\\cA', subjects: ['\x1b\x07\x01'] },
  { pattern: '(a)\\1', subjects: ['xaa'] },
  { pattern: '(?P<w>o)(?P=w)\\k<w>\\g{1}', subjects: ['foooo'] },
  { pattern: "(?'w'o)\\k{w}", subjects: ['foo'] },
  { pattern: 'a(?#comment)b', subjects: ['ab'] },
  { pattern: 'a b # comment\n c', options: ['extended'], subjects: ['abc', 'a b c'] },
  { pattern: '[ ]x', options: ['extended'], subjects: [' x'] },
  { pattern: 'a.+b', options: ['ungreedy'], subjects: ['a1b2b'] },
  { pattern: 'a.+?b', options: ['ungreedy'], subjects: ['a1b2b'] },
  { pattern: '(a)(?<n>b)\\k<n>\\1', options: ['no_auto_capture'], subjects: ['abb', 'abbb'] },
  { pattern: 'b.*', options: ['firstline'], subjects: ['ab\nb', 'a\nb'] },
  { pattern: 'é', subjects: ['caf\xc3\xa9', 'caf\xe9'] },
  { pattern: 'é', options: ['utf'], subjects: ['café', 'cafe'] },
  { pattern: 'caf[é]', subjects: ['caf\xc3', 'caf\xa9'] },
  { pattern: '\\w+', options: ['ucp'], subjects: ['  \xe9t\xe9 '] },
  { pattern: '\\w+', subjects: ['  \xe9t\xe9 '] },
  { pattern: '\\bé', options: ['utf', 'ucp'], subjects: ['a é', 'aé'] },
  { pattern: '\\p{Lu}+', options: ['utf'], subjects: ['abÉCd'] },
  { pattern: '\\u0041\\U', options: ['alt_bsux'], subjects: ['AU'] },
  { pattern: 'x{,2}', subjects: ['x{,2}'] },
  { pattern: 'a{2}|b{1,}c', subjects: ['abbbc', 'aa'] },
  { pattern: 'ab*?c|\\.', subjects: ['xabbc', '.'] },
  { pattern: '(?<=a)b(?!c)', subjects: ['abc ab'] },
  { pattern: 'HTTP/1\\.[01] 200', subjects: ['HTTP/1.1 200 OK'] },
  { pattern: '"status":\\s*"(up|ok)"', subjects: ['{"status": "up"}', '{"status":"down"}'] },
];

/** pcre2test's subject syntax: printable ASCII as is, everything else (blanks too: it trims them) as \x{..}. */
function pcreSubject(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    out += cp > 0x20 && cp < 0x7f && ch !== '\\' ? ch : `\\x{${cp.toString(16)}}`;
  }
  return out;
}

/** Undo pcre2test's output escapes (\xhh, \x{hhh}) to count characters. */
function unescapeOutput(s: string): string {
  return s.replace(/\\x\{([0-9a-f]+)\}|\\x([0-9a-f]{2})/g, (_m, a, b) =>
    String.fromCodePoint(Number.parseInt(a ?? b, 16)),
  );
}

type Outcome = { start: number; text: string } | null;

function runPcre2(cases: Case[]): Outcome[][] {
  let input = '';
  for (const c of cases) {
    const mods = ['aftertext', ...(c.options ?? [])].join(',');
    // '"' delimits the pattern (an escaped \" inside is still a literal '"' to PCRE2).
    input += `"${c.pattern.replace(/"/g, '\\"')}"${mods}\n`;
    for (const s of c.subjects) input += `${pcreSubject(s)}\n`;
    input += '\n';
  }
  const out = execFileSync('pcre2test', ['-q'], { input: Buffer.from(input, 'utf8') }).toString('latin1');
  // Results follow each echoed subject line: "No match", or " 0: TEXT" then " 0+ AFTER".
  const lines = out.split('\n');
  const results: Outcome[][] = [];
  let li = 0;
  for (const c of cases) {
    const per: Outcome[] = [];
    while (!lines[li]?.startsWith('"')) li++;
    // The echoed pattern may span lines (extended mode with newlines).
    li += c.pattern.split('\n').length;
    for (const s of c.subjects) {
      li++; // the echoed subject
      const first = lines[li++] ?? '';
      if (first.startsWith('No match')) {
        per.push(null);
        continue;
      }
      const m = /^ 0: (.*)$/.exec(first);
      assert.ok(m, `pcre2test output for /${c.pattern}/ on ${JSON.stringify(s)}: ${first}`);
      const after = /^ 0\+ (.*)$/.exec(lines[li++] ?? '');
      assert.ok(after, `no aftertext for /${c.pattern}/`);
      // Captured groups follow (" 1: ...", " 1+ ..."): not compared.
      while (/^ +[1-9]\d*[:+] /.test(lines[li] ?? '')) li++;
      const text = unescapeOutput(m[1]);
      const rest = unescapeOutput(after[1]);
      per.push({ start: [...s].length - [...text].length - [...rest].length, text });
    }
    results.push(per);
  }
  return results;
}

function runJs(c: Case, subject: string): Outcome {
  const t = translatePcre(c.pattern, c.options ?? []);
  const re = new RegExp(t.source, `${t.flags}g`);
  const m = re.exec(subject);
  if (!m) return null;
  if (t.firstLine) {
    const nl = subject.indexOf('\n');
    if (nl >= 0 && m.index > nl) return null;
  }
  return { start: [...subject.slice(0, m.index)].length, text: m[0] };
}

describe('PCRE2 -> JS RegExp translation', () => {
  it('agrees with PCRE2 (pcre2test) on where the first match is', {
    skip: !havePcre2test && !mustHave && 'pcre2test not installed (Debian: pcre2-utils)',
  }, () => {
    const expected = runPcre2(CASES);
    CASES.forEach((c, i) => {
      c.subjects.forEach((s, k) => {
        assert.deepEqual(
          runJs(c, s),
          expected[i][k],
          `/${c.pattern}/ ${(c.options ?? []).join(',')} on ${JSON.stringify(s)} (JS source ${translatePcre(c.pattern, c.options ?? []).source})`,
        );
      });
    });
  });

  it('refuses what JS RegExp cannot do, naming it', () => {
    const refused: Array<[string, RegExp]> = [
      ['a++', /possessive quantifier/],
      ['(?>ab)', /atomic group/],
      ['(a|(?R))', /recursion/],
      ['(?(1)a|b)', /conditional group/],
      ['a(*SKIP)b', /backtracking verb/],
      ['ab\\Kc', /\\K/],
      ['a(?i)b', /option setting inside the pattern/],
      ['(?|a)', /branch reset/],
      ['\\p{L}', /needs the utf or ucp option/],
      ['a\\y', /unrecognized escape \\y/],
      ['(ab', /missing closing parenthesis/],
      ['ab)', /unmatched \)/],
      ['[ab', /missing terminating \]/],
      ['*a', /does not follow a repeatable item/],
      ['[z-a]', /range out of order/],
      ['\\g{-1}', /relative backreference/],
      ['(a)\\2', /non-existent group 2/],
    ];
    for (const [pattern, why] of refused) {
      assert.throws(
        () => translatePcre(pattern),
        (err: Error) => {
          assert.ok(err instanceof PcreTranslationError, pattern);
          assert.match(err.message, why, pattern);
          return true;
        },
      );
    }
  });

  it('maps options to flags and reports where JS still differs', () => {
    assert.equal(translatePcre('x', ['caseless']).flags, 'i');
    assert.equal(translatePcre('x', ['utf']).flags, 'u');
    assert.equal(translatePcre('x', ['ucp']).flags, 'u');
    assert.equal(translatePcre('x', ['multiline', 'dotall', 'extended']).flags, '');
    assert.equal(translatePcre('x', ['firstline']).firstLine, true);
    assert.deepEqual(translatePcre('x', ['no_start_optimize', 'auto_callout', 'dupnames']).warnings, []);
    assert.match(translatePcre('(a)?\\1').warnings.join(), /backreference to a group that did not take part/);
    assert.deepEqual(translatePcre('(a)?\\1', ['match_unset_backref']).warnings, []);
    assert.match(translatePcre('caf\xe9', ['caseless']).warnings.join(), /Latin-1/);
  });
});
