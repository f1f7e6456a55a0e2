/**
 * halo's structured log.
 *
 * Every line is one pino JSON object with a stable `event` name (e.g. `vrrp.transition`) and typed fields,
 * so machines can query it (journalctl -o json, jq), plus a human `msg` that keeps keepalived's words
 * ("(VI_1) Entering MASTER STATE", "Removing service [10.0.0.2]:tcp:80 from VS [10.0.0.100]:tcp:80") so an
 * operator's grep habits keep working. Call sites use one typed method per event (HaloLogger.vrrpTransition,
 * ...) so field names cannot be misspelled.
 *
 * Two output formats: `json` (default: one object per line on stdout, for journald) and `pretty` (a small
 * built-in formatter for people at a terminal; we do not depend on pino-pretty).
 *
 * Failures that can repeat quickly (dropped adverts, failing check attempts, failing scripts, IPVS errors)
 * go through a RateLimiter: the first `burst` lines per (event, key) and window are written, the rest are
 * counted and summarised in one "suppressed N similar messages" line when the window ends. State changes
 * (transitions, server up/down, IPVS changes, reloads) are never rate-limited.
 */
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { escapeLine, escapeQuoted } from '../notify/escape.js';
import { UsageError } from './paths.js';
import { DRY_RUN_TEXT } from './status.js';

export type LogFormat = 'json' | 'pretty';
export type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LEVEL_NAMES: readonly LevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Every event name halo logs. Stable: operators and dashboards depend on them. */
export type EventName =
  | 'daemon.start'
  | 'daemon.stop'
  | 'daemon.stopped'
  | 'daemon.error'
  | 'daemon.start_refused'
  | 'vrrp.transition'
  | 'vrrp.advert_dropped'
  | 'vrrp.priority_changed'
  | 'vrrp.vips'
  | 'vrrp.garp'
  | 'vrrp.script_state'
  | 'check.server_up'
  | 'check.server_down'
  | 'check.attempt_failed'
  | 'ipvs.change'
  | 'ipvs.drift_repaired'
  | 'ipvs.error'
  | 'config.reload_started'
  | 'config.reloaded'
  | 'config.reload_rejected'
  | 'config.warning'
  | 'script.exit'
  | 'bgp.session'
  | 'bgp.announce'
  | 'bgp.withdraw'
  | 'bgp.error'
  | 'log.suppressed';

// ---------------------------------------------------------------------------------------------------------
// Service formatting (keepalived's FMT_VS / FMT_RS words)

export type Protocol = 'tcp' | 'udp' | 'sctp';
/** A virtual or real server as keepalived names it in logs. */
export type ServiceRef =
  | { address: string; port: number; protocol?: Protocol }
  | { fwmark: number }
  | { group: string };

/**
 * keepalived 2.x spells services as `[10.0.0.2]:tcp:80` (brackets for both families), fwmark services as
 * `FWM 1` and virtual server groups as `[name]`. halo uses the same text in log fields, messages and metric
 * labels so one string finds a service everywhere.
 */
export function formatService(ref: ServiceRef | string): string {
  if (typeof ref === 'string') return ref;
  if ('fwmark' in ref) return `FWM ${ref.fwmark}`;
  if ('group' in ref) return `[${ref.group}]`;
  return `[${ref.address}]:${ref.protocol ?? 'tcp'}:${ref.port}`;
}

// ---------------------------------------------------------------------------------------------------------
// Event field types

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';
export type CheckerType =
  | 'TCP_CHECK'
  | 'HTTP_GET'
  | 'SSL_GET'
  | 'MISC_CHECK'
  | 'PING_CHECK'
  | 'UDP_CHECK'
  | 'DNS_CHECK'
  | 'SMTP_CHECK'
  | 'FILE_CHECK'
  | 'BFD_CHECK';
export type IpvsOp =
  | 'add-service'
  | 'update-service'
  | 'remove-service'
  | 'add-dest'
  | 'update-dest'
  | 'remove-dest';
export type ScriptPurpose = 'vrrp_script' | 'check' | 'notify' | 'quorum' | 'other';

