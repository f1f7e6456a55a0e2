/**
 * `halo config check|show|convert|schema` through the real CLI entry point,
 * and the conf/*.yaml twins staying in step with conf/*.conf.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = `${ROOT}dist/src/cli/main.js`;
const dir = mkdtempSync(join(tmpdir(), 'halo-config-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function halo(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, 'config', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
@lb1 priority 150
@lb2 priority 100
    virtual_ipaddress {
        10.0.0.1/24
    }
    debug 1
}
virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo rr
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
    }
}
`;

describe('halo config check', () => {
  it('exit 0 for a usable config, warnings listed, summary last', () => {
    const f = file('good.conf', GOOD);
    const r = halo('check', '-f', f, '--host-checks', 'off');
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      `${f}:9:5: warning: 'debug' in vrrp_instance is not implemented by halo yet and is ignored\n${f}: OK (1 warning)\n`,
    );
  });

  it('--strict makes not-implemented keywords errors: exit 1', () => {
    const f = file('good.conf', GOOD);
    const r = halo('check', '-f', f, '--strict', '--host-checks', 'off');
    assert.equal(r.code, 1);
    assert.match(r.out, /:9:5: error: 'debug' in vrrp_instance is not implemented/);
  });

  it('exit 1 with FILE:LINE:COL diagnostics and hints for a broken config', () => {
    const f = file('bad.conf', GOOD.replace('virtual_router_id 51', 'virtual_routr_id 51'));
    const r = halo('check', '-f', f, '--host-checks', 'off');
    assert.equal(r.code, 1);
    assert.ok(
      r.out.includes(
        `${f}:3:5: error: unknown keyword 'virtual_routr_id' in vrrp_instance (did you mean 'virtual_router_id'?)\n`,
      ),
      r.out,
    );
    assert.match(r.out, /: 1 error, 1 warning: the config cannot be used\n$/);
  });

  it('--json gives machine-readable diagnostics', () => {
    const f = file('bad.conf', GOOD.replace('priority 150', 'priority 0').replace('    debug 1\n', ''));
    const r = halo('check', '-f', f, '--json', '--strict', '--config-id', 'lb1', '--host-checks', 'off');
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out) as {
      ok: boolean;
      diagnostics: { line: number; col: number; severity: string; message: string }[];
    };
    assert.equal(j.ok, false);
    assert.deepEqual(
      j.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.line, d.col, d.message]),
      [[4, 15, 'priority: 0 is outside the range [1, 255]']],
    );
  });

  it('a missing file is an error, not a crash', () => {
    const r = halo('check', '-f', join(dir, 'nope.conf'));
    assert.equal(r.code, 1);
    assert.match(r.out, /nope\.conf:1:1: error: cannot read config: file not found/);
  });

  it('bad options are usage errors (exit 2)', () => {
    assert.equal(halo('check', '--frobnicate').code, 2);
    assert.equal(halo('show', '--format', 'xml').code, 2);
    assert.equal(halo('launch').code, 2);
  });
});

describe('halo config show', () => {
  it('prints the normalised model with defaults and the config id applied', () => {
    const f = file('good.conf', GOOD);
    const r = halo('show', '-f', f, '--config-id', 'lb2', '--host-checks', 'off');
    assert.equal(r.code, 0);
    const m = JSON.parse(r.out);
    assert.equal(m.vrrpInstances[0].priority, 100);
    assert.equal(m.vrrpInstances[0].advertIntervalMs, 1000);
    assert.equal(m.virtualServers[0].realServers[0].checkers[0].delayLoopMs, 60_000);
    assert.equal(m.virtualServers[0].realServers[0].checkers[0].connectTimeoutMs, 5000);
    assert.equal(m.vrrpInstances[0].source, undefined, 'positions are not part of the shown model');
    const y = halo('show', '-f', f, '--config-id', 'lb1', '--format', 'yaml', '--host-checks', 'off');
    assert.equal(y.code, 0);
    assert.equal(parse(y.out).vrrpInstances[0].priority, 150);
  });
});

describe('halo config convert', () => {
  it('writes YAML that reads back (via check) to the same model', () => {
    const f = file('good.conf', GOOD);
    const out = join(dir, 'good.yaml');
    const c = halo('convert', '-f', f, '--config-id', 'lb1', '-o', out, '--host-checks', 'off');
    assert.equal(c.code, 0, c.err);
    const fromConf = JSON.parse(halo('show', '-f', f, '--config-id', 'lb1', '--host-checks', 'off').out);
    const fromYaml = JSON.parse(halo('show', '-f', out, '--host-checks', 'off').out);
    assert.deepEqual(fromYaml, fromConf);
    assert.match(
      readFileSync(out, 'utf8'),
      /^# halo configuration converted from .*good\.conf for config id 'lb1'/,
    );
  });

  it('refuses a config with errors and a YAML input', () => {
    const bad = file('bad.conf', 'vrrp_instance X {\n');
    assert.equal(halo('convert', '-f', bad).code, 1);
    const y = file('c.yaml', 'global: {}\n');
    const r = halo('convert', '-f', y);
    assert.equal(r.code, 1);
    assert.match(r.err, /is already YAML/);
  });
});

describe('conf/*.yaml twins', () => {
  it('each conf/NAME.yaml is what `halo config convert --config-id lb1` makes of conf/NAME.conf', () => {
    const confs = readdirSync(`${ROOT}conf`).filter((f) => f.endsWith('.conf'));
    for (const c of confs) {
      const twin = `conf/${c.replace(/\.conf$/, '.yaml')}`;
      const r = halo('convert', '-f', `conf/${c}`, '--config-id', 'lb1', '--host-checks', 'off');
      assert.equal(r.code, 0, r.err);
      assert.equal(
        readFileSync(`${ROOT}${twin}`, 'utf8'),
        r.out,
        `${twin} is stale: regenerate it with halo config convert`,
      );
    }
  });
});

describe('halo config schema', () => {
  it('prints the shipped JSON Schema', () => {
    const r = halo('schema');
    assert.equal(r.code, 0);
    assert.equal(r.out, readFileSync(`${ROOT}schema/halo-config.schema.json`, 'utf8'));
  });
});
