/**
 * Differential test: halo's keepalived.conf parser against the real keepalived.
 *
 * For every corpus file (test/fixtures/keepalived/{good,bad}/*.conf) and every
 * conf/*.conf sample, run `keepalived -t` inside a namespace that has eth0 and
 * eth1, and halo's `loadConfig(file, { hostChecks: 'off' })`, then check:
 *  - keepalived still says what was recorded (bad/*.expected.json), and accepts good/ and conf/;
 *  - (a) what keepalived accepts, halo accepts (no error diagnostics);
 *  - (b) every line keepalived reports gets a halo diagnostic at the same file
 *    and line (except the cascade lines annotated in the sidecar);
 *  - (c) where halo is deliberately stricter (annotation haloSeverity 'error',
 *    the default), halo reports an error; otherwise at least a warning;
 *  - runtime/ files (keepalived -t accepts, the daemon rejects at run time): halo reports something.
 * Needs root and keepalived: missing keepalived fails under CI, skips locally.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type CorpusExpectation,
  type CorpusKind,
  corpusDirectives,
  createConfigTestLab,
  type KeepalivedResult,
  keepalivedAvailable,
  keepalivedConfigTest,
  listCorpus,
  portableMessages,
  readExpectation,
} from '../helpers/keepalived.js';
import { canUseNetns, type NetnsLab } from '../helpers/netns.js';

interface HaloDiagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
}
type LoadConfig = (
  path: string,
  opts?: { configId?: string; strict?: boolean; hostChecks?: 'warn' | 'error' | 'off' },
) => Promise<{ config?: unknown; diagnostics: HaloDiagnostic[] }>;

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
  return dir;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = findRepoRoot(here);
const corpusDir = join(repoRoot, 'test/fixtures/keepalived');
// Samples use @lb1/@lb2 lines; test them as lb1 (keepalived's default config id is the host name).
const SAMPLE_CONFIG_ID = 'lb1';

interface Case {
  file: string;
  kind: CorpusKind | 'sample';
  configId?: string;
  expected?: CorpusExpectation;
}

interface Outcome {
  ka: KeepalivedResult;
  halo?: HaloDiagnostic[];
  haloCrash?: string;
  problems: string[];
}

function buildCases(): Case[] {
  const cases: Case[] = listCorpus(corpusDir).map(({ file, kind }) => ({
    file,
    kind,
    configId: corpusDirectives(readFileSync(file, 'utf8')).configId,
    expected: kind === 'good' ? undefined : readExpectation(file),
  }));
  const confDir = join(repoRoot, 'conf');
  for (const name of readdirSync(confDir).sort()) {
    if (name.endsWith('.conf'))
      cases.push({ file: join(confDir, name), kind: 'sample', configId: SAMPLE_CONFIG_ID });
  }
  return cases;
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

async function loadHalo(): Promise<LoadConfig | string> {
  // HALO_CONFIG_MODULE points the harness at another build of the parser (e.g. to try a branch).
  const modPath = process.env.HALO_CONFIG_MODULE ?? join(repoRoot, 'dist/src/config/index.js');
  if (!existsSync(modPath)) return `halo's config parser (${relative(repoRoot, modPath)}) is not built`;
  const mod = (await import(modPath)) as { loadConfig?: LoadConfig };
  return mod.loadConfig ?? 'src/config/index.ts does not export loadConfig';
}

const keyOf = (file: string, line: number): string => `${file}:${line}`;

/** The checks (a), (b), (c) for one file; returns human-readable disagreements. */
function compare(c: Case, o: Outcome): string[] {
  const problems: string[] = [];
  const rel = (f: string): string => relative(repoRoot, f);
  if (!o.halo) {
    problems.push(`halo threw: ${o.haloCrash}`);
    return problems;
  }
  const errors = o.halo.filter((d) => d.severity === 'error');
  if (c.kind === 'runtime') {
    // keepalived -t is blind to these; the daemon complains at run time, so halo must say something.
    const need = c.expected?.annotations.haloSeverity ?? 'warning';
    if (o.halo.length === 0) problems.push('keepalived rejects this at run time, halo reports nothing');
    else if (need === 'error' && errors.length === 0) problems.push('halo must report an error here');
    return problems;
  }
  if (c.kind !== 'bad') {
    for (const d of errors)
      problems.push(`(a) keepalived accepts, halo error at ${rel(d.file)}:${d.line}: ${d.message}`);
    return problems;
  }
  const ann = c.expected?.annotations ?? {};
  if (ann.hostDependent) return problems;
  const haloLines = new Set(o.halo.map((d) => keyOf(resolve(d.file), d.line)));
  const cascade = new Set((ann.cascadeLines ?? []).map((l) => keyOf(c.file, l)));
  const reported = new Map<string, string>();
  for (const m of o.ka.messages) {
    if (m.file === undefined || m.line === undefined) continue;
    const k = keyOf(m.file, m.line);
    if (!reported.has(k) && !cascade.has(k)) reported.set(k, m.text);
  }
  for (const [k, text] of reported) {
    if (!haloLines.has(k))
      problems.push(`(b) keepalived: ${relative(repoRoot, k)} ${text} -- halo: nothing at this line`);
  }
  if (o.halo.length === 0) problems.push('(b) keepalived reports a problem, halo reports nothing');
  if ((ann.haloSeverity ?? 'error') === 'error' && errors.length === 0) {
    problems.push(`(c) halo must be stricter here (error), got ${o.halo.length} warning(s)`);
  }
  return problems;
}

