/**
 * Member choice for the store's calls (issue 17, failover): a call never meets the same
 * member twice before it has tried every member, it starts on the member that answered
 * last, and a member whose attempt ran out of time gets a fresh client, once.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { callWithFailover } from '../../src/etcd/call.js';
import { Members, pickMember } from '../../src/etcd/members.js';

const SEED = Number(process.env.PLAN_SEED ?? 20261202);

/** Clients that are never used for a request (etcd3 connects lazily): identities only. */
const made: Etcd3[] = [];
function idleClient(): Etcd3 {
  const client = new Etcd3({ hosts: '127.0.0.1:9' });
  made.push(client);
  return client;
}

after(() => {
  for (const client of made) client.close();
});

const health = fc.integer({ min: 1, max: 5 }).chain((size) =>
  fc.record({
    preferred: fc.option(fc.integer({ min: 0, max: size - 1 }), { nil: undefined }),
    failedAt: fc.array(fc.oneof(fc.constant(-Infinity), fc.integer({ min: 0, max: 50 })), {
      minLength: size,
      maxLength: size,
    }),
  }),
);

describe('pickMember (pure)', () => {
  test('one round tries every member exactly once, the preferred one first', () => {
    fc.assert(
      fc.property(health, (h) => {
        const tried = new Set<number>();
        const order: number[] = [];
        for (let i = 0; i < h.failedAt.length; i++) {
          const index = pickMember(h, tried);
          tried.add(index);
          order.push(index);
        }
        assert.deepEqual(
          [...order].sort((a, b) => a - b),
          h.failedAt.map((_, i) => i),
        );
        if (h.preferred !== undefined) assert.equal(order[0], h.preferred);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('after the preferred member, members are tried from the oldest failure on', () => {
    fc.assert(
      fc.property(health, (h) => {
        const tried = new Set<number>(h.preferred === undefined ? [] : [h.preferred]);
        let last = -Infinity;
        for (let step = 0; tried.size < h.failedAt.length; step++) {
          assert.ok(step < h.failedAt.length, 'every member picked within one round');
          const index = pickMember(h, tried);
          const failedAt = h.failedAt[index] ?? NaN;
          assert.ok(failedAt >= last, `member ${index} (failed at ${failedAt}) after ${last}`);
          last = failedAt;
          tried.add(index);
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('a member that never failed comes before one that did', () => {
    assert.equal(pickMember({ failedAt: [10, -Infinity, 5] }, new Set()), 1);
    assert.equal(pickMember({ preferred: 0, failedAt: [10, -Infinity, 5] }, new Set([0, 1])), 2);
  });
});

describe('Members', () => {
  test('the member that answered last is where the next call starts', () => {
    const members = new Members([idleClient(), idleClient(), idleClient()]);
    const first = members.next(new Set());
    assert.equal(first.index, 0);
    members.failed(first, false);
    assert.notEqual(members.next(new Set()).index, 0, 'a member that failed is not first');
    // A call that had tried member 1 already answers on member 2: member 2 is first next.
    const answered = members.next(new Set([0, 1]));
    assert.equal(answered.index, 2);
    members.succeeded(answered);
    assert.equal(members.next(new Set()).index, 2);
  });

  test('a member that timed out gets one fresh client, however many calls saw it', () => {
    let reconnects = 0;
    const members = new Members([idleClient(), idleClient()], () => {
      reconnects++;
      return idleClient();
    });
    const a = members.next(new Set());
    const b = members.next(new Set());
    assert.equal(a.client, b.client);
    members.failed(a, true);
    members.failed(b, true);
    assert.equal(reconnects, 1);
    const tried = new Set<number>([1]);
    const fresh = members.next(tried);
    assert.equal(fresh.index, 0);
    assert.notEqual(fresh.client, a.client);
    // A failure that is not a timeout keeps the client (etcd3 resets its connection itself).
    members.failed(fresh, false);
    assert.equal(reconnects, 1);
  });
});

describe('callWithFailover over members', () => {
  const timeouts = { requestTimeoutMs: 3000, attemptTimeoutMs: 100 };
  const stop = new AbortController().signal;

  test('down members cost a call one attempt each, and later calls none', async () => {
    const clients = [idleClient(), idleClient(), idleClient()];
    const members = new Members(clients);
    const healthy = clients[2];
    const seen: Etcd3[] = [];
    const attempt = (_options: unknown, client: Etcd3) => {
      seen.push(client);
      return client === healthy
        ? Promise.resolve('ok')
        : Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: connection refused'));
    };
    assert.equal(await callWithFailover('get', attempt, timeouts, stop, members), 'ok');
    assert.equal(seen.length, 3, 'members 0 and 1 failed once each, then member 2 answered');
    assert.equal(new Set(seen).size, 3, 'no member was tried twice');
    seen.length = 0;
    assert.equal(await callWithFailover('get', attempt, timeouts, stop, members), 'ok');
    assert.deepEqual(seen, [healthy]);
  });

  test('a member that never answers costs one attempt deadline, then the call moves on', async () => {
    const clients = [idleClient(), idleClient()];
    let reconnects = 0;
    const members = new Members(clients, () => {
      reconnects++;
      return idleClient();
    });
    const attempt = (_options: unknown, client: Etcd3) =>
      client === clients[0] ? new Promise<string>(() => undefined) : Promise.resolve('ok');
    assert.equal(await callWithFailover('put', attempt, timeouts, stop, members), 'ok');
    assert.equal(reconnects, 1, 'the silent member got a fresh client');
  });

  test('a refused call is not retried on the other members', async () => {
    const members = new Members([idleClient(), idleClient()]);
    let attempts = 0;
    const attempt = () => {
      attempts++;
      return Promise.reject(new Error('etcdserver: permission denied'));
    };
    await assert.rejects(
      callWithFailover('get', attempt, timeouts, stop, members),
      /permission denied/,
    );
    assert.equal(attempts, 1);
  });
});
