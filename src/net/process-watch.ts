/**
 * vrrp_track_process, the I/O part: learns which processes match each vrrp_track_process, promptly, and turns
 * that into quorum up / down with the pure rules of src/vrrp/process-tracking.ts.
 *
 * Two ways to learn about processes:
 * - 'connector' (preferred, what keepalived does): the kernel's process events connector reports every fork,
 *   exec, comm change and exit as it happens (src/net/proc-connector.ts). Only available in the initial
 *   network and PID namespaces with CAP_NET_ADMIN.
 * - 'scan' (the fallback everywhere else, e.g. halo in a network namespace or a container): /proc is scanned
 *   every `scanIntervalMs` to find new processes, and every matching process is watched with a pidfd
 *   (src/net/pidfd.ts), so an exit is still seen at once; only a start waits for the next scan.
 * Both start with a scan of /proc, after subscribing, so nothing is missed in between.
 *
 * Differences from keepalived, on purpose: a matching process that execs into the same program again (an
 * haproxy reload re-exec) is not counted twice (keepalived 2.2.7 adds a second reference); lost connector
 * events (ENOBUFS) lead to an immediate recount instead of one after a second.
 */

import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { NormalisedVrrpTrackProcess } from '../config/model.js';
import {
  initialQuorum,
  matchesProcess,
  nextQuorumTimer,
  type ProcessInfo,
  type ProcessMatchSpec,
  type QuorumEvent,
  type QuorumParams,
  type QuorumState,
  stepQuorum,
} from '../vrrp/process-tracking.js';
import { type ExitWatch, watchProcessExit } from './pidfd.js';
import { ProcConnector, type ProcEvent } from './proc-connector.js';

export interface TrackedProcessSpec extends ProcessMatchSpec {
  name: string;
}

export interface ProcessChange {
  /** The vrrp_track_process name. */
  name: string;
  pid: number;
  type: 'added' | 'removed';
  via: 'exec' | 'fork' | 'scan' | 'exit' | 'mismatch';
  /** Matching processes now. */
  count: number;
  /** process.hrtime.bigint() when the kernel event (or scan result) was read. */
  at: bigint;
}

export interface ProcessWatcherOptions {
  /** 'auto' (default): the connector if the kernel allows it here, else 'scan'. */
  mode?: 'auto' | 'connector' | 'scan';
  /** How often 'scan' mode looks for new processes (default 1000 ms). */
  scanIntervalMs?: number;
  /** Where /proc is (tests). */
  procRoot?: string;
  /** Keep the event loop alive (default true). */
  ref?: boolean;
}

interface ProcessWatcherEvents {
  change: [ProcessChange];
  /** Counts were rebuilt from a scan after lost events; one per tracked process. */
  recount: [{ name: string; count: number; at: bigint }];
  error: [Error];
}

/** Reads what matching needs about one process from /proc (undefined when it is gone). */
export function readProcess(
  root: string,
  pid: number,
  need: { comm: boolean; argv: boolean },
): ProcessInfo | undefined {
  const info: ProcessInfo = {};
  try {
    if (need.comm) {
      // stat gives comm and the state in one read: "PID (COMM) S ...", COMM may hold spaces and ')'.
      const stat = readFileSync(`${root}/${pid}/stat`, 'latin1');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      if (open < 0 || close < open) return undefined;
      info.comm = stat.slice(open + 1, close);
      info.zombie = stat[close + 2] === 'Z';
    }
    if (need.argv) {
      const raw = readFileSync(`${root}/${pid}/cmdline`);
      const parts = raw.toString().split('\0');
      if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
      info.argv = parts;
      // A zombie has an empty cmdline.
      if (parts.length === 0) info.zombie = true;
    }
  } catch {
    return undefined;
  }
  return info;
}

/**
 * Keeps, per tracked process name, the set of matching PIDs, and emits 'change' for every PID that starts or
 * stops matching. `ready` resolves after the first scan; `mode` says which way it learns about processes.
 */
