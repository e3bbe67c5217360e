import type { Logger } from 'pino';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT, keys, parseKey } from '../etcd/keys.js';
import type { EtcdStore, KeyValue, Snapshot, WatchEvent } from '../etcd/store.js';
import { WatchResyncNeeded } from '../etcd/store.js';
import { errorMessage } from '../util/errors.js';
import { FREE } from '../etcd/values.js';
import type { PortView, SlotView } from './plan.js';

/** What a key listener receives: a change of one of its keys, or "re-read, events may be lost". */
export type HubEvent = WatchEvent | { type: 'resync' };

export type KeyListener = (event: HubEvent) => void;

interface Sample {
  /** Highest revision seen in this window, and when (the window's last sighting). */
  revision: number;
  time: number;
  opened: number;
}

/**
 * Maps etcd revisions to (a lower bound of) their age, from when this process saw them
 * arrive on its watch. Sightings are merged into windows of one second.
 */
export class RevisionClock {
  private readonly samples: Sample[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    private readonly keepMs = 3_600_000,
  ) {}

  observe(revision: number): void {
    const time = this.now();
    const last = this.samples[this.samples.length - 1];
    if (last && revision <= last.revision) return;
    if (last && time - last.opened < 1000) {
      last.revision = revision;
      last.time = time;
    } else {
      this.samples.push({ revision, time, opened: time });
    }
    while (this.samples.length > 2 && (this.samples[0] as Sample).time < time - this.keepMs) {
      this.samples.shift();
    }
  }

  /**
   * Milliseconds since a key written at `revision` was written, at least: the time since
   * this process first saw a revision at or above it (0 when not seen yet).
   */
  ageOf(revision: number): number {
    const now = this.now();
    // Binary search for the first sample whose revision covers `revision`.
    let low = 0;
    let high = this.samples.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.samples[mid] as Sample).revision >= revision) high = mid;
      else low = mid + 1;
    }
    const sample = this.samples[low];
    return sample ? Math.max(0, now - sample.time) : 0;
  }
}

const MIRRORED = new Set(['configuration', 'agent', 'vhost', 'bind_port', 'action', 'port_status']);

/**
 * The binding-related keys of etcd as of `revision`, kept by the watch: what a bind plans
 * from without reading etcd. It may lag etcd by a moment; every write planned from it is
 * guarded by compares on exactly what it showed, so a stale view costs a retry, never a
 * wrong write. (Keys from watch events carry no lease or create revision.)
 */
export class Mirror {
  revision = 0;
  private readonly kvs = new Map<string, KeyValue>();
  /** Per host: its slots, and the same sorted by vhost id (rebuilt after a change). */
  private readonly hosts = new Map<string, { slots: Map<string, SlotView>; sorted?: SlotView[] }>();

  load(snapshot: Snapshot): void {
    this.kvs.clear();
    this.hosts.clear();
    for (const kv of snapshot.kvs) this.set(kv);
    this.revision = snapshot.revision;
  }

  apply(event: WatchEvent): void {
    if (event.type === 'put') {
      this.set({
        key: event.key,
        value: event.value,
        modRevision: event.modRevision,
        createRevision: 0,
        lease: '0',
      });
      return;
    }
    if (!this.kvs.delete(event.key)) return;
    const parsed = parseKey(event.key);
    if (parsed?.kind === 'vhost') {
      const host = this.hosts.get(parsed.host);
      if (host?.slots.delete(event.key)) host.sorted = undefined;
    }
  }

  get(key: string): KeyValue | undefined {
    return this.kvs.get(key);
  }

  /** A PortView as `portReads` would have returned it at `revision` (slots shared, read-only). */
  portView(host: string, portId: string): PortView {
    const view: PortView = { host, portId, revision: this.revision, slots: [] };
    const get = (key: string) => this.kvs.get(key);
    const config = get(keys.configuration(host));
    const agent = get(keys.agent(host));
    const bindPort = get(keys.bindPort(host, portId));
    const action = get(keys.action(host, portId));
    const status = get(keys.portStatus(host, portId));
    if (config) view.config = config;
    if (agent) view.agent = agent;
    if (bindPort) view.bindPort = bindPort;
    if (action) view.action = action;
    if (status) view.status = status;
    const entry = this.hosts.get(host);
    if (entry) {
      entry.sorted ??= [...entry.slots.values()].sort((x, y) => x.vhostId - y.vhostId);
      view.slots = entry.sorted;
    }
    return view;
  }

