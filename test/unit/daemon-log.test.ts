import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createLogger,
  formatPretty,
  formatService,
  type LoggerOptions,
  parseLogArgs,
  RateLimiter,
} from '../../src/daemon/log.js';

const T0 = Date.parse('2026-11-21T05:00:00.123Z');

function capture(opts: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  let now = T0;
  const log = createLogger({
    destination: { write: (s: string) => lines.push(...s.split('\n').filter(Boolean)) },
    now: () => now,
    autoFlush: false,
    ...opts,
  });
  return {
    log,
    lines,
    json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    advance: (ms: number) => {
      now += ms;
      return now;
    },
  };
}

describe('RateLimiter', () => {
  it('lets the first burst through per window, then summarises the rest when the window ends', () => {
    const rl = new RateLimiter({ windowMs: 1000, burst: 3 });
    const admitted = [];
    for (let t = 0; t < 10; t++) admitted.push(rl.admit('check.attempt_failed', 'rs1', t).admitted);
    assert.deepEqual(admitted, [true, true, true, false, false, false, false, false, false, false]);
    assert.equal(rl.nextDeadline(), 1000);
    assert.deepEqual(rl.expire(999), []);
    const [s, ...more] = rl.expire(1000);
    assert.equal(more.length, 0);
    assert.equal(s.suppressed, 7);
    assert.equal(s.key, 'rs1');
    assert.equal(s.windowStart, 0);
    assert.equal(s.windowEnd, 1000);
    // a new window opens with a fresh burst
    assert.equal(rl.admit('check.attempt_failed', 'rs1', 1001).admitted, true);
    assert.equal(rl.nextDeadline(), undefined);
  });

  it('keys are independent and admit() returns summaries of ended windows first', () => {
    const rl = new RateLimiter({ windowMs: 100, burst: 1 });
    rl.admit('e', 'a', 0);
    assert.equal(rl.admit('e', 'a', 1).admitted, false);
    assert.equal(rl.admit('e', 'b', 2).admitted, true);
    assert.equal(rl.admit('other', 'a', 3).admitted, true);
    const r = rl.admit('e', 'b', 150);
    assert.equal(r.admitted, true);
    assert.deepEqual(
      r.summaries.map((s) => [s.event, s.key, s.suppressed]),
      [['e', 'a', 1]],
    );
  });

  it('collapses new keys into one bucket per event once maxKeys is reached', () => {
    const rl = new RateLimiter({ windowMs: 100, burst: 1, maxKeys: 2 });
    rl.admit('e', 'k1', 0);
    rl.admit('e', 'k2', 0);
    assert.equal(rl.admit('e', 'k3', 0).admitted, true); // first in the shared '*' bucket
    assert.equal(rl.admit('e', 'k4', 0).admitted, false);
    assert.equal(rl.size, 3);
    assert.deepEqual(
      rl.drain(50).map((s) => [s.key, s.suppressed]),
      [['*', 1]],
    );
    assert.equal(rl.size, 0);
  });

  it('never loses a message: admitted + summarised = offered, at most burst admitted per window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 400 })), {
          maxLength: 200,
        }),
        fc.integer({ min: 1, max: 5 }),
        (events, burst) => {
          const rl = new RateLimiter({ windowMs: 1000, burst });
          let now = 0;
          let admitted = 0;
          let summarised = 0;
          const perWindow = new Map<string, { start: number; n: number }>();
          for (const [key, dt] of events) {
            now += dt;
            const r = rl.admit('e', key, now);
            for (const s of r.summaries) summarised += s.suppressed;
            const w = perWindow.get(key);
            if (!w || now >= w.start + 1000) perWindow.set(key, { start: now, n: 0 });
            if (r.admitted) {
              admitted++;
              const cur = perWindow.get(key)!;
              cur.n++;
              if (cur.n > burst) return false;
            }
          }
          for (const s of rl.drain(now)) summarised += s.suppressed;
          return admitted + summarised === events.length;
        },
      ),
    );
  });
});

