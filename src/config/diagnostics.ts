import { escapeLine } from '../notify/escape.js';

/**
 * Diagnostics: one shape for every problem the config front end reports, in
 * either syntax, plus the "did you mean" machinery shared by both.
 */

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
}

/** A position in a config file (1-based line and column). */
export interface Position {
  file: string;
  line: number;
  col: number;
}

/**
 * `FILE:LINE:COL: error|warning: message (hint)`, the format compilers use, so editors can jump to it.
 * Always ONE line: a name from the config (a YAML instance name, a quoted word) may hold a newline or a
 * terminal escape, which would forge a second diagnostic or a log line; the file name, message and hint are
 * escaped as the notify FIFO escapes names (src/notify/escape.ts: `\n`, `\x1b`, `\\`, ...).
 */
export function formatDiagnostic(d: Diagnostic): string {
  const hint = d.hint ? ` (${escapeLine(d.hint)})` : '';
  return `${escapeLine(d.file)}:${d.line}:${d.col}: ${d.severity}: ${escapeLine(d.message)}${hint}`;
}

/** Collects diagnostics; `strict` turns "not implemented / obsolete" warnings into errors. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];
  /** Diagnostics beyond MAX_DIAGNOSTICS, counted (a 200,000-line mistake is not 200,000 messages). */
  private dropped = { errors: 0, warnings: 0, first: undefined as Position | undefined };
  private errorSeen = false;

  error(pos: Position, message: string, hint?: string): void {
    this.errorSeen = true;
    if (this.full('errors', pos)) return;
    this.items.push({ ...pickPos(pos), severity: 'error', message, ...(hint ? { hint } : {}) });
  }

  warning(pos: Position, message: string, hint?: string): void {
    if (this.full('warnings', pos)) return;
    this.items.push({ ...pickPos(pos), severity: 'warning', message, ...(hint ? { hint } : {}) });
  }

  private full(kind: 'errors' | 'warnings', pos: Position): boolean {
    if (this.items.length < MAX_DIAGNOSTICS) return false;
    this.dropped[kind]++;
    this.dropped.first ??= pickPos(pos);
    return true;
  }

  get hasErrors(): boolean {
    return this.errorSeen || this.items.some((d) => d.severity === 'error');
  }

  /** Sorted by file, line, column so output reads top to bottom; stable for equal positions. */
  sorted(): Diagnostic[] {
    const { errors, warnings, first } = this.dropped;
    const more: Diagnostic[] =
      first && errors + warnings > 0
        ? [
            {
              ...first,
              severity: errors > 0 ? 'error' : 'warning',
              message: `${errors + warnings} more problems from here on not shown (${errors} errors, ${warnings} warnings)`,
            },
          ]
        : [];
    return this.items
      .map((d, i) => ({ d, i }))
      .sort((a, b) => {
        if (a.d.file !== b.d.file) return a.d.file < b.d.file ? -1 : 1;
        return a.d.line - b.d.line || a.d.col - b.d.col || a.i - b.i;
      })
      .map((x) => x.d)
      .concat(more);
  }
}

/** More than this many diagnostics are counted, not listed. */
export const MAX_DIAGNOSTICS = 1000;

function pickPos(p: Position): Position {
  return { file: p.file, line: p.line, col: p.col };
}

/**
 * Optimal string alignment distance (Damerau-Levenshtein restricted): counts a
 * swap of two adjacent letters as one edit, which is the commonest typo.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < rows; i++) d[i][0] = i;
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[rows - 1][cols - 1];
}

const MAX_SUGGESTION_LENGTH = 64;

/**
 * The closest candidate to `word`, if it is close enough to be a plausible typo:
 * at most a third of the word's length in edits (min 1, max 3), or a
 * case-insensitive match (keepalived keywords are case-sensitive).
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  // No keyword is this long: a huge "word" (a pasted blob, a 1 MB line) is not a typo, and the edit
  // distance is quadratic in its length.
  if (word.length > MAX_SUGGESTION_LENGTH) return undefined;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    if (c.toLowerCase() === lower) return c;
    const dist = editDistance(lower, c.toLowerCase());
    if (dist < bestDistance || (dist === bestDistance && best !== undefined && c < best)) {
      best = c;
      bestDistance = dist;
    }
  }
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  return bestDistance <= limit ? best : undefined;
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const m = closestMatch(word, candidates);
  return m === undefined ? undefined : `did you mean '${m}'?`;
}
