/**
 * global_defs lvs_sync_daemon and lvs_flush_on_stop (keepalived 2.2.7 syntax) -> the model the daemon uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import type { HostProbe } from '../../src/config/semantic.js';

const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function parse(globalBody: string) {
  const r = parseKeepalivedText(`global_defs {\n${globalBody}\n}\n`, 'k.conf', { host: anyHost });
  return { global: r.config?.global, errors: r.diagnostics.map(formatDiagnostic) };
}

describe('global_defs lvs_sync_daemon', () => {
  it('reads every option', () => {
    const { global, errors } = parse(
      '  lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8848 ttl 2 group 224.0.0.81',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(global?.lvsSyncDaemon, {
      interface: 'eth1',
      instance: 'VI_1',
      syncId: 7,
      maxLen: 1400,
      port: 8848,
      ttl: 2,
      group: '224.0.0.81',
    });
  });

  it('takes the interface alone (halo: master without VRRP) and the old bare sync id', () => {
    assert.deepEqual(parse('  lvs_sync_daemon eth1').global?.lvsSyncDaemon, { interface: 'eth1', syncId: 0 });
    assert.deepEqual(parse('  lvs_sync_daemon eth1 VI_2 9').global?.lvsSyncDaemon, {
      interface: 'eth1',
      instance: 'VI_2',
      syncId: 9,
    });
    assert.deepEqual(parse('  lvs_sync_daemon eth1 id 3').global?.lvsSyncDaemon, {
      interface: 'eth1',
      syncId: 3,
    });
  });

  it('rejects unknown options and out-of-range values', () => {
    const bad = parse('  lvs_sync_daemon eth1 VI_1 ttll 2');
    assert.equal(bad.global, undefined);
    assert.match(bad.errors.join('\n'), /unknown option 'ttll'/);
    const wide = parse('  lvs_sync_daemon eth1 VI_1 id 256');
    assert.match(
      wide.errors.join('\n'),
      /warning: lvs_sync_daemon id: 256 is outside the range \[0, 255\]: line ignored/,
    );
    assert.equal(wide.global?.lvsSyncDaemon?.syncId, 0, 'the default applies');
    assert.equal(parse('  lvs_sync_daemon eth1 VI_1 port').global, undefined);
  });
});

describe('global_defs lvs_flush_on_stop', () => {
  it('bare flushes everything, VS and RS name what halo removes', () => {
    assert.equal(parse('  lvs_flush_on_stop').global?.lvsFlushOnStop, 'full');
    assert.equal(parse('  lvs_flush_on_stop VS').global?.lvsFlushOnStop, 'vs');
    assert.equal(parse('  lvs_flush_on_stop RS').global?.lvsFlushOnStop, 'rs');
    assert.equal(parse('').global?.lvsFlushOnStop, 'off');
  });
});
