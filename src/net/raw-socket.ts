/**
 * Raw IP sockets (VRRP protocol 112, ICMP, ICMPv6) and Ethernet frame sending,
 * backed by the small C addon in native/halo_net.c (build/Release/halo_net.node).
 *
 * Errors from the kernel are thrown as Error objects whose `code` is the errno
 * name (EPERM, ENODEV, EADDRNOTAVAIL, ...); invalid arguments throw TypeError
 * with code ERR_INVALID_ARG before any system call is made.
 *
 * The addon is context-aware: a RawSocket can be opened inside a worker_thread,
 * and its receive callbacks run on that thread's event loop.
 */
import { loadAddon, type NativeAddon, type NativeHandle, type NativeReceive } from './addon.js';

export { loadAddon } from './addon.js';

export interface RawSocketOptions {
  family: 4 | 6;
  protocol: number;
  /** SO_BINDTODEVICE: only receive from / send through this interface. */
  ifname?: string;
}

export interface ReceivedPacket {
  /** L4 payload: for IPv4 the IP header is stripped (its fields are below). */
  data: Buffer;
  /** Sender address. */
  source: string;
  /** The packet's destination address (IPv4 header / IPV6_PKTINFO). */
  destination: string;
  /** IPv4 TTL or IPv6 hop limit (IPV6_RECVHOPLIMIT). */
  ttl: number;
  /** Receiving interface (IP_PKTINFO / IPV6_PKTINFO). */
  ifindex: number;
  /** IPv4 only: header length in bytes (options included). */
  ipHeaderLength?: number;
  /** IPv4 only: the header's total length field. */
  ipTotalLength?: number;
}

/**
 * Sends one complete Ethernet frame (destination MAC first) on `ifname` over a
 * short-lived AF_PACKET socket. Used for gratuitous ARP and unsolicited NA.
 */
export function sendEthernetFrame(ifname: string, frame: Buffer): void {
  loadAddon().sendFrame(ifname, frame);
}

export class RawSocket {
  /** Receive errors seen while no onError handler was set. */
  unhandledErrors = 0;
  private packetHandler: ((p: ReceivedPacket) => void) | undefined;
  private errorHandler: ((err: Error) => void) | undefined;
  private closed = false;
  private receiving = false;

  private constructor(
    private readonly native: NativeAddon,
    private readonly handle: NativeHandle,
    readonly family: 4 | 6,
  ) {}

  /** Opens a nonblocking raw socket. The socket keeps the event loop alive while receiving unless unref()'d. */
  static open(opts: RawSocketOptions): RawSocket {
    const native = loadAddon();
    if (opts.family !== 4 && opts.family !== 6) throw new TypeError('family must be 4 or 6');
    return new RawSocket(native, native.open(opts.family, opts.protocol, opts.ifname), opts.family);
  }

  /** Sets the packet handler and starts receiving (every queued datagram is delivered, one call each). */
  onPacket(cb: (p: ReceivedPacket) => void): void {
    if (typeof cb !== 'function') throw new TypeError('onPacket: callback must be a function');
    this.packetHandler = cb;
    const receive: NativeReceive = (err, data, source, destination, ttl, ifindex, ihl, totalLength) => {
      if (err) {
        if (this.errorHandler) this.errorHandler(err);
        else this.unhandledErrors++;
        return;
      }
      const packet: ReceivedPacket = {
        data: data!,
        source: source!,
        destination: destination!,
        ttl: ttl!,
        ifindex: ifindex!,
      };
      if (this.family === 4) {
        packet.ipHeaderLength = ihl;
        packet.ipTotalLength = totalLength;
      }
      this.packetHandler?.(packet);
    };
    this.native.startReceive(this.handle, receive);
    this.receiving = true;
  }

  /**
   * Delivers every datagram queued on the socket now, synchronously, to the
   * packet handler, and returns how many. Used before acting on a timer that
   * may have expired while the thread was stalled: adverts that arrived in
   * time must be seen first (Node runs expired timers before it polls
   * sockets). A no-op before onPacket() and after close().
   */
  drain(): number {
    if (this.closed || !this.receiving) return 0;
    return this.native.drain(this.handle);
  }

  /** The native handle, for the advert timer thread (src/net/advert-timer.ts) that sends through this socket. */
  nativeHandle(): NativeHandle {
    if (this.closed) throw Object.assign(new Error('raw socket is closed'), { code: 'EBADF' });
    return this.handle;
  }

  onError(cb: (err: Error) => void): void {
    if (typeof cb !== 'function') throw new TypeError('onError: callback must be a function');
    this.errorHandler = cb;
  }

  /** Sends an L4 payload; the kernel builds the IP header (TTL, TOS, source from the options below). */
  send(data: Buffer, destination: string, opts: { source?: string; ifindex?: number } = {}): void {
    this.native.send(this.handle, data, destination, opts.source, opts.ifindex);
  }

  joinGroup(group: string, ifname: string): void {
    this.native.membership(this.handle, true, group, ifname);
  }

  leaveGroup(group: string, ifname: string): void {
    this.native.membership(this.handle, false, group, ifname);
  }

  /** IP_MULTICAST_IF (with an optional IPv4 source) / IPV6_MULTICAST_IF. */
  setMulticastInterface(ifname: string, source?: string): void {
    this.native.setMulticastInterface(this.handle, ifname, source);
  }

  setMulticastTtl(n: number): void {
    this.native.setOption(this.handle, 'mcastTtl', n);
  }

  /** Whether our own multicast sends are looped back to local sockets (on by default in the kernel). */
  setMulticastLoop(on: boolean): void {
    this.native.setOption(this.handle, 'mcastLoop', on ? 1 : 0);
  }

  setTtl(n: number): void {
    this.native.setOption(this.handle, 'ttl', n);
  }

  /** IP_TOS / IPV6_TCLASS (VRRP uses 0xc0, DSCP CS6). */
  setTos(tos: number): void {
    this.native.setOption(this.handle, 'tos', tos);
  }

  /** IPV6_CHECKSUM: the kernel computes (and verifies on receive) the checksum at this payload offset. */
  setIpv6ChecksumOffset(offset: number): void {
    this.native.setOption(this.handle, 'checksum', offset);
  }

  /** Keep the event loop alive while receiving (the default). */
  ref(): void {
    if (!this.closed) this.native.refUnref(this.handle, true);
  }

  /** Let the event loop exit even though this socket is receiving. */
  unref(): void {
    if (!this.closed) this.native.refUnref(this.handle, false);
  }

  /** Stops receiving and closes the socket. No callback runs after this returns. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.packetHandler = undefined;
    this.native.close(this.handle);
  }
}
