/**
 * Network-namespace lab for tests and benchmarks: hosts (namespaces) joined by a bridge that lives in its
 * own namespace, processes tracked by PID, and a cleanup that removes exactly what this lab created (never
 * anything matched by name).
 *
 * Names are `halolab-<pid>-<tag>-<host>`, as the lab's (lab/netns.ts): the random tag keeps parallel test
 * files and concurrent developers apart, the owner's PID lets `npm run lab -- --cleanup` remove what a
 * killed test or benchmark left behind (once that PID is gone) and leave running ones alone. Veth pairs are
 * created directly inside their namespaces, so nothing is ever left in the host's own namespace.
 *
 * Every lab alive in a process is known: `cleanupLiveLabs()` (bench/cli.ts calls it on Ctrl-C) cleans
 * them all up.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { LAB_PREFIX } from '../../lab/netns.js';

const execFileP = promisify(execFile);

const liveLabs = new Set<NetnsLab>();

/** Cleans up every lab of this process that has not been cleaned up yet (at an interruption). */
export async function cleanupLiveLabs(): Promise<void> {
  await Promise.all([...liveLabs].map((l) => l.cleanup()));
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export async function sh(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean } = {},
): Promise<ExecResult> {
  try {
    const r = await execFileP(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  } catch (err) {
    if (opts.allowFail) {
      const e = err as { stdout?: string; stderr?: string };
      return { stdout: String(e.stdout ?? ''), stderr: String(e.stderr ?? '') };
    }
    throw err;
  }
}

/** True when this process may create namespaces (root with iproute2). */
export async function canUseNetns(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await sh('ip', ['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

export interface Host {
  /** Namespace name (pass to `ip netns exec`). */
  ns: string;
  /** Interface name inside the namespace that attaches to the lab bridge. */
  ifname: string;
}

export class NetnsLab {
  readonly tag = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly hooks: (() => unknown)[] = [];
  private bridgeNs: string | undefined;
  private vethCount = 0;

  constructor() {
    liveLabs.add(this);
  }

  /** The namespace name for a host of this lab. */
  nsName(short: string): string {
    return `${LAB_PREFIX}${process.pid}-${this.tag}-${short}`;
  }

  /** Something else to undo at cleanup (a temporary directory), after the processes are gone. */
  atCleanup(fn: () => unknown): void {
    this.hooks.push(fn);
  }

  /** Create an empty namespace with loopback up. */
  async addNamespace(short: string): Promise<string> {
    const ns = this.nsName(short);
    this.namespaces.push(ns);
    await sh('ip', ['netns', 'add', ns]);
    await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** The bridge every host joins; created on first use in its own namespace. */
  private async bridge(): Promise<string> {
    if (!this.bridgeNs) {
      this.bridgeNs = await this.addNamespace('br');
      await this.exec(this.bridgeNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      // No STP delay: tests want forwarding at once.
      await this.exec(this.bridgeNs, 'ip', ['link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0']);
      await this.exec(this.bridgeNs, 'ip', ['link', 'set', 'br0', 'up']);
    }
    return this.bridgeNs;
  }

  /**
   * A host on the lab bridge: namespace `short`, interface `ifname` (default
   * eth0) with the given addresses (CIDR, v4 or v6).
   */
  async addHost(short: string, addrs: string[], ifname = 'eth0'): Promise<Host> {
    const ns = await this.addNamespace(short);
    await this.attach(ns, addrs, ifname);
    return { ns, ifname };
  }

  /** Attach an existing namespace to the bridge through a new veth. */
  async attach(ns: string, addrs: string[], ifname = 'eth0'): Promise<void> {
    const br = await this.bridge();
    const b = `p${this.vethCount++}`;
    await sh('ip', ['link', 'add', ifname, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', br]);
    await this.exec(br, 'ip', ['link', 'set', b, 'master', 'br0']);
    await this.exec(br, 'ip', ['link', 'set', b, 'up']);
    for (const addr of addrs) {
      const v6 = addr.includes(':');
      // nodad: tests must not wait ~2 s for IPv6 duplicate address detection.
      await this.exec(ns, 'ip', [
        ...(v6 ? ['-6'] : []),
        'addr',
        'add',
        addr,
        'dev',
        ifname,
        ...(v6 ? ['nodad'] : []),
      ]);
    }
    await this.exec(ns, 'ip', ['link', 'set', ifname, 'up']);
  }

  /** Cut or restore a host's link as seen from the host (carrier goes too). */
  async setLink(host: Host, up: boolean): Promise<void> {
    await this.exec(host.ns, 'ip', ['link', 'set', host.ifname, up ? 'up' : 'down']);
  }

  exec(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<ExecResult> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /**
   * Start a long-running process in a namespace; it is killed (by PID) at
   * cleanup. It leads its own process group, so a crash can be simulated for a
   * daemon that forks children (keepalived) by killing the whole group.
   */
  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: 'pipe',
      detached: true,
      ...opts,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /**
   * Signal a spawned process and wait for it to exit. SIGKILL goes to its whole
   * process group (a crash takes its children with it); other signals go to the
   * process alone, as an operator's `kill PID` would.
   */
  async kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (signal === 'SIGKILL' && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    } else {
      child.kill(signal);
    }
    await exited;
  }

  async cleanup(): Promise<void> {
    liveLabs.delete(this);
    await Promise.all([...this.children].map((c) => this.kill(c, 'SIGKILL')));
    for (const ns of this.namespaces.reverse()) {
      // Whatever still runs inside (a daemon that forked away from its process group) dies with it.
      const pids = (await sh('ip', ['netns', 'pids', ns], { allowFail: true })).stdout;
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await sh('ip', ['netns', 'del', ns], { allowFail: true });
    }
    this.namespaces.length = 0;
    for (const fn of this.hooks.splice(0)) {
      try {
        await fn();
      } catch {
        // best effort: the namespaces (what matters) are gone
      }
    }
  }
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs: number, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`waitFor timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
