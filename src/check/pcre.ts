/**
 * keepalived's HTTP_GET `regex` is a PCRE2 pattern (check_http.c compiles it
 * with pcre2_compile and the regex_options flags); halo runs it as a JS
 * RegExp. This module translates one into the other when the plan is built,
 * so the checker only calls `exec`, and so `config check` can say exactly
 * what does not carry over.
 *
 * The translation keeps PCRE2's meaning (newline = LF, the 8-bit library
 * keepalived uses, the subject being the body's bytes) rather than JS's:
 *  - `.` is `[^\n]` (JS also stops at \r, \u2028, \u2029), `[\s\S]` with dotall;
 *  - `^` / `$` are spelled out: `$` also matches before a final newline unless
 *    dollar_endonly; in multiline mode they work at LF only, and `^` does not
 *    match after a newline that ends the subject unless alt_circumflex;
 *  - `\s` is PCRE2's ASCII set `[\t-\r ]` (JS's also has \xA0 and Unicode
 *    spaces), `\h`, `\v`, `\R`, `\A`, `\z`, `\Z`, `\Q..\E`, `\x{..}`, `\o{..}`,
 *    `\e`, `\a`, `\g{N}`, `\k{name}`, `(?P<n>..)`, `(?#..)`, POSIX classes
 *    `[[:alpha:]]` and leading option settings `(?i)` are rewritten;
 *  - extended, ungreedy, no_auto_capture and allow_empty_class are applied
 *    to the pattern text; caseless is the `i` flag; utf and ucp add `u`
 *    (ucp makes \d, \w, \s, \b Unicode-aware, spelled with \p{..}, which also
 *    holds for Latin-1 bytes without utf, as PCRE2 treats bytes as code points);
 *  - firstline is returned for the checker to apply (it needs the subject).
 * Constructs JS has no equivalent for (atomic groups, possessive
 * quantifiers, recursion, conditionals, backtracking verbs, \K, \G, inline
 * option changes after the start) are errors naming the construct. The
 * options that only tune PCRE2's optimiser or forbid constructs JS rejects
 * anyway (auto_callout, no_auto_possess, no_dotstar_anchor,
 * no_start_optimize, use_offset_limit, never_ucp, never_utf,
 * never_backslash_c, alt_verbnames, dupnames) change nothing that matches.
 * What still differs is returned as warnings: caseless folding beyond ASCII
 * without utf (JS folds Latin-1 letters, PCRE2's default tables do not), and
 * backreferences to groups that did not take part (JS matches them as
 * empty; PCRE2 fails unless match_unset_backref).
 */
import type { Pcre2Option } from '../config/model.js';

export interface TranslatedRegex {
  /** JS RegExp source. */
  source: string;
  /** JS flags: 'i' and/or 'u' ('g' is the checker's). */
  flags: string;
  /** PCRE2_FIRSTLINE: the match must start at or before the first LF after the start offset. */
  firstLine: boolean;
  /** utf: match against the body decoded as UTF-8; otherwise one character per byte (latin1). */
  utf8: boolean;
  /** Where the JS RegExp can still behave differently from PCRE2, one sentence each. */
  warnings: string[];
}

export class PcreTranslationError extends Error {}

/** POSIX classes inside brackets (PCRE2's ASCII definitions). */
const POSIX: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  ascii: '\\x00-\\x7f',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t-\\r ',
  upper: 'A-Z',
  word: 'a-zA-Z0-9_',
  xdigit: '0-9A-Fa-f',
};

/** Characters that need a backslash to be literal in a JS pattern (valid escapes with the u flag too). */
const SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
/** The same inside a character class (u-mode allows escaping '-' there). */
const CLASS_SYNTAX = new Set(['\\', ']', '[', '^', '-']);

const ANY = '[\\s\\S]';
const START = '(?<![\\s\\S])';
const END = '(?![\\s\\S])';

interface Mode {
  caseless: boolean;
  multiline: boolean;
  dotall: boolean;
  extended: boolean;
  ungreedy: boolean;
  dollarEndonly: boolean;
  noAutoCapture: boolean;
  allowEmptyClass: boolean;
  altCircumflex: boolean;
  altBsux: boolean;
  utf: boolean;
  ucp: boolean;
}