describe('HaloLogger JSON lines', () => {
  it('writes a VRRP transition with its event name, typed fields and keepalived words', () => {
    const c = capture();
    c.log.vrrpTransition({ instance: 'VI_1', from: 'INIT', to: 'BACKUP', reason: 'init', priority: 100 });
    c.log.vrrpTransition({
      instance: 'VI_1',
      from: 'BACKUP',
      to: 'MASTER',
      reason: 'master_down_timer',
      priority: 100,
      masterAddress: '10.0.0.1',
    });
    c.log.vrrpTransition({ instance: 'VI_1', from: 'MASTER', to: 'FAULT', reason: 'link_down', priority: 0 });
    const [a, b, f] = c.json();
    assert.equal(a.event, 'vrrp.transition');
    assert.equal(a.msg, '(VI_1) Entering BACKUP STATE (init)');
    assert.equal(a.level, 'info');
    assert.equal(a.time, '2026-11-21T05:00:00.123Z');
    assert.equal(a.masterAddress, null);
    assert.equal(b.msg, '(VI_1) Entering MASTER STATE');
    assert.deepEqual(
      [b.instance, b.from, b.to, b.reason, b.priority, b.masterAddress],
      ['VI_1', 'BACKUP', 'MASTER', 'master_down_timer', 100, '10.0.0.1'],
    );
    assert.equal(f.msg, '(VI_1) Entering FAULT STATE');
    assert.equal(f.level, 'warn');
    assert.equal(typeof a.pid, 'number');
  });

  it('real server up/down and IPVS changes use the checker and ipwrapper words', () => {
    const c = capture();
    const vs = { address: '10.0.0.100', port: 80 };
    const rs = { address: '10.0.0.2', port: 80 };
    c.log.checkServerUp({ virtualServer: vs, realServer: rs, checker: 'TCP_CHECK', reason: 'connected' });
    c.log.checkServerDown({
      virtualServer: vs,
      realServer: rs,
      checker: 'TCP_CHECK',
      reason: 'ECONNREFUSED',
    });
    c.log.checkServerDown({
      virtualServer: vs,
      realServer: rs,
      checker: 'HTTP_GET',
      reason: 'status 500',
      retries: 3,
    });
    c.log.ipvsChange({ op: 'remove-dest', service: vs, dest: rs });
    c.log.ipvsChange({ op: 'add-dest', service: vs, dest: rs, weight: 1 });
    const [up, down, httpDown, rm, add] = c.json();
    assert.equal(up.event, 'check.server_up');
    assert.equal(up.msg, 'TCP connection to [10.0.0.2]:tcp:80 success.');
    assert.equal(up.virtualServer, '[10.0.0.100]:tcp:80');
    assert.equal(up.realServer, '[10.0.0.2]:tcp:80');
    assert.equal(up.checker, 'TCP_CHECK');
    assert.equal(down.event, 'check.server_down');
    assert.equal(down.msg, 'TCP connection to [10.0.0.2]:tcp:80 failed.');
    assert.equal(down.reason, 'ECONNREFUSED');
    assert.equal(httpDown.msg, 'Check on service [10.0.0.2]:tcp:80 failed after 3 retries.');
    assert.equal(rm.event, 'ipvs.change');
    assert.equal(rm.op, 'remove-dest');
    assert.equal(rm.msg, 'Removing service [10.0.0.2]:tcp:80 from VS [10.0.0.100]:tcp:80');
    assert.equal(add.msg, 'Adding service [10.0.0.2]:tcp:80 to VS [10.0.0.100]:tcp:80');
    assert.equal(add.service, '[10.0.0.100]:tcp:80');
    assert.equal(add.dest, '[10.0.0.2]:tcp:80');
  });

  it('daemon.start has one pid, says dry-run, and an expected refusal is one line without a stack', () => {
    const c = capture();
    c.log.daemonStart({ version: '0.1.0', configFile: '/etc/halo/halo.conf', ipvs: 'dry-run' });
    c.log.daemonStartRefused({
      reason: 'halo is already running (pid 42 holds /run/halo/halo.pid)',
      cause: 'already-running',
    });
    assert.equal(c.lines[0].match(/"pid":/g)?.length, 1, c.lines[0]);
    const [start, refused] = c.json();
    assert.equal(start.pid, process.pid);
    assert.equal(start.ipvs, 'dry-run');
    assert.equal(start.msg, 'Starting halo v0.1.0 (IPVS: dry-run, nothing programmed)');
    assert.equal(refused.event, 'daemon.start_refused');
    assert.equal(refused.level, 'error');
    assert.equal(refused.msg, 'Not starting: halo is already running (pid 42 holds /run/halo/halo.pid)');
    assert.equal(refused.err, undefined);
    assert.doesNotMatch(c.lines[1], /\bat .*\.js:\d+/, 'no stack trace');
  });

  it('IPVS updates say what changed; dry-run changes say nothing was programmed', () => {
    const c = capture();
    const service = { address: '10.0.0.100', port: 80, protocol: 'tcp' as const };
    const dest = { address: '10.0.0.2', port: 80, protocol: 'tcp' as const };
    c.log.ipvsChange({ op: 'update-service', service, changes: ['scheduler rr -> wlc'] });
    c.log.ipvsChange({ op: 'update-dest', service, dest, weight: 3, changes: ['weight 1 -> 3'] });
    c.log.ipvsChange({ op: 'update-dest', service, dest, weight: 3, changes: ['forward route -> masq'] });
    c.log.ipvsChange({ op: 'add-dest', service, dest, weight: 1, dryRun: true });
    assert.deepEqual(
      c.json().map((o) => o.msg),
      [
        'Updating virtual server [10.0.0.100]:tcp:80: scheduler rr -> wlc',
        'Changing weight to 3 for service [10.0.0.2]:tcp:80 in VS [10.0.0.100]:tcp:80',
        'Updating service [10.0.0.2]:tcp:80 in VS [10.0.0.100]:tcp:80 (forward route -> masq)',
        'Adding service [10.0.0.2]:tcp:80 to VS [10.0.0.100]:tcp:80 (dry-run: not programmed)',
      ],
    );
    assert.equal(c.json()[3].dryRun, true);
  });

  it('reloads, scripts and daemon lifecycle', () => {
    const c = capture({ level: 'debug' });
    c.log.daemonStart({ version: '0.1.0', configFile: '/etc/halo/halo.conf' });
    c.log.configReloadStarted({ configFile: '/etc/halo/halo.conf' });
    c.log.configReloaded({ configFile: '/etc/halo/halo.conf', durationMs: 12 });
    c.log.configReloadRejected({ configFile: '/etc/halo/halo.conf', errors: ['x:1:1: error: bad'] });
    c.log.scriptExit({ script: 'chk_nginx', purpose: 'vrrp_script', exitCode: 0, durationMs: 5 });
    c.log.scriptExit({ script: 'chk_nginx', purpose: 'vrrp_script', exitCode: 1, durationMs: 5 });
    c.log.scriptExit({ script: 'slow', purpose: 'check', exitCode: null, timedOut: true, durationMs: 3000 });
    c.log.configWarning({
      configFile: '/etc/halo/halo.conf',
      diagnostic: '/etc/halo/halo.conf:3:5: warning: x',
    });
    c.log.daemonStop({ reason: 'SIGTERM' });
    const got = c.json().map((o) => [o.event, o.level, o.msg]);
    assert.deepEqual(got, [
      ['daemon.start', 'info', 'Starting halo v0.1.0'],
      ['config.reload_started', 'info', 'Reloading'],
      ['config.reloaded', 'info', 'Reloaded configuration from /etc/halo/halo.conf'],
      [
        'config.reload_rejected',
        'error',
        'Reload rejected: /etc/halo/halo.conf has 1 error; keeping the running configuration',
      ],
      ['script.exit', 'debug', 'Script `chk_nginx` exited with status 0'],
      ['script.exit', 'warn', 'Script `chk_nginx` exited with status 1'],
      ['script.exit', 'warn', 'Script `slow` timed out after 3000 ms'],
      ['config.warning', 'warn', '/etc/halo/halo.conf:3:5: warning: x'],
      ['daemon.stop', 'info', 'Stopping'],
    ]);
    const rejected = c.json()[3];
    assert.deepEqual(rejected.errors, ['x:1:1: error: bad']);
    const exit1 = c.json()[5];
    assert.deepEqual(
      [exit1.exitCode, exit1.signal, exit1.timedOut, exit1.purpose],
      [1, null, false, 'vrrp_script'],
    );
  });

  it('rate-limits repeated failures and writes one summary line when the window ends', () => {
    const c = capture({ rateLimit: { windowMs: 10_000, burst: 2 } });
    const f = {
      virtualServer: { address: '10.0.0.100', port: 80 },
      realServer: { address: '10.0.0.3', port: 80 },
      checker: 'TCP_CHECK' as const,
      reason: 'timeout',
    };
    for (let i = 1; i <= 6; i++) {
      c.log.checkAttemptFailed({ ...f, attempt: i });
      c.advance(1000);
    }
    // a state change is never rate-limited, even in the middle of a flood
    c.log.checkServerDown(f);
    assert.deepEqual(
      c.json().map((o) => o.event),
      ['check.attempt_failed', 'check.attempt_failed', 'check.server_down'],
    );
    c.log.flushSuppressed(T0 + 9_999);
    assert.equal(c.lines.length, 3);
    c.log.flushSuppressed(T0 + 10_000);
    const summary = c.json()[3];
    assert.equal(summary.event, 'log.suppressed');
    assert.equal(summary.suppressedEvent, 'check.attempt_failed');
    assert.equal(summary.suppressed, 4);
    assert.match(String(summary.msg), /^suppressed 4 similar messages \(check\.attempt_failed /);
  });

  it('flushes open windows on close()', () => {
    const c = capture({ rateLimit: { windowMs: 60_000, burst: 1 } });
    for (let i = 0; i < 3; i++)
      c.log.vrrpAdvertDropped({ instance: 'VI_1', reason: 'bad_checksum', source: '10.0.0.9' });
    c.log.close();
    const objs = c.json();
    assert.equal(objs.length, 2);
    assert.equal(objs[0].msg, '(VI_1) dropped advert from 10.0.0.9: bad_checksum');
    assert.equal(objs[1].suppressed, 2);
  });

  it('respects the level: debug events are not written at info', () => {
    const c = capture({ level: 'info' });
    c.log.scriptExit({ script: 'ok', purpose: 'check', exitCode: 0, durationMs: 1 });
    assert.equal(c.lines.length, 0);
    c.log.setLevel('debug');
    c.log.scriptExit({ script: 'ok', purpose: 'check', exitCode: 0, durationMs: 1 });
    assert.equal(c.lines.length, 1);
  });

  it('serialises errors with message and stack', () => {
    const c = capture();
    const err = Object.assign(new Error('EADDRINUSE 127.0.0.1:9650'), { code: 'EADDRINUSE' });
    c.log.daemonError({ context: 'metrics', err });
    const [o] = c.json();
    assert.equal(o.event, 'daemon.error');
    const e = o.err as { message: string; code: string; stack: string };
    assert.equal(e.message, 'EADDRINUSE 127.0.0.1:9650');
    assert.equal(e.code, 'EADDRINUSE');
    assert.match(e.stack, /daemon-log\.test/);
  });
});

describe('pretty format', () => {
  it('formats one line for people, not repeating fields spelled out in the message', () => {
    const line = formatPretty({
      level: 'info',
      time: '2026-11-21T05:00:00.123Z',
      pid: 42,
      hostname: 'lb1',
      event: 'vrrp.transition',
      instance: 'VI_1',
      from: 'BACKUP',
      to: 'MASTER',
      reason: 'master_down_timer',
      priority: 150,
      masterAddress: '10.0.0.1',
      msg: '(VI_1) Entering MASTER STATE',
    });
    assert.equal(
      line,
      '2026-11-21T05:00:00.123Z INFO  vrrp (VI_1) Entering MASTER STATE  from=BACKUP reason=master_down_timer priority=150 masterAddress=10.0.0.1',
    );
  });

  it('hides only whole-token repeats of the message', () => {
    const line = formatPretty({
      level: 'error',
      time: T0,
      event: 'ipvs.error',
      msg: 'IPVS sync failed: error',
      x: 'rr',
      y: 'sync',
    });
    assert.equal(line, '2026-11-21T05:00:00.123Z ERROR ipvs IPVS sync failed: error  x=rr');
  });

  it('quotes values with spaces, prints arrays as JSON and numeric levels/times', () => {
    const line = formatPretty({ level: 40, time: T0, event: 'x.y', msg: 'm', why: 'a b', list: ['1', '2'] });
    assert.equal(line, '2026-11-21T05:00:00.123Z WARN  x m  why="a b" list=["1","2"]');
  });

  it('is what createLogger writes with format pretty', () => {
    const c = capture({ format: 'pretty', color: false });
    c.log.ipvsChange({
      op: 'remove-dest',
      service: { address: 'fd00::100', port: 443 },
      dest: { address: 'fd00::2', port: 443 },
    });
    assert.deepEqual(c.lines, [
      '2026-11-21T05:00:00.123Z INFO  ipvs Removing service [fd00::2]:tcp:443 from VS [fd00::100]:tcp:443  op=remove-dest',
    ]);
  });

  it('prints the error stack indented under the line', () => {
    const c = capture({ format: 'pretty', color: false });
    c.log.daemonError({ context: 'control', err: new Error('boom') });
    assert.match(c.lines[0], /^2026-11-21T05:00:00\.123Z ERROR daemon control: boom {2}err=boom$/);
    assert.match(c.lines[1], /^ {4}at /);
  });
});

describe('formatService', () => {
  it('spells services like keepalived', () => {
    assert.equal(formatService({ address: '10.0.0.2', port: 80 }), '[10.0.0.2]:tcp:80');
    assert.equal(formatService({ address: 'fd00::2', port: 53, protocol: 'udp' }), '[fd00::2]:udp:53');
    assert.equal(formatService({ fwmark: 7 }), 'FWM 7');
    assert.equal(formatService({ group: 'web' }), '[web]');
  });
});

describe('log options', () => {
  it('takes --log-format/--log-level out of argv', () => {
    assert.deepEqual(
      parseLogArgs(['-f', 'x.conf', '--log-format', 'pretty', '--log-level=debug', '--vrrp-only']),
      {
        log: { format: 'pretty', level: 'debug' },
        rest: ['-f', 'x.conf', '--vrrp-only'],
      },
    );
    assert.deepEqual(parseLogArgs([]).log, { format: 'json', level: 'info' });
    assert.throws(() => parseLogArgs(['--log-format', 'xml']), /--log-format must be one of json, pretty/);
    assert.throws(() => parseLogArgs(['--log-level']), /--log-level must be one of/);
  });
});
