/**
 * IPVS reconciler against the real kernel (runs only inside the VM lane: `npm run test:vm -- ipvs`).
 * The independent oracle is ipvsadm: `ipvsadm -Sn` (and `-Ln --thresholds`, `--daemon`, `--timeout`) is
 * parsed here and compared with the desired state.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ApplyResult, IpvsBackend } from '../../src/ipvs/client.js';
import { IpvsClient } from '../../src/ipvs/client.js';
import type { IpvsOp } from '../../src/ipvs/diff.js';
import { KernelError } from '../../src/ipvs/netlink.js';
import { Reconciler } from '../../src/ipvs/reconciler.js';
import { renderIpvsadm } from '../../src/ipvs/render.js';
import {
  type DestConfig,
  destKeyString,
  type IpvsTable,
  makeDest,
  makeService,
  type ServiceConfig,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  serviceKeyString,
} from '../../src/ipvs/types.js';

const execFileP = promisify(execFile);
const skip = process.env.HALO_IN_VM ? false : 'IPVS kernel test: runs inside the VM (npm run test:vm)';

async function ipvsadm(...args: string[]): Promise<string> {
  return (await execFileP('ipvsadm', args, { maxBuffer: 64 << 20 })).stdout.toString();
}

// ---- the oracle: ipvsadm -Sn parsed independently of src/ipvs ----

interface OracleService {
  scheduler: string;
  persistent?: number;
  mask?: string;
  schedFlags: string[];
  ops: boolean;
  dests: Map<string, { forward: string; weight: number; tun?: string }>;
}

function oracleKey(kind: string, addr: string, v6: boolean): string {
  if (kind === '-f') return `fwm:${v6 ? 6 : 4}:${addr}`;
  const proto = kind === '-t' ? 'tcp' : kind === '-u' ? 'udp' : 'sctp';
  return `${proto}:${addr}`;
}

function parseSave(text: string): Map<string, OracleService> {
  const out = new Map<string, OracleService>();
  for (const line of text.split('\n').filter(Boolean)) {
    const w = line.split(/\s+/);
    const svcKind = w[1];
    const v6 = w.includes('-6');
    const key = oracleKey(svcKind === '--sctp-service' ? '-s' : svcKind, w[2], v6);
    const opt = (name: string) => {
      const i = w.indexOf(name);
      return i >= 0 ? w[i + 1] : undefined;
    };
    if (w[0] === '-A') {
      out.set(key, {
        scheduler: opt('-s') ?? '',
        persistent: opt('-p') !== undefined ? Number(opt('-p')) : undefined,
        mask: opt('-M'),
        schedFlags: (opt('-b') ?? '').split(',').filter(Boolean),
        ops: w.includes('-o'),
        dests: new Map(),
      });
    } else if (w[0] === '-a') {
      const fwd = w.includes('-g') ? 'route' : w.includes('-i') ? 'tunnel' : w.includes('-m') ? 'masq' : '?';
      const tun =
        fwd === 'tunnel'
          ? [opt('--tun-type') ?? 'ipip', opt('--tun-port') ?? '', w.includes('--tun-csum') ? 'csum' : '']
              .filter(Boolean)
              .join('/')
          : undefined;
      out.get(key)?.dests.set(opt('-r') ?? '', { forward: fwd, weight: Number(opt('-w')), tun });
    }
  }
  return out;
}

/** The same shape derived from a desired table, written by hand from ipvsadm's conventions. */
function expectedOracle(t: IpvsTable): Map<string, OracleService> {
  const out = new Map<string, OracleService>();
  for (const { service: s, dests } of t.services) {
    const addr = s.fwmark
      ? String(s.fwmark)
      : s.family === 6
        ? `[${s.address}]:${s.port}`
        : `${s.address}:${s.port}`;
    const key = s.fwmark ? `fwm:${s.family}:${s.fwmark}` : `${s.protocol}:${addr}`;
    const named = s.scheduler === 'sh' || s.scheduler === 'mh';
    const schedFlags = [];
    if (s.flags & SVC_F_SCHED1) schedFlags.push(named ? `${s.scheduler}-fallback` : 'flag-1');
    if (s.flags & SVC_F_SCHED2) schedFlags.push(named ? `${s.scheduler}-port` : 'flag-2');
    const persistent = s.flags & SVC_F_PERSISTENT ? s.timeout : undefined;
    let mask: string | undefined;
    if (persistent !== undefined && s.family === 4 && s.netmask !== 32) {
      const m = (0xffffffff << (32 - s.netmask)) >>> 0;
      mask = [24, 16, 8, 0].map((sh) => (m >>> sh) & 255).join('.');
    }
    if (persistent !== undefined && s.family === 6 && s.netmask !== 128) mask = String(s.netmask);
    out.set(key, {
      scheduler: s.scheduler,
      persistent,
      mask,
      schedFlags,
      ops: (s.flags & SVC_F_ONEPACKET) !== 0,
      dests: new Map(
        dests.map((d) => [
          destKeyString(d),
          {
            forward: d.forward,
            weight: d.weight,
            tun:
              d.forward === 'tunnel'
                ? [
                    d.tunnelType,
                    d.tunnelType === 'gue' ? String(d.tunnelPort) : '',
                    d.tunnelFlags & 1 ? 'csum' : '',
                  ]
                    .filter(Boolean)
                    .join('/')
                : undefined,
          },
        ]),
      ),
    });
  }
  return out;
}

