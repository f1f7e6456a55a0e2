/**
 * `halo rs`: the words operators type -> the control socket's `rs` request (src/cli/rs-cmd.ts,
 * src/plan/rs-select.ts), the selector -> the running plan's typed ids with errors that say what exists,
 * and the request over a real control socket: validated by the daemon's zod document, with the peer's
 * kernel credentials recorded as its origin.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRsCommand, renderRsResult, runRs } from '../../src/cli/rs-cmd.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { type ControlHandlers, ControlServer } from '../../src/daemon/control.js';
import type { RsParams, RsResult } from '../../src/daemon/rs-control.js';
import type { RsOrigin } from '../../src/daemon/rs-overrides.js';
import {
  realServerState,
  renderDataText,
  renderStatusText,
  StatusDocumentSchema,
} from '../../src/daemon/status.js';
import { buildPlans } from '../../src/plan/index.js';
import { parseRsArgs, RsSelectError, resolveRealServer } from '../../src/plan/rs-select.js';
import { NOW, sampleStatus } from './daemon-sample.js';

const CONF = `virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.21 80 {
  }
  real_server 10.0.0.21 8080 {
  }
  real_server 10.0.0.22 80 {
  }
}
virtual_server 10.0.0.1 53 {
  protocol UDP
  real_server 10.0.0.31 53 {
  }
}
virtual_server 10.0.0.1 53 {
  protocol TCP
  real_server 10.0.0.31 53 {
  }
}
virtual_server fwmark 7 {
  real_server 10.0.0.41 80 {
  }
}
virtual_server_group web {
  10.0.0.5 443
}
virtual_server group web {
  protocol TCP
  real_server 10.0.0.51 443 {
  }
}
virtual_server 2001:db8::1 80 {
  protocol TCP
  real_server 2001:db8::21 80 {
  }
}
`;

function plan() {
  const r = parseKeepalivedText(CONF, 'x.conf', { hostChecks: 'off' });
  assert.ok(r.config, JSON.stringify(r.diagnostics));
  return buildPlans(r.config, { hostname: 'lb1', username: 'root' }).ipvs.virtualServers;
}

const words = (text: string) => text.split(' ');

describe('halo rs: command line', () => {
  const params = (text: string, env: NodeJS.ProcessEnv = {}) => {
    const o = parseRsCommand(words(text), env);
    assert.notEqual(o, 'help');
    return (o as Exclude<typeof o, 'help'>).params;
  };
  /** The request without `user` (who runs the test). */
  const parse = (text: string) => {
    const { user: _user, ...rest } = params(text);
    return rest;
  };

  it('reads VS and RS as keepalived users write them', () => {
    assert.deepEqual(parse('drain 10.0.0.1:80 10.0.0.21'), {
      action: 'drain',
      virtualServer: { kind: 'address', address: '10.0.0.1', port: 80 },
      realServer: { address: '10.0.0.21' },
    });
    assert.deepEqual(parse('disable 10.0.0.1 80 10.0.0.21 8080'), {
      action: 'disable',
      virtualServer: { kind: 'address', address: '10.0.0.1', port: 80 },
      realServer: { address: '10.0.0.21', port: 8080 },
    });
    assert.deepEqual(parse('enable [2001:db8::1]:80 [2001:db8::21]:80').virtualServer, {
      kind: 'address',
      address: '2001:db8::1',
      port: 80,
    });
    assert.deepEqual(parse('enable 2001:db8::1 80 2001:db8::21').realServer, { address: '2001:db8::21' });
    assert.deepEqual(parse('drain fwmark 7 10.0.0.41').virtualServer, { kind: 'fwmark', fwmark: 7 });
    assert.deepEqual(parse('drain FWM 7 inet6 10.0.0.41').virtualServer, {
      kind: 'fwmark',
      fwmark: 7,
      family: 6,
    });
    assert.deepEqual(parse('weight group web 10.0.0.51 443 5'), {
      action: 'weight',
      virtualServer: { kind: 'group', group: 'web' },
      realServer: { address: '10.0.0.51', port: 443 },
      weight: 5,
    });
  });

  it('reads the names halo status and the logs print', () => {
    assert.deepEqual(parse('drain [10.0.0.1]:udp:53 [10.0.0.31]:udp:53'), {
      action: 'drain',
      virtualServer: { kind: 'address', address: '10.0.0.1', port: 53, protocol: 'udp' },
      realServer: { address: '10.0.0.31', port: 53 },
    });
    assert.deepEqual(parse('drain [web] 10.0.0.51').virtualServer, { kind: 'group', group: 'web' });
    assert.deepEqual(parse('drain --protocol UDP 10.0.0.1:53 10.0.0.31').virtualServer, {
      kind: 'address',
      address: '10.0.0.1',
      port: 53,
      protocol: 'udp',
    });
  });

  it('records who runs it: the sudo user, else the login name', () => {
    assert.equal(params('drain 10.0.0.1:80 10.0.0.21', { SUDO_USER: 'alice' }).user, 'alice');
    assert.equal(typeof params('drain 10.0.0.1:80 10.0.0.21').user, 'string');
  });

  it('refuses what it cannot read, saying what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['', /say what to do/],
      ['explode 10.0.0.1:80 10.0.0.21', /unknown action 'explode'/],
      ['drain', /needs the virtual server and the real server/],
      ['drain 10.0.0.1:80', /missing the real server/],
      ['weight 10.0.0.1:80 10.0.0.21', /'10\.0\.0\.21' is not a weight/],
      ['weight 10.0.0.1:80 10.0.0.21 -1', /'-1' is not a weight/],
      ['weight 10.0.0.1:80 10.0.0.21 2147483648', /not a weight/],
      ['drain 10.0.0.1:99999 10.0.0.21', /'99999' is not a port/],
      ['drain fwmark x 10.0.0.41', /needs a mark/],
      ['drain --protocol icmp 10.0.0.1:53 10.0.0.31', /'icmp' is not a protocol/],
      ['drain --protocol tcp [10.0.0.1]:udp:53 10.0.0.31', /contradicts/],
      ['drain --protocol tcp fwmark 7 10.0.0.41', /does not apply to a fwmark/],
      ['drain 10.0.0.1:80 10.0.0.21:80 10.0.0.22', /unexpected '10\.0\.0\.22'/],
      ['drain --bogus 10.0.0.1:80 10.0.0.21', /unknown option '--bogus'/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseRsCommand(text ? words(text) : [], {}), re, text);
  });

  it('--help', () => {
    assert.equal(parseRsCommand(['drain', '--help'], {}), 'help');
  });
});

