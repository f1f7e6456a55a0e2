/**
 * The YAML form of the model: parsing with positions (the yaml package's node
 * ranges), zod validation with issue paths mapped back to FILE:LINE:COL, and
 * writing a model (or a keepalived.conf's input) as YAML.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, stringify } from 'yaml';
import { DiagnosticSink, didYouMean, type Position } from './diagnostics.js';
import type { ParseOptions, ParseResult } from './keepalived.js';
import { type HaloConfig, type HaloConfigInput, HaloConfigSchema } from './model.js';
import { validateModel } from './normalise.js';
import { checkHost, checkSemantics } from './semantic.js';

type Obj = Record<string, unknown>;

export function parseYamlText(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const sink = new DiagnosticSink();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const toPos = (offset: number | undefined): Position => {
    const lp = lineCounter.linePos(offset ?? 0);
    return { file, line: lp.line, col: lp.col };
  };
  for (const e of doc.errors) sink.error(toPos(e.pos[0]), `YAML: ${firstLine(e.message)}`);
  for (const w of doc.warnings) sink.warning(toPos(w.pos[0]), `YAML: ${firstLine(w.message)}`);
  if (sink.hasErrors) return { diagnostics: sink.sorted() };

  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    sink.error(
      toPos(0),
      'the YAML document must be a mapping (global:, vrrpInstances:, virtualServers:, ...)',
    );
    return { diagnostics: sink.sorted() };
  }
  stripSources(raw);
  const input = structuredClone(raw) as HaloConfigInput;

  /** The node (or key) for a path, falling back to the deepest node that exists. */
  const locate = (path: readonly PropertyKey[]): Position => {
    let node: unknown = doc.contents;
    let best = (node as Node | null)?.range?.[0] ?? 0;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        if (!pair) break;
        best = (pair.key as Node).range?.[0] ?? best;
        node = pair.value;
        if ((node as Node | null)?.range && typeof key === 'number') best = (node as Node).range![0];
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        if (!node) break;
        best = (node as Node).range?.[0] ?? best;
      } else break;
    }
    return toPos(best);
  };
  const nameOf = (path: readonly PropertyKey[]) => path.map(String).join('.');

  // Attach sources to the main objects so later messages (and `halo status`) can point into the YAML file.
  const config = validateModel(raw as Obj, sink, locate, nameOf);
  if (!config) {
    addKeyHints(sink, raw);
    return { diagnostics: sink.sorted(), input };
  }
  attachSources(config, locate);
  checkSemantics(config, sink, locate);
  checkHost(config, sink, locate, opts.hostChecks ?? 'warn', opts.host);
  return { config: sink.hasErrors ? undefined : config, diagnostics: sink.sorted(), input };
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** `source` is filled by the loader; a user-written one would only mislead messages. */
function stripSources(v: unknown): void {
  if (Array.isArray(v)) v.forEach(stripSources);
  else if (v && typeof v === 'object') {
    delete (v as Obj).source;
    Object.values(v).forEach(stripSources);
  }
}

/** "unknown setting 'x'" gets a did-you-mean from the schema's keys at that place. */
function addKeyHints(sink: DiagnosticSink, _raw: unknown): void {
  for (const d of sink.items) {
    const m = /^unknown setting '([^']+)'(?: in (.+))?$/.exec(d.message);
    if (!m || d.hint) continue;
    const keys = schemaKeysAt(m[2] ?? '');
    const hint = didYouMean(m[1], keys);
    if (hint) d.hint = hint;
  }
}

/** Keys allowed at a dotted model path (numbers are list items). */
function schemaKeysAt(path: string): string[] {
  // Walk the zod schema by shape; unions contribute all their options' keys.
  let schemas: unknown[] = [HaloConfigSchema];
  for (const part of path.split('.').filter(Boolean)) {
    const next: unknown[] = [];
    for (const s of schemas.flatMap(unwrap)) {
      const def = (s as { def?: Obj }).def ?? {};
      if (/^\d+$/.test(part)) {
        if (def.type === 'array') next.push(def.element);
      } else {
        const shape = (s as { shape?: Obj }).shape;
        if (shape?.[part]) next.push(shape[part]);
      }
    }
    schemas = next;
  }
  return schemas.flatMap(unwrap).flatMap((s) => Object.keys((s as { shape?: Obj }).shape ?? {}));
}

function unwrap(s: unknown): unknown[] {
  const def = (s as { def?: Obj }).def ?? {};
  if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')
    return unwrap(def.innerType);
  if (def.type === 'union') return (def.options as unknown[]).flatMap(unwrap);
  return [s];
}

function attachSources(config: HaloConfig, locate: (path: readonly PropertyKey[]) => Position): void {
  const tag = (obj: { source?: unknown }, path: PropertyKey[]) => {
    const p = locate(path);
    obj.source = { file: p.file, line: p.line, col: p.col };
  };
  const lists = [
    'vrrpScripts',
    'trackFiles',
    'vrrpInstances',
    'syncGroups',
    'virtualServerGroups',
    'virtualServers',
  ] as const;
  for (const key of lists)
    (config[key] as { source?: unknown }[]).forEach((o, i) => {
      tag(o, [key, i]);
    });
  config.virtualServers.forEach((vs, i) => {
    vs.realServers.forEach((rs, k) => {
      tag(rs, ['virtualServers', i, 'realServers', k]);
      for (const [c, ck] of rs.checkers.entries())
        tag(ck, ['virtualServers', i, 'realServers', k, 'checkers', c]);
    });
  });
}

/** Removes `source` fields (positions belong to one file, not to the model). */
export function withoutSources<T>(value: T): T {
  const copy = structuredClone(value);
  stripSources(copy);
  return copy;
}

/** The model (or a model input) as YAML, without source positions. */
export function configToYaml(config: HaloConfig | HaloConfigInput, header?: string): string {
  const body = stringify(withoutSources(config), { lineWidth: 0, aliasDuplicateObjects: false });
  return header
    ? `${header
        .split('\n')
        .map((l) => `# ${l}`.trimEnd())
        .join('\n')}\n${body}`
    : body;
}
