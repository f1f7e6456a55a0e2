/**
 * IPVS over generic netlink: the I/O shell around codec.ts.
 *
 * Transport: the `netlink` package's RawNetlinkSocket (NETLINK_GENERIC). Its higher-level
 * GenericNetlinkSocket.request() waits for one reply per request and always asks for an ACK, which would
 * make 10,000 destination adds 10,000 round trips; so this module frames messages itself and pipelines:
 *  - change ops are packed many to a datagram (the kernel's netlink_rcv_skb handles each message in order);
 *    only the last op of a batch carries NLM_F_ACK. The kernel sends an NLMSG_ERROR for every failed op
 *    regardless, so when the batch's ACK arrives every earlier op is known to have succeeded or failed
 *    (matched by sequence number). This also keeps the receive queue small (one ACK per batch, not per op).
 *  - several batches are in flight at once (window), so the kernel never waits for us.
 *  - dumps (NLM_F_DUMP) are serialised: the kernel runs at most one dump per socket (EBUSY otherwise).
 */
import { NetlinkRawSocket as RawNetlinkSocket } from '../net/netlink-socket.js';
import {
  type DecodeOptions,
  decodeConfigReply,
  decodeDaemonReply,
  decodeDestReply,
  decodeInfoReply,
  decodeServiceReply,
  encodeDaemon,
  encodeDaemonState,
  encodeDest,
  encodeService,
  encodeTimeouts,
  IPVS_CMD,
  IPVS_GENL_NAME,
  IPVS_GENL_VERSION,
} from './codec.js';
import { describeOp, type IpvsOp } from './diff.js';
import {
  decodeFamilyReply,
  encodeGenlPayload,
  encodeGetFamily,
  encodeNlMessage,
  GENL_ID_CTRL,
  KernelError,
  NetlinkDecodeError,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  parseGenlPayload,
  parseNlError,
  parseNlMessages,
} from './netlink.js';
import type { IpvsInfo, KernelService, ServiceEntry, ServiceKey, SyncDaemon, Timeouts } from './types.js';

const NETLINK_GENERIC = 16;

export interface OpFailure {
  op: IpvsOp;
  error: Error;
}

export interface ApplyResult {
  /** ops sent to the kernel */
  sent: number;
  failures: OpFailure[];
}

/** What the reconciler needs from a kernel: the in-memory model implements it too. */
export interface IpvsBackend {
  dumpTable(opts?: DecodeOptions): Promise<KernelService[]>;
  apply(ops: IpvsOp[]): Promise<ApplyResult>;
}

export interface IpvsClientOptions {
  /** ops per datagram (default 256) */
  batchSize?: number;
  /** batches in flight (default 4) */
  window?: number;
  /** per-request timeout in ms (default 10000) */
  timeoutMs?: number;
  /** receive buffer request; the kernel caps it at net.core.rmem_max */
  recvBufferSize?: number;
  /** sockets used for destination dumps in parallel (default 4); the kernel runs one dump per socket */
  dumpSockets?: number;
}

interface Pending {
  /** resolves with the genl payloads of the reply (empty for a bare ACK) */
  resolve(parts: Buffer[]): void;
  reject(err: Error): void;
  parts: Buffer[];
  what: string;
  /** ops that expect no reply unless they fail */
  silent?: boolean;
  error?: Error;
  timer?: NodeJS.Timeout;
}

const MAX_DATAGRAM = 60 * 1024;

export class IpvsClient implements IpvsBackend {
  /** Number of change ops sent since open (the no-op reconcile benchmark asserts it stays 0). */
  opsSent = 0;
  /** Replies that matched no request or did not parse (dropped and counted, never thrown). */
  strayReplies = 0;
  /** Debug/capture hook: sees every received datagram (used to record test fixtures from a real kernel). */
  onRawDatagram: ((buf: Buffer) => void) | undefined;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  /** extra sockets for parallel dumps, each with its own serialising chain (opened on first use) */
  private dumpLanes: { sock: RawNetlinkSocket; chain: Promise<unknown> }[] = [];
  private nextLane = 0;
  private closed = false;
  private readonly batchSize: number;
  private readonly window: number;
  private readonly timeoutMs: number;

  private constructor(
    private readonly sock: RawNetlinkSocket,
    public readonly familyId: number,
    opts: IpvsClientOptions,
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.window = opts.window ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.recvBufferSize = opts.recvBufferSize ?? 4 * 1024 * 1024;
    this.dumpSockets = Math.max(1, opts.dumpSockets ?? 4);
    this.dumpLanes.push({ sock, chain: Promise.resolve() });
  }

