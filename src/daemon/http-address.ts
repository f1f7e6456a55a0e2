/**
 * The `--http` / `--metrics` address: parsing and what it exposes. Kept apart from metrics.ts so that
 * `halo run` can read its options without loading prom-client (only a daemon that serves metrics does).
 */

/** The default port of `--http` / `--metrics`. */
export const DEFAULT_METRICS_PORT = 9650;

export interface MetricsAddress {
  host: string;
  port: number;
}

/**
 * Parses `--metrics`: "9650", ":9650", "127.0.0.1:9650", "[::1]:9650", "localhost:9650". A missing host is
 * 127.0.0.1. Throws a RangeError with a usable message on anything else.
 */
export function parseMetricsAddress(text: string): MetricsAddress {
  const s = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1];
    portText = v6[2] ?? String(DEFAULT_METRICS_PORT);
  } else if (/^\d+$/.test(s)) {
    host = '';
    portText = s;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon === -1) {
      host = s;
      portText = String(DEFAULT_METRICS_PORT);
    } else {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
      if (host.includes(':')) throw new RangeError(`--metrics ${text}: write IPv6 addresses as [ADDR]:PORT`);
    }
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new RangeError(`--metrics ${text}: port must be 1-65535`);
  }
  if (host === '') host = '127.0.0.1';
  if (/\s/.test(host)) throw new RangeError(`--metrics ${text}: bad host`);
  return { host, port };
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Takes `--metrics [ADDR]` / `--metrics=ADDR` out of argv for `halo run`. Absent: metrics off (undefined).
 * A bare `--metrics` (next argument missing or another option) means 127.0.0.1:9650.
 */
export function parseMetricsArgs(argv: readonly string[]): { metrics?: MetricsAddress; rest: string[] } {
  let metrics: MetricsAddress | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--metrics=')) metrics = parseMetricsAddress(arg.slice('--metrics='.length));
    else if (arg === '--metrics') {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        metrics = parseMetricsAddress(next);
        i++;
      } else metrics = { host: '127.0.0.1', port: DEFAULT_METRICS_PORT };
    } else rest.push(arg);
  }
  return { metrics, rest };
}
