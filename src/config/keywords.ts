/**
 * Keyword tables: for each keepalived.conf block, every keyword keepalived
 * 2.2.7 knows, its status in halo and (when implemented) the handler that
 * writes it into the model's input shape. The tables are also where "did you
 * mean" candidates and "this belongs in another block" hints come from.
 *
 * Status: 'implemented' keywords build the model; 'not-implemented' (keepalived
 * knows it, halo does not do it yet) and 'obsolete' (from older keepalived
 * releases) are warnings naming the keyword, errors under --strict. Unknown
 * words are always errors: keepalived only warns and runs on, which hides typos.
 */
import { isIP } from 'node:net';
import type { DiagnosticSink, Position } from './diagnostics.js';
import { didYouMean } from './diagnostics.js';
import { type LineOptions, parseRouteLine, parseRuleLine } from './iproute-lines.js';
import { clip } from './limits.js';
import { CHECKER_TYPES, DEFAULT_VRRP_RT_PRIORITY, PCRE2_OPTIONS, SCHEDULERS } from './model.js';
import type { ConfNode, WordToken } from './tree.js';
import {
  commandLine,
  interfaceNameProblem,
  isHostName,
  type PositionIndex,
  parseCidr,
  semicolonHint,
  type ValueReader,
} from './values.js';

export type Obj = Record<string, unknown>;
export type Status = 'implemented' | 'not-implemented' | 'obsolete';

export interface BuildContext {
  sink: DiagnosticSink;
  strict: boolean;
  positions: PositionIndex;
  values: ValueReader;
  /** The model input being built. */
  config: Obj;
}

export interface Keyword {
  status: Status;
  /** Allowed argument count [min, max]. */
  args?: [number, number];
  /** 'required': must open a { } block; 'optional'; undefined: must not. */
  block?: 'required' | 'optional';
  /** For obsolete keywords: what to use instead. */
  replacement?: string;
  /**
   * Not implemented, and ignoring it would weaken failover (a tracked object that would have moved the
   * VIP): an error, not a warning, with this explanation.
   */
  refused?: string;
  /** For not-implemented keywords: why it is ignored, when "not implemented yet" would mislead. */
  note?: string;
  /** Still works but renamed: a warning (an error under --strict) pointing at the new name. */
  deprecated?: string;
  /** The model field or YAML name, for docs. */
  yaml?: string;
  /**
   * The keepalived release that added the keyword, when newer than 2.2.7 (the behaviour anchor): halo
   * knows keywords up to keepalived 2.4.x, so a config written for a newer keepalived is understood.
   */
  since?: string;
  default?: string;
  /**
   * Implemented, yet by design nothing at run time changes with it, and why (e.g. keepalived accepts it
   * on a checker that has no use for it). Every other implemented keyword must change an engine's plan
   * (test/unit/plan-keyword-effect.test.ts).
   */
  noEffect?: string;
  handle?: (cx: BuildContext, node: ConfNode, target: Obj) => void;
}

export interface BlockTable {
  name: string;
  keywords: Record<string, Keyword>;
  /** Value blocks (virtual_ipaddress { ... }) are lines of data, not keywords. */
  valueLines?: boolean;
}

/* ------------------------------------------------------------------ helpers */

function set(cx: BuildContext, target: Obj, field: string, value: unknown, pos: Position): void {
  if (value === undefined) return;
  target[field] = value;
  cx.positions.set(target, field, pos);
}

/** `obj[key]`, created as `init` when missing. */
function ensure<T>(obj: Obj, key: string, init: T): T {
  if (obj[key] === undefined) obj[key] = init;
  return obj[key] as T;
}

function argPos(node: ConfNode, i = 0): Position {
  return node.args[i]?.pos ?? node.pos;
}

function notImplemented(extra: Partial<Keyword> = {}): Keyword {
  return { status: 'not-implemented', args: [0, Number.POSITIVE_INFINITY], block: 'optional', ...extra };
}

/** keepalived tracks it to move the VIP; running without it would keep a VIP where it must not stay. */
function refusedTracker(what: string): Keyword {
  return notImplemented({
    refused: `ignoring it would leave the VIP on a director whose ${what} failed; remove it or keep keepalived for this instance`,
  });
}

/** A keyword of a keepalived release newer than 2.2.7 that halo knows but does not implement. */
function newer(since: string, extra: Partial<Keyword> = {}): Keyword {
  return notImplemented({ since, ...extra });
}

function obsolete(replacement?: string): Keyword {
  return { status: 'obsolete', args: [0, Number.POSITIVE_INFINITY], block: 'optional', replacement };
}

function intKw(field: string, min: number, max: number, what: string, dflt?: string): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => set(cx, t, field, cx.values.int(n.args[0], min, max, what), argPos(n)),
  };
}

function secondsKw(field: string, what: string, dflt?: string, minMs = 0, maxMs?: number): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => set(cx, t, field, cx.values.seconds(n.args[0], what, minMs, maxMs), argPos(n)),
  };
}

function stringKw(field: string, dflt?: string): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => set(cx, t, field, n.args[0].text, argPos(n)),
  };
}

/** An interface name; one Linux would refuse is an error here, so it shows even when other errors stop the model. */
function interfaceKw(field: string, dflt?: string): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => {
      const name = n.args[0].text;
      const problem = interfaceNameProblem(name);
      if (problem)
        cx.sink.error(
          n.args[0].pos,
          `${n.keyword}: '${clip(name)}' is not a valid interface name: ${problem}`,
        );
      set(cx, t, field, name, argPos(n));
    },
  };
}

function ipKw(field: string, what: string, dflt?: string): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => set(cx, t, field, cx.values.ip(n.args[0], what), argPos(n)),
  };
}

/** A flag: present means `value`; an optional true/false argument (keepalived 2.x style) overrides. */
/**
 * A flag: present means `value`. Only where keepalived reads an optional true/false after it
 * (`boolFlagKw`) does an argument change it; elsewhere keepalived ignores the argument (`nopreempt 1`,
 * even `nopreempt false`, set nopreempt), and so does halo, with a warning.
 */
function flagKw(field: string, value = true, dflt = 'off'): Keyword {
  return {
    status: 'implemented',
    args: [0, 0],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => set(cx, t, field, value, n.pos),
  };
}

/** A flag that takes an optional true/false, on/off, yes/no (keepalived's check_true_false). */
function boolFlagKw(field: string, value = true, dflt = 'off'): Keyword {
  return {
    status: 'implemented',
    args: [0, 1],
    yaml: field,
    default: dflt,
    handle: (cx, n, t) => {
      if (n.args.length === 0) return set(cx, t, field, value, n.pos);
      const b = cx.values.bool(n.args[0], n.keyword);
      if (b !== undefined) set(cx, t, field, b === value, argPos(n));
    },
  };
}

function scriptKw(field: string): Keyword {
  return {
    status: 'implemented',
    args: [1, Number.POSITIVE_INFINITY],
    yaml: field,
    handle: (cx, n, t) => set(cx, t, field, commandLine(n.args), argPos(n)),
  };
}

/** notify_* inside vrrp_instance / vrrp_sync_group go to a `notify` sub-object. */
function notifyKw(field: string): Keyword {
  return {
    status: 'implemented',
    args: [1, Number.POSITIVE_INFINITY],
    yaml: `notify.${field}`,
    handle: (cx, n, t) => {
      const notify = ensure(t, 'notify', {}) as Obj;
      cx.positions.setObject(notify, n.pos);
      const first = cx.positions.field(notify, field);
      if (notify[field] !== undefined && first) {
        // keepalived keeps the first: "notify_master script already specified - ignoring ...".
        cx.sink.warning(
          n.pos,
          `'${n.keyword}' is already given at line ${first.line}; keepalived keeps that one and ignores this`,
          'remove one of them',
        );
        return;
      }
      set(cx, notify, field, commandLine(n.args), argPos(n));
    },
  };
}

function childObject(cx: BuildContext, node: ConfNode, extra: Obj = {}): Obj {
  const obj: Obj = { ...extra, source: { file: node.pos.file, line: node.pos.line, col: node.pos.col } };
  cx.positions.setObject(obj, node.pos);
  if (node.closePos) cx.positions.setObjectEnd(obj, node.closePos);
  return obj;
}

function push(target: Obj, field: string, value: Obj): void {
  const list = ensure(target, field, []) as Obj[];
  list.push(value);
}

/* ------------------------------------------------------------------ the walker */

/** Runs a block's statements through its keyword table. */
export function runBlock(cx: BuildContext, nodes: ConfNode[], table: BlockTable, target: Obj): void {
  for (const node of nodes) runKeyword(cx, node, table, target);
}

/**
 * keepalived reads one keyword per line and ignores what follows the values it takes
 * (`connect_ip 10.0.0.1 8000`, `TCP_CHECK { connect_timeout 1 retry 0 }` on one line). halo does the
 * same, so the file behaves as under keepalived, and says what is ignored (an error with --strict).
 */
function ignoreExtraValues(cx: BuildContext, node: ConfNode, table: BlockTable, max: number): ConfNode {
  const ignored = node.args.slice(max);
  const text = clip(ignored.map((a) => (a.quoted ? JSON.stringify(a.text) : a.text)).join(' '), 80);
  const takes = max === 0 ? 'takes no value' : max === 1 ? 'takes one value' : `takes at most ${max} values`;
  const looksLikeKeyword = table.keywords[ignored[0].text] !== undefined;
  warnOrError(
    cx,
    ignored[0].pos,
    `'${node.keyword}' ${takes}; keepalived reads one keyword per line: '${text}' is ignored`,
    looksLikeKeyword ? 'put it on its own line' : 'remove it',
  );
  return { ...node, args: node.args.slice(0, max) };
}

function runKeyword(cx: BuildContext, written: ConfNode, table: BlockTable, target: Obj): void {
  let node = written;
  const kw = table.keywords[node.keyword];
  if (!kw) {
    unknownKeyword(cx, node, table);
    return;
  }
  if (kw.refused) {
    cx.sink.error(node.pos, `'${node.keyword}' in ${table.name} is not implemented by halo: ${kw.refused}`);
    return;
  }
  if (kw.status !== 'implemented') {
    const where = `in ${table.name}`;
    const msg =
      kw.status === 'obsolete'
        ? `'${node.keyword}' ${where} is obsolete (from an older keepalived release) and is ignored`
        : kw.note
          ? `'${node.keyword}' ${where} ${kw.note} and is ignored`
          : `'${node.keyword}' ${where} is not implemented by halo yet and is ignored`;
    const hint = kw.replacement ? `use '${kw.replacement}' instead` : undefined;
    if (cx.strict) cx.sink.error(node.pos, msg, hint);
    else cx.sink.warning(node.pos, msg, hint);
    return;
  }
  if (kw.deprecated) {
    warnOrError(
      cx,
      node.pos,
      `'${node.keyword}' is deprecated (keepalived still reads it)`,
      `use '${kw.deprecated}'`,
    );
  }
  for (const a of node.args) {
    if (!a.quoted && a.text.endsWith(';')) {
      cx.sink.error(
        { ...a.pos, col: a.pos.col + a.text.length - 1 },
        `unexpected ';' after '${node.keyword}'`,
        semicolonHint(a.text),
      );
      return;
    }
  }
  if (kw.block === 'required' && node.children === undefined) {
    cx.sink.error(node.pos, `'${node.keyword}' needs a { ... } block`);
    return;
  }
  const [min, max] = kw.args ?? [0, 0];
  if (node.args.length < min) {
    cx.sink.error(node.pos, `'${node.keyword}' needs ${min === 1 ? 'a value' : `at least ${min} values`}`);
    return;
  }
  if (node.args.length > max) {
    node = ignoreExtraValues(cx, node, table, max);
  }
  if (kw.block === undefined && node.children !== undefined) {
    cx.sink.error(node.openPos ?? node.pos, `'${node.keyword}' does not take a { ... } block`);
    return;
  }
  kw.handle?.(cx, node, target);
}

