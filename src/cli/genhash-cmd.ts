/**
 * `halo genhash`: print the MD5 digest HTTP_GET/SSL_GET would compare, like
 * keepalived's genhash (keepalived/check/check_genhash.c): the same options,
 * the same request bytes, the same hashing (the body after the header, up to
 * Content-Length, not de-chunked), and the digest printed as 32 hex digits.
 *
 * Differences: a failure exits 1 (keepalived's genhash exits 0 and prints the
 * error), the default timeout is 5 s (genhash waits without bound), and
 * --fwmark is refused (halo does not set SO_MARK on checker sockets).
 */
import { parseArgs } from 'node:util';
import { buildHttpRequest, httpFetch } from '../check/checkers/http.js';
import type { HttpProtocol, HttpTarget } from '../check/types.js';

const USAGE = `usage: halo genhash COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h

Options:
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --protocol        -P       Use the specified HTTP protocol - '1.0', '1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds (default 5)
`;

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        verbose: { type: 'boolean', short: 'v' },
        'use-ssl': { type: 'boolean', short: 'S' },
        'use-sni': { type: 'boolean', short: 'I' },
        server: { type: 'string', short: 's' },
        'use-virtualhost': { type: 'string', short: 'V' },
        port: { type: 'string', short: 'p' },
        url: { type: 'string', short: 'u' },
        fwmark: { type: 'string', short: 'm' },
        protocol: { type: 'string', short: 'P' },
        timeout: { type: 'string', short: 't' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const fail = (msg: string) => {
    process.stderr.write(`${msg}\n`);
    return 2;
  };
  if (values.fwmark !== undefined) return fail('halo genhash: --fwmark is not supported');
  const server = values.server as string | undefined;
  const portText = values.port as string | undefined;
  const url = values.url as string | undefined;
  if (!server || !portText || !url) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (!/^[0-9.]+$|:/.test(server)) return fail(`server should be an IP, not ${server}`);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port <= 0 || port > 65535) return fail(`invalid port number '${portText}'`);
  let httpProtocol: HttpProtocol = '1.0';
  if (values.protocol !== undefined) {
    const p = String(values.protocol);
    if (p === '1.0') httpProtocol = '1.0';
    else if (p === '1.0c' || p === '1.0C') httpProtocol = '1.0C';
    else if (p === '1.1') httpProtocol = '1.1';
    else return fail(`invalid HTTP protocol version '${p}'`);
  }
  let timeoutMs = 5000;
  if (values.timeout !== undefined) {
    const t = String(values.timeout).trim();
    if (!/^\d+$/.test(t)) return fail(`invalid timeout '${values.timeout}'`);
    timeoutMs = Number(t) * 1000;
  }
  const target: HttpTarget = {
    type: values['use-ssl'] ? 'SSL_GET' : 'HTTP_GET',
    host: server,
    port,
    connectTimeoutMs: timeoutMs,
    httpProtocol,
    virtualhost: values['use-virtualhost'] as string | undefined,
    enableSni: Boolean(values['use-sni']),
    urls: [{ path: url, statusCodes: [{ from: 100, to: 599 }] }],
  };
  const verbose = Boolean(values.verbose);
  if (verbose) {
    process.stdout.write(`-----------------------[    HTTP Request    ]-----------------------\n`);
    process.stdout.write(buildHttpRequest(target, target.urls[0]));
  }
  const started = performance.now();
  const r = await httpFetch(target, target.urls[0], new AbortController().signal);
  if (r.error) {
    process.stderr.write(`${r.error}\n`);
    return 1;
  }
  if (verbose) {
    process.stdout.write(`-----------------------[ HTTP Header Ascii Buffer ]-----------------------\n`);
    process.stdout.write(`${r.header}\n\n`);
    process.stdout.write(
      `-----------------------[    HTML hash final resulting    ]-----------------------\nbody bytes hashed = ${r.bodyBytes}\n`,
    );
  }
  process.stdout.write(`${r.digest}\n`);
  if (verbose) {
    const us = Math.round((performance.now() - started) * 1000);
    process.stdout.write(`\nGlobal response time for [${url}] = ${us} usecs\n`);
  }
  return 0;
}
