/**
 * keepalived.conf lexer: turns files into a stream of words and braces, each
 * with the file/line/column it came from, after the line-level directives
 * keepalived 2.2.x applies before parsing:
 *
 *  - `#` / `!` comments (outside double quotes; `\#` and `\!` are literal),
 *  - `@ID line` / `@^ID line` conditional lines against the config id,
 *  - `$NAME=value` definitions (a trailing `\` continues the value on the next
 *    lines, making a multi-line definition) and `$NAME` / `${NAME}` substitution,
 *    with keepalived's rules: `$NAME` only before a blank, `,`, `)` or the end of
 *    the line, a multi-line definition only at the end of a line, and the
 *    replacement scanned again (a definition may use another one),
 *  - keepalived's built-in definitions `${_PWD}`, `${_INSTANCE}`,
 *    `${_RANDOM [MIN [MAX]]}`, `${_ENV NAME}` (2.4), `$_HASH` (#) and `$_BANG` (!),
 *  - `~SEQ(var, [start,] [step,] end) text` repetition (and `~SEQx` for hex),
 *  - `include PATTERN` (globs; relative to the including file) with a
 *    recursion guard,
 *  - quoting ("..." and '...') with keepalived's backslash escapes, and braces
 *    split off as their own tokens wherever they are on a line.
 *
 * Everything is bounded (limits.ts): file and line sizes, include count and
 * depth, expansion size and ~SEQ counts; hitting a bound is one located error,
 * after which the lexer stops reading.
 *
 * Tokens produced by substitution carry the position of the `$` that produced
 * them, so a bad value from a definition is reported where it is used.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DiagnosticSink, Position } from './diagnostics.js';
import {
  type ConfigLimits,
  clip,
  describeChar,
  formatBytes,
  INVISIBLE_CHARS,
  readConfigFileSync,
  resolveLimits,
} from './limits.js';

export type Token =
  | { kind: 'word'; text: string; pos: Position; quoted: boolean; endOfLine?: false }
  | { kind: 'open'; text: '{'; pos: Position }
  | { kind: 'close'; text: '}'; pos: Position };

/** One logical line: its tokens in order (words and braces). */
export interface LexedLine {
  tokens: Token[];
}

export interface LexOptions {
  /** Config id for `@ID` lines and `${_INSTANCE}` (keepalived: --config-id, default the short host name). */
  configId?: string;
  sink: DiagnosticSink;
  /** Reads an included file; defaults to the real file system (regular files only, size-limited). */
  readFile?: (path: string) => string;
  /**
   * A missing include names a file on the director, like an interface: a warning when checking ('warn',
   * 'off'), an error when halo run starts ('error').
   */
  hostChecks?: 'warn' | 'error' | 'off';
  limits?: Partial<ConfigLimits>;
  /** `${_ENV NAME}`: default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** `${_RANDOM}`: a number in [0, 1); default Math.random. */
  random?: () => number;
}

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
  /** Total characters, for the definition size limit. */
  size: number;
  /** Where it was defined. */
  pos: Position;
}

/** keepalived's standard definitions: [min params, max params, numbers only]. */
const BUILTINS: Record<string, [number, number, boolean]> = {
  _PWD: [0, 0, false],
  _INSTANCE: [0, 0, false],
  _RANDOM: [0, 2, true],
  _ENV: [1, 1, false],
  _HASH: [0, 0, false],
  _BANG: [0, 0, false],
};

/** Thrown inside the lexer when a limit is hit; caught at the top, never escapes lex(). */
class LimitReached extends Error {}

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
  return start === 0 && end === c.s.length ? c : slice(c, start, end);
}

function posAt(c: Chars, i: number): Position {
  const col = c.cols[Math.min(i, c.cols.length - 1)] ?? 1;
  return { file: c.file, line: c.line, col };
}

