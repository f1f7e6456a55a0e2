/**
 * Memory probe for benchmarks (not part of halo): preloaded with
 * `node --import dist/bench/memtrace.js ...`, it runs in the main thread and
 * in every worker thread (Node runs --import preloads in workers too), and
 * appends one JSON line per thread every HALO_MEMTRACE_EVERY_MS (default
 * 10 s) to the file named by HALO_MEMTRACE:
 *   { t, thread: 'main'|'worker<N>', rss, heapUsed, heapTotal, external,
 *     arrayBuffers, malloced, codeAndMetadata }
 * rss is the whole process; the heap figures are this thread's V8 isolate.
 * With HALO_MEMTRACE_SNAPSHOT_S=N each thread also writes a heap snapshot
 * (<HALO_MEMTRACE>.<thread>.heapsnapshot) N seconds after start.
 * Without HALO_MEMTRACE it does nothing. Its timers are unref'd.
 */
import { appendFileSync } from 'node:fs';
import { getHeapCodeStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

const out = process.env.HALO_MEMTRACE;
if (out) {
  const thread = isMainThread ? 'main' : `worker${threadId}`;
  const every = Number(process.env.HALO_MEMTRACE_EVERY_MS ?? 10_000);
  const sample = () => {
    const m = process.memoryUsage();
    const h = getHeapStatistics();
    const c = getHeapCodeStatistics();
    appendFileSync(
      out,
      `${JSON.stringify({
        t: Date.now(),
        thread,
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        malloced: h.malloced_memory,
        codeAndMetadata: c.code_and_metadata_size + c.bytecode_and_metadata_size,
      })}\n`,
    );
  };
  setTimeout(sample, Math.min(every, 2000)).unref();
  setInterval(sample, every).unref();
  const snapAt = Number(process.env.HALO_MEMTRACE_SNAPSHOT_S ?? 0);
  if (snapAt > 0) setTimeout(() => writeHeapSnapshot(`${out}.${thread}.heapsnapshot`), snapAt * 1000).unref();
}
