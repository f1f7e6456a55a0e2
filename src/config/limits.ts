/**
 * Bounds on what the config front end will read and expand, and the one way
 * config files are read. A config comes from an operator, but also from a
 * template, a copy-paste or a broken deploy script; none of them may hang or
 * crash the daemon (a reload runs while VRRP holds the VIPs). Each limit, when
 * hit, is a located error and parsing stops there; the numbers are far above
 * any real keepalived.conf (keepalived itself cuts lines at 1023 bytes).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';

export interface ConfigLimits {
  /** Bytes of one file (main or included). */
  maxFileBytes: number;
  /** Bytes of all files read for one config (main + includes). */
  maxTotalBytes: number;
  /** Characters of one line, as written or after $NAME substitution. */
  maxLineLength: number;
  /** Files read for one config (main + includes). */
  maxIncludeFiles: number;
  /** Nesting of include within include. */
  maxIncludeDepth: number;
  /** Nesting of ~SEQ bodies and multi-line definitions expanding into further expansions. */
  maxExpansionDepth: number;
  /** $NAME replacements on one line (a definition that refers to itself never stops). */
  maxSubstitutionsPerLine: number;
  /** Characters of one $NAME=... definition (a multi-line definition included). */
  maxDefinitionBytes: number;
  /** Values of one ~SEQ. */
  maxSeqItems: number;
  /** Lines the lexer produces for one config, after ~SEQ and multi-line definitions. */
  maxLines: number;
}

export const CONFIG_LIMITS: Readonly<ConfigLimits> = Object.freeze({
  maxFileBytes: 16 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxLineLength: 64 * 1024,
  maxIncludeFiles: 1000,
  maxIncludeDepth: 32,
  maxExpansionDepth: 64,
  maxSubstitutionsPerLine: 10_000,
  maxDefinitionBytes: 1024 * 1024,
  maxSeqItems: 100_000,
  maxLines: 200_000,
});

export function resolveLimits(partial: Partial<ConfigLimits> | undefined): ConfigLimits {
  return { ...CONFIG_LIMITS, ...(partial ?? {}) };
}

/** YAML bounds: the yaml package's alias expansion limit and the number of keys/items reported. */
export const YAML_LIMITS = Object.freeze({
  /** yaml's maxAliasCount: aliases resolved per document before it refuses (an alias bomb). */
  maxAliasCount: 100,
  /** Problems reported for one YAML file before the rest are summarised in one line. */
  maxIssues: 200,
  /** Nesting depth of mappings/sequences. */
  maxDepth: 64,
});

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export type ReadResult = { text: string } | { problem: string; hint?: string; code?: string };

/**
 * Reads a config file as UTF-8: only a regular file (a FIFO or /dev/zero would block or never end), at
 * most `maxBytes`. Never throws; a problem is a sentence for a diagnostic.
 */
export function readConfigFileSync(path: string, maxBytes: number = CONFIG_LIMITS.maxFileBytes): ReadResult {
  let fd: number | undefined;
  try {
    // stat() does not open: a FIFO is refused before open() could block on it.
    const st = statSync(path);
    if (!st.isFile()) {
      return st.isDirectory()
        ? { problem: 'is a directory', hint: "use a pattern such as 'dir/*.conf'", code: 'EISDIR' }
        : { problem: `is ${fileKind(st)}, not a regular file`, code: 'ENOTREG' };
    }
    // O_NONBLOCK: if the path was swapped for a FIFO after the stat, open() still returns at once.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const fst = fstatSync(fd);
    if (!fst.isFile()) return { problem: `is ${fileKind(fst)}, not a regular file`, code: 'ENOTREG' };
    if (fst.size > maxBytes) return tooBig(fst.size, maxBytes);
    // Read one byte more than allowed: a file growing while we read is caught too.
    const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(fst.size + 1, 4096)));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        if (used > maxBytes) return tooBig(used, maxBytes);
        break;
      }
      const n = readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
    }
    if (used > maxBytes) return tooBig(used, maxBytes);
    return { text: buf.toString('utf8', 0, used) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'not found', code };
    if (code === 'EACCES' || code === 'EPERM') return { problem: 'permission denied', code };
    if (code === 'ELOOP') return { problem: 'is a symbolic link loop', code };
    if (code === 'ENOTDIR') return { problem: 'not found (a part of the path is not a directory)', code };
    return { problem: `cannot be read: ${(err as Error).message}`, code };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tooBig(size: number, maxBytes: number): ReadResult {
  return {
    problem: `is larger than ${formatBytes(maxBytes)}${size > maxBytes + 1 ? ` (${formatBytes(size)})` : ''}`,
    hint: 'a keepalived.conf is a few kilobytes; is this the right file?',
    code: 'EFBIG',
  };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`;
  return `${n} bytes`;
}

/** A word quoted for a message, cut to `max` characters so a 1 MB token does not make a 1 MB message. */
export function clip(text: string, max = 64): string {
  const safe = text.replace(
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return safe.length > max ? `${safe.slice(0, max)}...(${text.length} characters)` : safe;
}

/**
 * Characters that look like a blank (or like nothing) but are not one to keepalived, which splits words on
 * space and tab only. They arrive with configs copied from web pages and word processors.
 */
export const INVISIBLE_CHARS: ReadonlyMap<string, string> = new Map([
  ['\u00a0', 'NO-BREAK SPACE'],
  ['\u1680', 'OGHAM SPACE MARK'],
  ['\u2000', 'EN QUAD'],
  ['\u2001', 'EM QUAD'],
  ['\u2002', 'EN SPACE'],
  ['\u2003', 'EM SPACE'],
  ['\u2004', 'THREE-PER-EM SPACE'],
  ['\u2005', 'FOUR-PER-EM SPACE'],
  ['\u2006', 'SIX-PER-EM SPACE'],
  ['\u2007', 'FIGURE SPACE'],
  ['\u2008', 'PUNCTUATION SPACE'],
  ['\u2009', 'THIN SPACE'],
  ['\u200a', 'HAIR SPACE'],
  ['\u200b', 'ZERO WIDTH SPACE'],
  ['\u200c', 'ZERO WIDTH NON-JOINER'],
  ['\u200d', 'ZERO WIDTH JOINER'],
  ['\u2028', 'LINE SEPARATOR'],
  ['\u2029', 'PARAGRAPH SEPARATOR'],
  ['\u202f', 'NARROW NO-BREAK SPACE'],
  ['\u205f', 'MEDIUM MATHEMATICAL SPACE'],
  ['\u2060', 'WORD JOINER'],
  ['\u3000', 'IDEOGRAPHIC SPACE'],
  ['\ufeff', 'ZERO WIDTH NO-BREAK SPACE (byte-order mark)'],
  ['\u000b', 'VERTICAL TAB'],
  ['\u000c', 'FORM FEED'],
]);

/** "U+3000 IDEOGRAPHIC SPACE". */
export function describeChar(ch: string): string {
  const code = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const name = INVISIBLE_CHARS.get(ch);
  return name ? `U+${code} ${name}` : `U+${code}`;
}
