/**
 * The YAML form: validation errors with positions, the shipped JSON Schema,
 * and round trips keepalived.conf -> YAML -> model (samples and generated
 * configs).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { configJsonSchemaText } from '../../src/config/json-schema.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { type HaloConfig, SCHEDULERS } from '../../src/config/model.js';
import type { HostProbe } from '../../src/config/semantic.js';
import { configToYaml, parseYamlText, withoutSources } from '../../src/config/yaml.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

function yaml(text: string) {
  const r = parseYamlText(text, 'c.yaml', { host: anyHost });
  return { config: r.config, lines: r.diagnostics.map(formatDiagnostic) };
}

describe('YAML config', () => {
  it('fills the same defaults as keepalived.conf', () => {
    const y = yaml(
      'vrrpInstances:\n  - name: VI_1\n    interface: eth0\n    virtualRouterId: 51\n    virtualIpaddresses:\n      - address: 10.0.0.1\n        prefixLength: 24\n',
    );
    const k = parseKeepalivedText(
      'vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n',
      'c.conf',
      { host: anyHost },
    );
    assert.deepEqual(y.lines, []);
    assert.ok(y.config && k.config);
    assert.deepEqual(withoutSources(y.config), withoutSources(k.config));
    assert.deepEqual(y.config.vrrpInstances[0].source, { file: 'c.yaml', line: 2, col: 5 });
  });

  it('reports type errors at the value, unknown keys at the key with a hint, missing keys at the item', () => {
    const r = yaml(`global:
  vrrpVersion: 4
vrrpInstances:
  - name: VI_1
    interface: eth0
    virtualRouterId: "51"
    priorty: 100
  - name: VI_2
    interface: eth0
virtualServers:
  - address: 10.0.0.100
    port: 80
    protocol: TCP
    scheduler: rr
    realServers:
      - address: 10.0.1.1
        weight: -3
        checkers:
          - type: HTTP_GTE
`);
    assert.equal(r.config, undefined);
    assert.deepEqual(r.lines, [
      'c.yaml:2:16: error: vrrpVersion: 4 is not one of 2, 3',
      "c.yaml:6:22: error: virtualRouterId: expected number, got '51'",
      "c.yaml:7:5: error: unknown setting 'priorty' in vrrpInstances[0] (VI_1) (did you mean 'priority'?)",
      "c.yaml:8:5: error: vrrpInstances[1] (VI_2): missing required 'virtualRouterId'",
      'c.yaml:17:17: error: weight: -3 is below the minimum 0',
      "c.yaml:19:19: error: type: 'HTTP_GTE' is not one of TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, PING_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, FILE_CHECK (did you mean 'HTTP_GET'?)",
    ]);
  });

  it('reports YAML syntax errors and a non-mapping document with positions', () => {
    assert.deepEqual(yaml('global:\n  routerId: [a, b\nx: 1\n').lines, [
      'c.yaml:3:1: error: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    assert.deepEqual(yaml('- a\n- b\n').lines, [
      'c.yaml:1:1: error: the YAML document must be a mapping (global:, vrrpInstances:, virtualServers:, ...)',
    ]);
    assert.deepEqual(yaml('global:\n  routerId: a\n  routerId: b\n').lines, [
      "c.yaml:3:3: error: YAML: map keys must be unique: 'routerId' is repeated",
    ]);
  });

  it('runs the same semantic checks as keepalived.conf (duplicate VRID)', () => {
    const r = yaml(`vrrpInstances:
  - { name: A, interface: eth0, virtualRouterId: 5, virtualIpaddresses: [{ address: 10.0.0.1 }] }
  - { name: B, interface: eth0, virtualRouterId: 5, virtualIpaddresses: [{ address: 10.0.0.2 }] }
`);
    assert.deepEqual(r.lines, [
      'c.yaml:3:50: error: A and B both use VRID 5 with IPv4 on interface eth0 (a VRID must be unique per interface and address family)',
    ]);
  });
});

describe('JSON Schema', () => {
  it('the shipped schema/halo-config.schema.json is up to date with the zod schema', () => {
    const shipped = readFileSync(`${ROOT}schema/halo-config.schema.json`, 'utf8');
    assert.equal(
      shipped,
      configJsonSchemaText(),
      "run 'halo config schema -o schema/halo-config.schema.json'",
    );
  });

  it('describes the top-level keys and the checker types', () => {
    const schema = JSON.parse(configJsonSchemaText()) as { properties: Record<string, unknown> };
    assert.deepEqual(Object.keys(schema.properties).sort(), [
      'bgp',
      'global',
      'staticIpaddresses',
      'staticRoutes',
      'staticRules',
      'syncGroups',
      'trackFiles',
      'virtualServerGroups',
      'virtualServers',
      'vrrpInstances',
      'vrrpScripts',
      'vrrpTrackProcesses',
    ]);
    for (const t of [
      'TCP_CHECK',
      'HTTP_GET',
      'SSL_GET',
      'MISC_CHECK',
      'PING_CHECK',
      'UDP_CHECK',
      'DNS_CHECK',
      'SMTP_CHECK',
    ]) {
      assert.ok(configJsonSchemaText().includes(`"const": "${t}"`), t);
    }
  });
});

/** keepalived.conf -> (input) YAML -> model must equal keepalived.conf -> model; so must the full model's YAML. */
function assertRoundTrip(text: string, file: string): HaloConfig {
  const k = parseKeepalivedText(text, file, { hostChecks: 'off' });
  assert.ok(k.config, `${file} must parse: ${k.diagnostics.map(formatDiagnostic).join('\n')}`);
  assert.ok(k.input);
  const fromInput = parseYamlText(configToYaml(k.input), 'converted.yaml', { hostChecks: 'off' });
  assert.ok(fromInput.config, fromInput.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(withoutSources(fromInput.config), withoutSources(k.config));
  const fromModel = parseYamlText(configToYaml(k.config), 'model.yaml', { hostChecks: 'off' });
  assert.ok(fromModel.config, fromModel.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(withoutSources(fromModel.config), withoutSources(k.config));
  return k.config;
}

describe('round trips', () => {
  it('every sample under test/fixtures/config/samples and conf/', () => {
    const files = [
      ...readdirSync(`${ROOT}test/fixtures/config/samples`).map(
        (f) => `${ROOT}test/fixtures/config/samples/${f}`,
      ),
      ...safeList(`${ROOT}conf`).map((f) => `${ROOT}conf/${f}`),
    ].filter((f) => f.endsWith('.conf'));
    assert.ok(files.length >= 1);
    for (const f of files) assertRoundTrip(readFileSync(f, 'utf8'), f);
  });

  it('generated configs (property)', () => {
    const ip = (a: number, b: number) => `10.${a}.0.${b}`;
    const checker = fc.oneof(
      fc
        .record({ t: fc.constant('TCP_CHECK'), ct: fc.integer({ min: 1, max: 10 }) })
        .map((c) => `TCP_CHECK {\n connect_timeout ${c.ct}\n}`),
      fc.constantFrom('/', '/health').map((p) => `HTTP_GET {\n url {\n  path ${p}\n  status_code 200\n }\n}`),
      fc.constant('SSL_GET {\n url {\n  path /\n }\n}'),
      fc
        .integer({ min: 0, max: 20 })
        .map((t) => `MISC_CHECK {\n misc_path "/bin/check x"\n misc_timeout ${t}\n}`),
      fc.constant('PING_CHECK {\n}'),
      fc.constant('UDP_CHECK {\n connect_port 53\n}'),
      fc.constantFrom('A', 'SOA').map((t) => `DNS_CHECK {\n type ${t}\n}`),
      fc.constant('SMTP_CHECK {\n}'),
    );
    const realServer = fc.record({
      weight: fc.integer({ min: 0, max: 100 }),
      delay: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
      checkers: fc.array(checker, { maxLength: 2 }),
    });
    const virtualServer = fc.record({
      port: fc.integer({ min: 1, max: 65535 }),
      sched: fc.constantFrom(...SCHEDULERS),
      kind: fc.constantFrom('NAT', 'DR', 'TUN'),
      delay: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
      retry: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      persistence: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
      rs: fc.array(realServer, { minLength: 1, maxLength: 3 }),
    });
    const instance = fc.record({
      iface: fc.constantFrom('eth0', 'eth1'),
      state: fc.constantFrom('MASTER', 'BACKUP'),
      priority: fc.integer({ min: 1, max: 254 }),
      advert: fc.integer({ min: 1, max: 10 }),
      nopreempt: fc.boolean(),
      vips: fc.integer({ min: 1, max: 3 }),
      peers: fc.integer({ min: 0, max: 2 }),
      track: fc.option(fc.integer({ min: -50, max: 50 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(instance, { minLength: 1, maxLength: 3 }),
        fc.array(virtualServer, { maxLength: 2 }),
        (vis, vss) => {
          const parts: string[] = [];
          vis.forEach((v, i) => {
            const vips = Array.from({ length: v.vips }, (_, k) => `  ${ip(i, k + 1)}/24`).join('\n');
            const peers = v.peers
              ? `unicast_peer {\n${Array.from({ length: v.peers }, (_, k) => `  ${ip(i, 100 + k)}`).join('\n')}\n}\n`
              : '';
            const track = v.track !== undefined ? `track_interface {\n  eth9 weight ${v.track}\n}\n` : '';
            parts.push(
              `vrrp_instance VI_${i} {\nstate ${v.state}\ninterface ${v.iface}\nvirtual_router_id ${i + 1}\npriority ${v.priority}\nadvert_int ${v.advert}\n${v.nopreempt ? 'nopreempt\n' : ''}virtual_ipaddress {\n${vips}\n}\n${peers}${track}}\n`,
            );
          });
          vss.forEach((s, i) => {
            const rs = s.rs
              .map(
                (r, k) =>
                  `real_server ${ip(50 + i, k + 1)} ${s.port} {\nweight ${r.weight}\n${r.delay ? `delay_loop ${r.delay}\n` : ''}${r.checkers.join('\n')}\n}`,
              )
              .join('\n');
            parts.push(
              `virtual_server ${ip(40, i + 1)} ${s.port} {\nprotocol TCP\nlb_algo ${s.sched}\nlb_kind ${s.kind}\n${s.delay ? `delay_loop ${s.delay}\n` : ''}${s.retry ? `retry ${s.retry}\n` : ''}${s.persistence ? `persistence_timeout ${s.persistence}\n` : ''}${rs}\n}\n`,
            );
          });
          const config = assertRoundTrip(parts.join(''), 'gen.conf');
          assert.equal(config.vrrpInstances.length, vis.length);
          assert.equal(config.virtualServers.length, vss.length);
        },
      ),
      { numRuns: 60 },
    );
  });
});

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