function hex2(n: number): string {
  return `\\x${n.toString(16).padStart(2, '0')}`;
}

/** A class member set ("0-9", "\\p{Nd}") and whether the escape meant its complement. */
interface ShortSet {
  set: string;
  negated: boolean;
}

class Translator {
  private i = 0;
  private hasBackref = false;
  private groups = 0;
  private maxBackref = 0;
  constructor(
    private readonly p: string,
    private readonly m: Mode,
  ) {}

  get backrefs(): boolean {
    return this.hasBackref;
  }

  private fail(what: string, at = this.i): never {
    throw new PcreTranslationError(`${what} at offset ${at} has no JS RegExp equivalent`);
  }

  private bad(what: string, at = this.i): never {
    throw new PcreTranslationError(`${what} at offset ${at}`);
  }

  private get unicodeFlag(): boolean {
    return this.m.utf || this.m.ucp;
  }

  /**
   * One character of the pattern as JS pattern text. Without utf, PCRE2 sees
   * the pattern's bytes, so a non-ASCII character written in the config is its
   * UTF-8 bytes (the body is decoded byte for byte); an escape (\xe9) is one byte.
   */
  private literal(cp: number, inClass: boolean, fromEscape: boolean): string {
    if (!this.m.utf && cp >= 0x80) {
      if (fromEscape) {
        if (cp > 0xff) this.bad(`character value 0x${cp.toString(16)} needs the utf option`);
        return hex2(cp);
      }
      return [...Buffer.from(String.fromCodePoint(cp), 'utf8')].map(hex2).join('');
    }
    const ch = String.fromCodePoint(cp);
    if ((inClass ? CLASS_SYNTAX : SYNTAX).has(ch)) return `\\${ch}`;
    if (cp < 0x20 || cp === 0x7f) return hex2(cp);
    if (cp > 0xffff) return `\\u{${cp.toString(16)}}`;
    if (cp > 0x7f) return `\\u${cp.toString(16).padStart(4, '0')}`;
    return ch;
  }

  /** \d \w \s \h \v and their capitals, as class members (PCRE2's sets, not JS's). */
  private shorthand(c: string): ShortSet | undefined {
    const ucp = this.m.ucp;
    const negated = c >= 'A' && c <= 'Z';
    switch (c.toLowerCase()) {
      case 'd':
        return { set: ucp ? '\\p{Nd}' : '0-9', negated };
      case 'w':
        return { set: ucp ? '\\p{L}\\p{N}_' : 'a-zA-Z0-9_', negated };
      case 's':
        return { set: ucp ? '\\t-\\r\\p{Z}' : '\\t-\\r ', negated };
      case 'h':
        return {
          set: this.m.utf ? '\\t \\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000' : '\\t \\xa0',
          negated,
        };
      case 'v':
        return { set: `\\n-\\r\\x85${this.m.utf ? '\\u2028\\u2029' : ''}`, negated };
      default:
        return undefined;
    }
  }

  translate(): string {
    this.leadingOptions();
    const out = this.sequence();
    if (this.i < this.p.length) this.bad('unmatched )');
    if (this.maxBackref > this.groups) {
      throw new PcreTranslationError(`reference to non-existent group ${this.maxBackref}`);
    }
    return out;
  }

  /** Leading option settings (?i) (?s) (?m) (?x) (?U) (?n) apply to the whole pattern. */
  private leadingOptions(): void {
    for (;;) {
      const m = /^\(\?([imsxUJn]*)(?:-([imsxUJn]*))?\)/.exec(this.p.slice(this.i));
      if (!m || (m[1] === '' && m[2] === undefined)) return;
      for (const [letters, on] of [
        [m[1], true],
        [m[2] ?? '', false],
      ] as const) {
        for (const l of letters) {
          if (l === 'i') this.m.caseless = on;
          else if (l === 'm') this.m.multiline = on;
          else if (l === 's') this.m.dotall = on;
          else if (l === 'x') this.m.extended = on;
          else if (l === 'U') this.m.ungreedy = on;
          else if (l === 'n') this.m.noAutoCapture = on;
          // J (dupnames) changes nothing JS can do.
        }
      }
      this.i += m[0].length;
    }
  }

