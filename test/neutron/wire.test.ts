import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  agentConfigurations,
  buildAgentState,
  reportStateRequest,
} from '../../src/neutron/agent-state.js';
import { buildRpcMessage, osloTime, parseReply, uniqueId } from '../../src/neutron/oslo-message.js';
import { deviceStatusRequest } from '../../src/neutron/plugin-rpc.js';
import { parseTransportUrl, redact } from '../../src/neutron/transport-url.js';

describe('transport_url', () => {
  test('one broker with credentials and the default vhost', () => {
    assert.deepEqual(parseTransportUrl('rabbit://neutron:s3cret@10.0.0.1:5673/'), {
      brokers: [{ hostname: '10.0.0.1', port: 5673, username: 'neutron', password: 's3cret' }],
      vhost: '/',
      tls: false,
    });
  });

  test('several brokers keep their order (failover), each with its own credentials', () => {
    const url = parseTransportUrl('rabbit://a:pa@h1:5672,b:pb@h2:5673,h3/openstack');
    assert.deepEqual(
      url.brokers.map((b) => [b.hostname, b.port, b.username, b.password]),
      [
        ['h1', 5672, 'a', 'pa'],
        ['h2', 5673, 'b', 'pb'],
        ['h3', 5672, 'guest', 'guest'],
      ],
    );
    assert.equal(url.vhost, 'openstack');
  });

  test('percent-encoding, IPv6, no path, ssl option', () => {
    const url = parseTransportUrl('rabbit://us%40er:p%3Aw%2Fd@[fd00::1]:5671?ssl=1');
    assert.deepEqual(url.brokers[0], {
      hostname: 'fd00::1',
      port: 5671,
      username: 'us@er',
      password: 'p:w/d',
    });
    assert.equal(url.vhost, '/');
    assert.equal(url.tls, true);
    assert.equal(parseTransportUrl('rabbit://h/%2Fprod').vhost, '/prod');
  });

  test('refuses what is not a RabbitMQ URL, naming the problem', () => {
    assert.throws(() => parseTransportUrl('fake://'), /scheme "fake" is not supported/);
    assert.throws(() => parseTransportUrl('rabbit:///'), /no broker address/);
    assert.throws(() => parseTransportUrl('rabbit://h:99999/'), /port out of range/);
    assert.throws(() => parseTransportUrl('10.0.0.1:5672'), /not a URL/);
    assert.throws(() => parseTransportUrl('rabbit://u:%zz@h/'), /password is not valid/);
  });

  test('passwords are redacted for logs', () => {
    assert.equal(
      redact('rabbit://a:pa@h1:5672,b:pb@h2:5673/v'),
      'rabbit://a:***@h1:5672,b:***@h2:5673/v',
    );
  });
});

