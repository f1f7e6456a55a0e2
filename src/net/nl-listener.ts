/**
 * A netlink multicast listener on the addon's netlink sockets (native/halo_net.c): receives the kernel's
 * notifications for a set of groups on the event loop.
 *
 * Why not the `netlink` package's socket, which src/net uses for requests: when the kernel drops notifications
 * because the socket buffer is full (ENOBUFS), that package's native code aborts the whole process
 * ("terminate called after throwing an instance of 'Napi::Error'"), reproducible with a burst of a few
 * thousand address changes while the event loop is busy. Here an overrun is an ordinary error event with
 * code ENOBUFS, reading goes on, and the watcher resynchronises.
 */
import { loadAddon, type NativeHandle, type NativeNetlinkReceive } from './addon.js';

export const NETLINK_ROUTE = 0;
export const NETLINK_CONNECTOR = 11;

/** rtnetlink multicast groups (RTNLGRP_*). */
export const RTNLGRP = {
  LINK: 1,
  IPV4_IFADDR: 5,
  IPV4_ROUTE: 7,
  IPV4_RULE: 8,
  IPV6_IFADDR: 9,
  IPV6_ROUTE: 11,
  IPV6_RULE: 19,
} as const;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** The payload after the 16-byte header. */
  data: Buffer;
}

/** Splits a datagram into netlink messages (malformed tails are ignored). */
export function splitMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      data: buf.subarray(off + 16, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

export class NetlinkListener {
  private closed = false;
  private readonly addon = loadAddon();

  private constructor(private readonly handle: NativeHandle) {}

  /** Opens a socket of `protocol` joined to `groups`; `rcvbuf` bytes of buffer (root may exceed rmem_max). */
  static open(protocol: number, groups: number[], opts: { rcvbuf?: number } = {}): NetlinkListener {
    const addon = loadAddon();
    const handle = addon.openNetlink(protocol);
    try {
      addon.netlinkBind(handle, 0, 0);
      for (const g of groups) addon.netlinkMembership(handle, true, g);
      if (opts.rcvbuf) addon.bufferSize(handle, 'rcv', opts.rcvbuf);
    } catch (err) {
      addon.close(handle);
      throw err;
    }
    return new NetlinkListener(handle);
  }

  /** `onDatagram` gets every datagram from the kernel; `onError` an Error with `code` (ENOBUFS: overrun). */
  start(onDatagram: (datagram: Buffer) => void, onError: (err: Error & { code?: string }) => void): void {
    const receive: NativeNetlinkReceive = (err, data, port, _groups, truncatedLength) => {
      if (this.closed) return;
      if (err) onError(err as Error & { code?: string });
      // Only the kernel (port 0) speaks here. A datagram cut short lost notifications, like an overrun.
      else if (truncatedLength)
        onError(Object.assign(new Error('netlink datagram truncated'), { code: 'ENOBUFS' }));
      else if (data && port === 0) onDatagram(data);
    };
    this.addon.startReceive(this.handle, receive);
  }

  send(data: Buffer): void {
    this.addon.netlinkSend(this.handle, data, 0, 0);
  }

  ref(): void {
    this.addon.refUnref(this.handle, true);
  }

  unref(): void {
    this.addon.refUnref(this.handle, false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.close(this.handle);
  }
}