function columns(length: number): number[] {
  const cols = new Array<number>(length);
  for (let k = 0; k < length; k++) cols[k] = k + 1;
  return cols;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

export class KeepalivedLexer {
  private readonly defs = new Map<string, Definition>();
  private readonly includeStack: string[] = [];
  private readonly lines: LexedLine[] = [];
  private pendingDef: { name: string; def: Definition } | undefined;
  private readonly readFile: ((path: string) => string) | undefined;
  private readonly limits: ConfigLimits;
  private filesRead = 0;
  private bytesRead = 0;
  /** True once a limit stopped the lexer: what it produced is not the whole config. */
  limitHit = false;

  constructor(private readonly opts: LexOptions) {
    this.readFile = opts.readFile;
    this.limits = resolveLimits(opts.limits);
  }

  /** Lexes `text` as the contents of `file` (includes are read from disk). Never throws on bad input. */
  lex(text: string, file: string): LexedLine[] {
    try {
      this.filesRead = 1;
      this.bytesRead = text.length;
      if (text.length > this.limits.maxFileBytes) {
        this.limitReached(
          { file, line: 1, col: 1 },
          `config file is larger than ${formatBytes(this.limits.maxFileBytes)}`,
        );
      }
      this.lexFile(text, file, safeRealpath(file));
    } catch (err) {
      if (!(err instanceof LimitReached)) throw err;
    }
    return this.lines;
  }

  /** One error at `pos`, then stop reading: the rest of the config is not what the operator meant. */
  private limitReached(pos: Position, message: string, hint?: string): never {
    this.opts.sink.error(pos, `${message}; stopped reading the config here`, hint);
    this.limitHit = true;
    throw new LimitReached(message);
  }

  private lexFile(text: string, file: string, identity: string): void {
    this.includeStack.push(identity);
    if (text.charCodeAt(0) === 0xfeff) {
      // keepalived reads the BOM as part of the first word ("Unknown keyword '\uFEFFglobal_defs'").
      this.opts.sink.warning(
        { file, line: 1, col: 1 },
        'the file starts with a UTF-8 byte-order mark (U+FEFF); halo ignores it, keepalived reads it as part of the first word',
        'save the file as UTF-8 without a BOM',
      );
      text = text.slice(1);
    }
    let start = 0;
    let lineNo = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      lineNo++;
      const length = end - start;
      if (length > this.limits.maxLineLength) {
        this.limitReached(
          { file, line: lineNo, col: 1 },
          `line ${lineNo} is ${length} characters long, more than ${this.limits.maxLineLength}`,
          'keepalived reads at most 1023 characters per line',
        );
      }
      let raw = text.slice(start, end);
      if (raw.endsWith('\r')) raw = raw.slice(0, -1);
      if (raw.length > 0 || this.pendingDef) {
        this.physicalLine({ s: raw, cols: columns(raw.length), file, line: lineNo });
      }
      start = end + 1;
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
      const def = this.pendingDef.def;
      def.size += text.s.length + 1;
      this.checkDefinitionSize(this.pendingDef.name, def);
      def.lines.push(text.s);
      if (!continued) this.pendingDef = undefined;
      return;
    }
    if (text.s.length === 0) return;
    this.logicalLine(text, continued, 0);
  }

  private checkDefinitionSize(name: string, def: Definition): void {
    if (def.size > this.limits.maxDefinitionBytes) {
      this.limitReached(
        def.pos,
        `definition $${name} is longer than ${formatBytes(this.limits.maxDefinitionBytes)}`,
      );
    }
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
    if (start < c.s.length) out = start === 0 ? c : concat(out, slice(c, start));
    if (inQuote) this.opts.sink.error(posAt(c, c.s.indexOf('"')), 'unterminated quote');
    return { text: trimChars(out), continued };
  }

  private logicalLine(text: Chars, continued: boolean, depth: number): void {
    if (depth > this.limits.maxExpansionDepth) {
      this.limitReached(
        posAt(text, 0),
        `~SEQ and multi-line definitions nested deeper than ${this.limits.maxExpansionDepth}`,
      );
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
      const definition: Definition = {
        lines: [def[2]],
        multiline: continued,
        size: def[2].length,
        pos: posAt(c, 0),
      };
      if (continued && def[2].trim() === '') definition.lines = [];
      this.checkDefinitionSize(def[1], definition);
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
        `'${clip(word)}' is not implemented by halo; line ignored`,
        word.startsWith('~LST') ? 'expand the list by hand or use ~SEQ' : undefined,
      );
      return;
    }
    if (c.s.includes('$')) {
      const expanded = this.substitute(c);
      if (expanded) {
        for (const line of expanded) {
          const t = trimChars(line);
          if (t.s.length > 0) this.logicalLine(t, false, depth + 1);
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

  /**
   * Replaces $NAME and ${NAME} as keepalived's replace_param does; returns undefined when nothing was
   * replaced. The replacement is scanned again, so a definition may use another; one that uses itself is
   * stopped by the per-line bounds. A multi-line definition at the end of the line adds lines.
   */
  private substitute(line: Chars): Chars[] | undefined {
    let c = line;
    let extra: Chars[] = [];
    let found = false;
    let count = 0;
    let i = c.s.indexOf('$');
    while (i >= 0 && i + 1 < c.s.length) {
      const ref = this.reference(c, i);
      if (!ref) {
        i = c.s.indexOf('$', i + 1);
        continue;
      }
      found = true;
      if (++count > this.limits.maxSubstitutionsPerLine) {
        this.limitReached(
          posAt(line, line.s.indexOf('$')),
          `more than ${this.limits.maxSubstitutionsPerLine} $NAME replacements on one line`,
          'does a definition refer to itself?',
        );
      }
      const col = c.cols[i];
      const fill = (s: string): Chars => ({
        s,
        cols: new Array(s.length).fill(col),
        file: c.file,
        line: c.line,
      });
      const [first, ...rest] = ref.value.length > 0 ? ref.value : [''];
      c = concat(concat(slice(c, 0, i), fill(first)), slice(c, ref.end));
      if (c.s.length > this.limits.maxLineLength) {
        this.limitReached(
          posAt(line, line.s.indexOf('$')),
          `replacing $NAME makes this line longer than ${this.limits.maxLineLength} characters`,
          'does a definition refer to itself?',
        );
      }
      if (rest.length > 0) {
        // Multi-line: the first line replaces the reference; the others follow as lines of their own.
        extra = rest.map(fill).concat(extra);
      }
      // keepalived stops replacing once a value starts a ~SEQ/~LST (the line is then expanded as that).
      if (first.trimStart().startsWith('~')) break;
      i = c.s.indexOf('$', i);
    }
    if (!found) return undefined;
    return [c, ...extra];
  }

  /**
   * The definition referred to at `c.s[i] === '$'`, with keepalived's rules (find_definition): `$NAME` must
   * be followed by a blank, ',', ')' or the end of the line; `${NAME}` may be followed by anything and may
   * carry parameters (`${_RANDOM 1 10}`, `${_ENV HOME}`); a multi-line definition only at the end of the line.
   */
  private reference(c: Chars, i: number): { value: string[]; end: number } | undefined {
    const s = c.s;
    const braces = s[i + 1] === '{';
    let p = braces ? i + 2 : i + 1;
    if (!NAME_START.test(s[p] ?? '')) return undefined;
    const nameStart = p;
    while (p < s.length && NAME_CHAR.test(s[p])) p++;
    const name = s.slice(nameStart, p);
    let params: string[] = [];
    let end: number;
    if (braces) {
      const close = s.indexOf('}', p);
      if (close < 0) return undefined;
      const paramText = s.slice(p, close);
      if (paramText.length > 0) {
        if (!/^([ \t]+[A-Za-z0-9_]+)+$/.test(paramText)) return undefined;
        params = paramText.trim().split(/[ \t]+/);
      }
      end = close + 1;
    } else {
      const next = s[p];
      if (next !== undefined && next !== ' ' && next !== '\t' && next !== ',' && next !== ')') {
        if (this.defs.has(name) || (BUILTINS[name] && name !== '_ENV')) {
          this.opts.sink.warning(
            posAt(c, i),
            `'$${name}' is not replaced here: keepalived replaces $NAME only before a blank, ',' or ')'`,
            `write '\${${name}}${clip(s.slice(p, p + 8), 8)}'`,
          );
        }
        return undefined;
      }
      end = p;
    }
    const atEndOfLine = end === s.length;
    const userDef = this.defs.get(name);
    if (userDef) {
      if (params.length > 0) return undefined;
      if (userDef.multiline && !atEndOfLine) return undefined;
      return { value: userDef.lines, end };
    }
    const builtin = BUILTINS[name];
    if (!builtin) return undefined;
    const [minParams, maxParams, numbersOnly] = builtin;
    if (params.length > 0 && maxParams === 0) return undefined;
    const pos = posAt(c, i);
    if (numbersOnly && params.some((x) => !/^\d+$/.test(x))) {
      this.opts.sink.error(pos, `definition ${name} takes numbers only`);
      return { value: [''], end };
    }
    if (params.length < minParams || params.length > maxParams) {
      this.opts.sink.error(
        pos,
        `definition ${name} takes ${minParams === maxParams ? minParams : `${minParams} to ${maxParams}`} parameter${maxParams === 1 ? '' : 's'}, got ${params.length}`,
      );
      return { value: [''], end };
    }
    return { value: [this.builtinValue(name, params, c.file, pos)], end };
  }

  private builtinValue(name: string, params: string[], file: string, pos: Position): string {
    switch (name) {
      case '_PWD':
        // keepalived changes into the directory of the file it reads, then getcwd(): the real directory.
        return safeRealpath(dirname(resolve(file)));
      case '_INSTANCE':
        return this.opts.configId ?? '';
      case '_RANDOM': {
        let min = params[0] !== undefined ? Number(params[0]) : 0;
        const max = params[1] !== undefined ? Number(params[1]) : 32767;
        if (min > max) {
          this.opts.sink.error(pos, `\${_RANDOM}: min ${min} exceeds max ${max}, using ${max}`);
          min = max;
        }
        const r = (this.opts.random ?? Math.random)();
        return String(min + Math.min(max - min, Math.floor(r * (max - min + 1))));
      }
      case '_ENV':
        return (this.opts.env ?? process.env)[params[0]] ?? '';
      case '_HASH':
        return '#';
      case '_BANG':
        return '!';
      default:
        return '';
    }
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
    const paramsChars: Chars = { ...c, s: m[2], cols: new Array(m[2].length).fill(c.cols[0]) };
    const paramsText = m[2].includes('$') ? this.substitute(paramsChars) : undefined;
    const params = (paramsText ? paramsText.map((p) => p.s).join('') : m[2]).split(',').map((p) => p.trim());
    const variable = params[0];
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable ?? '')) {
      bad(`'${clip(variable ?? '')}' is not a variable name`);
      return;
    }
    const texts = params.slice(1);
    if (texts.length < 1 || texts.length > 3 || texts.some((t) => !/^[-+]?\d+$/.test(t))) {
      bad('expected 1 to 3 integer parameters after the variable');
      return;
    }
    const nums = texts.map(Number);
    if (nums.some((n) => !Number.isSafeInteger(n))) {
      bad(`numbers must be within +/-${Number.MAX_SAFE_INTEGER}`);
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
    // Counted, not stepped: start + k*step never gets stuck where doubles stop changing (2^53).
    const count = Math.floor(Math.abs(end - start) / Math.abs(step)) + 1;
    if (count > this.limits.maxSeqItems) {
      this.opts.sink.error(
        posAt(c, 0),
        `invalid ~SEQ: ${count} values, more than ${this.limits.maxSeqItems}`,
      );
      return;
    }
    const textStart = c.s.length - m[3].length;
    const body = slice(c, textStart);
    for (let k = 0; k < count; k++) {
      const v = start + k * step;
      const value = hex ? v.toString(16) : String(v);
      this.defs.set(variable, { lines: [value], multiline: false, size: value.length, pos: posAt(c, 0) });
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
    if (this.includeStack.length >= this.limits.maxIncludeDepth) {
      sink.error(at, `include nesting deeper than ${this.limits.maxIncludeDepth} files`);
      return;
    }
    // keepalived: "Config files missing" and it runs on without them. The file is on the director, so
    // this is a host check: a warning when checking elsewhere, an error when halo run starts.
    const missing = (what: string) => {
      const msg = `${what}; keepalived skips it ("Config files missing") and runs without it`;
      if (this.opts.hostChecks === 'error')
        sink.error(at, msg, 'halo run refuses a config with a part missing');
      else sink.warning(at, msg, 'on this host');
    };
    let files: string[];
    if (hasGlobChars(full)) {
      const problem = globSyntaxProblem(full);
      if (problem) {
        sink.error(at, `bad include pattern '${clip(pattern)}': ${problem}`);
        return;
      }
      const result = expandGlob(full);
      if (result.error) {
        sink.error(at, `bad include pattern '${clip(pattern)}': ${result.error}`);
        return;
      }
      files = result.files;
      if (files.length === 0) {
        if (result.missingDirectory)
          missing(
            `include pattern '${clip(pattern)}': directory '${clip(result.missingDirectory)}' not found`,
          );
        else sink.warning(at, `include pattern '${clip(pattern)}' matches no files`);
        return;
      }
    } else {
      files = [full];
    }
    for (const f of files) {
      if (++this.filesRead > this.limits.maxIncludeFiles) {
        this.limitReached(at, `more than ${this.limits.maxIncludeFiles} files included`);
      }
      const identity = safeRealpath(f);
      if (this.includeStack.includes(identity)) {
        const chain = [...this.includeStack, identity].join(' -> ');
        sink.error(at, `include recursion: '${f}' is already being read (${chain})`);
        continue;
      }
      const read = this.readInclude(f);
      if ('problem' in read) {
        if (read.code === 'ENOENT' || read.code === 'ENOTDIR')
          missing(`include file '${clip(f, 200)}' not found`);
        else sink.error(at, `include file '${clip(f, 200)}' ${read.problem}`, read.hint);
        continue;
      }
      this.bytesRead += read.text.length;
      if (this.bytesRead > this.limits.maxTotalBytes) {
        this.limitReached(
          at,
          `the config and its includes are larger than ${formatBytes(this.limits.maxTotalBytes)}`,
        );
      }
      this.lexFile(read.text, f, identity);
    }
  }

  private readInclude(f: string): ReturnType<typeof readConfigFileSync> {
    if (!this.readFile) return readConfigFileSync(f, this.limits.maxFileBytes);
    try {
      return { text: this.readFile(f) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { problem: code === 'ENOENT' ? 'not found' : `cannot be read: ${String(err)}`, code };
    }
  }

  /** Splits a logical line into words and braces (keepalived: braces split outside double quotes). */
  private tokenise(c: Chars): void {
    if (this.lines.length >= this.limits.maxLines) {
      this.limitReached(posAt(c, 0), `the config expands to more than ${this.limits.maxLines} lines`);
    }
    const tokens: Token[] = [];
    let i = 0;
    const n = c.s.length;
    let invisibleReported = false;
    /** keepalived splits on space and tab only: a look-alike blank becomes part of a word. */
    const isInvisible = (ch: string): boolean => {
      if (!INVISIBLE_CHARS.has(ch)) return false;
      if (!invisibleReported) {
        invisibleReported = true;
        const col = posAt(c, i).col;
        this.opts.sink.error(
          posAt(c, i),
          `invisible character ${describeChar(ch)} at column ${col}: keepalived does not read it as a blank, so it becomes part of a word`,
          'replace it with an ordinary space (it often comes with text copied from a web page)',
        );
      }
      return true;
    };
    while (i < n) {
      const ch = c.s[i];
      if (ch === ' ' || ch === '\t' || isInvisible(ch)) {
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
        if (cur === '{' || cur === '}') break;
        if (INVISIBLE_CHARS.has(cur)) break;
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
  // Throws a SyntaxError for a range such as [z-a]; expandGlob turns it into a message.
  return new RegExp(`${re}$`);
}

export interface GlobResult {
  files: string[];
  /** Why the pattern cannot be used (e.g. a reversed range [z-a]). */
  error?: string;
  /** A directory the pattern needs does not exist (keepalived: "Config files missing"). */
  missingDirectory?: string;
}

/** A small POSIX-style glob (no `**`), sorted like glob(3); hidden files only match a leading '.'. */
export function expandGlob(pattern: string): GlobResult {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s, i) => s.length > 0 || i === 0);
  let bases = [absolute ? '/' : segments[0] === '' ? '.' : ''];
  const rest = absolute ? segments.slice(1) : segments;
  let missingDirectory: string | undefined;
  for (let k = 0; k < rest.length; k++) {
    const seg = rest[k];
    const next: string[] = [];
    let re: RegExp | undefined;
    if (hasGlobChars(seg)) {
      try {
        re = segmentRegex(seg);
      } catch {
        return {
          files: [],
          error: `'${seg}' is not a valid pattern (a range such as [z-a] runs backwards?)`,
        };
      }
    }
    for (const b of bases) {
      if (!re) {
        const candidate = b === '' ? seg : join(b, seg);
        try {
          statSync(candidate);
          next.push(candidate);
        } catch {
          if (k < rest.length - 1) missingDirectory ??= candidate;
        }
        continue;
      }
      let entries: string[] = [];
      try {
        entries = readdirSync(b === '' ? '.' : b);
      } catch {
        missingDirectory ??= b;
        continue;
      }
      for (const e of entries.sort()) {
        if (e.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(e)) next.push(b === '' ? e : join(b, e));
      }
    }
    bases = next;
  }
  const files = bases.filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
  return files.length === 0 && missingDirectory ? { files, missingDirectory } : { files };
}
