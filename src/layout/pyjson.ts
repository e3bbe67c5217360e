/**
 * Serialises like Python's `json.dumps` with default arguments (", " and ": " separators,
 * non-ASCII escaped), so the configuration we write is byte-for-byte what the original's
 * devstack tool wrote.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return pythonQuote(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .map(([key, member]) => `${pythonQuote(key)}: ${pythonJsonDumps(member)}`);
    return `{${members.join(', ')}}`;
  }
  throw new TypeError(`cannot serialise a ${typeof value}`);
}

/** A JSON string literal as json.dumps writes it (every non-ASCII character as \uXXXX). */
export function pythonQuote(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
