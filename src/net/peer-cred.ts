/**
 * Who is at the other end of a connection to a Unix socket (the control socket): the kernel's answer
 * (SO_PEERCRED, through the addon), plus what /proc says about that process (its name and audit login uid,
 * i.e. the person behind `sudo` where pam_loginuid sets it).
 *
 * Node does not expose SO_PEERCRED; the accepted socket's descriptor is read from its libuv handle
 * (`socket._handle.fd`, present for pipes on Linux). Everything here is best effort: without the addon, or
 * for a peer that already went away, the answer is undefined and the caller records less.
 */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { loadAddon } from './addon.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The descriptor of a connected net.Socket, if it has one. */
function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

export function peerCredentials(socket: Socket): PeerCredentials | undefined {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  try {
    return loadAddon().peerCredentials(fd);
  } catch {
    return undefined;
  }
}

/** The kernel's "no login uid" (4294967295): not a person. */
const NO_LOGIN_UID = 0xffffffff;

export interface ProcessInfo {
  /** /proc/PID/comm: the process name (15 characters at most). */
  command?: string;
  /** /proc/PID/loginuid when set. */
  loginUid?: number;
}

/** What /proc says about a process; fields it cannot read are left out. */
export async function processInfo(pid: number): Promise<ProcessInfo> {
  const read = (what: string) => readFile(`/proc/${pid}/${what}`, 'utf8').catch(() => undefined);
  const [comm, login] = await Promise.all([read('comm'), read('loginuid')]);
  const command = comm?.trim();
  const loginUid = login === undefined ? undefined : Number(login.trim());
  return {
    ...(command ? { command: command.slice(0, 64) } : {}),
    ...(loginUid !== undefined && Number.isInteger(loginUid) && loginUid >= 0 && loginUid !== NO_LOGIN_UID
      ? { loginUid }
      : {}),
  };
}