describe('halo rs: naming a real server of the running plan', () => {
  const vss = plan();
  const resolve = (text: string, protocol?: string) => {
    const { virtualServer, realServer } = parseRsArgs(words(text), protocol);
    const r = resolveRealServer(vss, virtualServer, realServer);
    return `${r.vs.name} ${r.rs.address}:${r.rs.port}`;
  };

  it('finds the one real server, leaving out what is unambiguous', () => {
    assert.equal(resolve('10.0.0.1:80 10.0.0.22'), '[10.0.0.1]:tcp:80 10.0.0.22:80');
    assert.equal(resolve('10.0.0.1 80 10.0.0.21 8080'), '[10.0.0.1]:tcp:80 10.0.0.21:8080');
    assert.equal(resolve('[10.0.0.1]:udp:53 10.0.0.31'), '[10.0.0.1]:udp:53 10.0.0.31:53');
    assert.equal(resolve('10.0.0.1:53 10.0.0.31', 'tcp'), '[10.0.0.1]:tcp:53 10.0.0.31:53');
    assert.equal(resolve('fwmark 7 10.0.0.41'), 'FWM 7 10.0.0.41:80');
    assert.equal(resolve('group web 10.0.0.51'), '[web] 10.0.0.51:443');
    assert.equal(
      resolve('[2001:DB8:0::1]:80 2001:db8:0:0::21'),
      '[2001:db8::1]:tcp:80 2001:db8::21:80',
      'any spelling of an IPv6 address',
    );
  });

  it('an unknown virtual server: says which exist', () => {
    assert.throws(
      () => resolve('10.0.0.9:80 10.0.0.21'),
      (e: Error) =>
        e instanceof RsSelectError &&
        /^no virtual server 10\.0\.0\.9:80 in the running configuration; it has: \[10\.0\.0\.1\]:tcp:80, \[10\.0\.0\.1\]:udp:53, \[10\.0\.0\.1\]:tcp:53, FWM 7, \[web\] \(tcp\), \[2001:db8::1\]:tcp:80$/.test(
          e.message,
        ),
    );
  });

  it('an unknown real server: says which the virtual server has', () => {
    assert.throws(
      () => resolve('10.0.0.1:80 10.0.0.29'),
      (e: Error) =>
        e instanceof RsSelectError &&
        e.message ===
          'no real server 10.0.0.29 in virtual server [10.0.0.1]:tcp:80; it has: [10.0.0.21]:tcp:80, [10.0.0.21]:tcp:8080, [10.0.0.22]:tcp:80',
    );
  });

  it('ambiguity: asks for the protocol or the port, naming the candidates', () => {
    assert.throws(
      () => resolve('10.0.0.1:53 10.0.0.31'),
      /ambiguous: \[10\.0\.0\.1\]:udp:53, \[10\.0\.0\.1\]:tcp:53; give the protocol/,
    );
    assert.throws(() => resolve('10.0.0.1 10.0.0.21'), /ambiguous: .*; give the port/);
    assert.throws(
      () => resolve('10.0.0.1:80 10.0.0.21'),
      /real server 10\.0\.0\.21 is ambiguous in \[10\.0\.0\.1\]:tcp:80: \[10\.0\.0\.21\]:tcp:80, \[10\.0\.0\.21\]:tcp:8080; give the port/,
    );
  });

  it('not an address', () => {
    assert.throws(
      () => resolve('web.example:80 10.0.0.21'),
      /virtual server: 'web\.example' is not an IP address/,
    );
    assert.throws(() => resolve('10.0.0.1:80 db1'), /real server: 'db1' is not an IP address/);
  });
});

