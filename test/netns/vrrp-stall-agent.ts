/**
 * A VRRP engine (src/daemon/vrrp-engine.ts) on this process's main thread, driven by stdin, for the
 * stall test (vrrp-stall.test.ts). Not a test file itself.
 *
 *   node vrrp-stall-agent.js CONFIG
 *   stdin:  "stall MS"  blocks the thread for MS inside an I/O callback (as a stall does: after it, the
 *                       event loop runs its expired timers before it polls the sockets again), then
 *                       prints {"stalled":MS}
 *   stdout: one JSON line per engine event ({"kind":"transition",...}); {"started":true} once running
 * Closing stdin stops the engine (priority 0, VIPs removed) and exits.
 */
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config/index.js';
import { VrrpEngine } from '../../src/daemon/vrrp-engine.js';
import { buildVrrpPlan } from '../../src/plan/vrrp.js';

const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
const { config, diagnostics } = await loadConfig(process.argv[2]);
if (!config) {
  out({ error: diagnostics.map((d) => d.message) });
  process.exit(1);
}
const engine = new VrrpEngine(buildVrrpPlan(config), (ev) => out(ev));
await engine.start();
out({ started: true });
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = /^stall (\d+)$/.exec(line.trim());
  if (!m) return;
  const until = performance.now() + Number(m[1]);
  while (performance.now() < until) {
    /* the thread is busy: nothing is polled, timers expire */
  }
  out({ stalled: Number(m[1]) });
});
rl.on('close', () => {
  void engine.stop().then(() => process.exit(0));
});