  private readonly recvBufferSize: number;
  private readonly dumpSockets: number;

  /** A socket wired to this client's reply matcher (sequence numbers are unique across all of them). */
  private static openSocket(size: number, client: () => IpvsClient): RawNetlinkSocket {
    const sock = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: size, sendBufferSize: size });
    sock.on('message', (buf) => client().onDatagram(buf));
    sock.on('error', (err) => client().failAll(err));
    return sock;
  }

  /** Opens a socket and resolves the "IPVS" family id through the genl controller. */
  static async open(opts: IpvsClientOptions = {}): Promise<IpvsClient> {
    let client: IpvsClient | undefined;
    const sock = IpvsClient.openSocket(opts.recvBufferSize ?? 4 * 1024 * 1024, () => client as IpvsClient);
    client = new IpvsClient(sock, 0, opts);
    let familyId: number;
    try {
      const [reply] = await client.request(
        GENL_ID_CTRL,
        encodeGetFamily(IPVS_GENL_NAME),
        NLM_F_REQUEST,
        'resolve',
      );
      if (!reply) throw new NetlinkDecodeError('genl controller sent no family reply');
      familyId = decodeFamilyReply(reply).id;
    } catch (e) {
      client.close();
      if (e instanceof KernelError && e.code === 'ENOENT')
        throw new KernelError(e.errno, 'generic netlink family IPVS not found (is the ip_vs module loaded?)');
      throw e;
    }
    (client as { familyId: number }).familyId = familyId;
    client.sock.unref();
    return client;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('IPVS client closed'));
    for (const lane of this.dumpLanes) lane.sock.close();
  }

  // ---- queries ----

  async getInfo(): Promise<IpvsInfo> {
    const [r] = await this.ipvsRequest(IPVS_CMD.GET_INFO, Buffer.alloc(0), 'get info');
    return decodeInfoReply(parseGenlPayload(r).attrs);
  }

  async getTimeouts(): Promise<Timeouts> {
    const [r] = await this.ipvsRequest(IPVS_CMD.GET_CONFIG, Buffer.alloc(0), 'get timeouts');
    return decodeConfigReply(parseGenlPayload(r).attrs);
  }

  async setTimeouts(t: Partial<Timeouts>): Promise<void> {
    await this.ipvsRequest(IPVS_CMD.SET_CONFIG, encodeTimeouts(t), 'set timeouts', true);
  }

  async listServices(opts: DecodeOptions = {}): Promise<ServiceEntry[]> {
    const parts = await this.dump(IPVS_CMD.GET_SERVICE, Buffer.alloc(0), 'dump services');
    return parts.map((p) => decodeServiceReply(parseGenlPayload(p).attrs, opts));
  }

  async listDests(service: ServiceKey, opts: DecodeOptions = {}): Promise<KernelService['dests']> {
    const parts = await this.dump(IPVS_CMD.GET_DEST, encodeService(service, false), 'dump destinations');
    return parts.map((p) => decodeDestReply(parseGenlPayload(p).attrs, service.family, opts));
  }

  /**
   * Services with their destinations; destination dumps run on several sockets at once (one dump per socket
   * is the kernel's limit), which matters with many services. A service deleted between the two dumps is
   * skipped.
   */
  async dumpTable(opts: DecodeOptions = {}): Promise<KernelService[]> {
    const services = await this.listServices(opts);
    while (this.dumpLanes.length < Math.min(this.dumpSockets, services.length)) {
      const sock = IpvsClient.openSocket(this.recvBufferSize, () => this);
      sock.unref();
      this.dumpLanes.push({ sock, chain: Promise.resolve() });
    }
    const results = await Promise.all(
      services.map((service) =>
        this.listDests(service, opts).then(
          (dests): KernelService | undefined => ({ service, dests }),
          (e) => {
            if (e instanceof KernelError && e.code === 'ESRCH') return undefined;
            throw e;
          },
        ),
      ),
    );
    return results.filter((r): r is KernelService => r !== undefined);
  }

  async listDaemons(): Promise<SyncDaemon[]> {
    const parts = await this.dump(IPVS_CMD.GET_DAEMON, Buffer.alloc(0), 'dump sync daemons');
    return parts.map((p) => decodeDaemonReply(parseGenlPayload(p).attrs));
  }

  async startDaemon(d: SyncDaemon): Promise<void> {
    try {
      await this.ipvsRequest(IPVS_CMD.NEW_DAEMON, encodeDaemon(d), `start sync daemon ${d.state}`, true);
    } catch (e) {
      // ip_vs_genl_new_daemon refuses (EINVAL) while any destination's family differs from its service's.
      if (e instanceof KernelError && e.code === 'EINVAL')
        throw new KernelError(
          e.errno,
          `start sync daemon ${d.state} on ${d.mcastIfname} (the kernel refuses it while a destination's address family differs from its service's, or for an unusable interface)`,
        );
      throw e;
    }
  }

  async stopDaemon(state: SyncDaemon['state']): Promise<void> {
    await this.ipvsRequest(IPVS_CMD.DEL_DAEMON, encodeDaemonState(state), `stop sync daemon ${state}`, true);
  }

  async flush(): Promise<void> {
    await this.ipvsRequest(IPVS_CMD.FLUSH, Buffer.alloc(0), 'flush', true);
  }

  async zero(): Promise<void> {
    await this.ipvsRequest(IPVS_CMD.ZERO, Buffer.alloc(0), 'zero', true);
  }

  // ---- changes ----

  /**
   * Sends the ops in order, pipelined. Resolves when every op has been acknowledged or refused; refusals are
   * returned (not thrown) with their KernelError so the caller can log them and retry on the next pass.
   */
  async apply(ops: IpvsOp[]): Promise<ApplyResult> {
    const failures: OpFailure[] = [];
    const inFlight = new Set<Promise<void>>();
    this.lastKeyOf = undefined;
    let i = 0;
    while (i < ops.length) {
      const batch: { op: IpvsOp; msg: Buffer; seq: number }[] = [];
      let bytes = 0;
      while (i < ops.length && batch.length < this.batchSize) {
        const payload = this.encodeOp(ops[i]);
        if (batch.length && bytes + payload.length + 16 > MAX_DATAGRAM) break;
        const seq = this.nextSeq();
        batch.push({ op: ops[i], msg: payload, seq });
        bytes += payload.length + 16;
        i++;
      }
      const p = this.sendBatch(batch, failures);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= this.window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    this.opsSent += ops.length;
    return { sent: ops.length, failures };
  }

  private lastKeyOf: ServiceKey | undefined;
  private lastKeyBuf: Buffer | undefined;

  private encodeOp(op: IpvsOp): Buffer {
    // diff() shares one key object among all dest ops of a service: encode it once.
    const svc = (full: boolean) => {
      if (full) return encodeService(op.service, true);
      if (this.lastKeyOf !== op.service) {
        this.lastKeyOf = op.service;
        this.lastKeyBuf = encodeService(op.service, false);
      }
      return this.lastKeyBuf as Buffer;
    };
    switch (op.kind) {
      case 'add-service':
        return encodeGenlPayload(IPVS_CMD.NEW_SERVICE, IPVS_GENL_VERSION, svc(true));
      case 'edit-service':
        return encodeGenlPayload(IPVS_CMD.SET_SERVICE, IPVS_GENL_VERSION, svc(true));
      case 'delete-service':
        return encodeGenlPayload(IPVS_CMD.DEL_SERVICE, IPVS_GENL_VERSION, svc(false));
      case 'add-dest':
        return encodeGenlPayload(
          IPVS_CMD.NEW_DEST,
          IPVS_GENL_VERSION,
          Buffer.concat([svc(false), encodeDest(op.dest, true)]),
        );
      case 'edit-dest':
        return encodeGenlPayload(
          IPVS_CMD.SET_DEST,
          IPVS_GENL_VERSION,
          Buffer.concat([svc(false), encodeDest(op.dest, true)]),
        );
      case 'delete-dest':
        return encodeGenlPayload(
          IPVS_CMD.DEL_DEST,
          IPVS_GENL_VERSION,
          Buffer.concat([svc(false), encodeDest(op.dest, false)]),
        );
    }
  }

  private sendBatch(batch: { op: IpvsOp; msg: Buffer; seq: number }[], failures: OpFailure[]): Promise<void> {
    const last = batch.length - 1;
    const frames = batch.map((b, idx) =>
      encodeNlMessage({
        type: this.familyId,
        flags: NLM_F_REQUEST | (idx === last ? NLM_F_ACK : 0),
        seq: b.seq,
        pid: 0,
        payload: b.msg,
      }),
    );
    // Silent entries collect errors; the last entry's ACK (or error) settles the batch.
    for (let k = 0; k < last; k++) {
      this.pending.set(batch[k].seq, {
        silent: true,
        parts: [],
        what: describeOp(batch[k].op),
        resolve() {},
        reject() {},
      });
    }
    return new Promise<void>((resolve) => {
      const settle = (lastError?: Error) => {
        for (let k = 0; k < last; k++) {
          const p = this.pending.get(batch[k].seq);
          if (p?.error) failures.push({ op: batch[k].op, error: p.error });
          this.pending.delete(batch[k].seq);
        }
        if (lastError) failures.push({ op: batch[last].op, error: lastError });
        resolve();
      };
      this.register(batch[last].seq, describeOp(batch[last].op), {
        resolve: () => settle(),
        reject: (e) => settle(e),
      });
      this.sock.send(Buffer.concat(frames), { port: 0 }, (err) => {
        if (err) this.settleWithError(batch[last].seq, err);
      });
    });
  }

  // ---- request plumbing ----

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private register(
    seq: number,
    what: string,
    cb: { resolve(parts: Buffer[]): void; reject(e: Error): void },
  ): void {
    const entry: Pending = { ...cb, parts: [], what };
    entry.timer = setTimeout(
      () => this.settleWithError(seq, new Error(`${what}: no reply from the kernel`)),
      this.timeoutMs,
    );
    this.pending.set(seq, entry);
  }

  private settleWithError(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    if (p.timer) clearTimeout(p.timer);
    p.reject(err);
  }

  private request(
    type: number,
    payload: Buffer,
    flags: number,
    what: string,
    sock: RawNetlinkSocket = this.sock,
  ): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new Error('IPVS client closed'));
    const seq = this.nextSeq();
    return new Promise((resolve, reject) => {
      this.register(seq, what, { resolve, reject });
      sock.send(encodeNlMessage({ type, flags, seq, pid: 0, payload }), { port: 0 }, (err) => {
        if (err) this.settleWithError(seq, err);
      });
    });
  }

  /** A "do" request. With `ack`, a command that returns no data resolves on the kernel's ACK. */
  private ipvsRequest(cmd: number, attrs: Buffer, what: string, ack = false): Promise<Buffer[]> {
    return this.request(
      this.familyId,
      encodeGenlPayload(cmd, IPVS_GENL_VERSION, attrs),
      NLM_F_REQUEST | (ack ? NLM_F_ACK : 0),
      what,
    );
  }

  private dump(cmd: number, attrs: Buffer, what: string): Promise<Buffer[]> {
    const lane = this.dumpLanes[this.nextLane++ % this.dumpLanes.length];
    const run = () =>
      this.request(
        this.familyId,
        encodeGenlPayload(cmd, IPVS_GENL_VERSION, attrs),
        NLM_F_REQUEST | NLM_F_DUMP,
        what,
        lane.sock,
      );
    const result = lane.chain.then(run, run);
    lane.chain = result.catch(() => undefined);
    return result;
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settleWithError(seq, err);
  }

  /** Exposed for tests: feeds one received datagram through the reply matcher. */
  onDatagram(buf: Buffer): void {
    this.onRawDatagram?.(buf);
    let msgs: ReturnType<typeof parseNlMessages>;
    try {
      msgs = parseNlMessages(buf);
    } catch {
      this.strayReplies++;
      return;
    }
    for (const m of msgs) {
      const p = this.pending.get(m.seq);
      if (!p) {
        this.strayReplies++;
        continue;
      }
      if (m.type === NLMSG_NOOP || m.type === NLMSG_OVERRUN) continue;
      if (m.type === NLMSG_ERROR) {
        let errno: number;
        try {
          errno = parseNlError(m.payload).errno;
        } catch (e) {
          this.settleWithError(m.seq, e as Error);
          continue;
        }
        if (p.silent) {
          // A silent op only hears back when it failed.
          if (errno) p.error = new KernelError(errno, p.what);
          continue;
        }
        if (errno) this.settleWithError(m.seq, new KernelError(errno, p.what));
        else this.finish(m.seq, p);
        continue;
      }
      if (m.type === NLMSG_DONE) {
        const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
        if (errno > 0) this.settleWithError(m.seq, new KernelError(errno, p.what));
        else this.finish(m.seq, p);
        continue;
      }
      p.parts.push(m.payload);
      if (!(m.flags & NLM_F_MULTI)) this.finish(m.seq, p);
    }
  }

  private finish(seq: number, p: Pending): void {
    this.pending.delete(seq);
    if (p.timer) clearTimeout(p.timer);
    p.resolve(p.parts);
  }
}
