import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stopChild, trackChild } from './children.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

const KEYSTONE_MANAGE = '/usr/bin/keystone-manage';
const KEYSTONE_WSGI = '/usr/bin/keystone-wsgi-public';
const UWSGI = '/usr/bin/uwsgi_python3';

export const KEYSTONE_ADMIN_PASSWORD = 'lab-admin-secret';
export const KEYSTONE_REGION = 'RegionOne';

export function findKeystone(): void {
  for (const path of [KEYSTONE_MANAGE, KEYSTONE_WSGI, UWSGI]) {
    if (!existsSync(path)) {
      throw new Error(
        `Keystone is not installed (${path} missing): run scripts/ensure-system-deps.sh keystone as root`,
      );
    }
  }
}

/**
 * A real Keystone (Debian's python3-keystone, Zed) on a free loopback port: SQLite database,
 * fernet tokens, `keystone-manage bootstrap` (user admin in project admin, region RegionOne,
 * the identity endpoints), served by uWSGI like placement-api. `admin()` returns a small
 * client of its v3 API for creating users, projects, services and endpoints.
 */
export class KeystoneServer {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private get databaseFile(): string {
    return join(this.dir, 'keystone.sqlite');
  }

  private get configFile(): string {
    return join(this.dir, 'keystone.conf');
  }