export interface DaemonStartFields {
  version: string;
  configFile: string;
  /** The IPVS backend: kernel, dry-run (nothing programmed), or null when this daemon runs no IPVS part. */
  ipvs?: 'kernel' | 'dry-run' | null;
}
export interface DaemonStartRefusedFields {
  /** The operator-facing reason (another halo runs, no ip_vs, ...): no stack trace, nothing is broken. */
  reason: string;
  /** What kind of refusal: 'already-running', 'ipvs-unavailable', ... */
  cause: string;
}
export interface BgpSessionFields {
  speaker: string;
  /** The speaker's session name (BIRD protocol); absent for the speaker's own state. */
  session?: string;
  neighbor?: string | null;
  /** Session: the BGP state (Established, Active, ...); speaker: reachable, unreachable, restarted. */
  state: string;
  detail?: string;
}
export interface BgpRouteFields {
  prefix: string;
  reason: string;
}
export interface DaemonStopFields {
  /** Why: 'SIGTERM', 'control socket', 'fatal error', ... */
  reason: string;
}
export interface DaemonErrorFields {
  /** Where it happened (also the rate-limit key): 'control', 'metrics', 'netlink', ... */
  context: string;
  err: unknown;
}
export interface VrrpTransitionFields {
  instance: string;
  from: VrrpState;
  to: VrrpState;
  /** Why: 'init', 'master_down_timer', 'higher_priority_advert', 'priority_zero', 'link_down', ... */
  reason: string;
  /** Our effective priority at the transition. */
  priority: number;
  /** The master we know of after the transition (ourselves when MASTER), null if unknown. */
  masterAddress?: string | null;
}
export interface VrrpAdvertDroppedFields {
  instance: string;
  /** Stable drop reason (also the rate-limit key): 'bad_checksum', 'lower_priority', 'auth_mismatch', ... */
  reason: string;
  source?: string;
  detail?: string;
  /** Normal-operation drops (a lower-priority advert while preempting) are info, attacks/misconfig warn. */
  level?: 'info' | 'warn';
}
export interface VrrpPriorityChangedFields {
  instance: string;
  from: number;
  to: number;
  reason?: string;
}
export interface VrrpVipsFields {
  instance: string;
  action: 'add' | 'remove';
  vips: string[];
}
export interface VrrpGarpFields {
  instance: string;
  interface: string;
  addresses: string[];
}
export interface VrrpScriptStateFields {
  script: string;
  ok: boolean;
  exitCode?: number | null;
}
export interface CheckServerFields {
  virtualServer: ServiceRef | string;
  realServer: ServiceRef | string;
  checker: CheckerType;
  reason: string;
  /** For MISC_CHECK messages: the script that decided. */
  script?: string;
  /** Failed attempts before the state change (keepalived's "failed after N retries"). */
  retries?: number;
}
export interface CheckAttemptFailedFields extends CheckServerFields {
  attempt: number;
}
export interface IpvsChangeFields {
  op: IpvsOp;
  service: ServiceRef | string;
  dest?: ServiceRef | string;
  weight?: number;
  /** For updates: what changed, field by field ("scheduler rr -> wlc"). */
  changes?: string[];
  /** --ipvs dry-run: nothing was programmed. */
  dryRun?: boolean;
}
export interface IpvsDriftFields extends IpvsChangeFields {
  /** What was found in the kernel that halo did not program (or the reverse). */
  drift: string;
}
export interface IpvsErrorFields {
  op: IpvsOp | 'sync';
  service?: ServiceRef | string;
  dest?: ServiceRef | string;
  err: unknown;
}
export interface ConfigReloadStartedFields {
  configFile: string;
}
export interface ConfigReloadedFields {
  configFile: string;
  durationMs: number;
  instances?: number;
  virtualServers?: number;
}
export interface ConfigReloadRejectedFields {
  configFile: string;
  errors: string[];
}
export interface ConfigWarningFields {
  configFile: string;
  /** The formatted diagnostic (`FILE:LINE:COL: warning: message (hint)`). */
  diagnostic: string;
}
export interface ScriptExitFields {
  script: string;
  purpose: ScriptPurpose;
  exitCode: number | null;
  signal?: string | null;
  timedOut?: boolean;
  durationMs: number;
  user?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Rate limiter (pure: time is passed in)

export interface RateLimitOptions {
  /** Length of one window in ms. */
  windowMs: number;
  /** Lines let through per (event, key) and window. */
  burst: number;
  /** Above this many live keys, new keys share one bucket per event (bounded memory under floods). */
  maxKeys?: number;
}

export interface SuppressionSummary {
  event: string;
  key: string;
  level: LevelName;
  suppressed: number;
  windowStart: number;
  windowEnd: number;
}

interface Window {
  event: string;
  key: string;
  level: LevelName;
  start: number;
  count: number;
  suppressed: number;
}

export const DEFAULT_RATE_LIMIT: Required<RateLimitOptions> = { windowMs: 60_000, burst: 5, maxKeys: 10_000 };

/**
 * Counts lines per (event, key) in fixed windows that open at the first line. The first `burst` lines of a
 * window are admitted; later ones are counted. When a window has ended, `expire` (and `admit`, which expires
 * first so summaries keep their order) returns a summary for each window that suppressed something.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly opts: Required<RateLimitOptions>;

  constructor(opts: Partial<RateLimitOptions> = {}) {
    this.opts = { ...DEFAULT_RATE_LIMIT, ...opts };
    if (!(this.opts.windowMs > 0) || !(this.opts.burst >= 1)) {
      throw new RangeError('rate limit needs windowMs > 0 and burst >= 1');
    }
  }

  admit(
    event: string,
    key: string,
    now: number,
    level: LevelName = 'info',
  ): { admitted: boolean; summaries: SuppressionSummary[] } {
    const summaries = this.expire(now);
    let id = `${event}\u0000${key}`;
    if (!this.windows.has(id) && this.windows.size >= this.opts.maxKeys) {
      key = '*';
      id = `${event}\u0000*`;
    }
    const w = this.windows.get(id);
    if (!w) {
      this.windows.set(id, { event, key, level, start: now, count: 1, suppressed: 0 });
      return { admitted: true, summaries };
    }
    w.count++;
    if (w.count <= this.opts.burst) return { admitted: true, summaries };
    w.suppressed++;
    return { admitted: false, summaries };
  }

  /** Closes every window that ended at or before `now`; returns summaries of those that suppressed lines. */
  expire(now: number): SuppressionSummary[] {
    const out: SuppressionSummary[] = [];
    for (const [id, w] of this.windows) {
      const end = w.start + this.opts.windowMs;
      if (now < end) continue;
      this.windows.delete(id);
      if (w.suppressed > 0) {
        out.push({
          event: w.event,
          key: w.key,
          level: w.level,
          suppressed: w.suppressed,
          windowStart: w.start,
          windowEnd: end,
        });
      }
    }
    return out;
  }