  private set(kv: KeyValue): void {
    const parsed = parseKey(kv.key);
    if (!parsed || !MIRRORED.has(parsed.kind)) return;
    this.kvs.set(kv.key, kv);
    if (parsed.kind === 'vhost') {
      let host = this.hosts.get(parsed.host);
      if (!host) this.hosts.set(parsed.host, (host = { slots: new Map() }));
      host.slots.set(kv.key, {
        key: kv.key,
        physnet: parsed.physnet,
        vhostId: parsed.vhostId,
        portId: kv.value === FREE ? null : kv.value,
        modRevision: kv.modRevision,
      });
      host.sorted = undefined;
    }
  }
}

/**
 * One etcd watch for the whole process on `/spp/openstack/`, shared by every bind: each
 * bind registers listeners on its port's keys before it writes anything, so an answer of
 * the agent can never arrive unseen, and a bind costs no watch request of its own. The
 * watch also keeps a Mirror of the binding keys.
 */
export class WatchHub {
  readonly clock: RevisionClock;
  readonly mirror = new Mirror();
  private readonly listeners = new Map<string, Set<KeyListener>>();
  private readonly taps = new Set<(event: WatchEvent) => void>();
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly prefix: string;
  /** False until loaded and while re-loading after a lost watch. */
  ready = false;
  connected = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly logger: Logger,
    options: { clock?: RevisionClock; prefix?: string } = {},
  ) {
    this.clock = options.clock ?? new RevisionClock();
    this.prefix = options.prefix ?? ROOT;
  }

  /** Loads the mirror and starts watching right after the revision it was read at. */
  async start(): Promise<void> {
    const snapshot = await this.store.getPrefix(this.prefix);
    this.mirror.load(snapshot);
    this.clock.observe(snapshot.revision);
    this.ready = true;
    this.loop = this.run(snapshot.revision + 1);
  }

  /** Calls `listener` for every change of any of `keys` (exact keys) until the returned function is called. */
  listen(keys: string[], listener: KeyListener): () => void {
    for (const key of keys) {
      let set = this.listeners.get(key);
      if (!set) this.listeners.set(key, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const key of keys) {
        const set = this.listeners.get(key);
        if (!set) continue;
        set.delete(listener);
        if (set.size === 0) this.listeners.delete(key);
      }
    };
  }

  /** Sees every event under the prefix (keep it cheap). */
  tap(listener: (event: WatchEvent) => void): () => void {
    this.taps.add(listener);
    return () => this.taps.delete(listener);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private dispatch(event: WatchEvent): void {
    this.mirror.apply(event);
    const set = this.listeners.get(event.key);
    if (set) for (const listener of [...set]) listener(event);
    for (const tap of this.taps) tap(event);
  }

  private async run(from: number): Promise<void> {
    const signal = this.controller.signal;
    let next = from;
    while (!signal.aborted) {
      try {
        for await (const batch of this.store.watch(this.prefix, next, signal, {
          onConnected: () => (this.connected = true),
          onDisconnected: (error) => {
            this.connected = false;
            this.logger.warn({ err: errorMessage(error) }, 'etcd watch disconnected, resuming');
          },
        })) {
          next = batch.revision + 1;
          for (const event of batch.events) this.dispatch(event);
          this.mirror.revision = batch.revision;
          this.clock.observe(batch.revision);
        }
      } catch (error) {
        if (signal.aborted) break;
        this.connected = false;
        this.ready = false;
        if (error instanceof WatchResyncNeeded) {
          this.logger.warn({ err: errorMessage(error) }, 'etcd watch must resync');
        } else {
          this.logger.error({ err: errorMessage(error) }, 'etcd watch failed, restarting');
        }
        const snapshot = await this.reload(signal);
        if (!snapshot) break;
        this.mirror.load(snapshot);
        this.ready = true;
        next = snapshot.revision + 1;
        // Events between the lost position and `next` are gone: every listener re-reads.
        const all = new Set<KeyListener>();
        for (const set of this.listeners.values()) for (const listener of set) all.add(listener);
        for (const listener of all) listener({ type: 'resync' });
      }
    }
  }

  private async reload(signal: AbortSignal): Promise<Snapshot | undefined> {
    for (let wait = 100; !signal.aborted; wait = Math.min(wait * 2, 2000)) {
      try {
        return await this.store.getPrefix(this.prefix);
      } catch (error) {
        this.logger.warn({ err: errorMessage(error) }, 'etcd unreachable, retrying');
        await delay(wait, undefined, { signal }).catch(() => undefined);
      }
    }
    return undefined;
  }
}
