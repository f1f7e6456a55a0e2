/**
 * Value readers for keepalived.conf arguments: numbers, timers, booleans,
 * addresses. Each reports a diagnostic at the offending token and returns
 * undefined, so one bad value never hides the rest of the file.
 */
import { isIP } from 'node:net';
import type { DiagnosticSink, Position } from './diagnostics.js';
import type { WordToken } from './tree.js';

/** Where the model's fields came from, for zod and semantic messages. */
export class PositionIndex {
  private readonly fields = new WeakMap<object, Map<string, Position>>();
  private readonly objects = new WeakMap<object, Position>();
  private readonly ends = new WeakMap<object, Position>();

  setObjectEnd(obj: object, pos: Position): void {
    this.ends.set(obj, pos);
  }

  /** The closing brace of the block that built the object at `path`, else its start. */
  locateEnd(root: unknown, path: readonly PropertyKey[]): Position | undefined {
    let cur: unknown = root;
    for (const key of path) {
      if (cur === null || typeof cur !== 'object') break;
      cur = (cur as Record<string, unknown>)[key as string];
    }
    if (cur !== null && typeof cur === 'object') {
      const end = this.ends.get(cur);
      if (end) return end;
    }
    return this.locate(root, path);
  }

  setObject(obj: object, pos: Position): void {
    this.objects.set(obj, pos);
  }

  set(obj: object, key: string, pos: Position): void {
    let m = this.fields.get(obj);
    if (!m) {
      m = new Map();
      this.fields.set(obj, m);
    }
    m.set(key, pos);
  }

  field(obj: object, key: string): Position | undefined {
    return this.fields.get(obj)?.get(key);
  }

  object(obj: object): Position | undefined {
    return this.objects.get(obj);
  }

  /** The best position for a path into `root`: the deepest field or object with a known position. */
  locate(root: unknown, path: readonly PropertyKey[]): Position | undefined {
    let best: Position | undefined;
    let cur: unknown = root;
    for (const key of path) {
      if (cur === null || typeof cur !== 'object') break;
      const here = this.field(cur, String(key)) ?? this.object(cur);
      if (here) best = here;
      cur = (cur as Record<string, unknown>)[key as string];
    }
    if (cur !== null && typeof cur === 'object') best = this.object(cur) ?? best;
    return best;
  }
}

export class ValueReader {
  /** `strict` (--strict): a value keepalived would ignore is an error instead of a warning. */
  constructor(
    readonly sink: DiagnosticSink,
    private readonly strict = false,
  ) {}

  /**
   * A number outside its range. keepalived logs it and runs on, mostly ignoring the line (e.g. "Priority
   * not valid! ... Using default 100"), so a file with one still runs under keepalived: halo ignores the
   * line and warns; under --strict it is an error.
   */
  private outOfRange(tok: WordToken, message: string): undefined {
    if (this.strict) this.sink.error(tok.pos, message);
    else this.sink.warning(tok.pos, `${message}: line ignored (an error with --strict)`);
    return undefined;
  }

  /** A decimal integer within [min, max]. */
  int(tok: WordToken, min: number, max: number, what: string, hard = false): number | undefined {
    const t = tok.text;
    if (!/^[-+]?\d+$/.test(t)) {
      this.sink.error(tok.pos, `${what}: '${t}' is not a whole number`, semicolonHint(t));
      return undefined;
    }
    const n = Number(t);
    if (n < min || n > max) {
      const message = `${what}: ${t} is outside the range [${min}, ${max}]`;
      if (hard) this.sink.error(tok.pos, message);
      return hard ? undefined : this.outOfRange(tok, message);
    }
    return n;
  }

