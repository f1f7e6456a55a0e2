/**
 * Names with newlines and control characters (issue 12): a YAML instance name, a virtual server group
 * name or a check reason quoting a real server's answer can hold "\n", "\r" or a terminal escape. On every
 * text channel they stay on their own line, escaped (src/notify/escape.ts): config diagnostics (`halo
 * config check`, reload errors, logs), the pretty log, `halo status`, the data and stats dumps, `halo ipvs
 * list` notes. (The notify FIFO and mail subjects have their own tests; JSON channels escape by nature.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { oneLine, safeLines } from '../../src/cli/one-line.js';
import { formatDiagnostic } from '../../src/config/index.js';
import { formatPretty } from '../../src/daemon/log.js';
import { renderDataText, renderStatsText, renderStatusText } from '../../src/daemon/status.js';
import { renderIpvsadm } from '../../src/ipvs/render.js';
import { makeDest, makeService } from '../../src/ipvs/types.js';
import { unescapeField } from '../../src/notify/escape.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';
import { NOW, sampleStatus } from './daemon-sample.js';

const EVIL = 'VI_1\nINSTANCE "VI_2" FAULT 0\r\x1b[31m\u2028x';
/** Any C0/C1 control other than the newline that separates lines, or a Unicode line separator. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

function assertNoRawControls(text: string): void {
  assert.doesNotMatch(text, RAW_CONTROL, JSON.stringify(text));
}

/** A status document with the evil name wherever a name or free text can appear. */
function evilStatus() {
  const doc = sampleStatus();
  doc.instances[0].name = EVIL;
  doc.instances[0].lastTransitionReason = EVIL;
  doc.virtualServers[0].name = `[${EVIL}]`;
  const rs = doc.virtualServers[0].realServers[0];
  rs.lastCheck = { checker: 'HTTP_GET', ok: false, reason: `status 500 ${EVIL}`, at: rs.since };
  doc.daemon.configFile = `/etc/${EVIL}.conf`;
  // Diagnostics joined by newlines (each already one line): a terminal escape in one is still escaped.
  doc.daemon.lastReloadError = '/etc/x.conf:1:1: error: one\n/etc/x.conf:2:1: error: two\x1b[31m\r';
  return doc;
}

