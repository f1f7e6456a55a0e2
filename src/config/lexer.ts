/**
 * keepalived.conf lexer: turns files into a stream of words and braces, each
 * with the file/line/column it came from, after the line-level directives
 * keepalived 2.2.x applies before parsing:
 *
 *  - `#` / `!` comments (outside double quotes; `\#` and `\!` are literal),
 *  - `@ID line` / `@^ID line` conditional lines against the config id,
 *  - `$NAME=value` definitions (a trailing `\` continues the value on the next
 *    lines, making a multi-line definition) and `$NAME` / `${NAME}` substitution,
 *  - `~SEQ(var, [start,] [step,] end) text` repetition (and `~SEQx` for hex),
 *  - `include PATTERN` (globs; relative to the including file) with a
 *    recursion guard,
 *  - quoting ("..." and '...') with keepalived's backslash escapes, and braces
 *    split off as their own tokens wherever they are on a line.
 *
 * Tokens produced by substitution carry the position of the `$` that produced
 * them, so a bad value from a definition is reported where it is used.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { DiagnosticSink, Position } from './diagnostics.js';

export type Token =
  | { kind: 'word'; text: string; pos: Position; quoted: boolean; endOfLine?: false }
  | { kind: 'open'; text: '{'; pos: Position }
  | { kind: 'close'; text: '}'; pos: Position };

/** One logical line: its tokens in order (words and braces). */
export interface LexedLine {
  tokens: Token[];
}

export interface LexOptions {
  /** Config id for `@ID` lines (keepalived: --config-id, default the short host name). */
  configId?: string;
  sink: DiagnosticSink;
  /** Reads an included file; defaults to the real file system. */
  readFile?: (path: string) => string;
}

const MAX_INCLUDE_DEPTH = 32;
const MAX_EXPANSIONS = 64;
const MAX_SEQ_ITEMS = 100_000;

/** A string whose characters each remember their source column. */
interface Chars {
  s: string;
  cols: number[];
  file: string;
  line: number;
}

interface Definition {
  /** Lines of the value (one unless it is a multi-line definition). */
  lines: string[];
  multiline: boolean;
}

function slice(c: Chars, start: number, end = c.s.length): Chars {
  return { s: c.s.slice(start, end), cols: c.cols.slice(start, end), file: c.file, line: c.line };
}

function concat(a: Chars, b: Chars): Chars {
  return { s: a.s + b.s, cols: a.cols.concat(b.cols), file: a.file, line: a.line };
}

function trimChars(c: Chars): Chars {
  let start = 0;
  let end = c.s.length;
  while (start < end && (c.s[start] === ' ' || c.s[start] === '\t')) start++;
  while (end > start && (c.s[end - 1] === ' ' || c.s[end - 1] === '\t')) end--;
  return slice(c, start, end);
}

function posAt(c: Chars, i: number): Position {
  const col = c.cols[Math.min(i, c.cols.length - 1)] ?? 1;
  return { file: c.file, line: c.line, col };
}

export class KeepalivedLexer {
  private readonly defs = new Map<string, Definition>();
  private readonly includeStack: string[] = [];
  private readonly lines: LexedLine[] = [];
  private pendingDef: { name: string; def: Definition } | undefined;
  private readonly readFile: (path: string) => string;

  constructor(private readonly opts: LexOptions) {
    this.readFile = opts.readFile ?? ((p) => readFileSync(p, 'utf8'));
  }

  /** Lexes `text` as the contents of `file` (includes are read from disk). */
  lex(text: string, file: string): LexedLine[] {
    this.lexFile(text, file, safeRealpath(file));
    return this.lines;
  }

  private lexFile(text: string, file: string, identity: string): void {
    this.includeStack.push(identity);
    const physical = text.split('\n');
    for (let i = 0; i < physical.length; i++) {
      let raw = physical[i];
      if (raw.endsWith('\r')) raw = raw.slice(0, -1);
      const chars: Chars = { s: raw, cols: Array.from(raw, (_, k) => k + 1), file, line: i + 1 };
      this.physicalLine(chars);
    }
    this.pendingDef = undefined;
    this.includeStack.pop();
  }

  private physicalLine(chars: Chars): void {
    const { text, continued } = this.decomment(chars);
    if (this.pendingDef) {
      // Continuation of a multi-line $NAME=... definition; a blank line ends it.
      if (text.s.length === 0) {
        this.pendingDef = undefined;
        return;
      }
      this.pendingDef.def.lines.push(text.s);
      if (!continued) this.pendingDef = undefined;
      return;
    }
    if (text.s.length === 0) return;
    this.logicalLine(text, continued, 0);
  }

