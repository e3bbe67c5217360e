import type { PlacementApi } from './client.js';
import { ServiceError } from './http.js';
import type { PlacementOp, PlacementView } from './plan.js';
import type { PlacementReader } from './reader.js';

/** This instance is not (or no longer surely) the leader: it must not write. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
}

export interface WriteFence {
  /** True while this instance may still write for the next `ms` milliseconds. */
  canWrite(ms: number): boolean;
}

export interface ExecuteContext {
  api: PlacementApi;
  reader: PlacementReader;
  fence: WriteFence;
  /** Each write must be able to finish (its deadline) while leadership is still certain. */
  writeTimeoutMs: number;
  /** Called after each successful write. */
  onWrite?: (op: PlacementOp) => void;
}

/**
 * Carries out a plan in order, each provider write with the generation Placement last gave
 * for it (from the read, then from each answer). A generation conflict forgets what was read
 * of that provider and ends the run: the next sync re-reads and re-plans.
 */
export async function executePlan(
  context: ExecuteContext,
  ops: readonly PlacementOp[],
  view: PlacementView,
): Promise<void> {
  const generations = new Map(view.ours.map((provider) => [provider.uuid, provider.generation]));
  for (const op of ops) {
    if (!context.fence.canWrite(context.writeTimeoutMs)) {
      throw new NotLeaderError('leadership is not certain for the next write; stopping');
    }
    let generation: number | undefined;
    try {
      generation = await write(context.api, op, generations);
    } catch (error) {
      if (error instanceof ServiceError && error.status === 409 && 'uuid' in op) {
        context.reader.forget(op.uuid);
      }
      throw error;
    }
    if (op.op === 'delete_provider') generations.delete(op.uuid);
    else if (generation !== undefined && 'uuid' in op) generations.set(op.uuid, generation);
    context.reader.remember(op, generation);
    context.onWrite?.(op);
  }
}

async function write(
  api: PlacementApi,
  op: PlacementOp,
  generations: ReadonlyMap<string, number>,
): Promise<number | undefined> {
  const generationOf = (uuid: string): number => {
    const generation = generations.get(uuid);
    if (generation === undefined) throw new Error(`no known generation for provider ${uuid}`);
    return generation;
  };
  switch (op.op) {
    case 'create_resource_class':
      await api.ensureResourceClass(op.name);
      return undefined;
    case 'create_trait':
      await api.ensureTrait(op.name);
      return undefined;
    case 'create_provider':
      return api.createProvider(op);
    case 'set_inventories':
      return api.setInventories(op.uuid, generationOf(op.uuid), op.inventories);
    case 'set_traits':
      return api.setTraits(op.uuid, generationOf(op.uuid), op.traits);
    case 'delete_provider':
      await api.deleteProvider(op.uuid);
      return undefined;
  }
}
