import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DiagnosticSink, formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { KeepalivedLexer } from '../../src/config/lexer.js';
import type { HostProbe } from '../../src/config/semantic.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));
const anyHost: HostProbe = {
  interfaceExists: () => true,
  scriptProblem: () => undefined,
  userExists: () => true,
  groupExists: () => true,
};

/** Lines of tokens as strings: words as-is, braces as { and }. */
function lex(text: string, configId = 'node1'): { lines: string[][]; sink: DiagnosticSink } {
  const sink = new DiagnosticSink();
  const lines = new KeepalivedLexer({ configId, sink }).lex(text, 't.conf');
  return { lines: lines.map((l) => l.tokens.map((t) => t.text)), sink };
}

describe('keepalived.conf lexer', () => {
  it('strips # and ! comments but not inside double quotes, and keeps \\# literal', () => {
    const { lines } = lex('a 1 # c\nb "x # y" ! z\n! whole line\n# another\nc \\#d\n');
    assert.deepEqual(lines, [
      ['a', '1'],
      ['b', 'x # y'],
      ['c', '#d'],
    ]);
  });

  it('splits braces wherever they are and keeps positions', () => {
    const sink = new DiagnosticSink();
    const lines = new KeepalivedLexer({ sink }).lex(
      'vrrp_instance VI{state MASTER}\n\tpriority\t100 }',
      'f.conf',
    );
    assert.deepEqual(
      lines.map((l) => l.tokens.map((t) => `${t.text}@${t.pos.line}:${t.pos.col}`)),
      [
        ['vrrp_instance@1:1', 'VI@1:15', '{@1:17', 'state@1:18', 'MASTER@1:24', '}@1:30'],
        ['priority@2:2', '100@2:11', '}@2:15'],
      ],
    );
  });

  it('handles quoted strings with blanks, single quotes and escapes', () => {
    const { lines } = lex(`script "/bin/echo 'a b'"\nx 'y z' "t\\tab" pre"mid"post\n`);
    assert.deepEqual(lines, [
      ['script', "/bin/echo 'a b'"],
      ['x', 'y z', 't\tab', 'premidpost'],
    ]);
  });

  it('does not split braces inside double quotes', () => {
    const { lines } = lex('notify "/bin/sh -c {x}"\n');
    assert.deepEqual(lines, [['notify', '/bin/sh -c {x}']]);
  });

  it('substitutes $NAME and $' + '{NAME}, positions pointing at the reference', () => {
    const sink = new DiagnosticSink();
    const lines = new KeepalivedLexer({ sink }).lex(
      '$IF=eth1\n$P = 150\ninterface $IF\npriority $' + '{P}0 x$UNSET\n',
      'f.conf',
    );
    const words = lines.map((l) => l.tokens.map((t) => `${t.text}@${t.pos.col}`));
    assert.deepEqual(words, [
      ['interface@1', 'eth1@11'],
      ['priority@1', '1500@10', 'x$UNSET@16'],
    ]);
  });

  it('expands multi-line definitions continued with a backslash', () => {
    const { lines } = lex('$VIPS=10.0.0.1 \\\n  10.0.0.2 \\\n  10.0.0.3\nvirtual_ipaddress {\n$VIPS\n}\n');
    assert.deepEqual(lines, [['virtual_ipaddress', '{'], ['10.0.0.1'], ['10.0.0.2'], ['10.0.0.3'], ['}']]);
  });

  it('keeps @ID lines for the matching config id and @^ID lines for the others', () => {
    const { lines } = lex(
      '@node1 priority 150\n@node2 priority 100\n@^node1 state BACKUP\n@^node2 state MASTER\n@node1\n',
    );
    assert.deepEqual(lines, [
      ['priority', '150'],
      ['state', 'MASTER'],
    ]);
  });

  it('repeats a line with ~SEQ (and ~SEQx in hex)', () => {
    assert.deepEqual(lex('~SEQ(n, 1, 3) real_server 10.0.0.$n 80\n').lines, [
      ['real_server', '10.0.0.1', '80'],
      ['real_server', '10.0.0.2', '80'],
      ['real_server', '10.0.0.3', '80'],
    ]);
    assert.deepEqual(lex('~SEQ(i, 10, -5, 0) w $i\n').lines, [
      ['w', '10'],
      ['w', '5'],
      ['w', '0'],
    ]);
    assert.deepEqual(lex('~SEQx(i, 9, 11) fd00::$i\n').lines, [['fd00::9'], ['fd00::a'], ['fd00::b']]);
  });

  it('reports a bad ~SEQ at its line', () => {
    const { sink } = lex('a b\n~SEQ(i, 1, 0, 5) x\n');
    assert.deepEqual(sink.items.map(formatDiagnostic), [
      't.conf:2:1: error: invalid ~SEQ: step goes the wrong way',
    ]);
  });

  it('reports an unterminated quote', () => {
    const { sink } = lex('a "b\n');
    assert.deepEqual(sink.items.map(formatDiagnostic), ['t.conf:1:3: error: unterminated quote']);
  });
});