export class ProcessWatcher extends EventEmitter<ProcessWatcherEvents> {
  mode: 'connector' | 'scan' | undefined;
  /** Why the connector is not used, when mode is 'scan' in 'auto'. */
  connectorError: string | undefined;
  private readonly byPid = new Map<number, Set<string>>();
  private readonly counts = new Map<string, number>();
  private readonly exitWatches = new Map<number, ExitWatch>();
  private readonly need: { comm: boolean; argv: boolean };
  private readonly root: string;
  private connector: ProcConnector | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly specs: TrackedProcessSpec[],
    private readonly opts: ProcessWatcherOptions = {},
  ) {
    super();
    this.root = opts.procRoot ?? '/proc';
    this.need = { comm: specs.some((s) => !s.fullCommand), argv: specs.some((s) => s.fullCommand) };
    for (const s of specs) this.counts.set(s.name, 0);
  }

  /** Subscribes (connector) or prepares (scan), then scans /proc once. Resolves with the mode in use. */
  async start(): Promise<'connector' | 'scan'> {
    const mode = this.opts.mode ?? 'auto';
    if (mode !== 'scan') {
      try {
        this.connector = await ProcConnector.open();
        this.connector.on('event', (ev, at) => this.onEvent(ev, at));
        this.connector.on('overrun', () => this.recount());
        this.connector.on('error', (err) => this.emit('error', err));
        if (this.opts.ref === false) this.connector.unref();
        this.mode = 'connector';
      } catch (err) {
        if (mode === 'connector') throw err;
        this.connectorError = `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim();
        this.mode = 'scan';
      }
    } else this.mode = 'scan';
    this.scan(true);
    if (this.mode === 'scan') {
      this.scanTimer = setInterval(() => this.scan(false), this.opts.scanIntervalMs ?? 1000);
      if (this.opts.ref === false) this.scanTimer.unref();
    }
    return this.mode;
  }

  count(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  pids(name: string): number[] {
    return [...this.byPid].filter(([, names]) => names.has(name)).map(([pid]) => pid);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connector?.close();
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const w of this.exitWatches.values()) w.close();
    this.exitWatches.clear();
  }

  private matchNames(info: ProcessInfo | undefined, only?: (s: TrackedProcessSpec) => boolean): Set<string> {
    const out = new Set<string>();
    if (!info) return out;
    for (const s of this.specs) if ((!only || only(s)) && matchesProcess(s, info)) out.add(s.name);
    return out;
  }

  private add(pid: number, name: string, via: ProcessChange['via'], at: bigint, silent = false): void {
    let names = this.byPid.get(pid);
    if (!names) {
      names = new Set();
      this.byPid.set(pid, names);
    }
    if (names.has(name)) return;
    names.add(name);
    const count = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, count);
    if (this.mode === 'scan' && !this.exitWatches.has(pid)) {
      const w = watchProcessExit(pid, () => this.exited(pid, process.hrtime.bigint()));
      if (w) this.exitWatches.set(pid, w);
    }
    if (!silent) this.emit('change', { name, pid, type: 'added', via, count, at });
  }

  private remove(pid: number, name: string, via: ProcessChange['via'], at: bigint): void {
    const names = this.byPid.get(pid);
    if (!names?.delete(name)) return;
    if (names.size === 0) {
      this.byPid.delete(pid);
      this.exitWatches.get(pid)?.close();
      this.exitWatches.delete(pid);
    }
    const count = Math.max(0, (this.counts.get(name) ?? 0) - 1);
    this.counts.set(name, count);
    this.emit('change', { name, pid, type: 'removed', via, count, at });
  }

  private exited(pid: number, at: bigint): void {
    for (const name of [...(this.byPid.get(pid) ?? [])]) this.remove(pid, name, 'exit', at);
  }

  private onEvent(ev: ProcEvent, at: bigint): void {
    if (this.closed) return;
    switch (ev.what) {
      case 'fork':
        // A new thread is not a new process.
        if (ev.childPid !== ev.childTgid) return;
        for (const name of this.byPid.get(ev.parentTgid) ?? []) this.add(ev.childTgid, name, 'fork', at);
        return;
      case 'exec': {
        if (ev.pid !== ev.tgid) return;
        const now = this.matchNames(readProcess(this.root, ev.tgid, this.need));
        for (const name of [...(this.byPid.get(ev.tgid) ?? [])])
          if (!now.has(name)) this.remove(ev.tgid, name, 'mismatch', at);
        for (const name of now) this.add(ev.tgid, name, 'exec', at);
        return;
      }
      case 'comm': {
        if (ev.pid !== ev.tgid) return;
        // A rename only concerns the name-matched (not full_command) processes.
        const byComm = (s: TrackedProcessSpec) => !s.fullCommand;
        const now = this.matchNames({ comm: ev.comm }, byComm);
        for (const s of this.specs.filter(byComm)) {
          if (now.has(s.name)) this.add(ev.tgid, s.name, 'exec', at);
          else this.remove(ev.tgid, s.name, 'mismatch', at);
        }
        return;
      }
      case 'exit':
        if (ev.pid === ev.tgid) this.exited(ev.tgid, at);
        return;
      default:
    }
  }

  /** Scans /proc: adds what matches and is not known, removes known PIDs that are gone (or, in a full
   * recount, no longer match). */
  private scan(initial: boolean, silent = false): void {
    if (this.closed) return;
    const at = process.hrtime.bigint();
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch (err) {
      this.emit('error', err as Error);
      return;
    }
    const alive = new Set<number>();
    for (const e of entries) {
      if (!/^\d+$/.test(e)) continue;
      const pid = Number(e);
      alive.add(pid);
      const known = this.byPid.get(pid);
      // Known PIDs keep their match set (exec / comm events update it in connector mode).
      if (known && !initial) continue;
      for (const name of this.matchNames(readProcess(this.root, pid, this.need)))
        this.add(pid, name, 'scan', at, silent);
    }
    for (const pid of [...this.byPid.keys()]) if (!alive.has(pid)) this.exited(pid, at);
  }

  /** After lost events: rebuild the PID sets from /proc and report the counts. */
  private recount(): void {
    for (const w of this.exitWatches.values()) w.close();
    this.exitWatches.clear();
    this.byPid.clear();
    for (const s of this.specs) this.counts.set(s.name, 0);
    this.scan(true, true);
    const at = process.hrtime.bigint();
    for (const s of this.specs) this.emit('recount', { name: s.name, count: this.count(s.name), at });
  }
}

/* ------------------------------------------------------------------ quorum tracking */

export interface QuorumChange {
  name: string;
  haveQuorum: boolean;
  count: number;
  /** keepalived's log line: "Quorum gained for tracked process NAME" / "Quorum lost ...". */
  message: string;
}

interface ProcessTrackerEvents {
  quorum: [QuorumChange];
  change: [ProcessChange];
  error: [Error];
}

/** Turns a model vrrp_track_process into the watcher's spec and the quorum parameters. */
export function processSpecs(
  list: NormalisedVrrpTrackProcess[],
): { spec: TrackedProcessSpec; params: QuorumParams }[] {
  return list.map((t) => ({
    spec: {
      name: t.name,
      process: t.process,
      params: t.params,
      paramMatch: t.paramMatch,
      fullCommand: t.fullCommand,
    },
    params: {
      name: t.name,
      quorum: t.quorum,
      quorumMax: t.quorumMax,
      forkDelayMs: t.forkDelayMs,
      terminateDelayMs: t.terminateDelayMs,
    },
  }));
}

/**
 * The whole of track_process for the VRRP engine: watches the processes, keeps each vrrp_track_process's
 * quorum (with fork/terminate delays on real timers) and emits 'quorum' when one flips. `quorum()` is what
 * evaluateTracking() takes as `processes`.
 */
export class ProcessTracker extends EventEmitter<ProcessTrackerEvents> {
  readonly watcher: ProcessWatcher;
  private readonly params = new Map<string, QuorumParams>();
  private readonly states = new Map<string, QuorumState>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    tracked: NormalisedVrrpTrackProcess[],
    private readonly opts: ProcessWatcherOptions & { now?: () => number } = {},
  ) {
    super();
    const specs = processSpecs(tracked);
    for (const { params } of specs) this.params.set(params.name, params);
    this.watcher = new ProcessWatcher(
      specs.map((s) => s.spec),
      opts,
    );
    this.watcher.on('change', (c) => {
      this.emit('change', c);
      if (!this.started) return;
      const ev: QuorumEvent =
        c.type === 'added'
          ? { type: 'added', via: c.via === 'fork' ? 'fork' : c.via === 'scan' ? 'scan' : 'exec' }
          : { type: 'removed', via: c.via === 'exit' ? 'exit' : 'mismatch' };
      this.step(c.name, ev);
    });
    this.watcher.on('recount', (r) => this.step(r.name, { type: 'recount', count: r.count }));
    this.watcher.on('error', (err) => this.emit('error', err));
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  /** Starts watching; resolves once the initial quorum of every tracked process is known. */
  async start(): Promise<'connector' | 'scan'> {
    const mode = await this.watcher.start();
    for (const [name, p] of this.params) this.states.set(name, initialQuorum(p, this.watcher.count(name)));
    this.started = true;
    return mode;
  }

  /** vrrp_track_process name -> quorum held (TrackingInputs.processes). */
  quorum(): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const [name, s] of this.states) out[name] = s.haveQuorum;
    return out;
  }

  state(name: string): QuorumState | undefined {
    return this.states.get(name);
  }

  close(): void {
    this.watcher.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private step(name: string, ev: QuorumEvent): void {
    const p = this.params.get(name);
    const s = this.states.get(name);
    if (!p || !s) return;
    const r = stepQuorum(p, s, ev, this.now());
    this.states.set(name, r.state);
    if (r.changed) {
      this.emit('quorum', {
        name,
        haveQuorum: r.changed.haveQuorum,
        count: r.state.count,
        message: r.changed.message,
      });
    }
    this.schedule();
  }

  /** One timer for the earliest fork/terminate deadline of all tracked processes. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let next: number | undefined;
    for (const s of this.states.values()) {
      const t = nextQuorumTimer(s);
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    if (next === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        for (const name of this.states.keys()) this.step(name, { type: 'tick' });
      },
      Math.max(0, next - this.now()),
    );
    if (this.opts.ref === false) this.timer.unref();
  }
}