function unknownKeyword(cx: BuildContext, node: ConfNode, table: BlockTable): void {
  const word = node.keyword;
  const shown = clip(word);
  const home = ALL_TABLES.filter((t) => t !== table && t.keywords[word] && !t.valueLines).map((t) => t.name);
  if (home.length > 0) {
    cx.sink.error(
      node.pos,
      `'${shown}' is not valid in ${table.name}`,
      `it belongs in ${home.slice(0, 3).join(' or ')}${didYouMeanSuffix(word, table)}`,
    );
    return;
  }
  cx.sink.error(
    node.pos,
    `unknown keyword '${shown}' in ${table.name}`,
    didYouMean(word, Object.keys(table.keywords)),
  );
}

function didYouMeanSuffix(word: string, table: BlockTable): string {
  const h = didYouMean(word, Object.keys(table.keywords));
  return h ? `; ${h}` : '';
}

/* ------------------------------------------------------------------ global_defs */

/**
 * notify_fifo PATH [user [group]] / notify_fifo_script COMMAND [user [group]] (and the vrrp_ / lvs_ twins):
 * as keepalived's notify_script_init(), the first word is the whole command line (quote it when it has
 * arguments) and the next two are the user and group.
 */
function fifoKw(field: string, part: 'path' | 'script'): Keyword {
  return {
    status: 'implemented',
    args: [1, 3],
    yaml: `${field}.${part}`,
    handle: (cx, n, t) => {
      const fifo = ensure(t, field, {}) as Obj;
      const [user, group] = part === 'path' ? ['user', 'group'] : ['scriptUser', 'scriptGroup'];
      set(cx, fifo, part, n.args[0].text, argPos(n));
      if (n.args[1]) set(cx, fifo, user, n.args[1].text, argPos(n, 1));
      if (n.args[2]) set(cx, fifo, group, n.args[2].text, argPos(n, 2));
    },
  };
}

/**
 * vrrp_* / checker_* scheduling (keepalived's process settings, halo's per-thread ones; see model.ts).
 * Ranges are keepalived's; where keepalived clamps an out-of-range value with a message, halo refuses it.
 */
function schedulingKws(part: 'vrrp' | 'checker'): Record<string, Keyword> {
  const f = (name: string) => `${part}${name}`;
  const rttime: Keyword = {
    status: 'implemented',
    args: [1, 1],
    yaml: f('RlimitRttimeUs'),
    default: part === 'vrrp' ? 'soft limit 5000 us only (halo)' : '10000 us while realtime',
    handle: (cx, n, t) => {
      const v = cx.values.int(n.args[0], 1, 4_294_967_295, `${part}_rlimit_rttime`);
      // keepalived: the soft limit is half of it and must not be 0.
      if (v !== undefined) set(cx, t, f('RlimitRttimeUs'), Math.max(2, v), argPos(n));
    },
  };
  return {
    [`${part}_priority`]: intKw(f('Priority'), -20, 19, `${part}_priority`, 'unchanged (0)'),
    [`${part}_rt_priority`]: intKw(
      f('RtPriority'),
      0,
      99,
      `${part}_rt_priority`,
      part === 'vrrp' ? `${DEFAULT_VRRP_RT_PRIORITY} (halo; 0 = not realtime)` : '0 (not realtime)',
    ),
    [`${part}_cpu_affinity`]: {
      status: 'implemented',
      args: [1, 1024],
      yaml: f('CpuAffinity'),
      default: 'all CPUs',
      handle: (cx, n, t) => {
        const cpus = n.args.map((a) => cx.values.int(a, 0, 1023, `${part}_cpu_affinity`));
        if (cpus.every((c) => c !== undefined)) set(cx, t, f('CpuAffinity'), [...new Set(cpus)], argPos(n));
      },
    },
    [`${part}_rlimit_rttime`]: rttime,
    // Renamed in keepalived 2.1 (02/02/2020); keepalived 2.2.7 still reads the old spelling.
    [`${part}_rlimit_rtime`]: { ...rttime, deprecated: `${part}_rlimit_rttime` },
  };
}

