import type { ComparatorBuilder, Etcd3, ICompare, IOperation } from 'etcd3';
import type { Condition, Operation } from './types.js';

/* How EtcdStore's conditions and operations become etcd3 builder calls. */

/** etcd3's getPrevious() executes at once; inside a transaction we only want the flag. */
export function withPrevious<T extends IOperation>(builder: T): T {
  (builder as unknown as { request: { prev_kv: boolean } }).request.prev_kv = true;
  return builder;
}

/** The end of the key range holding every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index--) {
    if ((end[index] as number) < 0xff) {
      end[index] = (end[index] as number) + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}

export type Comparison = [string, 'Value' | 'Version' | 'Mod', '==' | '>' | '<', string | number];

export function comparison(condition: Condition): Comparison {
  if ('prefix' in condition) return [condition.prefix, 'Mod', '<', condition.notModifiedAfter + 1];
  if ('equals' in condition) return [condition.key, 'Value', '==', condition.equals];
  if ('absent' in condition) return [condition.key, 'Version', '==', 0];
  if ('present' in condition) return [condition.key, 'Version', '>', 0];
  return [condition.key, 'Mod', '==', condition.modRevision];
}

/** A transaction builder whose compare list is `conditions` (always true when empty). */
export function guardedTxn(client: Etcd3, conditions: Condition[]): ComparatorBuilder {
  const builder = client.if('/', 'Version', '>', -1);
  const compares = (builder as unknown as { request: { compare: Array<Promise<ICompare>> } })
    .request.compare;
  compares.length = 0;
  for (const condition of conditions) {
    const [key, field, cmp, value] = comparison(condition);
    builder.and(key, field, cmp, value);
    if ('prefix' in condition) {
      // etcd3's builder has no range compares; etcd compares every key in [key, range_end).
      const last = compares.length - 1;
      compares[last] = (compares[last] as Promise<ICompare>).then((compare) => ({
        ...compare,
        range_end: prefixEnd(condition.prefix),
      }));
    }
  }
  return builder;
}

/** `op` as an operation of a transaction built on `client`. */
export function toOperation(client: Etcd3, op: Operation): IOperation {
  if ('put' in op) {
    const put = client.put(op.put).value(op.value);
    return op.lease ? put.lease(op.lease) : put;
  }
  if ('delete' in op) return client.delete().key(op.delete);
  if ('deletePrefix' in op) return client.delete().prefix(op.deletePrefix);
  if ('get' in op) return client.get(op.get);
  return client.getAll().prefix(op.getPrefix);
}
