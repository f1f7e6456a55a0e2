/**
 * The event bus and `events` on the control socket: numbering, the bounded backlog late readers get,
 * no gap or duplicate between backlog and live events, listeners that throw, and a socket server that
 * no reader can hurt (too many followers, a reader that stops reading, malformed requests).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runEvents } from '../../src/cli/events-cmd.js';
import {
  ControlClientError,
  type ControlHandlers,
  ControlServer,
  controlRequest,
  readEvents,
} from '../../src/daemon/control.js';
import {
  EventBus,
  type EventEnvelope,
  formatEventLine,
  type HaloEventBody,
} from '../../src/daemon/events.js';
import { sampleStatus } from './daemon-sample.js';

const T0 = Date.parse('2026-11-21T07:00:00Z');

function transition(instance: string, to: 'MASTER' | 'BACKUP'): HaloEventBody {
  return {
    type: 'vrrp.transition',
    instance,
    from: to === 'MASTER' ? 'BACKUP' : 'MASTER',
    to,
    reason: 'master-down-timeout',
    priority: 100,
    masterAddress: null,
    message: `(${instance}) Entering ${to} STATE`,
  };
}

function rsDown(address: string): HaloEventBody {
  return {
    type: 'rs.state',
    virtualServer: '[10.0.0.100]:tcp:80',
    realServer: `[${address}]:tcp:80`,
    address,
    port: 80,
    state: 'down',
    previous: 'up',
    reason: 'connection refused',
    checker: 'TCP_CHECK',
    weight: 1,
    message: `[${address}]:tcp:80 in VS [10.0.0.100]:tcp:80 is DOWN (connection refused)`,
  };
}

describe('event bus', () => {
  it('numbers and time-stamps events in order; the backlog keeps the latest N', () => {
    let now = T0;
    const bus = new EventBus({ backlog: 3, now: () => now });
    for (let i = 1; i <= 5; i++) {
      now = T0 + i * 1000;
      const e = bus.publish(transition(`VI_${i}`, 'MASTER'));
      assert.equal(e.seq, i);
      assert.equal(e.at, new Date(T0 + i * 1000).toISOString());
    }
    assert.deepEqual(
      bus.backlog().map((e) => e.seq),
      [3, 4, 5],
    );
    assert.equal(bus.lastSeq, 5);
  });

  it('a late subscriber gets what it missed, then live events, with no gap and no duplicate', () => {
    const bus = new EventBus({ backlog: 3 });
    for (let i = 0; i < 5; i++) bus.publish(transition('VI_1', i % 2 ? 'MASTER' : 'BACKUP'));
    const got: number[] = [];
    const all = bus.subscribe(undefined, (e) => got.push(e.seq));
    assert.deepEqual(
      all.replay.map((e) => e.seq),
      [3, 4, 5],
    );
    assert.equal(all.missed, 2, 'events 1 and 2 are no longer kept');
    const since4 = bus.subscribe(4, () => undefined);
    assert.deepEqual(
      since4.replay.map((e) => e.seq),
      [5],
    );
    assert.equal(since4.missed, 0);
    const since1 = bus.subscribe(1, () => undefined);
    assert.equal(since1.missed, 1, 'event 2 is gone');
    // A sequence number from an earlier daemon (higher than ours): the whole backlog.
    assert.deepEqual(
      bus.subscribe(99, () => undefined).replay.map((e) => e.seq),
      [3, 4, 5],
    );
    bus.publish(rsDown('10.0.0.2'));
    assert.deepEqual(got, [6]);
    all.unsubscribe();
    bus.publish(rsDown('10.0.0.3'));
    assert.deepEqual(got, [6], 'nothing after unsubscribe');
  });

  it('a listener that throws is removed and reported; the others and the publisher go on', () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ onListenerError: (e) => errors.push(e) });
    const good: number[] = [];
    bus.subscribe(undefined, () => {
      throw new Error('bad listener');
    });
    bus.subscribe(undefined, (e) => good.push(e.seq));
    assert.doesNotThrow(() => bus.publish(transition('VI_1', 'MASTER')));
    bus.publish(transition('VI_1', 'BACKUP'));
    assert.deepEqual(good, [1, 2]);
    assert.equal(errors.length, 1);
    assert.equal(bus.listenerCount, 1);
  });

  it('formats one line per event for halo events', () => {
    const bus = new EventBus({ now: () => T0 });
    const e = bus.publish(transition('VI_1', 'MASTER')) as unknown as EventEnvelope;
    assert.equal(
      formatEventLine(e),
      '2026-11-21T07:00:00.000Z  #1  vrrp.transition        (VI_1) Entering MASTER STATE  reason=master-down-timeout priority=100',
    );
    // A type this CLI does not know still prints.
    assert.match(
      formatEventLine({ seq: 9, at: 'x', type: 'bgp.session', message: 'peer up' }),
      /#9 {2}bgp\.session\s+peer up$/,
    );
  });
});

describe('events on the control socket', () => {
  let dir: string;
  let bus: EventBus;
  let server: ControlServer;
  let path: string;
  const handlers: ControlHandlers = {
    status: () => sampleStatus(),
    reload: () => ({ applied: true, configFile: 'x', errors: [] }),
    reloadPlan: () => ({ configFile: 'x', valid: true, errors: [] }),
    stop: () => undefined,
    dump: () => ({ files: [] }),
    failover: () => ({ instances: [], unknown: [], maintenance: false }),
    maintenance: (a) => ({ instances: [], unknown: [], maintenance: a.on }),
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-events-'));
    path = join(dir, 'halo.sock');
    bus = new EventBus({ backlog: 100 });
    server = new ControlServer({
      path,
      handlers,
      events: bus,
      maxFollowers: 2,
      maxStreamBufferBytes: 64 * 1024,
    });
    await server.listen();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('without --follow: the backlog in order, then the end', async () => {
    bus.publish(transition('VI_1', 'BACKUP'));
    bus.publish(rsDown('10.0.0.2'));
    bus.publish(transition('VI_1', 'MASTER'));
    const got: EventEnvelope[] = [];
    let info: { stream: string; lastSeq: number; missed: number } | undefined;
    const how = await readEvents(path, {
      follow: false,
      onInfo: (i) => {
        info = i;
      },
      onEvent: (e) => got.push(e),
    });
    assert.equal(how, 'end');
    assert.equal(info?.stream, bus.stream);
    assert.equal(info?.lastSeq, bus.lastSeq);
    assert.deepEqual(
      got.map((e) => [e.type, e.message]),
      [
        ['vrrp.transition', '(VI_1) Entering BACKUP STATE'],
        ['rs.state', '[10.0.0.2]:tcp:80 in VS [10.0.0.100]:tcp:80 is DOWN (connection refused)'],
        ['vrrp.transition', '(VI_1) Entering MASTER STATE'],
      ],
    );
  });

  it('with --follow: what it missed after "since", then each new event as it happens', async () => {
    const since = bus.lastSeq;
    bus.publish(rsDown('10.0.0.3'));
    const got: EventEnvelope[] = [];
    const ac = new AbortController();
    const done = readEvents(path, {
      follow: true,
      since,
      signal: ac.signal,
      onEvent: (e) => {
        got.push(e);
        if (got.length === 1) bus.publish(transition('VI_2', 'MASTER'));
        if (got.length === 2) ac.abort();
      },
    });
    assert.equal(await done, 'aborted');
    assert.deepEqual(
      got.map((e) => e.seq),
      [since + 1, since + 2],
    );
    assert.equal(got[1].type, 'vrrp.transition');
  });

  it('halo events --json prints the events; a bad "since" and a missing bus are refused', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runEvents(['--socket', path, '--json'], {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      signal: new AbortController().signal,
      sleep: async () => undefined,
    });
    assert.equal(code, 0, err.join(''));
    const lines = out.join('').trim().split('\n');
    assert.equal(lines.length, bus.backlog().length);
    assert.equal(JSON.parse(lines[0]).seq, bus.backlog()[0].seq);

    const raw = await exchange(path, '{"cmd":"events","since":-1}\n');
    assert.match(raw, /"ok":false.*since/);
    const noBus = new ControlServer({ path: join(dir, 'nobus.sock'), handlers });
    await noBus.listen();
    try {
      await assert.rejects(
        readEvents(join(dir, 'nobus.sock'), { follow: false, onEvent: () => undefined }),
        (e: unknown) => e instanceof ControlClientError && /not available/.test(e.message),
      );
    } finally {
      await noBus.close();
    }
  });

  it('bounds followers; a reader that stops reading is cut off; the daemon keeps answering', async () => {
    const a = await follower(path);
    const b = await follower(path);
    await assert.rejects(
      readEvents(path, { follow: true, onEvent: () => undefined }),
      (e: unknown) => e instanceof ControlClientError && /too many/.test(e.message),
    );
    // b stops reading; a keeps reading. Flood: b must be dropped, a must get everything.
    b.socket.pause();
    const listenersBefore = bus.listenerCount;
    const big = 'x'.repeat(2000);
    const first = bus.lastSeq + 1;
    // Bursts smaller than a reader's allowance, with the event loop turning in between (as in a daemon).
    for (let i = 0; i < 100; i++) {
      for (let j = 0; j < 20; j++) bus.publish({ ...rsDown('10.0.0.9'), message: `${i}.${j} ${big}` });
      await new Promise((r) => setImmediate(r));
    }
    const last = bus.lastSeq;
    await waitUntil(() => a.seqs.at(-1) === last, 10_000);
    assert.deepEqual(
      a.seqs.filter((s) => s >= first),
      Array.from({ length: last - first + 1 }, (_, i) => first + i),
      'the reader that reads gets every event, in order',
    );
    await waitUntil(() => bus.listenerCount === listenersBefore - 1, 5000);
    // b's slot is free again (a still follows, the limit is 2): its connection is gone on the daemon's side.
    const c = await follower(path);
    for (const f of [a, b, c]) f.socket.destroy();
    assert.equal((await controlRequest(path, 'status')).daemon.pid, 1234);
  });
});

interface Follower {
  socket: Socket;
  seqs: number[];
}

/** A raw following connection (so a test can stop reading it). Resolves at the daemon's answer. */
function follower(path: string): Promise<Follower> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const f: Follower = { socket, seqs: [] };
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('{"cmd":"events","follow":true}\n'));
    socket.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (line.ok === true) resolve(f);
        else if (line.event) f.seqs.push(line.event.seq);
      }
    });
    socket.on('error', reject);
  });
}

function exchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(path);
    let text = '';
    s.on('connect', () => s.write(payload));
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('close', () => resolve(text));
    s.on('error', () => resolve(text));
  });
}

async function waitUntil(pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