describe('halo rs: over the control socket', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  const seen: { req: RsParams; origin: RsOrigin }[] = [];
  const errors: unknown[] = [];
  const result = (req: RsParams): RsResult => ({
    action: req.action,
    virtualServer: '[10.0.0.1]:tcp:80',
    realServer: '[10.0.0.21]:tcp:80',
    override:
      req.action === 'enable'
        ? null
        : {
            kind: req.action,
            ...(req.weight !== undefined ? { weight: req.weight } : {}),
            origin: seen[seen.length - 1].origin,
            since: seen[seen.length - 1].origin.at,
            connections: { active: 3, inactive: 10 },
          },
    previous: null,
    changed: true,
    ipvsWeight: req.action === 'weight' ? (req.weight ?? 0) : 0,
    state: req.action === 'enable' ? 'up' : 'drained',
    ipvsMode: 'kernel',
    message: `[10.0.0.21]:tcp:80 in VS [10.0.0.1]:tcp:80: ${req.action}`,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-rs-cli-'));
    path = join(dir, 'halo.sock');
    const handlers: ControlHandlers = {
      status: () => sampleStatus(),
      reload: () => ({ applied: true, configFile: 'x', errors: [] }),
      reloadPlan: () => ({ configFile: 'x', valid: true, errors: [] }),
      stop: () => undefined,
      dump: () => ({ files: [] }),
      failover: () => ({ instances: [], unknown: [], maintenance: false }),
      maintenance: () => ({ instances: [], unknown: [], maintenance: false }),
      rs: async (req, origin) => {
        seen.push({ req, origin });
        if (req.realServer.address === '10.0.0.29')
          throw Object.assign(new Error('no real server 10.0.0.29 in virtual server [10.0.0.1]:tcp:80'), {
            expected: true,
          });
        return result(req);
      },
    };
    server = new ControlServer({ path, handlers, onError: (_c, err) => errors.push(err) });
    await server.listen();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: {
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => err.push(s) },
        env: { SUDO_USER: 'alice' },
      },
    };
  };

  it('the CLI sends the request; the daemon records the kernel credentials of the peer as its origin', async () => {
    const c = io();
    const code = await runRs(['drain', '10.0.0.1:80', '10.0.0.21', '--socket', path], c.io);
    assert.equal(code, 0, c.err.join(''));
    const last = seen[seen.length - 1];
    assert.deepEqual(last.req, {
      action: 'drain',
      virtualServer: { kind: 'address', address: '10.0.0.1', port: 80 },
      realServer: { address: '10.0.0.21' },
      user: 'alice',
    });
    // This process is the client: SO_PEERCRED says so.
    assert.equal(last.origin.via, 'control-socket');
    assert.equal(last.origin.pid, process.pid);
    assert.equal(last.origin.uid, process.getuid?.());
    assert.equal(last.origin.user, 'alice');
    assert.ok(last.origin.command && last.origin.command.length > 0, 'the process name from /proc');
    assert.ok(Date.now() - Date.parse(last.origin.at) < 60_000);
    assert.equal(
      c.out.join(''),
      "[10.0.0.21]:tcp:80 in VS [10.0.0.1]:tcp:80: drain\nIPVS connections now: 3 active, 10 inactive ('halo status' follows them as they finish)\nstate: DRAINED\n",
    );
  });

  it('--json prints the validated answer', async () => {
    const c = io();
    assert.equal(
      await runRs(['weight', '10.0.0.1:80', '10.0.0.21', '4', '--json', '--socket', path], c.io),
      0,
    );
    const doc = JSON.parse(c.out.join('')) as RsResult;
    assert.equal(doc.override?.weight, 4);
    assert.equal(doc.ipvsWeight, 4);
  });

  it("the daemon's refusal is printed and exits 1, and is not logged as a daemon error", async () => {
    const c = io();
    const before = errors.length;
    assert.equal(await runRs(['drain', '10.0.0.1:80', '10.0.0.29', '--socket', path], c.io), 1);
    assert.match(
      c.err.join(''),
      /^halo: rs failed: no real server 10\.0\.0\.29 in virtual server \[10\.0\.0\.1\]:tcp:80\n$/,
    );
    assert.equal(errors.length, before);
  });

  it('usage errors exit 2 before anything is sent', async () => {
    const c = io();
    const n = seen.length;
    assert.equal(await runRs(['drain', '10.0.0.1:80', '--socket', path], c.io), 2);
    assert.match(c.err.join(''), /missing the real server/);
    assert.equal(seen.length, n);
  });

  /** One raw request line on its own connection, and the one answer line. */
  function exchange(line: object): Promise<{ ok: boolean; error?: string; result?: RsResult }> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      let buf = '';
      s.on('connect', () => s.write(`${JSON.stringify(line)}\n`));
      s.on('data', (d) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        s.destroy();
        resolve(JSON.parse(buf.slice(0, nl)));
      });
      s.on('error', reject);
    });
  }

  it('arguments are validated by the zod document: unknown fields, missing fields, a stray weight', async () => {
    const vs = { kind: 'address', address: '10.0.0.1', port: 80 };
    const rs = { address: '10.0.0.21' };
    const n = seen.length;
    const requests = [
      { action: 'drain', virtualServer: vs, realServer: rs, force: true },
      { action: 'drain', realServer: rs },
      { action: 'drain', virtualServer: vs, realServer: rs, weight: 3 },
      { action: 'weight', virtualServer: vs, realServer: rs },
      { action: 'weight', virtualServer: vs, realServer: rs, weight: -1 },
      { action: 'drain', virtualServer: { ...vs, kind: 'dns' }, realServer: rs },
      { action: 'drain', virtualServer: vs, realServer: { ...rs, port: 70000 } },
      { action: 'drain', virtualServer: vs, realServer: rs },
    ];
    const answers = [];
    for (const args of requests) answers.push(await exchange({ cmd: 'rs', args, id: 7 }));
    assert.deepEqual(
      answers.map((a) => a.ok),
      [false, false, false, false, false, false, false, true],
    );
    for (const a of answers.slice(0, 7)) assert.match(a.error ?? '', /^bad request: rs arguments: /);
    assert.match(answers[0].error ?? '', /force/);
    assert.match(answers[1].error ?? '', /virtualServer/);
    assert.match(answers[2].error ?? '', /"weight" goes with the action "weight"/);
    assert.match(answers[6].error ?? '', /realServer\.port/);
    assert.equal((await exchange({ cmd: 'rs', id: 1 })).ok, false, 'no arguments at all');
    assert.equal(seen.length, n + 1, 'only the valid request reached the handler');
  });
});

