import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Clock } from '../../src/agent/work-queue.js';
import { WorkQueue } from '../../src/agent/work-queue.js';

/** A clock the test advances by hand. */
class ManualClock implements Clock {
  private time = 0;
  private readonly timers = new Set<{ at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.time + ms, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }
  advance(ms: number): void {
    this.time += ms;
    for (const timer of [...this.timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > this.time) continue;
      this.timers.delete(timer);
      timer.fn();
    }
  }
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();

describe('keyed work queue', () => {
  it('hands a key out once with the payloads merged, however often it was added', async () => {
    const queue = new WorkQueue<string, string[]>(union);
    queue.add('vf:1', ['a']);
    queue.add('vf:1', ['b']);
    queue.add('host', ['c']);
    assert.deepEqual(await queue.next(), { key: 'vf:1', payload: ['a', 'b'] });
    assert.deepEqual(await queue.next(), { key: 'host', payload: ['c'] });
    assert.equal(queue.pending, 2);
  });

  it('a key added while it runs runs again after done(), never twice at once', async () => {
    const queue = new WorkQueue<string, string[]>(union);
    queue.add('k', ['1']);
    const first = await queue.next();
    queue.add('k', ['2']);
    let second: unknown;
    void queue.next().then((next) => (second = next));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(second, undefined, 'not handed out while the first run is in progress');
    queue.done(first!.key);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(second, { key: 'k', payload: ['2'] });
  });

  it('keys queued by separate callbacks of one I/O phase are run once', async () => {
    const queue = new WorkQueue<string, string[]>(union);
    const handed: Array<{ key: string; payload: string[] }> = [];
    const worker = (async () => {
      for (;;) {
        const next = await queue.next();
        if (!next) return;
        handed.push(next);
        queue.done(next.key);
      }
    })();
    // Three watch messages of one transaction, each in its own macrotask callback.
    await new Promise<void>((resolve) => {
      setImmediate(() => queue.add('host', ['bind_port']));
      setImmediate(() => queue.add('host', ['action']));
      setImmediate(() => {
        queue.add('host', ['vhost']);
        resolve();
      });
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    queue.close();
    await worker;
    assert.deepEqual(handed, [{ key: 'host', payload: ['action', 'bind_port', 'vhost'] }]);
  });

  it('a delayed key comes back after its delay, or at once when added meanwhile', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue<string, string[]>(union, clock);
    queue.addAfter('retry', ['r'], 100);
    queue.addAfter('soon', ['s'], 100);
    assert.equal(queue.pending, 0);
    queue.add('soon', ['now']);
    assert.deepEqual(await queue.next(), { key: 'soon', payload: ['now', 's'] });
    clock.advance(99);
    assert.equal(queue.pending, 1, 'only the running key');
    clock.advance(1);
    assert.deepEqual(await queue.next(), { key: 'retry', payload: ['r'] });
  });

  it('close() ends waiting and later next() calls and drops delayed keys', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue<string, string[]>(union, clock);
    const waiting = queue.next();
    queue.addAfter('later', ['x'], 10);
    queue.close();
    assert.equal(await waiting, undefined);
    clock.advance(10);
    assert.equal(await queue.next(), undefined);
    queue.add('k', ['y']);
    assert.equal(queue.pending, 0);
  });

  it('property: every add is seen by a run that starts after it, and runs of a key never overlap', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('host', 'vf:1', 'vf:2'), fc.nat(3)), {
          minLength: 1,
          maxLength: 40,
        }),
        async (adds) => {
          const queue = new WorkQueue<string, string[]>(union);
          const running = new Set<string>();
          const seen = new Map<string, Set<string>>();
          const workers = Array.from({ length: 3 }, async () => {
            for (;;) {
              const next = await queue.next();
              if (!next) return;
              assert.ok(!running.has(next.key), `${next.key} runs twice at once`);
              running.add(next.key);
              await new Promise((resolve) => setImmediate(resolve));
              const tags = seen.get(next.key) ?? new Set<string>();
              for (const tag of next.payload) tags.add(tag);
              seen.set(next.key, tags);
              running.delete(next.key);
              queue.done(next.key);
            }
          });
          for (const [index, [key, pause]] of adds.entries()) {
            queue.add(key, [String(index)]);
            for (let i = 0; i < pause; i++) await new Promise((resolve) => setImmediate(resolve));
          }
          for (let i = 0; i < 200 && queue.pending > 0; i++)
            await new Promise((resolve) => setImmediate(resolve));
          queue.close();
          await Promise.all(workers);
          for (const [index, [key]] of adds.entries())
            assert.ok(seen.get(key)?.has(String(index)), `add ${index} of ${key} was run`);
        },
      ),
      { numRuns: 100, seed: 20261202 },
    );
  });
});
