import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { errorMessage } from '../util/errors.js';
import type { BrokerAddress, TransportUrl } from './transport-url.js';
import { brokerLabel } from './transport-url.js';
import type { RpcRequest } from './oslo-message.js';
import {
  NEUTRON_EXCHANGE,
  buildRpcMessage,
  describeFailure,
  parseReply,
  replyQueueName,
} from './oslo-message.js';

export interface RpcClientOptions {
  /** Deadline of the TCP connect + AMQP handshake + declarations, per broker (ms). */
  connectTimeoutMs: number;
  /** AMQP heartbeat (s): a silent broker is noticed after about twice this. */
  heartbeatS?: number;
  /** Broker to try first (the last one that worked); the others follow in URL order. */
  firstBroker?: number;
}

/** An RPC to neutron-server that got no answer in time (server down or busy). */
export class RpcTimeoutError extends Error {
  override readonly name = 'RpcTimeoutError';
}

/** An RPC that neutron-server answered with an exception. */
export class RpcRemoteError extends Error {
  override readonly name = 'RpcRemoteError';
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  result: unknown;
}

const REPLY_QUEUE_EXPIRES_MS = 1_800_000;

/**
 * One AMQP connection speaking oslo.messaging RPC to neutron-server: casts and calls on
 * the `neutron` exchange, replies on a private `reply_<hex>` queue. Every network step has
 * a deadline; when the connection drops, `lost` resolves and pending calls fail.
 */
