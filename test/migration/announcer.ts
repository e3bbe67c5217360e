import { performance } from 'node:perf_hooks';
import type { AnnouncedPort } from '../../src/agent/announce.js';
import {
  needsReannounce,
  nextAnnounceAt,
  reannounceTransaction,
} from '../../src/agent/announce.js';
import { keys, parseKey } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';

/**
 * A test-only sidecar that applies the re-announce design of src/agent/announce.ts next
 * to an unchanged agent: when a port's `port_status` becomes `up` it re-puts `up` on the
 * schedule, guarded, for requests without the service's marker. It shows the design
 * makes the original driver bind every port, before the agent itself does this.
 */
export class Announcer {
  /** Re-announce transactions that succeeded. */
  writes = 0;
  /** Ports whose first `up` was seen and that were scheduled. */
  scheduled = 0;
  /** Ports with a schedule running: their later `up` events are our own re-announces. */
  private readonly active = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly host: string,
  ) {}

  async start(): Promise<void> {
    const { revision } = await this.store.getPrefix(keys.hostPrefix('port_status', this.host));
    const batches = this.store.watch(
      keys.hostPrefix('port_status', this.host),
      revision + 1,
      this.abort.signal,
    );
    this.running = (async () => {
      for await (const batch of batches) {
        for (const event of batch.events) {
          const parsed = parseKey(event.key);
          if (event.type !== 'put' || event.value !== 'up' || parsed?.kind !== 'port_status')
            continue;
          if (this.active.has(parsed.portId)) continue;
          this.active.add(parsed.portId);
          void this.firstUp(parsed.portId, event.modRevision);
        }
      }
    })().catch(() => undefined);
  }

  private async firstUp(portId: string, statusRevision: number): Promise<void> {
    const firstUpAt = performance.now();
    const snapshot = await this.store.read([
      { get: keys.bindPort(this.host, portId) },
      { get: keys.action(this.host, portId) },
      { get: keys.plugRequest(this.host, portId) },
    ]);
    const find = (key: string) => snapshot.kvs.find((kv) => kv.key === key);
    const bindPort = find(keys.bindPort(this.host, portId));
    const action = find(keys.action(this.host, portId));
    const marked = find(keys.plugRequest(this.host, portId)) !== undefined;
    if (!bindPort || !action || !needsReannounce({ action: action.value, marked })) {
      this.active.delete(portId);
      return;
    }
    this.scheduled++;
    const port: AnnouncedPort = {
      host: this.host,
      portId,
      bindPortRevision: bindPort.modRevision,
      actionRevision: action.modRevision,
      statusRevision,
    };
    this.schedule(port, firstUpAt, firstUpAt);
  }

  private schedule(port: AnnouncedPort, firstUpAt: number, after: number): void {
    const next = nextAnnounceAt(firstUpAt, after);
    if (next === undefined || this.abort.signal.aborted) {
      this.active.delete(port.portId);
      return;
    }
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.fire(port, firstUpAt);
      },
      Math.max(0, next - performance.now()),
    );
    this.timers.add(timer);
  }

  private async fire(port: AnnouncedPort, firstUpAt: number): Promise<void> {
    const { conditions, operations } = reannounceTransaction(port);
    const result = await this.store.transaction(conditions, operations).catch(() => undefined);
    if (!result?.succeeded) {
      this.active.delete(port.portId);
      return;
    }
    this.writes++;
    this.schedule({ ...port, statusRevision: result.revision }, firstUpAt, performance.now());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.running;
  }
}