  /** Strips comments and surrounding blanks; reports a trailing `\` (continuation). */
  private decomment(c: Chars): { text: Chars; continued: boolean } {
    let inQuote = false;
    let out: Chars = { s: '', cols: [], file: c.file, line: c.line };
    let continued = false;
    let start = 0;
    for (let i = 0; i < c.s.length; i++) {
      const ch = c.s[i];
      if (ch === '"') {
        inQuote = !inQuote;
        continue;
      }
      if (ch === '\\') {
        if (i + 1 >= c.s.length) {
          out = concat(out, slice(c, start, i));
          start = c.s.length;
          continued = true;
          break;
        }
        if (!inQuote && (c.s[i + 1] === '#' || c.s[i + 1] === '!')) {
          out = concat(out, slice(c, start, i));
          start = i + 1;
        }
        i++;
        continue;
      }
      if (!inQuote && (ch === '#' || ch === '!')) {
        out = concat(out, slice(c, start, i));
        start = c.s.length;
        break;
      }
    }
    if (start < c.s.length) out = concat(out, slice(c, start));
    if (inQuote) this.opts.sink.error(posAt(c, c.s.indexOf('"')), 'unterminated quote');
    return { text: trimChars(out), continued };
  }

  private logicalLine(text: Chars, continued: boolean, depth: number): void {
    if (depth > MAX_EXPANSIONS) {
      this.opts.sink.error(posAt(text, 0), 'definition expansion too deep (a definition refers to itself?)');
      return;
    }
    let c = text;
    // @ID / @^ID: keep the line only when the config id matches (or, with ^, does not).
    if (c.s.startsWith('@')) {
      const reverse = c.s[1] === '^';
      const idStart = reverse ? 2 : 1;
      const ws = c.s.slice(idStart).search(/[ \t]/);
      if (ws < 0) return; // nothing after the id: keepalived drops the line
      const id = c.s.slice(idStart, idStart + ws);
      const matches = this.opts.configId !== undefined && id === this.opts.configId;
      if (matches === reverse) return;
      c = trimChars(slice(c, idStart + ws));
    }
    // $NAME=value definitions.
    const def = /^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/.exec(c.s);
    if (def) {
      const definition: Definition = { lines: [def[2]], multiline: continued };
      if (continued && def[2].trim() === '') definition.lines = [];
      this.defs.set(def[1], definition);
      if (continued) this.pendingDef = { name: def[1], def: definition };
      return;
    }
    if (c.s.startsWith('~SEQ')) {
      this.sequence(c, depth);
      return;
    }
    if (c.s.startsWith('~')) {
      const word = c.s.split(/[ \t(]/)[0];
      this.opts.sink.warning(
        posAt(c, 0),
        `'${word}' is not implemented by halo; line ignored`,
        word.startsWith('~LST') ? 'expand the list by hand or use ~SEQ' : undefined,
      );
      return;
    }
    if (this.defs.size > 0 && c.s.includes('$')) {
      const expanded = this.substitute(c);
      if (expanded) {
        for (const line of expanded) {
          if (line.s.trim().length > 0) this.logicalLine(trimChars(line), false, depth + 1);
        }
        return;
      }
    }
    if (/^include[rmwba]?[ \t]/.test(c.s)) {
      const at = c.s.search(/[ \t]/);
      this.include(trimChars(slice(c, at)), posAt(c, 0));
      return;
    }
    this.tokenise(c);
  }

  /** Replaces $NAME and ${NAME}; returns undefined when nothing was replaced. */
  private substitute(c: Chars): Chars[] | undefined {
    const re = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
    let out: Chars[] = [{ s: '', cols: [], file: c.file, line: c.line }];
    let last = 0;
    let found = false;
    for (let m = re.exec(c.s); m; m = re.exec(c.s)) {
      const name = m[1] ?? m[2];
      const def = this.defs.get(name);
      if (!def) continue;
      found = true;
      const col = c.cols[m.index];
      const tail = out.length - 1;
      out[tail] = concat(out[tail], slice(c, last, m.index));
      const valueLines = def.lines.length > 0 ? def.lines : [''];
      valueLines.forEach((v, k) => {
        const piece: Chars = { s: v, cols: new Array(v.length).fill(col), file: c.file, line: c.line };
        if (k === 0) out[out.length - 1] = concat(out[out.length - 1], piece);
        else out = out.concat([piece]);
      });
      last = m.index + m[0].length;
    }
    if (!found) return undefined;
    out[out.length - 1] = concat(out[out.length - 1], slice(c, last));
    return out;
  }

  /** ~SEQ(var, end) / ~SEQ(var, start, end) / ~SEQ(var, start, step, end) text; ~SEQx gives hex. */
  private sequence(c: Chars, depth: number): void {
    const m = /^~SEQ(x?)[ \t]*\(([^)]*)\)[ \t]*(.*)$/.exec(c.s);
    const bad = (why: string) => this.opts.sink.error(posAt(c, 0), `invalid ~SEQ: ${why}`);
    if (!m) {
      bad('expected ~SEQ(var, [start,] [step,] end) text');
      return;
    }
    const hex = m[1] === 'x';
    const paramsText = this.substitute({ ...c, s: m[2], cols: new Array(m[2].length).fill(c.cols[0]) });
    const params = (paramsText ? paramsText.map((p) => p.s).join('') : m[2]).split(',').map((p) => p.trim());
    const variable = params[0];
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable ?? '')) {
      bad(`'${variable}' is not a variable name`);
      return;
    }
    const nums = params.slice(1).map((p) => Number(p));
    if (nums.length < 1 || nums.length > 3 || nums.some((n) => !Number.isInteger(n))) {
      bad('expected 1 to 3 integer parameters after the variable');
      return;
    }
    let start: number;
    let step: number;
    let end: number;
    if (nums.length === 1) {
      end = nums[0];
      step = end < 1 ? -1 : 1;
      start = end < 0 ? -1 : 1;
    } else if (nums.length === 2) {
      [start, end] = nums;
      step = start <= end ? 1 : -1;
    } else {
      [start, step, end] = nums;
      if (step === 0 || (start < end && step < 0) || (start > end && step > 0)) {
        bad('step goes the wrong way');
        return;
      }
    }
    if (hex && (start < 0 || end < 0)) {
      bad('~SEQx needs positive numbers');
      return;
    }
    if (Math.abs((end - start) / step) > MAX_SEQ_ITEMS) {
      bad('sequence too long');
      return;
    }
    const textStart = c.s.length - m[3].length;
    const body = slice(c, textStart);
    for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
      this.defs.set(variable, { lines: [hex ? v.toString(16) : String(v)], multiline: false });
      this.logicalLine(body, false, depth + 1);
    }
  }

  private include(patternChars: Chars, at: Position): void {
    const sink = this.opts.sink;
    let pattern = patternChars.s;
    if (pattern.length === 0) {
      sink.error(at, 'include needs a file name or pattern');
      return;
    }
    if (
      (pattern.startsWith('"') && pattern.endsWith('"')) ||
      (pattern.startsWith("'") && pattern.endsWith("'"))
    ) {
      pattern = pattern.slice(1, -1);
    }
    const base = dirname(at.file);
    const full = isAbsolute(pattern) ? pattern : join(base, pattern);
    if (this.includeStack.length >= MAX_INCLUDE_DEPTH) {
      sink.error(at, `include nesting deeper than ${MAX_INCLUDE_DEPTH} files`);
      return;
    }
    let files: string[];
    if (hasGlobChars(full)) {
      const problem = globSyntaxProblem(full);
      if (problem) {
        sink.error(at, `bad include pattern '${pattern}': ${problem}`);
        return;
      }
      files = expandGlob(full);
      if (files.length === 0) {
        sink.warning(at, `include pattern '${pattern}' matches no files`);
        return;
      }
    } else {
      files = [full];
    }
    for (const f of files) {
      let text: string;
      try {
        if (statSync(f).isDirectory()) {
          sink.error(at, `include '${f}' is a directory`, "use a pattern such as 'dir/*.conf'");
          continue;
        }
        text = this.readFile(f);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        sink.error(
          at,
          code === 'ENOENT'
            ? `include file '${f}' not found`
            : `cannot read include file '${f}': ${String(err)}`,
        );
        continue;
      }
      const identity = safeRealpath(f);
      if (this.includeStack.includes(identity)) {
        const chain = [...this.includeStack, identity].join(' -> ');
        sink.error(at, `include recursion: '${f}' is already being read (${chain})`);
        continue;
      }
      this.lexFile(text, f, identity);
    }
  }

  /** Splits a logical line into words and braces (keepalived: braces split outside double quotes). */
  private tokenise(c: Chars): void {
    const tokens: Token[] = [];
    let i = 0;
    const n = c.s.length;
    while (i < n) {
      const ch = c.s[i];
      if (ch === ' ' || ch === '\t') {
        i++;
        continue;
      }
      if (ch === '{' || ch === '}') {
        tokens.push(
          ch === '{'
            ? { kind: 'open', text: '{', pos: posAt(c, i) }
            : { kind: 'close', text: '}', pos: posAt(c, i) },
        );
        i++;
        continue;
      }
      const startPos = posAt(c, i);
      let text = '';
      let quote: string | null = null;
      let quoted = false;
      while (i < n) {
        const cur = c.s[i];
        if (quote) {
          if (cur === quote) {
            quote = null;
            i++;
            continue;
          }
          if (cur === '\\' && i + 1 < n) {
            const [value, used] = unescapeAt(c.s, i + 1);
            text += value;
            i += 1 + used;
            continue;
          }
          text += cur;
          i++;
          continue;
        }
        if (cur === ' ' || cur === '\t') break;
        if ((cur === '{' || cur === '}') && !quote) break;
        if (cur === '"' || cur === "'") {
          quote = cur;
          quoted = true;
          i++;
          continue;
        }
        if (cur === '\\' && i + 1 < n) {
          const [value, used] = unescapeAt(c.s, i + 1);
          text += value;
          i += 1 + used;
          continue;
        }
        text += cur;
        i++;
      }
      tokens.push({ kind: 'word', text, pos: startPos, quoted });
    }
    if (tokens.length > 0) this.lines.push({ tokens });
  }
}

