/**
 * A director for the BGP netns tests that can be drained: halo's own wiring (the supervisor with the
 * checker + dry-run IPVS part and the BGP part, as `halo run --bgp-only` builds it), plus a line protocol
 * on stdin that calls the BGP part's maintenance API directly (issue 13 will reach it through
 * `halo maintenance on|off`):
 *
 *   drain  -> {"drain":{"withdrawn":[...],"confirmed":true}}
 *   resume -> {"resume":{"announced":[...]}}
 *
 * Usage: node bgp-director.js CONFIG RUN_DIR. Logs are halo's JSON lines on stdout.
 */
import { createInterface } from 'node:readline';
import { BgpPart } from '../../src/bgp/part.js';
import { createLogger } from '../../src/daemon/log.js';
import { createLvsPart } from '../../src/daemon/lvs.js';
import { parsePathArgs } from '../../src/daemon/paths.js';
import { Supervisor } from '../../src/daemon/supervisor.js';

const [configFile, runDir] = process.argv.slice(2);
const { paths } = parsePathArgs(['--run-dir', runDir]);
const logger = createLogger({ format: 'json', level: 'info' });
const bgp = new BgpPart({ logger });
const supervisor = new Supervisor({
  configFile,
  paths,
  logger,
  vrrp: false,
  lvs: createLvsPart({ logger, ipvs: 'dry-run', vrrp: false, onHealth: (h) => bgp.healthChanged(h) }),
  bgp: () => bgp,
});
await supervisor.start();
createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'drain') process.stdout.write(`${JSON.stringify({ drain: await bgp.drain() })}\n`);
  else if (cmd === 'resume') process.stdout.write(`${JSON.stringify({ resume: await bgp.resume() })}\n`);
});
await supervisor.stopped;
process.exit(0);