  /** Earliest end of a window that has something to summarise (when to call `expire`), if any. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const w of this.windows.values()) {
      if (w.suppressed === 0) continue;
      const end = w.start + this.opts.windowMs;
      if (next === undefined || end < next) next = end;
    }
    return next;
  }

  /** Summaries for every open window with suppressed lines (at shutdown), closing all windows. */
  drain(now: number): SuppressionSummary[] {
    const out: SuppressionSummary[] = [];
    for (const w of this.windows.values()) {
      if (w.suppressed > 0) {
        out.push({
          event: w.event,
          key: w.key,
          level: w.level,
          suppressed: w.suppressed,
          windowStart: w.start,
          windowEnd: now,
        });
      }
    }
    this.windows.clear();
    return out;
  }

  get size(): number {
    return this.windows.size;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pretty format

const BASE_KEYS = new Set(['time', 'level', 'msg', 'event', 'pid', 'hostname']);
const LEVEL_LABEL_BY_NUMBER: Record<number, LevelName> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const LEVEL_COLOR: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[36m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
};

/**
 * A field value for the pretty format. Strings with spaces, quotes, `=`, backslashes or control characters
 * are quoted and escaped (src/notify/escape.ts), so a name holding a newline or a terminal escape cannot
 * forge a log line or repaint the operator's terminal.
 */
function prettyValue(v: unknown): string {
  if (typeof v === 'string')
    return v === '' || /[\s"=\\\u0000-\u001f\u007f-\u009f]/.test(v) ? `"${escapeQuoted(v)}"` : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (v === undefined) return 'undefined';
  return JSON.stringify(v);
}

/** True when `value` appears in `msg` as a whole token (not inside a longer word: "rr" is not in "error"). */
function spelledOut(msg: string, value: string): boolean {
  if (value.length < 2) return false;
  const word = /[A-Za-z0-9_]/;
  for (let at = msg.indexOf(value); at !== -1; at = msg.indexOf(value, at + 1)) {
    const before = at === 0 ? '' : msg[at - 1];
    const after = msg[at + value.length] ?? '';
    if (!word.test(before) && !word.test(after)) return true;
  }
  return false;
}

/**
 * One JSON log object -> one human line:
 * `2026-11-21T05:00:00.123Z INFO  vrrp (VI_1) Entering MASTER STATE  from=BACKUP reason=master_down_timer`.
 * The component is the event's prefix. String fields already spelled out in the message (the instance in
 * "(VI_1)", the service in "[10.0.0.2]:tcp:80") are not repeated. An error's stack follows, indented.
 */
export function formatPretty(obj: Record<string, unknown>, opts: { color?: boolean } = {}): string {
  const time = typeof obj.time === 'number' ? new Date(obj.time).toISOString() : String(obj.time ?? '');
  const levelName =
    typeof obj.level === 'number'
      ? (LEVEL_LABEL_BY_NUMBER[obj.level] ?? String(obj.level))
      : String(obj.level);
  const label = levelName.toUpperCase().padEnd(5);
  const event = typeof obj.event === 'string' ? obj.event : '';
  const component = event ? event.split('.')[0] : '-';
  const msg = typeof obj.msg === 'string' ? obj.msg : '';
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (BASE_KEYS.has(k)) continue;
    if (typeof v === 'string' && spelledOut(msg, v)) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${prettyValue(String(e.message ?? ''))}`);
      if (typeof e.stack === 'string') stack = e.stack;
      continue;
    }
    fields.push(`${k}=${prettyValue(v)}`);
  }
  const lvl = opts.color ? `${LEVEL_COLOR[levelName] ?? ''}${label}\x1b[0m` : label;
  // The message quotes names (keepalived's "(VI_1) Entering MASTER STATE"): one line, whatever they hold.
  let line = `${time} ${lvl} ${component} ${escapeLine(msg)}`;
  if (fields.length) line += `  ${fields.join(' ')}`;
  if (stack) {
    const rest = stack.split('\n').slice(1);
    if (rest.length) line += `\n${rest.map((l) => `    ${l.trim()}`).join('\n')}`;
  }
  return line;
}

export interface TextSink {
  write(chunk: string): unknown;
}

/** A pino destination that turns each JSON line into formatPretty's line. Garbage lines pass unchanged. */
export function createPrettyStream(
  out: TextSink,
  opts: { color?: boolean } = {},
): { write(s: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (!line) continue;
        let text: string;
        try {
          text = formatPretty(JSON.parse(line) as Record<string, unknown>, opts);
        } catch {
          text = line;
        }
        out.write(`${text}\n`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Logger

export interface LoggerOptions {
  format?: LogFormat;
  level?: LevelName;
  /** Where lines go; default stdout (synchronous, so nothing is lost at exit). */
  destination?: TextSink;
  /** Colour the pretty level label (default: destination is a TTY). */
  color?: boolean;
  rateLimit?: Partial<RateLimitOptions>;
  /** Clock for timestamps and the rate limiter (ms since epoch). Tests pass a fake one. */
  now?: () => number;
  /**
   * Flush rate-limit summaries on a timer when windows end (default true). Tests turn it off and call
   * `flushSuppressed()` with their fake clock.
   */
  autoFlush?: boolean;
}

export interface HaloLoggerParts {
  pino: Logger;
  limiter: RateLimiter;
  now: () => number;
  autoFlush: boolean;
  /** Where pino writes (forward() writes there too). */
  stream?: TextSink;
}

function parseLevel(s: string): LevelName | undefined {
  return (LEVEL_NAMES as readonly string[]).includes(s) ? (s as LevelName) : undefined;
}

/** For `--log-format`/`--log-level` parsing: returns undefined for unknown values. */
export function parseLogFormat(s: string): LogFormat | undefined {
  return (LOG_FORMATS as readonly string[]).includes(s) ? (s as LogFormat) : undefined;
}
export { parseLevel as parseLogLevel };

/**
 * Takes `--log-format json|pretty` and `--log-level LEVEL` (also `--flag=value`) out of argv for `halo run`;
 * the other arguments are returned in order. Defaults: json, info.
 */
export function parseLogArgs(argv: readonly string[]): {
  log: { format: LogFormat; level: LevelName };
  rest: string[];
} {
  const log: { format: LogFormat; level: LevelName } = { format: 'json', level: 'info' };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag !== '--log-format' && flag !== '--log-level') {
      rest.push(arg);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (flag === '--log-format') {
      const f = value === undefined ? undefined : parseLogFormat(value);
      if (!f) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}`);
      log.format = f;
    } else {
      const l = value === undefined ? undefined : parseLevel(value);
      if (!l) throw new UsageError(`--log-level must be one of ${LEVEL_NAMES.join(', ')}`);
      log.level = l;
    }
  }
  return { log, rest };
}

function checkerNoun(c: CheckerType): string {
  switch (c) {
    case 'TCP_CHECK':
      return 'TCP';
    case 'UDP_CHECK':
      return 'UDP';
    case 'PING_CHECK':
      return 'ICMP';
    case 'DNS_CHECK':
      return 'DNS';
    case 'SMTP_CHECK':
      return 'SMTP';
    default:
      return c;
  }
}

function errorFields(err: unknown): { message: string; type?: string; stack?: string; code?: unknown } {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { type: err.name, message: err.message, stack: err.stack, ...(code ? { code } : {}) };
  }
  return { message: String(err) };
}