  /** A timer in seconds with up to 6 decimals (keepalived's read_timer), returned in milliseconds. */
  seconds(tok: WordToken, what: string, minMs = 0, maxMs = 4_294_967_295_000): number | undefined {
    const t = tok.text;
    if (!/^\d+(\.\d{0,6})?$|^\.\d{1,6}$/.test(t)) {
      this.sink.error(tok.pos, `${what}: '${t}' is not a number of seconds`, semicolonHint(t));
      return undefined;
    }
    const ms = Math.round(Number(t) * 1_000_000) / 1000;
    if (ms < minMs || ms > maxMs) {
      return this.outOfRange(
        tok,
        `${what}: ${t} s is outside the range [${minMs / 1000}, ${maxMs / 1000}] s`,
      );
    }
    return ms;
  }

  /** keepalived's check_true_false: true/on/yes, false/off/no. */
  bool(tok: WordToken, what: string): boolean | undefined {
    const t = tok.text;
    if (t === 'true' || t === 'on' || t === 'yes') return true;
    if (t === 'false' || t === 'off' || t === 'no') return false;
    this.sink.error(tok.pos, `${what}: '${t}' is not one of true/false, on/off, yes/no`, semicolonHint(t));
    return undefined;
  }

  /** An IPv4 or IPv6 address (no prefix). */
  ip(tok: WordToken, what: string): string | undefined {
    const t = tok.text;
    if (isIP(t) === 0) {
      this.sink.error(tok.pos, `${what}: '${t}' is not a valid IP address`, semicolonHint(t));
      return undefined;
    }
    return t;
  }

  /** A port number 0-65535 (keepalived also accepts service names; halo wants numbers). */
  /** A port: part of an address (what a server is), so a bad one is always an error. */
  port(tok: WordToken, what: string): number | undefined {
    return this.int(tok, 0, 65535, what, true);
  }

  oneOf<T extends string>(tok: WordToken, allowed: readonly T[], what: string): T | undefined {
    if ((allowed as readonly string[]).includes(tok.text)) return tok.text as T;
    const ci = allowed.find((a) => a.toLowerCase() === tok.text.toLowerCase());
    this.sink.error(
      tok.pos,
      `${what}: '${tok.text}' is not one of ${allowed.join(', ')}`,
      ci ? `did you mean '${ci}'?` : semicolonHint(tok.text),
    );
    return undefined;
  }
}

/** A hint for the commonest C/nginx habit in keepalived.conf: a trailing ';'. */
export function semicolonHint(text: string): string | undefined {
  return text.endsWith(';') ? "remove the ';': keepalived.conf does not end statements with ';'" : undefined;
}

/** `10.0.0.1/24` or `fd00::1/64` or a bare address; the prefix defaults to the full length. */
export function parseCidr(
  text: string,
): { address: string; prefixLength?: number; family: 4 | 6 } | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  if (slash < 0) return { address: addr, family: family as 4 | 6 };
  const p = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p)) return undefined;
  const prefixLength = Number(p);
  if (prefixLength > (family === 4 ? 32 : 128)) return undefined;
  return { address: addr, prefixLength, family: family as 4 | 6 };
}

/** Joins script arguments back into one command line, quoting words that contain blanks. */
export function commandLine(args: WordToken[]): string {
  // One (usually quoted) word is the whole command line, as keepalived reads "script arg1 arg2".
  if (args.length === 1) return args[0].text;
  return args.map((a) => (/[\s"]/.test(a.text) || a.text === '' ? JSON.stringify(a.text) : a.text)).join(' ');
}

/** A DNS host name (RFC 1123 labels of letters, digits and '-', dot-separated; a trailing dot allowed). */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/**
 * Why Linux would refuse `name` as an interface name (dev_valid_name), or undefined. keepalived says
 * "Interface name '...' too long - ignoring" and runs the instance without an interface.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > 15) return `longer than 15 characters (${name.length})`;
  if (name === '.' || name === '..') return "'.' and '..' are not allowed";
  const bad = /[/:\s]/.exec(name);
  if (bad) return `it contains '${bad[0] === '/' || bad[0] === ':' ? bad[0] : 'a blank'}'`;
  return undefined;
}
