/**
 * The native advert timer's contract with the pure core: which adverts are
 * periodic (the timer's job) and what bytes the timer repeats, and the engine
 * glue (AdvertTimers) that keeps a timer in step with the core: stop before a
 * state change's actions, re-phase after an event advert, keep the phase on a
 * priority change, drop the core's periodic sends. A recording fake stands in
 * for the native timer (the real one is tested in test/netns/native-timing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AdvertTimerLike,
  AdvertTimers,
  type AdvertTimersOptions,
  timerScheduling,
} from '../../src/daemon/advert-timers.js';
import type { RawSocket } from '../../src/net/raw-socket.js';
import { encodeAdvert } from '../../src/vrrp/codec.js';
import {
  advertPackets,
  createInstance,
  nextDeadline,
  step,
  type VrrpAction,
  type VrrpEvent,
  type VrrpInstanceParams,
  type VrrpInstanceState,
} from '../../src/vrrp/instance.js';
import { simParams } from '../helpers/vrrp-sim.js';

type Sent = Extract<VrrpAction, { type: 'send-advert' }>;
type Tagged = VrrpAction & { instance: string };

interface Call {
  op: 'set' | 'stop' | 'close' | 'feed';
  priority?: number;
  intervalMs?: number;
  firstInMs?: number;
  watchdogMs?: number;
  bytes?: string;
}

class FakeTimer implements AdvertTimerLike {
  calls: Call[] = [];
  running = false;
  errors = 0;
  withheld = 0;
  feeds = 0;
  get isRunning() {
    return this.running;
  }
  get threadId() {
    return 4242;
  }
  set(
    packets: readonly { destination: string; data: Buffer }[],
    s: { intervalMs: number; firstInMs?: number; watchdogMs?: number },
  ) {
    this.running = true;
    this.calls.push({
      op: 'set',
      priority: packets[0].data[2],
      intervalMs: s.intervalMs,
      firstInMs: s.firstInMs,
      watchdogMs: s.watchdogMs,
      bytes: packets.map((p) => p.data.toString('hex')).join(','),
    });
  }
  feed() {
    this.feeds++;
  }
  stop() {
    this.running = false;
    this.calls.push({ op: 'stop' });
  }
  close() {
    this.calls.push({ op: 'close' });
  }
  stats() {
    return {
      threadId: 4242,
      armed: this.running,
      sent: 0,
      sendErrors: this.errors,
      lastError: this.errors ? 'ENETDOWN' : null,
      skipped: 0,
      withheld: this.withheld,
      maxLateUs: 0,
      locked: false,
      lockError: null,
    };
  }
}

/** One instance driven by a fake clock through the core and AdvertTimers, as the engine does. */
class Rig {
  s: VrrpInstanceState;
  now = 0;
  readonly timer = new FakeTimer();
  readonly logs: string[] = [];
  readonly timers: AdvertTimers;
  constructor(
    params: VrrpInstanceParams,
    opts: Pick<AdvertTimersOptions, 'scheduling' | 'applyScheduling'> = {},
  ) {
    this.s = createInstance(params);
    this.timers = new AdvertTimers({
      ...opts,
      log: (_level, _instance, message) => this.logs.push(message),
      open: () => this.timer,
    });
  }
  ev(event: VrrpEvent, t = this.now): Tagged[] {
    this.now = t;
    const r = step(this.s, event, t);
    this.s = r.state;
    const tagged = r.actions.map((a) => ({ ...a, instance: 'VI_1' }));
    return this.timers.sync('VI_1', this.s, {} as RawSocket, tagged, false);
  }
  advance(t: number): Tagged[] {
    const out: Tagged[] = [];
    for (;;) {
      const d = nextDeadline(this.s);
      if (d === undefined || d > t) break;
      out.push(...this.ev({ type: 'timer' }, d));
    }
    this.now = t;
    return out;
  }
}

const sends = (as: VrrpAction[]) => as.filter((a): a is Sent => a.type === 'send-advert');

function lowerAdvert(source: string, priority: number) {
  const destination = '224.0.0.18';
  const data = encodeAdvert(
    { version: 3, vrid: 51, priority, addresses: ['10.77.0.100'], advertIntervalMs: 100 },
    { family: 4, source, destination },
  );
  return { data, family: 4 as const, source, destination, ttl: 255 };
}

const v3 = (priority: number) =>
  simParams('VI_1', priority, '10.77.0.11', { version: 3, advertIntervalMs: 100 });

