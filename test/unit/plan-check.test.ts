/**
 * Config model -> checker plan: typed identities, inherited timing, targets per
 * checker type, and agreement between the config loader's inheritance and
 * timing.ts (keepalived check_data.c).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTiming } from '../../src/check/timing.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { buildCheckPlan, parseHexPattern } from '../../src/plan/check.js';
import { describeChecker, describeRealServer, describeVirtualServer } from '../../src/plan/ids.js';

const CONF = `
global_defs {
  script_user nobody
}
virtual_server 10.0.0.10 80 {
  delay_loop 6
  connect_timeout 4
  lb_kind DR
  protocol TCP
  omega
  virtualhost vs.example
  real_server 10.0.1.1 80 {
    weight 3
    retry 4
    HTTP_GET {
      url {
        path /health
        digest 0123456789ABCDEF0123456789ABCDEF
        status_code 200-204 301
      }
      url {
        path /ready
        virtualhost url.example
      }
      http_protocol 1.1
      delay_before_retry 2
    }
    TCP_CHECK {
      connect_port 8080
      bindto 10.0.0.2
      warmup 1
    }
  }
  real_server 10.0.1.2 80 {
    MISC_CHECK {
      misc_path "/usr/local/bin/check 'a b'"
      misc_dynamic
    }
    UDP_CHECK {
      connect_port 53
      payload 0a0b0c
      require_reply 0a xX
    }
    DNS_CHECK {
      type A
      name example.com
    }
    SMTP_CHECK {
      helo_name mx.example
    }
  }
}
`;

describe('buildCheckPlan', () => {
  const parsed = parseKeepalivedText(CONF, 'test.conf', { hostChecks: 'off' });
  it('parses', () => {
    assert.ok(parsed.config, JSON.stringify(parsed.diagnostics));
  });
  const { plan, problems } = buildCheckPlan(parsed.config!);

  it('names virtual servers, real servers and checkers by typed identity', () => {
    assert.deepEqual(problems, []);
    const vs = plan.virtualServers[0];
    assert.deepEqual(vs.id, { kind: 'address', family: 4, protocol: 'tcp', address: '10.0.0.10', port: 80 });
    assert.equal(describeVirtualServer(vs.id), '[10.0.0.10]:tcp:80');
    assert.equal(vs.omega, true);
    assert.deepEqual(
      vs.realServers.map((r) => [
        describeRealServer(r.id),
        r.weight,
        r.checkers.map((c) => describeChecker(c.id)),
      ]),
      [
        [
          '[10.0.1.1]:tcp:80',
          3,
          ['[10.0.0.10]:tcp:80 / [10.0.1.1]:tcp:80 #0', '[10.0.0.10]:tcp:80 / [10.0.1.1]:tcp:80 #1'],
        ],
        ['[10.0.1.2]:tcp:80', 1, [0, 1, 2, 3].map((i) => `[10.0.0.10]:tcp:80 / [10.0.1.2]:tcp:80 #${i}`)],
      ],
    );
    const keys = vs.realServers.flatMap((r) => [r.key, ...r.checkers.map((c) => c.key)]);
    assert.equal(new Set(keys).size, keys.length, 'keys are unique');
  });

  it('a TCP and a UDP virtual server on one address and port are two services with their own checkers', () => {
    const dns = parseKeepalivedText(
      `virtual_server 10.0.0.53 53 {
  protocol TCP
  real_server 10.0.1.1 53 {
    TCP_CHECK {
    }
  }
}
virtual_server 10.0.0.53 53 {
  protocol UDP
  real_server 10.0.1.1 53 {
    DNS_CHECK {
    }
  }
}
`,
      'dns.conf',
      { hostChecks: 'off' },
    );
    assert.ok(dns.config, JSON.stringify(dns.diagnostics));
    const built = buildCheckPlan(dns.config);
    const [tcp, udp] = built.plan.virtualServers;
    assert.notEqual(tcp.key, udp.key);
    assert.notEqual(tcp.realServers[0].checkers[0].key, udp.realServers[0].checkers[0].key);
    assert.deepEqual(
      [tcp, udp].map((v) => describeVirtualServer(v.id)),
      ['[10.0.0.53]:tcp:53', '[10.0.0.53]:udp:53'],
    );
  });

  it('timing matches keepalived inheritance (and timing.ts)', () => {
    const [rs1, rs2] = plan.virtualServers[0].realServers;
    const http = rs1.checkers[0];
    assert.deepEqual(http.timing, {
      delayLoopMs: 6000,
      delayBeforeRetryMs: 2000,
      retry: 4,
      warmupMs: 6000,
      alpha: false,
    });
    const ours = resolveTiming(
      'HTTP_GET',
      { delayLoopMs: 6000, connectTimeoutMs: 4000 },
      { retry: 4 },
      { delayBeforeRetryMs: 2000 },
    );
    assert.equal(ours.retry, http.timing.retry);
    assert.equal(ours.warmupMs, http.timing.warmupMs);
    assert.deepEqual(rs1.checkers[1].timing, {
      delayLoopMs: 6000,
      delayBeforeRetryMs: 1000,
      retry: 4,
      warmupMs: 1000,
      alpha: false,
    });
    // Per-type defaults on a real server without retry: MISC 0, UDP 1, DNS 3 with dbr = delay loop, SMTP 1.
    assert.deepEqual(
      rs2.checkers.map((c) => [c.target.type, c.timing.retry, c.timing.delayBeforeRetryMs]),
      [
        ['MISC_CHECK', 0, 1000],
        ['UDP_CHECK', 1, 1000],
        ['DNS_CHECK', 3, 6000],
        ['SMTP_CHECK', 1, 1000],
      ],
    );
    for (const c of rs2.checkers) {
      const t = resolveTiming(c.target.type, { delayLoopMs: 6000, connectTimeoutMs: 4000 }, {}, {});
      assert.equal(c.timing.retry, t.retry, c.target.type);
      assert.equal(c.timing.delayBeforeRetryMs, t.delayBeforeRetryMs, c.target.type);
    }
  });

  it('builds targets per checker type', () => {
    const [rs1, rs2] = plan.virtualServers[0].realServers;
    assert.deepEqual(rs1.checkers[0].target, {
      type: 'HTTP_GET',
      host: '10.0.1.1',
      port: 80,
      bindTo: undefined,
      bindPort: undefined,
      bindIf: undefined,
      connectTimeoutMs: 4000,
      virtualhost: 'vs.example',
      httpProtocol: '1.1',
      enableSni: false,
      urls: [
        {
          path: '/health',
          digest: '0123456789abcdef0123456789abcdef',
          statusCodes: [
            { from: 200, to: 204 },
            { from: 301, to: 301 },
          ],
          virtualhost: undefined,
        },
        {
          path: '/ready',
          digest: undefined,
          statusCodes: [{ from: 200, to: 299 }],
          virtualhost: 'url.example',
        },
      ],
    });
    assert.deepEqual(rs1.checkers[1].target, {
      type: 'TCP_CHECK',
      host: '10.0.1.1',
      port: 8080,
      bindTo: '10.0.0.2',
      bindPort: undefined,
      bindIf: undefined,
      connectTimeoutMs: 4000,
    });
    const misc = rs2.checkers[0].target;
    assert.equal(misc.type, 'MISC_CHECK');
    if (misc.type === 'MISC_CHECK') {
      assert.equal(misc.command, "/usr/local/bin/check 'a b'");
      assert.equal(misc.dynamic, true);
      assert.equal(misc.timeoutMs, 6000); // misc_timeout defaults to the virtual server's delay_loop
      assert.equal(misc.user, 'nobody');
    }
    const udp = rs2.checkers[1].target;
    if (udp.type !== 'UDP_CHECK') throw new Error('not udp');
    assert.deepEqual([udp.port, udp.payload?.toString('hex'), udp.requireReply], [53, '0a0b0c', true]);
    assert.equal(udp.replyPattern?.toString('hex'), '0a00');
    assert.equal(udp.replyMask?.toString('hex'), '00ff');
    assert.deepEqual(rs2.checkers[2].target, {
      type: 'DNS_CHECK',
      host: '10.0.1.2',
      port: 80,
      bindTo: undefined,
      bindPort: undefined,
      bindIf: undefined,
      connectTimeoutMs: 4000,
      queryType: 'A',
      name: 'example.com',
    });
    const smtp = rs2.checkers[3].target;
    assert.equal(smtp.type === 'SMTP_CHECK' && smtp.heloName, 'mx.example');
  });
});

describe('parseHexPattern (lib/parser.c read_hex_str)', () => {
  it('reads bytes, lone nibbles and wildcards', () => {
    assert.deepEqual(parseHexPattern('0a0B ff', false), {
      data: Buffer.from([0x0a, 0x0b, 0xff]),
      mask: undefined,
    });
    assert.deepEqual(parseHexPattern('a b', false).data, Buffer.from([0x0a, 0x0b]));
    assert.deepEqual(parseHexPattern('1x X2', true), {
      data: Buffer.from([0x10, 0x02]),
      mask: Buffer.from([0x0f, 0xf0]),
    });
    assert.throws(() => parseHexPattern('1x', false), /invalid hex digit/);
    assert.throws(() => parseHexPattern('  ', false), /empty/);
  });
});
