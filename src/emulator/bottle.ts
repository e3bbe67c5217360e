import { pyStrRepr } from './python.js';

/**
 * The routing behaviour of bottle 0.12 that spp-ctl's answers depend on (SPP-SPEC §2.1–2.2):
 * apps mounted under prefixes (the sub-app sees the path below the mount point, via
 * bottle's path_shift), static routes before dynamic ones, `PROXY` mount routes matching
 * every method, 405 `Method not allowed.` when only other methods match, and 404
 * `Not found: <repr(path)>` otherwise.
 */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export type Params = Record<string, string>;

interface Route<H> {
  method: string;
  rule: string;
  regex?: RegExp;
  handler?: H;
  mount?: BottleApp<H>;
  depth?: number;
}

export type Match<H> = { handler: H; params: Params };

function compileRule(rule: string): RegExp | undefined {
  if (!rule.includes('<')) return undefined;
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let pattern = '';
  let last = 0;
  for (const wildcard of rule.matchAll(/<([^>:]*)(?::([^>:]*)(?::([^>]*))?)?>/g)) {
    pattern += escape(rule.slice(last, wildcard.index));
    const [, name, filter, config] = wildcard;
    const body = filter === 'int' ? '-?\\d+' : filter === 're' ? (config ?? '[^/]+') : '[^/]+';
    pattern += name ? `(?<${name}>${body})` : `(?:${body})`;
    last = wildcard.index + wildcard[0].length;
  }
  pattern += escape(rule.slice(last));
  return new RegExp(`^${pattern}$`);
}

/** bottle.path_shift, returning only the new PATH_INFO. */
export function pathShift(pathInfo: string, shift: number): string {
  let parts = pathInfo.replace(/^\/+|\/+$/g, '').split('/');
  if (parts[0] === '') parts = [];
  parts = parts.slice(shift);
  let shifted = `/${parts.join('/')}`;
  if (pathInfo.endsWith('/') && parts.length > 0) shifted += '/';
  return shifted;
}

export class BottleApp<H> {
  private readonly routes: Array<Route<H>> = [];

  route(method: string, rule: string, handler: H): this {
    this.routes.push({ method, rule, regex: compileRule(rule), handler });
    return this;
  }

  /** Like bottle's mount(): a `PROXY` route for `prefix/<anything>` and for `prefix` itself. */
  mount(prefix: string, app: BottleApp<H>): this {
    const segments = prefix.split('/').filter((segment) => segment !== '');
    const base = `/${segments.join('/')}`;
    this.routes.push({
      method: 'PROXY',
      rule: `${base}/<:re:.*>`,
      regex: compileRule(`${base}/<:re:.*>`),
      mount: app,
      depth: segments.length,
    });
    this.routes.push({ method: 'PROXY', rule: base, mount: app, depth: segments.length });
    return this;
  }

  private find(method: string, path: string): { route: Route<H>; params: Params } | undefined {
    for (const route of this.routes) {
      if (route.method !== method || route.regex) continue;
      if (route.rule === path) return { route, params: {} };
    }
    for (const route of this.routes) {
      if (route.method !== method || !route.regex) continue;
      const match = route.regex.exec(path);
      if (match) return { route, params: { ...(match.groups ?? {}) } };
    }
    return undefined;
  }

  /** Resolves `path` (this app's PATH_INFO) through mounts to a handler, or throws HttpError. */
  match(method: string, pathInfo: string): Match<H> {
    const path = pathInfo === '' ? '/' : pathInfo;
    const verb = method.toUpperCase();
    const methods = verb === 'HEAD' ? ['PROXY', 'HEAD', 'GET', 'ANY'] : ['PROXY', verb, 'ANY'];
    for (const candidate of methods) {
      const found = this.find(candidate, path);
      if (!found) continue;
      const { route, params } = found;
      if (route.mount) return route.mount.match(method, pathShift(path, route.depth ?? 1));
      return { handler: route.handler as H, params };
    }
    // bottle's 405: static routes contribute the *request* verb, dynamic ones their method.
    const allowed = new Set<string>();
    for (const route of this.routes) {
      if (methods.includes(route.method)) continue;
      if (!route.regex && route.rule === path) allowed.add(verb);
      if (route.regex?.test(path)) allowed.add(route.method);
    }
    if (allowed.size > 0) {
      throw new HttpError(405, 'Method not allowed.', { Allow: [...allowed].sort().join(',') });
    }
    throw new HttpError(404, `Not found: ${pyStrRepr(path)}`);
  }
}

/**
 * PATH_INFO as bottle sees it behind eventlet: the raw request path with %XX decoded to
 * bytes, then read as UTF-8 (400 when it is not UTF-8).
 */
export function decodePath(rawPath: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(rawPath, 'latin1');
  for (let at = 0; at < raw.length; at++) {
    const byte = raw[at] as number;
    if (byte === 0x25 && at + 2 < raw.length) {
      const hex = raw.subarray(at + 1, at + 3).toString('latin1');
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        at += 2;
        continue;
      }
    }
    bytes.push(byte);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      Uint8Array.from(bytes),
    );
  } catch {
    throw new HttpError(400, 'Invalid path string. Expected UTF-8');
  }
}