  /** Atoms until the end of the pattern or a ')' (left for the caller). */
  private sequence(): string {
    let out = '';
    while (this.i < this.p.length && this.p[this.i] !== ')') out += this.atom();
    return out;
  }

  private skipExtended(): boolean {
    if (!this.m.extended) return false;
    const c = this.p[this.i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      this.i++;
      return true;
    }
    if (c === '#') {
      while (this.i < this.p.length && this.p[this.i] !== '\n') this.i++;
      return true;
    }
    return false;
  }

  private atom(): string {
    if (this.skipExtended()) return '';
    const start = this.i;
    const c = this.p[this.i];
    let text: string;
    let quantifiable = true;
    switch (c) {
      case '\\':
        ({ text, quantifiable } = this.escape());
        break;
      case '[':
        text = this.charClass();
        break;
      case '(':
        ({ text, quantifiable } = this.group());
        break;
      case '.':
        this.i++;
        text = this.m.dotall ? ANY : '[^\\n]';
        break;
      case '^':
        this.i++;
        quantifiable = false;
        if (!this.m.multiline) text = START;
        else if (this.m.altCircumflex) text = `(?:${START}|(?<=\\n))`;
        else text = `(?:${START}|(?<=\\n)(?=${ANY}))`;
        break;
      case '$':
        this.i++;
        quantifiable = false;
        if (this.m.multiline) text = `(?=\\n|${END})`;
        else if (this.m.dollarEndonly) text = END;
        else text = `(?=\\n?${END})`;
        break;
      case '|':
        this.i++;
        quantifiable = false;
        text = '|';
        break;
      case '*':
      case '+':
      case '?':
        this.bad(`quantifier '${c}' does not follow a repeatable item`);
        break;
      case '{':
        if (this.quantifierAt(this.i)) this.bad("quantifier '{' does not follow a repeatable item");
        this.i++;
        text = '\\{';
        break;
      default: {
        const cp = this.p.codePointAt(this.i) as number;
        this.i += cp > 0xffff ? 2 : 1;
        text = this.literal(cp, false, false);
        // A multi-byte character without utf is several atoms in PCRE2: a quantifier repeats the last byte.
      }
    }
    if (!quantifiable) return text;
    return text + this.quantifier(start);
  }

