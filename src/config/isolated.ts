/**
 * loadConfig off the main thread, with a time and a memory bound: a reload (SIGHUP, `halo reload`) runs
 * while the daemon holds VIPs, so no config, however hostile, may wedge or exhaust the process. The
 * limits in limits.ts bound what a well-behaved parser does; this bounds everything else (a bug, a
 * pathological regex, a future keyword). The worker is terminated on timeout; running out of its heap
 * ends only the worker.
 */
import { Worker } from 'node:worker_threads';
import type { Diagnostic } from './diagnostics.js';
import type { LoadOptions } from './index.js';
import type { HaloConfig } from './model.js';

export interface IsolationLimits {
  /** Wall time for reading, parsing and checking (default 10 s). */
  timeoutMs?: number;
  /** The worker's old-generation heap in MiB (default 256). */
  maxHeapMb?: number;
}

export const ISOLATION_DEFAULTS = { timeoutMs: 10_000, maxHeapMb: 256 } as const;

export interface LoadResult {
  config?: HaloConfig;
  diagnostics: Diagnostic[];
}

/**
 * Same result as loadConfig(file, options); when the worker runs out of time or memory, or dies, the
 * result has no config and one error diagnostic at FILE:1:1 that says which. Never throws.
 */
export function loadConfigIsolated(
  file: string,
  options: LoadOptions = {},
  limits: IsolationLimits = {},
): Promise<LoadResult> {
  const timeoutMs = limits.timeoutMs ?? ISOLATION_DEFAULTS.timeoutMs;
  const maxHeapMb = limits.maxHeapMb ?? ISOLATION_DEFAULTS.maxHeapMb;
  const fail = (message: string, hint?: string): LoadResult => ({
    diagnostics: [{ file, line: 1, col: 1, severity: 'error', message, ...(hint ? { hint } : {}) }],
  });
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: LoadResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let worker: Worker;
    try {
      worker = new Worker(new URL('./load-worker.js', import.meta.url), {
        workerData: { file, options: plainOptions(options) },
        resourceLimits: {
          maxOldGenerationSizeMb: maxHeapMb,
          maxYoungGenerationSizeMb: Math.min(64, Math.max(4, Math.floor(maxHeapMb / 8))),
          stackSizeMb: 4,
        },
        // Not the parent's node flags (--input-type, --inspect...): the loader needs none.
        execArgv: [],
      });
    } catch (err) {
      resolve(fail(`cannot start the config loader: ${(err as Error).message}`));
      return;
    }
    const timer = setTimeout(() => {
      done(
        fail(
          `reading the config took longer than ${timeoutMs / 1000} s; stopped`,
          'is it very large, or does it expand (~SEQ, definitions, includes) into a very large one?',
        ),
      );
      void worker.terminate();
    }, timeoutMs);
    worker.once('message', (r: LoadResult) => {
      done(r);
      void worker.terminate();
    });
    worker.once('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        done(
          fail(
            `reading the config needed more than ${maxHeapMb} MiB of memory; stopped`,
            'is it very large, or does it expand (~SEQ, definitions, includes) into a very large one?',
          ),
        );
      } else done(fail(`the config loader failed: ${err.message}`));
    });
    worker.once('exit', (code) => {
      done(fail(`the config loader stopped unexpectedly (exit code ${code})`));
    });
  });
}

/** Only data crosses the thread boundary. */
function plainOptions(o: LoadOptions): LoadOptions {
  return {
    ...(o.configId !== undefined ? { configId: o.configId } : {}),
    ...(o.strict !== undefined ? { strict: o.strict } : {}),
    ...(o.hostChecks !== undefined ? { hostChecks: o.hostChecks } : {}),
  };
}
