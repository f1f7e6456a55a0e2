/** Dispatch one attempt to the checker for its target type. */
import type { CheckResult, CheckTarget } from '../types.js';
import { checkDns } from './dns.js';
import { checkHttpUrl } from './http.js';
import { checkMisc } from './misc.js';
import { checkPing } from './ping.js';
import { checkSmtp } from './smtp.js';
import { checkTcp } from './tcp.js';
import { checkUdp } from './udp.js';

export type RunCheck = (target: CheckTarget, urlIndex: number, signal: AbortSignal) => Promise<CheckResult>;

export const runCheck: RunCheck = (target, urlIndex, signal) => {
  switch (target.type) {
    case 'TCP_CHECK':
      return checkTcp(target, signal);
    case 'HTTP_GET':
    case 'SSL_GET':
      return checkHttpUrl(target, urlIndex, signal);
    case 'MISC_CHECK':
      return checkMisc(target, signal);
    case 'PING_CHECK':
      return checkPing(target, signal);
    case 'UDP_CHECK':
      return checkUdp(target, signal);
    case 'DNS_CHECK':
      return checkDns(target, signal);
    case 'SMTP_CHECK':
      return checkSmtp(target, signal);
  }
};
