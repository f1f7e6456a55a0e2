/**
 * The typed face of the native addon (native/halo_net.c, built to
 * build/Release/halo_net.node) and its loader. The wrappers around it live in
 * raw-socket.ts (raw IP sockets), netlink-socket.ts (netlink sockets),
 * sched.ts (per-thread scheduling) and advert-timer.ts (the VRRP advert
 * timer thread). Every native failure is thrown as an Error whose `code` is
 * the errno name; invalid arguments throw a TypeError with code
 * ERR_INVALID_ARG before any system call.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type NativeHandle = { readonly __brand: 'halo_net socket' };
export type NativeTimer = { readonly __brand: 'halo_net advert timer' };

export type NativeReceive = (
  err: Error | null,
  data?: Buffer,
  source?: string,
  destination?: string,
  ttl?: number,
  ifindex?: number,
  ipHeaderLength?: number,
  ipTotalLength?: number,
) => void;

export type NativeNetlinkReceive = (
  err: Error | null,
  data?: Buffer,
  port?: number,
  groups?: number,
  truncatedLength?: number,
) => void;

export type SchedPolicy = 'other' | 'rr' | 'fifo' | 'batch' | 'idle';

export interface NativeTimerStats {
  threadId: number;
  armed: boolean;
  sent: number;
  sendErrors: number;
  lastError: string | null;
  skipped: number;
  /** Adverts not sent because the engine had not fed the watchdog in time. */
  withheld: number;
  /** Worst lateness of a send (behind its deadline) since the timer opened, in microseconds. */
  maxLateUs: number;
  /** The timer's stack, state and packets are locked in memory (asked for, and every mlock worked). */
  locked: boolean;
  /** The first mlock failure (ENOMEM: RLIMIT_MEMLOCK too small, EPERM), or null. */
  lockError: string | null;
}

export interface NativeAddon {
  open(family: number, protocol: number, ifname?: string): NativeHandle;
  startReceive(h: NativeHandle, cb: NativeReceive | NativeNetlinkReceive): void;
  drain(h: NativeHandle): number;
  send(h: NativeHandle, data: Buffer, destination: string, source?: string, ifindex?: number): void;
  setOption(
    h: NativeHandle,
    name: 'ttl' | 'mcastTtl' | 'mcastLoop' | 'tos' | 'checksum',
    value: number,
  ): void;
  setMulticastInterface(h: NativeHandle, ifname: string, source?: string): void;
  membership(h: NativeHandle, join: boolean, group: string, ifname: string): void;
  refUnref(h: NativeHandle, ref: boolean): void;
  close(h: NativeHandle): void;
  sendFrame(ifname: string, frame: Buffer): void;
  /** A process-exit watch (pidfd); see src/net/pidfd.ts. */
  pidfdOpen(pid: number): NativeHandle;

  openNetlink(protocol: number): NativeHandle;
  netlinkBind(h: NativeHandle, port: number, groups: number): void;
  netlinkSend(h: NativeHandle, data: Buffer | Buffer[], port: number, groups: number): void;
  netlinkMembership(h: NativeHandle, join: boolean, group: number): void;
  netlinkAddress(h: NativeHandle): { port: number; groups: number };
  bufferSize(h: NativeHandle, which: 'rcv' | 'snd', size?: number): number;

  threadId(): number;
  /** SO_PEERCRED of a connected Unix socket's file descriptor; see src/net/peer-cred.ts. */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  setScheduler(tid: number, policy: SchedPolicy, priority: number): void;
  getScheduler(tid: number): { policy: SchedPolicy | 'unknown'; priority: number; resetOnFork: boolean };
  nice(tid: number, value?: number): number;
  affinity(tid: number, cpus?: number[]): number[];
  lockCode(): number;
  rtTimeLimit(softUs?: number, hardUs?: number): { soft: number; hard: number };
  watchSigxcpu(): boolean;
  sigxcpuCount(): number;

  timerOpen(socket: NativeHandle, lock: boolean): NativeTimer;
  timerSet(
    t: NativeTimer,
    packets: Buffer[],
    destinations: string[],
    source: string | undefined,
    ifindex: number | undefined,
    intervalUs: number,
    firstInUs?: number,
    watchdogUs?: number,
  ): void;
  timerFeed(t: NativeTimer): void;
  timerStop(t: NativeTimer): void;
  timerStats(t: NativeTimer): NativeTimerStats;
  timerClose(t: NativeTimer): void;
}

let addon: NativeAddon | undefined;

/** The package root: the nearest ancestor of this file holding package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('halo package root (package.json) not found');
    dir = parent;
  }
  return dir;
}

/** Loads the addon on first use, so importing a wrapper never fails on its own. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = join(packageRoot(), 'build', 'Release', 'halo_net.node');
  if (!existsSync(path)) throw new Error(`native addon not built: run npm ci (missing ${path})`);
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
