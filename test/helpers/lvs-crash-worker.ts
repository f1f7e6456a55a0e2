/**
 * The checker + IPVS worker with a test trigger for "a bug in a checker": when the file named by
 * HALO_TEST_LVS_CRASH_FILE appears, it is removed and an exception is thrown from a timer callback in the
 * worker, uncaught, exactly as a throw inside a checker's socket or timer callback would be. Used through
 * LvsHostOptions.workerUrl by the isolation tests (never by halo itself).
 */
import { existsSync, unlinkSync } from 'node:fs';
import '../../src/daemon/lvs-worker.js';

const trigger = process.env.HALO_TEST_LVS_CRASH_FILE;
if (trigger) {
  setInterval(() => {
    if (!existsSync(trigger)) return;
    unlinkSync(trigger);
    throw new Error('checker bug (test): uncaught exception in the checker worker');
  }, 50).unref();
}