describe('periodic adverts in the core', () => {
  it('marks the MASTER timer adverts periodic and the event ones not, with the bytes advertPackets builds', () => {
    const s0 = createInstance(v3(150));
    let s = step(s0, { type: 'start' }, 0).state;
    let all: VrrpAction[] = [];
    for (let t = 0; t <= 1000; t += 10) {
      const d = nextDeadline(s);
      if (d !== undefined && d <= t) {
        const r = step(s, { type: 'timer' }, d);
        s = r.state;
        all = all.concat(r.actions);
      }
    }
    const sent = sends(all);
    assert.equal(s.state, 'MASTER');
    assert.equal(sent[0].periodic, false, 'the advert sent on becoming MASTER answers an event');
    assert.ok(sent.length > 3);
    assert.ok(sent.slice(1).every((a) => a.periodic));
    assert.deepEqual(
      sent.at(-1)!.packets.map((p) => p.data.toString('hex')),
      advertPackets(s, 150).map((p) => p.data.toString('hex')),
    );
    // An answer to a lower-priority advert is an event advert.
    const r = step(s, { type: 'packet', packet: lowerAdvert('10.77.0.12', 100) }, 1005);
    assert.deepEqual(
      sends(r.actions).map((a) => a.periodic),
      [false],
    );
  });

  it('advertPackets: one datagram per unicast peer, each with its own checksum', () => {
    const s = createInstance({
      ...v3(150),
      unicastPeers: [{ address: '10.77.0.12' }, { address: '10.77.0.13' }],
    });
    const p = advertPackets(s, 150);
    assert.deepEqual(
      p.map((x) => x.destination),
      ['10.77.0.12', '10.77.0.13'],
    );
    assert.notEqual(
      p[0].data.toString('hex'),
      p[1].data.toString('hex'),
      'v3 checksum covers the destination',
    );
    assert.equal(advertPackets(s, 0)[0].data[2], 0);
  });
});

describe('AdvertTimers (engine glue)', () => {
  it('starts on becoming MASTER one interval after the event advert, and drops the periodic ones', () => {
    const r = new Rig(v3(150));
    r.ev({ type: 'start' }, 0);
    assert.equal(r.timer.calls.length, 0, 'no timer while BACKUP');
    const becoming = r.advance(400);
    assert.equal(r.s.state, 'MASTER');
    assert.deepEqual(
      sends(becoming).map((a) => a.periodic),
      [false],
      'the event advert is left for JavaScript to send at once; the periodic ones are dropped',
    );
    assert.equal(r.timer.calls[0].op, 'set');
    assert.equal(r.timer.calls[0].firstInMs, 100);
    assert.equal(r.timer.calls[0].intervalMs, 100);
    assert.equal(r.timer.calls[0].priority, 150);
    assert.equal(r.timer.calls.length, 1, 'periodic steps with unchanged bytes do not touch the timer');
  });

  it('re-phases after an answer to a lower priority, keeps the phase on a priority change', () => {
    const r = new Rig(v3(150));
    r.ev({ type: 'start' }, 0);
    r.advance(400);
    r.timer.calls = [];
    r.ev({ type: 'packet', packet: lowerAdvert('10.77.0.12', 100) }, 450);
    assert.deepEqual(
      r.timer.calls.map((c) => [c.op, c.firstInMs]),
      [['set', 100]],
    );
    r.timer.calls = [];
    r.ev({ type: 'track', effectivePriority: 140, fault: false }, 460);
    assert.deepEqual(
      r.timer.calls.map((c) => [c.op, c.priority, c.firstInMs]),
      [['set', 140, undefined]],
      'new bytes at the next regular slot',
    );
  });

  it('stops before the actions of a transition away from MASTER run (the priority-0 advert is the last)', () => {
    const r = new Rig(v3(150));
    r.ev({ type: 'start' }, 0);
    r.advance(400);
    r.timer.calls = [];
    const a = r.ev({ type: 'stop' }, 500);
    assert.deepEqual(
      r.timer.calls.map((c) => c.op),
      ['stop'],
    );
    assert.deepEqual(
      sends(a).map((x) => x.priority),
      [0],
      'JavaScript sends the priority-0 advert itself, after the timer stopped',
    );
    assert.equal(r.timer.isRunning, false);
  });

  it('arms the watchdog (1 s + 3 intervals) and feeds it at every periodic step; reports withheld adverts', () => {
    const r = new Rig(v3(150));
    r.ev({ type: 'start' }, 0);
    r.advance(400);
    assert.equal(r.timer.calls[0].watchdogMs, 1300);
    const fed = r.timer.feeds;
    r.advance(1000);
    assert.ok(r.timer.feeds >= fed + 5, 'each periodic step feeds the timer');
    r.timer.withheld = 4;
    r.advance(1100);
    assert.deepEqual(r.logs, ['(VI_1) the VRRP engine did not run for over 1300 ms: 4 advert(s) withheld']);
  });

  it('reports the timer thread send errors as they grow, and closes the timer when the instance goes', () => {
    const r = new Rig(v3(150));
    r.ev({ type: 'start' }, 0);
    r.advance(400);
    r.timer.errors = 3;
    r.advance(600);
    assert.deepEqual(r.logs, ['(VI_1) could not send 3 advert(s): ENETDOWN']);
    r.advance(800);
    assert.equal(r.logs.length, 1, 'the same errors are reported once');
    r.timers.close('VI_1');
    assert.equal(r.timer.calls.at(-1)?.op, 'close');
  });

  it('falls back to JavaScript sends (logged once) when no timer can be opened', () => {
    const logs: string[] = [];
    const timers = new AdvertTimers({
      log: (_l, _i, m) => logs.push(m),
      open: () => {
        throw Object.assign(new Error('advert timer thread: EAGAIN'), { code: 'EAGAIN' });
      },
    });
    let s = step(createInstance(v3(150)), { type: 'start' }, 0).state;
    let kept = 0;
    for (let t = 0; t < 1000; t += 10) {
      const d = nextDeadline(s);
      if (d === undefined || d > t) continue;
      const r = step(s, { type: 'timer' }, d);
      s = r.state;
      const tagged = r.actions.map((a) => ({ ...a, instance: 'VI_1' }));
      kept += sends(timers.sync('VI_1', s, {} as RawSocket, tagged, false)).length;
    }
    assert.ok(kept > 3, 'periodic adverts stay with JavaScript');
    assert.equal(logs.length, 1);
    assert.match(logs[0], /no native advert timer .*EAGAIN.*sent from JavaScript/);
  });
});