/**
 * The daemon's logger. Create one with createLogger() and pass it (or `child()`s of its pino logger for
 * debug output) to the subsystems. Each public method writes one event.
 */
export class HaloLogger {
  readonly pino: Logger;
  private readonly limiter: RateLimiter;
  private readonly now: () => number;
  private readonly autoFlush: boolean;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private readonly stream: TextSink | undefined;

  constructor(parts: HaloLoggerParts) {
    this.pino = parts.pino;
    this.limiter = parts.limiter;
    this.now = parts.now;
    this.autoFlush = parts.autoFlush;
    this.stream = parts.stream;
  }

  /**
   * Writes a line another thread's HaloLogger produced (a worker's part: JSON, already level-filtered and
   * rate-limited there) to this logger's output, so one writer owns stdout and the pretty format applies.
   */
  forward(line: string): void {
    const text = line.endsWith('\n') ? line : `${line}\n`;
    if (this.stream) {
      this.stream.write(text);
      return;
    }
    try {
      const {
        level,
        msg,
        time: _t,
        pid: _p,
        hostname: _h,
        ...fields
      } = JSON.parse(text) as Record<string, unknown>;
      const name = (LEVEL_NAMES as readonly unknown[]).includes(level) ? (level as LevelName) : 'info';
      this.pino[name](fields, typeof msg === 'string' ? msg : '');
    } catch {
      // not a log line: dropped
    }
  }

