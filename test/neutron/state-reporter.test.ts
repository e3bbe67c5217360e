/**
 * The heartbeat against a real RabbitMQ, with a stand-in for neutron-server's report
 * consumer that records what arrives and answers like oslo.messaging's RPC server.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { pino } from 'pino';
import { freePort } from '../../src/lab/ports.js';
import { RabbitMqServer } from '../../src/lab/rabbitmq.js';
import { StateReporter } from '../../src/neutron/state-reporter.js';
import { waitFor } from '../harness/wait.js';

interface Received {
  properties: ConsumeMessage['properties'];
  inner: Record<string, unknown>;
  agentState: Record<string, unknown>;
  /** Answered with a failure. */
  failed: boolean;
}

/** Consumes `q-reports-plugin` and answers each call with `answer()`. */
class FakeNeutron {
  readonly received: Received[] = [];
  answer: () => string | null = () => (this.received.length === 1 ? 'new' : 'alive');
  /** When set, every call is answered with this oslo failure (a remote exception). */
  failure: string | undefined;
  private constructor(private readonly connection: ChannelModel) {}

  static async start(rabbit: RabbitMqServer): Promise<FakeNeutron> {
    const connection = await amqp.connect(rabbit.amqpUrl, { timeout: 5000 });
    connection.on('error', () => undefined);
    const fake = new FakeNeutron(connection);
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.assertExchange('neutron', 'topic', { durable: false, autoDelete: false });
    await channel.assertQueue('q-reports-plugin', { durable: false, autoDelete: false });
    await channel.bindQueue('q-reports-plugin', 'neutron', 'q-reports-plugin');
    await channel.consume(
      'q-reports-plugin',
      (message) => {
        if (!message) return;
        const outer = JSON.parse(message.content.toString()) as Record<string, string>;
        const inner = JSON.parse(outer['oslo.message'] as string) as Record<string, unknown>;
        const args = inner.args as { agent_state: { agent_state: Record<string, unknown> } };
        fake.received.push({
          properties: message.properties,
          inner,
          agentState: args.agent_state.agent_state,
          failed: fake.failure !== undefined,
        });
        const reply = {
          result: fake.failure === undefined ? fake.answer() : null,
          failure: fake.failure ?? null,
          ending: true,
          _msg_id: inner._msg_id,
        };
        channel.sendToQueue(
          inner._reply_q as string,
          Buffer.from(
            JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(reply) }),
          ),
        );
      },
      { noAck: true },
    );
    return fake;
  }

  async stop(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('state reports over a real RabbitMQ', () => {
  let rabbit: RabbitMqServer | undefined;

  before(async () => {
    rabbit = await RabbitMqServer.launch();
  });
  after(async () => {
    await rabbit?.dispose();
  });

  test('wire format: properties, envelope, agent_state, start_flag on the first report only', async () => {
    const neutron = await FakeNeutron.start(rabbit!);
    const controller = new AbortController();
    const { logger } = captureLogger();
    let calls = 0;
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-w',
      reportIntervalS: 0.2,
      logger,
      state: () => ({ physnets: ['phys1'], call: ++calls }),
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('three reports', () => neutron.received.length >= 3, 10_000);
      await waitFor('three answers', () => reporter.reportsAnswered >= 3, 5000);
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    const [first, second] = neutron.received as [Received, Received];
    assert.equal(first.properties.contentType, 'application/json');
    assert.equal(first.properties.contentEncoding, 'utf-8');
    assert.equal(first.properties.deliveryMode, 2);
    assert.equal(first.properties.priority, 0);
    assert.equal(first.properties.expiration, '2000');
    assert.equal(first.inner.method, 'report_state');
    assert.equal(first.inner.version, '1.2');
    assert.match(first.inner._reply_q as string, /^reply_[0-9a-f]{32}$/);
    assert.match(
      (first.inner.args as { time: string }).time,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/,
    );
    assert.notEqual(first.inner._unique_id, second.inner._unique_id);
    assert.deepEqual(first.agentState, {
      agent_type: 'SPP neutron agent',
      binary: 'neutron-spp-agent',
      host: 'compute-w',
      topic: 'N/A',
      configurations: { physnets: ['phys1'], call: 1 },
      start_flag: true,
    });
    assert.equal(second.agentState.start_flag, undefined);
    assert.deepEqual(second.agentState.configurations, { physnets: ['phys1'], call: 2 });
    assert.equal(reporter.lastResult, 'alive');
  });

  test('fails over past an unreachable broker of the URL', async () => {
    const neutron = await FakeNeutron.start(rabbit!);
    const dead = await freePort();
    const controller = new AbortController();
    const { logger } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: `rabbit://guest:guest@127.0.0.1:${dead},guest:guest@127.0.0.1:${rabbit!.amqpPort}/`,
      host: 'compute-f',
      reportIntervalS: 0.2,
      logger,
      state: () => ({}),
      connectTimeoutMs: 1000,
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('a report via the second broker', () => reporter.reportsAnswered >= 1, 10_000);
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    assert.equal(neutron.received[0]?.agentState.host, 'compute-f');
  });

  test('no neutron-server: logged once, start_flag kept until a report is answered', async () => {
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-n',
      reportIntervalS: 0.2,
      logger,
      state: () => ({}),
      callTimeoutMs: 300,
    });
    const running = reporter.run(controller.signal);
    let neutron: FakeNeutron | undefined;
    try {
      const silent = (line: Record<string, unknown>) =>
        line.msg === 'neutron-server does not answer state reports';
      await waitFor('no_reply status', () => reporter.currentStatus === 'no_reply', 10_000);
      await waitFor('three unanswered reports', () => reporter.reportsSent >= 3, 10_000);
      assert.equal(reporter.reportsAnswered, 0);
      neutron = await FakeNeutron.start(rabbit!);
      await waitFor('two answered reports', () => reporter.reportsAnswered >= 2, 10_000);
      // Several unanswered reports, one log line.
      assert.equal(lines.filter(silent).length, 1);
    } finally {
      controller.abort();
      await running;
      await neutron?.stop();
    }
    // The first report the server saw still carried start_flag.
    assert.equal(neutron!.received[0]?.agentState.start_flag, true);
    assert.equal(neutron!.received.at(-1)?.agentState.start_flag, undefined);
    assert.ok(lines.some((line) => line.msg === 'reporting state to neutron'));
  });

  test('a report the server answers with null (stamped before it started) keeps start_flag', async () => {
    const neutron = await FakeNeutron.start(rabbit!);
    // neutron-server drops reports stamped before its own start and answers null.
    neutron.answer = () => (neutron.received.length <= 2 ? null : 'alive');
    const controller = new AbortController();
    const { logger } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-null',
      reportIntervalS: 0.1,
      logger,
      state: () => ({}),
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('four answered reports', () => reporter.reportsAnswered >= 4, 10_000);
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    const flags = neutron.received.map((report) => report.agentState.start_flag ?? false);
    assert.deepEqual(
      flags.slice(0, 4),
      [true, true, true, false],
      'until the first non-null answer',
    );
  });

  test('a report the server rejects is logged once and reported again; start_flag kept', async () => {
    const neutron = await FakeNeutron.start(rabbit!);
    neutron.failure = JSON.stringify({ class: 'DBError', message: 'database is locked' });
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-x',
      reportIntervalS: 0.1,
      logger,
      state: () => ({}),
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('three rejected reports', () => neutron.received.length >= 3, 10_000);
      assert.equal(reporter.currentStatus, 'rejected');
      neutron.failure = undefined;
      await waitFor('an accepted report', () => reporter.reportsAnswered >= 1, 10_000);
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    const rejected = lines.filter((l) => l.msg === 'neutron-server rejected the state report');
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]?.err, 'DBError: database is locked');
    // start_flag stays until a report is accepted: on every rejected one and the first accepted.
    const firstAccepted = neutron.received.findIndex((r) => !r.failed);
    assert.ok(firstAccepted >= 3);
    for (const report of neutron.received.slice(0, firstAccepted + 1)) {
      assert.equal(report.agentState.start_flag, true);
    }
    for (const report of neutron.received.slice(firstAccepted + 1)) {
      assert.equal(report.agentState.start_flag, undefined);
    }
  });

  test('no report while the agent says it is unhealthy', async () => {
    const neutron = await FakeNeutron.start(rabbit!);
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    let healthy = true;
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-h',
      reportIntervalS: 0.1,
      logger,
      state: () => ({}),
      healthy: () => healthy,
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('a report', () => neutron.received.length >= 1, 10_000);
      healthy = false;
      await waitFor('withheld', () => reporter.currentStatus === 'withheld', 5000);
      const during = neutron.received.length;
      // Several intervals pass without a report reaching the server.
      await waitFor('five skipped intervals', () => reporter.reportsWithheld >= 5, 5000);
      assert.equal(neutron.received.length, during);
      healthy = true;
      await waitFor('reports again', () => neutron.received.length > during, 5000);
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    assert.equal(
      lines.filter((l) => l.msg === 'agent unhealthy, state reports withheld').length,
      1,
    );
  });

  test('shutdown does not wait for an unanswered report', async () => {
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-s',
      reportIntervalS: 1,
      logger,
      state: () => ({}),
      callTimeoutMs: 120_000,
    });
    let finished = false;
    const running = reporter.run(controller.signal).then(() => (finished = true));
    await waitFor('a report in flight', () => reporter.reportsSent >= 1, 10_000);
    controller.abort();
    // Far less than the call's own 120 s timeout.
    await waitFor('run() returned', () => finished, 10_000);
    await running;
    assert.equal(reporter.reportsAnswered, 0);
    assert.equal(lines.filter((line) => line.level === 40).length, 0, JSON.stringify(lines));
  });

  test('broker restart: keeps running, logs each state change once, reports again when back', async () => {
    let neutron = await FakeNeutron.start(rabbit!);
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    const reporter = new StateReporter({
      transportUrl: rabbit!.transportUrl,
      host: 'compute-r',
      reportIntervalS: 0.2,
      logger,
      state: () => ({}),
      connectTimeoutMs: 1000,
      retryBaseMs: 50,
      retryMaxMs: 200,
    });
    const running = reporter.run(controller.signal);
    try {
      await waitFor('first report', () => reporter.reportsAnswered >= 1, 10_000);
      await neutron.stop();
      await rabbit!.stop();
      await waitFor('broker_down', () => reporter.currentStatus === 'broker_down', 10_000);
      const answeredWhileDown = reporter.reportsAnswered;
      await rabbit!.start();
      neutron = await FakeNeutron.start(rabbit!);
      await waitFor(
        'a report after the restart',
        () => reporter.reportsAnswered > answeredWhileDown && neutron.received.length >= 1,
        20_000,
      );
    } finally {
      controller.abort();
      await running;
      await neutron.stop();
    }
    const downLines = lines.filter(
      (line) => line.msg === 'RabbitMQ unreachable, state reports paused',
    );
    assert.equal(downLines.length, 1, JSON.stringify(downLines));
    assert.equal(lines.filter((line) => line.msg === 'reporting state to neutron').length, 2);
  });
});
