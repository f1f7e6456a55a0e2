/**
 * The health checker's plan: every checker of every real server with its target and resolved timing,
 * built by one pure function from the normalised config model (inheritance and defaults are already
 * applied by the config loader). Virtual servers, real servers and checkers carry their typed identity
 * (src/plan/ids.ts) and its opaque map key; nothing downstream parses a key.
 *
 * Checkers that cannot run (a bad hex pattern, an unparsable command line) are left out and reported.
 */

import type { AddressRange } from '../check/ha-suspend.js';
import { translatePcre } from '../check/pcre.js';
import { splitCommandLine } from '../check/script-runner.js';
import type {
  CheckPlan,
  CheckTarget,
  CheckTiming,
  HttpRegexTarget,
  PlanChecker,
  PlanRealServer,
  PlanVirtualServer,
} from '../check/types.js';
import type { Checker, HaloConfig, HttpUrl, RealServer, VirtualServer } from '../config/model.js';
import { type CheckerId, checkerKey, describeChecker, realServerKey, virtualServerKey } from './ids.js';
import { realServerIdOf, virtualServerIdOf } from './ipvs.js';

export interface PlanProblem {
  checker: CheckerId;
  message: string;
  source?: { file: string; line: number };
}

/**
 * keepalived's hex strings (lib/parser.c read_hex_str): hex digits, blanks
 * between bytes, a lone digit before a blank is one byte, and with
 * `allowWildcard` an 'x' nibble matches anything (returned in the mask).
 */
export function parseHexPattern(text: string, allowWildcard: boolean): { data: Buffer; mask?: Buffer } {
  const data: number[] = [];
  const mask: number[] = [];
  let usingMask = false;
  const nibble = (ch: string): number => {
    if (/[0-9a-fA-F]/.test(ch)) return Number.parseInt(ch, 16);
    if (allowWildcard && (ch === 'x' || ch === 'X')) return -1;
    throw new Error(`invalid hex digit '${ch}' in '${text}'`);
  };
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    let v = nibble(text[i++]);
    let m = 0;
    if (v < 0) {
      v = 0;
      m = 0x0f;
      usingMask = true;
    }
    if (i < text.length && text[i] !== ' ' && text[i] !== '\t') {
      let lo = nibble(text[i++]);
      let mlo = 0;
      if (lo < 0) {
        lo = 0;
        mlo = 0x0f;
        usingMask = true;
      }
      v = (v << 4) | lo;
      m = (m << 4) | mlo;
    }
    data.push(v);
    mask.push(m);
  }
  if (data.length === 0) throw new Error(`empty hex string '${text}'`);
  return { data: Buffer.from(data), mask: usingMask ? Buffer.from(mask) : undefined };
}

/** url regex, regex_no_match, regex_options, regex_min_offset, regex_max_offset -> the checker's regex. */
export function regexTarget(u: HttpUrl): HttpRegexTarget | undefined {
  if (u.regex === undefined) return undefined;
  const t = translatePcre(u.regex, u.regexOptions);
  return {
    source: t.source,
    flags: t.flags,
    noMatch: u.regexNoMatch,
    minOffset: u.regexMinOffset ?? 0,
    maxOffset: u.regexMaxOffset,
    firstLine: t.firstLine,
    utf8: t.utf8,
  };
}

/**
 * ha_suspend: the addresses that enable the checkers; undefined when off, or
 * cleared as keepalived clears it on fwmark services and groups with fwmarks.
 */
export function haSuspendRanges(cfg: HaloConfig, vs: VirtualServer): AddressRange[] | undefined {
  if (!vs.haSuspend || vs.fwmark !== undefined) return undefined;
  const family = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);
  if (vs.group !== undefined) {
    const members = cfg.virtualServerGroups.find((g) => g.name === vs.group)?.members ?? [];
    if (members.some((m) => m.type === 'fwmark')) return undefined;
    return members.flatMap((m) =>
      m.type === 'address'
        ? [{ family: family(m.address), first: m.address, last: m.rangeEnd ?? m.address }]
        : [],
    );
  }
  return vs.address === undefined
    ? undefined
    : [{ family: family(vs.address), first: vs.address, last: vs.address }];
}

/** FILE_CHECK has no attempts; the scheduler never reads this. */
const NO_TIMING: CheckTiming = { delayLoopMs: 0, delayBeforeRetryMs: 0, retry: 0, warmupMs: 0, alpha: false };