  setLevel(level: LevelName): void {
    this.pino.level = level;
  }

  // --- daemon ---------------------------------------------------------------------------------------------
  daemonStart(f: DaemonStartFields): void {
    // The pid is in every line already (pino's base fields): not repeated here.
    const dry = f.ipvs === 'dry-run' ? ` (${DRY_RUN_TEXT})` : '';
    this.emit('info', 'daemon.start', f, `Starting halo v${f.version}${dry}`);
  }
  /** An expected reason not to start: one clear line, no stack trace. */
  daemonStartRefused(f: DaemonStartRefusedFields): void {
    this.emit('error', 'daemon.start_refused', f, `Not starting: ${f.reason}`);
  }
  daemonStop(f: DaemonStopFields): void {
    this.emit('info', 'daemon.stop', f, 'Stopping');
  }
  daemonStopped(f: { version: string }): void {
    this.emit('info', 'daemon.stopped', f, `Stopped halo v${f.version}`);
  }
  daemonError(f: DaemonErrorFields): void {
    const err = errorFields(f.err);
    this.limited(
      'error',
      'daemon.error',
      f.context,
      { context: f.context, err },
      `${f.context}: ${err.message}`,
    );
  }

  // --- vrrp -----------------------------------------------------------------------------------------------
  vrrpTransition(f: VrrpTransitionFields): void {
    // keepalived marks the first BACKUP after start as "(init)".
    const suffix = f.from === 'INIT' && f.to === 'BACKUP' ? ' (init)' : '';
    const level = f.to === 'FAULT' ? 'warn' : 'info';
    this.emit(
      level,
      'vrrp.transition',
      { ...f, masterAddress: f.masterAddress ?? null },
      `(${f.instance}) Entering ${f.to} STATE${suffix}`,
    );
  }
  vrrpAdvertDropped(f: VrrpAdvertDroppedFields): void {
    const { level = 'warn', ...fields } = f;
    const from = f.source ? ` from ${f.source}` : '';
    const detail = f.detail ? ` (${f.detail})` : '';
    this.limited(
      level,
      'vrrp.advert_dropped',
      `${f.instance}/${f.reason}`,
      fields,
      `(${f.instance}) dropped advert${from}: ${f.reason}${detail}`,
    );
  }
  vrrpPriorityChanged(f: VrrpPriorityChangedFields): void {
    this.emit(
      'info',
      'vrrp.priority_changed',
      f,
      `(${f.instance}) Changing effective priority from ${f.from} to ${f.to}`,
    );
  }
  vrrpVips(f: VrrpVipsFields): void {
    const msg = f.action === 'add' ? `(${f.instance}) setting VIPs.` : `(${f.instance}) removing VIPs.`;
    this.emit('info', 'vrrp.vips', f, msg);
  }
  vrrpGarp(f: VrrpGarpFields): void {
    this.emit(
      'info',
      'vrrp.garp',
      f,
      `(${f.instance}) Sending/queueing gratuitous ARPs on ${f.interface} for ${f.addresses.join(' ')}`,
    );
  }
  vrrpScriptState(f: VrrpScriptStateFields): void {
    this.emit(
      f.ok ? 'info' : 'warn',
      'vrrp.script_state',
      f,
      `VRRP_Script(${f.script}) ${f.ok ? 'succeeded' : 'failed'}`,
    );
  }

