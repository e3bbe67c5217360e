import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stopChild, trackChild } from './children.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Debian's neutron runs on the system python, whatever python3 comes first on PATH. */
const PYTHON = '/usr/bin/python3';
const NEUTRON_SERVER = '/usr/bin/neutron-server';
const NEUTRON_DB_MANAGE = '/usr/bin/neutron-db-manage';
const API_PASTE = '/etc/neutron/api-paste.ini';

/** The repository's Python package (the ML2 driver), for PYTHONPATH. */
export const REPOSITORY_PYTHON_DIR = fileURLToPath(new URL('../../../python', import.meta.url));

/**
 * Loaded by every Python process of the lab's neutron-server (first on PYTHONPATH). Neutron
 * runs several processes on one SQLite file, and oslo.db opens deferred transactions: one
 * that read before another process wrote fails at once with "database is locked" when it
 * tries to write. Here every transaction starts with `BEGIN IMMEDIATE` (the write lock up
 * front), so transactions queue instead of failing. The wait is a retry loop with
 * `time.sleep`, which eventlet turns into a green yield: sqlite's own busy wait would block
 * the whole process, including the green thread holding the lock. Test infrastructure
 * only; real deployments use MySQL/MariaDB.
 */
const SITECUSTOMIZE = `
try:
    import sqlite3
    import time
    import sqlalchemy.event
    from sqlalchemy.engine import Engine
except ImportError:
    Engine = None

if Engine is not None:
    def _nspp_raw(conn):
        fairy = conn.connection
        return getattr(fairy, "dbapi_connection", None) or fairy.connection

    def _nspp_begin_immediate(conn):
        if conn.dialect.name != "sqlite" or "in_transaction" in conn.info:
            return
        raw = _nspp_raw(conn)
        raw.execute("PRAGMA busy_timeout = 0")
        deadline = time.monotonic() + 60
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        raw.execute("PRAGMA busy_timeout = 5000")
        conn.info["in_transaction"] = True

    sqlalchemy.event.listen(Engine, "begin", _nspp_begin_immediate)
`;

export function findNeutron(): void {
  for (const path of [PYTHON, NEUTRON_SERVER, NEUTRON_DB_MANAGE, API_PASTE]) {
    if (!existsSync(path)) {
      throw new Error(
        `neutron-server is not installed (${path} missing): run scripts/ensure-system-deps.sh neutron as root`,
      );
    }
  }
}

export interface NeutronServerOptions {
  /** oslo transport_url of the broker agents report to. */
  transportUrl: string;
  /** `[ml2] mechanism_drivers`, default `spp`. */
  mechanismDrivers?: string;
  /** Extra PYTHONPATH entries, before the repository's python/ directory. */
  pythonPath?: string[];
  /** Seconds without report after which Neutron considers an agent dead (default 6). */
  agentDownTimeS?: number;
  /** `[ml2_type_flat] flat_networks`, default phys1. */
  flatNetworks?: string;
  /** `[ml2_type_vlan] network_vlan_ranges`, default phys2:100:200. */
  vlanRanges?: string;
  /** The driver's `[spp]` options (service_url, auth_token, request_timeout, sync_interval). */
  spp?: Record<string, string>;
  /** More options per section of neutron.conf. */
  extra?: Record<string, Record<string, string>>;
  /** neutron-server's log level: debug when true. */
  debug?: boolean;
  /**
   * Tap-as-a-service: `service_plugins = taas`, the SPP TaaS driver as the default
   * `service_provider`, and the TaaS tables created from neutron_taas's models (Debian's
   * python3-neutron-taas ships no migrations).
   */
  taas?: boolean;
}

/** The service provider line of the SPP TaaS driver (neutron.conf `[service_providers]`). */
export const SPP_TAAS_PROVIDER = 'TAAS:SPP:networking_spp_ml2.taas.SppTaasDriver:default';

/**
 * A real neutron-server (Debian's, ML2) on a free loopback port with its own state
 * directory and a SQLite database whose schema is created from Neutron's models (the
 * migrations do not run on SQLite) and stamped at the migration heads. No Keystone
 * (`noauth`): API requests must carry no X-Project-Id header and run as admin. `stop()`
 * then `start()` restarts it on the same port and database; `dispose()` removes it all.
 */
