/**
 * `npm run test:vm`: boot the IPVS VM once and run every dist/test/vm/*.test.js
 * inside it with node's test runner, streaming the output and exiting with its
 * status. Optional arguments select test files by substring
 * (`npm run test:vm -- smoke ipvs-client`).
 *
 * Where the VM cannot work (not root, qemu or the kernel package cannot be
 * had) the lane skips with exit 0 on a developer machine and fails under CI,
 * so a broken CI host never passes silently.
 *
 * Test files are passed by name instead of handing node the directory: node 20
 * treats every .js below a `test` directory as a test file, which would make
 * this very file (and vm.js) run inside the VM.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareVm, runInVm, VmRunError, VmUnavailableError } from './vm.js';

const log = (msg: string) => process.stderr.write(`[test:vm] ${msg}\n`);
/** Console lines the lane's own init prints on every boot. */
const LANE_CONSOLE_LINE = /^halo-vm: (modules loaded|ready|script exited with \d+)$|reboot: Power down/;
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function main(): Promise<number> {
  if (process.env.HALO_IN_VM) {
    log('already inside the VM: not booting another one');
    return 1;
  }
  const started = Date.now();
  const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const testDir = join(checkout, 'dist/test/vm');
  const filters = process.argv.slice(2);
  const files = (await readdir(testDir))
    .filter((f) => f.endsWith('.test.js'))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort()
    .map((f) => join(testDir, f));
  if (files.length === 0) {
    log(`no test files in ${testDir}${filters.length ? ` matching ${filters.join(' ')}` : ''}`);
    return filters.length ? 1 : 0;
  }

  try {
    const image = await prepareVm({ log });
    log(`kernel ${image.kernelVersion}, schedulers ${image.schedulers.join(',')}`);
  } catch (err) {
    if (!(err instanceof VmUnavailableError)) throw err;
    if (process.env.CI) {
      log(`FAIL: the IPVS VM is required under CI but unavailable: ${err.message}`);
      return 1;
    }
    log(`SKIP: IPVS VM lane unavailable here (${err.message}); CI runs it`);
    return 0;
  }

  const timeoutMs = Number(process.env.HALO_VM_TIMEOUT_MS) || 10 * 60_000;
  // node 20 applies --test-timeout to each test FILE (files run as subprocesses): a file that hangs
  // fails after this long and the remaining files still run, inside the lane's overall limit.
  const fileTimeoutMs = Number(process.env.HALO_VM_FILE_TIMEOUT_MS) || 180_000;
  log(
    `booting; running ${files.length} test file(s) inside ` +
      `(timeout ${fileTimeoutMs / 1000} s per file, ${timeoutMs / 1000} s overall)`,
  );
  const script = `exec node --test --test-concurrency=1 --test-timeout=${fileTimeoutMs} --test-reporter=spec ${files.map(shq).join(' ')}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await runInVm(script, {
        cwd: checkout,
        timeoutMs,
        memoryMb: Number(process.env.HALO_VM_MEMORY_MB) || 1536,
        onOutput: (chunk) => process.stdout.write(chunk),
        log,
      });
      // Kernel errors/warnings (a WARN from a bad netlink request, say) are worth seeing even when tests pass.
      const kernelNoise = r.kernelLog.split('\n').filter((l) => l.trim() && !LANE_CONSOLE_LINE.test(l));
      if (kernelNoise.length) log(`kernel console:\n${kernelNoise.join('\n')}`);
      log(
        `exit ${r.exitCode}; boot ${(r.bootMs / 1000).toFixed(1)} s, VM ${(r.totalMs / 1000).toFixed(1)} s, ` +
          `lane ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return r.exitCode;
    } catch (err) {
      if (!(err instanceof VmRunError)) throw err;
      log(`FAIL: ${err.message}`);
      // One more boot for a VM that stopped without a result (infrastructure, not a test verdict: a
      // test that crashes the kernel does so again). Never after a timeout: that would double the cost.
      if (err.kind === 'timeout' || attempt >= 2) return 1;
      log('the VM itself failed; booting once more');
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`FAIL: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