export const GLOBAL_DEFS: BlockTable = {
  name: 'global_defs',
  keywords: {
    router_id: stringKw('routerId', 'host name'),
    notification_email: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'notificationEmail',
      handle: (cx, n, t) => {
        const list = (n.children ?? []).flatMap((c) => [c.keyword, ...c.args.map((a) => a.text)]);
        if (list.length === 0)
          cx.sink.warning(n.pos, 'empty notification_email block', 'remove it or add an address');
        set(cx, t, 'notificationEmail', list, n.pos);
      },
    },
    notification_email_from: stringKw('notificationEmailFrom', '<user running halo>@<host name>'),
    smtp_server: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'smtpServer',
      handle: (cx, n, t) => {
        const host = n.args[0].text;
        if (!isIP(host) && !isHostName(host)) {
          // keepalived: "Invalid smtp server ** 25", and no mail is ever sent.
          cx.sink.error(
            n.args[0].pos,
            `smtp_server: '${clip(host)}' is not an IP address or a host name`,
            semicolonHint(host),
          );
          return;
        }
        const server: Obj = { host };
        if (n.args[1]) server.port = cx.values.port(n.args[1], 'smtp_server port');
        set(cx, t, 'smtpServer', server, argPos(n));
      },
    },
    smtp_helo_name: stringKw('smtpHeloName', 'host name'),
    smtp_connect_timeout: secondsKw('smtpConnectTimeoutMs', 'smtp_connect_timeout', '30 s', 1),
    smtp_alert: boolFlagKw('smtpAlert', true, 'unset'),
    smtp_alert_vrrp: boolFlagKw('smtpAlertVrrp', true, 'smtp_alert'),
    smtp_alert_checker: boolFlagKw('smtpAlertChecker', true, 'smtp_alert'),
    no_email_faults: { ...flagKw('noEmailFaults'), args: [0, 0] },
    no_checker_emails: flagKw('noCheckerEmails'),
    enable_script_security: flagKw('enableScriptSecurity'),
    script_user: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'scriptUser',
      default: 'keepalived_script, else root',
      handle: (cx, n, t) => {
        const u: Obj = { user: n.args[0].text };
        if (n.args[1]) u.group = n.args[1].text;
        set(cx, t, 'scriptUser', u, argPos(n));
      },
    },
    default_interface: interfaceKw('defaultInterface'),
    dynamic_interfaces: {
      ...flagKw('dynamicInterfaces'),
      args: [0, 1],
      handle: (cx, n, t) => {
        set(cx, t, 'dynamicInterfaces', true, n.pos);
        if (!n.args[0]) return;
        // keepalived: dynamic_interfaces [allow_if_changes]; anything else is "Unknown dynamic_interfaces option".
        if (cx.values.oneOf(n.args[0], ['allow_if_changes'], 'dynamic_interfaces option'))
          warnOrError(
            cx,
            n.args[0].pos,
            "dynamic_interfaces option 'allow_if_changes' is not implemented by halo yet and is ignored",
          );
      },
    },
    vrrp_version: intKw('vrrpVersion', 2, 3, 'vrrp_version', '2'),
    vrrp_mcast_group4: ipKw('vrrpMcastGroup4', 'vrrp_mcast_group4', '224.0.0.18'),
    vrrp_mcast_group6: ipKw('vrrpMcastGroup6', 'vrrp_mcast_group6', 'ff02::12'),
    vrrp_strict: flagKw('vrrpStrict'),
    vrrp_skip_check_adv_addr: flagKw('vrrpSkipCheckAdvAddr'),
    vrrp_check_unicast_src: flagKw('vrrpCheckUnicastSrc'),
    vrrp_garp_master_delay: secondsKw('vrrpGarpMasterDelayMs', 'vrrp_garp_master_delay', '5 s'),
    vrrp_garp_master_repeat: intKw('vrrpGarpMasterRepeat', 1, 65535, 'vrrp_garp_master_repeat', '5'),
    vrrp_garp_master_refresh: secondsKw('vrrpGarpMasterRefreshMs', 'vrrp_garp_master_refresh', '0 (off)'),
    vrrp_garp_master_refresh_repeat: intKw(
      'vrrpGarpMasterRefreshRepeat',
      1,
      65535,
      'vrrp_garp_master_refresh_repeat',
      '1',
    ),
    vrrp_garp_lower_prio_delay: secondsKw('vrrpGarpLowerPrioDelayMs', 'vrrp_garp_lower_prio_delay'),
    vrrp_garp_lower_prio_repeat: intKw('vrrpGarpLowerPrioRepeat', 0, 65535, 'vrrp_garp_lower_prio_repeat'),
    // keepalived: 0.000001 to 4294.967295 s ("vrrp_garp_interval '0' is invalid"); unset means no spacing.
    vrrp_garp_interval: secondsKw(
      'vrrpGarpIntervalMs',
      'vrrp_garp_interval',
      '0 (off)',
      0.001,
      4_294_967.295,
    ),
    vrrp_gna_interval: secondsKw('vrrpGnaIntervalMs', 'vrrp_gna_interval', '0 (off)', 0.001, 4_294_967.295),
    vrrp_lower_prio_no_advert: boolFlagKw('vrrpLowerPrioNoAdvert'),
    vrrp_higher_prio_send_advert: boolFlagKw('vrrpHigherPrioSendAdvert'),
    vrrp_down_timer_adverts: intKw('vrrpDownTimerAdverts', 1, 100, 'vrrp_down_timer_adverts', '3'),
    vrrp_startup_delay: secondsKw('vrrpStartupDelayMs', 'vrrp_startup_delay', '0'),
    lvs_flush: flagKw('lvsFlush'),
    lvs_flush_on_stop: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'lvsFlushOnStop',
      default: 'off',
      handle: (cx, n, t) => {
        // keepalived 2.2.7: the bare keyword flushes the whole IPVS table (LVS_FLUSH_FULL); VS only halo's.
        if (n.args.length === 0) return set(cx, t, 'lvsFlushOnStop', 'full', n.pos);
        const v = n.args[0].text === 'VS' ? 'vs' : n.args[0].text === 'RS' ? 'rs' : undefined;
        if (v) return set(cx, t, 'lvsFlushOnStop', v, argPos(n));
        cx.values.oneOf(n.args[0], ['VS', 'RS'], 'lvs_flush_on_stop');
      },
    },
    lvs_flush_onstop: obsolete('lvs_flush_on_stop'),
    lvs_timeouts: {
      status: 'implemented',
      args: [2, 6],
      yaml: 'lvsTimeouts',
      handle: (cx, n, t) => {
        const out: Obj = {};
        const names: Record<string, string> = { tcp: 'tcpMs', tcpfin: 'tcpFinMs', udp: 'udpMs' };
        for (let i = 0; i < n.args.length; i += 2) {
          const key = n.args[i];
          const field = names[key.text];
          if (!field) {
            cx.sink.error(
              key.pos,
              `lvs_timeouts: unknown timeout '${key.text}'`,
              didYouMean(key.text, Object.keys(names)),
            );
            return;
          }
          const val = n.args[i + 1];
          if (!val) return cx.sink.error(key.pos, `lvs_timeouts: '${key.text}' needs a value`);
          out[field] = cx.values.seconds(val, `lvs_timeouts ${key.text}`, 0, 86_400_000 * 365);
        }
        set(cx, t, 'lvsTimeouts', out, argPos(n));
      },
    },
    lvs_sync_daemon: {
      status: 'implemented',
      args: [1, 13],
      yaml: 'lvsSyncDaemon',
      handle: (cx, n, t) => {
        // keepalived 2.2.7 requires the VRRP instance; halo makes it optional so that a checker-only
        // director (halo run --check-only, no VRRP) can still run the sync daemon, as master.
        const d: Obj = { interface: n.args[0].text };
        const options = ['id', 'maxlen', 'port', 'ttl', 'group'];
        let i = 1;
        if (n.args[1] && !options.includes(n.args[1].text) && !/^\d/.test(n.args[1].text)) {
          d.instance = n.args[1].text;
          i = 2;
        }
        // keepalived still reads a bare number after the instance as the sync id (the form before 'id').
        if (n.args[i] && /^\d/.test(n.args[i].text)) {
          d.syncId = cx.values.int(n.args[i], 0, 255, 'lvs_sync_daemon id');
          i++;
        }
        for (; i < n.args.length; i += 2) {
          const key = n.args[i];
          const val = n.args[i + 1];
          if (!options.includes(key.text))
            return cx.sink.error(
              key.pos,
              `lvs_sync_daemon: unknown option '${key.text}'`,
              didYouMean(key.text, options),
            );
          if (!val) return cx.sink.error(key.pos, `lvs_sync_daemon: '${key.text}' needs a value`);
          if (key.text === 'id') d.syncId = cx.values.int(val, 0, 255, 'lvs_sync_daemon id');
          else if (key.text === 'maxlen') d.maxLen = cx.values.int(val, 1, 65507, 'lvs_sync_daemon maxlen');
          else if (key.text === 'port') d.port = cx.values.int(val, 1, 65535, 'lvs_sync_daemon port');
          else if (key.text === 'ttl') d.ttl = cx.values.int(val, 1, 255, 'lvs_sync_daemon ttl');
          else d.group = cx.values.ip(val, 'lvs_sync_daemon group');
        }
        set(cx, t, 'lvsSyncDaemon', d, argPos(n));
      },
    },
    notify_fifo: fifoKw('notifyFifo', 'path'),
    notify_fifo_script: fifoKw('notifyFifo', 'script'),
    vrrp_notify_fifo: fifoKw('vrrpNotifyFifo', 'path'),
    vrrp_notify_fifo_script: fifoKw('vrrpNotifyFifo', 'script'),
    lvs_notify_fifo: fifoKw('lvsNotifyFifo', 'path'),
    lvs_notify_fifo_script: fifoKw('lvsNotifyFifo', 'script'),
    checker_log_all_failures: boolFlagKw('checkerLogAllFailures'),
    // keepalived 2.2.8 and later.
    v3_checksum_as_v2: { ...flagKw('v3ChecksumAsV2'), since: '2.2.8' },
    json_version: newer('2.2.8'),
    dbus_no_interface_name: newer('2.3.0'),
    snmp_vs_stats_update_interval: newer('2.3.0'),
    snmp_rs_stats_update_interval: newer('2.3.0'),
    use_symlink_paths: newer('2.3.0'),
    iproute_usr_dir: newer('2.3.2'),
    iproute_etc_dir: newer('2.3.2'),
    json_dump_file: newer('2.3.3'),
    state_dump_file: newer('2.3.3'),
    stats_dump_file: newer('2.3.3'),
    vrrp_owner_ignore_adverts: newer('2.3.3'),
    vrrp_delay_after_boot: newer('2.4.0'),
    set_supplementary_groups: newer('after 2.4.3'),
    ...schedulingKws('vrrp'),
    vrrp_no_swap: boolFlagKw(
      'vrrpNoSwap',
      true,
      'on (halo; keepalived: off): the native advert path is locked in RAM',
    ),
    ...schedulingKws('checker'),
    // keepalived: mlockall() of the checker process. halo's checker is JavaScript only, and V8 cannot run with
    // its memory locked (see model.ts vrrpNoSwap): known, not done.
    checker_no_swap: notImplemented(),
    // Known to keepalived 2.2.7, not (yet) done by halo.
    process_names: notImplemented(),
    process_name: notImplemented(),
    vrrp_process_name: notImplemented(),
    checker_process_name: notImplemented(),
    bfd_process_name: notImplemented(),
    startup_script: notImplemented(),
    startup_script_timeout: notImplemented(),
    shutdown_script: notImplemented(),
    shutdown_script_timeout: notImplemented(),
    max_auto_priority: notImplemented(),
    min_auto_priority_delay: notImplemented(),
    disable_local_igmp: notImplemented(),
    vrrp_min_garp: notImplemented(),
    vrrp_garp_extra_if: notImplemented(),
    vrrp_iptables: notImplemented(),
    vrrp_ipsets: notImplemented(),
    nftables: notImplemented(),
    nftables_priority: notImplemented(),
    nftables_ifindex: notImplemented(),
    nftables_ipvs: notImplemented(),
    nftables_ipvs_priority: notImplemented(),
    nftables_ipvs_start_fwmark: notImplemented(),
    nftables_counters: notImplemented(),
    vrrp_notify_priority_changes: notImplemented(),
    fifo_write_vrrp_states_on_reload: notImplemented(),
    bfd_priority: notImplemented(),
    bfd_no_swap: notImplemented(),
    bfd_rt_priority: notImplemented(),
    bfd_cpu_affinity: notImplemented(),
    bfd_rlimit_rttime: notImplemented(),
    snmp_socket: notImplemented(),
    enable_traps: notImplemented(),
    enable_snmp_vrrp: notImplemented(),
    enable_snmp_rfc: notImplemented(),
    enable_snmp_rfcv2: notImplemented(),
    enable_snmp_rfcv3: notImplemented(),
    enable_snmp_checker: notImplemented(),
    enable_dbus: notImplemented(),
    dbus_service_name: notImplemented(),
    vrrp_netlink_cmd_rcv_bufs: notImplemented(),
    vrrp_netlink_cmd_rcv_bufs_force: notImplemented(),
    vrrp_netlink_monitor_rcv_bufs: notImplemented(),
    vrrp_netlink_monitor_rcv_bufs_force: notImplemented(),
    process_monitor_rcv_bufs: notImplemented(),
    process_monitor_rcv_bufs_force: notImplemented(),
    lvs_netlink_cmd_rcv_bufs: notImplemented(),
    lvs_netlink_cmd_rcv_bufs_force: notImplemented(),
    lvs_netlink_monitor_rcv_bufs: notImplemented(),
    lvs_netlink_monitor_rcv_bufs_force: notImplemented(),
    rs_init_notifies: notImplemented(),
    vrrp_rx_bufs_policy: notImplemented(),
    vrrp_rx_bufs_multiplier: notImplemented(),
    log_unknown_vrids: notImplemented(),
    vmac_prefix: notImplemented(),
    vmac_addr_prefix: notImplemented(),
    umask: notImplemented(),
    random_seed: notImplemented(),
    reload_check_config: notImplemented(),
    reload_time_file: notImplemented(),
    reload_repeat: notImplemented(),
    reload_file: notImplemented(),
    include_check: notImplemented(),
    config_save_dir: notImplemented(),
    tmp_config_directory: notImplemented(),
    data_use_instance: notImplemented(),
    // Renamed or removed in keepalived 2.x.
    lvs_id: obsolete('router_id'),
    lvs_process_name: obsolete('checker_process_name'),
    vrrp_vmac_garp_intvl: obsolete('vrrp_garp_extra_if'),
    bfd_rlimit_rtime: obsolete('bfd_rlimit_rttime'),
    enable_snmp_keepalived: obsolete('enable_snmp_vrrp'),
    lvs_sync_daemon_interface: obsolete('lvs_sync_daemon'),
  },
};

/* ------------------------------------------------------------------ vrrp_script / track_file */

export const VRRP_SCRIPT: BlockTable = {
  name: 'vrrp_script',
  keywords: {
    script: scriptKw('script'),
    interval: secondsKw('intervalMs', 'vrrp_script interval', '1 s', 1),
    timeout: secondsKw('timeoutMs', 'vrrp_script timeout', 'the interval'),
    weight: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'weight, weightReverse',
      default: '0',
      handle: (cx, n, t) => {
        set(cx, t, 'weight', cx.values.int(n.args[0], -253, 253, 'vrrp_script weight'), argPos(n));
        if (n.args[1]) {
          if (n.args[1].text === 'reverse') set(cx, t, 'weightReverse', true, argPos(n, 1));
          else
            cx.sink.error(n.args[1].pos, `vrrp_script weight: expected 'reverse', got '${n.args[1].text}'`);
        }
      },
    },
    rise: intKw('rise', 1, 2_147_483_647, 'vrrp_script rise', '1'),
    fall: intKw('fall', 1, 2_147_483_647, 'vrrp_script fall', '1'),
    user: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'user, group',
      handle: (cx, n, t) => {
        set(cx, t, 'user', n.args[0].text, argPos(n));
        if (n.args[1]) set(cx, t, 'group', n.args[1].text, argPos(n, 1));
      },
    },
    init_fail: flagKw('initFail'),
  },
};

