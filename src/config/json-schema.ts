/**
 * The JSON Schema of the YAML form, generated from the zod schema so the two
 * cannot drift (a unit test checks the shipped schema/halo-config.schema.json).
 */
import { z } from 'zod';
import { HaloConfigSchema } from './model.js';

export function configJsonSchema(): Record<string, unknown> {
  // io 'input': what a user may write (defaults make fields optional).
  const schema = z.toJSONSchema(HaloConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return { ...schema, title: 'halo configuration (YAML form)' };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