  // --- checks ---------------------------------------------------------------------------------------------
  checkServerUp(f: CheckServerFields): void {
    const rs = formatService(f.realServer);
    const vs = formatService(f.virtualServer);
    let msg: string;
    if (f.checker === 'HTTP_GET' || f.checker === 'SSL_GET')
      msg = `Remote Web server ${rs} succeed on service.`;
    else if (f.checker === 'MISC_CHECK')
      msg = `Misc check for [${rs} VS ${vs}] by [${f.script ?? '?'}] succeeded.`;
    else msg = `${checkerNoun(f.checker)} connection to ${rs} success.`;
    this.emit('info', 'check.server_up', this.checkFields(f), msg);
  }
  checkServerDown(f: CheckServerFields): void {
    const rs = formatService(f.realServer);
    const vs = formatService(f.virtualServer);
    const retries = f.retries ? ` after ${f.retries} retries` : '';
    let msg: string;
    if (f.checker === 'TCP_CHECK' && !f.retries) msg = `TCP connection to ${rs} failed.`;
    else if (f.checker === 'MISC_CHECK')
      msg = `Misc check for [${rs} VS ${vs}] by [${f.script ?? '?'}] failed${retries}.`;
    else msg = `Check on service ${rs} failed${retries}.`;
    this.emit('warn', 'check.server_down', this.checkFields(f), msg);
  }
  /**
   * One failed check attempt. Rate-limited like every repeated failure, except with `everyOne`
   * (log_all_failures / checker_log_all_failures: the operator asked to see each one).
   */
  checkAttemptFailed(f: CheckAttemptFailedFields, everyOne = false): void {
    const rs = formatService(f.realServer);
    const fields = { ...this.checkFields(f), attempt: f.attempt };
    const msg = `${checkerNoun(f.checker)} check of ${rs} failed (attempt ${f.attempt}): ${f.reason}`;
    if (everyOne) {
      if (this.pino.isLevelEnabled('info')) this.emit('info', 'check.attempt_failed', fields, msg);
      return;
    }
    this.limited(
      'info',
      'check.attempt_failed',
      `${formatService(f.virtualServer)} ${rs} ${f.checker}`,
      fields,
      msg,
    );
  }
  private checkFields(f: CheckServerFields): Record<string, unknown> {
    return { ...f, virtualServer: formatService(f.virtualServer), realServer: formatService(f.realServer) };
  }

