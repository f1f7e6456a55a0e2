/**
 * The daemon's event bus: every state change an operator cares about (VRRP transitions, priority changes,
 * peer drift, real servers going up/down/drained, quorum, IPVS changes and drift repairs, reloads, alerts,
 * start and stop), as typed events with a sequence number, in the order they happened.
 *
 * Publishers (the supervisor, the checks + IPVS part) call `publish()`; it never throws and never waits.
 * Readers (`halo events` over the control socket, the status page's server-sent events) `subscribe()`:
 * they get the backlog they missed (a bounded ring of the latest events) and then every new event, with no
 * gap and no duplicate between the two because both happen in the same synchronous call. A listener that
 * throws is removed; a slow reader is the transport's problem (it must bound its own buffer and cut the
 * reader off), never the bus's: publishing costs the same whoever listens.
 *
 * Events are plain JSON (times as ISO strings) with a human `message` in keepalived's words where it has
 * them, so `halo events` can print them and a newer daemon's event types still print on an older CLI.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AlertEvent } from '../notify/events.js';
import type { RsOrigin } from './rs-overrides.js';

export type RealServerState = 'up' | 'down' | 'drained' | 'disabled';
export type VrrpStateText = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

/** What publishers hand the bus (the bus adds `seq` and `at`). */
export type HaloEventBody =
  | {
      type: 'daemon.start';
      version: string;
      pid: number;
      configFile: string;
      /** null when this daemon runs no IPVS part (--vrrp-only, no virtual servers). */
      ipvs: 'kernel' | 'dry-run' | null;
      message: string;
    }
  | { type: 'daemon.stop'; reason: string; message: string }
  | {
      type: 'vrrp.transition';
      instance: string;
      from: VrrpStateText;
      to: VrrpStateText;
      reason: string;
      priority: number;
      masterAddress: string | null;
      message: string;
    }
  | { type: 'vrrp.priority_changed'; instance: string; from: number; to: number; message: string }
  | {
      type: 'vrrp.peer_drift';
      instance: string;
      peer: string;
      theirs: string[];
      ours: string[];
      message: string;
    }
  | { type: 'vrrp.peer_drift_cleared'; instance: string; peer: string; message: string }
  | {
      type: 'rs.state';
      /** keepalived's names: "[10.0.0.100]:tcp:80" and "[10.0.0.21]:tcp:80". */
      virtualServer: string;
      realServer: string;
      address: string;
      port: number;
      state: RealServerState;
      previous: RealServerState | null;
      /** The checker's words ("connection refused") or why the weight changed. */
      reason: string;
      checker?: string;
      weight: number;
      message: string;
    }
  | {
      /** An operator's override of a real server set, changed or removed (`halo rs`), or dropped by halo. */
      type: 'rs.override';
      virtualServer: string;
      realServer: string;
      address: string;
      port: number;
      /** What was asked; `dropped`: halo removed it (a reload took the real server out of the config). */
      action: 'drain' | 'disable' | 'enable' | 'weight' | 'dropped';
      override: { kind: 'drain' | 'disable' | 'weight'; weight?: number } | null;
      previous: { kind: 'drain' | 'disable' | 'weight'; weight?: number } | null;
      origin: RsOrigin;
      message: string;
    }
  | {
      type: 'vs.quorum';
      virtualServer: string;
      up: boolean;
      weightSum: number;
      threshold: number;
      message: string;
    }
  | {
      type: 'ipvs.change' | 'ipvs.drift_repaired';
      op: string;
      service: string;
      dest?: string;
      weight?: number;
      /** --ipvs dry-run: nothing was programmed, this is what would have been. */
      dryRun: boolean;
      drift?: string;
      message: string;
    }
  | {
      type: 'config.reloaded';
      configFile: string;
      durationMs: number;
      /** One line per change that the reload applied ("VI_1 restarted because ...", "VS ... : weight 1 -> 3"). */
      changes: string[];
      message: string;
    }
  | { type: 'config.reload_rejected'; configFile: string; errors: string[]; message: string }
  | { type: 'alert'; alert: AlertEvent; message: string }
  /** `halo failover` / `halo maintenance`: an operator's hold set or cleared, with who asked. */
  | {
      type: 'vrrp.hold';
      kind: 'failover' | 'maintenance';
      on: boolean;
      instances: string[];
      origin: string;
      message: string;
    };

export type HaloEventType = HaloEventBody['type'];
export type HaloEvent = HaloEventBody & { seq: number; at: string };