describe('oslo.messaging envelope', () => {
  test('time is UTC with six fraction digits and no zone', () => {
    assert.equal(
      osloTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678))),
      '2026-01-02T03:04:05.678000',
    );
  });

  test('unique ids are 32 hex digits and new each time', () => {
    const ids = new Set(Array.from({ length: 50 }, uniqueId));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });

  test('a call carries msg id, reply queue, null timeout and an expiration', () => {
    const message = buildRpcMessage({
      method: 'report_state',
      version: '1.2',
      args: { x: 1 },
      call: { replyQueue: 'reply_abc', timeoutMs: 30_000 },
    });
    assert.deepEqual(message.properties, {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 0,
      expiration: '30000',
    });
    const outer = JSON.parse(message.body.toString()) as Record<string, string>;
    assert.deepEqual(Object.keys(outer).sort(), ['oslo.message', 'oslo.version']);
    assert.equal(outer['oslo.version'], '2.0');
    const inner = JSON.parse(outer['oslo.message'] as string) as Record<string, unknown>;
    assert.equal(inner.method, 'report_state');
    assert.equal(inner.version, '1.2');
    assert.deepEqual(inner.args, { x: 1 });
    assert.equal(inner._msg_id, message.msgId);
    assert.equal(inner._reply_q, 'reply_abc');
    assert.equal(inner._timeout, null);
    assert.match(inner._unique_id as string, /^[0-9a-f]{32}$/);
    assert.notEqual(inner._unique_id, inner._msg_id);
  });

  test('a cast has neither reply fields nor expiration', () => {
    const message = buildRpcMessage({ method: 'm', version: '1.0', args: {} });
    assert.equal(message.properties.expiration, undefined);
    assert.equal(message.msgId, undefined);
    const inner = JSON.parse(
      (JSON.parse(message.body.toString()) as Record<string, string>)['oslo.message'] as string,
    ) as Record<string, unknown>;
    assert.deepEqual(Object.keys(inner).sort(), ['_unique_id', 'args', 'method', 'version']);
  });

  test('replies: result, failure, end marker; anything else is ignored', () => {
    const wrap = (inner: unknown) =>
      Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(inner) }));
    assert.deepEqual(
      parseReply(wrap({ _msg_id: 'm1', result: 'alive', failure: null, ending: true })),
      { msgId: 'm1', result: 'alive', failure: null, ending: true },
    );
    assert.deepEqual(parseReply(wrap({ _msg_id: 'm2', result: null, failure: '{"class":"X"}' })), {
      msgId: 'm2',
      result: null,
      failure: '{"class":"X"}',
      ending: false,
    });
    assert.equal(parseReply(Buffer.from('not json')), undefined);
    assert.equal(parseReply(wrap({ result: 'x' })), undefined);
  });
});

describe('agent state', () => {
  test('the report_state request Neutron expects, start_flag only when asked', () => {
    const state = buildAgentState({ host: 'c1', configurations: { a: 1 }, startFlag: true });
    assert.deepEqual(state, {
      agent_type: 'SPP neutron agent',
      binary: 'neutron-spp-agent',
      host: 'c1',
      topic: 'N/A',
      configurations: { a: 1 },
      start_flag: true,
    });
    assert.equal(
      'start_flag' in buildAgentState({ host: 'c1', configurations: {}, startFlag: false }),
      false,
    );
    const request = reportStateRequest(state, new Date(Date.UTC(2026, 10, 30, 12, 0, 0, 5)));
    assert.deepEqual(request, {
      method: 'report_state',
      version: '1.2',
      args: { agent_state: { agent_state: state }, time: '2026-11-30T12:00:00.005000' },
    });
  });

  test('configurations: physnets, slots total and free, dialect, version', () => {
    const record = {
      host: 'c1',
      version: '9.9.9',
      started_at: 'x',
      pid: 1,
      physnets: { phys2: { vhosts: [2, 3] }, phys1: { vhosts: [0, 1] } },
      dialect: '19.11',
    };
    assert.deepEqual(agentConfigurations(record, { phys1: 1, phys2: 2 }), {
      physnets: ['phys1', 'phys2'],
      vhosts: { phys1: { total: 2, free: 1 }, phys2: { total: 2, free: 2 } },
      spp_dialect: '19.11',
      version: '9.9.9',
      spp: 'ok',
    });
    const bare = agentConfigurations({ ...record, physnets: {}, dialect: undefined }, {});
    assert.deepEqual(bare, {
      physnets: [],
      vhosts: {},
      spp_dialect: null,
      version: '9.9.9',
      spp: 'ok',
    });
  });

  test('update_device_up / down arguments', () => {
    assert.deepEqual(deviceStatusRequest(true, { device: 'p1', host: 'c1', agentId: 'a' }), {
      method: 'update_device_up',
      version: '1.5',
      args: { device: 'p1', agent_id: 'a', host: 'c1' },
    });
    assert.equal(
      deviceStatusRequest(false, { device: 'p1', host: 'c1', agentId: 'a' }).method,
      'update_device_down',
    );
  });
});