export const TRACK_FILE: BlockTable = {
  name: 'track_file',
  keywords: {
    file: stringKw('file'),
    weight: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'weight, weightReverse',
      default: '1',
      handle: (cx, n, t) => {
        set(cx, t, 'weight', cx.values.int(n.args[0], -253, 253, 'track_file weight'), argPos(n));
        if (n.args[1]) {
          if (n.args[1].text === 'reverse') set(cx, t, 'weightReverse', true, argPos(n, 1));
          else cx.sink.error(n.args[1].pos, `track_file weight: expected 'reverse', got '${n.args[1].text}'`);
        }
      },
    },
    init_file: {
      status: 'implemented',
      args: [0, 2],
      yaml: 'initFile',
      handle: (cx, n, t) => {
        const init: Obj = {};
        for (const a of n.args) {
          if (a.text === 'overwrite') init.overwrite = true;
          else init.value = cx.values.int(a, -2_147_483_648, 2_147_483_647, 'init_file value');
        }
        set(cx, t, 'initFile', init, n.pos);
      },
    },
  },
};

/** Weight -254..254 [reverse] of vrrp_track_process. */
function weightReverseKw(what: string, limit: number, dflt: string): Keyword {
  return {
    status: 'implemented',
    args: [1, 2],
    yaml: 'weight, weightReverse',
    default: dflt,
    handle: (cx, n, t) => {
      set(cx, t, 'weight', cx.values.int(n.args[0], -limit, limit, `${what} weight`), argPos(n));
      if (n.args[1]) {
        if (n.args[1].text === 'reverse') set(cx, t, 'weightReverse', true, argPos(n, 1));
        else cx.sink.error(n.args[1].pos, `${what} weight: expected 'reverse', got '${n.args[1].text}'`);
      }
    },
  };
}

function processDelayKw(fields: string[]): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: fields.join(', '),
    default: '0',
    handle: (cx, n, t) => {
      const ms = cx.values.seconds(n.args[0], `vrrp_track_process ${n.keyword}`, 0.001, 3_600_000);
      for (const f of fields) set(cx, t, f, ms, argPos(n));
    },
  };
}

export const VRRP_TRACK_PROCESS: BlockTable = {
  name: 'vrrp_track_process',
  keywords: {
    process: {
      status: 'implemented',
      args: [1, Number.POSITIVE_INFINITY],
      yaml: 'process, params',
      handle: (cx, n, t) => {
        if (t.process !== undefined) {
          cx.sink.error(n.pos, `'process' is already set for this vrrp_track_process`);
          return;
        }
        set(cx, t, 'process', n.args[0].text, argPos(n));
        if (n.args.length > 1)
          set(
            cx,
            t,
            'params',
            n.args.slice(1).map((a) => a.text),
            argPos(n, 1),
          );
      },
    },
    param_match: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'paramMatch',
      default: 'exact when parameters are given',
      handle: (cx, n, t) => {
        if (!n.args[0]) return set(cx, t, 'paramMatch', 'exact', n.pos);
        const m = cx.values.oneOf(n.args[0], ['initial', 'partial'], 'param_match');
        if (m) set(cx, t, 'paramMatch', m, argPos(n));
      },
    },
    weight: weightReverseKw('vrrp_track_process', 254, '0'),
    quorum: intKw('quorum', 1, 65535, 'vrrp_track_process quorum', '1'),
    quorum_max: intKw('quorumMax', 0, 65535, 'vrrp_track_process quorum_max', 'no limit'),
    delay: processDelayKw(['forkDelayMs', 'terminateDelayMs']),
    fork_delay: processDelayKw(['forkDelayMs']),
    terminate_delay: processDelayKw(['terminateDelayMs']),
    full_command: flagKw('fullCommand'),
  },
};

/* ------------------------------------------------------------------ tracking value blocks */

/** Lines "NAME [weight N [reverse|noreverse]]" of track_interface / track_script / track_file. */
function trackBlock(field: string, what: string, maxWeight = 253): Keyword {
  return {
    status: 'implemented',
    block: 'required',
    args: [0, 0],
    yaml: field,
    handle: (cx, n, t) => {
      const list = ensure(t, field, []) as Obj[];
      for (const line of n.children ?? []) {
        if (line.children) {
          cx.sink.error(line.openPos ?? line.pos, `unexpected block in ${n.keyword}`);
          continue;
        }
        const ref: Obj = { name: line.keyword };
        cx.positions.setObject(ref, line.pos);
        const a = line.args;
        if (a.length > 0) {
          if (a[0].text !== 'weight') {
            cx.sink.error(
              a[0].pos,
              `${n.keyword}: expected 'weight' after '${line.keyword}', got '${a[0].text}'`,
            );
            continue;
          }
          if (!a[1]) {
            cx.sink.error(a[0].pos, `${n.keyword}: 'weight' needs a value`);
            continue;
          }
          const w = cx.values.int(a[1], -maxWeight, maxWeight, `${what} weight`);
          if (w === undefined) continue;
          ref.weight = w;
          cx.positions.set(ref, 'weight', a[1].pos);
          if (a[2]) {
            if (a[2].text === 'reverse' || a[2].text === 'noreverse')
              ref.weightReverse = a[2].text === 'reverse';
            else {
              cx.sink.error(a[2].pos, `${n.keyword}: expected 'reverse' or 'noreverse', got '${a[2].text}'`);
              continue;
            }
          }
          if (a.length > 3) {
            cx.sink.error(a[3].pos, `${n.keyword}: unexpected '${a[3].text}'`);
            continue;
          }
        }
        if (field === 'trackInterfaces') {
          ref.weight ??= 0;
          ref.weightReverse ??= false;
        }
        list.push(ref);
      }
      cx.positions.set(t, field, n.pos);
    },
  };
}

/* ------------------------------------------------------------------ virtual addresses and routes */

const SCOPES = ['global', 'site', 'link', 'host', 'nowhere'] as const;

function parseScope(cx: BuildContext, tok: WordToken | undefined, at: Position): unknown {
  if (!tok) return cx.sink.error(at, "'scope' needs a value");
  if (/^\d+$/.test(tok.text)) return cx.values.int(tok, 0, 255, 'scope');
  return cx.values.oneOf(tok, SCOPES, 'scope');
}

/** One line of virtual_ipaddress: ADDR[/LEN] [dev IF] [brd ADDR] [label L] [scope S] [no_track] ... */
function parseVip(cx: BuildContext, line: ConfNode, isStatic = false): Obj | undefined {
  const cidr = parseCidr(line.keyword);
  if (!cidr) {
    if (VRRP_INSTANCE.keywords[line.keyword]) {
      cx.sink.error(
        line.pos,
        `'${line.keyword}' inside an address list`,
        "is a '}' missing above this line?",
      );
      return undefined;
    }
    cx.sink.error(line.pos, `invalid virtual IP address '${line.keyword}'`, semicolonHint(line.keyword));
    return undefined;
  }
  const vip: Obj = {
    address: cidr.address,
    source: { file: line.pos.file, line: line.pos.line, col: line.pos.col },
  };
  if (cidr.prefixLength !== undefined) vip.prefixLength = cidr.prefixLength;
  cx.positions.setObject(vip, line.pos);
  const a = line.args;
  const needValue = (i: number): WordToken | undefined => {
    const v = a[i + 1];
    if (!v) cx.sink.error(a[i].pos, `'${a[i].text}' needs a value`);
    return v;
  };
  const options = [
    'dev',
    'brd',
    'broadcast',
    'label',
    'scope',
    'peer',
    'no_track',
    'noprefixroute',
    'home',
    '-nodad',
    'preferred_lft',
  ];
  for (let i = 0; i < a.length; i++) {
    const opt = a[i].text;
    let v: WordToken | undefined;
    switch (opt) {
      case 'dev':
        v = needValue(i);
        if (!v) return undefined;
        vip.dev = v.text;
        i++;
        break;
      case 'brd':
      case 'broadcast':
        v = needValue(i);
        if (!v) return undefined;
        if (v.text !== '+' && v.text !== '-' && !cx.values.ip(v, 'broadcast')) return undefined;
        vip.broadcast = v.text;
        i++;
        break;
      case 'label':
        v = needValue(i);
        if (!v) return undefined;
        vip.label = v.text;
        i++;
        break;
      case 'scope': {
        const s = parseScope(cx, a[i + 1], a[i].pos);
        if (s === undefined) return undefined;
        vip.scope = s;
        i++;
        break;
      }
      case 'peer':
        v = needValue(i);
        if (!v) return undefined;
        vip.peer = v.text;
        i++;
        break;
      case 'no_track':
        vip.noTrack = true;
        break;
      case 'noprefixroute':
        vip.noprefixroute = true;
        break;
      case 'home':
        vip.homeaddress = true;
        break;
      case '-nodad':
        vip.nodad = true;
        break;
      case 'preferred_lft':
        v = needValue(i);
        if (!v) return undefined;
        if (v.text !== 'forever') {
          const n = cx.values.int(v, 0, 4_294_967_295, 'preferred_lft');
          if (n === undefined) return undefined;
          vip.preferredLft = n;
        }
        i++;
        break;
      case 'use_vmac':
      case 'track_group':
        if ((opt === 'use_vmac') === isStatic) {
          cx.sink.error(
            a[i].pos,
            `'${opt}' is not valid in ${isStatic ? 'static_ipaddress' : 'virtual_ipaddress'}`,
          );
          return undefined;
        }
        warnOrError(
          cx,
          a[i].pos,
          `virtual_ipaddress option '${opt}' is not implemented by halo yet and is ignored`,
        );
        i++;
        break;
      case 'mngtmpaddr':
      case 'autojoin':
        warnOrError(
          cx,
          a[i].pos,
          `virtual_ipaddress option '${opt}' is not implemented by halo yet and is ignored`,
        );
        break;
      default:
        cx.sink.error(
          a[i].pos,
          `unknown virtual_ipaddress option '${opt}'`,
          didYouMean(opt, options) ?? semicolonHint(opt),
        );
        return undefined;
    }
  }
  return vip;
}

function warnOrError(cx: BuildContext, pos: Position, message: string, hint?: string): void {
  if (cx.strict) cx.sink.error(pos, message, hint);
  else cx.sink.warning(pos, message, hint);
}

function vipBlock(field: string): Keyword {
  return {
    status: 'implemented',
    block: 'required',
    args: [0, 0],
    yaml: field,
    handle: (cx, n, t) => {
      const list = ensure(t, field, []) as Obj[];
      for (const line of n.children ?? []) {
        const vip = parseVip(cx, line);
        if (vip) list.push(vip);
      }
      cx.positions.set(t, field, n.pos);
    },
  };
}

