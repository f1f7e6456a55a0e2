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
 *    the default), halo reports an error, at least under --strict (a value keepalived logs and ignores,
 *    such as a number out of range, is a warning otherwise: keepalived runs the file); else a warning;
 *  - runtime/ files (keepalived -t accepts, the daemon rejects at run time): halo reports something.
 *
 * Public corpus (issue 11): real keepalived.conf files from public repositories and keepalived's own
 * doc/samples, each with its origin in a `# origin:` header. They are third-party files, so they are not
 * committed: the test reads them from $HALO_KEEPALIVED_CORPUS, else ../shared/keepalived-corpus beside the
 * repository (public/*.conf, samples/*.conf), and says so when there is none. keepalived -t runs on them
 * in a namespace of their own where the interfaces they name are created first. Asserted per file:
 *  (1) halo does not throw;
 *  (2) a file keepalived accepts (exit 0) is accepted by halo (no errors; warnings allowed);
 *  (3) every line keepalived flags (other than about the host: interfaces, scripts) gets a halo
 *      diagnostic on that line or on the opening line of a block that contains it.
 * Known, reasoned exceptions are in test/fixtures/keepalived/public-exceptions.json (our own notes).
 * Needs root and keepalived: missing keepalived fails under CI, skips locally.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  addNamedInterfaces,
  type CorpusExpectation,
  type CorpusKind,
  corpusDirectives,
  createConfigTestLab,
  enclosingBlockLines,
  isHostDependentMessage,
  type KeepalivedResult,
  keepalivedAvailable,
  keepalivedConfigTest,
  listCorpus,
  missingInterfaceNames,
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
  kind: CorpusKind | 'sample' | 'public';
  configId?: string;
  expected?: CorpusExpectation;
}

/** Samples of halo's own extensions keepalived does not know (the bgp block): not compared with it. */
const HALO_ONLY_SAMPLES = new Set(['bgp-director.conf']);

/** keepalived's doc/samples as Debian's keepalived package installs them (CI installs the package). */
const DEBIAN_SAMPLES = '/usr/share/doc/keepalived/samples';

/** Where the third-party corpus is (not in git): $HALO_KEEPALIVED_CORPUS or ../shared/keepalived-corpus. */
function publicCorpusDir(): string | undefined {
  const candidates = [process.env.HALO_KEEPALIVED_CORPUS, join(repoRoot, '../shared/keepalived-corpus')];
  return candidates.find((d): d is string => d !== undefined && d !== '' && existsSync(d));
}

function listPublicCorpus(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ['samples', 'public']) {
    const d = join(dir, sub);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d).sort()) if (name.endsWith('.conf')) out.push(join(d, name));
  }
  return out;
}

/** Reasoned exceptions for public files: file name -> lines halo need not flag, with why. */
interface PublicException {
  lines?: number[];
  why: string;
}
const publicExceptions: Record<string, PublicException> = (() => {
  const p = join(corpusDir, 'public-exceptions.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, PublicException>) : {};
})();

interface Outcome {
  ka: KeepalivedResult;
  halo?: HaloDiagnostic[];
  /** The same file under --strict (bad/ files only). */
  haloStrict?: HaloDiagnostic[];
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
    if (name.endsWith('.conf') && !HALO_ONLY_SAMPLES.has(name))
      cases.push({ file: join(confDir, name), kind: 'sample', configId: SAMPLE_CONFIG_ID });
  }
  // keepalived's own samples, as the Debian package installs them (the same files as its doc/samples).
  if (existsSync(DEBIAN_SAMPLES)) {
    for (const name of readdirSync(DEBIAN_SAMPLES).sort()) {
      if (name.startsWith('keepalived.conf.'))
        cases.push({ file: join(DEBIAN_SAMPLES, name), kind: 'public', configId: undefined });
    }
  }
  const pub = publicCorpusDir();
  if (pub) {
    for (const file of listPublicCorpus(pub))
      cases.push({ file, kind: 'public', configId: corpusDirectives(readFileSync(file, 'utf8')).configId });
  }
  return cases;
}