describe('keepalived.conf differential: halo vs keepalived -t', { concurrency: false }, () => {
  const cases = buildCases();
  const outcomes = new Map<string, Outcome>();
  let lab: NetnsLab | undefined;
  let skipReason: string | undefined;
  let haloMissing: string | undefined;

  before(async () => {
    const ready = (await canUseNetns()) ? await keepalivedAvailable() : false;
    if (!ready) {
      const why = (await canUseNetns())
        ? 'keepalived is not installed (apt-get install keepalived)'
        : 'needs root and iproute2 (network namespaces)';
      if (process.env.CI) throw new Error(`config differential cannot run under CI: ${why}`);
      skipReason = why;
      console.log(`config differential skipped: ${why}`);
      return;
    }
    const made = await createConfigTestLab();
    lab = made.lab;
    const halo = await loadHalo();
    if (typeof halo === 'string') {
      haloMissing = halo;
      if (process.env.CI) throw new Error(halo);
      console.log(`${halo}: comparing keepalived with the recordings only`);
    }
    // keepalived -t takes a few ms each; a small pool keeps the 2 shared cores usable.
    await pool(cases, 4, async (c) => {
      const ka = await keepalivedConfigTest(c.file, { ns: made.ns, configId: c.configId });
      const o: Outcome = { ka, problems: [] };
      if (typeof halo !== 'string') {
        try {
          o.halo = (await halo(c.file, { hostChecks: 'off', configId: c.configId })).diagnostics;
        } catch (err) {
          o.haloCrash = err instanceof Error ? (err.stack ?? err.message) : String(err);
        }
        o.problems = compare(c, o);
      }
      outcomes.set(c.file, o);
    });
  });

  after(async () => {
    await lab?.cleanup();
    if (outcomes.size === 0) return;
    const rows = cases.map((c) => {
      const o = outcomes.get(c.file) as Outcome;
      const kaLines = [...new Set(o.ka.messages.filter((m) => m.line !== undefined).map((m) => m.line))];
      const haloCell = o.halo
        ? `${o.halo.filter((d) => d.severity === 'error').length}E/${o.halo.filter((d) => d.severity === 'warning').length}W`
        : '-';
      const verdict = haloMissing
        ? 'n/a'
        : o.problems.length === 0
          ? 'agree'
          : `DISAGREE (${o.problems.length})`;
      return [
        relative(corpusDir, c.file).replace(/^\.\.\/\.\.\/\.\.\//, ''),
        c.kind,
        String(o.ka.exitCode),
        kaLines.join(',') || '-',
        haloCell,
        verdict,
      ];
    });
    const header = ['file', 'kind', 'ka exit', 'ka lines', 'halo', 'verdict'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const fmt = (r: string[]): string => r.map((cell, i) => cell.padEnd(widths[i] as number)).join('  ');
    const agreeCount = haloMissing ? 0 : rows.filter((r) => r[5] === 'agree').length;
    console.log([fmt(header), ...rows.map(fmt)].join('\n'));
    for (const c of cases) {
      for (const p of outcomes.get(c.file)?.problems ?? [])
        console.log(`${relative(repoRoot, c.file)}: ${p}`);
    }
    console.log(
      `${cases.length} files (${cases.filter((c) => c.kind === 'good').length} good, ${cases.filter((c) => c.kind === 'bad').length} bad, ${cases.filter((c) => c.kind === 'runtime').length} run-time only, ${cases.filter((c) => c.kind === 'sample').length} samples); halo agrees on ${haloMissing ? 'n/a' : agreeCount}`,
    );
  });

  for (const c of cases) {
    const name = relative(repoRoot, c.file);
    describe(name, () => {
      test('keepalived -t agrees with the corpus', (t) => {
        if (skipReason) {
          t.skip(skipReason);
          return;
        }
        const o = outcomes.get(c.file);
        assert.ok(o, `no result for ${name}`);
        if (c.kind === 'bad' || c.kind === 'runtime') {
          assert.ok(
            c.expected,
            `${name}: no sidecar; run test/fixtures/keepalived/record.sh ${relative(corpusDir, c.file)}`,
          );
          assert.equal(
            o.ka.exitCode,
            c.expected.exitCode,
            `${name}: keepalived exit code changed\n${o.ka.raw}`,
          );
          assert.deepEqual(
            portableMessages(c.file, o.ka.messages),
            c.expected.messages,
            `${name}: keepalived messages changed (re-record with record.sh if keepalived was upgraded)`,
          );
          if (c.kind === 'bad') {
            assert.ok(o.ka.exitCode !== 0 || o.ka.messages.length > 0, `${name}: keepalived now accepts it`);
          }
        }
        if (c.kind !== 'bad') {
          assert.equal(o.ka.exitCode, 0, `${name}: keepalived -t rejects it:\n${o.ka.raw}`);
          assert.deepEqual(o.ka.messages, [], `${name}: keepalived -t complains:\n${o.ka.raw}`);
        }
      });

      test('halo agrees with keepalived', (t) => {
        if (skipReason || haloMissing) {
          t.skip(skipReason ?? haloMissing);
          return;
        }
        const o = outcomes.get(c.file);
        assert.ok(o, `no result for ${name}`);
        const detail = (o.halo ?? []).map(
          (d) => `  halo ${d.severity} ${relative(repoRoot, d.file)}:${d.line}: ${d.message}`,
        );
        assert.deepEqual(
          o.problems,
          [],
          `${name}: halo disagrees with keepalived\nkeepalived said:\n${o.ka.raw}halo said:\n${detail.join('\n')}`,
        );
      });
    });
  }
});
