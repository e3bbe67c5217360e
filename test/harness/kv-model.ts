import type { Condition, KeyValue, Operation } from '../../src/etcd/store.js';

/**
 * etcd's key-value semantics for pure tests: revisions, guarded transactions (all
 * conditions hold → all operations, atomically), prefix deletes. Checked against the real
 * etcd by the tests of src/etcd/store.ts; here it lets planners' plans be applied.
 */
export class KvModel {
  revision = 1;
  private readonly kvs = new Map<string, { value: string; modRevision: number }>();

  constructor(initial: Record<string, string> = {}) {
    for (const [key, value] of Object.entries(initial)) this.put(key, value);
  }

  put(key: string, value: string): number {
    this.revision++;
    this.kvs.set(key, { value, modRevision: this.revision });
    return this.revision;
  }

  get(key: string): string | undefined {
    return this.kvs.get(key)?.value;
  }

  holds(condition: Condition): boolean {
    if ('prefix' in condition) {
      return [...this.kvs].every(
        ([key, kv]) =>
          !key.startsWith(condition.prefix) || kv.modRevision <= condition.notModifiedAfter,
      );
    }
    const kv = this.kvs.get(condition.key);
    if ('equals' in condition) return kv?.value === condition.equals;
    if ('absent' in condition) return kv === undefined;
    if ('present' in condition) return kv !== undefined;
    return kv?.modRevision === condition.modRevision;
  }

  /** Applies `operations` when every condition holds; true when it did. */
  txn(conditions: readonly Condition[], operations: readonly Operation[]): boolean {
    if (!conditions.every((condition) => this.holds(condition))) return false;
    const writes = operations.filter((op) => !('get' in op) && !('getPrefix' in op));
    if (writes.length === 0) return true;
    this.revision++;
    for (const op of writes) {
      if ('put' in op) this.kvs.set(op.put, { value: op.value, modRevision: this.revision });
      else if ('delete' in op) this.kvs.delete(op.delete);
      else if ('deletePrefix' in op) {
        for (const key of [...this.kvs.keys()])
          if (key.startsWith(op.deletePrefix)) this.kvs.delete(key);
      }
    }
    return true;
  }

  delete(key: string): void {
    this.txn([], [{ delete: key }]);
  }

  keyValues(): KeyValue[] {
    return [...this.kvs].map(([key, kv]) => ({
      key,
      value: kv.value,
      modRevision: kv.modRevision,
      createRevision: kv.modRevision,
      lease: '0',
    }));
  }
}
