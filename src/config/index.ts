/**
 * halo configuration API: load a keepalived.conf or YAML file into the one
 * normalised model, with every problem as a positioned diagnostic.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Diagnostic } from './diagnostics.js';
import { type ParseOptions, type ParseResult, parseKeepalivedText } from './keepalived.js';
import type { HaloConfig } from './model.js';
import type { HostChecks } from './semantic.js';
import { parseYamlText } from './yaml.js';

export type { Diagnostic } from './diagnostics.js';
export { formatDiagnostic } from './diagnostics.js';
export { type ParseOptions, type ParseResult, parseKeepalivedText } from './keepalived.js';
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
  return looksLikeYaml(path, text) ? parseYamlText(text, path, o) : parseKeepalivedText(text, path, o);
}

export async function loadConfig(
  path: string,
  opts: LoadOptions = {},
): Promise<{ config?: HaloConfig; diagnostics: Diagnostic[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String(err);
    return {
      diagnostics: [
        { file: path, line: 1, col: 1, severity: 'error', message: `cannot read config: ${why}` },
      ],
    };
  }
  const { config, diagnostics } = parseConfigText(text, path, opts);
  return { config, diagnostics };
}
