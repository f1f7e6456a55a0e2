/**
 * IPVS apply benchmark; runs INSIDE the VM lane (needs a kernel with IPVS, as root): see bench/ipvs-vm.ts.
 *
 * For each shape (1 service x 10,000 destinations, 1,000 services x 10 destinations):
 *  - halo: time to reconcile the table from an empty kernel (dump + diff + pipelined apply);
 *  - halo: time of a no-op reconcile of that state, and the number of change ops it sent (must be 0);
 *  - ipvsadm -R restoring the same table from an empty kernel, in the same boot;
 * and checks with `ipvsadm -Sn` that both produced the same table. Prints one JSON line per shape.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { IpvsClient } from '../src/ipvs/client.js';
import { Reconciler } from '../src/ipvs/reconciler.js';
import { type IpvsTable, makeDest, makeService } from '../src/ipvs/types.js';
import { benchArgs } from './cli.js';

benchArgs({
  usage: `usage: node dist/bench/ipvs.js     (inside a kernel with IPVS, as root: npm run bench:ipvs runs it in the VM)

Programs 1 x 10,000 and 1,000 x 10 real servers with halo's reconciler and with ipvsadm -R,
checks both give the same table, and prints one JSON line per shape. It flushes the IPVS table.`,
  needsRoot: true,
  options: {},
});

function shape(services: number, destsPer: number): IpvsTable {
  const out: IpvsTable = { services: [] };
  for (let s = 0; s < services; s++) {
    const service = makeService({
      address: `10.${100 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`,
      port: 80,
      scheduler: 'wlc',
    });
    const dests = [];
    for (let d = 0; d < destsPer; d++)
      dests.push(
        makeDest({
          address: `10.${(d >> 16) & 255}.${(d >> 8) & 255}.${(d & 255) + 0}`,
          port: 8080,
          weight: 1 + (d % 5),
        }),
      );
    out.services.push({ service, dests });
  }
  return out;
}

function restoreScript(t: IpvsTable): string {
  const lines: string[] = [];
  for (const s of t.services) {
    const v = `${s.service.address}:${s.service.port}`;
    lines.push(`-A -t ${v} -s ${s.service.scheduler}`);
    for (const d of s.dests) lines.push(`-a -t ${v} -r ${d.address}:${d.port} -m -w ${d.weight}`);
  }
  return `${lines.join('\n')}\n`;
}

/** ipvsadm -Sn, sorted, as the oracle for "same table". */
function saved(): string {
  return execFileSync('ipvsadm', ['-Sn'], { maxBuffer: 64 << 20 })
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort()
    .join('\n');
}

function flush(): void {
  execFileSync('ipvsadm', ['-C']);
}

async function main(): Promise<void> {
  const client = await IpvsClient.open();
  const results = [];
  for (const [name, services, destsPer] of [
    ['1x10000', 1, 10_000],
    ['1000x10', 1_000, 10],
  ] as const) {
    const table = shape(services, destsPer);
    const script = restoreScript(table);

    flush();
    const rTime = process.hrtime.bigint();
    const r = spawnSync('ipvsadm', ['-R'], { input: script, maxBuffer: 64 << 20 });
    const ipvsadmMs = Number(process.hrtime.bigint() - rTime) / 1e6;
    if (r.status !== 0) throw new Error(`ipvsadm -R failed: ${r.stderr}`);
    const oracle = saved();

    flush();
    const reconciler = new Reconciler({ backend: client, intervalMs: 0 });
    const t0 = process.hrtime.bigint();
    const applied = await reconciler.setDesired(table);
    const applyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (applied.failures.length) throw new Error(`apply failures: ${applied.failures[0].error.message}`);
    const same = saved() === oracle;

    const before = client.opsSent;
    const t1 = process.hrtime.bigint();
    const noop = await reconciler.reconcileNow();
    const noopMs = Number(process.hrtime.bigint() - t1) / 1e6;
    const noopOps = client.opsSent - before + noop.ops.length;
    const t2 = process.hrtime.bigint();
    await client.dumpTable({ stats: false });
    const dumpMs = Number(process.hrtime.bigint() - t2) / 1e6;

    results.push({
      shape: name,
      services,
      dests: services * destsPer,
      haloApplyMs: Math.round(applyMs),
      ipvsadmRestoreMs: Math.round(ipvsadmMs),
      ratio: Number((applyMs / ipvsadmMs).toFixed(2)),
      haloNoopReconcileMs: Math.round(noopMs),
      haloDumpOnlyMs: Math.round(dumpMs),
      noopChangeOps: noopOps,
      sameTableAsIpvsadm: same,
    });
    console.log(JSON.stringify(results[results.length - 1]));
  }
  flush();
  client.close();
  const ok = results.every((r) => r.noopChangeOps === 0 && r.sameTableAsIpvsadm);
  process.exitCode = ok ? 0 : 1;
}

await main();
