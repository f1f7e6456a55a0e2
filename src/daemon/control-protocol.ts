/**
 * The control socket's wire format, as pure functions (no sockets): what a request line may be, and the
 * exact reply line for every outcome. The server (control.ts) and the fuzz lane both use these.
 *
 *   request:  {"cmd":"status"|"reload"|"stop"|"dump", "id"?: string|number|null}\n
 *   response: {"id"?: ..., "ok": true, "result": ...}\n   or   {"id"?: ..., "ok": false, "error": "..."}\n
 *
 * Limits are checked BEFORE the text is handed to JSON.parse and before anything from it is echoed:
 * a line is at most `maxLineBytes`, its nesting at most `maxDepth` (a request is a flat object; an `id`
 * nested 30,000 deep used to overflow the stack in JSON.stringify when it was echoed), and only a
 * string (<= MAX_ID_LENGTH characters), a finite number or null is echoed back as the id.
 */

export const CONTROL_COMMANDS = ['status', 'reload', 'stop', 'dump'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** Longest string id echoed back (a correlation id, not a payload). */
export const MAX_ID_LENGTH = 256;
/** Nesting a request may have: the object itself plus a little room for fields halo ignores. */
export const DEFAULT_MAX_DEPTH = 8;

export type RequestId = string | number | null;

export type ParsedRequest =
  | { readonly kind: 'request'; readonly cmd: ControlCommand; readonly id?: RequestId }
  /** A request that was understood well enough to answer (and keep the connection). */
  | { readonly kind: 'rejected'; readonly error: string; readonly id?: RequestId }
  /** Garbage: answered once, then the connection is closed (the stream cannot be trusted any more). */
  | { readonly kind: 'fatal'; readonly error: string };

const EXPECTED = `expected {"cmd":"${CONTROL_COMMANDS.join('"|"')}"}`;

/**
 * True when `text` nests arrays/objects deeper than `maxDepth`. A linear scan that skips string
 * contents (with their escapes), so it is cheap on any input and never recurses.
 */
export function nestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

/** The id to echo: a short string, a finite number or null; undefined when absent; 'bad' otherwise. */
function requestId(v: unknown): RequestId | undefined | 'bad' {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : 'bad';
  if (typeof v === 'string') return v.length <= MAX_ID_LENGTH ? v : 'bad';
  return 'bad';
}

/** One request line (newline excluded, already within the byte limit) -> what to do with it. */
export function parseRequestLine(line: string, maxDepth = DEFAULT_MAX_DEPTH): ParsedRequest {
  if (nestingExceeds(line, maxDepth)) {
    return { kind: 'fatal', error: `bad request: nested deeper than ${maxDepth} levels (${EXPECTED})` };
  }
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { kind: 'fatal', error: `bad request: not JSON (${EXPECTED})` };
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    return { kind: 'fatal', error: `bad request: not a JSON object (${EXPECTED})` };
  }
  const r = req as { cmd?: unknown; id?: unknown };
  const id = requestId(r.id);
  if (id === 'bad') {
    return {
      kind: 'rejected',
      error: `bad request: id must be a string of at most ${MAX_ID_LENGTH} characters, a number or null`,
    };
  }
  const withId = id === undefined ? {} : { id };
  if (typeof r.cmd !== 'string' || !(CONTROL_COMMANDS as readonly string[]).includes(r.cmd)) {
    return {
      kind: 'rejected',
      error: `bad request: unknown command (expected one of ${CONTROL_COMMANDS.join(', ')})`,
      ...withId,
    };
  }
  return { kind: 'request', cmd: r.cmd as ControlCommand, ...withId };
}

/** An error reply line (newline included). Never throws: the id was validated by parseRequestLine. */
export function errorReply(error: string, id?: RequestId): string {
  return `${JSON.stringify({ ...(id === undefined ? {} : { id }), ok: false, error })}\n`;
}

/**
 * A success reply line (newline included). Throws only if the handler's result cannot be serialised
 * (a cycle, a BigInt); the server turns that into an error reply.
 */
export function okReply(result: unknown, id?: RequestId): string {
  return okReplyFromJson(resultJson(result), id);
}

/** A result serialised once, for every reply that carries it. Throws like JSON.stringify. */
export function resultJson(result: unknown): string {
  // JSON.stringify(undefined) is undefined: the field is then left out, as it would be in an object.
  return JSON.stringify(result) ?? '';
}

/** okReply from an already serialised result: the same bytes as JSON.stringify({id, ok, result}). */
export function okReplyFromJson(json: string, id?: RequestId): string {
  if (json === '') return `{${id === undefined ? '' : `"id":${JSON.stringify(id)},`}"ok":true}\n`;
  return `${okReplyPrefix(id)}${json}${OK_REPLY_SUFFIX}`;
}

/**
 * A success reply is OK_REPLY_PREFIX(id) + the result's JSON + OK_REPLY_SUFFIX, so the server can write
 * one shared serialisation of a result for every request that shares it.
 */
export function okReplyPrefix(id?: RequestId): string {
  return `{${id === undefined ? '' : `"id":${JSON.stringify(id)},`}"ok":true,"result":`;
}
export const OK_REPLY_SUFFIX = '}\n';
