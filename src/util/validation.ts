import type { z } from 'zod';
import { InputError } from './errors.js';

/** Renders a zod issue path as `vf[0].components[2].type`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      return index === 0 ? String(part) : `.${String(part)}`;
    })
    .join('');
}

export function describeIssues(source: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = formatPath(issue.path);
      return `${source}${path ? `: ${path}` : ''}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates `value` with `schema`; on failure throws an InputError naming `source` and the field. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  source: string,
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InputError(describeIssues(source, result.error));
  return result.data;
}