/** A block of route or rule lines (virtual_routes, static_routes, virtual_rules, static_rules). */
function lineBlock(
  field: string,
  parse: (cx: BuildContext, line: ConfNode, opts: LineOptions) => Obj | undefined,
  isStatic: boolean,
  toConfig = false,
): Keyword {
  return {
    status: 'implemented',
    block: 'required',
    args: [0, 0],
    yaml: field,
    handle: (cx, n, t) => {
      const owner = toConfig ? cx.config : t;
      const list = ensure(owner, field, []) as Obj[];
      for (const line of n.children ?? []) {
        if (line.children) {
          cx.sink.error(line.openPos ?? line.pos, `unexpected block in ${n.keyword}`);
          continue;
        }
        const r = parse(cx, line, { isStatic });
        if (r) list.push(r);
      }
      cx.positions.set(owner, field, n.pos);
    },
  };
}

/* ------------------------------------------------------------------ vrrp_instance */

export const AUTHENTICATION: BlockTable = {
  name: 'authentication',
  keywords: {
    auth_type: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'authentication.type',
      handle: (cx, n, t) =>
        set(cx, t, 'type', cx.values.oneOf(n.args[0], ['PASS', 'AH'], 'auth_type'), argPos(n)),
    },
    auth_pass: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'authentication.password',
      handle: (cx, n, t) => {
        let p = n.args[0].text;
        if (p.length > 8) {
          // keepalived truncates to 8 bytes (the v2 auth data field); say so instead of silently doing it.
          cx.sink.warning(
            n.args[0].pos,
            `auth_pass is longer than 8 characters; only '${p.slice(0, 8)}' is used`,
          );
          p = p.slice(0, 8);
        }
        set(cx, t, 'password', p, argPos(n));
      },
    },
  },
};

export const VRRP_INSTANCE: BlockTable = {
  name: 'vrrp_instance',
  keywords: {
    state: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'state',
      default: 'BACKUP',
      handle: (cx, n, t) =>
        set(cx, t, 'state', cx.values.oneOf(n.args[0], ['MASTER', 'BACKUP'], 'state'), argPos(n)),
    },
    interface: interfaceKw('interface', 'global default_interface'),
    virtual_router_id: intKw('virtualRouterId', 1, 255, 'virtual_router_id', 'required'),
    priority: intKw('priority', 1, 255, 'priority', '100'),
    advert_int: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'advertIntervalMs',
      default: '1 s',
      handle: (cx, n, t) =>
        set(cx, t, 'advertIntervalMs', cx.values.seconds(n.args[0], 'advert_int', 10, 255_000), argPos(n)),
    },
    version: intKw('version', 2, 3, 'version', 'global vrrp_version'),
    nopreempt: flagKw('preempt', false, 'preempt'),
    preempt: flagKw('preempt', true, 'on'),
    preempt_delay: secondsKw('preemptDelayMs', 'preempt_delay', '0', 0, 1_000_000),
    authentication: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'authentication',
      handle: (cx, n, t) => {
        const auth: Obj = {};
        cx.positions.setObject(auth, n.pos);
        runBlock(cx, n.children ?? [], AUTHENTICATION, auth);
        if (auth.type === undefined && auth.password === undefined) return;
        if (auth.password === undefined) {
          cx.sink.error(n.pos, 'authentication needs auth_pass');
          return;
        }
        auth.type ??= 'PASS';
        set(cx, t, 'authentication', auth, n.pos);
      },
    },
    virtual_ipaddress: vipBlock('virtualIpaddresses'),
    virtual_ipaddress_excluded: vipBlock('virtualIpaddressesExcluded'),
    virtual_routes: lineBlock('virtualRoutes', parseRouteLine, false),
    virtual_rules: lineBlock('virtualRules', parseRuleLine, false),
    unicast_src_ip: ipKw('unicastSrcIp', 'unicast_src_ip'),
    unicast_peer: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'unicastPeers',
      handle: (cx, n, t) => {
        const list = ensure(t, 'unicastPeers', []) as Obj[];
        for (const line of n.children ?? []) {
          const tok = { text: line.keyword, pos: line.pos, kind: 'word', quoted: false } as WordToken;
          const address = cx.values.ip(tok, 'unicast_peer');
          if (!address) continue;
          const peer: Obj = { address };
          cx.positions.setObject(peer, line.pos);
          for (let i = 0; i < line.args.length; i += 2) {
            const k = line.args[i];
            const v = line.args[i + 1];
            if (k.text !== 'min_ttl' && k.text !== 'max_ttl') {
              cx.sink.error(
                k.pos,
                `unknown unicast_peer option '${k.text}'`,
                didYouMean(k.text, ['min_ttl', 'max_ttl']),
              );
              continue;
            }
            if (!v) {
              cx.sink.error(k.pos, `'${k.text}' needs a value`);
              continue;
            }
            peer[k.text === 'min_ttl' ? 'minTtl' : 'maxTtl'] = cx.values.int(v, 0, 255, k.text);
          }
          list.push(peer);
        }
        cx.positions.set(t, 'unicastPeers', n.pos);
      },
    },
    mcast_src_ip: ipKw('mcastSrcIp', 'mcast_src_ip'),
    track_interface: trackBlock('trackInterfaces', 'track_interface'),
    track_script: trackBlock('trackScripts', 'track_script'),
    track_file: trackBlock('trackFiles', 'track_file'),
    track_process: trackBlock('trackProcesses', 'track_process', 254),
    dont_track_primary: flagKw('dontTrackPrimary'),
    notify_master: notifyKw('master'),
    notify_backup: notifyKw('backup'),
    notify_fault: notifyKw('fault'),
    notify_stop: notifyKw('stop'),
    notify_deleted: {
      status: 'implemented',
      args: [0, Number.POSITIVE_INFINITY],
      yaml: 'notifyDeleted, notify.deleted',
      handle: (cx, n, t) => {
        set(cx, t, 'notifyDeleted', true, n.pos);
        if (n.args.length) notifyKw('deleted').handle?.(cx, n, t);
      },
    },
    notify: notifyKw('any'),
    notify_master_rx_lower_pri: notifyKw('masterRxLowerPri'),
    smtp_alert: boolFlagKw('smtpAlert', true, 'global smtp_alert_vrrp / smtp_alert, else off'),
    garp_master_delay: secondsKw('garpMasterDelayMs', 'garp_master_delay', 'global vrrp_garp_master_delay'),
    garp_master_repeat: intKw('garpMasterRepeat', 1, 65535, 'garp_master_repeat', 'global'),
    garp_master_refresh: secondsKw('garpMasterRefreshMs', 'garp_master_refresh', 'global'),
    garp_master_refresh_repeat: intKw(
      'garpMasterRefreshRepeat',
      1,
      65535,
      'garp_master_refresh_repeat',
      'global',
    ),
    garp_lower_prio_delay: secondsKw('garpLowerPrioDelayMs', 'garp_lower_prio_delay', 'global'),
    garp_lower_prio_repeat: intKw('garpLowerPrioRepeat', 0, 65535, 'garp_lower_prio_repeat', 'global'),
    lower_prio_no_advert: boolFlagKw('lowerPrioNoAdvert', true, 'global'),
    higher_prio_send_advert: boolFlagKw('higherPrioSendAdvert', true, 'global'),
    accept: {
      ...flagKw('accept', true, 'on unless strict'),
      noEffect:
        'halo installs no firewall rules, so a MASTER always accepts traffic to its VIPs: accept mode is what runs',
    },
    no_accept: {
      ...flagKw('accept', false, 'on unless strict'),
      noEffect:
        'keepalived enforces no_accept with firewall rules; halo installs none and warns that the VIPs accept traffic',
    },
    strict_mode: boolFlagKw('strictMode', true, 'global vrrp_strict'),
    skip_check_adv_addr: boolFlagKw('skipCheckAdvAddr', true, 'global'),
    check_unicast_src: flagKw('checkUnicastSrc', true, 'global'),
    use_vmac: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'useVmac',
      handle: (cx, n, t) => set(cx, t, 'useVmac', n.args[0] ? { name: n.args[0].text } : {}, n.pos),
    },
    vmac_xmit_base: flagKw('vmacXmitBase'),
    // keepalived 2.2.7 keywords whose value is a parameter of halo's VRRP core.
    down_timer_adverts: intKw(
      'downTimerAdverts',
      1,
      100,
      'down_timer_adverts',
      'global vrrp_down_timer_adverts',
    ),
    old_unicast_checksum: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'unicastChecksumCompat',
      default: 'auto',
      handle: (cx, n, t) => {
        // keepalived: bare = always use the old (pre-2.2.7) unicast checksum; 'never' = never switch to it.
        if (n.args.length === 0) return set(cx, t, 'unicastChecksumCompat', 'always', n.pos);
        const v = cx.values.oneOf(n.args[0], ['never'], 'old_unicast_checksum');
        if (v) set(cx, t, 'unicastChecksumCompat', 'never', argPos(n));
      },
    },
    // keepalived 2.2.8 and later.
    v3_checksum_as_v2: { ...boolFlagKw('v3ChecksumAsV2', true, 'global v3_checksum_as_v2'), since: '2.2.8' },
    no_virtual_ipaddress: {
      ...flagKw('noVirtualIpaddress'),
      since: '2.2.8',
      noEffect:
        'it only says an instance without VIPs is meant (no warning); such an instance runs the same either way',
    },
    timer_expired_backup: newer('2.2.8'),
    thread_timer_expired: newer('2.3.2'),
    owner_ignore_adverts: newer('2.3.3'),
    auth_hmac: newer('2.4.0'),
    use_vmac_addr: notImplemented(),
    use_ipvlan: notImplemented(),
    unicast_fault_no_peer: notImplemented(),
    native_ipv6: notImplemented(),
    vrf: notImplemented(),
    track_bfd: refusedTracker('BFD session'),
    mcast_dst_ip: notImplemented(),
    track_src_ip: notImplemented(),
    unicast_ttl: notImplemented(),
    promote_secondaries: notImplemented(),
    linkbeat_use_polling: notImplemented(),
    debug: notImplemented(),
    notify_priority_changes: notImplemented(),
    garp_extra_if: notImplemented(),
    kernel_rx_buf_size: notImplemented(),
    lvs_sync_daemon_interface: obsolete("global_defs 'lvs_sync_daemon'"),
    vmac_garp_intvl: obsolete('garp_extra_if'),
  },
};

/* ------------------------------------------------------------------ vrrp_sync_group */

export const SYNC_GROUP: BlockTable = {
  name: 'vrrp_sync_group',
  keywords: {
    group: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'group',
      handle: (cx, n, t) => {
        const names = (n.children ?? []).flatMap((c) => [c.keyword, ...c.args.map((a) => a.text)]);
        const positions = (n.children ?? []).flatMap((c) => [c.pos, ...c.args.map((a) => a.pos)]);
        const list = ensure(t, 'group', []) as string[];
        names.forEach((name, i) => {
          cx.positions.set(list, String(list.length), positions[i]);
          list.push(name);
        });
        cx.positions.set(t, 'group', n.pos);
      },
    },
    track_interface: trackBlock('trackInterfaces', 'track_interface'),
    track_script: trackBlock('trackScripts', 'track_script'),
    track_file: trackBlock('trackFiles', 'track_file'),
    track_process: trackBlock('trackProcesses', 'track_process', 254),
    notify_master: notifyKw('master'),
    notify_backup: notifyKw('backup'),
    notify_fault: notifyKw('fault'),
    notify_stop: notifyKw('stop'),
    notify: notifyKw('any'),
    smtp_alert: boolFlagKw('smtpAlert', true, 'global smtp_alert_vrrp / smtp_alert, else off'),
    track_bfd: refusedTracker('BFD session'),
    sync_group_tracking_weight: notImplemented(),
    notify_priority_changes: notImplemented(),
    global_tracking: obsolete('sync_group_tracking_weight'),
  },
};

