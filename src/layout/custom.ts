import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError, errorMessage } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import type { CustomLayout } from './generate.js';
import { COMPONENT_TYPES, componentSchema, mirrorSchema } from './schema.js';

const customComponentSchema = componentSchema.extend({
  type: z.enum(COMPONENT_TYPES, {
    error: (issue) =>
      `unknown component type ${JSON.stringify(issue.input)} (expected ${COMPONENT_TYPES.join(', ')})`,
  }),
});

const customMirrorSchema = mirrorSchema.extend({
  ports: z.tuple([z.string(), z.string()], {
    error: 'a mirror needs "ports": two rings, e.g. [ring:8, ring:9]',
  }),
});

const customLayoutSchema = z.object({
  vf: z.array(z.object({ components: z.array(customComponentSchema).min(1) })).min(1),
  mirror: z.array(customMirrorSchema).optional(),
});

/** Parses the text of a custom layout file (SYSTEM.md §3.3); `file` names it in errors. */
export function parseCustomLayout(text: string, file: string): CustomLayout {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new InputError(`${file}: not valid YAML: ${errorMessage(error)}`);
  }
  const layout = parseWith(customLayoutSchema, document, file);
  return layout as CustomLayout;
}

export async function loadCustomLayout(file: string): Promise<CustomLayout> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`${file}: cannot read layout file: ${errorMessage(error)}`);
  }
  return parseCustomLayout(text, file);
}
