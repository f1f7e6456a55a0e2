/**
 * A small agent that runs inside a lab namespace and drives src/net on the
 * test's behalf (a Node process cannot enter a namespace itself).
 *
 * Protocol: JSON lines. Requests {id, op, ...args} on stdin, replies
 * {id, ok, result} or {id, ok: false, error: {name, code, message}} on stdout,
 * and {event: 'packet', sock, packet} for every packet a listening socket
 * receives. Buffers travel as hex strings.
 *
 * `node net-agent.js --worker` runs the very same agent inside a
 * worker_thread (the main thread only relays lines), so the scenarios can be
 * repeated with the addon living on a worker's event loop.
 *
 * Not a test file itself: NetAgent (below) is the client the tests use.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { AdvertTimer } from '../../src/net/advert-timer.js';
import * as announce from '../../src/net/announce.js';
import * as link from '../../src/net/link.js';
import { RawSocket, sendEthernetFrame } from '../../src/net/raw-socket.js';
import { type SchedPolicy, setThreadPolicy, threadPolicy } from '../../src/net/sched.js';
import type { NetnsLab } from '../helpers/netns.js';
import { hostOps } from './host-agent-ops.js';

export interface AgentPacket {
  data: string;
  source: string;
  destination: string;
  ttl: number;
  ifindex: number;
  ipHeaderLength?: number;
  ipTotalLength?: number;
}

export interface AgentError extends Error {
  code?: string;
  remoteName?: string;
}

/* ------------------------------- client ------------------------------- */

export class NetAgent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly packets = new Map<string, AgentPacket[]>();
  private readonly waiters = new Set<() => void>();
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  private constructor(private readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        for (const p of this.pending.values())
          p.reject(new Error(`agent exited (${code ?? signal}): ${this.stderr}`));
        this.pending.clear();
        resolve({ code, signal });
      });
    });
  }

  static start(lab: NetnsLab, ns: string, opts: { worker?: boolean } = {}): NetAgent {
    const script = fileURLToPath(import.meta.url);
    const child = lab.spawn(ns, process.execPath, [script, ...(opts.worker ? ['--worker'] : [])]);
    return new NetAgent(child);
  }

  get errorOutput(): string {
    return this.stderr;
  }

  private onLine(line: string): void {
    let msg: { id?: number; ok?: boolean; result?: unknown; error?: AgentError; event?: string } & Record<
      string,
      unknown
    >;
    try {
      msg = JSON.parse(line);
    } catch {
      this.stderr += `unparsable agent line: ${line}\n`;
      return;
    }
    if (msg.event === 'packet') {
      const sock = msg.sock as string;
      const list = this.packets.get(sock) ?? [];
      list.push(msg.packet as AgentPacket);
      this.packets.set(sock, list);
      for (const w of this.waiters) w();
      return;
    }
    const p = this.pending.get(msg.id!);
    if (!p) return;
    this.pending.delete(msg.id!);
    if (msg.ok) {
      p.resolve(msg.result);
    } else {
      const e = new Error(msg.error?.message) as AgentError;
      e.code = msg.error?.code;
      e.remoteName = msg.error?.name;
      p.reject(e);
    }
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Packets received so far on `sock`. */
  received(sock: string): AgentPacket[] {
    return this.packets.get(sock) ?? [];
  }

  /** Resolves with the first packet on `sock` matching `pred` (already received or future). */
  waitPacket(sock: string, pred: (p: AgentPacket) => boolean, timeoutMs = 5000): Promise<AgentPacket> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.received(sock).find(pred);
        if (!hit) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `no matching packet on ${sock} within ${timeoutMs} ms; got ${JSON.stringify(this.received(sock))}`,
          ),
        );
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  /** Closes the agent's stdin (it closes its sockets and exits); kills it if it has not exited in time. */
  async stop(timeoutMs = 5000): Promise<{ code: number | null; signal: string | null }> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/* ------------------------------- server ------------------------------- */

type Send = (msg: unknown) => void;

