import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InputError, errorMessage } from '../util/errors.js';
import { formatPath, parseWith } from '../util/validation.js';
import type { CustomLayout, CustomLayoutSource } from './generate.js';
import type { PyValue } from './pyvalue.js';
import { PyDict, PyFloat, pythonFloatRepr, toPlain } from './pyvalue.js';
import { loadPythonYaml } from './pyyaml.js';
import { COMPONENT_TYPES, componentSchema, mirrorSchema } from './schema.js';

const COMPONENT_KEYS = Object.keys(componentSchema.shape);
const MIRROR_KEYS = Object.keys(mirrorSchema.shape);

/** Python's spelling of a value the YAML gave, for messages. */
function spell(value: unknown): string {
  if (typeof value === 'number') return pythonFloatRepr(value);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}

/** A core id: a YAML int (a float such as 2.0 would reach spp-ctl as 2.0). */
const coreSchema = z
  .bigint({
    error: (issue) =>
      issue.input === undefined
        ? 'missing: the core id (an integer)'
        : `must be an integer core id, not ${spell(issue.input)}`,
  })
  .min(0n, 'a core id is 0 to 127')
  .max(127n, 'a core id is 0 to 127')
  .transform(Number);

const customComponentSchema = componentSchema.extend({
  core: coreSchema,
  type: z.enum(COMPONENT_TYPES, {
    error: (issue) =>
      `unknown component type ${JSON.stringify(issue.input)} (expected ${COMPONENT_TYPES.join(', ')})`,
  }),
});

const customMirrorSchema = mirrorSchema.extend({
  core: coreSchema,
  ports: z.tuple([z.string(), z.string()], {
    error: 'a mirror needs "ports": two rings, e.g. [ring:8, ring:9]',
  }),
});

const customLayoutSchema = z.object(
  {
    vf: z.array(z.object({ components: z.array(customComponentSchema).min(1) })).min(1),
    mirror: z.array(customMirrorSchema).optional(),
  },
  { error: 'a layout is a mapping with "vf" (and optionally "mirror")' },
);

/** NaN and infinities: Python writes them, but they are not JSON and our agent could not read them. */
function rejectNonFinite(value: PyValue, path: Array<string | number>, file: string): void {
  if (value instanceof PyFloat && !Number.isFinite(value.value)) {
    throw new InputError(
      `${file}: ${formatPath(path)}: ${pythonFloatRepr(value.value)} cannot be written as JSON the agents can read`,
    );
  }
  if (Array.isArray(value))
    value.forEach((item, index) => rejectNonFinite(item, [...path, index], file));
  if (value instanceof PyDict) {
    for (const [key, member] of value.entries)
      rejectNonFinite(member, [...path, String(key)], file);
  }
}

function extraKeys(entry: PyValue, known: string[]): string[] {
  if (!(entry instanceof PyDict)) return [];
  return entry.entries
    .map(([key]) => key)
    .flatMap((key) => (typeof key === 'string' && known.includes(key) ? [] : [String(key)]));
}

/**
 * What the original writes from the file (the components of each vf entry and the mirror
 * list, as given), and warnings about keys beyond a layout's: kept in components and
 * mirrors, as the original keeps them (the agents ignore them), ignored elsewhere.
 */
function sourceOf(document: PyDict, file: string): CustomLayoutSource {
  const warnings: string[] = [];
  const vf = document.get('vf') as PyValue[];
  const components = vf.map((entry, nic) => {
    const list = (entry as PyDict).get('components') as PyValue[];
    list.forEach((component, index) => {
      for (const key of extraKeys(component, COMPONENT_KEYS)) {
        warnings.push(
          `${file}: vf[${nic}].components[${index}]: "${key}" is not a component setting; written to etcd as given, the agents ignore it`,
        );
      }
    });
    for (const key of extraKeys(entry, ['components'])) {
      warnings.push(`${file}: vf[${nic}]: "${key}" is ignored (only "components" is read)`);
    }
    return list;
  });
  for (const key of extraKeys(document, ['vf', 'mirror'])) {
    warnings.push(`${file}: "${key}" is ignored (only "vf" and "mirror" are read)`);
  }
  const mirror = document.get('mirror');
  (Array.isArray(mirror) ? mirror : []).forEach((entry, index) => {
    for (const key of extraKeys(entry, MIRROR_KEYS)) {
      warnings.push(
        `${file}: mirror[${index}]: "${key}" is not a mirror setting; written to etcd as given, the agents ignore it`,
      );
    }
  });
  return { components, ...(mirror !== undefined ? { mirror } : {}), warnings };
}

/**
 * Parses the text of a custom layout file (SYSTEM.md §3.3) as the original's
 * spp-config-build reads it (PyYAML), validates it, and keeps what the original would
 * write, in the file's key order; `file` names it in errors.
 */
export function parseCustomLayout(text: string, file: string): CustomLayout {
  const document = loadPythonYaml(text, file);
  const layout = parseWith(customLayoutSchema, toPlain(document), file);
  rejectNonFinite(document, [], file);
  return { ...layout, source: sourceOf(document as PyDict, file) };
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