function buildTarget(cfg: HaloConfig, vs: VirtualServer, rs: RealServer, c: Checker): CheckTarget {
  if (c.type === 'FILE_CHECK') {
    const tf = cfg.trackFiles.find((f) => f.name === c.trackFile);
    if (!tf) throw new Error(`FILE_CHECK: track_file '${c.trackFile}' is not defined`);
    return {
      type: 'FILE_CHECK',
      name: tf.name,
      path: tf.file,
      weight: c.weight,
      reverse: c.weightReverse,
      initFile: tf.initFile,
    };
  }
  const conn = {
    host: c.connectIp ?? rs.address,
    port: c.connectPort ?? (rs.port || vs.port),
    bindTo: c.bindTo,
    bindPort: c.bindPort,
    bindIf: c.bindIf,
    connectTimeoutMs: c.connectTimeoutMs,
  };
  switch (c.type) {
    case 'TCP_CHECK':
      return { type: 'TCP_CHECK', ...conn };
    case 'HTTP_GET':
    case 'SSL_GET':
      return {
        type: c.type,
        ...conn,
        // check_http.c http_request_thread: url > checker > real server > virtual server.
        virtualhost: c.virtualhost ?? rs.virtualhost ?? vs.virtualhost,
        httpProtocol: c.httpProtocol,
        enableSni: c.enableSni,
        urls: c.urls.map((u) => ({
          path: u.path,
          digest: u.digest?.toLowerCase(),
          statusCodes: u.statusCodes,
          virtualhost: u.virtualhost,
          regex: regexTarget(u),
        })),
      };
    case 'MISC_CHECK': {
      splitCommandLine(c.miscPath); // reject unparsable command lines up front
      const user = c.user ?? cfg.global.scriptUser?.user;
      const group = c.user !== undefined ? c.group : (c.group ?? cfg.global.scriptUser?.group);
      return {
        type: 'MISC_CHECK',
        command: c.miscPath,
        timeoutMs: c.miscTimeoutMs,
        dynamic: c.miscDynamic,
        user,
        group,
        scriptSecurity: cfg.global.enableScriptSecurity,
      };
    }
    case 'PING_CHECK':
      return {
        type: 'PING_CHECK',
        host: conn.host,
        connectTimeoutMs: conn.connectTimeoutMs,
        bindIf: c.bindIf,
      };
    case 'UDP_CHECK': {
      const reply = c.replyPattern ? parseHexPattern(c.replyPattern, true) : undefined;
      return {
        type: 'UDP_CHECK',
        ...conn,
        payload: c.payload ? parseHexPattern(c.payload, false).data : undefined,
        requireReply: c.requireReply,
        replyPattern: reply?.data,
        replyMask: reply?.mask,
        minReplyLength: c.minReplyLength,
        maxReplyLength: c.maxReplyLength,
      };
    }
    case 'DNS_CHECK':
      return { type: 'DNS_CHECK', ...conn, queryType: c.queryType, name: c.name };
    case 'SMTP_CHECK':
      return { type: 'SMTP_CHECK', ...conn, heloName: c.heloName };
  }
}

/** The checker plan for every real server in the config. Pure. */
export function buildCheckPlan(cfg: HaloConfig): { plan: CheckPlan; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const virtualServers: PlanVirtualServer[] = [];
  for (const vs of cfg.virtualServers) {
    const vsId = virtualServerIdOf(vs);
    const realServers: PlanRealServer[] = [];
    for (const rs of vs.realServers) {
      const rsId = realServerIdOf(vsId, rs);
      const checkers: PlanChecker[] = [];
      rs.checkers.forEach((c, index) => {
        const id: CheckerId = { rs: rsId, index };
        try {
          checkers.push({
            key: checkerKey(id),
            id,
            timing:
              c.type === 'FILE_CHECK'
                ? NO_TIMING
                : {
                    delayLoopMs: c.delayLoopMs,
                    delayBeforeRetryMs: c.delayBeforeRetryMs,
                    retry: c.retry,
                    warmupMs: c.warmupMs,
                    alpha: c.alpha,
                  },
            target: buildTarget(cfg, vs, rs, c),
            fastRecovery: c.type === 'HTTP_GET' || c.type === 'SSL_GET' ? c.fastRecovery : undefined,
            logAllFailures: c.type !== 'FILE_CHECK' && (c.logAllFailures || cfg.global.checkerLogAllFailures),
          });
        } catch (err) {
          problems.push({ checker: id, message: (err as Error).message, source: c.source });
        }
      });
      realServers.push({ key: realServerKey(rsId), id: rsId, weight: rs.weight, checkers });
    }
    virtualServers.push({
      key: virtualServerKey(vsId),
      id: vsId,
      omega: vs.omega,
      realServers,
      haSuspend: haSuspendRanges(cfg, vs),
    });
  }
  return { plan: { virtualServers }, problems };
}

/** A problem as a log line. */
export function describeProblem(p: PlanProblem): string {
  return `${describeChecker(p.checker)}: ${p.message}`;
}
