/**
 * Host entry of the IPVS benchmark: boots the VM lane and runs dist/bench/ipvs.js inside it
 * (the host kernel has no IPVS). Usage: node dist/bench/ipvs-vm.js (root, after `npm run build`).
 */
import { runInVm } from '../test/vm/vm.js';

const res = await runInVm('node dist/bench/ipvs.js', {
  timeoutMs: 900_000,
  memoryMb: 1536,
  cwd: new URL('../..', import.meta.url).pathname,
  log: (m) => process.stderr.write(`[vm] ${m}\n`),
});
process.stdout.write(res.output);
process.stdout.write(`(VM boot ${Math.round(res.bootMs)} ms, total ${Math.round(res.totalMs)} ms)\n`);
process.exitCode = res.exitCode;
