/**
 * Prompt notice of a process's exit, for any process (not only our children): a pidfd (pidfd_open(2),
 * Linux 5.3) becomes readable when the process exits; the addon polls it on the event loop, so the callback
 * runs within the loop turn after the exit, with no polling.
 */
import { loadAddon } from './addon.js';

export interface ExitWatch {
  readonly pid: number;
  close(): void;
}

/**
 * Calls `onExit` once when process `pid` exits. Returns undefined when pidfds are not available (ENOSYS,
 * old kernels, or EPERM in some sandboxes): the caller then has to poll. A process that is already gone
 * (ESRCH) is reported on the next tick. The watch does not keep the event loop alive.
 */
export function watchProcessExit(pid: number, onExit: () => void): ExitWatch | undefined {
  const addon = loadAddon();
  let handle: ReturnType<typeof addon.pidfdOpen>;
  try {
    handle = addon.pidfdOpen(pid);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ESRCH') {
      let closed = false;
      setImmediate(() => {
        if (!closed) onExit();
      });
      return {
        pid,
        close: () => {
          closed = true;
        },
      };
    }
    if (code === 'ENOSYS' || code === 'EPERM' || code === 'EINVAL') return undefined;
    throw err;
  }
  let closed = false;
  addon.startReceive(handle, () => {
    if (closed) return;
    closed = true;
    addon.close(handle);
    onExit();
  });
  addon.refUnref(handle, false);
  return {
    pid,
    close: () => {
      if (closed) return;
      closed = true;
      addon.close(handle);
    },
  };
}
