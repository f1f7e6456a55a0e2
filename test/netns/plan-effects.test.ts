/**
 * Keywords that used to be accepted and then ignored, shown to take effect end to end with real
 * processes in namespaces:
 *  - smtp_alert: a failover mails the operator (a real SMTP server, the smtp-server package, listening
 *    in the client's namespace), with keepalived's subject;
 *  - a TCP and a UDP virtual server on one address and port (a DNS service) run side by side, each with
 *    its own checks (they used to collide on one checker id and stop the daemon).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, NetnsLab, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN, REPO_ROOT, VrrpLab, vrrpConfig } from '../helpers/vrrp-lab.js';

const enabled = await canUseNetns();
if (!enabled && process.env.CI) throw new Error('CI must run the netns lane as root');
const skip = enabled ? false : 'needs root';

/** An SMTP server in `ns` that prints each mail it receives as one JSON line. */
const SMTP_SINK = `
const { SMTPServer } = require(${JSON.stringify(join(REPO_ROOT, 'node_modules/smtp-server'))});
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  onData(stream, session, done) {
    let body = '';
    stream.on('data', (d) => (body += d));
    stream.on('end', () => {
      console.log(JSON.stringify({ from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), body }));
      done();
    });
  },
});
server.listen(2525, '0.0.0.0', () => console.log('ready'));
`;

function lines(out: string): string[] {
  return out.split('\n').filter((l) => l.startsWith('{'));
}

