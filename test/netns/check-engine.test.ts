/**
 * The health-check engine against real servers in network namespaces. Each
 * failing case asserts the exact sequence of attempts (retry index, result,
 * reason) and the resulting real-server state, not wall-clock times.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { translatePcre } from '../../src/check/pcre.js';
import type { CheckTarget, CheckTiming, HttpRegexTarget, PlanRealServer } from '../../src/check/types.js';
import type { Pcre2Option } from '../../src/config/model.js';
import { testCheckerKey, testRealServer, testVirtualServer } from '../helpers/check-plan.js';
import { canUseNetns, NetnsLab, waitFor } from '../helpers/netns.js';
import {
  attempts,
  BODY,
  CHK4,
  type CheckLab,
  DROP4,
  RUN_PLAN,
  runPlan,
  SRV4,
  SRV6,
  serverStates,
  setupCheckLab,
} from './check-lab.js';

const enabled = await canUseNetns();
const BODY_MD5 = createHash('md5').update(BODY).digest('hex');

/** Short timings so each run takes a few seconds: loop 800 ms, retry 2 x 200 ms, timeout 300 ms. */
function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return { delayLoopMs: 800, delayBeforeRetryMs: 200, retry: 2, warmupMs: 0, alpha: false, ...over };
}

function rs(key: string, target: CheckTarget, t: Partial<CheckTiming> = {}, weight = 1): PlanRealServer {
  return testRealServer(key, [{ key: testCheckerKey(key), timing: timing(t), target }], weight);
}

function plan(realServers: PlanRealServer[]) {
  return { virtualServers: [testVirtualServer('vs', realServers)] };
}

/** Timeouts: 300 ms where a test waits for one to expire, 1 s where success is expected (loaded CI hosts). */
const tcp = (host: string, port: number, connectTimeoutMs = 1000): CheckTarget => ({
  type: 'TCP_CHECK',
  host,
  port,
  connectTimeoutMs,
});

function http(
  path: string,
  over: Record<string, unknown> = {},
  urlOver: Record<string, unknown> = {},
): CheckTarget {
  return {
    type: 'HTTP_GET',
    host: SRV4,
    port: 80,
    connectTimeoutMs: 1000,
    httpProtocol: '1.0',
    urls: [{ path, statusCodes: [{ from: 200, to: 299 }], ...urlOver }],
    ...over,
  } as CheckTarget;
}

/** Attempts with the reason of successes dropped (compared against passThenFail). */
function shape(list: Array<{ retry: number; ok: boolean; reason: string }>) {
  return list.map((a) => (a.ok ? { retry: a.retry, ok: true } : a));
}

/** The expected attempts of a checker that passes once, then fails: retry+1 failures, then down. */
function passThenFail(reason: string, retries = 2) {
  return [
    { retry: 0, ok: true },
    ...Array.from({ length: retries + 1 }, (_, i) => ({ retry: i, ok: false, reason })),
  ];
}

