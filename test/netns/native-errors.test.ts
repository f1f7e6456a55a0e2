/**
 * Every failure of the native layer is a JavaScript error, never an abort.
 *
 * Found by probing (issue 12): without CAP_NET_RAW, `halo run` sometimes died with
 * "terminate called after throwing an instance of 'Napi::Error'" (exit 134, pid file left behind).
 * The VRRP worker failed to open its raw socket and was terminated while its rtnetlink socket (the
 * `netlink` package's C++ binding) had a callback pending; the binding's libuv callback threw a C++
 * exception. halo's own addon now carries the netlink sockets (src/net/netlink-socket.ts).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, type Host, NetnsLab } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const skip = !(await canUseNetns()) && 'needs root and iproute2 (network namespaces)';
const LINK = new URL('../../src/net/link.js', import.meta.url).href;
const NETLINK = new URL('../../src/net/netlink-socket.js', import.meta.url).href;

const CONFIG = `global_defs {
  router_id noraw
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 61
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.93.0.100/24
  }
}
`;

function runModule(script: string, timeout = 30000) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout });
}

describe('native failures are JavaScript errors', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'halo-native-errors-'));
  let host: Host;

  before(async () => {
    host = await lab.addHost('noraw', ['10.93.0.1/24']);
    writeFileSync(join(dir, 'halo.conf'), CONFIG);
  });

  after(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('halo run without CAP_NET_RAW exits 1 with the reason, removes its pid file, never aborts (8 runs)', async () => {
    for (let i = 0; i < 8; i++) {
      const pidFile = join(dir, `h${i}.pid`);
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          host.ns,
          'setpriv',
          '--bounding-set',
          '-net_raw',
          process.execPath,
          HALO_MAIN,
          'run',
        ]
          .concat(['--vrrp-only', '-f', join(dir, 'halo.conf'), '--log-format', 'json'])
          .concat(['--socket', join(dir, `h${i}.sock`), '--pid-file', pidFile]),
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
        child.once('exit', (c, s) => resolve([c, s])),
      );
      assert.doesNotMatch(out, /terminate called|Napi::Error/, `run ${i}`);
      assert.equal(signal, null, `run ${i}: ${out}`);
      assert.equal(code, 1, `run ${i}: ${out}`);
      // Refused before any raw socket is opened (src/daemon/capabilities.ts), in one line, no stack trace.
      assert.match(out, /lacks CAP_NET_RAW/);
      assert.match(out, /"event":"daemon.start_refused"/);
      assert.doesNotMatch(out, /\n\s+at .+:\d+:\d+/, 'no stack trace');
      assert.equal(existsSync(pidFile), false, `run ${i} left its pid file`);
    }
  });

  it('workers terminated with a link watcher and a netlink request in flight exit cleanly (20 times)', () => {
    const r = runModule(`
      import { Worker } from 'node:worker_threads';
      for (let i = 0; i < 20; i++) {
        const w = new Worker(\`
          const { LinkWatcher, listAddresses } = await import(${JSON.stringify(LINK)});
          const { parentPort } = await import('node:worker_threads');
          const watcher = new LinkWatcher();
          watcher.on('error', () => {});
          await watcher.ready;
          listAddresses('lo').catch(() => {});
          parentPort.postMessage('ready');
          for (;;) await listAddresses('lo');
        \`, { eval: true });
        await new Promise((res) => w.once('message', res));
        await w.terminate();
      }
      console.log('ok');
    `);
    assert.equal(r.signal, null, r.stderr.slice(0, 1000));
    assert.equal(r.status, 0, r.stderr.slice(0, 1000));
    assert.equal(r.stdout, 'ok\n');
  });

  it('a throwing netlink listener is an uncaught JavaScript exception, not an abort', () => {
    const r = runModule(`
      import { NetlinkRawSocket } from ${JSON.stringify(NETLINK)};
      process.on('uncaughtException', (err) => {
        console.log('caught:', err.message);
        process.exit(0);
      });
      const s = new NetlinkRawSocket(0);
      s.on('message', () => {
        throw new Error('listener failed');
      });
      // RTM_GETLINK dump request (struct nlmsghdr + struct ifinfomsg).
      const req = Buffer.alloc(32);
      req.writeUInt32LE(32, 0);
      req.writeUInt16LE(18, 4);
      req.writeUInt16LE(0x301, 6);
      req.writeUInt32LE(1, 8);
      s.send(req, { port: 0 }, (err) => err && console.log('send failed', err.code));
    `);
    assert.equal(r.signal, null, r.stderr.slice(0, 1000));
    assert.equal(r.status, 0, r.stderr.slice(0, 1000));
    assert.equal(r.stdout, 'caught: listener failed\n');
  });

  it('netlink sockets carry generic netlink: the IPVS client resolves its family through them', () => {
    const IPVS = new URL('../../src/ipvs/client.js', import.meta.url).href;
    const r = runModule(`
      import { NetlinkRawSocket } from ${JSON.stringify(NETLINK)};
      import { IpvsClient } from ${JSON.stringify(IPVS)};
      const s = new NetlinkRawSocket(16, { recvBufferSize: 65536, sendBufferSize: 65536 });
      const sizes = [s.getRecvBufferSize(), s.getSendBufferSize()];
      s.close();
      let outcome;
      try {
        const c = await IpvsClient.open();
        outcome = 'opened';
        c.close();
      } catch (e) {
        // Without ip_vs the controller answers ENOENT: still a reply over the socket, not a transport error.
        outcome = e.code === 'ENOENT' && /family IPVS not found/.test(e.message) ? 'no ip_vs' : e.stack;
      }
      console.log(JSON.stringify({ sizes, outcome }));
    `);
    assert.equal(r.status, 0, r.stderr.slice(0, 1000));
    const o = JSON.parse(r.stdout);
    assert.ok(
      o.sizes.every((n: number) => n >= 65536),
      `SO_RCVBUF/SO_SNDBUF ${o.sizes}`,
    );
    assert.ok(['opened', 'no ip_vs'].includes(o.outcome), o.outcome);
  });

  it('netlink socket misuse throws JavaScript errors with errno codes', () => {
    const r = runModule(`
      import { NetlinkRawSocket } from ${JSON.stringify(NETLINK)};
      const out = [];
      const s = new NetlinkRawSocket(0);
      const port = s.address().port;
      for (const fn of [
        () => new NetlinkRawSocket(0, { localPort: port }),
        () => new NetlinkRawSocket(99),
        () => s.addMembership(12345),
      ]) {
        try { fn(); out.push('no error'); } catch (e) { out.push(e.code); }
      }
      s.close();
      try { s.address(); } catch (e) { out.push(e.code); }
      console.log(JSON.stringify(out));
    `);
    assert.equal(r.status, 0, r.stderr.slice(0, 1000));
    assert.deepEqual(JSON.parse(r.stdout), ['EADDRINUSE', 'ERR_INVALID_ARG', 'EINVAL', 'EBADF']);
  });
});
