/**
 * DNS_CHECK (keepalived check_dns.c): send one query over UDP (type default
 * SOA, name default the root, RD set, random id) and wait connect_timeout for
 * the answer. Datagrams with another id, or that are not responses, are
 * ignored like keepalived does (it keeps reading). A response passes when its
 * rcode is NOERROR; halo also requires the question section to echo ours
 * (keepalived does not look at it), so a confused server cannot pass.
 */
import { randomInt } from 'node:crypto';
import { buildQuery, canonicalName, DNS_TYPES, parseResponse } from '../dns-codec.js';
import type { CheckResult, DnsTarget } from '../types.js';
import { formatMs } from './common.js';
import { udpExchange } from './udp-exchange.js';

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export function checkDns(target: DnsTarget, signal: AbortSignal): Promise<CheckResult> {
  const id = randomInt(0, 0x10000);
  let query: Buffer;
  try {
    query = buildQuery(id, target.name, target.queryType);
  } catch (err) {
    return Promise.resolve({ ok: false, reason: (err as Error).message });
  }
  const wantName = canonicalName(target.name);
  const wantType = DNS_TYPES[target.queryType];
  return udpExchange(
    target,
    query,
    signal,
    (msg) => {
      const r = parseResponse(msg);
      if (!r || r.id !== id || !r.qr) return undefined; // not our answer: keep waiting
      const q = r.questions[0];
      if (r.questions.length !== 1 || !q || q.name !== wantName || q.type !== wantType || q.class !== 1) {
        return { ok: false, reason: 'DNS response question does not match the query' };
      }
      if (r.rcode !== 0) return { ok: false, reason: `DNS rcode ${RCODES[r.rcode] ?? r.rcode}` };
      return { ok: true, reason: 'DNS NOERROR' };
    },
    () => ({
      ok: false,
      reason: `no DNS response within ${formatMs(target.connectTimeoutMs)}`,
      timedOut: true,
    }),
  );
}
