import type { Watcher } from 'etcd3';
import { keys } from '../etcd/keys.js';
import type { EtcdStore } from '../etcd/store.js';
import { FREE, encodeJson } from '../etcd/values.js';

/** The original driver's WAIT_PLUG_TIMEOUT: how long it watches for `up` (SYSTEM.md §4.1). */
export const ORIGINAL_WAIT_PLUG_TIMEOUT_MS = 20_000;

/** A segment as ML2 hands it to `bind_port`. */
export interface OriginalSegment {
  network_type: string;
  physical_network?: string | null;
  segmentation_id?: number | null;
}

export interface OriginalBindRequest {
  host: string;
  portId: string;
  macAddress: string;
  segments: OriginalSegment[];
  /** Neutron's view of the host's SPP agent (the original asks `host_agents`); default true. */
  agentAlive?: boolean;
}

export type OriginalBindOutcome =
  | { bound: true; vhostId: number; socket: string }
  | {
      bound: false;
      reason: 'no-spp' | 'agent-down' | 'no-segment' | 'already-tried' | 'no-slot' | 'no-up';
    };

/** One etcd request the stand-in made, as the original's etcd3gw client would. */
export interface OriginalOperation {
  op: 'get' | 'get_prefix' | 'replace' | 'put' | 'watch_once';
  key: string;
}

export interface OriginalDriverOptions {
  /** The watch's timeout; the original's is 20 s. Tests may shorten it (see the test). */
  watchTimeoutMs?: number;
  /** Test seam: runs after the `action` put returned and before the watch is opened. */
  beforeWatch?: (request: OriginalBindRequest) => Promise<void>;
}

/**
 * A faithful stand-in for the etcd behaviour of the original networking-spp ML2 driver
 * (SYSTEM.md §4, §4.1), for migration tests: every etcd call is its own request, in the
 * original's order, and its defects are kept: a port whose `bind_port` key exists is never
 * bound again on that host, nothing is rolled back, and the watch for `up` is opened only
 * after the plug request is written, with no start revision, so an earlier `up` is missed.
 *
 * Use one instance per concurrent caller: each gets the store it is given, as each of the
 * original's workers has its own HTTP connection to etcd.
 */
export class OriginalDriver {
  readonly operations: OriginalOperation[] = [];
  private readonly watchTimeoutMs: number;

  constructor(
    private readonly store: EtcdStore,
    private readonly options: OriginalDriverOptions = {},
  ) {
    this.watchTimeoutMs = options.watchTimeoutMs ?? ORIGINAL_WAIT_PLUG_TIMEOUT_MS;
  }

  /** ML2 `bind_port`. */
  async bindPort(request: OriginalBindRequest): Promise<OriginalBindOutcome> {
    const configKey = keys.configuration(request.host);
    const config = await this.get(configKey);
    if (config === undefined) return { bound: false, reason: 'no-spp' };
    const physnets = physnetsOf(config);
    if (request.agentAlive === false) return { bound: false, reason: 'agent-down' };
    const segment = request.segments.find(
      (candidate) =>
        (candidate.network_type === 'flat' || candidate.network_type === 'vlan') &&
        typeof candidate.physical_network === 'string' &&
        physnets.includes(candidate.physical_network),
    );
    if (!segment) return { bound: false, reason: 'no-segment' };
    return this.tryToBind(request, segment);
  }

  private async tryToBind(
    request: OriginalBindRequest,
    segment: OriginalSegment,
  ): Promise<OriginalBindOutcome> {
    const { host, portId } = request;
    // The original's "already tried to bind" check: such a port is never bound here again.
    if ((await this.get(keys.bindPort(host, portId))) !== undefined) {
      return { bound: false, reason: 'already-tried' };
    }
    const prefix = keys.vhostPhysnetPrefix(host, segment.physical_network as string);
    let vhostId: string | undefined;
    for (const slot of await this.getPrefix(prefix)) {
      if (slot.value !== FREE) continue;
      if (await this.replace(slot.key, FREE, portId)) {
        vhostId = slot.key.slice(prefix.length);
        break;
      }
    }
    if (vhostId === undefined) return { bound: false, reason: 'no-slot' };
    const vlanId = segment.segmentation_id;
    await this.put(
      keys.bindPort(host, portId),
      encodeJson({
        mac_address: request.macAddress,
        vhost_id: Number(vhostId),
        ...(vlanId !== undefined && vlanId !== null ? { vlan_id: vlanId } : {}),
      }),
    );
    await this.put(keys.action(host, portId), 'plug');
    await this.options.beforeWatch?.(request);
    const event = await this.watchOnce(keys.portStatus(host, portId));
    if (event?.value !== 'up') return { bound: false, reason: 'no-up' };
    return { bound: true, vhostId: Number(vhostId), socket: `/tmp/sock${vhostId}` };
  }

  /**
   * ML2 `update_port_postcommit` (host cleared) or `delete_port_postcommit` of a port bound
   * as vhostuser or binding_failed: `action` = `unplug` if the key exists. True if written.
   */
  async unplugPort(host: string, portId: string): Promise<boolean> {
    const key = keys.action(host, portId);
    if ((await this.get(key)) === undefined) return false;
    await this.put(key, 'unplug');
    return true;
  }

  private record(op: OriginalOperation['op'], key: string): void {
    this.operations.push({ op, key });
  }

  private async get(key: string): Promise<string | undefined> {
    const kv = await this.store.get(key);
    this.record('get', key);
    return kv?.value;
  }

  private async getPrefix(prefix: string): Promise<Array<{ key: string; value: string }>> {
    const snapshot = await this.store.getPrefix(prefix);
    this.record('get_prefix', prefix);
    // etcd returns a range sorted by key bytes, so slot 10 comes before slot 2.
    return snapshot.kvs.map(({ key, value }) => ({ key, value }));
  }

  private async replace(key: string, expected: string, next: string): Promise<boolean> {
    const swapped = await this.store.compareAndSwap(key, expected, next);
    this.record('replace', key);
    return swapped;
  }

  private async put(key: string, value: string): Promise<void> {
    await this.store.put(key, value);
    this.record('put', key);
  }

  /**
   * etcd3gw's `watch_once`: a new watch on `key` from the current revision (none given),
   * the first event on it, or undefined after the timeout. Recorded once the watch is open.
   */
  private async watchOnce(key: string): Promise<{ value?: string } | undefined> {
    const watcher: Watcher = this.store.client.watch().key(key).watcher();
    try {
      return await new Promise<{ value?: string } | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), this.watchTimeoutMs);
        const finish = (event: { value?: string } | undefined) => {
          clearTimeout(timer);
          resolve(event);
        };
        watcher.once('connected', () => this.record('watch_once', key));
        watcher.on('put', (kv) => finish({ value: kv.value.toString() }));
        watcher.on('delete', () => finish({}));
        // etcd3gw's watch_once turns every failure into "no event".
        watcher.on('error', () => finish(undefined));
      });
    } finally {
      await Promise.race([
        watcher.cancel().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    }
  }
}

/** The physical networks of a host configuration value; none when it is not one. */
function physnetsOf(raw: string): string[] {
  try {
    const parsed = JSON.parse(raw) as { vf?: Array<{ physical_network?: unknown }> };
    return (parsed.vf ?? []).flatMap((vf) =>
      typeof vf.physical_network === 'string' ? [vf.physical_network] : [],
    );
  } catch {
    return [];
  }
}
