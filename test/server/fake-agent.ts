import type { Lease } from 'etcd3';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore, WatchEvent } from '../../src/etcd/store.js';
import { FREE, bindPortSchema, encodeJson } from '../../src/etcd/values.js';
import type { AgentRecord } from '../../src/etcd/values.js';
import type { HostConfig } from '../../src/layout/schema.js';

export interface FakeAgentOptions {
  store: EtcdStore;
  host: string;
  config: HostConfig;
  /** TTL of the liveness lease, seconds. */
  leaseTtlS?: number;
  /**
   * true (default): write port_status only while action is still `plug` and bind_port
   * unchanged, as this project's agent does; false: an unconditional put, like the original.
   */
  guardedStatus?: boolean;
}

/**
 * Plays the compute agent's etcd side (SYSTEM.md §5.2) without SPP: liveness key on a
 * lease, pending actions at start, then a watch on action/<host>/; plug → port_status
 * `up`; unplug → free the slot (CAS port → None), then delete bind_port, action, status.
 */
export class FakeAgent {
  plugs = 0;
  unplugs = 0;
  /** Answers to plugs are held back while paused; they are processed on resume(). */
  private paused = false;
  private held: WatchEvent[] = [];
  /** Extra delay before each `up`, ms. */
  plugDelayMs = 0;
  private lease: Lease | undefined;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly vhostPhysnet = new Map<number, string>();

  constructor(private readonly options: FakeAgentOptions) {
    let vhostId = 0;
    for (const vf of options.config.vf) {
      for (let i = 0; i < vf.num_vhost; i++) this.vhostPhysnet.set(vhostId++, vf.physical_network);
    }
  }

  get host(): string {
    return this.options.host;
  }

  async start(): Promise<void> {
    const { store, host } = this.options;
    this.lease = store.client.lease(this.options.leaseTtlS ?? 5);
    const record: AgentRecord = {
      host,
      version: 'fake-agent',
      started_at: new Date().toISOString(),
      pid: process.pid,
      physnets: {},
    };
    await this.lease.put(keys.agent(host)).value(JSON.stringify(record)).exec();
    const pending = await store.getPrefix(keys.hostPrefix('action', host));
    for (const kv of pending.kvs) {
      this.enqueue({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision });
    }
    this.loop = this.watch(pending.revision + 1);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const event of held) this.enqueue(event);
  }

  /** The agent process dies: no more work, the lease is left to expire. */
  async kill(): Promise<void> {
    this.controller.abort();
    this.lease?.release();
    await this.loop;
    await this.queue;
  }

  /** Clean stop: the lease is revoked, so the liveness key disappears at once. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
    await this.queue;
    await this.lease?.revoke().catch(() => undefined);
  }

  private async watch(from: number): Promise<void> {
    const { store, host } = this.options;
    try {
      for await (const batch of store.watch(
        keys.hostPrefix('action', host),
        from,
        this.controller.signal,
      )) {
        for (const event of batch.events) this.enqueue(event);
      }
    } catch {
      // aborted or store closed
    }
  }

  private enqueue(event: WatchEvent): void {
    if (event.type !== 'put') return;
    if (this.paused && event.value === 'plug') {
      this.held.push(event);
      return;
    }
    this.queue = this.queue
      .then(() => (this.controller.signal.aborted ? undefined : this.handle(event)))
      .catch(() => undefined);
  }

  private async handle(event: WatchEvent): Promise<void> {
    const { store, host } = this.options;
    const portId = event.key.slice(keys.hostPrefix('action', host).length);
    const bpKey = keys.bindPort(host, portId);
    const bp = await store.get(bpKey);
    if (!bp) return;
    const bindPort = bindPortSchema.parse(JSON.parse(bp.value));
    const statusKey = keys.portStatus(host, portId);
    const actionKey = keys.action(host, portId);
    if (event.value === 'plug') {
      if (this.plugDelayMs > 0) await new Promise((r) => setTimeout(r, this.plugDelayMs));
      if (this.controller.signal.aborted) return;
      if (this.options.guardedStatus ?? true) {
        await store.transaction(
          [
            { key: actionKey, equals: 'plug' },
            { key: bpKey, modRevision: bp.modRevision },
          ],
          [{ put: statusKey, value: 'up' }],
        );
      } else {
        await store.put(statusKey, 'up');
      }
      this.plugs++;
      return;
    }
    const physnet = this.vhostPhysnet.get(bindPort.vhost_id);
    if (physnet !== undefined) {
      await store.compareAndSwap(keys.vhost(host, physnet, bindPort.vhost_id), portId, FREE);
    }
    for (const key of [bpKey, actionKey, statusKey]) await store.client.delete().key(key).exec();
    this.unplugs++;
  }
}

/** The bind_port value the driver must have written (for exact-bytes assertions). */
export function expectedBindPort(mac: string, vhostId: number, vlanId?: number): string {
  return encodeJson({
    mac_address: mac,
    vhost_id: vhostId,
    ...(vlanId !== undefined ? { vlan_id: vlanId } : {}),
  });
}
