/**
 * Map the normalised config model (src/config/model.ts; inheritance and
 * defaults already applied by the config loader) onto the engine's plan.
 *
 * Keys: a virtual server is "ADDR:PORT" ("[v6]:PORT"), "fwmark N" or
 * "group NAME"; a real server "ADDR:PORT"; a checker "VS/RS#i" (its index
 * among the real server's checkers). Checkers that cannot run (a bad hex
 * pattern, an unparsable command line) are left out and reported.
 */
import type { Checker, HaloConfig, HttpUrl, RealServer, VirtualServer } from '../config/model.js';
import type { AddressRange } from './ha-suspend.js';
import { translatePcre } from './pcre.js';
import { splitCommandLine } from './script-runner.js';
import type {
  CheckPlan,
  CheckTarget,
  CheckTiming,
  HttpRegexTarget,
  PlanChecker,
  PlanRealServer,
  PlanVirtualServer,
} from './types.js';

export interface PlanProblem {
  checkerId: string;
  message: string;
  source?: { file: string; line: number };
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function virtualServerKey(vs: VirtualServer): string {
  if (vs.fwmark !== undefined) return `fwmark ${vs.fwmark}`;
  if (vs.group !== undefined) return `group ${vs.group}`;
  return hostPort(vs.address ?? '?', vs.port);
}

export function realServerKey(vs: VirtualServer, rs: RealServer): string {
  return hostPort(rs.address, rs.port || vs.port);
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

/** The engine plan for every checked real server in the config. */
export function planFromConfig(cfg: HaloConfig): { plan: CheckPlan; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const virtualServers: PlanVirtualServer[] = [];
  for (const vs of cfg.virtualServers) {
    const vsKey = virtualServerKey(vs);
    const realServers: PlanRealServer[] = [];
    for (const rs of vs.realServers) {
      const rsKey = realServerKey(vs, rs);
      const checkers: PlanChecker[] = [];
      rs.checkers.forEach((c, i) => {
        const id = `${vsKey}/${rsKey}#${i}`;
        try {
          checkers.push({
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
          });
        } catch (err) {
          problems.push({ checkerId: id, message: (err as Error).message, source: c.source });
        }
      });
      realServers.push({ key: rsKey, weight: rs.weight, checkers });
    }
    virtualServers.push({ key: vsKey, omega: vs.omega, realServers, haSuspend: haSuspendRanges(cfg, vs) });
  }
  return { plan: { virtualServers }, problems };
}