/** keepalived's backslash escapes: \xHH, \cX, octal, \a \b \E \f \n \r \t \v, else the character itself. */
function unescapeAt(s: string, i: number): [string, number] {
  const ch = s[i];
  if (ch === 'x' && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) {
    let j = i + 1;
    while (j < s.length && /[0-9a-fA-F]/.test(s[j]) && j - i <= 2) j++;
    return [String.fromCharCode(Number.parseInt(s.slice(i + 1, j), 16)), j - i];
  }
  if (ch === 'c' && i + 1 < s.length) return [String.fromCharCode(s.charCodeAt(i + 1) & 0x1f), 2];
  if (ch >= '0' && ch <= '7') {
    let j = i;
    while (j < s.length && j - i < 3 && s[j] >= '0' && s[j] <= '7') j++;
    return [String.fromCharCode(Number.parseInt(s.slice(i, j), 8)), j - i];
  }
  const simple: Record<string, string> = {
    a: '\x07',
    b: '\b',
    E: '\x1b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
  };
  return [simple[ch] ?? ch, 1];
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function hasGlobChars(p: string): boolean {
  return /[*?[]/.test(p);
}

function globSyntaxProblem(p: string): string | undefined {
  let inBracket = false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '[' && !inBracket) {
      inBracket = true;
      if (p[i + 1] === ']') i++;
    } else if (p[i] === ']' && inBracket) inBracket = false;
    else if (p[i] === '/' && inBracket) return "'/' inside [...]";
  }
  return inBracket ? "unterminated '['" : undefined;
}

function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const close = seg.indexOf(']', i + 2);
      let body = seg.slice(i + 1, close);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** A small POSIX-style glob (no `**`), sorted like glob(3); hidden files only match a leading '.'. */
export function expandGlob(pattern: string): string[] {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s.length > 0 || i === 0);
  let bases = [absolute ? '/' : segments[0] === '' ? '.' : ''];
  const rest = absolute ? segments.slice(1) : segments;
  for (let k = 0; k < rest.length; k++) {
    const seg = rest[k];
    const next: string[] = [];
    for (const b of bases) {
      if (!hasGlobChars(seg)) {
        const candidate = b === '' ? seg : join(b, seg);
        try {
          statSync(candidate);
          next.push(candidate);
        } catch {
          /* no match */
        }
        continue;
      }
      let entries: string[] = [];
      try {
        entries = readdirSync(b === '' ? '.' : b);
      } catch {
        continue;
      }
      const re = segmentRegex(seg);
      for (const e of entries.sort()) {
        if (e.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(e)) next.push(b === '' ? e : join(b, e));
      }
    }
    bases = next;
  }
  return bases.filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
}
