/**
 * A VRRP lab in network namespaces, shared by the netns/interop tests and the
 * failover benchmark: N directors and a client on one bridge, a VRRP daemon
 * (halo or keepalived) per director, and the observations a person would make:
 * who holds the VIP, who sends adverts on the wire, does the VIP answer.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Host, NetnsLab, sh, waitFor } from './netns.js';

export type Family = 4 | 6;
export type DaemonKind = 'halo' | 'keepalived';

/** Repository root, from dist/test/helpers/ or test/helpers/. */
export const REPO_ROOT = resolve(
  import.meta.dirname,
  import.meta.dirname.includes('/dist/') ? '../../..' : '../..',
);
export const HALO_MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');

export interface InstanceSpec {
  name?: string;
  vrid?: number;
  priority: number;
  /** Seconds (v2: whole seconds; v3: centisecond resolution). */
  advertInt?: number;
  version?: 2 | 3;
  state?: 'MASTER' | 'BACKUP';
  nopreempt?: boolean;
  preemptDelay?: number;
  vips: string[];
  interface?: string;
  unicastSrc?: string;
  unicastPeers?: string[];
  authPass?: string;
  /** Extra lines inside the vrrp_instance block. */
  extra?: string[];
}

/** keepalived.conf text for one or more VRRP instances (halo reads the same syntax). */
export function vrrpConfig(instances: InstanceSpec[], globalLines: string[] = []): string {
  const out: string[] = ['global_defs {', '  router_id lab', ...globalLines.map((l) => `  ${l}`), '}', ''];
  instances.forEach((inst, i) => {
    out.push(`vrrp_instance ${inst.name ?? `VI_${i + 1}`} {`);
    out.push(`  state ${inst.state ?? 'BACKUP'}`);
    out.push(`  interface ${inst.interface ?? 'eth0'}`);
    out.push(`  virtual_router_id ${inst.vrid ?? 51}`);
    out.push(`  priority ${inst.priority}`);
    out.push(`  advert_int ${inst.advertInt ?? 1}`);
    if (inst.version) out.push(`  version ${inst.version}`);
    if (inst.nopreempt) out.push('  nopreempt');
    if (inst.preemptDelay !== undefined) out.push(`  preempt_delay ${inst.preemptDelay}`);
    if (inst.authPass)
      out.push('  authentication {', '    auth_type PASS', `    auth_pass ${inst.authPass}`, '  }');
    if (inst.unicastSrc) out.push(`  unicast_src_ip ${inst.unicastSrc}`);
    if (inst.unicastPeers) out.push('  unicast_peer {', ...inst.unicastPeers.map((p) => `    ${p}`), '  }');
    for (const l of inst.extra ?? []) out.push(`  ${l}`);
    out.push('  virtual_ipaddress {', ...inst.vips.map((v) => `    ${v}`), '  }', '}', '');
  });
  return out.join('\n');
}

export interface Daemon {
  kind: DaemonKind;
  host: Host;
  child: ChildProcess;
  /** Its sequence number in the lab (names its files). */
  n: number;
  /** Its config file (rewrite it and send SIGHUP to reload). */
  configFile: string;
  /** Its control socket (halo only). */
  socket: string;
  /** Everything the daemon printed so far (stdout + stderr). */
  output(): string;
  waitForOutput(re: RegExp, timeoutMs: number): Promise<void>;
}

export interface Advert {
  /** Capture time, epoch milliseconds. */
  atMs: number;
  source: string;
  destination: string;
  priority: number;
}

export class VrrpLab {
  readonly lab = new NetnsLab();
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-vrrp-lab-'));
  readonly directors: Host[] = [];
  client!: Host;
  private tcpdump: ChildProcess | undefined;
  private adverts: Advert[] = [];
  private daemonCount = 0;
  /** The halo CLI to run (benchmarks compare against another build with this). */
  haloMain = HALO_MAIN;

