/**
 * The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC): a notification for every fork,
 * exec, comm change and exit on the host, as keepalived's track_process uses it. Received through the addon's
 * netlink listener (src/net/nl-listener.ts), which survives overruns.
 *
 * Limits (the kernel's): it needs CAP_NET_ADMIN and only works in the initial network namespace (elsewhere
 * the kernel refuses the subscription: ECONNREFUSED) and the initial PID namespace. ProcConnector.open()
 * rejects in those cases and src/net/process-watch.ts falls back to scanning /proc.
 */
import { EventEmitter } from 'node:events';
import { NETLINK_CONNECTOR, NetlinkListener } from './nl-listener.js';

const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const NLMSG_DONE = 3;
const NLMSG_ERROR = 2;
const PROC_CN_MCAST_LISTEN = 1;
const PROC_CN_MCAST_IGNORE = 2;

const NLMSG_HDRLEN = 16;
const CN_MSG_LEN = 20;

export type ProcEvent =
  | { what: 'ack'; err: number }
  | { what: 'fork'; cpu: number; parentPid: number; parentTgid: number; childPid: number; childTgid: number }
  | { what: 'exec'; cpu: number; pid: number; tgid: number }
  | { what: 'comm'; cpu: number; pid: number; tgid: number; comm: string }
  | { what: 'exit'; cpu: number; pid: number; tgid: number; exitCode: number; exitSignal: number }
  | { what: 'other'; cpu: number; code: number };

/**
 * Parses one connector datagram: nlmsghdr, cn_msg {idx, val, seq, ack, len, flags}, struct proc_event
 * {what, cpu, timestamp_ns, event_data}. Returns undefined for anything that is not a proc event.
 */
export function parseProcEvent(buf: Buffer): (ProcEvent & { seq: number }) | undefined {
  if (buf.length < NLMSG_HDRLEN + CN_MSG_LEN + 16) return undefined;
  const type = buf.readUInt16LE(4);
  if (type === NLMSG_ERROR) return undefined;
  const cn = NLMSG_HDRLEN;
  if (buf.readUInt32LE(cn) !== CN_IDX_PROC || buf.readUInt32LE(cn + 4) !== CN_VAL_PROC) return undefined;
  const seq = buf.readUInt32LE(cn + 8);
  const len = buf.readUInt16LE(cn + 16);
  const ev = cn + CN_MSG_LEN;
  if (ev + len > buf.length || len < 16) return undefined;
  const what = buf.readUInt32LE(ev);
  const cpu = buf.readUInt32LE(ev + 4);
  const d = ev + 16;
  const u32 = (i: number) => buf.readUInt32LE(d + i * 4);
  const need = (n: number) => d + n <= ev + len;
  switch (what) {
    case 0:
      return need(4) ? { what: 'ack', err: u32(0), seq } : undefined;
    case 0x1:
      return need(16)
        ? {
            what: 'fork',
            cpu,
            parentPid: u32(0),
            parentTgid: u32(1),
            childPid: u32(2),
            childTgid: u32(3),
            seq,
          }
        : undefined;
    case 0x2:
      return need(8) ? { what: 'exec', cpu, pid: u32(0), tgid: u32(1), seq } : undefined;
    case 0x200: {
      if (!need(24)) return undefined;
      const raw = buf.subarray(d + 8, d + 24);
      const nul = raw.indexOf(0);
      return {
        what: 'comm',
        cpu,
        pid: u32(0),
        tgid: u32(1),
        comm: raw.subarray(0, nul < 0 ? 16 : nul).toString(),
        seq,
      };
    }
    case 0x80000000:
      return need(16)
        ? { what: 'exit', cpu, pid: u32(0), tgid: u32(1), exitCode: u32(2), exitSignal: u32(3), seq }
        : undefined;
    default:
      return { what: 'other', cpu, code: what, seq };
  }
}

/** The subscription message: nlmsghdr + cn_msg + enum proc_cn_mcast_op. */
export function subscribeMessage(listen: boolean, pid = process.pid): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + CN_MSG_LEN + 4);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(NLMSG_DONE, 4);
  b.writeUInt32LE(pid, 12);
  b.writeUInt32LE(CN_IDX_PROC, 16);
  b.writeUInt32LE(CN_VAL_PROC, 20);
  b.writeUInt16LE(4, 32);
  b.writeUInt32LE(listen ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE, 36);
  return b;
}

interface ProcConnectorEvents {
  event: [ProcEvent, bigint];
  /** The kernel dropped events (ENOBUFS): the consumer must rescan. */
  overrun: [];
  error: [Error];
}

export class ProcConnector extends EventEmitter<ProcConnectorEvents> {
  private closed = false;
  /** Events dropped by the kernel, as counted when the socket overflowed. */
  overruns = 0;

  private constructor(private readonly sock: NetlinkListener) {
    super();
  }

  /**
   * Opens and subscribes; resolves once the kernel acknowledged the subscription, rejects (with the errno as
   * `code`) when process events are not available here. `timeoutMs` bounds the wait for the ack.
   */
  static open(opts: { timeoutMs?: number; recvBufferSize?: number } = {}): Promise<ProcConnector> {
    return new Promise((resolve, reject) => {
      let sock: NetlinkListener;
      try {
        sock = NetlinkListener.open(NETLINK_CONNECTOR, [CN_IDX_PROC], {
          rcvbuf: opts.recvBufferSize ?? 1 << 20,
        });
      } catch (err) {
        reject(err);
        return;
      }
      const pc = new ProcConnector(sock);
      let acked = false;
      const fail = (err: Error) => {
        clearTimeout(timer);
        pc.close();
        reject(err);
      };
      const timer = setTimeout(() => {
        if (!acked)
          fail(Object.assign(new Error('process events: no answer from the kernel'), { code: 'ETIMEDOUT' }));
      }, opts.timeoutMs ?? 1000);
      sock.start(
        (msg) => {
          const at = process.hrtime.bigint();
          const ev = parseProcEvent(msg);
          if (!ev) return;
          if (ev.what === 'ack' && !acked) {
            acked = true;
            clearTimeout(timer);
            if (ev.err !== 0)
              fail(Object.assign(new Error(`process events refused (errno ${ev.err})`), { code: 'EPERM' }));
            else resolve(pc);
            return;
          }
          pc.emit('event', ev, at);
        },
        (err) => {
          if (!acked) fail(err);
          else if (err.code === 'ENOBUFS') {
            pc.overruns++;
            pc.emit('overrun');
          } else pc.emit('error', err);
        },
      );
      try {
        sock.send(subscribeMessage(true));
      } catch (err) {
        // Outside the initial network namespace the kernel has no connector: ECONNREFUSED.
        fail(err as Error);
      }
    });
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock.send(subscribeMessage(false));
    } catch {
      // closing anyway
    }
    this.sock.close();
  }
}
