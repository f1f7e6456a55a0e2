/**
 * A director pair as an operator runs it, for the tests that watch it (events, the status page): two
 * namespaces d1 (10.61.0.11, priority 150) and d2 (10.61.0.12, priority 100) running `halo run` with VRRP
 * (v3, advert 0.2 s, VIP 10.61.0.100), health checks and dry-run IPVS (the host kernel has no IPVS), each
 * with its own run dir and the HTTP server on its namespace's 127.0.0.1:9650; and a namespace "web" with
 * two real servers (10.61.0.21 and .22, port 80) that a test can kill and restart.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusDocument } from '../../src/daemon/status.js';
import { type Host, NetnsLab, sh, waitFor } from './netns.js';
import { HALO_MAIN } from './vrrp-lab.js';

export const VIP = '10.61.0.100';
export const WEB = ['10.61.0.21', '10.61.0.22'] as const;
export const HTTP_PORT = 9650;

const CONFIG = `global_defs {
    router_id halo_pair_test
}

vrrp_instance VI_1 {
@d1 state MASTER
@d2 state BACKUP
    interface eth0
    virtual_router_id 61
@d1 priority 150
@d2 priority 100
    version 3
    advert_int 0.2
    virtual_ipaddress {
        ${VIP}/24 dev eth0
    }
}

virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
${WEB.map(
  (a) => `    real_server ${a} 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }`,
).join('\n')}
}
`;

export interface Director {
  name: 'd1' | 'd2';
  host: Host;
  address: string;
  runDir: string;
  socket: string;
  child?: ChildProcess;
  output: string;
}

export class HaloPair {
  readonly lab = new NetnsLab();
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-pair-'));
  readonly config = join(this.dir, 'halo.conf');
  readonly directors: Director[] = [];
  web!: Host;
  private readonly servers = new Map<string, ChildProcess>();

  constructor() {
    this.lab.atCleanup(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  async setup(): Promise<void> {
    writeFileSync(this.config, CONFIG);
    for (const [i, name] of (['d1', 'd2'] as const).entries()) {
      const address = `10.61.0.${11 + i}`;
      const host = await this.lab.addHost(name, [`${address}/24`]);
      const runDir = join(this.dir, name);
      mkdirSync(runDir);
      this.directors.push({ name, host, address, runDir, socket: join(runDir, 'halo.sock'), output: '' });
    }
    this.web = await this.lab.addHost(
      'web',
      WEB.map((a) => `${a}/24`),
    );
    for (const a of WEB) await this.startServer(a);
  }

  /** A real server: node's HTTP server on ADDRESS:80 in the web namespace. */
  async startServer(address: string): Promise<void> {
    const child = this.lab.spawn(this.web.ns, process.execPath, [
      '-e',
      `require('node:http').createServer((q, r) => r.end('hello from ${address}\\n')).listen(80, '${address}', () => console.log('listening'))`,
    ]);
    this.servers.set(address, child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor(() => out.includes('listening'), 5000);
  }

  async killServer(address: string): Promise<void> {
    const child = this.servers.get(address);
    if (child) await this.lab.kill(child);
    this.servers.delete(address);
  }

  start(d: Director): void {
    const child = this.lab.spawn(d.host.ns, process.execPath, [
      HALO_MAIN,
      'run',
      '-f',
      this.config,
      '--config-id',
      d.name,
      '--ipvs',
      'dry-run',
      '--http',
      `127.0.0.1:${HTTP_PORT}`,
      '--run-dir',
      d.runDir,
    ]);
    d.output = '';
    child.stdout?.on('data', (b: Buffer) => {
      d.output += b.toString();
    });
    child.stderr?.on('data', (b: Buffer) => {
      d.output += b.toString();
    });
    d.child = child;
  }

  async stop(d: Director, signal: NodeJS.Signals): Promise<void> {
    if (d.child) await this.lab.kill(d.child, signal);
    d.child = undefined;
  }

  async status(d: Director): Promise<StatusDocument> {
    const r = await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', d.socket]);
    return JSON.parse(r.stdout) as StatusDocument;
  }

  /** Both running, d1 MASTER, d2 BACKUP with d1's adverts seen, both real servers checked and up. */
  async waitSettled(timeoutMs = 30_000): Promise<void> {
    const [d1, d2] = this.directors;
    await waitFor(
      async () => {
        const [a, b] = [await this.status(d1), await this.status(d2)];
        const checked = (s: StatusDocument) =>
          s.virtualServers[0]?.realServers.every((r) => r.up && r.lastCheck?.ok === true);
        return (
          a.instances[0]?.state === 'MASTER' &&
          b.instances[0]?.state === 'BACKUP' &&
          b.instances[0]?.peer?.state === 'MASTER' &&
          checked(a) &&
          checked(b)
        );
      },
      timeoutMs,
      200,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\n--- d1 ---\n${d1.output.slice(-2000)}\n--- d2 ---\n${d2.output.slice(-2000)}`,
      );
    });
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
  }
}
