/**
 * `halo config check|show|convert|schema`: the configuration front end on the
 * command line. Diagnostics use the compiler format FILE:LINE:COL: severity:
 * message, so editors and CI annotate the right line.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { DEFAULT_CONFIG_PATHS } from '../config/default-paths.js';
import {
  type Diagnostic,
  defaultConfigId,
  formatDiagnostic,
  looksLikeYaml,
  parseConfigText,
  parseYamlText,
  readConfig,
  withoutSources,
} from '../config/index.js';
import { configJsonSchemaText } from '../config/json-schema.js';
import { checkPair } from '../config/pair.js';
import { configToYaml } from '../config/yaml.js';

export { DEFAULT_CONFIG_PATHS };

const USAGE = `usage: halo config <command> [options]

commands:
  check   [-f FILE] [--strict] [--json] [--config-id ID] [--host-checks warn|error|off]
          [--peer FILE [--peer-config-id ID]]   (or: check A.conf B.conf)
          exit 0 when the config can run, 1 when it cannot; prints every problem as
          FILE:LINE:COL: error|warning: message. With a peer (the other director of the
          pair), also checks that both agree where VRRP needs them to (VRID, version,
          advert_int, auth, VIPs, unicast peers, priorities, virtual servers)
  show    [-f FILE] [--format json|yaml] [--config-id ID]
          the normalised model with every default filled in
  convert [-f FILE] [-o OUT] [--config-id ID]
          keepalived.conf to the YAML form
  schema  [-o FILE]
          the JSON Schema of the YAML form
  diff    OLD NEW [--json] [--config-id ID]
          what reloading from OLD to NEW would do: VRRP instances kept, updated in place or
          restarted (and why), checkers started / stopped / kept, IPVS operations (real servers
          in their start state). \`halo reload --plan\` says the same for the running daemon.

FILE defaults to ${DEFAULT_CONFIG_PATHS.join(', then ')}.`;

interface Args {
  file?: string;
  peer?: string;
  peerConfigId?: string;
  out?: string;
  strict: boolean;
  json: boolean;
  format: 'json' | 'yaml';
  configId?: string;
  hostChecks: 'warn' | 'error' | 'off';
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const a: Args = { strict: false, json: false, format: 'json', hostChecks: 'warn' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const val = () => inline ?? value();
    switch (flag) {
      case '-f':
      case '--file':
        // An empty name must not fall back to the default config: that would check another file.
        a.file = nonEmpty(flag, val());
        break;
      case '-o':
      case '--output':
        a.out = nonEmpty(flag, val());
        break;
      case '--strict':
        a.strict = true;
        break;
      case '--json':
        a.json = true;
        break;
      case '--format': {
        const f = val();
        if (f !== 'json' && f !== 'yaml') throw new UsageError(`--format must be json or yaml, not '${f}'`);
        a.format = f;
        break;
      }
      case '--config-id':
        a.configId = val();
        break;
      case '--host-checks': {
        const h = val();
        if (h !== 'warn' && h !== 'error' && h !== 'off')
          throw new UsageError('--host-checks must be warn, error or off');
        a.hostChecks = h;
        break;
      }
      case '--peer':
        a.peer = nonEmpty(flag, val());
        break;
      case '--peer-config-id':
        a.peerConfigId = val();
        break;
      default:
        if (arg.startsWith('-') || arg === '') throw new UsageError(`unknown option '${arg}'`);
        // Positional: FILE, then the peer's FILE (halo config check a.conf b.conf).
        if (a.file === undefined) a.file = arg;
        else if (a.peer === undefined) a.peer = arg;
        else throw new UsageError(`unexpected argument '${arg}'`);
    }
  }
  return a;
}

/** `halo config diff OLD NEW`: the reload plan between two configs, offline. */
async function diffConfigs(a: Args): Promise<number> {
  if (a.file === undefined || a.peer === undefined) {
    process.stderr.write(`halo config diff: needs OLD and NEW config files\n${USAGE}\n`);
    return 2;
  }
  const { loadConfig } = await import('../config/index.js');
  const { buildPlans } = await import('../plan/index.js');
  const { planReload, renderReloadPlan } = await import('../plan/reload.js');
  const { localHost } = await import('../notify/index.js');
  const host = localHost();
  const plans = [];
  for (const file of [a.file, a.peer]) {
    const r = await loadConfig(file, { configId: a.configId, hostChecks: 'off' });
    for (const d of r.diagnostics.filter((x) => x.severity === 'error'))
      process.stderr.write(`${formatDiagnostic(d)}\n`);
    if (!r.config) {
      process.stderr.write(`halo config diff: ${file} has errors\n`);
      return 1;
    }
    plans.push(buildPlans(r.config, host));
  }
  const plan = planReload(plans[0], plans[1]);
  process.stdout.write(a.json ? `${JSON.stringify(plan, null, 2)}\n` : renderReloadPlan(plan));
  return 0;
}

function nonEmpty(flag: string, v: string): string {
  if (v === '') throw new UsageError(`${flag} needs a file name, got an empty one`);
  return v;
}

