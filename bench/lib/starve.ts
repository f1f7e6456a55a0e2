/**
 * Shared pieces of the timing benchmarks: CPU starvation (busy loops pinned to
 * one CPU, a process tree pinned beside them), percentiles, and a cleanup list
 * that also runs on Ctrl-C / SIGTERM so no busy loop or namespace is left behind.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

type Cleanup = () => Promise<void> | void;
const cleanups = new Set<Cleanup>();
let interrupted = false;

/** Registers `fn` to run at interruption; call the returned function to unregister after a normal cleanup. */
export function onInterrupt(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Installs SIGINT/SIGTERM handlers that run every registered cleanup (newest first) and exit 130/143. */
export function installInterruptHandler(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: cleaning up...`);
    void (async () => {
      for (const fn of [...cleanups].reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      process.exit(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** p-th percentile (nearest rank) of xs; NaN when empty. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function lastCpu(): number {
  return cpus().length - 1;
}

/** The PIDs of `pid` and all its descendants (threads' children included), from /proc. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
          if (c) out.push(Number(c));
        }
      } catch {
        /* the task exited */
      }
    }
  }
  return out;
}

/** Pins every thread of `pid` and of its descendants to `cpu` (taskset -a). Returns the PIDs pinned. */
export function pinTree(pid: number, cpu: number): number[] {
  const pids = processTree(pid);
  for (const p of pids)
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(p)], { stdio: 'ignore' });
  return pids;
}

/** `count` busy loops (sh `while :`), each pinned to `cpu`; stop() kills them by PID and waits. */
export function startBusyLoops(count: number, cpu: number): { stop: () => Promise<void> } {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(
      spawn('taskset', ['-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }),
    );
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    unregister();
  };
  const unregister = onInterrupt(stop);
  return { stop };
}

/** The 1-minute load average and the number of CPUs, for the printed header. */
export function machineLoad(): string {
  const [one, five] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return `load average ${one} (1 min) ${five} (5 min) on ${cpus().length} CPUs`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
