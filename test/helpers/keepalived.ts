/**
 * Run the real keepalived (2.2.x) as a configuration oracle: `keepalived -t`.
 *
 * Measured behaviour of `keepalived -t -f FILE` (2.2.7, Debian 12), which this
 * helper relies on:
 * - Every problem is printed to stderr, one per line, nothing to stdout or
 *   syslog. Messages found while reading a file are prefixed
 *   `(FILE: Line N) `; the very first read of the main file (before keepalived
 *   has flattened the includes) prints `(Line N) ` without the file name; checks
 *   made after parsing (e.g. `(VI_1) No VIP specified; ...`) carry no prefix.
 * - The file is read several times (parent, then VRRP and checker parsers), so
 *   the same message usually appears 2-4 times; we de-duplicate.
 * - Names of included files are printed as matched by the include glob,
 *   relative to the directory of the including file (keepalived chdirs there).
 * - Exit code: 0 no problem, 4 fatal (bad interface, fatal config), 5 any
 *   other problem, including mere warnings and deprecations, 6 scripts
 *   configured without `enable_script_security`. A missing main file is
 *   reported ("Config files missing") but exits 0.
 * - Host checks: an interface or a script that does not exist here is a
 *   problem, so tests run keepalived inside a namespace with eth0 and eth1.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { NetnsLab } from './netns.js';

export interface KeepalivedMessage {
  /** Absolute path of the file the message is about, when keepalived named a line. */
  file?: string;
  line?: number;
  text: string;
}

export interface KeepalivedResult {
  exitCode: number;
  /** De-duplicated messages in first-seen order. */
  messages: KeepalivedMessage[];
  /** keepalived's stderr as printed. */
  raw: string;
}

const KEEPALIVED = process.env.KEEPALIVED_BIN ?? 'keepalived';

function run(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string | null }) | null;
      let code = 0;
      // Like a shell: death by signal N is 128 + N (keepalived 2.2.7 can crash on a bad config).
      if (e?.signal) code = 128 + (constants.signals[e.signal as NodeJS.Signals] ?? 0);
      else if (e) code = typeof e.code === 'number' ? e.code : 127;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** True when a keepalived binary runs here (any version). */
export async function keepalivedAvailable(): Promise<boolean> {
  const r = await run(KEEPALIVED, ['--version'], 5000);
  return r.code === 0 && /Keepalived v\d/.test(r.stdout + r.stderr);
}

/** The keepalived version string, e.g. "2.2.7", or undefined. */
export async function keepalivedVersion(): Promise<string | undefined> {
  const r = await run(KEEPALIVED, ['--version'], 5000);
  return /Keepalived v(\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr)?.[1];
}

const LINE_PREFIX = /^\((?:(.+?): )?Line (\d+)\) (.*)$/;

/** Find the file keepalived meant by a (possibly relative) name printed for an included file. */
function resolveReportedFile(mainFile: string, name: string): string {
  if (isAbsolute(name)) return name;
  const direct = resolve(dirname(mainFile), name);
  if (existsSync(direct)) return direct;
  // Nested includes are named relative to their including file's directory:
  // look for a unique file under the main file's directory ending with `name`.
  const suffix = `${sep}${name.replace(/^\.\//, '')}`;
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 6) return;
    for (const entry of readdirSync(dir)) {
      const p = join(dir, entry);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, depth + 1);
      else if (p.endsWith(suffix)) found.push(p);
    }
  };
  walk(dirname(mainFile), 0);
  return found.length === 1 ? (found[0] as string) : direct;
}