async function serve(lines: AsyncIterable<string> | ((cb: (line: string) => void) => void), send: Send) {
  const sockets = new Map<string, RawSocket>();
  const watchers = new Map<string, link.LinkWatcher>();
  const timers = new Map<string, AdvertTimer>();
  /** Packets each listening socket has delivered (counted synchronously, for stallDrain). */
  const counts = new Map<string, number>();
  const timer = (name: unknown) => {
    const t = timers.get(String(name));
    if (!t) throw new Error(`no timer ${String(name)}`);
    return t;
  };
  const sock = (name: unknown) => {
    const s = sockets.get(String(name));
    if (!s) throw new Error(`no socket ${String(name)}`);
    return s;
  };
  const fromHex = (v: unknown) => Buffer.from(String(v), 'hex');
  const host = hostOps(send);

  const ops: Record<string, (a: Record<string, unknown>) => unknown> = {
    ...host.ops,
    ping: () => 'pong',
    open: (a) => {
      sockets.set(String(a.sock), RawSocket.open(a.opts as Parameters<typeof RawSocket.open>[0]));
    },
    /** Calls a RawSocket method; args given as {hex} become Buffers. */
    call: (a) => {
      const s = sock(a.sock) as unknown as Record<string, (...x: unknown[]) => unknown>;
      const args = (a.args as unknown[]).map((x) =>
        x && typeof x === 'object' && 'hex' in x ? fromHex((x as { hex: string }).hex) : x,
      );
      if (typeof s[String(a.method)] !== 'function') throw new Error(`no method ${String(a.method)}`);
      return s[String(a.method)](...args);
    },
    listen: (a) => {
      const name = String(a.sock);
      const s = sock(name);
      let closedAt: number | undefined;
      s.onPacket((p) => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        if (closedAt !== undefined) send({ event: 'packet', sock: `${name}:after-close`, packet: {} });
        send({ event: 'packet', sock: name, packet: { ...p, data: p.data.toString('hex') } });
        if (a.closeOnFirst && closedAt === undefined) {
          closedAt = Date.now();
          s.close();
        }
      });
      s.onError((err) => send({ event: 'packet', sock: `${name}:error`, packet: { data: err.message } }));
    },
    close: (a) => {
      sock(a.sock).close();
      sockets.delete(String(a.sock));
    },
    /** Sends `count` copies of a payload as fast as possible, yielding to the loop every 50. */
    flood: async (a) => {
      const s = sock(a.sock);
      const data = fromHex(a.data);
      let sent = 0;
      for (let i = 0; i < Number(a.count); i++) {
        try {
          s.send(data, String(a.destination));
          sent++;
        } catch {
          // ENOBUFS under load is expected; keep going.
        }
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      return sent;
    },
    /**
     * Blocks this thread for `ms` (datagrams queue up unread, as in a stall), then drains the socket.
     * Returns how many the listener saw during the stall (none: nothing polls) and how many drain() delivered.
     */
    stallDrain: (a) => {
      const name = String(a.sock);
      const before = counts.get(name) ?? 0;
      const until = performance.now() + Number(a.ms);
      while (performance.now() < until) {
        /* busy: the event loop does not run */
      }
      const duringStall = (counts.get(name) ?? 0) - before;
      const drained = sock(name).drain();
      return { duringStall, drained, delivered: (counts.get(name) ?? 0) - before };
    },
    timerOpen: (a) => {
      timers.set(String(a.timer), AdvertTimer.open(sock(a.sock), { lockMemory: Boolean(a.lock) }));
      return timer(a.timer).stats();
    },
    timerSet: (a) => {
      const packets = (a.packets as { destination: string; data: string }[]).map((p) => ({
        destination: p.destination,
        data: fromHex(p.data),
      }));
      timer(a.timer).set(packets, {
        source: a.source as string | undefined,
        intervalMs: Number(a.intervalMs),
        firstInMs: a.firstInMs === undefined ? undefined : Number(a.firstInMs),
        watchdogMs: a.watchdogMs === undefined ? undefined : Number(a.watchdogMs),
      });
    },
    timerFeed: (a) => timer(a.timer).feed(),
    timerStop: (a) => timer(a.timer).stop(),
    timerStats: (a) => timer(a.timer).stats(),
    timerClose: (a) => {
      timer(a.timer).close();
      timers.delete(String(a.timer));
    },
    threadPolicy: (a) => threadPolicy(Number(a.tid)),
    setThreadPolicy: (a) => setThreadPolicy(Number(a.tid), a.policy as SchedPolicy, Number(a.priority)),
    sendFrame: (a) => sendEthernetFrame(String(a.ifname), fromHex(a.frame)),
    garp: (a) => announce.sendGratuitousArp(String(a.ifname), String(a.address)),
    na: (a) => announce.sendUnsolicitedNa(String(a.ifname), String(a.address)),
    ifindex: (a) => link.ifindex(String(a.ifname)),
    macAddress: (a) => link.macAddress(String(a.ifname)),
    listAddresses: (a) => link.listAddresses(String(a.ifname)),
    addAddress: (a) => link.addAddress(String(a.ifname), a.spec as Parameters<typeof link.addAddress>[1]),
    removeAddress: (a) =>
      link.removeAddress(String(a.ifname), a.spec as Parameters<typeof link.addAddress>[1]),
    watch: async (a) => {
      const w = new link.LinkWatcher();
      w.on('change', (c) =>
        send({ event: 'packet', sock: `watch:${String(a.name)}`, packet: { ...c, at: Date.now() } }),
      );
      await w.ready;
      watchers.set(String(a.name), w);
    },
    unwatch: (a) => {
      watchers.get(String(a.name))?.close();
      watchers.delete(String(a.name));
    },
    /**
     * Opens a receiving socket inside a fresh worker, waits for its first
     * packet, then terminates the worker with the socket still open.
     */
    workerTerminate: (a) =>
      new Promise((resolve, reject) => {
        const w = new Worker(fileURLToPath(import.meta.url), {
          workerData: { role: 'terminate-probe', ...a },
        });
        w.once('error', reject);
        w.on('message', (m: { packet?: boolean }) => {
          if (m.packet) w.terminate().then((code) => resolve({ exitCode: code }), reject);
        });
      }),
  };

  const handle = async (line: string) => {
    let req: { id: number; op: string } & Record<string, unknown>;
    try {
      req = JSON.parse(line);
    } catch {
      return;
    }
    try {
      const op = ops[req.op];
      if (!op) throw new Error(`unknown op ${req.op}`);
      const result = await op(req);
      send({ id: req.id, ok: true, result: Buffer.isBuffer(result) ? result.toString('hex') : result });
    } catch (err) {
      const e = err as AgentError;
      send({ id: req.id, ok: false, error: { name: e.name, code: e.code, message: e.message } });
    }
  };

  const closeAll = () => {
    for (const t of timers.values()) t.close();
    for (const s of sockets.values()) s.close();
    for (const w of watchers.values()) w.close();
    host.close();
  };
  if (typeof lines === 'function') {
    lines((line) => void handle(line));
  } else {
    // Requests run concurrently (a flood must not block a close); replies carry their id.
    const inflight = new Set<Promise<void>>();
    for await (const line of lines) {
      const p = handle(line).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    closeAll();
  }
  return closeAll;
}

async function terminateProbe(opts: {
  ifname: string;
  group: string;
  family: 4 | 6;
  noJoin?: boolean;
  timer?: boolean;
}) {
  const s = RawSocket.open({ family: opts.family, protocol: 112, ifname: opts.ifname });
  if (!opts.noJoin) s.joinGroup(opts.group, opts.ifname);
  s.onPacket(() => parentPort!.postMessage({ packet: true }));
  if (opts.timer) {
    // A running advert timer thread (sending to ourselves on loopback) when the worker is terminated.
    const t = AdvertTimer.open(s, { lockMemory: true });
    t.set([{ destination: opts.family === 4 ? '127.0.0.1' : '::1', data: Buffer.alloc(40, 0x31) }], {
      intervalMs: 2,
      firstInMs: 0,
    });
  }
  parentPort!.postMessage({ ready: true });
}

let closeAllRef: (() => void) | undefined;

if (!isMainThread && workerData?.role === 'terminate-probe') {
  void terminateProbe(workerData);
} else if (!isMainThread && workerData?.role === 'agent') {
  // Worker agent: lines arrive as messages; exit when the parent says so.
  const port = parentPort!;
  void serve(
    (cb) =>
      port.on('message', (m: string | null) => {
        if (m === null) {
          closeAllRef?.();
          port.close();
        } else cb(m);
      }),
    (msg) => port.postMessage(msg),
  ).then((closeAll) => {
    closeAllRef = closeAll;
  });
} else if (
  isMainThread &&
  process.argv[1] === fileURLToPath(import.meta.url) &&
  process.argv[2] === '--terminate-workers'
) {
  // Opens a receiving socket on loopback in each of a few workers and terminates them with the socket open
  // (and, with --timer, an advert timer thread sending through it).
  const [family, group] = process.argv[3] === '6' ? ([6, 'ff02::12'] as const) : ([4, '224.0.0.18'] as const);
  const withTimer = process.argv.includes('--timer');
  for (let i = 0; i < 3; i++) {
    const w = new Worker(fileURLToPath(import.meta.url), {
      workerData: { role: 'terminate-probe', ifname: 'lo', group, family, noJoin: true, timer: withTimer },
    });
    await new Promise((resolve) =>
      w.on('message', (m: { ready?: boolean }) => m.ready && resolve(undefined)),
    );
    process.stdout.write(`terminated ${await w.terminate()}\n`);
  }
} else if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const out: Send = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  const rl = createInterface({ input: process.stdin });
  if (process.argv.includes('--worker')) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'agent' } });
    w.on('message', out);
    w.on('error', (err) => {
      process.stderr.write(`worker error: ${err.stack}\n`);
      process.exitCode = 1;
    });
    rl.on('line', (line) => w.postMessage(line));
    rl.on('close', () => w.postMessage(null));
  } else {
    void serve(rl, out);
  }
}
