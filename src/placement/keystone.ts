import type { Dispatcher } from 'undici';
import { describeIssues } from '../util/validation.js';
import { ServiceError, httpCall, oneLine, parseJson } from './http.js';
import type { PlacementAuth } from './options.js';
import type { KeystoneToken } from './schemas.js';
import { keystoneTokenSchema } from './schemas.js';

/** Where to send Placement requests and the token to send with them. */
export interface PlacementSession {
  endpoint: string;
  token: string;
}

export interface Authenticator {
  session(): Promise<PlacementSession>;
  /** Placement refused `token` (401): the next session() gets a new one. */
  invalidate(token: string): void;
}

/** Placement's own noauth2 mode (tests): a fixed URL, and `admin` as the token. */
export class NoAuth implements Authenticator {
  constructor(private readonly endpoint: string) {}

  session(): Promise<PlacementSession> {
    return Promise.resolve({ endpoint: this.endpoint, token: 'admin' });
  }

  invalidate(): void {}
}

type PasswordAuth = Extract<PlacementAuth, { type: 'password' }>;

function domain(name: string | undefined, id: string | undefined): object | undefined {
  if (id !== undefined) return { id };
  if (name !== undefined) return { name };
  return undefined;
}

/** The body of Keystone v3 `POST /v3/auth/tokens` for password auth scoped to a project. */
export function passwordAuthBody(auth: PasswordAuth): object {
  const userDomain = domain(auth.userDomainName, auth.userDomainId);
  const user = {
    ...(auth.userId !== undefined ? { id: auth.userId } : { name: auth.username }),
    ...(auth.userId === undefined && userDomain ? { domain: userDomain } : {}),
    password: auth.password,
  };
  const projectDomain = domain(auth.projectDomainName, auth.projectDomainId);
  const project =
    auth.projectId !== undefined
      ? { id: auth.projectId }
      : { name: auth.projectName, ...(projectDomain ? { domain: projectDomain } : {}) };
  return {
    auth: {
      identity: { methods: ['password'], password: { user } },
      scope: { project },
    },
  };
}

/** `http://keystone:5000`, `.../v3` or `.../identity/v3/` → the v3 tokens URL. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
}

/** The Placement URL in a Keystone catalog: service type `placement`, first matching interface. */
export function findEndpoint(
  catalog: NonNullable<KeystoneToken['token']['catalog']>,
  interfaces: readonly string[],
  regionName: string | undefined,
): string {
  const endpoints = catalog
    .filter((service) => service.type === 'placement')
    .flatMap((service) => service.endpoints)
    .filter(
      (endpoint) =>
        regionName === undefined ||
        endpoint.region_id === regionName ||
        endpoint.region === regionName,
    );
  for (const wanted of interfaces) {
    const found = endpoints.find((endpoint) => endpoint.interface === wanted);
    if (found) return found.url.replace(/\/+$/, '');
  }
  const region = regionName === undefined ? '' : ` in region ${regionName}`;
  throw new ServiceError(
    `Keystone's catalog has no placement endpoint with interface ${interfaces.join(' or ')}${region}`,
  );
}

/** Renew a token this long before Keystone says it expires. */
const RENEW_BEFORE_MS = 60_000;

/** Keystone v3 password authentication with the token and catalog cached until near expiry. */
export class KeystonePassword implements Authenticator {
  private current: (PlacementSession & { expiresAt: number }) | undefined;
  private pending: Promise<PlacementSession> | undefined;

  constructor(
    private readonly auth: PasswordAuth,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  session(): Promise<PlacementSession> {
    const current = this.current;
    if (current && current.expiresAt - RENEW_BEFORE_MS > this.now()) {
      return Promise.resolve({ endpoint: current.endpoint, token: current.token });
    }
    this.pending ??= this.authenticate().finally(() => (this.pending = undefined));
    return this.pending;
  }

  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }

  private async authenticate(): Promise<PlacementSession> {
    const url = tokensUrl(this.auth.authUrl);
    const what = `Keystone POST ${url}`;
    const answer = await httpCall(this.dispatcher, {
      method: 'POST',
      url,
      headers: {},
      body: passwordAuthBody(this.auth),
      timeoutMs: this.timeoutMs,
      what,
    });
    if (answer.status !== 201 && answer.status !== 200) {
      throw new ServiceError(`${what}: ${answer.status}: ${oneLine(answer.text)}`, answer.status);
    }
    const token = answer.headers['x-subject-token'];
    if (typeof token !== 'string' || token === '') {
      throw new ServiceError(`${what}: the answer carries no X-Subject-Token header`);
    }
    const parsed = keystoneTokenSchema.safeParse(parseJson(answer.text, what));
    if (!parsed.success) throw new ServiceError(describeIssues(what, parsed.error));
    const endpoint =
      this.auth.endpointOverride ??
      findEndpoint(parsed.data.token.catalog ?? [], this.auth.interfaces, this.auth.regionName);
    const expiresAt = Date.parse(parsed.data.token.expires_at);
    this.current = {
      endpoint,
      token,
      expiresAt: Number.isNaN(expiresAt) ? this.now() + RENEW_BEFORE_MS * 2 : expiresAt,
    };
    return { endpoint, token };
  }
}