  /** `{n}`, `{n,}`, `{n,m}` at position i (PCRE2 10.42 reads anything else as literal text). */
  private quantifierAt(i: number): string | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(i));
    return m ? m[0] : undefined;
  }

  private quantifier(atomStart: number): string {
    while (this.skipExtended()) {
      // extended mode: blanks and comments between an atom and its quantifier are ignored
    }
    const c = this.p[this.i];
    let q: string | undefined;
    if (c === '*' || c === '+' || c === '?') q = c;
    else if (c === '{') q = this.quantifierAt(this.i);
    if (!q) return '';
    this.i += q.length;
    if (this.p[this.i] === '+') this.fail('possessive quantifier');
    let lazy = false;
    if (this.p[this.i] === '?') {
      lazy = true;
      this.i++;
    }
    if (this.m.ungreedy) lazy = !lazy;
    const next = this.p[this.i];
    if (next === '*' || next === '+' || next === '?' || (next === '{' && this.quantifierAt(this.i))) {
      this.bad('a quantifier cannot follow a quantifier', atomStart);
    }
    return q + (lazy ? '?' : '');
  }

  private escape(): { text: string; quantifiable: boolean } {
    const at = this.i;
    const c = this.p[this.i + 1];
    if (c === undefined) this.bad('\\ at end of pattern', at);
    this.i += 2;
    const sh = this.shorthand(c);
    if (sh) return { text: `[${sh.negated ? '^' : ''}${sh.set}]`, quantifiable: true };
    switch (c) {
      case 'A':
        return { text: START, quantifiable: false };
      case 'z':
        return { text: END, quantifiable: false };
      case 'Z':
        return { text: `(?=\\n?${END})`, quantifiable: false };
      case 'b':
      case 'B': {
        if (!this.m.ucp) return { text: `\\${c}`, quantifiable: false };
        const w = '[\\p{L}\\p{N}_]';
        const text =
          c === 'b' ? `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))` : `(?:(?<=${w})(?=${w})|(?<!${w})(?!${w}))`;
        return { text, quantifiable: false };
      }
      case 'R':
        return {
          text: `(?:\\r\\n|[\\n-\\r\\x85${this.m.utf ? '\\u2028\\u2029' : ''}])`,
          quantifiable: true,
        };
      case 'Q': {
        const end = this.p.indexOf('\\E', this.i);
        const lit = end < 0 ? this.p.slice(this.i) : this.p.slice(this.i, end);
        this.i = end < 0 ? this.p.length : end + 2;
        let text = '';
        for (const ch of lit) text += this.literal(ch.codePointAt(0) as number, false, false);
        // Quoted text is literal characters: a quantifier after \E repeats the last one, as in JS.
        return { text, quantifiable: text.length > 0 };
      }
      case 'E':
        return { text: '', quantifiable: false };
      case 'K':
        return this.fail('\\K (reset match start)', at);
      case 'G':
        return this.fail('\\G', at);
      case 'X':
        return this.fail('\\X (extended grapheme cluster)', at);
      case 'C':
        return this.fail('\\C (one code unit)', at);
      case 'N':
        if (this.p[this.i] === '{') this.fail('\\N{...}', at);
        return { text: '[^\\n]', quantifiable: true };
      case 'p':
      case 'P':
        return { text: this.property(c, at), quantifiable: true };
      default:
        return { text: this.valueEscape(c, at, false), quantifiable: true };
    }
  }

  /** \p{..} / \P{..} / \pL: JS needs the u flag for them, which utf and ucp give. */
  private property(c: string, at: number): string {
    if (!this.unicodeFlag) this.bad(`\\${c} needs the utf or ucp option in halo`, at);
    const m = /^\{(\^?)([A-Za-z_&]+)\}|^([A-Z])/.exec(this.p.slice(this.i));
    if (!m) this.bad(`malformed \\${c}`, at);
    this.i += m[0].length;
    const name = (m[2] ?? m[3]).replace(/&$/, '');
    const negate = (c === 'P') !== (m[1] === '^');
    const text = `\\${negate ? 'P' : 'p'}{${name === 'Any' ? 'Any' : name}}`;
    try {
      new RegExp(text, 'u');
    } catch {
      this.fail(`Unicode property \\${c}{${name}}`, at);
    }
    return name === 'Any' ? (negate ? '[]' : ANY) : text;
  }

  /** Escapes that stand for one character or a backreference (shared by classes and the top level). */
  private valueEscape(c: string, at: number, inClass: boolean): string {
    const lit = (cp: number) => this.literal(cp, inClass, true);
    switch (c) {
      case 't':
        return '\\t';
      case 'n':
        return '\\n';
      case 'r':
        return '\\r';
      case 'f':
        return '\\f';
      case 'e':
        return '\\x1b';
      case 'a':
        return '\\x07';
      case 'c': {
        const x = this.p[this.i];
        if (!x || !/[\x20-\x7e]/.test(x)) this.bad('\\c needs a printable character', at);
        this.i++;
        return lit(x.toUpperCase().charCodeAt(0) ^ 0x40);
      }
      case 'x': {
        if (this.p[this.i] === '{' && !this.m.altBsux) {
          const m = /^\{([0-9a-fA-F]+)\}/.exec(this.p.slice(this.i));
          if (!m) this.bad('malformed \\x{...}', at);
          this.i += m[0].length;
          return lit(Number.parseInt(m[1], 16));
        }
        const m = /^[0-9a-fA-F]{0,2}/.exec(this.p.slice(this.i)) as RegExpExecArray;
        if (this.m.altBsux && m[0].length !== 2) return 'x';
        this.i += m[0].length;
        return lit(m[0] ? Number.parseInt(m[0], 16) : 0);
      }
      case 'o': {
        const m = /^\{([0-7]+)\}/.exec(this.p.slice(this.i));
        if (!m) this.bad('malformed \\o{...}', at);
        this.i += m[0].length;
        return lit(Number.parseInt(m[1], 8));
      }
      case 'u':
      case 'U': {
        if (!this.m.altBsux) this.bad(`PCRE2 does not support \\${c} (without alt_bsux)`, at);
        if (c === 'U') return 'U';
        const m = /^[0-9a-fA-F]{4}/.exec(this.p.slice(this.i));
        if (!m) return 'u';
        this.i += 4;
        return lit(Number.parseInt(m[0], 16));
      }
      case '0': {
        const m = /^[0-7]{0,2}/.exec(this.p.slice(this.i)) as RegExpExecArray;
        this.i += m[0].length;
        return lit(Number.parseInt(`0${m[0]}`, 8));
      }
      case 'g': {
        if (inClass) this.bad('\\g in a character class', at);
        const m = /^(?:\{(-?\d+|[A-Za-z_]\w*)\}|(-?\d+))/.exec(this.p.slice(this.i));
        if (!m) this.bad('malformed \\g', at);
        this.i += m[0].length;
        const ref = m[1] ?? m[2];
        if (ref.startsWith('-')) this.fail('relative backreference \\g{-n}', at);
        this.hasBackref = true;
        if (!/^\d+$/.test(ref)) return `\\k<${ref}>`;
        this.maxBackref = Math.max(this.maxBackref, Number(ref));
        return `(?:\\${Number(ref)})`;
      }
      case 'k': {
        if (inClass) this.bad('\\k in a character class', at);
        const m = /^(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|\{([A-Za-z_]\w*)\})/.exec(this.p.slice(this.i));
        if (!m) this.bad('malformed \\k', at);
        this.i += m[0].length;
        this.hasBackref = true;
        return `\\k<${m[1] ?? m[2] ?? m[3]}>`;
      }
      default: {
        if (c >= '1' && c <= '9') {
          if (inClass) {
            // In a class, \1..\7 start an octal number in PCRE2.
            if (c > '7') this.bad(`\\${c} in a character class`, at);
            const m = /^[0-7]{0,2}/.exec(this.p.slice(this.i)) as RegExpExecArray;
            this.i += m[0].length;
            return lit(Number.parseInt(c + m[0], 8));
          }
          const m = /^\d*/.exec(this.p.slice(this.i)) as RegExpExecArray;
          const n = Number(c + m[0]);
          // PCRE2: \10 and up are octal unless that many groups came before (and 8, 9 are never octal).
          if (n >= 10 && c < '8' && n > this.groups) {
            const o = /^[0-7]{0,2}/.exec(this.p.slice(this.i)) as RegExpExecArray;
            this.i += o[0].length;
            return lit(Number.parseInt(c + o[0], 8));
          }
          this.i += m[0].length;
          this.hasBackref = true;
          this.maxBackref = Math.max(this.maxBackref, Number(c + m[0]));
          // (?:\N): a digit after the reference in the translation can never extend its number.
          return `(?:\\${c}${m[0]})`;
        }
        if (/[A-Za-z]/.test(c)) this.bad(`unrecognized escape \\${c}`, at);
        // Any other escaped character is itself.
        const cp = this.p.codePointAt(this.i - 1) as number;
        if (cp > 0xffff) this.i++;
        return this.literal(cp, inClass, false);
      }
    }
  }

  /**
   * [...]: members, ranges, POSIX classes, shorthands. JS cannot put a negated
   * set (\S, \W, \D, \H, \V) inside a class, so those become alternatives:
   * [a\S] -> (?:[a]|[^\t-\r ]), [^a\S] -> (?:(?![a])[\t-\r ]).
   */
  private charClass(): string {
    const at = this.i;
    this.i++;
    let negated = false;
    if (this.p[this.i] === '^') {
      negated = true;
      this.i++;
    }
    let members = '';
    const complements: string[] = [];
    if (this.p[this.i] === ']') {
      if (this.m.allowEmptyClass) {
        this.i++;
        return negated ? ANY : '[]';
      }
      // PCRE2: a ']' right after '[' or '[^' is a literal.
      members += '\\]';
      this.i++;
    }
    for (;;) {
      if (this.i >= this.p.length) this.bad('missing terminating ] for character class', at);
      const c = this.p[this.i];
      if (c === ']') {
        this.i++;
        break;
      }
      if (c === '[') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.p.slice(this.i));
        if (m) {
          const set = POSIX[m[2]];
          if (!set) this.bad(`unknown POSIX class [:${m[2]}:]`, this.i);
          if (m[1]) complements.push(set);
          else members += set;
          this.i += m[0].length;
          continue;
        }
      }
      const lo = this.classMember();
      if (lo.set !== undefined) {
        if (lo.set.negated) complements.push(lo.set.set);
        else members += lo.set.set;
        continue;
      }
      members += lo.text;
      // A range: '-' between two single characters (before ']' or a set it is a literal '-').
      if (this.p[this.i] === '-' && this.p[this.i + 1] !== undefined && this.p[this.i + 1] !== ']') {
        const save = this.i;
        this.i++;
        if (this.p[this.i] === '[' && /^\[:\^?[a-z]+:\]/.test(this.p.slice(this.i))) {
          this.i = save;
          continue;
        }
        const hi = this.classMember();
        if (hi.set !== undefined) {
          members += '\\-';
          if (hi.set.negated) complements.push(hi.set.set);
          else members += hi.set.set;
          continue;
        }
        if (!lo.single || !hi.single) this.bad('range out of order or not between characters in class', save);
        if (lo.single > hi.single) this.bad('range out of order in character class', save);
        members += `-${hi.text}`;
      }
    }
    if (complements.length === 0) return `[${negated ? '^' : ''}${members}]`;
    if (!negated) {
      const parts = [...(members ? [`[${members}]`] : []), ...complements.map((s) => `[^${s}]`)];
      return `(?:${parts.join('|')})`;
    }
    // [^ a \S \D]: not a, and in every complemented set.
    const guard = members ? `(?![${members}])` : '';
    const last = complements.pop() as string;
    return `(?:${guard}${complements.map((s) => `(?=[${s}])`).join('')}[${last}])`;
  }

  /** One class member: a character (text + its code point for range checks) or a shorthand set. */
  private classMember(): { text: string; single?: number; set?: ShortSet } {
    const c = this.p[this.i];
    if (c === '\\') {
      const e = this.p[this.i + 1];
      if (e === undefined) this.bad('\\ at end of pattern', this.i);
      const sh = this.shorthand(e);
      if (sh) {
        this.i += 2;
        return { text: '', set: sh };
      }
      if (e === 'p' || e === 'P') {
        const at = this.i;
        this.i += 2;
        const text = this.property(e, at);
        if (text === ANY || text === '[]') this.fail(`\\${e}{Any} inside a character class`, at);
        return { text: '', set: { set: text, negated: false } };
      }
      if (e === 'Q') {
        const end = this.p.indexOf('\\E', this.i + 2);
        const lit = end < 0 ? this.p.slice(this.i + 2) : this.p.slice(this.i + 2, end);
        this.i = end < 0 ? this.p.length : end + 2;
        let text = '';
        for (const ch of lit) text += this.literal(ch.codePointAt(0) as number, true, false);
        return { text };
      }
      if (e === 'E') {
        this.i += 2;
        return { text: '' };
      }
      if (e === 'b') {
        this.i += 2;
        return { text: '\\x08', single: 8 };
      }
      if (
        e === 'R' ||
        e === 'X' ||
        e === 'B' ||
        e === 'A' ||
        e === 'z' ||
        e === 'Z' ||
        e === 'G' ||
        e === 'K'
      ) {
        this.bad(`\\${e} is not allowed in a character class`, this.i);
      }
      const at = this.i;
      this.i += 2;
      const text = this.valueEscape(e, at, true);
      return { text, single: this.codeOf(text) };
    }
    const cp = this.p.codePointAt(this.i) as number;
    this.i += cp > 0xffff ? 2 : 1;
    const text = this.literal(cp, true, false);
    // Without utf a multi-byte character is several bytes: only its last byte can start a range.
    return { text, single: this.codeOf(text) };
  }

  /** The code point a one-character translation stands for (for range order checks). */
  private codeOf(text: string): number | undefined {
    const all = [...text.matchAll(/\\x([0-9a-f]{2})|\\u\{([0-9a-f]+)\}|\\u([0-9a-f]{4})|\\(.)|(.)/gsu)];
    const last = all.at(-1);
    if (!last) return undefined;
    const hex = last[1] ?? last[2] ?? last[3];
    if (hex) return Number.parseInt(hex, 16);
    const ch = last[4] ?? last[5];
    const named: Record<string, number> = { t: 9, n: 10, r: 13, f: 12 };
    return last[4] !== undefined && named[ch] !== undefined ? named[ch] : ch.codePointAt(0);
  }

  private group(): { text: string; quantifiable: boolean } {
    const at = this.i;
    const rest = this.p.slice(this.i);
    if (rest.startsWith('(*')) this.fail('backtracking verb or option (*...)', at);
    if (!rest.startsWith('(?')) {
      this.i++;
      if (!this.m.noAutoCapture) this.groups++;
      return { text: this.groupBody(this.m.noAutoCapture ? '(?:' : '(', at), quantifiable: true };
    }
    if (rest.startsWith('(?#')) {
      const end = this.p.indexOf(')', this.i);
      if (end < 0) this.bad('missing ) after (?# comment', at);
      this.i = end + 1;
      return { text: '', quantifiable: false };
    }
    const simple: Array<[string, boolean]> = [
      ['(?:', true],
      ['(?=', false],
      ['(?!', false],
      ['(?<=', false],
      ['(?<!', false],
    ];
    for (const [open, quantifiable] of simple) {
      if (rest.startsWith(open)) {
        this.i += open.length;
        // PCRE2 allows quantified assertions (as at most once); JS does not, so they are not quantifiable here.
        return { text: this.groupBody(open, at), quantifiable };
      }
    }
    const named = /^\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest);
    if (named) {
      this.i += named[0].length;
      this.groups++;
      return { text: this.groupBody(`(?<${named[1] ?? named[2]}>`, at), quantifiable: true };
    }
    const backref = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest);
    if (backref) {
      this.i += backref[0].length;
      this.hasBackref = true;
      return { text: `\\k<${backref[1]}>`, quantifiable: true };
    }
    if (rest.startsWith('(?>')) this.fail('atomic group (?>...)', at);
    if (rest.startsWith('(?|')) this.fail('branch reset group (?|...)', at);
    if (rest.startsWith('(?(')) this.fail('conditional group (?(...)...)', at);
    if (/^\(\?(?:R|[+-]?\d|&|P>)/.test(rest)) this.fail('recursion or subroutine call', at);
    if (rest.startsWith('(?C')) this.fail('callout (?C...)', at);
    if (/^\(\?\^?[imsxnUJ]*(?:-[imsxnUJ]*)?[:)]/.test(rest))
      this.fail('option setting inside the pattern', at);
    return this.bad('unrecognized character after (?', at);
  }

  private groupBody(open: string, at: number): string {
    const body = this.sequence();
    if (this.p[this.i] !== ')') this.bad('missing closing parenthesis', at);
    this.i++;
    return `${open}${body})`;
  }
}

