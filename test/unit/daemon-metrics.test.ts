import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { HaloHttpServer } from '../../src/daemon/http.js';
import {
  HaloMetrics,
  isLoopback,
  parseMetricsAddress,
  parseMetricsArgs,
  VRRP_STATE_NUMBER,
} from '../../src/daemon/metrics.js';

function get(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Value of one sample line `name{labels} value` in the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('HaloMetrics', () => {
  it('records VRRP state as a number and as a state set', async () => {
    const m = new HaloMetrics({ defaultMetrics: false });
    m.recordTransition('VI_1', 'BACKUP');
    m.recordTransition('VI_1', 'MASTER');
    const t = await m.render();
    assert.equal(sample(t, 'halo_vrrp_state{instance="VI_1"}'), VRRP_STATE_NUMBER.MASTER);
    assert.equal(sample(t, 'halo_vrrp_state_info{instance="VI_1",state="MASTER"}'), 1);
    assert.equal(sample(t, 'halo_vrrp_state_info{instance="VI_1",state="BACKUP"}'), 0);
    assert.equal(sample(t, 'halo_vrrp_transitions_total{instance="VI_1",to="MASTER"}'), 1);
    assert.equal(sample(t, 'halo_vrrp_transitions_total{instance="VI_1",to="BACKUP"}'), 1);
    m.forgetInstance('VI_1');
    assert.equal(sample(await m.render(), 'halo_vrrp_state{instance="VI_1"}'), undefined);
  });

  it('records BGP routes, route changes, sessions and the speaker', async () => {
    const m = new HaloMetrics({ defaultMetrics: false });
    m.bgpRoute('10.0.0.100/32', true, true);
    m.bgpRoute('10.0.0.100/32', false, true);
    m.bgpRoute('10.0.0.100/32', false, false);
    m.bgpSession('tor', '10.0.0.1', true);
    m.bgpSpeaker(false);
    const t = await m.render();
    assert.equal(sample(t, 'halo_bgp_route_announced{prefix="10.0.0.100/32"}'), 0);
    assert.equal(sample(t, 'halo_bgp_route_changes_total{prefix="10.0.0.100/32",action="announce"}'), 1);
    assert.equal(sample(t, 'halo_bgp_route_changes_total{prefix="10.0.0.100/32",action="withdraw"}'), 1);
    assert.equal(sample(t, 'halo_bgp_session_up{session="tor",neighbor="10.0.0.1"}'), 1);
    assert.equal(sample(t, 'halo_bgp_speaker_up'), 0);
  });

  it('counts adverts, checks, real servers, IPVS and reloads', async () => {
    const m = new HaloMetrics({ defaultMetrics: false });
    m.advertSent('VI_1', 3);
    m.advertReceived('VI_1');
    m.advertDropped('VI_1', 'bad_checksum');
    m.advertDropped('VI_1', 'bad_checksum');
    const vs = '[10.0.0.100]:tcp:80';
    const rs = '[10.0.0.2]:tcp:80';
    m.checkResult(vs, rs, 'TCP_CHECK', 'success', 0.002);
    m.checkResult(vs, rs, 'TCP_CHECK', 'failure', 0.2);
    m.setRealServerUp(vs, rs, false);
    m.ipvsOperation('add-dest');
    m.ipvsOperation('remove-dest', 2);
    m.ipvsDriftRepaired();
    m.configReload('applied');
    m.configReload('rejected');
    const t = await m.render();
    assert.equal(sample(t, 'halo_vrrp_adverts_sent_total{instance="VI_1"}'), 3);
    assert.equal(sample(t, 'halo_vrrp_adverts_received_total{instance="VI_1"}'), 1);
    assert.equal(sample(t, 'halo_vrrp_adverts_dropped_total{instance="VI_1",reason="bad_checksum"}'), 2);
    assert.equal(
      sample(
        t,
        'halo_check_results_total{virtual_server="[10.0.0.100]:tcp:80",real_server="[10.0.0.2]:tcp:80",checker="TCP_CHECK",result="failure"}',
      ),
      1,
    );
    assert.equal(sample(t, 'halo_check_duration_seconds_count{checker="TCP_CHECK"}'), 2);
    assert.equal(sample(t, 'halo_check_duration_seconds_bucket{le="0.005",checker="TCP_CHECK"}'), 1);
    assert.equal(
      sample(t, 'halo_real_server_up{virtual_server="[10.0.0.100]:tcp:80",real_server="[10.0.0.2]:tcp:80"}'),
      0,
    );
    assert.equal(sample(t, 'halo_ipvs_operations_total{op="remove-dest"}'), 2);
    assert.equal(sample(t, 'halo_ipvs_drift_repairs_total'), 1);
    assert.equal(sample(t, 'halo_config_reloads_total{result="rejected"}'), 1);
    assert.match(t, /# TYPE halo_check_duration_seconds histogram/);
  });
});

describe('metrics HTTP server (--metrics alone: the HTTP server with metrics only)', () => {
  const m = new HaloMetrics();
  const server = new HaloHttpServer({ metrics: m, address: { host: '127.0.0.1', port: 0 } });
  let port: number;
  before(async () => {
    await server.listen();
    port = server.boundAddress!.port;
  });
  after(async () => {
    await server.close();
  });

  it('serves /metrics on loopback in the Prometheus text format', async () => {
    m.recordTransition('VI_9', 'FAULT');
    const r = await get(port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(r.body, 'halo_vrrp_state{instance="VI_9"}'), 3);
    assert.match(r.body, /^halo_process_resident_memory_bytes \d+/m);
    assert.equal(server.exposure, 'loopback');
    assert.equal(server.boundAddress!.host, '127.0.0.1');
  });

  it('serves nothing else', async () => {
    assert.equal((await get(port, '/')).status, 404);
    assert.equal((await get(port, '/metrics/../admin')).status, 404);
    assert.equal((await get(port, '/metrics', 'POST')).status, 405);
    const head = await get(port, '/metrics?x=1', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

describe('--metrics address', () => {
  it('binds loopback unless an address is given', () => {
    assert.deepEqual(parseMetricsAddress('9650'), { host: '127.0.0.1', port: 9650 });
    assert.deepEqual(parseMetricsAddress(':9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsAddress('127.0.0.1:9650'), { host: '127.0.0.1', port: 9650 });
    assert.deepEqual(parseMetricsAddress('[::1]:9650'), { host: '::1', port: 9650 });
    assert.deepEqual(parseMetricsAddress('[::1]'), { host: '::1', port: 9650 });
    assert.deepEqual(parseMetricsAddress('localhost'), { host: 'localhost', port: 9650 });
    assert.deepEqual(parseMetricsAddress('0.0.0.0:9650'), { host: '0.0.0.0', port: 9650 });
  });

  it('rejects bad input with a usable message', () => {
    assert.throws(() => parseMetricsAddress('127.0.0.1:0'), /port must be 1-65535/);
    assert.throws(() => parseMetricsAddress('127.0.0.1:99999'), /port must be 1-65535/);
    assert.throws(() => parseMetricsAddress('127.0.0.1:http'), /port must be/);
    assert.throws(() => parseMetricsAddress('::1:9650'), /\[ADDR\]:PORT/);
  });

  it('knows loopback from network addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'fd00::1', '128.0.0.1'])
      assert.equal(isLoopback(h), false, h);
    assert.equal(
      new HaloHttpServer({
        metrics: new HaloMetrics({ defaultMetrics: false }),
        address: { host: '0.0.0.0', port: 1 },
      }).exposure,
      'network',
    );
  });
});

describe('--metrics option', () => {
  it('is off unless given; bare --metrics means loopback:9650', () => {
    assert.deepEqual(parseMetricsArgs(['-f', 'a']), { metrics: undefined, rest: ['-f', 'a'] });
    assert.deepEqual(parseMetricsArgs(['--metrics', '--log-format', 'json']), {
      metrics: { host: '127.0.0.1', port: 9650 },
      rest: ['--log-format', 'json'],
    });
    assert.deepEqual(parseMetricsArgs(['--metrics', '[::1]:9100']).metrics, { host: '::1', port: 9100 });
    assert.deepEqual(parseMetricsArgs(['--metrics=10.1.1.1:9650']).metrics, { host: '10.1.1.1', port: 9650 });
  });
});