function configPath(a: Args): string {
  if (a.file !== undefined) return a.file;
  return DEFAULT_CONFIG_PATHS.find((p) => existsSync(p)) ?? DEFAULT_CONFIG_PATHS[0];
}

function load(a: Args) {
  const file = configPath(a);
  const read = readConfig(file);
  if ('diagnostic' in read) {
    return {
      file,
      text: '',
      result: { diagnostics: [read.diagnostic] } as ReturnType<typeof parseConfigText>,
    };
  }
  const text = read.text;
  const result = parseConfigText(text, file, {
    configId: a.configId ?? defaultConfigId(),
    strict: a.strict,
    hostChecks: a.hostChecks,
  });
  return { file, text, result };
}

function summary(file: string, diagnostics: Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (errors === 0) return `${file}: OK${warnings ? ` (${plural(warnings, 'warning')})` : ''}`;
  return `${file}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}: the config cannot be used`;
}

function checkPairCmd(a: Args, peer: string): number {
  const mine = load(a);
  const theirs = load({ ...a, file: peer, configId: a.peerConfigId ?? a.configId });
  const diagnostics = [...mine.result.diagnostics, ...theirs.result.diagnostics];
  if (mine.result.config && theirs.result.config) {
    diagnostics.push(
      ...checkPair(
        { file: mine.file, config: mine.result.config },
        { file: theirs.file, config: theirs.result.config },
      ),
    );
  }
  const ok =
    mine.result.config !== undefined &&
    theirs.result.config !== undefined &&
    !diagnostics.some((d) => d.severity === 'error');
  if (a.json) {
    process.stdout.write(
      `${JSON.stringify({ file: mine.file, peer: theirs.file, ok, diagnostics }, null, 2)}\n`,
    );
  } else {
    for (const d of diagnostics) process.stdout.write(`${formatDiagnostic(d)}\n`);
    process.stdout.write(`${summary(`${mine.file} + ${theirs.file}`, diagnostics)}\n`);
  }
  return ok ? 0 : 1;
}

function check(a: Args): number {
  if (a.peer !== undefined) return checkPairCmd(a, a.peer);
  const { file, result } = load(a);
  const ok = result.config !== undefined;
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ file, ok, diagnostics: result.diagnostics }, null, 2)}\n`);
  } else {
    for (const d of result.diagnostics) process.stdout.write(`${formatDiagnostic(d)}\n`);
    process.stdout.write(`${summary(file, result.diagnostics)}\n`);
  }
  return ok ? 0 : 1;
}

function reportToStderr(file: string, diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  if (diagnostics.some((d) => d.severity === 'error'))
    process.stderr.write(`${summary(file, diagnostics)}\n`);
}

function show(a: Args): number {
  const { file, result } = load(a);
  reportToStderr(file, result.diagnostics);
  if (!result.config) return 1;
  const model = withoutSources(result.config);
  process.stdout.write(
    a.format === 'yaml' ? stringify(model, { lineWidth: 0 }) : `${JSON.stringify(model, null, 2)}\n`,
  );
  return 0;
}

function convert(a: Args): number {
  const { file, text, result } = load(a);
  reportToStderr(file, result.diagnostics);
  if (!result.config || !result.input) return 1;
  if (looksLikeYaml(file, text)) {
    process.stderr.write(`halo config convert: ${file} is already YAML\n`);
    return 1;
  }
  const idNote = a.configId ? ` for config id '${a.configId}'` : '';
  const yaml = configToYaml(
    result.input,
    `halo configuration converted from ${file}${idNote} by 'halo config convert'.\nJSON Schema: schema/halo-config.schema.json in the halo package.`,
  );
  // Self-check: the YAML must read back to the same model, or converting would change behaviour.
  const back = parseYamlText(yaml, a.out ?? 'converted.yaml', { hostChecks: 'off' });
  if (!back.config || !isDeepStrictEqual(withoutSources(back.config), withoutSources(result.config))) {
    process.stderr.write(
      'halo config convert: internal error: the YAML does not read back to the same model\n',
    );
    for (const d of back.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
  if (a.out) return writeOutput(a.out, yaml, 'convert');
  process.stdout.write(yaml);
  return 0;
}

/** Writes -o OUT; a path that cannot be written is the caller's mistake: a message and exit 2. */
function writeOutput(out: string, text: string, sub: string): number {
  try {
    writeFileSync(out, text);
    return 0;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'its directory does not exist'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    process.stderr.write(`halo config ${sub}: cannot write '${out}': ${why}\n`);
    return 2;
  }
}

function schema(a: Args): number {
  const text = configJsonSchemaText();
  if (a.out) return writeOutput(a.out, text, 'schema');
  process.stdout.write(text);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return sub ? 0 : 2;
  }
  let args: Args;
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    args = parseArgs(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`halo config ${sub}: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  switch (sub) {
    case 'check':
      return check(args);
    case 'show':
      return show(args);
    case 'convert':
      return convert(args);
    case 'schema':
      return schema(args);
    case 'diff':
      return diffConfigs(args);
    default:
      process.stderr.write(`halo config: unknown command '${sub}'\n${USAGE}\n`);
      return 2;
  }
}
