import type { IOperation } from 'etcd3';
import type { Condition } from './types.js';

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