describe('names with newlines and control characters stay on one line of every text channel', () => {
  it('config diagnostics: one line each, reversibly escaped', () => {
    const d = {
      file: `/tmp/${EVIL}.yaml`,
      line: 3,
      col: 5,
      severity: 'warning' as const,
      message: `(${EVIL}): interface 'v0' does not exist`,
      hint: EVIL,
    };
    const line = formatDiagnostic(d);
    assert.equal(line.includes('\n'), false);
    assertNoRawControls(line);
    assert.match(line, /^\/tmp\/VI_1\\nINSTANCE "VI_2" FAULT 0\\r\\x1b\[31m\\u2028x\.yaml:3:5: warning: /);
    assert.equal(unescapeField(line.slice(line.indexOf('warning: ') + 9)), `${d.message} (${d.hint})`);
  });

  it('halo config check prints one line per diagnostic for a YAML config with such names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-esc-'));
    try {
      const conf = join(dir, 'evil.yaml');
      writeFileSync(
        conf,
        [
          'vrrpInstances:',
          `  - name: ${JSON.stringify(EVIL)}`,
          '    interface: nosuchif0',
          '    virtualRouterId: 51',
          '    priority: 100',
          '    virtualIpaddresses:',
          '      - address: 10.99.0.100',
          '        prefixLength: 24',
          '',
        ].join('\n'),
      );
      const r = spawnSync(process.execPath, [HALO_MAIN, 'config', 'check', '-f', conf], { encoding: 'utf8' });
      assertNoRawControls(r.stdout + r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      const warning = lines.find((l) => l.includes('does not exist'));
      assert.ok(warning, r.stdout);
      assert.ok(warning.includes('VI_1\\nINSTANCE "VI_2" FAULT 0\\r\\x1b[31m\\u2028x'), warning);
      // Every line is a diagnostic (FILE:LINE:COL) or the summary (FILE: ...): nothing forged.
      for (const l of lines) assert.ok(l.startsWith(`${conf}:`), l);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the pretty log: message and fields escaped, one line per record', () => {
    const line = formatPretty({
      time: NOW,
      level: 30,
      event: 'vrrp.transition',
      msg: `(${EVIL}) Entering MASTER STATE`,
      instance: EVIL,
      reason: 'a\x1bb',
    });
    assert.equal(line.includes('\n'), false);
    assertNoRawControls(line);
    assert.match(line, /\(VI_1\\nINSTANCE "VI_2" FAULT 0\\r\\x1b\[31m\\u2028x\) Entering MASTER STATE/);
    assert.match(line, /reason="a\\x1bb"/);
  });

  it('halo status, the data dump and the stats dump: the same lines as for plain names', () => {
    const plain = sampleStatus();
    plain.daemon.lastReloadError = '/etc/x.conf:1:1: error: one\n/etc/x.conf:2:1: error: two';
    const prs = plain.virtualServers[0].realServers[0];
    prs.lastCheck = { checker: 'HTTP_GET', ok: false, reason: 'status 500', at: prs.since };
    const evil = evilStatus();
    for (const render of [(d: typeof plain) => renderStatusText(d, NOW), renderDataText]) {
      const text = render(evil);
      assertNoRawControls(text);
      assert.equal(text.split('\n').length, render(plain).split('\n').length);
      assert.ok(text.includes('VI_1\\nINSTANCE "VI_2" FAULT 0\\r\\x1b[31m\\u2028x'));
    }
    const stats = renderStatsText({
      at: '2026-11-21T07:00:00.000Z',
      instances: [
        {
          name: EVIL,
          advertsReceived: 1,
          advertsSent: 2,
          becameMaster: 1,
          releasedMaster: 0,
          priorityZeroReceived: 0,
          priorityZeroSent: 0,
          dropped: { [`bad\n${EVIL}`]: 1 },
        },
      ],
      checks: [],
      ipvs: { operations: {}, driftRepairs: 0 },
    });
    assertNoRawControls(stats);
    assert.equal(stats.split('\n').filter((l) => l.startsWith('INSTANCE')).length, 0);
  });

  it('CLI messages it did not compose (daemon answers, exception messages) stay on their line', () => {
    assert.equal(
      oneLine(`reload failed: ${EVIL}`),
      'reload failed: VI_1\\nINSTANCE "VI_2" FAULT 0\\r\\x1b[31m\\u2028x',
    );
    assertNoRawControls(oneLine(EVIL));
    assert.equal(oneLine(EVIL).includes('\n'), false);
    // Already-escaped diagnostics print unchanged; the newlines between them stay.
    const diags = `${formatDiagnostic({ file: 'a', line: 1, col: 1, severity: 'error', message: EVIL })}\nb:2:1: error: x\x1b`;
    assert.equal(safeLines(diags).split('\n').length, 2);
    assert.ok(
      safeLines(diags).startsWith(
        formatDiagnostic({ file: 'a', line: 1, col: 1, severity: 'error', message: EVIL }),
      ),
    );
    assertNoRawControls(safeLines(diags));
  });

  it('halo ipvs list: notes and extra lines are escaped', () => {
    const service = makeService({ address: '10.0.0.1', port: 80, scheduler: 'rr' });
    const text = renderIpvsadm(
      { version: 0x010201, connTableSize: 4096 },
      [
        {
          service,
          dests: [
            {
              ...makeDest({ address: '10.1.0.1', port: 80 }),
              activeConns: 0,
              inactiveConns: 0,
              persistConns: 0,
            },
          ],
        },
      ],
      {
        service: () => `halo: owned (virtual server [${EVIL}])`,
        dest: () => `halo: out: ${EVIL}`,
        extra: () => [`  -- 10.1.0.9:80 out # halo: out: ${EVIL}`],
      },
    );
    assertNoRawControls(text);
    assert.equal(text.split('\n').length, 7); // 3 header lines, service, dest, extra, final newline
  });
});
