/**
 * The keyword reference in docs/config.md, generated from the keyword tables so that it always says,
 * for every keyword keepalived knows, what halo does with it: implemented (and its YAML field and
 * default), implemented with no effect by design (and why), not implemented yet or obsolete (a warning
 * naming it; an error with --strict).
 *
 * `node dist/src/config/reference.js --write docs/config.md` (npm run docs:config) rewrites the section;
 * a unit test fails when the file and the tables disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ALL_TABLES, type BlockTable } from './keywords.js';

const YAML_PREFIX: Record<string, string> = {
  'the top level': '',
  global_defs: 'global.',
  vrrp_script: 'vrrpScripts[].',
  track_file: 'trackFiles[].',
  vrrp_instance: 'vrrpInstances[].',
  authentication: 'vrrpInstances[].',
  vrrp_sync_group: 'syncGroups[].',
  virtual_server: 'virtualServers[].',
  real_server: 'virtualServers[].realServers[].',
  url: '…checkers[].urls[].',
};
const CHECKER_PREFIX = 'virtualServers[].realServers[].checkers[].';

export const REFERENCE_HEADING = '## Keyword reference';

function yamlOf(table: BlockTable, yaml: string | undefined): string {
  if (!yaml) return '';
  const prefix = YAML_PREFIX[table.name] ?? CHECKER_PREFIX;
  return yaml
    .split(', ')
    .map((y) => `\`${prefix}${y}\``)
    .join(', ');
}

function tableSection(table: BlockTable): string {
  const out = [`### ${table.name}`, ''];
  const entries = Object.entries(table.keywords);
  const implemented = entries.filter(([, k]) => k.status === 'implemented');
  if (implemented.length) {
    out.push('| keyword | YAML | default | in halo |', '|---|---|---|---|');
    for (const [word, k] of implemented) {
      const effect = k.noEffect ? `no effect by design: ${k.noEffect}` : 'implemented';
      out.push(`| \`${word}\` | ${yamlOf(table, k.yaml)} | ${k.default ?? ''} | ${effect} |`);
    }
    out.push('');
  }
  const refused = entries.filter(([, k]) => k.refused).map(([w]) => `\`${w}\``);
  if (refused.length) {
    out.push(
      `Not implemented, and refused with an error because running without it would weaken failover: ${refused.join(', ')}.`,
      '',
    );
  }
  const notImplemented = entries
    .filter(([, k]) => k.status === 'not-implemented' && !k.refused)
    .map(([w]) => `\`${w}\``);
  if (notImplemented.length) {
    out.push(
      `Known to keepalived, not implemented by halo yet (warning naming it; error with \`--strict\`): ${notImplemented.join(', ')}.`,
      '',
    );
  }
  const obsolete = entries
    .filter(([, k]) => k.status === 'obsolete')
    .map(([w, k]) => `\`${w}\`${k.replacement ? ` (use ${k.replacement})` : ''}`);
  if (obsolete.length) out.push(`Obsolete (warning; error with \`--strict\`): ${obsolete.join(', ')}.`, '');
  return out.join('\n');
}

export function renderKeywordReference(): string {
  return [
    REFERENCE_HEADING,
    '',
    'Per block: every keyword keepalived knows, the YAML field it sets (empty for blocks), the default',
    '(inherited ones name where they come from) and what halo does with it: `implemented` (a test shows',
    'its effect on what runs), `no effect by design` (with the reason), or listed below the table as not',
    'implemented yet or obsolete (a warning that names it; an error with `--strict`). Nothing is accepted',
    'and then silently ignored. Durations in YAML are milliseconds. This section is generated from the',
    'keyword tables (`npm run docs:config`).',
    '',
    ...ALL_TABLES.map(tableSection),
  ]
    .join('\n')
    .replace(/\n+$/, '\n');
}

/** The doc with its keyword reference (from the heading to the end) replaced by the generated one. */
export function withReference(doc: string): string {
  const at = doc.indexOf(REFERENCE_HEADING);
  const head = at >= 0 ? doc.slice(0, at) : `${doc.replace(/\n*$/, '\n\n')}`;
  return `${head}${renderKeywordReference()}`;
}

if (process.argv[2] === '--write' && process.argv[3]) {
  const file = process.argv[3];
  writeFileSync(file, withReference(readFileSync(file, 'utf8')));
}