/** Translate a keepalived regex (PCRE2 pattern + regex_options) to a JS RegExp; throws PcreTranslationError. */
export function translatePcre(pattern: string, options: readonly Pcre2Option[] = []): TranslatedRegex {
  const has = (o: Pcre2Option) => options.includes(o);
  const mode: Mode = {
    caseless: has('caseless'),
    multiline: has('multiline'),
    dotall: has('dotall'),
    extended: has('extended'),
    ungreedy: has('ungreedy'),
    dollarEndonly: has('dollar_endonly'),
    noAutoCapture: has('no_auto_capture'),
    allowEmptyClass: has('allow_empty_class'),
    altCircumflex: has('alt_circumflex'),
    altBsux: has('alt_bsux'),
    utf: has('utf'),
    ucp: has('ucp'),
  };
  const t = new Translator(pattern, mode);
  const source = t.translate();
  const flags = `${mode.caseless ? 'i' : ''}${mode.utf || mode.ucp ? 'u' : ''}`;
  try {
    new RegExp(source, `${flags}g`);
  } catch (err) {
    throw new PcreTranslationError(`JS RegExp rejects the translation: ${(err as Error).message}`);
  }
  const warnings: string[] = [];
  if (mode.caseless && !mode.utf && !mode.ucp && /[^\x00-\x7f]|\\x\{?[89a-fA-F]/.test(pattern)) {
    warnings.push(
      "caseless matching of non-ASCII characters: JS folds Latin-1 letters (é/É), PCRE2's default tables fold ASCII only",
    );
  }
  if (t.backrefs && !has('match_unset_backref')) {
    warnings.push(
      'a backreference to a group that did not take part matches the empty string in JS; PCRE2 fails it (unless match_unset_backref)',
    );
  }
  return { source, flags, firstLine: has('firstline'), utf8: mode.utf, warnings };
}
