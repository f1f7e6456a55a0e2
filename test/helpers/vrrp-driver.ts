/**
 * Driving one VRRP instance core with a fake clock, and building received adverts, for the core's unit
 * tests.
 */
import { encodeAdvert, type ReceivedAdvertPacket } from '../../src/vrrp/codec.js';
import {
  createInstance,
  nextDeadline,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceParams,
  type VrrpInstanceState,
} from '../../src/vrrp/instance.js';

export function advertFrom(
  source: string,
  priority: number,
  o: {
    version?: 2 | 3;
    intervalMs?: number;
    destination?: string;
    vrid?: number;
    addresses?: string[];
    old?: boolean;
  } = {},
): ReceivedAdvertPacket {
  const destination = o.destination ?? '224.0.0.18';
  const data = encodeAdvert(
    {
      version: o.version ?? 2,
      vrid: o.vrid ?? 51,
      priority,
      addresses: o.addresses ?? ['10.77.0.100'],
      advertIntervalMs: o.intervalMs ?? 1000,
    },
    { family: 4, source, destination, pseudoHeaderDestination: o.old ? '224.0.0.18' : undefined },
  );
  return { data, family: 4, source, destination, ttl: 255 };
}

/** Drives a single instance with a fake clock. */
export class Driver {
  s: VrrpInstanceState;
  all: { t: number; a: VrrpAction }[] = [];
  now = 0;
  constructor(params: VrrpInstanceParams) {
    this.s = createInstance(params);
  }
  ev(event: VrrpEvent, t = this.now): VrrpAction[] {
    this.now = t;
    const r = step(this.s, event, t);
    this.s = r.state;
    for (const a of r.actions) this.all.push({ t, a });
    return r.actions;
  }
  /** Fire timers up to `t`. */
  advance(t: number): VrrpAction[] {
    const out: VrrpAction[] = [];
    for (;;) {
      const d = nextDeadline(this.s);
      if (d === undefined || d > t) break;
      out.push(...this.ev({ type: 'timer' }, d));
    }
    this.now = t;
    return out;
  }
  messages(): string[] {
    return this.all.flatMap(({ a }) =>
      a.type === 'transition' || a.type === 'log' || a.type === 'drop' ? [a.message] : [],
    );
  }
}

export const of = <T extends VrrpAction['type']>(as: VrrpAction[], type: T) =>
  as.filter((a): a is Extract<VrrpAction, { type: T }> => a.type === type);
