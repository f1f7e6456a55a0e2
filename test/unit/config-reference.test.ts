/**
 * docs/config.md's keyword reference is generated from the keyword tables: it cannot drift from what
 * halo accepts, implements, warns about or ignores by design.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ALL_TABLES } from '../../src/config/keywords.js';
import { renderKeywordReference, withReference } from '../../src/config/reference.js';

const DOC = new URL('../../../docs/config.md', import.meta.url);

describe('docs/config.md keyword reference', () => {
  it('matches the keyword tables (regenerate with npm run docs:config)', () => {
    const doc = readFileSync(DOC, 'utf8');
    assert.equal(doc, withReference(doc), 'docs/config.md is stale: run npm run docs:config');
  });

  it('names every keyword of every table with what halo does with it', () => {
    const text = renderKeywordReference();
    for (const t of ALL_TABLES) {
      for (const [word, k] of Object.entries(t.keywords)) {
        assert.ok(text.includes(`\`${word}\``), `${t.name}: ${word}`);
        if (k.noEffect) assert.ok(text.includes(k.noEffect), `${word}: its no-effect reason`);
      }
    }
  });
});