export class OsloRpcClient {
  private readonly pending = new Map<string, Pending>();
  private consumerTag: string | undefined;
  private closing = false;
  private lostReason: Error | undefined;
  private readonly lostController = new AbortController();

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: Channel,
    private readonly replyQueue: string,
    /** Index (in the URL) of the broker this client is connected to. */
    readonly brokerIndex: number,
    readonly broker: BrokerAddress,
  ) {
    const drop = (error: unknown) =>
      this.fail(error instanceof Error ? error : new Error(errorMessage(error)));
    connection.on('error', drop);
    connection.on('close', () => drop(new Error('connection closed by the broker')));
    channel.on('error', drop);
    channel.on('close', () => drop(new Error('channel closed')));
  }

  /**
   * Connects to the first broker of `url` that answers, starting at `firstBroker`. Fails
   * with every broker's reason when none does.
   */
  static async connect(url: TransportUrl, options: RpcClientOptions): Promise<OsloRpcClient> {
    const count = url.brokers.length;
    const start = (options.firstBroker ?? 0) % count;
    const reasons: string[] = [];
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      const broker = url.brokers[index] as BrokerAddress;
      try {
        return await OsloRpcClient.open(url, index, broker, options);
      } catch (error) {
        reasons.push(`${brokerLabel(broker)}: ${errorMessage(error)}`);
      }
    }
    throw new Error(`no RabbitMQ broker reachable (${reasons.join('; ')})`);
  }

  private static async open(
    url: TransportUrl,
    index: number,
    broker: BrokerAddress,
    options: RpcClientOptions,
  ): Promise<OsloRpcClient> {
    const deadline = Date.now() + options.connectTimeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    const connecting = amqp.connect(
      {
        protocol: url.tls ? 'amqps' : 'amqp',
        hostname: broker.hostname,
        port: broker.port,
        username: broker.username,
        password: broker.password,
        // amqplib percent-decodes the vhost it is given.
        vhost: encodeURIComponent(url.vhost),
        heartbeat: options.heartbeatS ?? 15,
      },
      { timeout: options.connectTimeoutMs },
    );
    const connection = await withDeadline(connecting, left(), 'connect', (late) => {
      void late.then((c) => c.close()).catch(() => undefined);
    });
    try {
      // Errors before the client exists must not crash the process as unhandled events.
      connection.on('error', () => undefined);
      const channel = await withDeadline(connection.createChannel(), left(), 'open channel');
      channel.on('error', () => undefined);
      await withDeadline(
        channel.assertExchange(NEUTRON_EXCHANGE, 'topic', { durable: false, autoDelete: false }),
        left(),
        'declare exchange',
      );
      const replyQueue = replyQueueName();
      await withDeadline(
        channel.assertQueue(replyQueue, {
          durable: false,
          autoDelete: false,
          arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS },
        }),
        left(),
        'declare reply queue',
      );
      const client = new OsloRpcClient(connection, channel, replyQueue, index, broker);
      const consumer = await withDeadline(
        channel.consume(replyQueue, (message) => client.onReply(message), { noAck: true }),
        left(),
        'consume reply queue',
      );
      client.consumerTag = consumer.consumerTag;
      return client;
    } catch (error) {
      await withDeadline(connection.close(), 1000, 'close').catch(() => undefined);
      throw error;
    }
  }

  /** Aborts (with the reason) once the connection or channel is gone; not after close(). */
  get lostSignal(): AbortSignal {
    return this.lostController.signal;
  }

  /** Why the connection was lost, once it was. */
  get lost(): Error | undefined {
    return this.lostReason;
  }

  /** Fire and forget on `topic` of the neutron exchange. */
  cast(topic: string, request: Omit<RpcRequest, 'call'>): void {
    this.ensureOpen();
    const message = buildRpcMessage(request);
    this.channel.publish(NEUTRON_EXCHANGE, topic, message.body, message.properties);
  }

  /** Calls `request.method` on `topic` and resolves with the server's result. */
  call(topic: string, request: Omit<RpcRequest, 'call'>, timeoutMs: number): Promise<unknown> {
    this.ensureOpen();
    const message = buildRpcMessage({
      ...request,
      call: { replyQueue: this.replyQueue, timeoutMs },
    });
    const msgId = message.msgId as string;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgId);
        reject(new RpcTimeoutError(`no reply to ${request.method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(msgId, { resolve, reject, timer, result: null });
      try {
        this.channel.publish(NEUTRON_EXCHANGE, topic, message.body, message.properties);
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(msgId);
        reject(error instanceof Error ? error : new Error(errorMessage(error)));
      }
    });
  }

  /** Cancels the reply consumer, deletes the reply queue, closes; bounded by `timeoutMs`. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.rejectAll(new Error('client closed'));
    if (this.lostReason) return;
    const steps = async () => {
      if (this.consumerTag) await this.channel.cancel(this.consumerTag);
      await this.channel.deleteQueue(this.replyQueue);
      await this.connection.close();
    };
    await withDeadline(steps(), timeoutMs, 'close').catch(() => undefined);
  }

  private onReply(message: ConsumeMessage | null): void {
    if (message === null) {
      this.fail(new Error('reply consumer cancelled by the broker'));
      return;
    }
    const reply = parseReply(message.content);
    if (!reply) return;
    const pending = this.pending.get(reply.msgId);
    if (!pending) return;
    if (reply.failure !== null) {
      this.settle(reply.msgId, pending);
      pending.reject(new RpcRemoteError(describeFailure(reply.failure)));
      return;
    }
    if (reply.result !== null) pending.result = reply.result;
    if (reply.ending) {
      this.settle(reply.msgId, pending);
      pending.resolve(pending.result);
    }
  }

  private settle(msgId: string, pending: Pending): void {
    clearTimeout(pending.timer);
    this.pending.delete(msgId);
  }

  private ensureOpen(): void {
    if (this.lostReason) throw this.lostReason;
    if (this.closing) throw new Error('client closed');
  }

  private fail(error: Error): void {
    if (this.lostReason || this.closing) return;
    this.lostReason = error;
    this.rejectAll(error);
    this.lostController.abort(error);
    // Make sure the socket is gone even if only the channel failed.
    void withDeadline(this.connection.close(), 1000, 'close').catch(() => undefined);
  }

  private rejectAll(error: Error): void {
    for (const [msgId, pending] of this.pending) {
      this.settle(msgId, pending);
      pending.reject(error);
    }
  }
}

/**
 * `promise`, or a rejection after `ms` naming `what`. `onLate` receives the promise when the
 * deadline wins, to clean up whatever it still produces.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onLate?: (late: Promise<T>) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onLate?.(promise);
      promise.catch(() => undefined);
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(errorMessage(error)));
      },
    );
  });
}