/* ------------------------------------------------------------------ LVS: checkers */

/** keepalived's PING_CHECK takes the connection keywords but sends ICMP: no ports, no bind, no mark. */
const PING_IGNORES =
  "keepalived's PING_CHECK accepts it but does not use it (ICMP has no ports; the echo is not bound)";

const checkerCommon = (connection: boolean, ping = false): Record<string, Keyword> => ({
  ...(connection
    ? {
        connect_ip: ipKw('connectIp', 'connect_ip'),
        connect_port: {
          status: 'implemented',
          args: [1, 1],
          yaml: 'connectPort',
          ...(ping ? { noEffect: PING_IGNORES } : {}),
          handle: (cx, n, t) =>
            set(cx, t, 'connectPort', cx.values.port(n.args[0], 'connect_port'), argPos(n)),
        },
        bindto: { ...ipKw('bindTo', 'bindto'), ...(ping ? { noEffect: PING_IGNORES } : {}) },
        bind_port: {
          status: 'implemented',
          args: [1, 1],
          yaml: 'bindPort',
          ...(ping ? { noEffect: PING_IGNORES } : {}),
          handle: (cx, n, t) => set(cx, t, 'bindPort', cx.values.port(n.args[0], 'bind_port'), argPos(n)),
        },
        bind_if: stringKw('bindIf'),
        connect_timeout: secondsKw('connectTimeoutMs', 'connect_timeout', 'real server', 1),
        // keepalived sets SO_MARK on the checker's socket; halo's checkers cannot mark yet.
        fwmark: notImplemented(),
      }
    : {}),
  retry: intKw('retry', 0, 4_294_967_295, 'retry', 'real server, else 1 (DNS_CHECK 3, MISC_CHECK 0)'),
  delay_before_retry: secondsKw(
    'delayBeforeRetryMs',
    'delay_before_retry',
    'real server, else 1 s (HTTP 3 s)',
  ),
  warmup: secondsKw('warmupMs', 'warmup', 'real server, else delay_loop'),
  delay_loop: secondsKw('delayLoopMs', 'delay_loop', 'real server', 1),
  alpha: boolFlagKw('alpha', true, 'real server'),
  log_all_failures: boolFlagKw('logAllFailures'),
});

const URL_BLOCK: BlockTable = {
  name: 'url',
  keywords: {
    path: stringKw('path'),
    digest: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'digest',
      handle: (cx, n, t) => {
        if (!/^[0-9a-fA-F]{32}$/.test(n.args[0].text)) {
          cx.sink.error(n.args[0].pos, `digest: '${n.args[0].text}' is not a 32-digit MD5 hex string`);
          return;
        }
        set(cx, t, 'digest', n.args[0].text.toLowerCase(), argPos(n));
      },
    },
    status_code: {
      status: 'implemented',
      args: [1, Number.POSITIVE_INFINITY],
      yaml: 'statusCodes',
      default: '200-299',
      handle: (cx, n, t) => {
        const ranges: Obj[] = [];
        for (const a of n.args) {
          const m = /^(\d+)(?:-(\d+))?$/.exec(a.text);
          const from = m ? Number(m[1]) : Number.NaN;
          const to = m?.[2] ? Number(m[2]) : from;
          if (!m || from < 100 || to > 599 || from > to) {
            cx.sink.error(a.pos, `status_code: '${a.text}' is not a status code or range in 100-599`);
            return;
          }
          ranges.push({ from, to });
        }
        set(cx, t, 'statusCodes', ranges, argPos(n));
      },
    },
    virtualhost: stringKw('virtualhost'),
    regex: stringKw('regex'),
    regex_no_match: flagKw('regexNoMatch'),
    regex_options: {
      status: 'implemented',
      args: [1, Number.POSITIVE_INFINITY],
      yaml: 'regexOptions',
      handle: (cx, n, t) => {
        const list = ensure(t, 'regexOptions', []) as string[];
        for (const a of n.args) {
          // keepalived ignores unknown words silently: halo ignores them too, with a warning (--strict: error).
          const o = (PCRE2_OPTIONS as readonly string[]).includes(a.text) ? a.text : undefined;
          if (o === undefined) {
            const message = `regex_options: unknown option '${a.text}' (one of ${PCRE2_OPTIONS.join(', ')})`;
            if (cx.strict) cx.sink.error(a.pos, message);
            else cx.sink.warning(a.pos, `${message}: ignored, as keepalived does`);
          } else if (!list.includes(o)) list.push(o);
        }
        cx.positions.set(t, 'regexOptions', argPos(n));
      },
    },
    regex_min_offset: intKw('regexMinOffset', 0, Number.MAX_SAFE_INTEGER, 'regex_min_offset', '0'),
    regex_max_offset: intKw('regexMaxOffset', 0, Number.MAX_SAFE_INTEGER, 'regex_max_offset', 'none'),
    regex_stack: notImplemented({
      note: "has no effect in halo (it sizes PCRE2's JIT stack; halo runs the regex as a JS RegExp)",
    }),
    tls_compliant: newer('2.2.8'),
  },
};

function httpTable(name: 'HTTP_GET' | 'SSL_GET'): BlockTable {
  return {
    name,
    keywords: {
      ...checkerCommon(true),
      nb_get_retry: {
        ...intKw('retry', 0, 4_294_967_295, 'nb_get_retry'),
        yaml: 'retry',
        deprecated: 'retry',
      },
      virtualhost: stringKw('virtualhost'),
      http_protocol: {
        status: 'implemented',
        args: [1, 1],
        yaml: 'httpProtocol',
        default: '1.0',
        handle: (cx, n, t) =>
          set(
            cx,
            t,
            'httpProtocol',
            cx.values.oneOf(n.args[0], ['1.0', '1.0C', '1.0K', '1.1'], 'http_protocol'),
            argPos(n),
          ),
      },
      enable_sni: boolFlagKw('enableSni'),
      fast_recovery: boolFlagKw('fastRecovery'),
      tls_compliant: newer('2.2.8'),
      ...(name === 'SSL_GET' ? { sni_name: newer('after 2.4.3') } : {}),
      url: {
        status: 'implemented',
        block: 'required',
        args: [0, 0],
        yaml: 'urls',
        handle: (cx, n, t) => {
          const url = childObject(cx, n);
          runBlock(cx, n.children ?? [], URL_BLOCK, url);
          if (url.path === undefined) {
            cx.sink.error(n.closePos ?? n.pos, "url block needs a 'path'");
            return;
          }
          push(t, 'urls', url);
        },
      },
    },
  };
}

const CHECKER_TABLES: Record<string, BlockTable> = {
  TCP_CHECK: { name: 'TCP_CHECK', keywords: checkerCommon(true) },
  HTTP_GET: httpTable('HTTP_GET'),
  SSL_GET: httpTable('SSL_GET'),
  MISC_CHECK: {
    name: 'MISC_CHECK',
    keywords: {
      ...checkerCommon(false),
      misc_path: scriptKw('miscPath'),
      misc_timeout: secondsKw('miscTimeoutMs', 'misc_timeout', 'delay_loop', 0),
      misc_dynamic: flagKw('miscDynamic'),
      user: {
        status: 'implemented',
        args: [1, 2],
        yaml: 'user, group',
        handle: (cx, n, t) => {
          set(cx, t, 'user', n.args[0].text, argPos(n));
          if (n.args[1]) set(cx, t, 'group', n.args[1].text, argPos(n, 1));
        },
      },
    },
  },
  PING_CHECK: { name: 'PING_CHECK', keywords: checkerCommon(true, true) },
  UDP_CHECK: {
    name: 'UDP_CHECK',
    keywords: {
      ...checkerCommon(true),
      payload: {
        status: 'implemented',
        args: [1, Number.POSITIVE_INFINITY],
        yaml: 'payload',
        handle: (cx, n, t) => {
          const hex = n.args.map((a) => a.text).join('');
          if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
            cx.sink.error(n.args[0].pos, 'payload: expected hex bytes (e.g. 0a1b2c)');
            return;
          }
          set(cx, t, 'payload', hex.toLowerCase(), argPos(n));
        },
      },
      require_reply: {
        status: 'implemented',
        args: [0, Number.POSITIVE_INFINITY],
        yaml: 'requireReply, replyPattern',
        handle: (cx, n, t) => {
          set(cx, t, 'requireReply', true, n.pos);
          if (n.args.length > 0) set(cx, t, 'replyPattern', n.args.map((a) => a.text).join(''), argPos(n));
        },
      },
      min_reply_length: intKw('minReplyLength', 0, 65535, 'min_reply_length', '0'),
      max_reply_length: intKw('maxReplyLength', 0, 65535, 'max_reply_length', '255'),
    },
  },
  DNS_CHECK: {
    name: 'DNS_CHECK',
    keywords: {
      ...checkerCommon(true),
      type: {
        status: 'implemented',
        args: [1, 1],
        yaml: 'queryType',
        default: 'SOA',
        handle: (cx, n, t) =>
          set(
            cx,
            t,
            'queryType',
            cx.values.oneOf(
              n.args[0],
              ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA', 'RRSIG', 'DNSKEY'],
              'DNS_CHECK type',
            ),
            argPos(n),
          ),
      },
      name: stringKw('name', "'' (the root)"),
    },
  },
  SMTP_CHECK: {
    name: 'SMTP_CHECK',
    keywords: {
      ...checkerCommon(true),
      helo_name: stringKw('heloName', 'smtpchecker.keepalived.org'),
      host: obsolete('connect_ip / connect_port in SMTP_CHECK'),
    },
  },
  // keepalived 2.2.x check_file.c: only these two (no timing or connection keywords).
  FILE_CHECK: {
    name: 'FILE_CHECK',
    keywords: {
      track_file: stringKw('trackFile'),
      weight: {
        status: 'implemented',
        args: [1, 2],
        yaml: 'weight, weightReverse',
        default: "the track_file's",
        handle: (cx, n, t) => {
          set(
            cx,
            t,
            'weight',
            cx.values.int(n.args[0], -2_147_483_647, 2_147_483_647, 'FILE_CHECK weight'),
            argPos(n),
          );
          const dir = n.args[1]?.text;
          if (dir === 'reverse' || dir === 'noreverse')
            set(cx, t, 'weightReverse', dir === 'reverse', argPos(n, 1));
          else if (dir !== undefined) {
            cx.sink.error(
              n.args[1].pos,
              `FILE_CHECK weight: expected 'reverse' or 'noreverse', got '${dir}'`,
            );
          }
        },
      },
      // In keepalived.conf(5) but not in 2.2.7's parser (an unknown keyword there): the weight always applies.
      dynamic: notImplemented({
        note: 'is documented by keepalived but not read by keepalived 2.2.7 (the weight always applies)',
      }),
    },
  },
};

