import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultPaths } from '../../src/daemon/paths.js';
import {
  formatDuration,
  renderDataText,
  renderJson,
  renderStatsText,
  renderStatusText,
  type StatsDocument,
  StatsDocumentSchema,
  StatusDocumentSchema,
  writeDataDump,
  writeStatsDump,
} from '../../src/daemon/status.js';
import { NOW, sampleStatus } from './daemon-sample.js';

describe('status document', () => {
  it('the schema accepts a real document and rejects an unknown state', () => {
    const doc = sampleStatus();
    assert.deepEqual(StatusDocumentSchema.parse(JSON.parse(renderJson(doc))), doc);
    const bad = sampleStatus() as unknown as { instances: { state: string }[] };
    bad.instances[0].state = 'LEADER';
    assert.equal(StatusDocumentSchema.safeParse(bad).success, false);
  });

  it('renders the halo status table', () => {
    const text = renderStatusText(sampleStatus(), NOW);
    const lines = text.split('\n');
    assert.equal(lines[0], 'halo 0.1.0  pid 1234  up 2h00m  config /etc/halo/halo.conf (loaded 1m00s ago)');
    assert.equal(lines[2], 'VRRP instances (2)');
    assert.match(lines[3], /^ {2}NAME\s+STATE\s+IFACE\s+VRID\s+PRIO\s+MASTER\s+FOR\s+REASON\s+PEER\s+VIPS$/);
    assert.match(
      lines[4],
      /^ {2}VI_1\s+MASTER\s+eth0\s+51\s+150\s+10\.0\.0\.1\s+1m30s\s+master_down_timer\s+-\s+10\.0\.0\.100\/24$/,
    );
    // The peer column: its last advert's address, priority, what it says (MASTER: adverts keep coming), age.
    assert.match(
      lines[5],
      /^ {2}VI_6\s+BACKUP\s+eth1\s+52\s+80\/100\s+-\s+1h59m\s+init\s+fd00::9 prio 120 MASTER 1s ago\s+fd00::100\/64$/,
    );
    assert.ok(text.includes('  [10.0.0.100]:tcp:80 rr DR  1/2 up\n'));
    assert.match(text, /\n {4}10\.0\.0\.2:80\s+UP\s+1\s+1h59m\s+TCP_CHECK ok 2s ago: connected\n/);
    assert.match(
      text,
      /\n {4}10\.0\.0\.3:80\s+DOWN\s+0\/2\s+10m00s\s+TCP_CHECK FAIL 0\.4ms 3s ago: connection refused\n/,
    );
    assert.match(text, /IPVS: 1 services, 1 real servers programmed; last sync 1s ago; 2 drift repairs\n$/);
    // columns line up: STATE starts at the same offset on every row
    const col = lines[3].indexOf('STATE');
    assert.equal(lines[4].indexOf('MASTER'), col);
    assert.equal(lines[5].indexOf('BACKUP'), col);
  });

  it('shows a rejected reload, quorum loss and an empty daemon', () => {
    const doc = sampleStatus();
    doc.daemon.lastReloadError = '/etc/halo/halo.conf:3:1: error: unknown keyword';
    doc.virtualServers[0].quorumUp = false;
    const text = renderStatusText(doc, NOW);
    assert.match(text, /last reload REJECTED: \/etc\/halo\/halo\.conf:3:1: error: unknown keyword/);
    assert.match(text, /1\/2 up {2}QUORUM DOWN/);
    const empty = renderStatusText({ ...doc, instances: [], virtualServers: [], ipvs: null }, NOW);
    assert.match(empty, /VRRP instances \(0\)\n {2}none\n/);
    assert.match(empty, /IPVS: not managed/);
  });

  it('says when a part is down (its rows are its last known state) or was restarted', () => {
    const doc = sampleStatus();
    const quiet = renderStatusText(
      { ...doc, daemon: { ...doc.daemon, parts: { vrrp: { restarts: 0 } } } },
      NOW,
    );
    assert.equal(quiet, renderStatusText(doc, NOW), 'nothing to say when no part ever died');
    doc.daemon.parts = {
      vrrp: { restarts: 1 },
      checks: {
        restarts: 2,
        down: {
          reason: 'checker bug',
          since: new Date(NOW - 1000).toISOString(),
          restartAt: new Date(NOW + 3500).toISOString(),
        },
      },
    };
    assert.deepEqual(StatusDocumentSchema.parse(JSON.parse(renderJson(doc))), doc);
    const lines = renderStatusText(doc, NOW).split('\n');
    assert.equal(lines[1], 'VRRP engine restarted 1 time after a crash (see the log: daemon.part_restart)');
    assert.equal(
      lines[2],
      `checks + IPVS part DOWN since ${new Date(NOW - 1000).toISOString()} (checker bug); restarting in 4 s: what is shown of it is its last known state`,
    );
    assert.equal(lines[4], 'VRRP instances (2)');
  });

  it('says dry-run where IPVS is only simulated, and shows drained servers', () => {
    const doc = sampleStatus();
    doc.ipvs = { ...doc.ipvs!, mode: 'dry-run' };
    doc.virtualServers[0].realServers[0].effectiveWeight = 0;
    doc.virtualServers[0].realServers[0].weight = 0;
    const text = renderStatusText(doc, NOW);
    const lines = text.split('\n');
    assert.equal(lines[1], 'IPVS: dry-run, nothing programmed (halo run --ipvs dry-run)');
    assert.match(
      text,
      /\nIPVS: dry-run, nothing programmed: 1 services, 1 real servers would be programmed; last pass 1s ago\n$/,
    );
    assert.match(text, /\n {4}10\.0\.0\.2:80\s+DRAINED\s+0\s/);
    const data = renderDataText(doc).split('\n');
    assert.ok(data.includes(' IPVS: dry-run, nothing programmed'), 'data dump header says dry-run');
    assert.ok(data.includes(' Mode = dry-run (IPVS: dry-run, nothing programmed)'));
    assert.ok(data.includes('     State = drained'));
    const stats = renderStatsText({
      at: NOW.toString(),
      instances: [],
      checks: [],
      ipvs: { operations: { 'add-dest': 2 }, driftRepairs: 0, mode: 'dry-run' },
    });
    assert.match(
      stats,
      /IPVS \(IPVS: dry-run, nothing programmed; counts are what would have been done\):\n/,
    );
    // A kernel-mode document says nothing of the sort.
    assert.doesNotMatch(renderStatusText(sampleStatus(), NOW), /dry-run/);
    assert.doesNotMatch(renderDataText(sampleStatus()), /dry-run/);
  });

  it('renders the keepalived-like data dump', () => {
    const text = renderDataText(sampleStatus());
    for (const expected of [
      '------< Global definitions >------',
      '------< VRRP Topology >------',
      ' VRRP Instance = VI_1',
      '   State = MASTER',
      '   Virtual Router ID = 51',
      '   Effective priority = 80',
      '   Master router = (unknown)',
      '     fd00::100/64',
      '------< LVS Topology >------',
      ' VS = [10.0.0.100]:tcp:80',
      '   RS = 10.0.0.3:80',
      '     Alive = no',
      '     Last check result = connection refused',
      '     State = down',
      '   Last peer advert = fd00::9 priority 120 at 2026-11-21T06:59:59.000Z (MASTER)',
      ' Drift repairs = 2',
    ]) {
      assert.ok(text.split('\n').includes(expected), `missing line: ${expected}`);
    }
  });

  it('renders the stats dump', () => {
    const stats: StatsDocument = {
      at: '2026-11-21T07:00:00.000Z',
      instances: [
        {
          name: 'VI_1',
          advertsReceived: 10,
          advertsSent: 3600,
          becameMaster: 1,
          releasedMaster: 0,
          priorityZeroReceived: 0,
          priorityZeroSent: 1,
          dropped: { bad_checksum: 2, auth_mismatch: 1 },
        },
      ],
      checks: [
        {
          virtualServer: '[10.0.0.100]:tcp:80',
          realServer: '[10.0.0.2]:tcp:80',
          checker: 'TCP_CHECK',
          ok: 5,
          failed: 1,
        },
      ],
      ipvs: { operations: { 'add-dest': 2, 'remove-dest': 1 }, driftRepairs: 0 },
    };
    const text = renderStatsText(stats);
    assert.match(text, /VRRP Instance: VI_1\n {2}Advertisements:\n {4}Received: 10\n {4}Sent: 3600\n/);
    assert.match(text, /Dropped:\n {4}auth_mismatch: 1\n {4}bad_checksum: 2\n/);
    assert.match(text, /\[10\.0\.0\.2\]:tcp:80 in VS \[10\.0\.0\.100\]:tcp:80 TCP_CHECK: ok 5, failed 1/);
    assert.match(text, /IPVS:\n {2}add-dest: 2\n {2}remove-dest: 1\n {2}drift repairs: 0\n$/);
  });

  it('formats durations', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(59_999), '59s');
    assert.equal(formatDuration(61_000), '1m01s');
    assert.equal(formatDuration(3_600_000 * 2 + 180_000), '2h03m');
    assert.equal(formatDuration(86_400_000 * 3 + 3_600_000 * 4), '3d04h');
    assert.equal(formatDuration(-5), '?');
  });
});

describe('dump files', () => {
  it('writes the SIGUSR1 and SIGUSR2 dumps (text and JSON) under the run dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-dump-'));
    try {
      const paths = defaultPaths(join(dir, 'run'));
      const files = await writeDataDump(paths, sampleStatus());
      assert.deepEqual(files, [join(dir, 'run', 'halo.data'), join(dir, 'run', 'halo.data.json')]);
      assert.equal(await readFile(files[0], 'utf8'), renderDataText(sampleStatus()));
      assert.deepEqual(JSON.parse(await readFile(files[1], 'utf8')), sampleStatus());
      const stats = {
        at: '2026-11-21T07:00:00.000Z',
        instances: [],
        checks: [],
        ipvs: { operations: {}, driftRepairs: 3 },
      };
      const sfiles = await writeStatsDump(paths, stats);
      assert.deepEqual(sfiles, [join(dir, 'run', 'halo.stats'), join(dir, 'run', 'halo.stats.json')]);
      assert.match(await readFile(sfiles[0], 'utf8'), /drift repairs: 3\n$/);
      assert.deepEqual(StatsDocumentSchema.parse(JSON.parse(await readFile(sfiles[1], 'utf8'))), stats);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
