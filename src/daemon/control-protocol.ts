/**
 * The control socket's wire format, as pure functions (no sockets): what a request line may be, and the
 * exact reply line for every outcome. The server (control.ts) and the fuzz lane both use these.
 *
 *   request:  {"cmd": COMMAND, "id"?: string|number|null, "args"?: {...}}\n
 *             {"cmd":"events", "follow"?: bool, "since"?: SEQ, "id"?: ...}\n   (a stream, see control.ts)
 *   response: {"id"?: ..., "ok": true, "result": ...}\n   or   {"id"?: ..., "ok": false, "error": "..."}\n
 *
 * The `args` of the commands that take some are validated by control.ts against their zod schema.
 *
 * Limits are checked BEFORE the text is handed to JSON.parse and before anything from it is echoed:
 * a line is at most `maxLineBytes`, its nesting at most `maxDepth` (a request is a flat object; an `id`
 * nested 30,000 deep used to overflow the stack in JSON.stringify when it was echoed), and only a
 * string (<= MAX_ID_LENGTH characters), a finite number or null is echoed back as the id.
 */

/** Commands with one answer. */
export const CONTROL_COMMANDS = [
  'status',
  'reload',
  'reload-plan',
  'stop',
  'dump',
  'failover',
  'maintenance',
  'rs',
] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];
/** Every command the socket takes: the one-answer ones and `events` (a stream). */
const ALL_COMMANDS = [...CONTROL_COMMANDS, 'events'] as const;

/** Longest string id echoed back (a correlation id, not a payload). */
export const MAX_ID_LENGTH = 256;
/** Nesting a request may have: the object itself plus a little room for fields halo ignores. */
export const DEFAULT_MAX_DEPTH = 8;

export type RequestId = string | number | null;

export type ParsedRequest =
  | {
      readonly kind: 'request';
      readonly cmd: ControlCommand;
      readonly id?: RequestId;
      readonly args?: unknown;
    }
  /** `events`: the connection turns into a stream of events. */
  | { readonly kind: 'events'; readonly follow: boolean; readonly since?: number; readonly id?: RequestId }
  /** A request that was understood well enough to answer (and keep the connection). */
  | { readonly kind: 'rejected'; readonly error: string; readonly id?: RequestId }
  /** Garbage: answered once, then the connection is closed (the stream cannot be trusted any more). */
  | { readonly kind: 'fatal'; readonly error: string };

const EXPECTED = `expected {"cmd":"${ALL_COMMANDS.join('"|"')}"}`;

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
  const r = req as { cmd?: unknown; id?: unknown; args?: unknown; follow?: unknown; since?: unknown };
  const id = requestId(r.id);
  if (id === 'bad') {
    return {
      kind: 'rejected',
      error: `bad request: id must be a string of at most ${MAX_ID_LENGTH} characters, a number or null`,
    };
  }
  const withId = id === undefined ? {} : { id };
  if (typeof r.cmd !== 'string' || !(ALL_COMMANDS as readonly string[]).includes(r.cmd)) {
    return {
      kind: 'rejected',
      error: `bad request: unknown command (expected one of ${ALL_COMMANDS.join(', ')})`,
      ...withId,
    };
  }
  if (r.cmd === 'events') {
    const since = r.since;
    if (since !== undefined && !(Number.isSafeInteger(since) && (since as number) >= 0)) {
      return {
        kind: 'rejected',
        error: 'bad request: "since" must be a sequence number (an integer >= 0)',
        ...withId,
      };
    }
    if (r.follow !== undefined && typeof r.follow !== 'boolean') {
      return { kind: 'rejected', error: 'bad request: "follow" must be true or false', ...withId };
    }
    return {
      kind: 'events',
      follow: r.follow === true,
      ...(since === undefined ? {} : { since: since as number }),
      ...withId,
    };
  }
  return {
    kind: 'request',
    cmd: r.cmd as ControlCommand,
    ...withId,
    ...(r.args === undefined ? {} : { args: r.args }),
  };
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