describe('keywords take effect end to end', { skip }, () => {
  it('smtp_alert: a failover mails the operator', async () => {
    const lab = new VrrpLab(4);
    const dir = mkdtempSync(join(tmpdir(), 'halo-mail-'));
    try {
      await lab.setup(2);
      const script = join(dir, 'smtp.cjs');
      writeFileSync(script, SMTP_SINK);
      const smtp = lab.lab.spawn(lab.client.ns, process.execPath, [script]);
      let mails = '';
      smtp.stdout?.on('data', (d: Buffer) => {
        mails += d.toString();
      });
      await waitFor(() => mails.includes('ready'), 10000);
      const mailConf = [
        'notification_email {',
        '    ops@example.com',
        '  }',
        'notification_email_from halo@lb.example',
        `smtp_server ${lab.clientAddress} 2525`,
        'smtp_alert',
      ];
      const conf = (priority: number) =>
        vrrpConfig([{ version: 3, advertInt: 0.1, priority, vips: ['10.77.0.100/24'] }], mailConf);
      const master = lab.start('halo', 0, conf(150));
      await master.waitForOutput(/Entering MASTER STATE/, 15000);
      const backup = lab.start('halo', 1, conf(100));
      await backup.waitForOutput(/Entering BACKUP STATE/, 15000);
      await waitFor(() => lines(mails).some((l) => l.includes('Entering MASTER state')), 10000);

      await lab.stop(master, 'SIGKILL');
      await backup.waitForOutput(/Entering MASTER STATE/, 5000);
      // keepalived's subject: "[router_id] VRRP Instance VI_1 - Entering MASTER state", from the new master.
      const masterMails = () =>
        lines(mails)
          .map((l) => JSON.parse(l) as { from: string; to: string[]; body: string })
          .filter((m) => /Subject: \[lab\] VRRP Instance VI_1 - Entering MASTER state/.test(m.body));
      // One at the first election (d1), one at the failover (d2).
      await waitFor(() => masterMails().length >= 2, 10000).catch(() => {
        throw new Error(`no mail for the failover:\n${mails}`);
      });
      const got = masterMails();
      assert.equal(got.at(-1)?.from, 'halo@lb.example');
      assert.deepEqual(got.at(-1)?.to, ['ops@example.com']);
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a TCP and a UDP virtual server on one address and port run side by side with their own checks', async () => {
    const lab = new NetnsLab();
    const dir = mkdtempSync(join(tmpdir(), 'halo-dns-'));
    let halo: ChildProcess | undefined;
    try {
      const director = await lab.addHost('dir', ['10.67.0.11/24']);
      const dns = await lab.addHost('dns', ['10.67.0.21/24']);
      // The real server answers TCP on 53 only: its UDP check (reply required) fails, its TCP check passes.
      const server = lab.spawn(dns.ns, process.execPath, [
        '-e',
        "require('node:net').createServer((s) => s.end()).listen(53, '10.67.0.21', () => console.log('ready'))",
      ]);
      let ready = '';
      server.stdout?.on('data', (d: Buffer) => {
        ready += d.toString();
      });
      await waitFor(() => ready.includes('ready'), 5000);
      const conf = join(dir, 'halo.conf');
      const vs = (protocol: string, check: string) => `virtual_server 10.67.0.100 53 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol ${protocol}
  real_server 10.67.0.21 53 {
    ${check} {
      connect_timeout 1
      retry 0
      ${check === 'UDP_CHECK' ? 'require_reply' : ''}
    }
  }
}
`;
      writeFileSync(conf, vs('TCP', 'TCP_CHECK') + vs('UDP', 'UDP_CHECK'));
      const sock = join(dir, 'halo.sock');
      halo = lab.spawn(director.ns, process.execPath, [
        HALO_MAIN,
        'run',
        '--check-only',
        '--ipvs',
        'dry-run',
        '-f',
        conf,
        '--socket',
        sock,
        '--pid-file',
        join(dir, 'halo.pid'),
      ]);
      let out = '';
      halo.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      halo.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const status = async () =>
        JSON.parse(
          (await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock])).stdout,
        ) as {
          virtualServers: { name: string; realServers: { up: boolean }[] }[];
        };
      const st = await waitFor<Awaited<ReturnType<typeof status>> | undefined>(async () => {
        const s = await status();
        const udp = s.virtualServers.find((v) => v.name === '[10.67.0.100]:udp:53');
        return udp?.realServers[0]?.up === false ? s : undefined;
      }, 15000).catch((err: Error) => {
        throw new Error(`${err.message}\n${out.slice(-3000)}`);
      });
      assert.deepEqual(
        st?.virtualServers.map((v) => [v.name, v.realServers.map((r) => r.up)]),
        [
          ['[10.67.0.100]:tcp:53', [true]],
          ['[10.67.0.100]:udp:53', [false]],
        ],
      );
      assert.match(out, /"event":"check.server_down".*\[10\.67\.0\.21\]:udp:53/);
      assert.doesNotMatch(out, /duplicate/);
    } finally {
      if (halo) await lab.kill(halo, 'SIGTERM');
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('VRRP host plumbing follows mastership', { skip }, () => {
  const inst = { version: 3 as const, advertInt: 0.1, vips: ['10.77.0.100/24'] };

  it('virtual_routes and virtual_rules are set on the master and move at failover', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const extra = [
        'virtual_routes {',
        '    10.99.0.0/16 via 10.77.0.1 dev eth0',
        '  }',
        'virtual_rules {',
        '    from 10.77.0.100 table 100',
        '  }',
      ];
      const d1 = lab.start('halo', 0, vrrpConfig([{ ...inst, priority: 150, extra }]));
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      const d2 = lab.start('halo', 1, vrrpConfig([{ ...inst, priority: 100, extra }]));
      await d2.waitForOutput(/Entering BACKUP STATE/, 15000);
      const route = (i: number) =>
        lab.lab.exec(lab.directors[i].ns, 'ip', ['route', 'show', '10.99.0.0/16']).then((r) => r.stdout);
      const rule = (i: number) =>
        lab.lab.exec(lab.directors[i].ns, 'ip', ['rule', 'show']).then((r) => r.stdout);
      await waitFor(async () => /via 10\.77\.0\.1/.test(await route(0)), 5000);
      assert.match(await rule(0), /from 10\.77\.0\.100 lookup 100/);
      assert.equal(await route(1), '', 'the backup has no virtual route');
      assert.doesNotMatch(await rule(1), /from 10\.77\.0\.100/);

      await lab.stop(d1, 'SIGTERM');
      await d2.waitForOutput(/Entering MASTER STATE/, 5000);
      await waitFor(async () => /via 10\.77\.0\.1/.test(await route(1)), 5000);
      assert.match(await rule(1), /from 10\.77\.0\.100 lookup 100/);
      assert.equal(await route(0), '', 'the old master removed its route at stop');
      assert.doesNotMatch(await rule(0), /from 10\.77\.0\.100/);
    } finally {
      await lab.cleanup();
    }
  });

  it('use_vmac: the VIP lives on a macvlan with the VRRP MAC, and keeps its MAC across a failover', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(2);
      const conf = (priority: number) => vrrpConfig([{ ...inst, vrid: 51, priority, extra: ['use_vmac'] }]);
      const d1 = lab.start('halo', 0, conf(150));
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      const d2 = lab.start('halo', 1, conf(100));
      await d2.waitForOutput(/Entering BACKUP STATE/, 15000);
      const link = async (i: number) =>
        JSON.parse(
          (await lab.lab.exec(lab.directors[i].ns, 'ip', ['-j', '-d', 'addr', 'show', 'dev', 'vrrp.51']))
            .stdout,
        )[0] as { address: string; linkinfo: { info_kind: string }; addr_info: { local: string }[] };
      const l1 = await link(0);
      assert.equal(l1.address, '00:00:5e:00:01:33');
      assert.equal(l1.linkinfo.info_kind, 'macvlan');
      await waitFor(async () => (await link(0)).addr_info.some((a) => a.local === '10.77.0.100'), 5000);
      assert.ok(await lab.pingFromClient('10.77.0.100', 2));
      const neigh = async () =>
        (await lab.lab.exec(lab.client.ns, 'ip', ['neigh', 'show', '10.77.0.100'])).stdout;

      // The new master's gratuitous ARPs announce the VIP with the VRRP MAC, from its own VMAC.
      await lab.stop(d1, 'SIGTERM');
      await d2.waitForOutput(/Entering MASTER STATE/, 5000);
      await waitFor(async () => (await link(1)).addr_info.some((a) => a.local === '10.77.0.100'), 5000);
      await waitFor(async () => /lladdr 00:00:5e:00:01:33/.test(await neigh()), 3000);
      assert.ok(await lab.pingFromClient('10.77.0.100', 2));
      const gone = await lab.lab.exec(lab.directors[0].ns, 'ip', ['link', 'show', 'vrrp.51'], {
        allowFail: true,
      });
      assert.equal(gone.stdout, '', 'the stopped director removed its VMAC');
    } finally {
      await lab.cleanup();
    }
  });

  it('track_process: the VIP leaves a director whose tracked process dies', async () => {
    const lab = new VrrpLab(4);
    const dir = mkdtempSync(join(tmpdir(), 'halo-proc-'));
    try {
      await lab.setup(2);
      // A process name no other process on this host has: a copy of sleep under a unique name.
      const name = `hp${process.pid.toString(36).slice(-4)}`;
      const exe = join(dir, name);
      await sh('cp', ['/bin/sleep', exe]);
      const tracked = lab.lab.spawn(lab.directors[0].ns, exe, ['1000']);
      const procConf = (priority: number) =>
        vrrpConfig([{ ...inst, priority, extra: ['track_process {', '    proc weight 0', '  }'] }]).replace(
          'vrrp_instance',
          `vrrp_track_process proc {\n  process ${name}\n}\n\nvrrp_instance`,
        );
      const d1 = lab.start('halo', 0, procConf(150));
      await d1.waitForOutput(/Entering MASTER STATE/, 15000);
      const d2 = lab.start('halo', 1, vrrpConfig([{ ...inst, priority: 100 }]));
      await d2.waitForOutput(/Entering BACKUP STATE/, 15000);
      assert.deepEqual(await lab.holders('10.77.0.100'), [0]);

      await lab.lab.kill(tracked, 'SIGKILL');
      await d1.waitForOutput(/Entering FAULT STATE/, 5000);
      await d2.waitForOutput(/Entering MASTER STATE/, 5000);
      await waitFor(async () => (await lab.holders('10.77.0.100')).join() === '1', 5000);
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dynamic_interfaces: an instance whose interface appears later starts then', async () => {
    const lab = new VrrpLab(4);
    try {
      await lab.setup(1);
      const conf = vrrpConfig(
        [{ ...inst, interface: 'eth1', vips: ['10.78.0.100/24'], priority: 150 }],
        ['dynamic_interfaces'],
      );
      const d1 = lab.start('halo', 0, conf);
      await d1.waitForOutput(/interface eth1 does not exist: waiting for it \(dynamic_interfaces\)/, 15000);
      await lab.lab.attach(lab.directors[0].ns, ['10.78.0.11/24'], 'eth1');
      await d1.waitForOutput(/Entering MASTER STATE/, 10000);
      const addrs = await lab.lab.exec(lab.directors[0].ns, 'ip', ['-4', 'addr', 'show', 'dev', 'eth1']);
      assert.match(addrs.stdout, /10\.78\.0\.100/);
    } finally {
      await lab.cleanup();
    }
  });
});