export class NeutronServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly configFiles: string[],
    private readonly taas = false,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get databaseUrl(): string {
    return databaseUrl(this.dir);
  }

  get logFile(): string {
    return join(this.dir, 'log', 'neutron-server.log');
  }

  static async launch(options: NeutronServerOptions, timeoutMs = 90_000): Promise<NeutronServer> {
    findNeutron();
    const dir = await mkdtemp(join(tmpdir(), 'nspp-neutron-'));
    try {
      for (const sub of ['state', 'log', 'lock', 'python']) await mkdir(join(dir, sub));
      const port = await freePort();
      const files = await writeConfig(dir, port, options);
      await writeFile(join(dir, 'python', 'sitecustomize.py'), SITECUSTOMIZE);
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        HOME: dir,
        PYTHONPATH: [
          join(dir, 'python'),
          ...(options.pythonPath ?? []),
          REPOSITORY_PYTHON_DIR,
        ].join(':'),
        PYTHONDONTWRITEBYTECODE: '1',
      };
      const server = new NeutronServer(dir, port, env, files, options.taas ?? false);
      await server.createSchema();
      await server.start(timeoutMs);
      return server;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private async createSchema(): Promise<void> {
    const script = [
      'import sys',
      'import sqlalchemy',
      'from neutron.db.migration.models import head  # noqa: registers every model',
      ...(this.taas ? ['from neutron_taas.db import taas_db  # noqa: the TaaS tables'] : []),
      'from neutron_lib.db import model_base',
      'engine = sqlalchemy.create_engine(sys.argv[1])',
      'model_base.BASEV2.metadata.create_all(engine)',
    ].join('\n');
    await run(PYTHON, ['-c', script, this.databaseUrl], { env: this.env, timeout: 120_000 });
    await run(
      PYTHON,
      [
        NEUTRON_DB_MANAGE,
        ...this.configFiles.flatMap((file) => ['--config-file', file]),
        'stamp',
        'heads',
      ],
      { env: this.env, timeout: 120_000 },
    );
  }

  /** Starts neutron-server and resolves once `GET /v2.0/networks` answers 200. */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.child) return;
    const args = [NEUTRON_SERVER, ...this.configFiles.flatMap((file) => ['--config-file', file])];
    const child = trackChild(
      spawn(PYTHON, args, { env: this.env, stdio: ['ignore', 'ignore', 'pipe'], detached: true }),
    );
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = undefined;
        throw new Error(
          `neutron-server exited (${child.exitCode ?? child.signalCode}): ${stderr}\n${await this.logTail()}`,
        );
      }
      try {
        const response = await fetch(`${this.url}/v2.0/networks`, {
          signal: AbortSignal.timeout(2000),
        });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `neutron-server did not answer within ${timeoutMs} ms\n${await this.logTail()}`,
        );
      }
      await delay(250);
    }
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The last lines of neutron-server's log file, for failure messages. */
  async logTail(lines = 40): Promise<string> {
    try {
      const text = await readFile(this.logFile, 'utf8');
      return text.split('\n').slice(-lines).join('\n');
    } catch {
      return '(no neutron-server log)';
    }
  }

  /** Kills every neutron-server process at once (a crash: requests in flight are cut). */
  async kill(): Promise<void> {
    await this.stop(0);
  }

  /** Stops all neutron-server processes (SIGTERM to the group, SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    // Workers share the process group; stopChild leaves none behind.
    await stopChild(child, graceMs, graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  }

  /** Stops and removes the state directory (kept when NSPP_KEEP_LAB is set, for debugging). */
  async dispose(): Promise<void> {
    await this.stop();
    if (process.env.NSPP_KEEP_LAB) return;
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function writeConfig(
  dir: string,
  port: number,
  options: NeutronServerOptions,
): Promise<string[]> {
  const neutron: Record<string, Record<string, string>> = {
    DEFAULT: {
      core_plugin: 'ml2',
      service_plugins: '',
      auth_strategy: 'noauth',
      api_paste_config: API_PASTE,
      bind_host: '127.0.0.1',
      bind_port: String(port),
      api_workers: '1',
      rpc_workers: '1',
      rpc_state_report_workers: '1',
      state_path: join(dir, 'state'),
      transport_url: options.transportUrl,
      notify_nova_on_port_status_changes: 'false',
      notify_nova_on_port_data_changes: 'false',
      agent_down_time: String(options.agentDownTimeS ?? 6),
      debug: options.debug ? 'true' : 'false',
      log_dir: join(dir, 'log'),
      log_file: 'neutron-server.log',
    },
    database: { connection: databaseUrl(dir) },
    oslo_concurrency: { lock_path: join(dir, 'lock') },
    spp: { ...options.spp },
  };
  if (options.taas) {
    (neutron.DEFAULT as Record<string, string>).service_plugins = 'taas';
    neutron.service_providers = { service_provider: SPP_TAAS_PROVIDER };
  }
  for (const [section, values] of Object.entries(options.extra ?? {})) {
    neutron[section] = { ...neutron[section], ...values };
  }
  const ml2: Record<string, Record<string, string>> = {
    ml2: {
      type_drivers: 'flat,vlan,vxlan',
      tenant_network_types: 'vxlan',
      mechanism_drivers: options.mechanismDrivers ?? 'spp',
    },
    ml2_type_flat: { flat_networks: options.flatNetworks ?? 'phys1' },
    ml2_type_vlan: { network_vlan_ranges: options.vlanRanges ?? 'phys2:100:200' },
    ml2_type_vxlan: { vni_ranges: '1:1000' },
  };
  const neutronConf = join(dir, 'neutron.conf');
  const ml2Conf = join(dir, 'ml2_conf.ini');
  await writeFile(neutronConf, iniText(neutron));
  await writeFile(ml2Conf, iniText(ml2));
  return [neutronConf, ml2Conf];
}

function databaseUrl(dir: string): string {
  return `sqlite:///${join(dir, 'state', 'neutron.sqlite')}`;
}

function iniText(sections: Record<string, Record<string, string>>): string {
  return Object.entries(sections)
    .map(([section, values]) =>
      [`[${section}]`, ...Object.entries(values).map(([key, value]) => `${key} = ${value}`)].join(
        '\n',
      ),
    )
    .join('\n\n')
    .concat('\n');
}