describe('include', () => {
  it('reads globbed and relative includes in sorted order, with positions in the included file', () => {
    const main = `${FIXTURES}include/main.conf`;
    const r = parseKeepalivedText(
      `global_defs {\n  router_id INC\n}\ninclude conf.d/*.conf\ninclude scripts.inc\n`,
      main,
      { host: anyHost },
    );
    assert.equal(r.config, undefined);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      `${FIXTURES}include/conf.d/20-vi2.conf:7:3: error: unknown keyword 'prioritty' in vrrp_instance (did you mean 'priority'?)`,
    ]);
  });

  it('builds the model from included files', () => {
    const r = parseKeepalivedText(
      `include conf.d/1*.conf\ninclude scripts.inc\n`,
      `${FIXTURES}include/x.conf`,
      {
        host: anyHost,
      },
    );
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.config?.vrrpInstances[0].name, 'VI_1');
    assert.equal(r.config?.vrrpInstances[0].source?.file, `${FIXTURES}include/conf.d/10-vi1.conf`);
    assert.equal(r.config?.vrrpInstances[0].source?.line, 1);
    assert.equal(r.config?.vrrpScripts[0].script, '/bin/true');
  });

  it('stops include recursion with an error at the include line', () => {
    const file = `${FIXTURES}recursion/a.conf`;
    const r = parseKeepalivedText('global_defs {\n  router_id A\n}\ninclude b.conf\n', file, {
      host: anyHost,
    });
    const d = r.diagnostics.filter((x) => x.severity === 'error');
    assert.equal(d.length, 1);
    assert.equal(d[0].file, `${FIXTURES}recursion/b.conf`);
    assert.equal(d[0].line, 2);
    assert.equal(d[0].col, 1);
    assert.match(d[0].message, /^include recursion: '.*recursion\/a\.conf' is already being read/);
  });

  it('a missing include is a host check: a warning in config check, an error when halo run starts', () => {
    const text = 'include nothere.conf\ninclude nodir/*.conf\n';
    const missing = [
      `include file '${FIXTURES}include/nothere.conf' not found; keepalived skips it ("Config files missing") and runs without it`,
      `include pattern 'nodir/*.conf': directory '${FIXTURES}include/nodir' not found; keepalived skips it ("Config files missing") and runs without it`,
    ];
    const check = parseKeepalivedText(text, `${FIXTURES}include/x.conf`, { host: anyHost });
    assert.deepEqual(check.diagnostics.map(formatDiagnostic), [
      `${FIXTURES}include/x.conf:1:1: warning: ${missing[0]} (on this host)`,
      `${FIXTURES}include/x.conf:2:1: warning: ${missing[1]} (on this host)`,
    ]);
    assert.ok(check.config, 'config check accepts it (exit 0), as keepalived -t does');
    const run = parseKeepalivedText(text, `${FIXTURES}include/x.conf`, {
      host: anyHost,
      hostChecks: 'error',
    });
    assert.deepEqual(run.diagnostics.map(formatDiagnostic), [
      `${FIXTURES}include/x.conf:1:1: error: ${missing[0]} (halo run refuses a config with a part missing)`,
      `${FIXTURES}include/x.conf:2:1: error: ${missing[1]} (halo run refuses a config with a part missing)`,
    ]);
    assert.equal(run.config, undefined);
  });

  it('reports a malformed include pattern as an error and an empty glob as a warning', () => {
    const r = parseKeepalivedText(
      'include conf.d/[ab.conf\ninclude conf.d/*.none\ninclude [z-a]*\n',
      `${FIXTURES}include/x.conf`,
      { host: anyHost },
    );
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      `${FIXTURES}include/x.conf:1:1: error: bad include pattern 'conf.d/[ab.conf': unterminated '['`,
      `${FIXTURES}include/x.conf:2:1: warning: include pattern 'conf.d/*.none' matches no files`,
      `${FIXTURES}include/x.conf:3:1: error: bad include pattern '[z-a]*': '[z-a]*' is not a valid pattern (a range such as [z-a] runs backwards?)`,
    ]);
  });
});