/**
 * What a reader validates: the envelope only. Unknown types and extra fields pass (a newer daemon may
 * say more than this CLI knows), but an event without a sequence, a time, a type or a message is refused.
 */
export const EventEnvelopeSchema = z.looseObject({
  seq: z.number().int().nonnegative(),
  at: z.string(),
  type: z.string(),
  message: z.string(),
});
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

/** Which daemon's numbering a reader follows: sequence numbers restart with the daemon. */
export const EventStreamInfoSchema = z.object({
  /** Random per daemon start: a reader that reconnects to another stream starts over. */
  stream: z.string(),
  /** The last sequence number published so far (0: none yet). */
  lastSeq: z.number().int().nonnegative(),
  /** Events the reader asked for that are no longer in the backlog. */
  missed: z.number().int().nonnegative(),
});
export type EventStreamInfo = z.infer<typeof EventStreamInfoSchema>;

export type EventListener = (e: HaloEvent) => void;

export interface Subscription extends EventStreamInfo {
  /** The backlog events after `since` (oldest first), to be delivered before any live one. */
  replay: HaloEvent[];
  unsubscribe(): void;
}

/** The part of the bus readers use (the control socket and the HTTP server take only this). */
export interface EventSource {
  /** Random per daemon start (see EventStreamInfo). */
  readonly stream: string;
  subscribe(since: number | undefined, listener: EventListener): Subscription;
  /** The kept events (oldest first). */
  backlog(): HaloEvent[];
}

export interface EventBusOptions {
  /** How many of the latest events are kept for late readers (default 2000). */
  backlog?: number;
  /** Wall clock (ms since epoch); tests pass a fake one. */
  now?: () => number;
  /** Called when a listener threw (it has been removed). */
  onListenerError?: (err: unknown) => void;
}

export const DEFAULT_BACKLOG = 2000;

export class EventBus implements EventSource {
  readonly stream = randomBytes(6).toString('hex');
  private readonly capacity: number;
  private readonly ring: (HaloEvent | undefined)[];
  /** Index of the oldest kept event in `ring`. */
  private head = 0;
  private size = 0;
  private seq = 0;
  private readonly listeners = new Set<EventListener>();
  private readonly now: () => number;

  constructor(private readonly opts: EventBusOptions = {}) {
    this.capacity = Math.max(1, Math.floor(opts.backlog ?? DEFAULT_BACKLOG));
    this.ring = new Array(this.capacity);
    this.now = opts.now ?? Date.now;
  }

  get lastSeq(): number {
    return this.seq;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Numbers, time-stamps, keeps and hands the event to every listener. Never throws. */
  publish(body: HaloEventBody): HaloEvent {
    const event = { ...body, seq: ++this.seq, at: new Date(this.now()).toISOString() } as HaloEvent;
    const at = (this.head + this.size) % this.capacity;
    this.ring[at] = event;
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.listeners.delete(l);
        this.opts.onListenerError?.(err);
      }
    }
    return event;
  }

  backlog(): HaloEvent[] {
    const out: HaloEvent[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.ring[(this.head + i) % this.capacity] as HaloEvent);
    return out;
  }

  /**
   * The events after `since` still kept, then every new one. `since` undefined: the whole backlog. A
   * `since` from another stream or from the future (a reader that followed an earlier daemon) also gets
   * the whole backlog: the numbers are not comparable.
   */
  subscribe(since: number | undefined, listener: EventListener): Subscription {
    const kept = this.backlog();
    const oldest = kept[0]?.seq ?? this.seq + 1;
    const from = since === undefined || since > this.seq || since < 0 ? 0 : since;
    const replay = kept.filter((e) => e.seq > from);
    const missed = Math.max(0, oldest - from - 1);
    this.listeners.add(listener);
    return {
      stream: this.stream,
      lastSeq: this.seq,
      missed,
      replay,
      unsubscribe: () => {
        this.listeners.delete(listener);
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Text

/** One line for `halo events`: time, type, message, and the fields the message does not already say. */
export function formatEventLine(e: EventEnvelope): string {
  const extra: string[] = [];
  if (e.type === 'vrrp.transition' && typeof e.reason === 'string') extra.push(`reason=${e.reason}`);
  if (e.type === 'vrrp.transition' && typeof e.priority === 'number') extra.push(`priority=${e.priority}`);
  if (e.type === 'ipvs.change' && e.dryRun === true) extra.push('(dry-run)');
  const tail = extra.length ? `  ${extra.join(' ')}` : '';
  return `${e.at}  #${e.seq}  ${e.type.padEnd(22)} ${e.message}${tail}`;
}
