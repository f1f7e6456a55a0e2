/**
 * halo configuration API: load a keepalived.conf or YAML file into the one
 * normalised model, with every problem as a positioned diagnostic.
 */
import { hostname } from 'node:os';
import type { Diagnostic } from './diagnostics.js';
import { type ParseOptions, type ParseResult, parseKeepalivedText } from './keepalived.js';
import { readConfigFileSync } from './limits.js';
import type { HaloConfig } from './model.js';
import type { HostChecks } from './semantic.js';
import { parseYamlText } from './yaml.js';

export type { Diagnostic } from './diagnostics.js';
export { formatDiagnostic } from './diagnostics.js';
export { ISOLATION_DEFAULTS, type IsolationLimits, type LoadResult, loadConfigIsolated } from './isolated.js';
export { type ParseOptions, type ParseResult, parseKeepalivedText } from './keepalived.js';
export { CONFIG_LIMITS, type ConfigLimits } from './limits.js';
export * from './model.js';
export type { HostChecks, HostProbe } from './semantic.js';
export { configToYaml, parseYamlText, withoutSources } from './yaml.js';

export interface LoadOptions {
  /** For `@ID` conditional lines; default the short host name (as keepalived). */
  configId?: string;
  /** Not-implemented and obsolete keywords become errors. */
  strict?: boolean;
  /** Interfaces, scripts, users missing on this host: 'warn' (config check), 'error' (halo run), 'off'. */
  hostChecks?: HostChecks;
}

/** The short host name, keepalived's default config id. */
export function defaultConfigId(): string {
  return hostname().split('.')[0];
}

/** YAML by extension, else by content: a `key:` mapping or `---` start means YAML. */
export function looksLikeYaml(path: string, text: string): boolean {
  if (/\.ya?ml$/i.test(path)) return true;
  if (/\.conf$/i.test(path)) return false;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith('!')) continue;
    return t === '---' || /^[A-Za-z][A-Za-z0-9]*:(\s|$)/.test(t);
  }
  return false;
}

/** Parses text in either syntax (detected from the path and content). */
export function parseConfigText(text: string, path: string, opts: ParseOptions = {}): ParseResult {
  const o = { ...opts, configId: opts.configId ?? defaultConfigId() };
  try {
    return looksLikeYaml(path, text) ? parseYamlText(text, path, o) : parseKeepalivedText(text, path, o);
  } catch (err) {
    // The parsers report bad input as diagnostics; this is the net under them, so a config can never
    // throw out of the loader (a reload must not take the daemon down).
    const message =
      err instanceof RangeError ? 'the config is nested or expands too deeply' : (err as Error).message;
    return {
      diagnostics: [
        {
          file: path,
          line: 1,
          col: 1,
          severity: 'error',
          message: `cannot read the config: ${message}`,
          hint: 'this is a bug in halo; please report it with the config',
        },
      ],
    };
  }
}

export async function loadConfig(
  path: string,
  opts: LoadOptions = {},
): Promise<{ config?: HaloConfig; diagnostics: Diagnostic[] }> {
  const read = readConfig(path);
  if ('diagnostic' in read) return { diagnostics: [read.diagnostic] };
  const { config, diagnostics } = parseConfigText(read.text, path, opts);
  return { config, diagnostics };
}

/**
 * Reads a config file for loading: a regular file only (not a FIFO, /dev/zero or a directory), within
 * the size limit; a problem is a diagnostic at FILE:1:1. Never throws.
 */
export function readConfig(path: string): { text: string } | { diagnostic: Diagnostic } {
  if (path === '') {
    return {
      diagnostic: {
        file: '(empty)',
        line: 1,
        col: 1,
        severity: 'error',
        message: 'cannot read config: the file name is empty',
      },
    };
  }
  const r = readConfigFileSync(path);
  if ('text' in r) return r;
  const why = r.code === 'ENOENT' ? 'file not found' : r.problem;
  return {
    diagnostic: {
      file: path,
      line: 1,
      col: 1,
      severity: 'error',
      message: `cannot read config: ${why}`,
      ...(r.hint ? { hint: r.hint } : {}),
    },
  };
}
