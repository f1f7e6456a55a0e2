/**
 * Escaping for text that leaves halo on a line-oriented channel (the notify FIFOs, mail
 * subjects). A name comes from the config, and YAML (or a quoted keepalived.conf word)
 * can put a newline, a quote or a terminal escape in it: written raw, `vrrp_instance
 * "x\nINSTANCE \"VI_1\" FAULT 0"` would forge a FIFO line that a notify program acts on.
 *
 * keepalived 2.2.7 writes names raw (its parser cannot produce most of these characters);
 * halo writes every name that keepalived could have written exactly as keepalived does,
 * and escapes the rest with C-style escapes that the keepalived sample FIFO reader
 * (a shell `read` loop) passes through as plain text:
 *  - `\\` for a backslash, so the escaping can be undone without ambiguity;
 *  - `\n`, `\r`, `\t`, and `\xHH` for other C0 controls, DEL and C1 controls;
 *  - `\u2028` / `\u2029` for the Unicode line and paragraph separators;
 *  - in a quoted field, `\"` for a double quote;
 *  - in a bare (unquoted, space-separated) field, `\"`, and `\x20` for a space, so the
 *    field count of a line never changes.
 */

function escapeChar(ch: string, extra: ReadonlySet<string>): string {
  switch (ch) {
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    case '"':
      return extra.has(ch) ? '\\"' : ch;
    case ' ':
      return extra.has(ch) ? '\\x20' : ch;
    case '\u2028':
      return '\\u2028';
    case '\u2029':
      return '\\u2029';
  }
  const code = ch.charCodeAt(0);
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `\\x${code.toString(16).padStart(2, '0')}`;
  return ch;
}

// Characters some channel must escape; anything else is copied as is (fast path).
const NEEDS_ESCAPE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029" ]/;

function escapeWith(text: string, extra: ReadonlySet<string>): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  let out = '';
  for (const ch of text) out += escapeChar(ch, extra);
  return out;
}

const QUOTED = new Set(['"']);
const BARE = new Set(['"', ' ']);
const NONE = new Set<string>();

/** The inside of a `"..."` field: keepalived's `INSTANCE "VI_1" MASTER 100`. */
export function escapeQuoted(text: string): string {
  return escapeWith(text, QUOTED);
}

/** A space-separated field: keepalived's `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 UP`. */
export function escapeBare(text: string): string {
  return escapeWith(text, BARE);
}

/** Text for one header line (a mail subject): controls escaped, quotes and spaces kept. */
export function escapeLine(text: string): string {
  return escapeWith(text, NONE);
}

/** Undo escapeQuoted / escapeBare / escapeLine (for readers and tests). */
export function unescapeField(text: string): string {
  return text.replace(
    /\\(\\|n|r|t|"|x([0-9a-f]{2})|u(2028|2029))/g,
    (_m, what: string, hex?: string, u?: string) => {
      if (hex) return String.fromCharCode(Number.parseInt(hex, 16));
      if (u) return String.fromCharCode(Number.parseInt(u, 16));
      return ({ '\\': '\\', n: '\n', r: '\r', t: '\t', '"': '"' } as Record<string, string>)[what];
    },
  );
}