/** (1), (2), (3) for a public corpus file. */
function comparePublic(c: Case, o: Outcome): string[] {
  const problems: string[] = [];
  if (!o.halo) return [`(1) halo threw: ${o.haloCrash}`];
  const errors = o.halo.filter((d) => d.severity === 'error');
  if (o.ka.exitCode === 0) {
    for (const d of errors)
      problems.push(
        `(2) keepalived accepts (exit 0), halo error at ${basename(d.file)}:${d.line}: ${d.message}`,
      );
  }
  const exception = publicExceptions[basename(c.file)];
  const excused = new Set(exception?.lines ?? []);
  const text = readFileSync(c.file, 'utf8');
  const haloLines = new Set(o.halo.filter((d) => resolve(d.file) === c.file).map((d) => d.line));
  const seen = new Set<number>();
  for (const m of o.ka.messages) {
    if (m.line === undefined || m.file !== c.file || seen.has(m.line)) continue;
    if (isHostDependentMessage(m.text) || excused.has(m.line)) continue;
    seen.add(m.line);
    const near = [m.line, ...enclosingBlockLines(text, m.line)];
    if (!near.some((l) => haloLines.has(l)))
      problems.push(`(3) keepalived: line ${m.line} ${m.text} -- halo: nothing at this line or its block`);
  }
  return problems;
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
  const strictErrors = (o.haloStrict ?? o.halo).filter((d) => d.severity === 'error');
  if ((ann.haloSeverity ?? 'error') === 'error' && strictErrors.length === 0) {
    problems.push(
      `(c) halo must be stricter here (error, at least with --strict), got ${o.halo.length} warning(s)`,
    );
  }
  return problems;
}

describe('keepalived.conf differential: halo vs keepalived -t', { concurrency: false }, () => {
  const cases = buildCases();
  const outcomes = new Map<string, Outcome>();
  let lab: NetnsLab | undefined;
  let publicLab: NetnsLab | undefined;
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
    // Public files name their own directors' interfaces: in a namespace of their own, create every
    // interface keepalived says is missing, then ask again (the corpus recordings keep eth0/eth1 only).
    const publicCases = cases.filter((c) => c.kind === 'public');
    let publicNs = made.ns;
    if (publicCases.length > 0) {
      const pub = await createConfigTestLab();
      publicLab = pub.lab;
      publicNs = pub.ns;
      const missing = new Set<string>();
      await pool(publicCases, 4, async (c) => {
        const first = await keepalivedConfigTest(c.file, { ns: pub.ns, configId: c.configId });
        for (const n of missingInterfaceNames(first.messages)) missing.add(n);
      });
      const made2 = await addNamedInterfaces(pub.lab, pub.ns, [...missing]);
      console.log(`public corpus: ${publicCases.length} files; created interfaces ${made2.join(' ') || '-'}`);
    } else {
      console.log(
        'public corpus: none (set HALO_KEEPALIVED_CORPUS or put it in ../shared/keepalived-corpus; see the header)',
      );
    }
    // keepalived -t takes a few ms each; a small pool keeps the 2 shared cores usable.
    await pool(cases, 4, async (c) => {
      const ns = c.kind === 'public' ? publicNs : made.ns;
      const ka = await keepalivedConfigTest(c.file, { ns, configId: c.configId });
      const o: Outcome = { ka, problems: [] };
      if (typeof halo !== 'string') {
        try {
          // Public files: as `halo config check` runs (host checks are warnings), so (2) is its exit code.
          const hostChecks = c.kind === 'public' ? 'warn' : 'off';
          o.halo = (await halo(c.file, { hostChecks, configId: c.configId })).diagnostics;
          if (c.kind === 'bad')
            o.haloStrict = (
              await halo(c.file, { hostChecks, configId: c.configId, strict: true })
            ).diagnostics;
        } catch (err) {
          o.haloCrash = err instanceof Error ? (err.stack ?? err.message) : String(err);
        }
        o.problems = c.kind === 'public' ? comparePublic(c, o) : compare(c, o);
      }
      outcomes.set(c.file, o);
    });
  });

  after(async () => {
    await lab?.cleanup();
    await publicLab?.cleanup();
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
      `${cases.length} files (${cases.filter((c) => c.kind === 'good').length} good, ${cases.filter((c) => c.kind === 'bad').length} bad, ${cases.filter((c) => c.kind === 'runtime').length} run-time only, ${cases.filter((c) => c.kind === 'sample').length} samples, ${cases.filter((c) => c.kind === 'public').length} public); halo agrees on ${haloMissing ? 'n/a' : agreeCount}`,
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
        if (c.kind === 'public') return; // keepalived is the oracle here, whatever it says
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
