/**
 * Map the normalised config model (src/config/model.ts; inheritance and
 * defaults already applied by the config loader) onto the engine's plan.
 *
 * Keys: a virtual server is "ADDR:PORT" ("[v6]:PORT"), "fwmark N" or
 * "group NAME"; a real server "ADDR:PORT"; a checker "VS/RS#i" (its index
 * among the real server's checkers). Checkers that cannot run (a bad hex
 * pattern, an unparsable command line) are left out and reported.
 */
import type { Checker, HaloConfig, RealServer, VirtualServer } from '../config/model.js';
import { splitCommandLine } from './script-runner.js';
import type { CheckPlan, CheckTarget, PlanChecker, PlanRealServer, PlanVirtualServer } from './types.js';

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

function buildTarget(cfg: HaloConfig, vs: VirtualServer, rs: RealServer, c: Checker): CheckTarget {
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
        // check_udp.c udp_check_handler defaults (min/max_reply_length are not in the model yet).
        minReplyLength: 0,
        maxReplyLength: 255,
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
            timing: {
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
    virtualServers.push({ key: vsKey, omega: vs.omega, realServers });
  }
  return { plan: { virtualServers }, problems };
}
