/**
 * Host entry of the IPVS benchmark: boots the VM lane and runs dist/bench/ipvs.js inside it
 * (the host kernel has no IPVS). Usage: node dist/bench/ipvs-vm.js (root, after `npm run build`).
 * `--help` prints the usage without booting anything; Ctrl-C kills the VM.
 */
import { runInVm } from '../test/vm/vm.js';
import { benchArgs } from './cli.js';

benchArgs({
  usage: `usage: npm run bench:ipvs     (node dist/bench/ipvs-vm.js, as root, after npm run build)

Boots Debian's kernel under qemu (the VM lane; the first run downloads it) and runs the IPVS apply
benchmark inside (dist/bench/ipvs.js): halo's reconciler against ipvsadm -R for 1 x 10,000 and
1,000 x 10 real servers, plus a no-op reconcile. Prints one JSON line per shape. Takes minutes.`,
  needsRoot: true,
  options: {},
});

const res = await runInVm('node dist/bench/ipvs.js', {
  timeoutMs: 900_000,
  memoryMb: 1536,
  cwd: new URL('../..', import.meta.url).pathname,
  log: (m) => process.stderr.write(`[vm] ${m}\n`),
});
process.stdout.write(res.output);
process.stdout.write(`(VM boot ${Math.round(res.bootMs)} ms, total ${Math.round(res.totalMs)} ms)\n`);
process.exitCode = res.exitCode;
