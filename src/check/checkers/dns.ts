/**
 * DNS_CHECK (keepalived check_dns.c): send one query over UDP (type default
 * SOA, name default the root, RD set, random id) and wait connect_timeout for
 * the answer. Datagrams with another id, or that are not responses, are
 * ignored like keepalived does (it keeps reading). A response passes when its
 * rcode is NOERROR; halo also requires the question section to echo ours
 * (keepalived does not look at it), so a confused server cannot pass.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { buildQuery, canonicalName, DNS_TYPES, parseResponse } from '../dns-codec.js';
import type { CheckResult, DnsTarget } from '../types.js';
import { aborted, describeError, formatMs } from './common.js';

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export function checkDns(target: DnsTarget, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(aborted());
      return;
    }
    const id = randomInt(0, 0x10000);
    let query: Buffer;
    try {
      query = buildQuery(id, target.name, target.queryType);
    } catch (err) {
      resolve({ ok: false, reason: (err as Error).message });
      return;
    }
    const wantName = canonicalName(target.name);
    const wantType = DNS_TYPES[target.queryType];
    const socket = createSocket({ type: isIPv6(target.host) ? 'udp6' : 'udp4' });
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      resolve(r);
    };
    const onAbort = () => finish(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish({ ok: false, reason: describeError(err) }));
    socket.on('message', (msg) => {
      const r = parseResponse(msg);
      if (!r || r.id !== id || !r.qr) return; // not our answer: keep waiting
      const q = r.questions[0];
      if (r.questions.length !== 1 || !q || q.name !== wantName || q.type !== wantType || q.class !== 1) {
        return finish({ ok: false, reason: 'DNS response question does not match the query' });
      }
      if (r.rcode !== 0) return finish({ ok: false, reason: `DNS rcode ${RCODES[r.rcode] ?? r.rcode}` });
      finish({ ok: true, reason: 'DNS NOERROR' });
    });
    const go = () => {
      socket.connect(target.port, target.host, () => {
        socket.send(query, (err) => {
          if (err) return finish({ ok: false, reason: describeError(err) });
        });
        timer = setTimeout(
          () => finish({ ok: false, reason: `no DNS response within ${formatMs(target.connectTimeoutMs)}` }),
          target.connectTimeoutMs,
        );
      });
    };
    if (target.bindTo !== undefined || target.bindPort !== undefined) {
      socket.bind({ address: target.bindTo, port: target.bindPort ?? 0 }, go);
    } else go();
  });
}