  constructor(readonly family: Family = 4) {
    // Also on an interrupted benchmark (bench/cli.ts cleans up every live lab).
    this.lab.atCleanup(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  /** Director i's address (no prefix). */
  directorAddress(i: number): string {
    return this.family === 4 ? `10.77.0.${11 + i}` : `fd00:77::${11 + i}`;
  }

  get clientAddress(): string {
    return this.family === 4 ? '10.77.0.50' : 'fd00:77::50';
  }

  get prefix(): number {
    return this.family === 4 ? 24 : 64;
  }

  async setup(directors = 2): Promise<void> {
    for (let i = 0; i < directors; i++) {
      this.directors.push(await this.lab.addHost(`d${i + 1}`, [`${this.directorAddress(i)}/${this.prefix}`]));
    }
    this.client = await this.lab.addHost('client', [`${this.clientAddress}/${this.prefix}`]);
  }

  /**
   * Start a VRRP daemon on director i with the given config text (halo: --vrrp-only unless extra args).
   * `as`: a daemon that ran there before whose files (pid file, socket, state) this one takes over, as a
   * restarted service does.
   */
  start(kind: DaemonKind, i: number, config: string, haloArgs?: string[], as?: Daemon): Daemon {
    const host = this.directors[i];
    const n = as ? as.n : this.daemonCount++;
    const conf = join(this.dir, `${kind}-d${i + 1}-${n}.conf`);
    writeFileSync(conf, config);
    const args =
      kind === 'keepalived'
        ? [
            'keepalived',
            ['-n', '-l', '-D', '-G', '--vrrp', '-f', conf, '-p', join(this.dir, `k${n}.pid`)]
              .concat(['-r', join(this.dir, `k${n}-vrrp.pid`), '-c', join(this.dir, `k${n}-check.pid`)])
              .concat(['-i', `d${i + 1}`]),
          ]
        : [
            process.execPath,
            [this.haloMain, 'run', ...(haloArgs ?? ['--vrrp-only']), '-f', conf, '--log-format', 'json']
              .concat(['--socket', join(this.dir, `h${n}.sock`), '--pid-file', join(this.dir, `h${n}.pid`)])
              .concat(['--config-id', `d${i + 1}`]),
          ];
    const child = this.lab.spawn(host.ns, args[0] as string, args[1] as string[]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    return {
      kind,
      host,
      child,
      n,
      configFile: conf,
      socket: join(this.dir, `h${n}.sock`),
      output: () => out,
      waitForOutput: (re, timeoutMs) =>
        waitFor(() => re.test(out), timeoutMs).then(
          () => undefined,
          (err: Error) => {
            throw new Error(`${err.message}\n--- ${kind} on d${i + 1} output ---\n${out.slice(-3000)}`);
          },
        ),
    };
  }

  /** Rewrite a daemon's config and reload it (SIGHUP, as `systemctl reload` does). */
  reconfigure(d: Daemon, config: string): void {
    writeFileSync(d.configFile, config);
    d.child.kill('SIGHUP');
  }

  /** Stop a daemon: 'SIGKILL' for a crash, 'SIGTERM' for a graceful stop. */
  stop(d: Daemon, signal: NodeJS.Signals): Promise<void> {
    return this.lab.kill(d.child, signal);
  }

  /** Addresses configured on a director's interface. */
  async addresses(i: number): Promise<string[]> {
    const host = this.directors[i];
    const r = await this.lab.exec(host.ns, 'ip', [
      '-j',
      `-${this.family}`,
      'addr',
      'show',
      'dev',
      host.ifname,
    ]);
    const parsed = JSON.parse(r.stdout) as { addr_info: { local: string }[] }[];
    return parsed.flatMap((l) => l.addr_info.map((a) => a.local));
  }

  /** Indexes of the directors that currently hold `vip`. */
  async holders(vip: string): Promise<number[]> {
    const res: number[] = [];
    for (let i = 0; i < this.directors.length; i++) {
      if ((await this.addresses(i)).includes(vip)) res.push(i);
    }
    return res;
  }

  /** One ping from the client to `address`; true when it answered within `timeoutS`. */
  async pingFromClient(address: string, timeoutS = 1): Promise<boolean> {
    const r = await this.lab.exec(
      this.client.ns,
      'ping',
      ['-c', '1', '-W', String(timeoutS), '-n', address],
      {
        allowFail: true,
      },
    );
    return / 0% packet loss/.test(r.stdout);
  }

  /** Capture VRRP adverts on the client's link (tcpdump, epoch timestamps). */
  async startAdvertCapture(): Promise<void> {
    this.adverts = [];
    const child = this.lab.spawn(this.client.ns, 'tcpdump', [
      '-i',
      this.client.ifname,
      '-n',
      '-tt',
      '-l',
      'ip proto 112 or ip6 proto 112',
    ]);
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // 1700000000.123456 IP 10.77.0.11 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 150, ...
        const m =
          /^(\d+\.\d+) IP6? ([0-9a-f.:]+) > ([0-9a-f.:]+): VRRPv\d, Advertisement, vrid \d+, prio (\d+)/.exec(
            line,
          );
        if (m)
          this.adverts.push({
            atMs: Number(m[1]) * 1000,
            source: m[2],
            destination: m[3],
            priority: Number(m[4]),
          });
        nl = buf.indexOf('\n');
      }
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    this.tcpdump = child;
    await waitFor(() => /listening on/.test(err), 5000);
  }

  capturedAdverts(): Advert[] {
    return this.adverts;
  }

  /** First advert from `source` with non-zero priority captured at or after `sinceMs`. */
  async waitForAdvertFrom(source: string, sinceMs: number, timeoutMs: number): Promise<Advert> {
    return waitFor<Advert | undefined>(
      () => this.adverts.find((a) => a.source === source && a.atMs >= sinceMs && a.priority > 0),
      timeoutMs,
      5,
    ) as Promise<Advert>;
  }

  async cleanup(): Promise<void> {
    if (this.tcpdump) await this.lab.kill(this.tcpdump);
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function keepalivedInstalled(): Promise<boolean> {
  try {
    await sh('keepalived', ['--version']);
    return true;
  } catch {
    return false;
  }
}
