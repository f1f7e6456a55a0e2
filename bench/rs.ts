/**
 * Real server override benchmark (prints numbers; not a test): what one `halo rs drain|enable` costs the
 * daemon with a large configuration, from the request to the new table handed to IPVS, and what `halo
 * status` costs with overrides set. The real checks + IPVS part (src/daemon/lvs.ts) runs with the dry-run
 * IPVS backend (the in-memory kernel) and real servers without checkers, so nothing touches the network;
 * each command writes the overrides file (temp + rename) in a temporary directory removed at the end.
 *
 * Usage: node dist/bench/rs.js [--virtual-servers 100] [--real-servers 100] [--commands 40]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseKeepalivedText } from '../src/config/keepalived.js';
import { createLogger } from '../src/daemon/log.js';
import { Lvs } from '../src/daemon/lvs.js';
import type { RsOrigin } from '../src/daemon/rs-overrides.js';
import { buildPlans } from '../src/plan/index.js';

const { values } = parseArgs({
  options: {
    'virtual-servers': { type: 'string', default: '100' },
    'real-servers': { type: 'string', default: '100' },
    commands: { type: 'string', default: '40' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'Usage: node dist/bench/rs.js [--virtual-servers N] [--real-servers N per VS] [--commands N]   (cost of halo rs and halo status)',
  );
  process.exit(0);
}
const VSS = Math.min(250, Number(values['virtual-servers']));
const RSS = Math.min(250, Number(values['real-servers']));
const COMMANDS = Number(values.commands);

let text = '';
for (let v = 0; v < VSS; v++) {
  text += `virtual_server 10.1.${v}.1 80 {\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n`;
  for (let r = 0; r < RSS; r++) text += `  real_server 10.2.${v}.${r + 1} 80 {\n    weight 1\n  }\n`;
  text += '}\n';
}
const parsed = parseKeepalivedText(text, 'bench.conf', { hostChecks: 'off' });
if (!parsed.config) throw new Error('bench config did not parse');
const plans = buildPlans(parsed.config, { hostname: 'bench', username: 'root' });
const dir = mkdtempSync(join(tmpdir(), 'halo-bench-rs-'));
process.on('SIGINT', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(130);
});

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
try {
  const lvs = new Lvs({
    logger: createLogger({ destination: { write() {} }, level: 'error' }),
    ipvs: 'dry-run',
    reconcileIntervalMs: 0,
    overridesFile: join(dir, 'rs-overrides.json'),
  });
  await lvs.start(plans);
  const origin: RsOrigin = { via: 'control-socket', uid: 0, at: new Date().toISOString() };
  const times: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    // Alternate drain and enable on servers spread over the table; every second command leaves one set.
    const v = (i * 7) % VSS;
    const r = (i * 13) % RSS;
    const t = performance.now();
    await lvs.rsCommand(
      {
        action: i % 4 === 3 ? 'enable' : 'drain',
        virtualServer: { kind: 'address', address: `10.1.${v}.1`, port: 80 },
        realServer: { address: `10.2.${v}.${r + 1}` },
      },
      origin,
    );
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const statusTimes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await lvs.status();
    statusTimes.push(performance.now() - t);
  }
  statusTimes.sort((a, b) => a - b);
  const f = (ms: number) => ms.toFixed(1);
  console.log(
    `${VSS * RSS} real servers in ${VSS} virtual servers (dry-run IPVS), ${COMMANDS} rs commands: ` +
      `p50 ${f(pct(times, 50))} ms, p99 ${f(pct(times, 99))} ms, max ${f(times[times.length - 1])} ms ` +
      '(resolve, write the file, recompute the table, one reconciler pass)',
  );
  console.log(
    `halo status with overrides set: p50 ${f(pct(statusTimes, 50))} ms, max ${f(statusTimes[9])} ms`,
  );
  await lvs.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
