import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeadlineExceeded, withDeadline } from '../../src/util/deadline.js';

describe('withDeadline', () => {
  test('resolves with the value of a promise that settles in time', async () => {
    assert.equal(await withDeadline(Promise.resolve(7), 1000, 'seven'), 7);
  });

  test("passes the promise's own rejection through", async () => {
    await assert.rejects(
      withDeadline(Promise.reject(new Error('boom')), 1000, 'x'),
      /^Error: boom$/,
    );
  });

  test('rejects, naming the wait, when the promise does not settle in time', async () => {
    // The timer itself keeps the process alive: nothing else here would.
    await assert.rejects(
      withDeadline(new Promise(() => undefined), 30, 'etcd get'),
      (error: unknown) =>
        error instanceof DeadlineExceeded && error.message === 'etcd get: no answer within 30 ms',
    );
  });

  test('rejects at once when the signal aborts, or was aborted before', async () => {
    const stop = new AbortController();
    const waiting = withDeadline(new Promise(() => undefined), 60_000, 'etcd put', stop.signal);
    stop.abort();
    await assert.rejects(waiting, { name: 'DeadlineExceeded', message: 'etcd put: aborted' });
    await assert.rejects(withDeadline(Promise.resolve(1), 60_000, 'late', stop.signal), {
      message: 'late: aborted',
    });
  });
});
