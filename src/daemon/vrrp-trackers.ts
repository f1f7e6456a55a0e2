/**
 * The tracked objects the VRRP engine polls or watches, each kept across reloads:
 *  - TrackScripts runs every used vrrp_script on its interval (through the one script runner) and keeps
 *    its rise/fall result; a reload that changes a script keeps the current result and reschedules it.
 *  - TrackFiles reads every used track_file (the first integer in it) when inotify says it changed.
 * Both report changes through `onChange`; the engine re-evaluates tracking then.
 */
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { runScript } from '../check/script-runner.js';
import type { TrackFilePlan, TrackScriptPlan } from '../plan/vrrp.js';
import {
  initialScriptTracker,
  recordScriptResult,
  type ScriptStatus,
  type ScriptTrackerParams,
  type ScriptTrackerState,
} from '../vrrp/tracking.js';
import type { ScriptGate } from './script-gate.js';

export interface TrackerHost {
  now(): number;
  gate(): ScriptGate;
  /** A status / value changed: re-evaluate tracking. */
  onChange(): void;
  /** A vrrp_script's status flipped (keepalived's "VRRP_Script(chk) succeeded"). */
  onScriptState(name: string, ok: boolean, exitCode: number | null, message: string): void;
  onScriptExit(
    command: string,
    r: { exitCode: number | null; signal: string | null; timedOut: boolean; durationMs: number },
  ): void;
  warn(message: string): void;
  /** Keep a promise until stop (errors are logged). */
  track(p: Promise<unknown>): void;
}

function trackerParams(p: TrackScriptPlan): ScriptTrackerParams {
  return { name: p.name, rise: p.rise, fall: p.fall, initFail: p.initFail };
}

/** A kept status under new rise/fall: the same status at the counter's edge for it. */
function carryOver(state: ScriptTrackerState, p: ScriptTrackerParams): ScriptTrackerState {
  if (state.status === 'ok') return { status: 'ok', result: p.rise + p.fall - 1 };
  if (state.status === 'failed') return { status: 'failed', result: 0 };
  return initialScriptTracker(p);
}

class ScriptLoop {
  state: ScriptTrackerState;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private stopped = false;

  constructor(
    public plan: TrackScriptPlan,
    private readonly host: TrackerHost,
  ) {
    this.state = initialScriptTracker(trackerParams(plan));
  }

  start(): void {
    this.loop(this.generation);
  }

  /** A reload changed the script: keep its result, run the new definition now and on its new interval. */
  update(plan: TrackScriptPlan): void {
    this.plan = plan;
    this.state = carryOver(this.state, trackerParams(plan));
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.generation++;
    this.loop(this.generation);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private loop(generation: number): void {
    const started = this.host.now();
    const p = this.runOnce(generation)
      .catch((err: unknown) => {
        this.host.warn(`VRRP_Script(${this.plan.name}): ${String(err)}`);
        return true;
      })
      .then((again) => {
        // A newer definition took over while this run was in flight.
        if (!again || this.stopped || generation !== this.generation) return;
        this.timer = setTimeout(
          () => this.loop(generation),
          Math.max(0, this.plan.intervalMs - (this.host.now() - started)),
        );
      });
    this.host.track(p);
  }

  /** One run; false when the script is refused and must not be scheduled again. */
  private async runOnce(generation: number): Promise<boolean> {
    if (this.stopped) return false;
    const plan = this.plan;
    const runAs = plan.runAs;
    // keepalived disables an insecure track script: it never reports a result (stays 'init').
    if (!(await this.host.gate().allowed(plan.command, runAs?.user, runAs?.group))) return false;
    const res = await runScript(plan.command, {
      timeoutMs: plan.timeoutMs,
      user: runAs?.user,
      group: runAs?.group,
    });
    if (res.error) this.host.warn(`VRRP_Script(${plan.name}): ${res.error}`);
    if (this.stopped || generation !== this.generation) return true;
    const r = recordScriptResult(trackerParams(plan), this.state, res);
    this.state = r.state;
    if (r.changed) {
      this.host.onScriptState(
        plan.name,
        r.state.status === 'ok',
        res.exitCode,
        r.message ?? `VRRP_Script(${plan.name}) ${r.state.status}`,
      );
      this.host.onChange();
    }
    return true;
  }
}

export class TrackScripts {
  private readonly loops = new Map<string, ScriptLoop>();

  constructor(private readonly host: TrackerHost) {}

  /** Start new scripts, reschedule changed ones (keeping their result), stop removed ones. */
  apply(plans: readonly TrackScriptPlan[]): void {
    const wanted = new Map(plans.map((p) => [p.name, p]));
    for (const [name, loop] of this.loops) {
      if (!wanted.has(name)) {
        loop.stop();
        this.loops.delete(name);
      }
    }
    for (const plan of plans) {
      const loop = this.loops.get(plan.name);
      if (!loop) {
        const fresh = new ScriptLoop(plan, this.host);
        this.loops.set(plan.name, fresh);
        fresh.start();
      } else if (JSON.stringify(loop.plan) !== JSON.stringify(plan)) loop.update(plan);
    }
  }

  status(name: string): ScriptStatus {
    return this.loops.get(name)?.state.status ?? 'init';
  }

  stop(): void {
    for (const l of this.loops.values()) l.stop();
  }
}

class FileWatch {
  private watcher: FSWatcher | undefined;
  value = 0;

  constructor(
    readonly plan: TrackFilePlan,
    private readonly host: TrackerHost,
  ) {}

  async start(): Promise<void> {
    const f = this.plan;
    if (f.init) {
      const exists = await readFile(f.path).then(
        () => true,
        () => false,
      );
      if (!exists || f.init.overwrite) await writeFile(f.path, `${f.init.value}\n`);
    }
    await this.read();
    try {
      this.watcher = fsWatch(dirname(f.path), (_ev, file) => {
        if (file === null || file === basename(f.path)) this.host.track(this.read());
      });
    } catch (err) {
      this.host.warn(`track_file ${f.name}: cannot watch ${f.path}: ${(err as Error).message}`);
    }
  }

  private async read(): Promise<void> {
    const text = await readFile(this.plan.path, 'utf8').catch(() => '');
    // keepalived reads the first integer; an unreadable or empty file counts as 0.
    const parsed = Number.parseInt(text.trim(), 10);
    const v = Number.isNaN(parsed) ? 0 : parsed;
    if (v !== this.value) {
      this.value = v;
      this.host.onChange();
    }
  }

  stop(): void {
    this.watcher?.close();
  }
}

export class TrackFiles {
  private readonly files = new Map<string, FileWatch>();

  constructor(private readonly host: TrackerHost) {}

  /** Watch new files, re-read changed ones, stop watching removed ones. */
  async apply(plans: readonly TrackFilePlan[]): Promise<void> {
    const wanted = new Set(plans.map((p) => p.name));
    for (const [name, w] of this.files) {
      if (!wanted.has(name)) {
        w.stop();
        this.files.delete(name);
      }
    }
    for (const plan of plans) {
      const w = this.files.get(plan.name);
      if (w && JSON.stringify(w.plan) === JSON.stringify(plan)) continue;
      w?.stop();
      const fresh = new FileWatch(plan, this.host);
      this.files.set(plan.name, fresh);
      await fresh.start();
    }
  }

  value(name: string): number {
    return this.files.get(name)?.value ?? 0;
  }

  stop(): void {
    for (const w of this.files.values()) w.stop();
  }
}