describe('advert timer thread priority', () => {
  const base = { part: 'vrrp' as const, lockMemory: true };
  it('runs one SCHED_RR priority above the VRRP worker thread, capped at 99; not realtime stays not realtime', () => {
    assert.equal(timerScheduling({ ...base, rtPriority: 10 }).rtPriority, 11);
    assert.equal(timerScheduling({ ...base, rtPriority: 99 }).rtPriority, 99);
    assert.equal(timerScheduling({ ...base, rtPriority: 0, nice: -5 }).rtPriority, 0);
    assert.equal(timerScheduling({ ...base, rtPriority: 0, nice: -5 }).nice, -5);
  });

  it('a reload that changes vrrp_rt_priority reschedules the open timer threads, and later ones open with it', () => {
    const applied: { rtPriority: number; tid: number }[] = [];
    const r = new Rig(v3(150), {
      scheduling: { ...base, rtPriority: 10 },
      applyScheduling: (sch, tid) => {
        applied.push({ rtPriority: sch.rtPriority, tid });
        return { warnings: sch.rtPriority > 50 ? ['no CAP_SYS_NICE'] : [] };
      },
    });
    r.ev({ type: 'start' }, 0);
    r.advance(400);
    assert.equal(r.s.state, 'MASTER');
    assert.deepEqual(applied, [{ rtPriority: 11, tid: 4242 }], 'opened one above the VRRP thread');
    r.timers.reschedule({ ...base, rtPriority: 30 });
    assert.deepEqual(applied.at(-1), { rtPriority: 31, tid: 4242 }, 'the open timer follows the reload');
    r.timers.reschedule({ ...base, rtPriority: 60 });
    assert.deepEqual(
      r.logs,
      ['(VI_1) advert timer: no CAP_SYS_NICE'],
      'a refusal is said, naming the instance',
    );
    // A timer opened after the reload (another mastership) opens with the new scheduling.
    r.timers.close('VI_1');
    r.ev({ type: 'stop' }, 500);
    r.s = createInstance(v3(150));
    r.ev({ type: 'start' }, 1000);
    r.advance(1400);
    assert.deepEqual(applied.at(-1), { rtPriority: 61, tid: 4242 });
  });
});
