/**
 * The alert plan (which config fields the mail and FIFO channels read, resolved as keepalived
 * 2.2.7 resolves them) and keepalived's rules and words for mails and notify FIFO lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HaloConfig } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { escapeBare, escapeQuoted, unescapeField } from '../../src/notify/escape.js';
import type { AlertEvent, CheckerEvent, VirtualServerRef } from '../../src/notify/events.js';
import { formatRealServer, formatVirtualServer } from '../../src/notify/events.js';
import { type AlertPlan, buildAlertPlan } from '../../src/notify/plan.js';
import { fifoLine, MailRules } from '../../src/notify/rules.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};
const HOST = { hostname: 'lb1.example.net', username: 'root' };

function model(text: string): HaloConfig {
  const r = parseKeepalivedText(text, 'k.conf', { host: anyHost });
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.ok(r.config);
  return r.config;
}
const plan = (text: string) => buildAlertPlan(model(text), HOST);

const MAIL_GLOBALS = `notification_email {\n  ops@example.net\n  oncall@example.net\n}\nsmtp_server 192.0.2.25\n`;
const VI = (name: string, body = '') =>
  `vrrp_instance ${name} {\n interface eth0\n virtual_router_id ${name === 'VI_2' ? 52 : 51}\n virtual_ipaddress {\n  10.0.0.1/24\n }\n${body}\n}\n`;
const VS = (body: string, rsBody = '') =>
  `virtual_server 10.0.0.100 80 {\n protocol TCP\n lb_algo wlc\n${body}\n real_server 10.0.0.21 8080 {\n${rsBody}\n  TCP_CHECK {\n  }\n }\n real_server 10.0.0.22 8080 {\n  TCP_CHECK {\n  }\n }\n}\n`;

const VS_REF: VirtualServerRef = { address: '10.0.0.100', port: 80, protocol: 'TCP' };
const RS1 = { address: '10.0.0.21', port: 8080 };
const RS2 = { address: '10.0.0.22', port: 8080 };

function checker(over: Partial<CheckerEvent> = {}): CheckerEvent {
  return {
    type: 'checker',
    virtualServer: VS_REF,
    realServer: RS1,
    checker: 'TCP_CHECK',
    wasUp: true,
    up: false,
    firstRun: false,
    realServerWasUp: true,
    realServerUp: false,
    ...over,
  };
}

describe('alert plan: the mail settings', () => {
  it('sends no mail without notification_email or without smtp_server, as keepalived', () => {
    assert.equal(plan(`global_defs {\n smtp_server 192.0.2.25\n}\n`).mail, undefined);
    assert.equal(plan(`global_defs {\n notification_email {\n  a@b\n }\n}\n`).mail, undefined);
  });

  it("fills keepalived's defaults: port 25, From <user>@<host>, HELO <host>, timeout 30 s, router_id <host>", () => {
    const p = plan(`global_defs {\n${MAIL_GLOBALS}}\n`);
    assert.deepEqual(p.mail, {
      server: { host: '192.0.2.25', port: 25 },
      heloName: 'lb1.example.net',
      from: 'root@lb1.example.net',
      to: ['ops@example.net', 'oncall@example.net'],
      timeoutMs: 30_000,
    });
    assert.equal(p.routerId, 'lb1.example.net');
  });

  it('takes every mail keyword as written (host name and port, helo name, from, timeout, router_id)', () => {
    const p = plan(
      `global_defs {\n${MAIL_GLOBALS} smtp_server mail.example.net 2525\n smtp_helo_name director1\n notification_email_from lvs@example.net\n smtp_connect_timeout 7\n router_id LVS_A\n}\n`.replace(
        'smtp_server 192.0.2.25\n',
        '',
      ),
    );
    assert.deepEqual(p.mail, {
      server: { host: 'mail.example.net', port: 2525 },
      heloName: 'director1',
      from: 'lvs@example.net',
      to: ['ops@example.net', 'oncall@example.net'],
      timeoutMs: 7000,
    });
    assert.equal(p.routerId, 'LVS_A');
  });

  it('no_email_faults and no_checker_emails reach the plan', () => {
    const off = plan(`global_defs {\n${MAIL_GLOBALS}}\n`);
    const on = plan(`global_defs {\n${MAIL_GLOBALS} no_email_faults\n no_checker_emails\n}\n`);
    assert.deepEqual([off.noEmailFaults, off.noCheckerEmails], [false, false]);
    assert.deepEqual([on.noEmailFaults, on.noCheckerEmails], [true, true]);
  });
});

describe('alert plan: smtp_alert resolved per object as keepalived 2.2.7', () => {
  const flags = (globals: string, viBody = '', vsBody = '', rsBody = '') => {
    const p = plan(
      `global_defs {\n${MAIL_GLOBALS}${globals}\n}\n${VI('VI_1', viBody)}${VI('VI_2')}vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n}\n${VS(vsBody, rsBody)}`,
    );
    const vs = p.virtualServers.get('[10.0.0.100]:tcp:80');
    assert.ok(vs);
    return {
      vi: p.instances.get('VI_1')?.smtpAlert,
      group: p.syncGroups.get('G')?.smtpAlert,
      vs: vs.smtpAlert,
      rs1: vs.realServers.get('[10.0.0.21]:tcp:8080')?.smtpAlert,
      rs2: vs.realServers.get('[10.0.0.22]:tcp:8080')?.smtpAlert,
    };
  };

  it('unset everywhere: VRRP and virtual servers off, real servers ON (keepalived keeps that for compatibility)', () => {
    assert.deepEqual(flags(''), { vi: false, group: false, vs: false, rs1: true, rs2: true });
  });

  it('global smtp_alert sets every default; smtp_alert off turns the real servers off too', () => {
    assert.deepEqual(flags('smtp_alert'), { vi: true, group: true, vs: true, rs1: true, rs2: true });
    assert.deepEqual(flags('smtp_alert off'), { vi: false, group: false, vs: false, rs1: false, rs2: false });
  });

  it('smtp_alert_vrrp and smtp_alert_checker win over smtp_alert for their side only', () => {
    assert.deepEqual(flags('smtp_alert\nsmtp_alert_vrrp off'), {
      vi: false,
      group: false,
      vs: true,
      rs1: true,
      rs2: true,
    });
    assert.deepEqual(flags('smtp_alert\nsmtp_alert_checker false'), {
      vi: true,
      group: true,
      vs: false,
      rs1: false,
      rs2: false,
    });
    assert.deepEqual(flags('smtp_alert_vrrp'), { vi: true, group: true, vs: false, rs1: true, rs2: true });
  });

  it("an object's own smtp_alert wins; a real server does not inherit the virtual server's", () => {
    assert.deepEqual(flags('smtp_alert', ' smtp_alert off', ' smtp_alert off', '  smtp_alert no'), {
      vi: false,
      group: true,
      vs: false,
      rs1: false,
      rs2: true,
    });
    assert.deepEqual(flags('smtp_alert off', '', ' smtp_alert', ''), {
      vi: false,
      group: false,
      vs: true,
      rs1: false,
      rs2: false,
    });
  });
});

describe('alert plan: notify FIFOs', () => {
  it('reads PATH [user [group]] and a script with its own user and group', () => {
    const p = plan(
      `global_defs {\n notify_fifo /run/k.fifo nobody nogroup\n notify_fifo_script "/usr/local/bin/r.sh -v" nobody\n}\n`,
    );
    assert.equal(p.fifos.length, 1);
    const f = p.fifos[0];
    assert.deepEqual(
      { path: f.path, user: f.user, group: f.group, script: f.script, sources: [...f.sources] },
      {
        path: '/run/k.fifo',
        user: 'nobody',
        group: 'nogroup',
        script: { command: '/usr/local/bin/r.sh -v', user: 'nobody', group: undefined },
        sources: ['vrrp', 'lvs'],
      },
    );
  });

  it('ignores a vrrp_/lvs_ FIFO on the global path and merges vrrp_ and lvs_ on one path (the VRRP script wins)', () => {
    const same = plan(
      `global_defs {\n notify_fifo /run/a\n vrrp_notify_fifo /run/a\n lvs_notify_fifo /run/a\n}\n`,
    );
    assert.deepEqual(
      same.fifos.map((f) => [f.path, f.keyword, [...f.sources]]),
      [['/run/a', 'notify_fifo', ['vrrp', 'lvs']]],
    );
    assert.equal(same.notes.length, 2);
    assert.match(same.notes[0], /specified for global and vrrp FIFO - ignoring vrrp FIFO/);
    const shared = plan(
      `global_defs {\n vrrp_notify_fifo /run/b\n vrrp_notify_fifo_script /bin/v\n lvs_notify_fifo /run/b\n lvs_notify_fifo_script /bin/l\n}\n`,
    );
    assert.deepEqual(
      shared.fifos.map((f) => [f.path, [...f.sources], f.script?.command]),
      [['/run/b', ['vrrp', 'lvs'], '/bin/v']],
    );
    assert.match(shared.notes[0], /ignoring LVS FIFO script/);
    const apart = plan(`global_defs {\n vrrp_notify_fifo /run/v\n lvs_notify_fifo /run/l\n}\n`);
    assert.deepEqual(
      apart.fifos.map((f) => [f.path, [...f.sources]]),
      [
        ['/run/v', ['vrrp']],
        ['/run/l', ['lvs']],
      ],
    );
  });
});

describe("keepalived's service words", () => {
  it('formats virtual and real servers as FMT_VS / FMT_RS', () => {
    assert.equal(formatVirtualServer(VS_REF), '[10.0.0.100]:tcp:80');
    assert.equal(formatVirtualServer({ fwmark: 7, protocol: 'TCP' }), 'FWM 7');
    assert.equal(formatVirtualServer({ group: 'web', port: 0, protocol: 'UDP' }), '[web]:0');
    assert.equal(
      formatVirtualServer({ address: '2001:DB8:0:0::0001', port: 53, protocol: 'UDP' }),
      '[2001:db8::1]:udp:53',
    );
    assert.equal(formatRealServer(RS1, { fwmark: 7, protocol: 'SCTP' }), '[10.0.0.21]:sctp:8080');
  });
});

describe('notify FIFO lines', () => {
  const p = plan(`global_defs {\n}\n${VS(' omega')}`);
  const noOmega = plan(`global_defs {\n}\n${VS('')}`);

  it("writes keepalived's lines for VRRP events", () => {
    assert.deepEqual(
      fifoLine({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 }, p),
      {
        source: 'vrrp',
        line: 'INSTANCE "VI_1" MASTER 100\n',
      },
    );
    assert.equal(
      fifoLine({ type: 'vrrp-group', group: 'G1', state: 'FAULT' }, p)?.line,
      'GROUP "G1" FAULT 0\n',
    );
    assert.equal(
      fifoLine({ type: 'vrrp-master-rx-lower-pri', instance: 'VI_1', priority: 150 }, p)?.line,
      'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\n',
    );
  });

  it("writes keepalived's lines for real servers and quorum; a stop is only reported for omega", () => {
    const rsUp: AlertEvent = { type: 'real-server', virtualServer: VS_REF, realServer: RS1, up: true };
    assert.deepEqual(fifoLine(rsUp, p), {
      source: 'lvs',
      line: 'RS [10.0.0.21]:tcp:8080 [10.0.0.100]:tcp:80 UP\n',
    });
    const removed = (stopping: boolean): AlertEvent => ({
      type: 'real-server-removed',
      virtualServer: VS_REF,
      realServer: RS2,
      stopping,
    });
    assert.equal(
      fifoLine(removed(false), noOmega)?.line,
      'RS [10.0.0.22]:tcp:8080 [10.0.0.100]:tcp:80 DOWN\n',
    );
    assert.equal(fifoLine(removed(true), noOmega), undefined);
    assert.equal(fifoLine(removed(true), p)?.line, 'RS [10.0.0.22]:tcp:8080 [10.0.0.100]:tcp:80 DOWN\n');
    const quorum = (up: boolean, stopping: boolean): AlertEvent => ({
      type: 'quorum',
      virtualServer: VS_REF,
      up,
      init: false,
      stopping,
      threshold: 1,
      weightSum: up ? 2 : 0,
    });
    assert.equal(fifoLine(quorum(true, false), noOmega)?.line, 'VS [10.0.0.100]:tcp:80 UP\n');
    assert.equal(fifoLine(quorum(false, true), noOmega), undefined);
    assert.equal(fifoLine(quorum(false, true), p)?.line, 'VS [10.0.0.100]:tcp:80 DOWN\n');
    assert.equal(fifoLine(checker(), p), undefined);
  });

  it('a newline or quote in a name cannot forge a line', () => {
    const evil = 'x" MASTER 100\nINSTANCE "VI_1" FAULT 0';
    const line = fifoLine({ type: 'vrrp-instance', instance: evil, state: 'BACKUP', priority: 90 }, p)?.line;
    assert.equal(line, 'INSTANCE "x\\" MASTER 100\\nINSTANCE \\"VI_1\\" FAULT 0" BACKUP 90\n');
    const group = fifoLine(
      {
        type: 'quorum',
        virtualServer: { group: 'a b\nVS', port: 0, protocol: 'TCP' },
        up: true,
        init: true,
        stopping: false,
        threshold: 1,
        weightSum: 1,
      },
      p,
    )?.line;
    assert.equal(group, 'VS [a\\x20b\\nVS]:0 UP\n');
  });

  it('property: any name gives one line with a fixed field count that reads back to the name', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (name, group) => {
          const vi =
            fifoLine({ type: 'vrrp-instance', instance: name, state: 'MASTER', priority: 7 }, p)?.line ?? '';
          assert.equal(vi.indexOf('\n'), vi.length - 1);
          const m = /^INSTANCE "((?:[^"\\]|\\.)*)" MASTER 7\n$/.exec(vi);
          assert.ok(m, vi);
          assert.equal(unescapeField(m[1]), name);
          const vs =
            fifoLine(
              {
                type: 'real-server',
                virtualServer: { group, port: 0, protocol: 'TCP' },
                realServer: RS1,
                up: false,
              },
              p,
            )?.line ?? '';
          assert.equal(vs.indexOf('\n'), vs.length - 1);
          const fields = vs.slice(0, -1).split(' ');
          assert.equal(fields.length, 4);
          assert.equal(unescapeField(fields[2]), `[${group}]:0`);
          for (const s of [name, group]) {
            assert.equal(unescapeField(escapeQuoted(s)), s);
            assert.equal(unescapeField(escapeBare(s)), s);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('mail rules', () => {
  const mailPlan = (globals = '', extra = '') =>
    plan(
      `global_defs {\n${MAIL_GLOBALS} router_id LVS_A\n${globals}\n}\n${VI('VI_1', ' smtp_alert')}${VI('VI_2')}vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n smtp_alert\n}\n${extra}`,
    );

  it("mails each instance state once, with keepalived's subject and body", () => {
    const r = new MailRules(mailPlan());
    const ev = (state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED'): AlertEvent => ({
      type: 'vrrp-instance',
      instance: 'VI_1',
      state,
      priority: 100,
    });
    assert.deepEqual(r.mailFor(ev('BACKUP')), {
      subject: '[LVS_A] VRRP Instance VI_1 - Entering BACKUP state',
      body: '=> VRRP Instance is no longer owning VRRP VIPs <=',
    });
    assert.equal(r.mailFor(ev('BACKUP')), undefined, 'the same state is not mailed twice');
    assert.deepEqual(r.mailFor(ev('MASTER')), {
      subject: '[LVS_A] VRRP Instance VI_1 - Entering MASTER state',
      body: '=> VRRP Instance is now owning VRRP VIPs <=',
    });
    assert.equal(r.mailFor(ev('FAULT'))?.subject, '[LVS_A] VRRP Instance VI_1 - Entering FAULT state');
    assert.deepEqual(r.mailFor(ev('STOP')), {
      subject: '[LVS_A] VRRP Instance VI_1 - Stopping',
      body: '=> VRRP Instance stopping <=',
    });
    assert.equal(r.mailFor(ev('DELETED'))?.body, '=> VRRP Deleted at reload <=');
    assert.equal(
      r.mailFor({ type: 'vrrp-instance', instance: 'VI_2', state: 'MASTER', priority: 100 }),
      undefined,
      'VI_2 has no smtp_alert',
    );
  });

  it('no_email_faults: FAULT is not mailed and does not count as mailed', () => {
    const r = new MailRules(mailPlan('no_email_faults'));
    const ev = (state: 'BACKUP' | 'FAULT'): AlertEvent => ({
      type: 'vrrp-instance',
      instance: 'VI_1',
      state,
      priority: 100,
    });
    assert.ok(r.mailFor(ev('BACKUP')));
    assert.equal(r.mailFor(ev('FAULT')), undefined);
    assert.equal(r.mailFor(ev('BACKUP')), undefined, 'BACKUP was the last state mailed');
    assert.ok(new MailRules(mailPlan()).mailFor(ev('FAULT')), 'without no_email_faults FAULT is mailed');
  });

  it('mails sync group states', () => {
    const r = new MailRules(mailPlan());
    assert.deepEqual(r.mailFor({ type: 'vrrp-group', group: 'G', state: 'MASTER' }), {
      subject: '[LVS_A] VRRP Group G - Entering MASTER state',
      body: '=> All VRRP group instances are now in MASTER state <=',
    });
    assert.equal(
      r.mailFor({ type: 'vrrp-group', group: 'G', state: 'STOP' })?.body,
      '=> All VRRP group instances are now stopping <=',
    );
  });

  it("mails a checker change with the checker's words; no_checker_emails keeps only real server changes", () => {
    const vs = VS('');
    const r = new MailRules(mailPlan('', vs));
    assert.deepEqual(r.mailFor(checker()), {
      subject: '[LVS_A] Realserver [10.0.0.21]:tcp:8080 of virtual server [10.0.0.100]:tcp:80 - DOWN',
      body: '=> TCP CHECK failed on service <=',
    });
    assert.equal(r.mailFor(checker({ wasUp: true, up: true })), undefined, 'no change, no mail');
    // A second checker of an already-down server fails: mailed, unless no_checker_emails.
    const second = checker({ realServerWasUp: false, realServerUp: false });
    assert.equal(r.mailFor(second)?.subject.endsWith(' - DOWN'), true);
    assert.equal(new MailRules(mailPlan('no_checker_emails', vs)).mailFor(second), undefined);
    assert.ok(new MailRules(mailPlan('no_checker_emails', vs)).mailFor(checker()));
    const up = checker({ wasUp: false, up: true, realServerWasUp: false, realServerUp: true });
    assert.deepEqual(r.mailFor(up), {
      subject: '[LVS_A] Realserver [10.0.0.21]:tcp:8080 of virtual server [10.0.0.100]:tcp:80 - UP',
      body: '=> TCP CHECK succeed on service <=',
    });
    const body = (over: Partial<CheckerEvent>) => r.mailFor(checker(over))?.body;
    assert.equal(body({ checker: 'HTTP_GET' }), '=> CHECK failed on service : HTTP request failed <=');
    assert.equal(body({ checker: 'SSL_GET', wasUp: false, up: true }), '=> CHECK succeed on service <=');
    assert.equal(body({ checker: 'PING_CHECK' }), '=> ICMP CHECK failed on service <=');
    assert.equal(body({ checker: 'UDP_CHECK' }), '=> UDP CHECK failed on service <=');
    assert.equal(body({ checker: 'DNS_CHECK' }), '=> DNS_CHECK: failed on service <=');
    assert.equal(
      body({ checker: 'SMTP_CHECK', detail: 'Bad server response 554' }),
      '=> CHECK failed on service : Bad server response 554 <=',
    );
    assert.equal(body({ checker: 'MISC_CHECK', timedOut: true }), '=> MISC CHECK timed out on service <=');
    assert.equal(body({ checker: 'FILE_CHECK' }), undefined);
    // keepalived's MISC_CHECK also mails its first result when nothing changed.
    const first = { wasUp: true, up: true, firstRun: true, realServerWasUp: true, realServerUp: true };
    assert.equal(body({ checker: 'MISC_CHECK', ...first }), '=> MISC CHECK succeeded on service <=');
    assert.equal(body({ checker: 'TCP_CHECK', ...first }), undefined);
  });

  it('follows the real server flag, not the virtual server one', () => {
    const r = new MailRules(mailPlan('', VS(' smtp_alert', '  smtp_alert off')));
    assert.equal(r.mailFor(checker()), undefined);
    assert.ok(r.mailFor(checker({ realServer: RS2 })));
  });

  it('mails a removed real server at reload, and at stop only for omega', () => {
    const removed = (stopping: boolean): AlertEvent => ({
      type: 'real-server-removed',
      virtualServer: VS_REF,
      realServer: RS1,
      stopping,
    });
    const r = new MailRules(mailPlan('', VS('')));
    assert.deepEqual(r.mailFor(removed(false)), {
      subject: '[LVS_A] Realserver [10.0.0.21]:tcp:8080 of virtual server [10.0.0.100]:tcp:80 - DOWN',
      body: '=> Removing <=',
    });
    assert.equal(r.mailFor(removed(true)), undefined);
    assert.equal(
      new MailRules(mailPlan('', VS(' omega'))).mailFor(removed(true))?.body,
      '=> Shutting down <=',
    );
  });

  it("mails quorum changes with keepalived's arithmetic", () => {
    const r = new MailRules(mailPlan('', VS(' smtp_alert\n quorum 3\n hysteresis 1')));
    const q = (up: boolean, init: boolean, stopping = false): AlertEvent => ({
      type: 'quorum',
      virtualServer: VS_REF,
      up,
      init,
      stopping,
      threshold: up ? 4 : 2,
      weightSum: up ? 4 : 1,
    });
    assert.deepEqual(r.mailFor(q(false, false)), {
      subject: '[LVS_A] Virtualserver [10.0.0.100]:tcp:80 - DOWN',
      body: '=> Lost quorum 3+1=2 <= 1 <=',
    });
    assert.equal(r.mailFor(q(true, false))?.body, '=> Gained quorum 3+1=4 <= 4 <=');
    assert.equal(r.mailFor(q(true, true))?.body, '=> Starting with quorum up 3+1=4 <= 4 <=');
    assert.equal(r.mailFor(q(false, true))?.body, '=> Starting with quorum down 3+1=2 <= 1 <=');
    assert.equal(r.mailFor(q(false, false, true)), undefined, 'no omega: nothing at stop');
    assert.equal(
      new MailRules(mailPlan('', VS(''))).mailFor(q(false, false)),
      undefined,
      'virtual servers default off',
    );
  });

  it('sends nothing at all without a mail plan', () => {
    const r = new MailRules(plan(`${VI('VI_1', ' smtp_alert')}${VS('')}`) as AlertPlan);
    assert.equal(
      r.mailFor({ type: 'vrrp-instance', instance: 'VI_1', state: 'MASTER', priority: 100 }),
      undefined,
    );
    assert.equal(r.mailFor(checker()), undefined);
  });
});
