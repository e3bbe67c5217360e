import type { PlacementApi } from './client.js';
import type { PlacementOp, PlacementView, ProviderView } from './plan.js';
import { VHOST_RESOURCE_CLASS, parseProviderName } from './names.js';
import type { ProviderRecord } from './schemas.js';

/** Custom traits the sync manages all start like this (see names.ts). */
const PHYSNET_TRAIT_PREFIX = 'CUSTOM_PHYSNET_';

/** How many provider detail reads run at once. */
const READ_CONCURRENCY = 4;

/**
 * Reads what Placement has, cheaply: one provider list per sync, and the inventories, traits
 * and usages of one of our providers only when its generation moved since we last saw it
 * (Placement bumps a provider's generation on every inventory, trait and allocation change).
 */
export class PlacementReader {
  private readonly cache = new Map<string, ProviderView>();
  private resourceClassSeen = false;

  constructor(private readonly api: PlacementApi) {}

  async read(): Promise<PlacementView> {
    const [providers, traits, resourceClassExists] = await Promise.all([
      this.api.listProviders(),
      this.api.traitsStartingWith(PHYSNET_TRAIT_PREFIX),
      this.resourceClassSeen ? true : this.api.resourceClassExists(VHOST_RESOURCE_CLASS),
    ]);
    this.resourceClassSeen = resourceClassExists;
    const others = new Map<string, string>();
    const mine: ProviderRecord[] = [];
    for (const provider of providers) {
      if (parseProviderName(provider.name)) mine.push(provider);
      else others.set(provider.name, provider.uuid);
    }
    const ours = await mapLimited(mine, READ_CONCURRENCY, (provider) => this.provider(provider));
    const present = new Set(mine.map((provider) => provider.uuid));
    for (const uuid of this.cache.keys()) if (!present.has(uuid)) this.cache.delete(uuid);
    return { others, ours, resourceClassExists, traits: new Set(traits) };
  }

  /** Records the effect of a successful write, with the generation Placement answered. */
  remember(op: PlacementOp, generation: number | undefined): void {
    switch (op.op) {
      case 'create_resource_class':
        this.resourceClassSeen = true;
        return;
      case 'create_trait':
        return;
      case 'delete_provider':
        this.cache.delete(op.uuid);
        return;
      case 'create_provider':
        this.cache.set(op.uuid, {
          uuid: op.uuid,
          name: op.name,
          parentUuid: op.parentUuid,
          generation: generation ?? -1,
          inventories: {},
          traits: [],
          allocated: 0,
        });
        return;
      case 'set_inventories':
      case 'set_traits': {
        const cached = this.cache.get(op.uuid);
        if (!cached || generation === undefined) return;
        const next: ProviderView =
          op.op === 'set_inventories'
            ? { ...cached, generation, inventories: op.inventories }
            : { ...cached, generation, traits: op.traits };
        this.cache.set(op.uuid, next);
        return;
      }
    }
  }

  /** Forgets everything about one provider (e.g. after a generation conflict), or all. */
  forget(uuid?: string): void {
    if (uuid === undefined) {
      this.cache.clear();
      this.resourceClassSeen = false;
    } else this.cache.delete(uuid);
  }

  private async provider(record: ProviderRecord): Promise<ProviderView> {
    const cached = this.cache.get(record.uuid);
    if (cached && cached.generation === record.generation) return cached;
    const [inventories, traits, usages] = await Promise.all([
      this.api.inventories(record.uuid),
      this.api.traits(record.uuid),
      this.api.usages(record.uuid),
    ]);
    const view: ProviderView = {
      uuid: record.uuid,
      name: record.name,
      parentUuid: record.parent_provider_uuid ?? null,
      generation: inventories.generation,
      inventories: inventories.inventories,
      traits: traits.traits,
      allocated: usages.usages[VHOST_RESOURCE_CLASS] ?? 0,
    };
    // Three reads that saw different generations raced a change: use them, do not keep them.
    const consistent =
      traits.generation === inventories.generation && usages.generation === inventories.generation;
    if (consistent) this.cache.set(record.uuid, view);
    else this.cache.delete(record.uuid);
    return view;
  }
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
