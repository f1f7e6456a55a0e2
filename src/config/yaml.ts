/**
 * The YAML form of the model: parsing with positions (the yaml package's node
 * ranges), zod validation with issue paths mapped back to FILE:LINE:COL, and
 * writing a model (or a keepalived.conf's input) as YAML.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  stringify,
  visit,
} from 'yaml';
import { DiagnosticSink, type Position } from './diagnostics.js';
import type { ParseOptions, ParseResult } from './keepalived.js';
import { clip, YAML_LIMITS } from './limits.js';
import type { HaloConfig, HaloConfigInput } from './model.js';
import { type LocateMode, validateModel } from './normalise.js';
import { checkHost, checkSemantics } from './semantic.js';

type Obj = Record<string, unknown>;

export function parseYamlText(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const sink = new DiagnosticSink();
  const lineCounter = new LineCounter();
  // uniqueKeys is checked below in linear time: the yaml package's own check is quadratic (100,000 keys
  // would take minutes).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const toPos = (offset: number | undefined): Position => {
    const lp = lineCounter.linePos(offset ?? 0);
    return { file, line: lp.line, col: lp.col };
  };
  for (const e of doc.errors.slice(0, YAML_LIMITS.maxIssues))
    sink.error(toPos(e.pos[0]), `YAML: ${firstLine(e.message)}`);
  for (const w of doc.warnings.slice(0, YAML_LIMITS.maxIssues))
    sink.warning(toPos(w.pos[0]), `YAML: ${firstLine(w.message)}`);
  if (sink.hasErrors) return { diagnostics: sink.sorted() };
  for (const dup of duplicateKeys(doc).slice(0, YAML_LIMITS.maxIssues))
    sink.error(toPos(dup.offset), `YAML: map keys must be unique: '${clip(dup.key)}' is repeated`);
  if (sink.hasErrors) return { diagnostics: sink.sorted() };

  // Aliases: an unknown one, an alias bomb (each alias repeating the one before) or an anchor used inside
  // itself (a cycle no config can mean) are located errors, not exceptions.
  const aliasProblem = checkAliases(doc);
  if (aliasProblem) {
    sink.error(toPos(aliasProblem.offset), aliasProblem.message, aliasProblem.hint);
    return { diagnostics: sink.sorted() };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }) ?? {};
  } catch (err) {
    const first = firstAlias(doc);
    sink.error(
      toPos(first),
      `YAML: ${firstLine((err as Error).message)}`,
      'an alias may repeat an anchor a few times, not multiply it',
    );
    return { diagnostics: sink.sorted() };
  }
  const depth = depthOf(raw, YAML_LIMITS.maxDepth);
  if (depth > YAML_LIMITS.maxDepth) {
    sink.error(toPos(0), `YAML: nested more than ${YAML_LIMITS.maxDepth} levels deep`);
    return { diagnostics: sink.sorted() };
  }
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
  const locate = (path: readonly PropertyKey[], mode: LocateMode = 'value'): Position => {
    let node: unknown = doc.contents;
    let best = (node as Node | null)?.range?.[0] ?? 0;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        if (!pair) break;
        best = (pair.key as Node).range?.[0] ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        if (!node) break;
        best = (node as Node).range?.[0] ?? best;
      } else break;
    }
    // A bad value is shown at the value, an unknown or misplaced key at the key.
    if (mode === 'value' && isScalar(node) && node.range) best = node.range[0];
    return toPos(best);
  };
  const nameOf = (path: readonly PropertyKey[]) => String(path.at(-1) ?? '');
  /** "vrrpInstances[1] (VI_2)" for messages about a list item. */
  const contextOf = (path: readonly PropertyKey[]) => {
    let text = '';
    let cur: unknown = raw;
    for (const key of path) {
      text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${String(key)}`;
      cur = cur && typeof cur === 'object' ? (cur as Obj)[key as string] : undefined;
    }
    const label = cur && typeof cur === 'object' ? ((cur as Obj).name ?? (cur as Obj).address) : undefined;
    return label === undefined ? text : `${text} (${String(label)})`;
  };

  // Attach sources to the main objects so later messages (and `halo status`) can point into the YAML file.
  const config = validateModel(raw as Obj, sink, locate, nameOf, contextOf);
  if (!config) {
    return { diagnostics: sink.sorted(), input };
  }
  attachSources(config, locate);
  checkSemantics(config, sink, locate, { strict: opts.strict });
  checkHost(config, sink, locate, opts.hostChecks ?? 'warn', opts.host);
  return { config: sink.hasErrors ? undefined : config, diagnostics: sink.sorted(), input };
}

/** The first alias problem: undefined anchor, or an alias inside the node its anchor names (a cycle). */
function checkAliases(doc: Document): { offset: number; message: string; hint?: string } | undefined {
  const anchors = new Map<string, Node>();
  let problem: { offset: number; message: string; hint?: string } | undefined;
  const inside = (outer: Node, offset: number) =>
    outer.range !== undefined && outer.range !== null && offset >= outer.range[0] && offset < outer.range[1];
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        const at = node.range?.[0] ?? 0;
        if (!target) {
          problem = {
            offset: at,
            message: `YAML: alias *${clip(node.source)} has no anchor &${clip(node.source)} before it`,
          };
          return visit.BREAK;
        }
        if (inside(target, at)) {
          problem = {
            offset: at,
            message: `YAML: alias *${clip(node.source)} is inside the node its anchor names (a cycle)`,
          };
          return visit.BREAK;
        }
        return undefined;
      }
      const anchor = (node as { anchor?: string }).anchor;
      if (anchor) anchors.set(anchor, node as Node);
      return undefined;
    },
  });
  return problem;
}

function duplicateKeys(doc: Document): { key: string; offset: number }[] {
  const out: { key: string; offset: number }[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(k)) out.push({ key: String(k), offset: (pair.key as Node | null)?.range?.[0] ?? 0 });
        else seen.add(k);
      }
    },
  });
  return out;
}

function firstAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

/** Nesting depth of plain data, counting no further than `limit + 1`. */
function depthOf(v: unknown, limit: number, d = 0): number {
  if (d > limit || v === null || typeof v !== 'object') return d;
  let max = d;
  for (const x of Object.values(v as Obj)) {
    max = Math.max(max, depthOf(x, limit, d + 1));
    if (max > limit) break;
  }
  return max;
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
