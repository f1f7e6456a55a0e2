/**
 * Fuzz lane for the config front end (issue 12): random keepalived.conf and YAML texts built from the
 * pieces real configs and attacks are made of. Seeded, so a failure reproduces; bounded by run counts
 * and fast-check's time limit (about a minute in all). Asserted for every input: no exception escapes,
 * every diagnostic is located (file, line >= 1, col >= 1), and the heap stays bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Diagnostic } from '../../src/config/diagnostics.js';
import { parseConfigText } from '../../src/config/index.js';

const SEED = Number(process.env.HALO_FUZZ_SEED ?? 20_240_611);
const RUNS = Number(process.env.HALO_FUZZ_RUNS ?? 3000);

const KEEPALIVED_PIECES = [
  'global_defs',
  'vrrp_instance VI_1',
  'virtual_server 10.0.0.1 80',
  'real_server 10.0.0.2 80',
  'TCP_CHECK',
  'HTTP_GET',
  'url',
  'path /',
  'virtual_ipaddress',
  'interface eth0',
  'virtual_router_id 51',
  'priority 150',
  'advert_int 0.1',
  'version 3',
  'state MASTER',
  'authentication',
  'auth_pass x',
  'track_script',
  'vrrp_script s',
  'script "/bin/true"',
  'weight -5',
  'lb_algo rr',
  'lb_kind DR',
  'protocol TCP',
  'delay_loop 3',
  'unicast_peer',
  '10.0.0.1/24',
  'fd00::1',
  '0.0.0.0/0',
  '{',
  '}',
  '{',
  '}',
  '\n',
  '\n',
  '\n',
  ' ',
  '\t',
  '#',
  '!',
  '"',
  "'",
  '\\',
  '$A',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: keepalived.conf syntax, not a JS template
  '${A}',
  '$A=',
  '$B=$A $A',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: keepalived.conf syntax, not a JS template
  '${_RANDOM 1 9}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: keepalived.conf syntax, not a JS template
  '${_ENV HOME}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: keepalived.conf syntax, not a JS template
  '${_PWD}',
  '~SEQ(i, 1, 3)',
  '~SEQ(i,',
  '~SEQx(j, 9, 11)',
  '~LST',
  '@lb1',
  '@^lb1',
  'include x.conf',
  'include [z-a]*',
  'include /dev/null',
  '\u3000',
  '\u00a0',
  '\ufeff',
  '\r',
  ';',
  '9007199254740993',
  '-1',
  '256',
  'yes',
  'off',
  '\u0000',
];

const YAML_PIECES = [
  'global:',
  'vrrpInstances:',
  'virtualServers:',
  '- name: V',
  '  interface: eth0',
  '  virtualRouterId: 1',
  '  priority: 300',
  '  virtualIpaddresses:',
  '    - address: 10.0.0.1',
  'realServers:',
  'checkers:',
  '- type: TCP_CHECK',
  '&a',
  '*a',
  '*b',
  '<<: *a',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '- ',
  '  ',
  '\n',
  '\n',
  '#',
  '"',
  "'",
  '---',
  '...',
  '!!binary',
  '!!str',
  '__proto__:',
  'constructor:',
  'null',
  '~',
  '1e999',
  '0x1F',
  '? ',
  '|',
  '>',
  '%YAML 1.2',
  '\t',
  '\u3000',
];

function located(diagnostics: Diagnostic[], file: string): void {
  for (const d of diagnostics) {
    assert.ok(
      typeof d.file === 'string' && d.file.length > 0,
      `diagnostic without a file: ${JSON.stringify(d)}`,
    );
    assert.ok(Number.isInteger(d.line) && d.line >= 1, `bad line: ${JSON.stringify(d)}`);
    assert.ok(Number.isInteger(d.col) && d.col >= 1, `bad column: ${JSON.stringify(d)}`);
    assert.ok(d.severity === 'error' || d.severity === 'warning');
    assert.ok(typeof d.message === 'string' && d.message.length > 0 && d.message.length < 2000);
    if (!d.file.startsWith('/') && d.file !== file) assert.fail(`diagnostic for another file: ${d.file}`);
  }
}

function text(pieces: string[], max: number) {
  return fc
    .array(
      fc.oneof(
        fc.constantFrom(...pieces),
        fc.string({ maxLength: 6 }),
        fc.string({ unit: 'grapheme', maxLength: 3 }),
      ),
      {
        maxLength: max,
      },
    )
    .map((parts) => parts.join(' ').replace(/ \n /g, '\n'));
}

describe('config fuzz lane', { concurrency: false }, () => {
  it('keepalived.conf: no exception, every diagnostic located', () => {
    fc.assert(
      fc.property(text(KEEPALIVED_PIECES, 120), (t) => {
        const r = parseConfigText(t, 'fuzz.conf', { hostChecks: 'off', configId: 'lb1' });
        located(r.diagnostics, 'fuzz.conf');
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 30_000 },
    );
  });

  it('YAML: no exception, every diagnostic located', () => {
    fc.assert(
      fc.property(text(YAML_PIECES, 120), (t) => {
        const r = parseConfigText(t, 'fuzz.yaml', { hostChecks: 'off' });
        located(r.diagnostics, 'fuzz.yaml');
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 30_000 },
    );
  });

  it('the heap stays bounded after the runs', () => {
    // Each input is parsed and dropped: what stays is the runner's, far below this.
    assert.ok(process.memoryUsage().heapUsed < 1024 * 1024 * 1024, `${process.memoryUsage().heapUsed} bytes`);
  });
});