/** Parse keepalived -t stderr into de-duplicated messages (exported for unit tests). */
export function parseKeepalivedOutput(mainFile: string, stderr: string): KeepalivedMessage[] {
  const main = resolve(mainFile);
  const parsed: KeepalivedMessage[] = [];
  for (const rawLine of stderr.split('\n')) {
    const line = rawLine.trimEnd();
    if (!line) continue;
    const m = LINE_PREFIX.exec(line);
    if (!m) {
      parsed.push({ text: line });
      continue;
    }
    const [, name, lineNo, text] = m;
    parsed.push({
      file: name === undefined ? undefined : resolveReportedFile(main, name),
      line: Number(lineNo),
      text: text as string,
    });
  }
  // "(Line N) text" comes from the first read of the main file, before keepalived
  // knows to print names: it is the main file.
  for (const msg of parsed) if (msg.line !== undefined && msg.file === undefined) msg.file = main;
  const seen = new Set<string>();
  const out: KeepalivedMessage[] = [];
  for (const msg of parsed) {
    const key = `${msg.file ?? ''}\u0000${msg.line ?? ''}\u0000${msg.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(msg);
  }
  return out;
}

/**
 * `keepalived -t -f FILE`, inside network namespace `ns` when given (so that
 * interface names in the config resolve to the lab's interfaces).
 * `configId` is passed as `-i` (otherwise keepalived uses the host name for `@ID` lines).
 */
export async function keepalivedConfigTest(
  file: string,
  opts: { ns?: string; configId?: string; timeoutMs?: number } = {},
): Promise<KeepalivedResult> {
  const abs = resolve(file);
  const kaArgs = ['-t', '-f', abs, ...(opts.configId ? ['-i', opts.configId] : [])];
  const r = opts.ns
    ? await run('ip', ['netns', 'exec', opts.ns, KEEPALIVED, ...kaArgs], opts.timeoutMs)
    : await run(KEEPALIVED, kaArgs, opts.timeoutMs);
  return { exitCode: r.code, messages: parseKeepalivedOutput(abs, r.stderr), raw: r.stderr };
}

/** Addresses of the config-test namespace; corpus files may use them as unicast/mcast sources. */
export const CONFIG_LAB_ADDRESSES = {
  eth0: ['10.0.0.1/24', 'fd00::1/64'],
  eth1: ['10.1.0.1/24', 'fd00:1::1/64'],
} as const;

/**
 * A namespace with interfaces eth0 and eth1 (veths on a lab bridge), for
 * running `keepalived -t` on configs that name them. Call `lab.cleanup()`.
 */
export async function createConfigTestLab(): Promise<{ lab: NetnsLab; ns: string }> {
  const lab = new NetnsLab();
  const host = await lab.addHost('kacfg', [...CONFIG_LAB_ADDRESSES.eth0], 'eth0');
  await lab.attach(host.ns, [...CONFIG_LAB_ADDRESSES.eth1], 'eth1');
  return { lab, ns: host.ns };
}

/** A path relative to `base` with forward slashes (for recorded fixtures). */
export function portablePath(base: string, file: string): string {
  return relative(base, file).split(sep).join('/');
}

/** Optional directives in a corpus file's comments, e.g. `# halo-test: config-id=lb1`. */
export function corpusDirectives(text: string): { configId?: string } {
  const m = /^[#!]\s*halo-test:.*\bconfig-id=(\S+)/m.exec(text);
  return m ? { configId: m[1] } : {};
}

/** Hand-written expectations kept in a sidecar across re-recordings. */
export interface CorpusAnnotations {
  /** The mistake the file demonstrates. */
  why?: string;
  /**
   * What halo must say at least: 'error' where halo is deliberately stricter
   * than keepalived (which skips the line and runs anyway), 'warning' where a
   * warning is enough. Default 'error'.
   */
  haloSeverity?: 'error' | 'warning';
  /**
   * Lines (of the main file) keepalived reports only because its recovery from
   * the earlier mistake in the same file went astray (e.g. the body of a block
   * whose keyword was mistyped). halo need not report these.
   */
  cascadeLines?: number[];
  /** The problem depends on the host (users, file permissions), not on the text: halo runs with hostChecks off. */
  hostDependent?: boolean;
  /** runtime/ files: what the running keepalived logs (from its source), which -t does not show. */
  runtimeMessage?: string;
}

/** What keepalived -t said about a bad or runtime corpus file: `NAME.conf.expected.json`. */
export interface CorpusExpectation {
  keepalivedVersion: string;
  configId?: string;
  exitCode: number;
  /** `file` is relative to the corpus file's directory. */
  messages: { file?: string; line?: number; text: string }[];
  annotations: CorpusAnnotations;
}

/**
 * Corpus layout under test/fixtures/keepalived (sub-folders hold included files):
 * - good/*.conf: keepalived -t accepts;
 * - bad/*.conf: keepalived -t reports a problem;
 * - runtime/*.conf: keepalived -t accepts, but the running daemon rejects or
 *   ignores part of it (a log_message, which -t does not print).
 */
export type CorpusKind = 'good' | 'bad' | 'runtime';

export function listCorpus(corpusDir: string): { file: string; kind: CorpusKind }[] {
  const out: { file: string; kind: CorpusKind }[] = [];
  for (const kind of ['good', 'bad', 'runtime'] as const) {
    const dir = join(corpusDir, kind);
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.conf') && statSync(join(dir, name)).isFile())
        out.push({ file: join(dir, name), kind });
    }
  }
  return out;
}

export function sidecarPath(confFile: string): string {
  return `${confFile}.expected.json`;
}

export function readExpectation(confFile: string): CorpusExpectation | undefined {
  const p = sidecarPath(confFile);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as CorpusExpectation) : undefined;
}

/** Messages with files made relative to the corpus file's directory (portable across checkouts). */
export function portableMessages(
  confFile: string,
  messages: KeepalivedMessage[],
): CorpusExpectation['messages'] {
  const base = dirname(resolve(confFile));
  return messages.map((m) => ({
    ...(m.file !== undefined ? { file: portablePath(base, m.file) } : {}),
    ...(m.line !== undefined ? { line: m.line } : {}),
    text: m.text,
  }));
}

/**
 * Run keepalived on a bad or runtime corpus file and write its sidecar, keeping the
 * hand-written `annotations` of an existing sidecar.
 */
export async function recordExpectation(
  confFile: string,
  opts: { ns: string; version: string },
): Promise<CorpusExpectation> {
  const { configId } = corpusDirectives(readFileSync(confFile, 'utf8'));
  const result = await keepalivedConfigTest(confFile, { ns: opts.ns, configId });
  const expectation: CorpusExpectation = {
    keepalivedVersion: opts.version,
    ...(configId ? { configId } : {}),
    exitCode: result.exitCode,
    messages: portableMessages(confFile, result.messages),
    annotations: readExpectation(confFile)?.annotations ?? {},
  };
  writeFileSync(sidecarPath(confFile), `${JSON.stringify(expectation, null, 2)}\n`);
  return expectation;
}

/**
 * keepalived messages that say something about the host, not the text: an interface or a script that is
 * not on this machine, script security. A public config names its own director's interfaces.
 */
export function isHostDependentMessage(text: string): boolean {
  return (
    /interface \S+ .*doesn't exist|tracked interface \S+ doesn't exist|Non-existent interface|Unknown interface|cannot use a loopback interface/i.test(
      text,
    ) ||
    // The smtp_server host name does not resolve in a test namespace (no DNS).
    /Invalid smtp server [A-Za-z0-9-]+\.[A-Za-z0-9.-]*[A-Za-z]/.test(text) ||
    /Unable to set default user|not executable|Unsafe permissions|security|permission|No such file|not found in PATH|resolved by path search|Cannot find script|not found\/accessible|SECURITY VIOLATION|(?:user|group) .*(?:doesn't|does not) exist/i.test(
      text,
    )
  );
}

/** Interface names keepalived reported missing ("WARNING - interface eth3 for ... doesn't exist"). */
export function missingInterfaceNames(messages: KeepalivedMessage[]): string[] {
  const names = new Set<string>();
  for (const m of messages) {
    const x =
      /interface (\S+) for .*doesn't exist/.exec(m.text) ??
      /tracked interface (\S+) doesn't exist/.exec(m.text) ??
      /track_interface (\S+) .*doesn't exist/.exec(m.text);
    if (x?.[1]) names.add(x[1]);
  }
  return [...names];
}

/**
 * Creates interfaces named `names` inside `ns` (veth pairs whose peers stay in the namespace), so that
 * keepalived -t on a public config does not stop at interface names of the director it was written for.
 * Names the kernel refuses (templates such as {{INTERFACE}}) are skipped. Returns the names created.
 */
export async function addNamedInterfaces(lab: NetnsLab, ns: string, names: string[]): Promise<string[]> {
  const made: string[] = [];
  let n = 0;
  for (const name of names) {
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name) || name.includes('@') || name.includes(':')) continue;
    const peer = `zz${process.pid % 10000}p${n++}`;
    const r = await lab.exec(ns, 'ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', peer], {
      allowFail: true,
    });
    if (r.stderr.trim()) continue;
    await lab.exec(ns, 'ip', ['link', 'set', name, 'up'], { allowFail: true });
    await lab.exec(ns, 'ip', ['link', 'set', peer, 'up'], { allowFail: true });
    made.push(name);
  }
  return made;
}

/**
 * Lines of the block openers that enclose `line` in `text` (a keepalived.conf), innermost last: a
 * diagnostic on the opening line of a containing block counts as "at" the line (issue 11).
 */
export function enclosingBlockLines(text: string, line: number): number[] {
  const stack: number[] = [];
  let lastStatementLine = 0;
  const rows = text.split('\n');
  for (let i = 0; i < rows.length && i + 1 <= line; i++) {
    let inQuote = false;
    const row = rows[i] as string;
    for (let k = 0; k < row.length; k++) {
      const ch = row[k] as string;
      if (ch === '"') inQuote = !inQuote;
      else if (!inQuote && (ch === '#' || ch === '!')) break;
      else if (!inQuote && ch === '{') {
        // The opener is the statement before the brace: on this line, or the previous statement line.
        const before = row.slice(0, k).trim();
        stack.push(before.length > 0 ? i + 1 : lastStatementLine);
      } else if (!inQuote && ch === '}') {
        if (i + 1 === line) return [...stack];
        stack.pop();
      } else if (!inQuote && ch !== ' ' && ch !== '\t') lastStatementLine = i + 1;
    }
  }
  return stack;
}
