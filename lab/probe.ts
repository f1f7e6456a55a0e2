/**
 * The lab's client: runs inside the client namespace and prints one JSON line per round with what a user
 * would see: does http://VIP/ answer (and which web server), does the VIP answer ping.
 *
 *   node dist/lab/probe.js VIP PORT INTERVAL_MS
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';

export interface ProbeResult {
  at: number;
  /** Body of the HTTP answer (first line), or null. */
  http: string | null;
  httpError?: string;
  ping: boolean;
}

function httpGet(host: string, port: number, timeoutMs: number): Promise<{ body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ body: body.split('\n')[0] }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

function ping(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('ping', ['-c', '1', '-W', '1', '-n', host], (err) => resolve(!err));
  });
}

async function main(): Promise<void> {
  const [host = '10.88.0.100', portText = '80', intervalText = '1000'] = process.argv.slice(2);
  const port = Number(portText);
  const intervalMs = Number(intervalText);
  for (;;) {
    const started = Date.now();
    const [h, p] = await Promise.all([httpGet(host, port, Math.min(800, intervalMs)), ping(host)]);
    const result: ProbeResult = { at: started, http: h.body ?? null, ping: p };
    if (h.error) result.httpError = h.error;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
  }
}

// Exit with the parent: stdout closes when the lab goes away.
process.stdout.on('error', () => process.exit(0));
void main();
