/**
 * keepalived.conf front end: lexer -> block tree -> keyword tables -> model
 * input -> normalisation + zod -> semantic and host checks.
 */
import { type Diagnostic, DiagnosticSink, type Position } from './diagnostics.js';
import { ALL_TABLES, type BuildContext, ROOT, runBlock, TOP_LEVEL_BLOCKS } from './keywords.js';
import { KeepalivedLexer } from './lexer.js';
import type { ConfigLimits } from './limits.js';
import type { HaloConfig, HaloConfigInput } from './model.js';
import { type Locate, validateModel } from './normalise.js';
import { checkHost, checkSemantics, type HostChecks, type HostProbe } from './semantic.js';
import { buildTree } from './tree.js';
import { PositionIndex, ValueReader } from './values.js';

export interface ParseOptions {
  configId?: string;
  strict?: boolean;
  hostChecks?: HostChecks;
  /** For tests: a fake host. */
  host?: HostProbe;
  /** Bounds on sizes and expansion (limits.ts); for tests. */
  limits?: Partial<ConfigLimits>;
  /** `${_ENV NAME}` (default process.env) and `${_RANDOM}` (default Math.random); for tests. */
  env?: Readonly<Record<string, string | undefined>>;
  random?: () => number;
}

export interface ParseResult {
  config?: HaloConfig;
  diagnostics: import('./diagnostics.js').Diagnostic[];
  /** What the file says, before inheritance and defaults (what `convert` writes as YAML). */
  input?: HaloConfigInput;
}

/** Model field -> the keepalived keyword that sets it, for messages about missing or bad values. */
const KEYWORD_OF_FIELD: Map<string, string> = (() => {
  const m = new Map<string, string>();
  for (const t of ALL_TABLES) {
    for (const [kw, spec] of Object.entries(t.keywords)) {
      if (spec.status === 'implemented' && spec.yaml && /^[A-Za-z]+$/.test(spec.yaml) && !m.has(spec.yaml)) {
        m.set(spec.yaml, kw);
      }
    }
  }
  m.set('script', 'script');
  m.set('miscPath', 'misc_path');
  m.set('name', 'name');
  return m;
})();

export function keywordForPath(path: readonly PropertyKey[]): string {
  const last = [...path].reverse().find((k) => typeof k === 'string') as string | undefined;
  if (!last) return '';
  return KEYWORD_OF_FIELD.get(last) ?? last;
}

const BLOCK_OF_LIST: Record<string, string> = {
  vrrpScripts: 'vrrp_script',
  trackFiles: 'track_file',
  vrrpInstances: 'vrrp_instance',
  syncGroups: 'vrrp_sync_group',
  virtualServerGroups: 'virtual_server_group',
  virtualServers: 'virtual_server',
};

/** "vrrp_instance VI_1" for a path into the model input, for messages about that object. */
function contextIn(config: Record<string, unknown>, path: readonly PropertyKey[]): string {
  const [list, index] = path;
  const block = BLOCK_OF_LIST[String(list)];
  if (!block || typeof index !== 'number') return '';
  const obj = (config[String(list)] as Record<string, unknown>[] | undefined)?.[index];
  const name = obj?.name ?? obj?.address ?? (obj?.fwmark !== undefined ? `fwmark ${obj.fwmark}` : obj?.group);
  return name === undefined ? block : `${block} ${String(name)}`;
}

export function parseKeepalivedText(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const sink = new DiagnosticSink();
  const lexer = new KeepalivedLexer({
    configId: opts.configId,
    sink,
    hostChecks: opts.hostChecks ?? 'warn',
    limits: opts.limits,
    env: opts.env,
    random: opts.random,
  });
  const lines = lexer.lex(text, file);
  // A limit stopped the lexer: the rest would only be complaints about a config cut short.
  if (lexer.limitHit) return { diagnostics: sink.sorted() };
  const tree = buildTree(lines, sink, { topLevelBlocks: TOP_LEVEL_BLOCKS });
  const positions = new PositionIndex();
  const cx: BuildContext = {
    sink,
    strict: opts.strict ?? false,
    positions,
    values: new ValueReader(sink, opts.strict ?? false),
    config: {},
  };
  runBlock(cx, tree, ROOT, cx.config);
  const input = structuredClone(cx.config) as HaloConfigInput;
  const fileStart: Position = { file, line: 1, col: 1 };
  const locate: Locate = (path, mode) =>
    (mode === 'end' ? positions.locateEnd(cx.config, path) : positions.locate(cx.config, path)) ?? fileStart;
  // Even after syntax errors, run the model checks so one pass shows every problem; but drop
  // follow-on complaints on lines that already have an error (a rejected value is "missing").
  const later = new DiagnosticSink();
  const config = validateModel(cx.config, later, locate, keywordForPath, (p) => contextIn(cx.config, p));
  if (config) {
    checkSemantics(config, later, locate, { strict: opts.strict });
    checkHost(config, later, locate, opts.hostChecks ?? 'warn', opts.host);
  }
  const errorLines = new Set(
    sink.items.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}`),
  );
  const hadErrors = sink.hasErrors;
  // An object whose block already has an error (an invalid VIP, a lost '}') is not also "empty".
  const blockHasError = (list: string, index: number): boolean => {
    const start = positions.locate(cx.config, [list, index]);
    const end = positions.locateEnd(cx.config, [list, index]);
    if (!start || !end) return false;
    return sink.items.some(
      (e) =>
        e.severity === 'error' &&
        e.file === start.file &&
        e.line >= start.line &&
        (end.file !== start.file || end.line === start.line || e.line <= end.line),
    );
  };
  const emptyObjectWarning = (d: Diagnostic): boolean => {
    const m = /^\((.+)\) has no virtual_ipaddress$|^virtual_server (.+) has no real_server$/.exec(d.message);
    if (!m) return false;
    if (m[1] !== undefined) {
      const i = (config?.vrrpInstances ?? []).findIndex((v) => v.name === m[1]);
      return i >= 0 && blockHasError('vrrpInstances', i);
    }
    const i = (config?.virtualServers ?? []).findIndex(
      (v) => v.source?.file === d.file && v.source?.line === d.line,
    );
    return i >= 0 && blockHasError('virtualServers', i);
  };
  for (const d of later.items) {
    // After a rejected value, "missing" / "not set" complaints about that setting are noise.
    if (hadErrors && (d.message.includes("missing required '") || d.message.includes(' set - '))) continue;
    if (hadErrors && emptyObjectWarning(d)) continue;
    if (!errorLines.has(`${d.file}:${d.line}`)) sink.items.push(d);
  }
  return { config: sink.hasErrors ? undefined : config, diagnostics: sink.sorted(), input };
}
