/**
 * Advert jitter at advert_int 0.1 while the checker is busy: the master's
 * adverts are captured on the client's link for a while and the p50/p99/max
 * deviation of their spacing from 100 ms is printed, for
 *   - halo, VRRP only (idle checker),
 *   - halo with a busy checker in the same process: N TCP_CHECKs at
 *     delay_loop 1 against real servers in the client namespace (IPVS in
 *     dry-run, so this runs on kernels without ip_vs),
 *   - keepalived (VRRP only: its checker needs ip_vs).
 * The VRRP engine runs in its own thread; this is the number that shows it.
 *
 * Usage: node dist/bench/jitter.js [--seconds 15] [--checks 2000]
 */
import { parseArgs } from 'node:util';
import { waitFor } from '../test/helpers/netns.js';
import { type DaemonKind, keepalivedInstalled, VrrpLab, vrrpConfig } from '../test/helpers/vrrp-lab.js';

const PORTS = 100;

function checkerConfig(checks: number, target: string): string {
  const out: string[] = [];
  const perVs = PORTS;
  for (let v = 0; v * perVs < checks; v++) {
    out.push(
      `virtual_server 10.77.1.${v + 1} 80 {`,
      '  delay_loop 1',
      '  lb_algo rr',
      '  lb_kind DR',
      '  protocol TCP',
    );
    for (let p = 0; p < perVs && v * perVs + p < checks; p++) {
      out.push(
        `  real_server ${target} ${9000 + p} {`,
        '    TCP_CHECK {',
        '      connect_timeout 1',
        '    }',
        '  }',
      );
    }
    out.push('}');
  }
  return out.join('\n');
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

async function measure(kind: DaemonKind, checks: number, seconds: number) {
  const lab = new VrrpLab(4);
  try {
    await lab.setup(1);
    const inst = vrrpConfig([{ version: 3, advertInt: 0.1, priority: 150, vips: ['10.77.0.100/24'] }]);
    let config = inst;
    if (checks > 0) {
      // Real servers: one node process in the client namespace listening on PORTS ports.
      lab.lab.spawn(lab.client.ns, process.execPath, [
        '-e',
        `const net=require('node:net');for(let p=9000;p<${9000 + PORTS};p++)net.createServer(s=>s.destroy()).listen(p,'${lab.clientAddress}')`,
      ]);
      config = `${inst}\n${checkerConfig(checks, lab.clientAddress)}`;
    }
    await lab.startAdvertCapture();
    const t0 = Date.now();
    lab.start(kind, 0, config, checks > 0 ? ['--ipvs', 'dry-run'] : undefined);
    // Wait on the wire, not for the log line: with a busy checker the main thread (which logs) may lag,
    // and that is exactly what must not touch the VRRP thread.
    await lab.waitForAdvertFrom(lab.directorAddress(0), t0, 30000);
    // Let the checker's staggered start ramp up before measuring.
    await new Promise((r) => setTimeout(r, 3000));
    const from = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const adverts = lab
      .capturedAdverts()
      .filter((a) => a.atMs >= from && a.source === lab.directorAddress(0));
    await waitFor(() => adverts.length > 10, 1000);
    const dev = adverts.slice(1).map((a, i) => Math.abs(a.atMs - adverts[i].atMs - 100));
    return { n: adverts.length, p50: pct(dev, 50), p99: pct(dev, 99), max: Math.max(...dev) };
  } finally {
    await lab.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '15' }, checks: { type: 'string', default: '2000' } },
  });
  const seconds = Number(values.seconds);
  const checks = Number(values.checks);
  const rows: [string, DaemonKind, number][] = [
    ['halo, VRRP only', 'halo', 0],
    [`halo + ${checks} TCP checks/s`, 'halo', checks],
  ];
  if (await keepalivedInstalled()) rows.push(['keepalived, VRRP only', 'keepalived', 0]);
  console.log(`advert jitter at advert_int 0.1 over ${seconds} s: |spacing - 100 ms|`);
  console.log('case                          adverts   p50-ms   p99-ms   max-ms');
  for (const [name, kind, n] of rows) {
    const r = await measure(kind, n, seconds);
    console.log(
      `${name.padEnd(30)}${String(r.n).padEnd(10)}${r.p50.toFixed(2).padEnd(9)}${r.p99.toFixed(2).padEnd(9)}${r.max.toFixed(2)}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