  /** `regions`: more regions than RegionOne (each also gets the identity endpoints). */
  static async launch(regions: string[] = [], timeoutMs = 120_000): Promise<KeystoneServer> {
    findKeystone();
    const dir = await mkdtemp(join(tmpdir(), 'nspp-keystone-'));
    try {
      const server = new KeystoneServer(dir, await freePort());
      await server.initialise([KEYSTONE_REGION, ...regions]);
      await server.start(timeoutMs);
      return server;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      HOME: this.dir,
      OS_KEYSTONE_CONFIG_FILES: this.configFile,
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  private async initialise(regions: string[]): Promise<void> {
    for (const sub of ['fernet', 'credential']) await mkdir(join(this.dir, sub));
    await writeFile(this.configFile, config(this.dir));
    const manage = (...args: string[]) =>
      run(KEYSTONE_MANAGE, ['--config-file', this.configFile, ...args], {
        env: this.env(),
        timeout: 180_000,
      });
    const owner = ['--keystone-user', String(process.getuid?.() ?? 0)];
    const group = ['--keystone-group', String(process.getgid?.() ?? 0)];
    await manage('db_sync');
    // Keystone leaves read cursors open on pooled connections; in SQLite's default journal
    // mode those block every later commit ("database is locked"). WAL readers do not.
    await run(
      '/usr/bin/python3',
      [
        '-c',
        'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")',
        this.databaseFile,
      ],
      { timeout: 30_000 },
    );
    await manage('fernet_setup', ...owner, ...group);
    await manage('credential_setup', ...owner, ...group);
    const identity = `${this.url}/v3`;
    // Regions come from bootstrap: keystone on SQLite locks itself creating one over the API.
    for (const region of regions) {
      await manage(
        'bootstrap',
        '--bootstrap-password',
        KEYSTONE_ADMIN_PASSWORD,
        '--bootstrap-admin-url',
        identity,
        '--bootstrap-public-url',
        identity,
        '--bootstrap-internal-url',
        identity,
        '--bootstrap-region-id',
        region,
      );
    }
  }

  /** Starts uWSGI and resolves once `GET /v3` answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) return;
    const args = [
      '--http-socket',
      `127.0.0.1:${this.port}`,
      '--wsgi-file',
      KEYSTONE_WSGI,
      '--master',
      '--processes',
      '1',
      '--threads',
      '1',
      '--need-app',
      '--die-on-term',
      '--disable-logging',
      // As Debian's uwsgi ini files: uWSGI's http-socket closes after each answer, and says so.
      '--add-header',
      'Connection: close',
    ];
    const child = trackChild(
      spawn(UWSGI, args, {
        env: this.env(),
        cwd: this.dir,
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      }),
    );
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = undefined;
        throw new Error(`keystone exited: ${this.stderr}\n${await this.logTail()}`);
      }
      try {
        const response = await fetch(`${this.url}/v3`, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`keystone did not answer within ${timeoutMs} ms: ${this.stderr}`);
      }
      await delay(100);
    }
  }

  async logTail(lines = 30): Promise<string> {
    try {
      return (await readFile(join(this.dir, 'keystone.log'), 'utf8'))
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '(no keystone log)';
    }
  }

  async admin(): Promise<KeystoneAdmin> {
    return KeystoneAdmin.login(this.url);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child, 5000);
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (process.env.NSPP_KEEP_LAB) return;
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The few Keystone v3 admin calls a lab needs, with the bootstrap admin's token. */
export class KeystoneAdmin {
  private constructor(
    private readonly url: string,
    readonly token: string,
  ) {}

  static async login(url: string): Promise<KeystoneAdmin> {
    const token = await issueToken(url, 'admin', KEYSTONE_ADMIN_PASSWORD, 'admin');
    return new KeystoneAdmin(url, token);
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.url}/v3${path}`, {
      method,
      headers: { 'x-auth-token': this.token, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (response.status >= 300)
      throw new Error(`keystone ${method} ${path}: ${response.status} ${text}`);
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  private async id(method: string, path: string, key: string, body: unknown): Promise<string> {
    const answer = await this.call(method, path, body);
    return (answer[key] as { id: string }).id;
  }

  async project(name: string): Promise<string> {
    return this.id('POST', '/projects', 'project', { project: { name, domain_id: 'default' } });
  }

  /** A user with `role` (default admin) on `projectId`. */
  async user(name: string, password: string, projectId: string, role = 'admin'): Promise<string> {
    const userId = await this.id('POST', '/users', 'user', {
      user: { name, password, domain_id: 'default', default_project_id: projectId },
    });
    const roles = (await this.call('GET', `/roles?name=${role}`)).roles as Array<{ id: string }>;
    await this.call(
      'PUT',
      `/projects/${projectId}/users/${userId}/roles/${(roles[0] as { id: string }).id}`,
    );
    return userId;
  }

  async service(type: string, name: string): Promise<string> {
    return this.id('POST', '/services', 'service', { service: { type, name } });
  }

  async endpoint(
    serviceId: string,
    iface: string,
    url: string,
    region = KEYSTONE_REGION,
  ): Promise<string> {
    return this.id('POST', '/endpoints', 'endpoint', {
      endpoint: { service_id: serviceId, interface: iface, url, region_id: region },
    });
  }

  /** Revokes a token (as if it had expired early). */
  async revoke(token: string): Promise<void> {
    const response = await fetch(`${this.url}/v3/auth/tokens`, {
      method: 'DELETE',
      headers: { 'x-auth-token': this.token, 'x-subject-token': token },
      signal: AbortSignal.timeout(30_000),
    });
    if (response.status !== 204) throw new Error(`keystone token revoke: ${response.status}`);
  }
}

/** A project-scoped token for a user of the default domain. */
export async function issueToken(
  url: string,
  user: string,
  password: string,
  project: string,
): Promise<string> {
  const response = await fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password } },
        },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
    signal: AbortSignal.timeout(30_000),
  });
  await response.body?.cancel();
  const token = response.headers.get('x-subject-token');
  if (response.status !== 201 || !token)
    throw new Error(`keystone login as ${user}: ${response.status}`);
  return token;
}

function config(dir: string): string {
  return [
    '[DEFAULT]',
    `log_file = ${join(dir, 'keystone.log')}`,
    '',
    '[database]',
    `connection = sqlite:///${join(dir, 'keystone.sqlite')}`,
    '',
    '[fernet_tokens]',
    `key_repository = ${join(dir, 'fernet')}`,
    '',
    '[credential]',
    `key_repository = ${join(dir, 'credential')}`,
    '',
    '[token]',
    'provider = fernet',
    '',
  ].join('\n');
}