function checkerKw(type: string): Keyword {
  return {
    status: 'implemented',
    block: 'required',
    args: [0, 0],
    yaml: `checkers[].type: ${type}`,
    handle: (cx, n, t) => {
      const checker = childObject(cx, n, { type });
      runBlock(cx, n.children ?? [], CHECKER_TABLES[type], checker);
      if (type === 'MISC_CHECK' && checker.miscPath === undefined) {
        cx.sink.error(n.closePos ?? n.pos, "MISC_CHECK needs a 'misc_path'");
        return;
      }
      if ((type === 'HTTP_GET' || type === 'SSL_GET') && !checker.urls) {
        cx.sink.error(n.closePos ?? n.pos, `${type} needs at least one 'url' block`);
        return;
      }
      if (type === 'FILE_CHECK' && checker.trackFile === undefined) {
        cx.sink.error(n.closePos ?? n.pos, "FILE_CHECK needs a 'track_file'");
        return;
      }
      push(t, 'checkers', checker);
    },
  };
}

/* ------------------------------------------------------------------ LVS: real_server / virtual_server */

function forwardingKw(field: string, what: string): Keyword {
  return {
    status: 'implemented',
    args: [1, Number.POSITIVE_INFINITY],
    yaml: field,
    default: 'NAT',
    handle: (cx, n, t) => {
      const m = cx.values.oneOf(n.args[0], ['NAT', 'DR', 'TUN'], what);
      if (!m) return;
      if (n.args.length > 1) {
        // lvs_method TUN type ipip|gue|gre port N [nocsum|csum|remcsum]
        warnOrError(
          cx,
          n.args[1].pos,
          `${what}: tunnel options are not implemented by halo yet and are ignored`,
        );
      }
      set(cx, t, field, m, argPos(n));
    },
  };
}

const inheritedLvsKeywords = (): Record<string, Keyword> => ({
  retry: intKw('retry', 1, 4_294_967_295, 'retry', '1'),
  delay_before_retry: secondsKw('delayBeforeRetryMs', 'delay_before_retry', '1 s'),
  warmup: secondsKw('warmupMs', 'warmup', 'delay_loop'),
  connect_timeout: secondsKw('connectTimeoutMs', 'connect_timeout', '5 s', 1),
  delay_loop: secondsKw('delayLoopMs', 'delay_loop', '60 s', 1),
  inhibit_on_failure: boolFlagKw('inhibitOnFailure'),
  virtualhost: stringKw('virtualhost'),
});

export const REAL_SERVER: BlockTable = {
  name: 'real_server',
  keywords: {
    ...inheritedLvsKeywords(),
    // keepalived does not inherit it from the virtual server, and it is on unless global_defs says otherwise.
    smtp_alert: boolFlagKw('smtpAlert', true, 'global smtp_alert_checker / smtp_alert, else on'),
    weight: intKw('weight', 0, 2_147_483_647, 'real_server weight', '1'),
    lvs_method: forwardingKw('forwardingMethod', 'lvs_method'),
    uthreshold: intKw('uthreshold', 0, 4_294_967_295, 'uthreshold'),
    lthreshold: intKw('lthreshold', 0, 4_294_967_295, 'lthreshold'),
    notify_up: scriptKw('notifyUp'),
    notify_down: scriptKw('notifyDown'),
    alpha: boolFlagKw('alpha', true, 'virtual server'),
    ...Object.fromEntries(CHECKER_TYPES.map((c) => [c, checkerKw(c)])),
    BFD_CHECK: notImplemented(),
    snmp_name: notImplemented(),
  },
};

const SCHEDULER_FLAGS = [
  'flag-1',
  'flag-2',
  'flag-3',
  'sh-port',
  'sh-fallback',
  'mh-port',
  'mh-fallback',
] as const;

function schedulerFlagKw(flag: (typeof SCHEDULER_FLAGS)[number]): Keyword {
  return {
    status: 'implemented',
    args: [0, 0],
    yaml: `schedulerFlags: [${flag}]`,
    handle: (cx, n, t) => {
      const list = ensure(t, 'schedulerFlags', []) as string[];
      if (!list.includes(flag)) list.push(flag);
      cx.positions.set(t, 'schedulerFlags', n.pos);
    },
  };
}

function schedulerKw(): Keyword {
  return {
    status: 'implemented',
    args: [1, 1],
    yaml: 'scheduler',
    default: 'wlc',
    handle: (cx, n, t) =>
      set(cx, t, 'scheduler', cx.values.oneOf(n.args[0], SCHEDULERS, n.keyword), argPos(n)),
  };
}

export const VIRTUAL_SERVER: BlockTable = {
  name: 'virtual_server',
  keywords: {
    ...inheritedLvsKeywords(),
    smtp_alert: boolFlagKw('smtpAlert', true, 'global smtp_alert_checker / smtp_alert, else off'),
    ip_family: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'family',
      handle: (cx, n, t) => {
        const f = cx.values.oneOf(n.args[0], ['inet', 'inet6'], 'ip_family');
        if (f) set(cx, t, 'family', f === 'inet' ? 4 : 6, argPos(n));
      },
    },
    lb_algo: schedulerKw(),
    lvs_sched: schedulerKw(),
    hashed: schedulerFlagKw('flag-1'),
    ops: flagKw('ops'),
    ...Object.fromEntries(SCHEDULER_FLAGS.map((f) => [f, schedulerFlagKw(f)])),
    lb_kind: forwardingKw('forwardingMethod', 'lb_kind'),
    lvs_method: forwardingKw('forwardingMethod', 'lvs_method'),
    persistence_timeout: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'persistence.timeoutMs',
      default: '360 s when persistence is used',
      handle: (cx, n, t) => {
        const p = ensure(t, 'persistence', {}) as Obj;
        cx.positions.setObject(p, n.pos);
        if (n.args[0])
          set(
            cx,
            p,
            'timeoutMs',
            cx.values.seconds(n.args[0], 'persistence_timeout', 1000, 4_294_967_295_000),
            argPos(n),
          );
      },
    },
    persistence_granularity: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'persistence.granularity',
      handle: (cx, n, t) => {
        const g = n.args[0].text;
        if (!/^\d{1,3}$/.test(g) && !parseCidr(g)) {
          cx.sink.error(n.args[0].pos, `persistence_granularity: '${g}' is not a netmask or prefix length`);
          return;
        }
        const p = ensure(t, 'persistence', {}) as Obj;
        cx.positions.setObject(p, n.pos);
        set(cx, p, 'granularity', g, argPos(n));
      },
    },
    protocol: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'protocol',
      default: 'TCP',
      handle: (cx, n, t) => {
        // keepalived compares the protocol case-insensitively.
        const up = n.args[0].text.toUpperCase();
        if (up === 'TCP' || up === 'UDP' || up === 'SCTP') set(cx, t, 'protocol', up, argPos(n));
        else cx.values.oneOf(n.args[0], ['TCP', 'UDP', 'SCTP'], 'protocol');
      },
    },
    ha_suspend: flagKw('haSuspend'),
    alpha: boolFlagKw('alpha'),
    omega: flagKw('omega'),
    quorum_up: scriptKw('quorumUp'),
    quorum_down: scriptKw('quorumDown'),
    quorum: intKw('quorum', 1, 4_294_967_295, 'quorum', '1'),
    hysteresis: intKw('hysteresis', 0, 4_294_967_295, 'hysteresis', '0'),
    sorry_server: {
      status: 'implemented',
      args: [1, 2],
      yaml: 'sorryServer',
      handle: (cx, n, t) => {
        const address = cx.values.ip(n.args[0], 'sorry_server');
        if (!address) return;
        const s = ((t.sorryServer as Obj | undefined) ?? {}) as Obj;
        s.address = address;
        if (n.args[1]) s.port = cx.values.port(n.args[1], 'sorry_server port');
        set(cx, t, 'sorryServer', s, argPos(n));
      },
    },
    sorry_server_inhibit: {
      status: 'implemented',
      args: [0, 1],
      yaml: 'sorryServer.inhibit',
      handle: (cx, n, t) => {
        const s = ensure(t, 'sorryServer', {}) as Obj;
        s.inhibit = n.args[0] ? cx.values.bool(n.args[0], 'sorry_server_inhibit') : true;
      },
    },
    sorry_server_lvs_method: {
      ...forwardingKw('forwardingMethod', 'sorry_server_lvs_method'),
      yaml: 'sorryServer.forwardingMethod',
      handle: (cx, n, t) => {
        const s = ensure(t, 'sorryServer', {}) as Obj;
        forwardingKw('forwardingMethod', 'sorry_server_lvs_method').handle?.(cx, n, s);
      },
    },
    real_server: {
      status: 'implemented',
      block: 'required',
      args: [1, 2],
      yaml: 'realServers',
      handle: (cx, n, t) => {
        const rs = childObject(cx, n);
        const address = cx.values.ip(n.args[0], 'real_server');
        if (!address) return;
        set(cx, rs, 'address', address, argPos(n));
        if (n.args[1]) set(cx, rs, 'port', cx.values.port(n.args[1], 'real_server port'), argPos(n, 1));
        runBlock(cx, n.children ?? [], REAL_SERVER, rs);
        push(t, 'realServers', rs);
      },
    },
    persistence_engine: notImplemented(),
    snmp_name: notImplemented(),
    weight: notImplemented(),
  },
};

/* ------------------------------------------------------------------ bgp (halo's own block) */

/** community / large_community: one or more values per line, several lines add up. */
function communityKw(field: string, pattern: RegExp, what: string, max: number): Keyword {
  return {
    status: 'implemented',
    args: [1, Number.POSITIVE_INFINITY],
    yaml: field,
    handle: (cx, n, t) => {
      const list = ensure(t, field, []) as string[];
      for (const a of n.args) {
        if (!pattern.test(a.text) || a.text.split(':').some((x) => Number(x) > max)) {
          cx.sink.error(a.pos, `${n.keyword}: '${a.text}' is not a ${what}`);
          continue;
        }
        list.push(a.text);
      }
      cx.positions.set(t, field, argPos(n));
    },
  };
}

