import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stopChild, trackChild } from './children.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Debian's packaging: the WSGI script, the DB tool, and uWSGI with its Python 3 plugin. */
const PLACEMENT_WSGI = '/usr/bin/placement-api';
const PLACEMENT_MANAGE = '/usr/bin/placement-manage';
const UWSGI = '/usr/bin/uwsgi_python3';

export function findPlacement(): void {
  for (const path of [PLACEMENT_WSGI, PLACEMENT_MANAGE, UWSGI]) {
    if (!existsSync(path)) {
      throw new Error(
        `placement-api is not installed (${path} missing): run scripts/ensure-system-deps.sh placement as root`,
      );
    }
  }
}

/** Keystone credentials of Placement's own service user, for its token validation. */
export interface PlacementKeystone {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
}

export interface PlacementServerOptions {
  /** Validate tokens with this Keystone (`auth_strategy = keystone`) instead of noauth2. */
  keystone?: PlacementKeystone;
}

/**
 * A real Placement (Debian's placement-api 8.0.0) on a free loopback port: its own config
 * directory, a SQLite database created by `placement-manage db sync`, served by uWSGI as
 * Debian's init script does (`--http-socket`, the WSGI script /usr/bin/placement-api), in
 * Placement's own `noauth2` mode (requests carry `X-Auth-Token: admin`) or behind a Keystone
 * (keystonemiddleware, token validation not cached). One worker thread, so
 * SQLite never sees two writers. `stop()` then `start()` restarts it on the same port and
 * database; `dispose()` removes it all.
 */
export class PlacementServer {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return join(this.dir, 'placement.log');
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  static async launch(
    options: PlacementServerOptions = {},
    timeoutMs = 60_000,
  ): Promise<PlacementServer> {
    findPlacement();
    const dir = await mkdtemp(join(tmpdir(), 'nspp-placement-'));
    try {
      const server = new PlacementServer(dir, await freePort());
      await writeFile(join(dir, 'placement.conf'), config(dir, options.keystone));
      await run(PLACEMENT_MANAGE, ['--config-file', join(dir, 'placement.conf'), 'db', 'sync'], {
        env: server.env(),
        timeout: 120_000,
      });
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
      OS_PLACEMENT_CONFIG_DIR: this.dir,
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  /** Starts uWSGI and resolves once Placement answers `GET /` with its versions. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) return;
    const args = [
      '--http-socket',
      `127.0.0.1:${this.port}`,
      '--wsgi-file',
      PLACEMENT_WSGI,
      '--master',
      '--processes',
      '1',
      '--threads',
      '1',
      '--need-app',
      '--lazy-apps',
      '--die-on-term',
      '--buffer-size',
      '65535',
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
    this.stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    await this.waitUntilAnswering(child, timeoutMs);
  }

  private async waitUntilAnswering(child: ChildProcess, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = undefined;
        throw new Error(
          `placement-api exited (${child.exitCode ?? child.signalCode}): ${this.stderr}\n${await this.logTail()}`,
        );
      }
      try {
        const response = await fetch(`${this.url}/`, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`placement-api did not answer within ${timeoutMs} ms: ${this.stderr}`);
      }
      await delay(100);
    }
  }

  /** The last lines of Placement's log, for failure messages. */
  async logTail(lines = 30): Promise<string> {
    try {
      return (await readFile(this.logFile, 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '(no placement log)';
    }
  }

  /** Stops uWSGI and its worker (SIGTERM to the group, SIGKILL after `graceMs`). */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child, graceMs, graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops and removes the directory (kept when NSPP_KEEP_LAB is set, for debugging). */
  async dispose(): Promise<void> {
    await this.stop();
    if (process.env.NSPP_KEEP_LAB) return;
    await rm(this.dir, { recursive: true, force: true });
  }
}

function config(dir: string, keystone: PlacementKeystone | undefined): string {
  const authtoken = keystone
    ? [
        '[keystone_authtoken]',
        `www_authenticate_uri = ${keystone.authUrl}`,
        `auth_url = ${keystone.authUrl}`,
        'auth_type = password',
        `username = ${keystone.username}`,
        `password = ${keystone.password}`,
        `project_name = ${keystone.projectName}`,
        'user_domain_name = Default',
        'project_domain_name = Default',
        // Validate every token at Keystone, so a revoked token is refused at once.
        'token_cache_time = -1',
        '',
      ]
    : [];
  return [
    '[DEFAULT]',
    'debug = false',
    `log_file = ${join(dir, 'placement.log')}`,
    '',
    '[api]',
    `auth_strategy = ${keystone ? 'keystone' : 'noauth2'}`,
    '',
    ...authtoken,
    '[placement_database]',
    `connection = sqlite:///${join(dir, 'placement.sqlite')}`,
    '',
  ].join('\n');
}
