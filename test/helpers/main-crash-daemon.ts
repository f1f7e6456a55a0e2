/**
 * `halo run` (run-cmd's run(), exactly) plus a test trigger for a bug in the main thread: when the file
 * named by HALO_TEST_MAIN_CRASH_FILE appears, an exception is thrown from a timer callback, uncaught.
 * For the netns test of the fatal-error path (graceful stop, no pid file or socket left).
 *
 * Usage: node main-crash-daemon.js [halo run options]
 */
import { existsSync, unlinkSync } from 'node:fs';
import { run } from '../../src/cli/run-cmd.js';

const trigger = process.env.HALO_TEST_MAIN_CRASH_FILE;
if (trigger) {
  setInterval(() => {
    if (!existsSync(trigger)) return;
    unlinkSync(trigger);
    throw new Error('supervisor bug (test): uncaught exception in the main thread');
  }, 50).unref();
}
process.exitCode = await run(process.argv.slice(2));