  // --- ipvs -----------------------------------------------------------------------------------------------
  ipvsChange(f: IpvsChangeFields): void {
    const dry = f.dryRun ? ' (dry-run: not programmed)' : '';
    this.emit('info', 'ipvs.change', this.ipvsFields(f), `${ipvsMessage(f)}${dry}`);
  }
  ipvsDriftRepaired(f: IpvsDriftFields): void {
    this.emit(
      'warn',
      'ipvs.drift_repaired',
      this.ipvsFields(f),
      `IPVS drift repaired (${f.drift}): ${ipvsMessage(f)}`,
    );
  }
  ipvsError(f: IpvsErrorFields): void {
    const err = errorFields(f.err);
    const service = f.service === undefined ? undefined : formatService(f.service);
    const dest = f.dest === undefined ? undefined : formatService(f.dest);
    const what = [service && `VS ${service}`, dest && `RS ${dest}`].filter(Boolean).join(' ');
    this.limited(
      'error',
      'ipvs.error',
      `${f.op} ${service ?? ''} ${dest ?? ''}`,
      { op: f.op, service, dest, err },
      `IPVS ${f.op}${what ? ` ${what}` : ''} failed: ${err.message}`,
    );
  }
  private ipvsFields(f: IpvsChangeFields & { drift?: string }): Record<string, unknown> {
    return {
      ...f,
      service: formatService(f.service),
      dest: f.dest === undefined ? undefined : formatService(f.dest),
    };
  }

  // --- bgp ------------------------------------------------------------------------------------------------
  /** A BGP session of the speaker changed state, or the speaker itself came, went or restarted. */
  bgpSession(f: BgpSessionFields): void {
    const who = f.session
      ? `session ${f.session}${f.neighbor ? ` (${f.neighbor})` : ''}`
      : `speaker ${f.speaker}`;
    const level = f.state === 'Established' || f.state === 'reachable' ? 'info' : 'warn';
    this.emit(level, 'bgp.session', f, `BGP ${who}: ${f.state}${f.detail ? ` (${f.detail})` : ''}`);
  }
  bgpAnnounce(f: BgpRouteFields): void {
    this.emit('info', 'bgp.announce', f, `BGP announcing ${f.prefix}: ${f.reason}`);
  }
  bgpWithdraw(f: BgpRouteFields): void {
    this.emit('warn', 'bgp.withdraw', f, `BGP withdrawing ${f.prefix}: ${f.reason}`);
  }
  bgpError(f: { op: string; err: unknown }): void {
    const err = errorFields(f.err);
    this.limited('error', 'bgp.error', f.op, { op: f.op, err }, `BGP ${f.op} failed: ${err.message}`);
  }

  // --- config ---------------------------------------------------------------------------------------------
  configReloadStarted(f: ConfigReloadStartedFields): void {
    this.emit('info', 'config.reload_started', f, 'Reloading');
  }
  configReloaded(f: ConfigReloadedFields): void {
    this.emit('info', 'config.reloaded', f, `Reloaded configuration from ${f.configFile}`);
  }
  configReloadRejected(f: ConfigReloadRejectedFields): void {
    const n = f.errors.length;
    this.emit(
      'error',
      'config.reload_rejected',
      f,
      `Reload rejected: ${f.configFile} has ${n} error${n === 1 ? '' : 's'}; keeping the running configuration`,
    );
  }

  configWarning(f: ConfigWarningFields): void {
    this.emit('warn', 'config.warning', f, f.diagnostic);
  }

  // --- scripts --------------------------------------------------------------------------------------------
  scriptExit(f: ScriptExitFields): void {
    let outcome: string;
    if (f.timedOut) outcome = `timed out after ${f.durationMs} ms`;
    else if (f.signal) outcome = `killed by signal ${f.signal}`;
    else outcome = `exited with status ${f.exitCode}`;
    const msg = `Script \`${f.script}\` ${outcome}`;
    const fields = { ...f, signal: f.signal ?? null, timedOut: f.timedOut ?? false };
    if (f.exitCode === 0 && !f.timedOut) {
      // Routine success (a check every few seconds) is debug, never rate-limited.
      this.emit('debug', 'script.exit', fields, msg);
    } else {
      this.limited('warn', 'script.exit', `${f.purpose} ${f.script} ${outcome}`, fields, msg);
    }
  }