describe('health checks against real servers', { skip: !enabled && 'needs root and ip netns' }, () => {
  const lab = new NetnsLab();
  let cl: CheckLab;

  before(async () => {
    cl = await setupCheckLab(lab);
  });
  after(async () => {
    await lab.cleanup();
  });

  it('TCP_CHECK: open, refused, dropped (timeout), and up -> down after exactly `retry` retries', async () => {
    // 'flip' listens at first; once its first attempt has passed, its port starts dropping SYNs.
    const listener = lab.spawn(cl.srvNs, process.execPath, [
      '-e',
      "require('net').createServer((s)=>s.destroy()).listen(8081,'0.0.0.0',()=>console.log('up'))",
    ]);
    let listening = '';
    listener.stdout?.on('data', (d) => {
      listening += d;
    });
    await waitFor(() => listening.includes('up'), 5000);
    const run = runPlan(
      lab,
      cl,
      plan([
        rs('open', tcp(SRV4, 8080)),
        rs('open6', tcp(SRV6, 8080)),
        rs('refused', tcp(SRV4, 9)),
        rs('dropped', tcp(SRV4, 81, 300)),
        rs('flip', tcp(SRV4, 8081, 300)),
        rs('bound', { ...tcp(SRV4, 8080), bindTo: CHK4 } as CheckTarget),
        rs('bad-bind', { ...tcp(SRV4, 8080), bindTo: '10.80.0.77' } as CheckTarget),
      ]),
      3200,
    );
    await waitFor(() => run.events.some((e) => e.ev === 'attempt' && e.id === 'flip' && e.ok), 5000);
    await lab.exec(cl.srvNs, 'nft', [
      'add',
      'rule',
      'inet',
      'halo_check_test',
      'input',
      'tcp',
      'dport',
      '8081',
      'drop',
    ]);
    const events = await run.done;
    await lab.kill(listener);

    assert.ok(attempts(events, 'open').every((a) => a.ok && a.reason === 'connected'));
    assert.ok(attempts(events, 'bound').length >= 3 && attempts(events, 'bound').every((a) => a.ok));
    assert.deepEqual(serverStates(events, 'bad-bind').at(-1), {
      up: false,
      reason: 'cannot bind 10.80.0.77: address not available',
    });
    assert.ok(attempts(events, 'open6').length >= 3 && attempts(events, 'open6').every((a) => a.ok));
    assert.deepEqual(serverStates(events, 'open'), [{ up: true, reason: 'initial state' }]);
    // First check of a non-alpha checker: one failure is enough (keepalived retry_it starts at retry).
    assert.deepEqual(attempts(events, 'refused')[0], { retry: 0, ok: false, reason: 'connection refused' });
    assert.deepEqual(serverStates(events, 'refused'), [
      { up: true, reason: 'initial state' },
      { up: false, reason: 'connection refused' },
    ]);
    assert.deepEqual(attempts(events, 'dropped')[0], {
      retry: 0,
      ok: false,
      reason: 'connect timeout after 300ms',
    });
    assert.deepEqual(serverStates(events, 'dropped').at(-1), {
      up: false,
      reason: 'connect timeout after 300ms',
    });

    const flip = attempts(events, 'flip');
    assert.deepEqual(shape(flip.slice(0, 4)), passThenFail('connect timeout after 300ms'));
    assert.deepEqual(serverStates(events, 'flip'), [
      { up: true, reason: 'initial state' },
      { up: false, reason: 'connect timeout after 300ms (after 2 retries)' },
    ]);
    // Exactly retry+1 failed attempts happened before the down event.
    const downAt = events.findIndex((e) => e.ev === 'server' && e.rs === 'flip' && e.up === false);
    assert.equal(
      events.slice(0, downAt).filter((e) => e.ev === 'attempt' && e.id === 'flip' && !e.ok).length,
      3,
    );
  });

  it('TCP_CHECK through net.Socket (the fallback implementation)', async () => {
    const events = await runPlan(
      lab,
      cl,
      plan([rs('open', tcp(SRV4, 8080)), rs('refused', tcp(SRV4, 9)), rs('dropped', tcp(SRV4, 81, 300))]),
      1500,
      { HALO_TCP_CHECK_NET: '1' },
    ).done;
    assert.ok(attempts(events, 'open').length >= 2 && attempts(events, 'open').every((a) => a.ok));
    assert.deepEqual(serverStates(events, 'refused').at(-1), { up: false, reason: 'connection refused' });
    assert.deepEqual(serverStates(events, 'dropped').at(-1), {
      up: false,
      reason: 'connect timeout after 300ms',
    });
  });

  it('HTTP_GET / SSL_GET: digest, status lists, wrong status, wrong digest, slow responder, vhost, SNI', async () => {
    const ssl = (path: string, over: Record<string, unknown> = {}): CheckTarget =>
      ({ ...(http(path, over) as object), type: 'SSL_GET', port: 443 }) as CheckTarget;
    const events = await runPlan(
      lab,
      cl,
      plan([
        rs('digest-ok', http('/ok', {}, { digest: BODY_MD5 })),
        rs('v6', http('/ok', { host: SRV6, httpProtocol: '1.1' }, { digest: BODY_MD5 })),
        rs('status-list', http('/missing', {}, { statusCodes: [{ from: 404, to: 404 }] })),
        rs('wrong-status', http('/missing')),
        rs('wrong-digest', http('/ok', {}, { digest: '0123456789abcdef0123456789abcdef' })),
        rs('slow', http('/slow', { connectTimeoutMs: 300 })),
        rs('flip', http('/flip')),
        rs('vhost', http('/host', { virtualhost: 'www.halo.test' })),
        rs('ssl', ssl('/ok', { httpProtocol: '1.0C' })),
        rs('sni', ssl('/sni', { virtualhost: 'www.halo.test', enableSni: true })),
        rs('no-sni', ssl('/sni', { virtualhost: 'www.halo.test', enableSni: false })),
      ]),
      2600,
    ).done;
    for (const id of ['digest-ok', 'v6', 'status-list', 'vhost', 'ssl', 'sni']) {
      assert.ok(attempts(events, id).length >= 3, id);
      assert.ok(
        attempts(events, id).every((a) => a.ok),
        `${id}: ${JSON.stringify(attempts(events, id))}`,
      );
      assert.deepEqual(serverStates(events, id), [{ up: true, reason: 'initial state' }], id);
    }
    assert.equal(attempts(events, 'digest-ok')[0].reason, 'digest ok for /ok');
    assert.deepEqual(serverStates(events, 'wrong-status').at(-1), {
      up: false,
      reason: 'HTTP status 404 for /missing',
    });
    assert.deepEqual(serverStates(events, 'no-sni').at(-1), {
      up: false,
      reason: 'HTTP status 421 for /sni',
    });
    assert.match(
      serverStates(events, 'wrong-digest').at(-1)?.reason ?? '',
      new RegExp(`^digest mismatch for /ok: got ${BODY_MD5}$`),
    );
    assert.deepEqual(serverStates(events, 'slow').at(-1), {
      up: false,
      reason: '/slow: read timeout after 300ms',
    });
    assert.deepEqual(shape(attempts(events, 'flip').slice(0, 4)), passThenFail('HTTP status 503 for /flip'));
    assert.deepEqual(serverStates(events, 'flip').at(-1), {
      up: false,
      reason: 'HTTP status 503 for /flip (after 2 retries)',
    });
  });

  it('HTTP_GET url regex / regex_no_match / offsets on the body; a page that stops matching goes down', async () => {
    const re = (pattern: string, over: Partial<HttpRegexTarget> = {}, options: Pcre2Option[] = []) => {
      const t = translatePcre(pattern, options);
      return {
        regex: {
          source: t.source,
          flags: t.flags,
          noMatch: false,
          minOffset: 0,
          firstLine: t.firstLine,
          utf8: t.utf8,
          ...over,
        },
      };
    };
    const events = await runPlan(
      lab,
      cl,
      plan([
        rs('match', http('/status', {}, re('^status: ready$', {}, ['multiline']))),
        rs('miss', http('/status', {}, re('status: down'))),
        rs('no-match-ok', http('/status', {}, re('maintenance', { noMatch: true }))),
        rs('no-match-hit', http('/status', {}, re('ready', { noMatch: true }))),
        rs('offset-in', http('/split', {}, re('READY', { minOffset: 10, maxOffset: 10 }))),
        rs('offset-out', http('/split', {}, re('READY', { maxOffset: 9 }))),
        rs('with-digest', http('/ok', {}, { digest: BODY_MD5, ...re('from halo') })),
        rs('flip', http('/status-flip', {}, re('ready'))),
      ]),
      2600,
    ).done;
    for (const id of ['match', 'no-match-ok', 'offset-in', 'with-digest']) {
      assert.ok(attempts(events, id).length >= 3, id);
      assert.ok(
        attempts(events, id).every((a) => a.ok),
        `${id}: ${JSON.stringify(attempts(events, id))}`,
      );
    }
    assert.equal(attempts(events, 'match')[0].reason, 'regex match for /status');
    assert.equal(attempts(events, 'no-match-ok')[0].reason, 'no regex match for /status');
    assert.deepEqual(serverStates(events, 'miss').at(-1), {
      up: false,
      reason: 'body does not match regex for /status',
    });
    assert.deepEqual(serverStates(events, 'no-match-hit').at(-1), {
      up: false,
      reason: 'body matches regex (regex_no_match) for /status',
    });
    assert.deepEqual(serverStates(events, 'offset-out').at(-1), {
      up: false,
      reason: 'body does not match regex for /split',
    });
    assert.deepEqual(
      shape(attempts(events, 'flip').slice(0, 4)),
      passThenFail('body does not match regex for /status-flip'),
    );
    assert.deepEqual(serverStates(events, 'flip').at(-1), {
      up: false,
      reason: 'body does not match regex for /status-flip (after 2 retries)',
    });
  });

  it('MISC_CHECK: exit 0/1, misc_dynamic weight, a hung script killed with its process group', async () => {
    const script = (name: string, text: string) => {
      const p = join(cl.dir, name);
      writeFileSync(p, `#!/bin/sh\n${text}\n`, { mode: 0o755 });
      return p;
    };
    const ok = script('ok.sh', 'exit 0');
    const bad = script('fail.sh', 'exit 1');
    const five = script('five.sh', 'exit 5');
    const hang = script('hang.sh', 'sleep 30 &\necho $! > "$1"\nwait');
    const flip = script(
      'flip.sh',
      'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"; [ $n -le 1 ]',
    );
    const misc = (command: string, over: Record<string, unknown> = {}): CheckTarget =>
      // A generous timeout: forking a shell can take a while on a loaded test host.
      ({ type: 'MISC_CHECK', command, timeoutMs: 3000, dynamic: false, ...over }) as CheckTarget;
    const pidFile = join(cl.dir, 'hang.pid');
    const events = await runPlan(
      lab,
      cl,
      plan([
        rs('ok', misc(ok)),
        rs('fail', misc(bad)),
        rs('dynamic', misc(five, { dynamic: true }), {}, 1),
        rs('static5', misc(five)),
        rs('hang', misc(`${hang} '${pidFile}'`, { timeoutMs: 300 }), { delayLoopMs: 5000 }),
        rs('flip', misc(`${flip} ${join(cl.dir, 'flip.count')}`)),
      ]),
      2600,
    ).done;
    assert.ok(
      attempts(events, 'ok').every((a) => a.ok && a.reason === 'script exit 0'),
      JSON.stringify(attempts(events, 'ok')),
    );
    assert.deepEqual(serverStates(events, 'fail').at(-1), { up: false, reason: 'script exit 1' });
    assert.deepEqual(serverStates(events, 'static5').at(-1), { up: false, reason: 'script exit 5' });
    assert.deepEqual(serverStates(events, 'dynamic'), [{ up: true, reason: 'initial state' }]);
    const weights = events.filter((e) => e.ev === 'weight' && e.rs === 'dynamic').map((e) => e.weight);
    assert.deepEqual(weights, [3]);
    assert.deepEqual(serverStates(events, 'hang').at(-1), {
      up: false,
      reason: 'script timed out after 300ms',
    });
    // The script's background child was in its process group and died with it.
    const pid = Number((await import('node:fs')).readFileSync(pidFile, 'utf8').trim());
    assert.ok(pid > 0);
    await waitFor(() => !existsSync(`/proc/${pid}`), 3000);
    assert.deepEqual(shape(attempts(events, 'flip').slice(0, 4)), passThenFail('script exit 1'));
    assert.deepEqual(serverStates(events, 'flip').at(-1), {
      up: false,
      reason: 'script exit 1 (after 2 retries)',
    });
  });

  it('UDP_CHECK, DNS_CHECK, SMTP_CHECK', async () => {
    const base = { host: SRV4, connectTimeoutMs: 300 };
    const udp = (port: number, over: Record<string, unknown> = {}): CheckTarget =>
      ({
        type: 'UDP_CHECK',
        ...base,
        port,
        requireReply: true,
        payload: Buffer.from('ping-halo'),
        replyPattern: Buffer.from('ping'),
        minReplyLength: 0,
        maxReplyLength: 255,
        ...over,
      }) as CheckTarget;
    const dns = (name: string, port = 53): CheckTarget => ({
      type: 'DNS_CHECK',
      ...base,
      port,
      queryType: 'SOA',
      name,
    });
    const smtp = (port: number): CheckTarget => ({
      type: 'SMTP_CHECK',
      ...base,
      port,
      heloName: 'halo.test',
    });
    const events = await runPlan(
      lab,
      cl,
      plan([
        rs('udp-echo', udp(7)),
        rs('udp-pattern', udp(7, { replyPattern: Buffer.from('pong') })),
        rs('udp-too-short', udp(7, { minReplyLength: 20 })),
        rs('udp-any-length', udp(7, { replyPattern: undefined, maxReplyLength: 4 })),
        rs('udp-closed', udp(9, { requireReply: false })),
        rs('udp-silent-ok', udp(5353, { requireReply: false })),
        rs('udp-silent', udp(5353)),
        rs('udp-flip', udp(8)),
        rs('dns-ok', dns('halo.test')),
        rs('dns-nx', dns('nx.halo.test')),
        rs('dns-wrongq', dns('wrongq.halo.test')),
        rs('dns-wrongid', dns('wrongid.halo.test')),
        rs('dns-flip', dns('flip.halo.test')),
        rs('smtp-ok', smtp(25)),
        rs('smtp-bad', smtp(2525)),
        rs('smtp-flip', smtp(2526), { retry: 1 }),
      ]),
      2800,
    ).done;
    for (const id of ['udp-echo', 'udp-any-length', 'udp-silent-ok', 'dns-ok', 'smtp-ok']) {
      assert.ok(attempts(events, id).length >= 3, id);
      assert.ok(
        attempts(events, id).every((a) => a.ok),
        `${id}: ${JSON.stringify(attempts(events, id))}`,
      );
    }
    assert.equal(attempts(events, 'udp-silent-ok')[0].reason, 'no ICMP error within 300ms');
    assert.deepEqual(serverStates(events, 'udp-pattern').at(-1), {
      up: false,
      reason: 'reply data mismatch at byte 1',
    });
    // min_reply_length applies with a pattern; without one any reply passes (keepalived's udp_check_thread).
    assert.deepEqual(serverStates(events, 'udp-too-short').at(-1), {
      up: false,
      reason: 'reply length 9 outside 20..255',
    });
    assert.deepEqual(serverStates(events, 'udp-closed').at(-1), { up: false, reason: 'connection refused' });
    assert.deepEqual(serverStates(events, 'udp-silent').at(-1), {
      up: false,
      reason: 'no reply within 300ms',
    });
    assert.deepEqual(shape(attempts(events, 'udp-flip').slice(0, 4)), passThenFail('no reply within 300ms'));
    assert.deepEqual(serverStates(events, 'dns-nx').at(-1), { up: false, reason: 'DNS rcode NXDOMAIN' });
    assert.deepEqual(serverStates(events, 'dns-wrongq').at(-1), {
      up: false,
      reason: 'DNS response question does not match the query',
    });
    assert.deepEqual(serverStates(events, 'dns-wrongid').at(-1), {
      up: false,
      reason: 'no DNS response within 300ms',
    });
    assert.deepEqual(shape(attempts(events, 'dns-flip').slice(0, 4)), passThenFail('DNS rcode SERVFAIL'));
    assert.deepEqual(serverStates(events, 'smtp-bad').at(-1), {
      up: false,
      reason: 'bad greeting banner: 554 no service (after 2 retries)',
    });
    // SMTP retries even on its first check (smtp_start_check_thread resets the counter).
    assert.deepEqual(
      attempts(events, 'smtp-bad')
        .slice(0, 3)
        .map((a) => a.retry),
      [0, 1, 2],
    );
    assert.deepEqual(
      shape(attempts(events, 'smtp-flip').slice(0, 3)),
      passThenFail('bad greeting banner: 554 no service', 1),
    );
  });

  it('PING_CHECK over IPv4 and IPv6 through the raw-socket addon', async () => {
    const ping = (host: string): CheckTarget => ({ type: 'PING_CHECK', host, connectTimeoutMs: 300 });
    const events = await runPlan(
      lab,
      cl,
      plan([rs('ping4', ping(SRV4)), rs('ping6', ping(SRV6)), rs('ping-dropped', ping(DROP4))]),
      1800,
    ).done;
    for (const id of ['ping4', 'ping6']) {
      assert.ok(attempts(events, id).length >= 2, id);
      assert.ok(
        attempts(events, id).every((a) => a.ok && a.reason === 'echo reply'),
        `${id}: ${JSON.stringify(attempts(events, id))}`,
      );
    }
    assert.deepEqual(serverStates(events, 'ping-dropped').at(-1), {
      up: false,
      reason: 'no echo reply within 300ms',
    });
  });

  it('halo genhash prints the same digests as keepalived genhash', async (t) => {
    if (!existsSync('/usr/bin/genhash')) {
      t.skip('keepalived genhash not installed');
      return;
    }
    const halo = join(RUN_PLAN, '..', '..', 'cli', 'main.js');
    const cases: string[][] = [
      ['-s', SRV4, '-p', '80', '-u', '/ok'],
      ['-s', SRV4, '-p', '80', '-u', '/big'],
      ['-s', SRV4, '-p', '80', '-u', '/nolength'],
      ['-s', SRV4, '-p', '80', '-u', '/chunked', '-P', '1.1'],
      ['-s', SRV4, '-p', '80', '-u', '/chunked', '-P', '1.0c'],
      ['-s', SRV4, '-p', '80', '-u', '/missing'],
      ['-s', SRV6, '-p', '80', '-u', '/ok'],
      ['-s', SRV4, '-p', '80', '-u', '/host', '-V', 'www.halo.test'],
      ['-S', '-s', SRV4, '-p', '443', '-u', '/ok'],
      ['-S', '-I', '-V', 'www.halo.test', '-s', SRV4, '-p', '443', '-u', '/sni'],
    ];
    for (const args of cases) {
      const theirs = await lab.exec(cl.chkNs, '/usr/bin/genhash', args, { allowFail: true });
      const ours = await lab.exec(cl.chkNs, process.execPath, [halo, 'genhash', ...args]);
      const digest = /^[0-9a-f]{32}$/m;
      assert.match(ours.stdout.trim(), digest, args.join(' '));
      assert.equal(ours.stdout.trim(), theirs.stdout.trim().match(digest)?.[0], args.join(' '));
    }
    // And it is the digest of the body as HTTP_GET compares it.
    const ok = await lab.exec(cl.chkNs, process.execPath, [
      halo,
      'genhash',
      '-s',
      SRV4,
      '-p',
      '80',
      '-u',
      '/ok',
    ]);
    assert.equal(ok.stdout.trim(), BODY_MD5);
  });
});
