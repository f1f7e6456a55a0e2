/**
 * The lab's own small namespace toolkit (the lab is a product feature and runs from the built tree, so it
 * does not lean on test/helpers). Every namespace is named `halolab-<pid>-<rand>-<host>`, and so are the
 * test and benchmark namespaces (test/helpers/netns.ts): the prefix lets `--cleanup` find what a killed
 * lab, test or benchmark left behind and nothing else, the owner's PID lets it leave alone the namespaces
 * of one that is still running (someone else's demo, a test run next door).
 *
 * Veth pairs are created directly inside their namespaces (`ip link add ... netns A type veth peer ... netns
 * B`), so a crash never leaves an interface in the host's own namespace.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const LAB_PREFIX = 'halolab-';

export async function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<string> {
  try {
    const r = await execFileP(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
    return r.stdout.toString();
  } catch (err) {
    if (opts.allowFail) return String((err as { stdout?: string }).stdout ?? '');
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${String(e.stderr ?? '').trim() || e.message}`);
  }
}

export async function listNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list'], { allowFail: true });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => Boolean(n));
}

/** Kill (SIGKILL, by PID) every process inside a namespace, then delete it. */
async function removeNamespace(ns: string): Promise<void> {
  const pids = await sh('ip', ['netns', 'pids', ns], { allowFail: true });
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await sh('ip', ['netns', 'del', ns], { allowFail: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID of the lab that made a namespace, from its name (undefined when the name is not a lab's). */
export function labPidOf(ns: string): number | undefined {
  const m = /^halolab-(\d+)-/.exec(ns);
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes namespaces crashed labs left behind: only names with the lab's own prefix, and only when the lab
 * that made them is gone. Returns what was removed and what was kept because its lab still runs.
 */
export async function removeLeftovers(): Promise<{ removed: string[]; inUse: string[] }> {
  const ours = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX));
  const removed: string[] = [];
  const inUse: string[] = [];
  for (const ns of ours) {
    const pid = labPidOf(ns);
    if (pid !== undefined && pid !== process.pid && processAlive(pid)) inUse.push(ns);
    else {
      await removeNamespace(ns);
      removed.push(ns);
    }
  }
  return { removed, inUse };
}

export class LabNet {
  readonly tag = `${process.pid}-${randomBytes(2).toString('hex')}`;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private bridgeNs: string | undefined;
  private vethCount = 0;

  nsName(host: string): string {
    return `${LAB_PREFIX}${this.tag}-${host}`;
  }

  async addNamespace(host: string): Promise<string> {
    const ns = this.nsName(host);
    await sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** The bridge lives in its own namespace so the host's network is never touched. */
  async addBridge(): Promise<string> {
    this.bridgeNs = await this.addNamespace('br');
    await this.exec(this.bridgeNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    // No STP listening delay: the demo wants forwarding at once.
    await this.exec(this.bridgeNs, 'ip', ['link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0']);
    await this.exec(this.bridgeNs, 'ip', ['link', 'set', 'br0', 'up']);
    return this.bridgeNs;
  }

  /** A host namespace with eth0 (address `cidr`) plugged into the bridge. */
  async addHost(host: string, cidr: string): Promise<string> {
    const br = this.bridgeNs ?? (await this.addBridge());
    const ns = await this.addNamespace(host);
    const port = `p${this.vethCount++}`;
    await sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', br]);
    await this.exec(br, 'ip', ['link', 'set', port, 'master', 'br0']);
    await this.exec(br, 'ip', ['link', 'set', port, 'up']);
    await this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', 'eth0']);
    await this.exec(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    return ns;
  }

  exec(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<string> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** IPv4 addresses on a namespace's eth0. */
  async addresses(ns: string): Promise<string[]> {
    const out = await sh('ip', ['-n', ns, '-j', '-4', 'addr', 'show', 'dev', 'eth0'], { allowFail: true });
    try {
      const links = JSON.parse(out) as { addr_info?: { local: string }[] }[];
      return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
    } catch {
      return [];
    }
  }

  /**
   * A long-running process in a namespace. `ip netns exec` execs the command, so the child's PID is the
   * program's own PID (what the lab prints for `kill`). It leads its own process group.
   */
  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Signal a spawned process and wait for it to exit (SIGKILL goes to its whole process group). */
  async kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      if (signal === 'SIGKILL' && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill(signal);
    } catch {
      child.kill(signal);
    }
    await exited;
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c, 'SIGKILL')));
    for (const ns of this.namespaces.reverse()) await removeNamespace(ns);
    this.namespaces.length = 0;
  }
}