describe('halo rs: the answer for people', () => {
  it('says when there are no counts (dry-run) and when nothing changed', () => {
    const text = renderRsResult({
      action: 'drain',
      virtualServer: '[10.0.0.1]:tcp:80',
      realServer: '[10.0.0.21]:tcp:80',
      override: {
        kind: 'drain',
        origin: { via: 'control-socket', at: '2024-05-01T10:00:00.000Z' },
        since: '2024-05-01T10:00:00.000Z',
        connectionsNote: 'none in dry-run (nothing is programmed)',
      },
      previous: null,
      changed: false,
      ipvsWeight: 0,
      state: 'drained',
      ipvsMode: 'dry-run',
      message:
        '[10.0.0.21]:tcp:80 in VS [10.0.0.1]:tcp:80: already drain; nothing changed (weight 0 in IPVS)',
    });
    assert.equal(
      text,
      '[10.0.0.21]:tcp:80 in VS [10.0.0.1]:tcp:80: already drain; nothing changed (weight 0 in IPVS)\nconnections: none in dry-run (nothing is programmed)\nstate: DRAINED (IPVS: dry-run, nothing programmed)\n',
    );
  });
});

describe('halo status: overrides', () => {
  it('lists each override under its virtual server with who, since when and the connection counts', () => {
    const doc = sampleStatus();
    const [a, b] = doc.virtualServers[0].realServers;
    const origin = {
      via: 'control-socket',
      uid: 0,
      pid: 77,
      command: 'halo',
      user: 'alice',
      at: '2026-11-21T06:55:00.000Z',
    };
    Object.assign(a, {
      state: 'drained',
      effectiveWeight: 0,
      override: { kind: 'drain', origin, since: origin.at, connections: { active: 3, inactive: 12 } },
    });
    Object.assign(b, {
      state: 'disabled',
      override: {
        kind: 'disable',
        origin: { ...origin, user: undefined },
        since: origin.at,
        connectionsNote: 'not in the IPVS table',
      },
    });
    // The document a daemon sends is what the CLI validates.
    const parsed = StatusDocumentSchema.parse(JSON.parse(JSON.stringify(doc)));
    const text = renderStatusText(parsed, NOW);
    assert.match(text, /^ {4}10\.0\.0\.2:80 +DRAINED +0\/1 /m);
    assert.match(text, /^ {4}10\.0\.0\.3:80 +DISABLED /m);
    assert.ok(
      text.includes(
        '    * 10.0.0.2:80 DRAINED by the operator (weight 0: no new connections, open ones finish), 5m00s ago by uid 0 pid 77 (halo) user alice; IPVS connections: 3 active, 12 inactive\n',
      ),
      text,
    );
    assert.ok(
      text.includes(
        '    * 10.0.0.3:80 DISABLED by the operator (out of IPVS), 5m00s ago by uid 0 pid 77 (halo); connections: not in the IPVS table\n',
      ),
      text,
    );
    const data = renderDataText(parsed);
    assert.ok(
      data.includes(
        '     Override = drain since 2026-11-21T06:55:00.000Z by uid 0 pid 77 (halo) user alice\n',
      ),
    );
    assert.ok(data.includes('     Connections = 3 active, 12 inactive\n'));
    assert.equal(
      realServerState({ ...parsed.virtualServers[0].realServers[1], state: undefined }),
      'disabled',
    );
  });
});
