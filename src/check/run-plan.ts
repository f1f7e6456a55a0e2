/**
 * Run the check engine on a plan for a while and print what happened as
 * NDJSON — a development and test tool: the netns tests and the benchmark
 * start it inside a network namespace (`ip netns exec NS node
 * dist/src/check/run-plan.js JOB.json`), where the real servers are.
 *
 * JOB.json: { plan: CheckPlan, runMs: number, options?: { maxInFlight?,
 * bootstrapDelayMs?, noWarmupRandom? }, attempts?: boolean }. Buffers in the
 * plan are written as { "hex": "..." }.
 * Output lines: {ev:'server'|'checker'|'weight'|'attempt', t, ...} with t in
 * ms since start, then {ev:'done', stats, servers, cpu, rss}.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CheckEngine } from './engine.js';
import type { CheckPlan } from './types.js';

interface Job {
  plan: CheckPlan;
  runMs: number;
  options?: { maxInFlight?: number; bootstrapDelayMs?: number; noWarmupRandom?: boolean };
  /** Benchmarks: reset stats and the CPU baseline after this long (skip the start-up). */
  statsAfterMs?: number;
  /** Benchmarks: print a {ev:'sample'} line this often. */
  sampleEveryMs?: number;
  attempts?: boolean;
}

/** JSON reviver: { hex: "..." } -> Buffer. */
export function reviveBuffers(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'hex' && typeof (value as { hex: unknown }).hex === 'string') {
      return Buffer.from((value as { hex: string }).hex, 'hex');
    }
  }
  return value;
}

async function main(path: string): Promise<void> {
  const job = JSON.parse(readFileSync(path, 'utf8'), reviveBuffers) as Job;
  const t0 = performance.now();
  const out = (o: object) =>
    process.stdout.write(`${JSON.stringify({ ...o, t: Math.round(performance.now() - t0) })}\n`);
  const engine = new CheckEngine(job.plan, {
    maxInFlight: job.options?.maxInFlight,
    bootstrapDelayMs: job.options?.bootstrapDelayMs,
    random: job.options?.noWarmupRandom ? () => 0 : undefined,
  });
  engine.on('server', (a) => out({ ev: 'server', ...a }));
  engine.on('checker', (a) => out({ ev: 'checker', ...a }));
  engine.on('weight', (a) => out({ ev: 'weight', ...a }));
  if (job.attempts) {
    engine.on('attempt', (a) =>
      out({
        ev: 'attempt',
        id: a.checkerId,
        retry: a.retry,
        url: a.urlIndex,
        ok: a.result.ok,
        reason: a.result.reason,
      }),
    );
  }
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  engine.start();
  if (job.statsAfterMs !== undefined) {
    setTimeout(() => {
      engine.resetStats();
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
    }, job.statsAfterMs).unref();
  }
  let sampleCpu = process.cpuUsage();
  let sampleWall = performance.now();
  const sampler =
    job.sampleEveryMs !== undefined
      ? setInterval(() => {
          const c = process.cpuUsage(sampleCpu);
          const now = performance.now();
          out({
            ev: 'sample',
            cpuPct: ((c.user + c.system) / 1000 / (now - sampleWall)) * 100,
            rss: process.memoryUsage().rss,
            ...engine.stats(),
          });
          sampleCpu = process.cpuUsage();
          sampleWall = now;
        }, job.sampleEveryMs)
      : undefined;
  await new Promise((r) => setTimeout(r, job.runMs));
  if (sampler) clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  const stats = engine.stats();
  const servers = engine.servers();
  await engine.stop();
  out({
    ev: 'done',
    stats,
    servers: job.sampleEveryMs !== undefined ? servers.length : servers,
    serversUp: servers.filter((s) => s.up).length,
    wallMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    rss: process.memoryUsage().rss,
  });
}

if (process.argv[2]) {
  main(process.argv[2]).then(
    // Exit only once stdout (a pipe: asynchronous) has flushed the last lines.
    () => process.stdout.write('', () => process.exit(0)),
    (err) => {
      process.stderr.write(`run-plan: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