export const BGP_ANNOUNCE: BlockTable = {
  name: 'announce',
  keywords: {
    quorum: intKw('quorum', 1, 4_294_967_295, 'quorum', "each virtual server's own"),
    hysteresis: intKw('hysteresis', 0, 4_294_967_295, 'hysteresis', "each virtual server's own"),
    community: communityKw('communities', /^\d{1,5}:\d{1,5}$/, 'community ASN:VALUE (0-65535 each)', 65535),
    large_community: communityKw(
      'largeCommunities',
      /^\d{1,10}:\d{1,10}:\d{1,10}$/,
      'large community ASN:VALUE1:VALUE2',
      4_294_967_295,
    ),
    med: intKw('med', 0, 4_294_967_295, 'med', 'none'),
    as_path_prepend: intKw('asPathPrepend', 0, 16, 'as_path_prepend', '0'),
  },
};

export const BGP: BlockTable = {
  name: 'bgp',
  keywords: {
    speaker: {
      status: 'implemented',
      args: [1, 1],
      yaml: 'speaker',
      default: 'bird',
      noEffect: 'BIRD 2 is the one speaker halo drives today (docs/bgp.md); the keyword names it explicitly',
      handle: (cx, n, t) => set(cx, t, 'speaker', cx.values.oneOf(n.args[0], ['bird'], 'speaker'), argPos(n)),
    },
    control_socket: stringKw('controlSocket', '/run/bird/bird.ctl'),
    routes_file: stringKw('routesFile', '/run/halo/bird/halo-vips.conf'),
    protocol_name: stringKw('protocolName', 'halo_vips'),
    local_as: intKw('localAs', 1, 4_294_967_295, 'local_as'),
    router_id: ipKw('routerId', 'router_id'),
    vip_interface: stringKw('vipInterface', 'lo'),
    announce_delay: secondsKw('announceDelayMs', 'announce_delay', '0'),
    withdraw_delay: secondsKw('withdrawDelayMs', 'withdraw_delay', '2 s'),
    withdraw_timeout: secondsKw('withdrawTimeoutMs', 'withdraw_timeout', '10 s', 1),
    poll_interval: secondsKw('pollIntervalMs', 'poll_interval', '1 s', 100),
    announce: {
      status: 'implemented',
      block: 'optional',
      args: [1, 1],
      yaml: 'announce',
      handle: (cx, n, t) => {
        const a = childObject(cx, n);
        const address = cx.values.ip(n.args[0], 'announce');
        if (!address) return;
        set(cx, a, 'address', address, argPos(n));
        runBlock(cx, n.children ?? [], BGP_ANNOUNCE, a);
        push(t, 'announce', a);
      },
    },
  },
};

/* ------------------------------------------------------------------ top level */

function namedBlock(field: string, table: BlockTable, nameField = 'name'): Keyword {
  return {
    status: 'implemented',
    block: 'required',
    args: [1, 1],
    yaml: field,
    handle: (cx, n, _t) => {
      const obj = childObject(cx, n, { [nameField]: n.args[0].text });
      cx.positions.set(obj, nameField, argPos(n));
      runBlock(cx, n.children ?? [], table, obj);
      push(cx.config, field, obj);
    },
  };
}

export const ROOT: BlockTable = {
  name: 'the top level',
  keywords: {
    global_defs: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'global',
      handle: (cx, n) => {
        const g = ensure(cx.config, 'global', {}) as Obj;
        if (!g.source) {
          g.source = { file: n.pos.file, line: n.pos.line, col: n.pos.col };
          cx.positions.setObject(g, n.pos);
        }
        runBlock(cx, n.children ?? [], GLOBAL_DEFS, g);
      },
    },
    vrrp_script: namedBlock('vrrpScripts', VRRP_SCRIPT),
    vrrp_track_file: namedBlock('trackFiles', TRACK_FILE),
    track_file: namedBlock('trackFiles', TRACK_FILE),
    vrrp_instance: namedBlock('vrrpInstances', VRRP_INSTANCE),
    vrrp_sync_group: namedBlock('syncGroups', SYNC_GROUP),
    virtual_server_group: {
      status: 'implemented',
      block: 'required',
      args: [1, 1],
      yaml: 'virtualServerGroups',
      handle: (cx, n) => {
        const group = childObject(cx, n, { name: n.args[0].text, members: [] });
        const members = group.members as Obj[];
        for (const line of n.children ?? []) {
          const m = parseGroupMember(cx, line);
          if (m) members.push(m);
        }
        push(cx.config, 'virtualServerGroups', group);
      },
    },
    virtual_server: {
      status: 'implemented',
      block: 'required',
      args: [1, 2],
      yaml: 'virtualServers',
      handle: (cx, n) => {
        const vs = childObject(cx, n);
        const a = n.args;
        if (a[0].text === 'fwmark') {
          if (!a[1]) return cx.sink.error(a[0].pos, "'virtual_server fwmark' needs a mark number");
          set(cx, vs, 'fwmark', cx.values.int(a[1], 1, 4_294_967_295, 'virtual_server fwmark'), a[1].pos);
        } else if (a[0].text === 'group') {
          if (!a[1]) return cx.sink.error(a[0].pos, "'virtual_server group' needs a group name");
          set(cx, vs, 'group', a[1].text, a[1].pos);
        } else {
          const address = cx.values.ip(a[0], 'virtual_server');
          if (!address) return;
          set(cx, vs, 'address', address, a[0].pos);
          if (a[1]) set(cx, vs, 'port', cx.values.port(a[1], 'virtual_server port'), a[1].pos);
        }
        runBlock(cx, n.children ?? [], VIRTUAL_SERVER, vs);
        push(cx.config, 'virtualServers', vs);
      },
    },
    bgp: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'bgp',
      handle: (cx, n) => {
        if (cx.config.bgp !== undefined)
          return cx.sink.error(n.pos, "'bgp' is given twice", 'use one bgp block');
        const b = childObject(cx, n);
        cx.config.bgp = b;
        runBlock(cx, n.children ?? [], BGP, b);
      },
    },
    linkbeat_use_polling: notImplemented(),
    net_namespace: notImplemented(),
    net_namespace_ipvs: notImplemented(),
    namespace_with_ipsets: notImplemented(),
    use_pid_dir: notImplemented(),
    instance: notImplemented(),
    child_wait_time: notImplemented(),
    track_group: notImplemented(),
    static_ipaddress: {
      status: 'implemented',
      block: 'required',
      args: [0, 0],
      yaml: 'staticIpaddresses',
      handle: (cx, n) => {
        const list = ensure(cx.config, 'staticIpaddresses', []) as Obj[];
        for (const line of n.children ?? []) {
          const a = parseVip(cx, line, true);
          if (a) list.push(a);
        }
        cx.positions.set(cx.config, 'staticIpaddresses', n.pos);
      },
    },
    static_routes: lineBlock('staticRoutes', parseRouteLine, true, true),
    static_rules: lineBlock('staticRules', parseRuleLine, true, true),
    garp_group: notImplemented(),
    linkbeat_interfaces: notImplemented(),
    vrrp_track_process: {
      ...namedBlock('vrrpTrackProcesses', VRRP_TRACK_PROCESS),
      handle: (cx, n) => {
        const obj = childObject(cx, n, { name: n.args[0].text });
        cx.positions.set(obj, 'name', argPos(n));
        runBlock(cx, n.children ?? [], VRRP_TRACK_PROCESS, obj);
        if (obj.process === undefined) {
          // keepalived drops the block: "track process 'NAME' process name not specified".
          cx.sink.error(n.closePos ?? n.pos, `vrrp_track_process ${n.args[0].text} needs a 'process'`);
          return;
        }
        // keepalived: quorum_max 0 ("must not run") turns the default quorum 1 into 0.
        if (obj.quorumMax === 0 && (obj.quorum === undefined || obj.quorum === 1)) obj.quorum = 0;
        push(cx.config, 'vrrpTrackProcesses', obj);
      },
    },
    interface_up_down_delays: notImplemented(),
    SSL: notImplemented(),
    bfd_instance: notImplemented(),
  },
};

/** "IP PORT", "IP-LASTOCTET PORT" (a range) or "fwmark N" inside virtual_server_group. */
function parseGroupMember(cx: BuildContext, line: ConfNode): Obj | undefined {
  const src = { file: line.pos.file, line: line.pos.line, col: line.pos.col };
  if (line.keyword === 'fwmark') {
    if (!line.args[0]) return void cx.sink.error(line.pos, "'fwmark' needs a mark number");
    const mark = cx.values.int(line.args[0], 1, 4_294_967_295, 'fwmark');
    if (mark === undefined) return undefined;
    const m: Obj = { type: 'fwmark', fwmark: mark, source: src };
    cx.positions.setObject(m, line.pos);
    return m;
  }
  let address = line.keyword;
  let rangeEnd: string | undefined;
  const dash = /^(.*)-([0-9a-fA-F]+)$/.exec(address);
  if (dash && isAddress(dash[1])) {
    address = dash[1];
    // The range end replaces the last byte (IPv4) or the last 16-bit group (IPv6), as keepalived does.
    rangeEnd = address.includes(':')
      ? address.replace(/[0-9a-fA-F]*$/, dash[2])
      : address.replace(/\d+$/, String(Number.parseInt(dash[2], 10)));
  }
  if (!isAddress(address) || (rangeEnd !== undefined && !isAddress(rangeEnd))) {
    cx.sink.error(
      line.pos,
      `invalid virtual_server_group entry '${line.keyword}'`,
      semicolonHint(line.keyword),
    );
    return undefined;
  }
  const m: Obj = { type: 'address', address, source: src };
  if (rangeEnd) m.rangeEnd = rangeEnd;
  if (line.args[0]) m.port = cx.values.port(line.args[0], 'virtual_server_group port');
  if (line.args.length > 1)
    cx.sink.error(line.args[1].pos, `unexpected '${line.args[1].text}' in virtual_server_group entry`);
  cx.positions.setObject(m, line.pos);
  return m;
}

function isAddress(s: string): boolean {
  return parseCidr(s) !== undefined && !s.includes('/');
}

/** Every keyword table, for "it belongs in ..." hints and the docs. */
export const ALL_TABLES: BlockTable[] = [
  ROOT,
  GLOBAL_DEFS,
  VRRP_SCRIPT,
  TRACK_FILE,
  VRRP_TRACK_PROCESS,
  VRRP_INSTANCE,
  AUTHENTICATION,
  SYNC_GROUP,
  VIRTUAL_SERVER,
  REAL_SERVER,
  ...Object.values(CHECKER_TABLES),
  URL_BLOCK,
  BGP,
  BGP_ANNOUNCE,
];

/** Top-level blocks: meeting one nested inside another block means a '}' is missing. */
export const TOP_LEVEL_BLOCKS: ReadonlySet<string> = new Set([
  'global_defs',
  'vrrp_instance',
  'vrrp_sync_group',
  'vrrp_script',
  'vrrp_track_file',
  'virtual_server',
  'virtual_server_group',
  'vrrp_track_process',
  'static_ipaddress',
  'static_routes',
  'static_rules',
  'garp_group',
  'bfd_instance',
  'bgp',
]);
