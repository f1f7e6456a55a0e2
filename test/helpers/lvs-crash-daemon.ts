/**
 * halo's daemon wiring (`halo run --ipvs dry-run` with VRRP: the supervisor, the VRRP worker and the
 * checker + IPVS part in its worker, with the event bus and the overrides file as run-cmd gives them) with
 * one difference: the checker part's worker is the test one (lvs-crash-worker.ts) that throws an uncaught
 * exception when the file named by HALO_TEST_LVS_CRASH_FILE appears, as a checker bug would. For the
 * isolation netns test.
 *
 * Usage: node lvs-crash-daemon.js CONFIG RUN_DIR. Logs are halo's JSON lines on stdout.
 */
import { EventBus } from '../../src/daemon/events.js';
import { createLogger } from '../../src/daemon/log.js';
import { createLvsPart } from '../../src/daemon/lvs.js';
import { parsePathArgs } from '../../src/daemon/paths.js';
import { Supervisor } from '../../src/daemon/supervisor.js';

const [configFile, runDir] = process.argv.slice(2);
const { paths } = parsePathArgs(['--run-dir', runDir]);
const logger = createLogger({ format: 'json', level: 'info' });
const events = new EventBus();
const supervisor = new Supervisor({
  configFile,
  paths,
  logger,
  events,
  vrrp: true,
  lvs: createLvsPart({
    logger,
    ipvs: 'dry-run',
    vrrp: true,
    events: (e) => events.publish(e),
    overridesFile: paths.rsOverridesFile,
    restartDelayMs: 200,
    workerUrl: new URL('./lvs-crash-worker.js', import.meta.url),
  }),
});
await supervisor.start();
await supervisor.stopped;
process.exit(0);