async function assertKernelEquals(desired: IpvsTable, extraForeign: string[] = []) {
  const actual = parseSave(await ipvsadm('-Sn'));
  for (const k of extraForeign) actual.delete(k);
  assert.deepEqual(actual, expectedOracle(desired));
}

/** Backend wrapper that records the ops the reconciler sends. */
class Recording implements IpvsBackend {
  log: IpvsOp[] = [];
  constructor(private readonly inner: IpvsClient) {}
  dumpTable() {
    return this.inner.dumpTable();
  }
  apply(ops: IpvsOp[]): Promise<ApplyResult> {
    this.log.push(...ops);
    return this.inner.apply(ops);
  }
}

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'];

describe('IPVS reconciler in the kernel', { skip }, () => {
  let client: IpvsClient;
  before(async () => {
    await ipvsadm('-C');
    client = await IpvsClient.open();
  });
  after(async () => {
    client?.close();
    await ipvsadm('-C');
  });

  it('reads kernel info and timeouts; sets timeouts (ipvsadm --timeout agrees)', async () => {
    const info = await client.getInfo();
    assert.match(await ipvsadm('-Ln'), new RegExp(`size=${info.connTableSize}\\)`));
    await client.setTimeouts({ tcp: 1000, tcpFin: 100, udp: 200 });
    assert.deepEqual(await client.getTimeouts(), { tcp: 1000, tcpFin: 100, udp: 200 });
    assert.match(await ipvsadm('-L', '--timeout'), /Timeout \(tcp tcpfin udp\): 1000 100 200/);
  });

  it('every scheduler, NAT/DR/TUN, fwmark, IPv6, persistence, scheduler flags, ops', async () => {
    const services: IpvsTable['services'] = SCHEDULERS.map((s, i) => ({
      service: makeService({ address: '10.0.1.1', port: 1000 + i, scheduler: s }),
      dests: [
        makeDest({ address: '10.1.0.1', port: 80, forward: 'masq', weight: 1 + i }),
        makeDest({ address: '10.1.0.2', port: 80, forward: 'route', weight: 0 }),
      ],
    }));
    services.push(
      {
        service: makeService({
          address: '10.0.2.1',
          port: 443,
          scheduler: 'sh',
          flags: SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2,
          timeout: 300,
          netmask: 24,
        }),
        dests: [
          makeDest({
            address: '10.1.0.3',
            port: 443,
            forward: 'tunnel',
            tunnelType: 'gue',
            tunnelPort: 6080,
            tunnelFlags: 1,
          }),
          makeDest({ address: '10.1.0.4', port: 443, forward: 'tunnel', tunnelType: 'gre' }),
          makeDest({ address: '10.1.0.5', port: 443, forward: 'tunnel' }),
        ],
      },
      {
        service: makeService({
          family: 6,
          address: '::',
          port: 0,
          fwmark: 7,
          scheduler: 'mh',
          flags: SVC_F_SCHED1 | SVC_F_ONEPACKET,
        }),
        dests: [makeDest({ address: '2001:db8::a', port: 0, forward: 'route', weight: 4 })],
      },
      {
        service: makeService({ address: '0.0.0.0', port: 0, fwmark: 8, scheduler: 'rr' }),
        dests: [makeDest({ address: '10.1.0.6', port: 0, forward: 'route' })],
      },
      {
        service: makeService({
          address: '2001:db8::1',
          port: 53,
          protocol: 'udp',
          scheduler: 'wrr',
          flags: SVC_F_PERSISTENT,
          timeout: 60,
          netmask: 64,
        }),
        dests: [
          makeDest({ address: '2001:db8::b', port: 53, forward: 'masq', weight: 2 }),
          makeDest({ address: '10.1.0.7', port: 53, forward: 'tunnel' }),
        ],
      },
      {
        service: makeService({ address: '10.0.3.1', port: 5000, protocol: 'sctp', scheduler: 'rr' }),
        dests: [makeDest({ address: '10.1.0.8', port: 5000 })],
      },
    );
    const desired: IpvsTable = { services };
    const backend = new Recording(client);
    const r = new Reconciler({ backend, intervalMs: 0 });
    const rep = await r.setDesired(desired);
    assert.deepEqual(rep.failures, []);
    await assertKernelEquals(desired);
    // thresholds are not in -Sn: check them through -Ln --thresholds
    const withThresh: IpvsTable = {
      services: [
        {
          service: services[0].service,
          dests: [{ ...services[0].dests[0], upperThreshold: 100, lowerThreshold: 10 }, services[0].dests[1]],
        },
        ...services.slice(1),
      ],
    };
    await r.setDesired(withThresh);
    assert.match(await ipvsadm('-Ln', '--thresholds'), /-> 10\.1\.0\.1:80\s+100\s+10\s/);
    // and a no-op pass sends nothing
    backend.log = [];
    assert.deepEqual((await r.reconcileNow()).ops, []);
    assert.deepEqual(backend.log, []);
    // halo's ipvsadm -Ln rendering is byte-identical to ipvsadm's
    const rendered = renderIpvsadm(await client.getInfo(), await client.dumpTable());
    assert.equal(rendered, await ipvsadm('-Ln'));
  });

  it('edits in place: scheduler/flags/timeout and weight/forwarding never delete', async () => {
    await ipvsadm('-C');
    const svc = makeService({ address: '10.0.4.1', port: 80, scheduler: 'rr' });
    const d1 = makeDest({ address: '10.1.1.1', port: 80 });
    const d2 = makeDest({ address: '10.1.1.2', port: 80 });
    const backend = new Recording(client);
    const r = new Reconciler({ backend, intervalMs: 0 });
    await r.setDesired({ services: [{ service: svc, dests: [d1, d2] }] });
    backend.log = [];
    const edited: IpvsTable = {
      services: [
        {
          service: { ...svc, scheduler: 'wlc', flags: SVC_F_PERSISTENT, timeout: 120, netmask: 16 },
          dests: [{ ...d1, weight: 9, forward: 'route' }, d2],
        },
      ],
    };
    const rep = await r.setDesired(edited);
    assert.deepEqual(rep.failures, []);
    assert.deepEqual(
      backend.log.map((o) => o.kind),
      ['edit-service', 'edit-dest'],
    );
    await assertKernelEquals(edited);
  });

  it('repairs drift: ipvsadm -C, a deleted destination, a changed weight; foreign services untouched', async () => {
    await ipvsadm('-C');
    await ipvsadm('-A', '-t', '10.9.9.9:80', '-s', 'rr'); // not halo's
    const desired: IpvsTable = {
      services: [
        {
          service: makeService({ address: '10.0.5.1', port: 80, scheduler: 'wlc' }),
          dests: [1, 2, 3].map((n) => makeDest({ address: `10.1.2.${n}`, port: 80, weight: n })),
        },
      ],
    };
    const r = new Reconciler({ backend: client, intervalMs: 100 });
    await r.setDesired(desired);
    const drifts: { repaired: string[] }[] = [];
    r.on('drift', (d) => drifts.push(d));
    r.start();
    // The reconciler's timer and the netlink socket do not keep a process alive on their own (a daemon
    // has other handles); this test has none while it waits for drift events.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      const nextDrift = () => new Promise<{ repaired: string[] }>((res) => r.once('drift', res));
      let wait = nextDrift();
      await ipvsadm('-d', '-t', '10.0.5.1:80', '-r', '10.1.2.2:80');
      await ipvsadm('-e', '-t', '10.0.5.1:80', '-r', '10.1.2.3:80', '-m', '-w', '50');
      let d = await wait;
      // both changes may land in one pass or two
      const repaired = [...d.repaired];
      if (repaired.length < 2) repaired.push(...(await nextDrift()).repaired);
      assert.deepEqual(repaired.sort(), [
        'add 10.1.2.2:80 to tcp:10.0.5.1:80 (weight 2, masq)',
        'edit 10.1.2.3:80 in tcp:10.0.5.1:80 (weight)',
      ]);
      await assertKernelEquals(desired, ['tcp:10.9.9.9:80']);

      wait = nextDrift();
      await ipvsadm('-C');
      // A pass may race the flush (dump before, apply after): its ops then fail (ESRCH) and are reported;
      // a following pass repairs. Wait for the pass that re-adds the service.
      d = await wait;
      for (let i = 0; i < 5 && !d.repaired.includes('add service tcp:10.0.5.1:80 (wlc)'); i++)
        d = await nextDrift();
      assert.ok(d.repaired.includes('add service tcp:10.0.5.1:80 (wlc)'), d.repaired.join('; '));
      assert.deepEqual((await r.reconcileNow()).ops, [], 'repaired in full');
      await assertKernelEquals(desired);
      assert.doesNotMatch(await ipvsadm('-Sn'), /10\.9\.9\.9/, 'the foreign service is not restored');
    } finally {
      r.stop();
      clearInterval(keepAlive);
    }
    assert.ok(drifts.length >= 2);
  });

  it('reload without flaps: unchanged destinations keep their kernel entry and connections', async () => {
    await ipvsadm('-C');
    spawnSync('ip', ['link', 'add', 'hvipvs0', 'type', 'dummy']);
    spawnSync('ip', ['link', 'set', 'hvipvs0', 'up']);
    spawnSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'hvipvs0']);
    const svc = makeService({ address: '10.77.0.100', port: 9000, protocol: 'udp', scheduler: 'rr' });
    const keep = makeDest({ address: '10.77.0.5', port: 9000 });
    const backend = new Recording(client);
    const r = new Reconciler({ backend, intervalMs: 0 });
    await r.setDesired({ services: [{ service: svc, dests: [keep] }] });
    // A locally sent datagram to the VIP is scheduled by IPVS (LOCAL_OUT): one connection on `keep`.
    const sock = createSocket('udp4');
    await new Promise<void>((res, rej) => sock.send('x', 9000, '10.77.0.100', (e) => (e ? rej(e) : res())));
    sock.close();
    // Counters reach the dump when the kernel's estimator folds the per-CPU stats (every 2 s): poll briefly.
    let connsBefore = 0n;
    for (let i = 0; i < 40 && connsBefore === 0n; i++) {
      connsBefore = (await client.dumpTable())[0].dests[0].stats?.conns ?? 0n;
      if (connsBefore === 0n) await new Promise((res) => setTimeout(res, 250));
    }
    backend.log = [];
    const added = makeDest({ address: '10.77.0.6', port: 9000, weight: 3 });
    const rep = await r.setDesired({
      services: [{ service: { ...svc, scheduler: 'wrr' }, dests: [keep, added] }],
    });
    assert.deepEqual(rep.failures, []);
    assert.deepEqual(
      backend.log.map((o) => o.kind),
      ['edit-service', 'add-dest'],
      'no delete: the unchanged destination keeps its entry',
    );
    const after = await client.dumpTable();
    const kept = after[0].dests.find((d) => d.address === keep.address);
    assert.ok(kept, 'the unchanged destination is still there');
    assert.equal(kept.stats?.conns, connsBefore, 'its counters were not reset');
    assert.ok(connsBefore >= 1n, 'the datagram to the VIP was scheduled by IPVS');
    assert.match(
      await ipvsadm('-Ln'),
      /-> 10\.77\.0\.5:9000\s+Masq\s+1\s+0\s+1/,
      'its connection entry is still there',
    );
    spawnSync('ip', ['link', 'del', 'hvipvs0']);
  });

  it('starts, lists and stops the sync daemon (ipvsadm --daemon agrees)', async () => {
    spawnSync('ip', ['link', 'add', 'hvsync0', 'type', 'veth', 'peer', 'name', 'hvsync1']);
    spawnSync('ip', ['link', 'set', 'hvsync0', 'up']);
    spawnSync('ip', ['link', 'set', 'hvsync1', 'up']);
    try {
      await client.startDaemon({ state: 'master', mcastIfname: 'hvsync0', syncId: 5 });
      await client.startDaemon({
        state: 'backup',
        mcastIfname: 'hvsync1',
        syncId: 7,
        syncMaxLen: 1400,
        mcastGroup: '224.0.0.82',
        mcastPort: 8850,
        mcastTtl: 2,
      });
      const daemons = await client.listDaemons();
      const master = daemons.find((d) => d.state === 'master');
      const backup = daemons.find((d) => d.state === 'backup');
      assert.equal(master?.mcastIfname, 'hvsync0');
      assert.equal(master?.syncId, 5);
      assert.deepEqual(
        [
          backup?.mcastIfname,
          backup?.syncId,
          backup?.syncMaxLen,
          backup?.mcastGroup,
          backup?.mcastPort,
          backup?.mcastTtl,
        ],
        ['hvsync1', 7, 1400, '224.0.0.82', 8850, 2],
      );
      const text = await ipvsadm('-L', '--daemon');
      assert.match(text, /master sync daemon \(mcast=hvsync0, syncid=5/);
      assert.match(text, /backup sync daemon \(mcast=hvsync1, syncid=7/);
      await client.stopDaemon('master');
      await client.stopDaemon('backup');
      assert.deepEqual(await client.listDaemons(), []);
      assert.equal((await ipvsadm('-L', '--daemon')).trim(), '');
    } finally {
      spawnSync('ip', ['link', 'del', 'hvsync0']);
    }
  });

  it('kernel refusals come back as typed errno errors', async () => {
    await ipvsadm('-C');
    const svc = makeService({ address: '10.0.6.1', port: 80 });
    const d: DestConfig = makeDest({ address: '10.1.3.1', port: 80 });
    const res = await client.apply([
      { kind: 'add-service', service: svc },
      { kind: 'add-service', service: svc },
      { kind: 'delete-dest', service: svc, dest: d },
      { kind: 'delete-service', service: makeService({ address: '10.0.6.2', port: 80 }) },
      { kind: 'add-dest', service: svc, dest: d },
    ]);
    assert.deepEqual(
      res.failures.map((f) => [f.op.kind, (f.error as KernelError).code]),
      [
        ['add-service', 'EEXIST'],
        ['delete-dest', 'ENOENT'],
        ['delete-service', 'ESRCH'],
      ],
    );
    assert.ok(res.failures.every((f) => f.error instanceof KernelError));
    assert.match(
      await ipvsadm('-Sn'),
      /-a -t 10\.0\.6\.1:80 -r 10\.1\.3\.1:80 -m -w 1/,
      'the good ops still applied',
    );
  });

  it('halo ipvs list -f CONFIG: ipvsadm layout plus ownership and reasons', async () => {
    await ipvsadm('-C');
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/halo-ipvs-');
    const conf = `${dir}/keepalived.conf`;
    await writeFile(
      conf,
      [
        'virtual_server 10.0.7.1 80 {',
        '  lb_algo rr',
        '  lb_kind NAT',
        '  protocol TCP',
        '  real_server 10.1.7.1 80 {',
        '    weight 2',
        '    TCP_CHECK {',
        '      connect_timeout 3',
        '    }',
        '  }',
        '  real_server 10.1.7.2 80 {',
        '    weight 1',
        '    TCP_CHECK {',
        '      connect_timeout 3',
        '      alpha',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    // kernel: the configured service with its first server, plus a foreign service
    await ipvsadm('-A', '-t', '10.0.7.1:80', '-s', 'rr');
    await ipvsadm('-a', '-t', '10.0.7.1:80', '-r', '10.1.7.1:80', '-m', '-w', '2');
    await ipvsadm('-A', '-u', '10.0.7.9:53', '-s', 'wlc');
    const cli = (...args: string[]) =>
      execFileP(process.execPath, [
        new URL('../../src/cli/main.js', import.meta.url).pathname,
        'ipvs',
        'list',
        ...args,
      ]);
    // (each node start costs ~20 s under TCG: two invocations; --plain is the annotated text stripped)
    const annotated = (await cli('-f', conf)).stdout.toString();
    assert.equal(annotated.replace(/ {2}# .*$/gm, '').replace(/^ {2}-- .*\n/gm, ''), await ipvsadm('-Ln'));
    assert.match(annotated, /^TCP {2}10\.0\.7\.1:80 rr {2}# halo: owned/m);
    assert.match(annotated, /^UDP {2}10\.0\.7\.9:53 wlc {2}# not halo$/m);
    assert.match(annotated, /-- 10\.1\.7\.2:80 +out +# halo: out: not checked yet \(alpha: starts down\)/);
    const doc = JSON.parse((await cli('-f', conf, '--json')).stdout.toString());
    assert.deepEqual(doc.services.map((s: { key: string; owned: boolean }) => [s.key, s.owned]).sort(), [
      ['tcp:10.0.7.1:80', true],
      ['udp:10.0.7.9:53', false],
    ]);
  });

  it('keys match between the oracle and halo for IPv6 spellings', () => {
    const s: ServiceConfig = makeService({ address: '2001:db8::1', port: 53, protocol: 'udp' });
    assert.equal(serviceKeyString(s), 'udp:[2001:db8::1]:53');
  });
});
