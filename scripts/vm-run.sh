#!/usr/bin/env bash
# Run a shell script inside the IPVS VM (Debian's stock kernel under qemu TCG,
# IPVS + schedulers loaded, host root read-only at its own paths, cwd = the
# current directory) and exit with its status. Needs a built dist/ (npx tsc).
#   scripts/vm-run.sh 'ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -Ln'
#   HALO_VM_TIMEOUT_MS=600000 scripts/vm-run.sh 'node dist/bench/ipvs-sync.js'
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 'shell script'" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
HALO_VM_SCRIPT="$1" HALO_VM_ROOT="$root" exec node --input-type=module -e '
const { runInVm } = await import(`${process.env.HALO_VM_ROOT}/dist/test/vm/vm.js`);
const r = await runInVm(process.env.HALO_VM_SCRIPT, {
  timeoutMs: Number(process.env.HALO_VM_TIMEOUT_MS) || 300_000,
  memoryMb: Number(process.env.HALO_VM_MEMORY_MB) || 1024,
  onOutput: (chunk) => process.stdout.write(chunk),
  log: (msg) => process.stderr.write(`[vm] ${msg}\n`),
});
process.stderr.write(`[vm] exit ${r.exitCode}; boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.totalMs / 1000).toFixed(1)} s\n`);
process.exitCode = r.exitCode;
'