  // --- plumbing -------------------------------------------------------------------------------------------

  /** Writes summaries of rate-limit windows that ended by now (the timer does this unless autoFlush=false). */
  flushSuppressed(now: number = this.now()): void {
    for (const s of this.limiter.expire(now)) this.writeSummary(s);
    this.armTimer();
  }

  /** At shutdown: summaries of every open window, then the timer is cleared. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
    for (const s of this.limiter.drain(this.now())) this.writeSummary(s);
    this.pino.flush?.();
  }

  private emit(level: LevelName, event: EventName, fields: object, msg: string): void {
    this.pino[level]({ event, ...fields }, msg);
  }

  private limited(level: LevelName, event: EventName, key: string, fields: object, msg: string): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const { admitted, summaries } = this.limiter.admit(event, key, this.now(), level);
    for (const s of summaries) this.writeSummary(s);
    if (admitted) this.emit(level, event, fields, msg);
    else this.armTimer();
  }

  private writeSummary(s: SuppressionSummary): void {
    this.pino[s.level](
      {
        event: 'log.suppressed',
        suppressedEvent: s.event,
        key: s.key,
        suppressed: s.suppressed,
        windowMs: s.windowEnd - s.windowStart,
      },
      `suppressed ${s.suppressed} similar messages (${s.event} ${s.key})`,
    );
  }

  private armTimer(): void {
    if (!this.autoFlush) return;
    const next = this.limiter.nextDeadline();
    if (next === undefined) return;
    if (this.timer && this.timerAt !== undefined && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.flushSuppressed();
      },
      Math.max(0, next - this.now()),
    );
    this.timer.unref();
  }
}

/** keepalived's words for an IPVS change ("Adding service [10.0.0.2]:tcp:80 to VS [10.0.0.100]:tcp:80"). */
export function ipvsMessage(f: IpvsChangeFields): string {
  const vs = formatService(f.service);
  const rs = f.dest === undefined ? '?' : formatService(f.dest);
  switch (f.op) {
    case 'add-service':
      return `Adding virtual server ${vs}`;
    case 'update-service':
      return `Updating virtual server ${vs}${f.changes?.length ? `: ${f.changes.join(', ')}` : ''}`;
    case 'remove-service':
      return `Removing Virtual Server ${vs}`;
    case 'add-dest':
      return `Adding service ${rs} to VS ${vs}`;
    case 'update-dest': {
      // keepalived's words when the weight changed; other changes (forwarding, thresholds) are named too.
      const other = (f.changes ?? []).filter((c) => !c.startsWith('weight '));
      const rest = other.length ? ` (${other.join(', ')})` : '';
      const weightChanged = !f.changes || f.changes.some((c) => c.startsWith('weight '));
      return weightChanged
        ? `Changing weight to ${f.weight ?? '?'} for service ${rs} in VS ${vs}${rest}`
        : `Updating service ${rs} in VS ${vs}${rest}`;
    }
    case 'remove-dest':
      return `Removing service ${rs} from VS ${vs}`;
  }
}

/** Builds the daemon logger (JSON lines on stdout unless told otherwise). */
export function createLogger(opts: LoggerOptions = {}): HaloLogger {
  const now = opts.now ?? Date.now;
  const format = opts.format ?? 'json';
  const out: TextSink = opts.destination ?? pino.destination({ fd: 1, sync: true });
  const color = opts.color ?? (opts.destination === undefined && process.stdout.isTTY === true);
  const stream = format === 'pretty' ? createPrettyStream(out, { color }) : out;
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid, hostname: hostname() },
      // Level labels ("info") rather than numbers: friendlier for jq and journalctl readers.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: () => `,"time":"${new Date(now()).toISOString()}"`,
      serializers: { err: pino.stdSerializers.err },
    },
    stream as pino.DestinationStream,
  );
  return new HaloLogger({
    pino: logger,
    limiter: new RateLimiter(opts.rateLimit),
    now,
    autoFlush: opts.autoFlush ?? true,
    stream,
  });
}
