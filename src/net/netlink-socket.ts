/**
 * Netlink sockets on halo's own addon, for the `netlink` package's message
 * layer. The package's C++ binding calls back into JavaScript from libuv
 * callbacks with C++ exceptions enabled: when JavaScript cannot run (a worker
 * being terminated) or a callback throws, the exception escapes into libuv
 * and the process dies with "terminate called after throwing an instance of
 * 'Napi::Error'" (exit 134, pid file left behind). halo_net.c turns every such
 * failure into a JavaScript error or a dropped datagram instead.
 *
 * NetlinkRawSocket has the API of the package's RawNetlinkSocket (dgram-like:
 * 'message' / 'truncatedMessage' / 'error' / 'close' events, send with a
 * completion callback), so the package's NetlinkSocket and RtNetlinkSocket
 * run on top of it unchanged (createRtNetlinkSocket).
 */
import { EventEmitter } from 'node:events';
import {
  NetlinkSocket,
  type NetlinkSocketOptions,
  Protocol,
  type RawNetlinkSocket,
  RtNetlinkSocket,
} from 'netlink';
import { loadAddon, type NativeAddon, type NativeHandle, type NativeNetlinkReceive } from './addon.js';

export interface NetlinkRawSocketOptions {
  /** Bind to this port; default 0: the kernel picks a unique one. */
  localPort?: number;
  /** Multicast groups to bind to (bit mask of groups 1..32). */
  localGroups?: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface NetlinkMessageInfo {
  port: number;
  groups: number;
  /** The datagram's real length when it was larger than the receive buffer (then it is cut). */
  truncated?: number;
}

interface Events {
  message: [msg: Buffer, rinfo: NetlinkMessageInfo];
  truncatedMessage: [msg: Buffer, rinfo: NetlinkMessageInfo];
  error: [err: NodeJS.ErrnoException];
  close: [];
}

export class NetlinkRawSocket extends EventEmitter<Events> {
  private readonly native: NativeAddon;
  private readonly handle: NativeHandle;
  private closed = false;

  constructor(protocol: number, options: NetlinkRawSocketOptions = {}) {
    super();
    this.native = loadAddon();
    this.handle = this.native.openNetlink(protocol);
    try {
      if (options.recvBufferSize) this.setRecvBufferSize(options.recvBufferSize);
      if (options.sendBufferSize) this.setSendBufferSize(options.sendBufferSize);
      this.native.netlinkBind(this.handle, options.localPort ?? 0, options.localGroups ?? 0);
      const receive: NativeNetlinkReceive = (err, data, port, groups, truncatedLength) => {
        if (err) {
          this.emit('error', err as NodeJS.ErrnoException);
          return;
        }
        const rinfo: NetlinkMessageInfo = { port: port!, groups: groups! };
        if (truncatedLength) {
          rinfo.truncated = truncatedLength;
          this.emit('truncatedMessage', data!, rinfo);
        } else {
          this.emit('message', data!, rinfo);
        }
      };
      this.native.startReceive(this.handle, receive);
    } catch (err) {
      this.native.close(this.handle);
      throw err;
    }
  }

  /** One datagram to `options.port` (0: the kernel). The callback gets the send error, asynchronously. */
  send(
    msg: Uint8Array | Uint8Array[],
    options?: { port?: number; groups?: number },
    callback?: (error?: NodeJS.ErrnoException) => void,
  ): void {
    const toBuffer = (m: Uint8Array) =>
      Buffer.isBuffer(m) ? m : Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    let error: NodeJS.ErrnoException | undefined;
    try {
      this.native.netlinkSend(
        this.handle,
        Array.isArray(msg) ? msg.map(toBuffer) : toBuffer(msg),
        options?.port ?? 0,
        options?.groups ?? 0,
      );
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    process.nextTick(() => {
      if (callback) callback(error);
      else if (error) this.emit('error', error);
    });
  }

  /** Closes the socket; queued datagrams are dropped and no event follows but 'close'. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(this.handle);
    this.emit('close');
  }

  address(): { port: number; groups: number } {
    return this.native.netlinkAddress(this.handle);
  }

  ref(): void {
    if (!this.closed) this.native.refUnref(this.handle, true);
  }

  unref(): void {
    if (!this.closed) this.native.refUnref(this.handle, false);
  }

  addMembership(group: number): void {
    this.native.netlinkMembership(this.handle, true, group);
  }

  dropMembership(group: number): void {
    this.native.netlinkMembership(this.handle, false, group);
  }

  getRecvBufferSize(): number {
    return this.native.bufferSize(this.handle, 'rcv');
  }

  getSendBufferSize(): number {
    return this.native.bufferSize(this.handle, 'snd');
  }

  setRecvBufferSize(size: number): void {
    this.native.bufferSize(this.handle, 'rcv', size);
  }

  setSendBufferSize(size: number): void {
    this.native.bufferSize(this.handle, 'snd', size);
  }
}

/** The `netlink` package's rtnetlink socket, on a NetlinkRawSocket (what createRtNetlink builds on its binding). */
export function createRtNetlinkSocket(options?: NetlinkSocketOptions): RtNetlinkSocket {
  const raw = new NetlinkRawSocket(Protocol.ROUTE);
  // The package types its raw socket as its own class; ours has the same public API.
  return new RtNetlinkSocket(new NetlinkSocket(raw as unknown as RawNetlinkSocket, options), options);
}
