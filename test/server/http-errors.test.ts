import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRPCDeadlineExceededError } from 'etcd3';
import { pino } from 'pino';
import type { ServiceApi } from '../../src/server/http.js';
import { buildApp } from '../../src/server/http.js';

const failing = (error: Error): ServiceApi => {
  const fail = () => Promise.reject(error);
  return {
    bind: fail,
    unbind: fail,
    activate: fail,
    sync: fail,
    hosts: fail,
    host: fail,
    health: fail,
  };
};

async function unbind(error: Error) {
  const app = buildApp(failing(error), pino({ level: 'silent' }), { authToken: 'secret' });
  try {
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/ml2/unbind',
      headers: { authorization: 'Bearer secret' },
      payload: { port_id: 'p1', host: 'h1' },
    });
    return { status: answer.statusCode, body: answer.json<{ error: string; detail: string }>() };
  } finally {
    await app.close();
  }
}

describe('HTTP errors of the binding service', () => {
  it('etcd not answering within its deadline is a 503 naming etcd, not an internal error', async () => {
    const answer = await unbind(
      new GRPCDeadlineExceededError('Deadline exceeded after 0.209s,Waiting for LB pick'),
    );
    assert.equal(answer.status, 503);
    assert.equal(answer.body.error, 'etcd_unavailable');
    assert.match(answer.body.detail, /^etcd did not answer: /);
  });

  it('any other failure stays a 500 internal_error with its message', async () => {
    const answer = await unbind(new Error('boom'));
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.body, { error: 'internal_error', detail: 'boom' });
  });
});
