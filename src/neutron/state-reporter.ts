import type { Logger } from 'pino';
import { Backoff, sleep } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { buildAgentState, reportStateRequest } from './agent-state.js';
import { REPORTS_TOPIC } from './oslo-message.js';
import { OsloRpcClient, RpcRemoteError, RpcTimeoutError } from './rpc-client.js';
import type { TransportUrl } from './transport-url.js';
import { brokerLabel, parseTransportUrl } from './transport-url.js';

export interface StateReporterOptions {
  /** oslo `transport_url`, e.g. rabbit://guest:guest@10.0.0.1:5672,guest:guest@10.0.0.2:5672/ */
  transportUrl: string;
  host: string;
  /** Seconds between reports (`[AGENT] report_interval`), > 0. */
  reportIntervalS: number;
  logger: Logger;
  /** The `configurations` to report, read at each report. */
  state: () => object;
  /**
   * Whether the agent can do its work (e.g. its etcd session and watch are healthy). While
   * false no report is sent, so Neutron sees the agent die instead of trusting a heartbeat
   * that outlives the agent's real channel. Default: always.
   */
  healthy?: () => boolean;
  /** How long a report waits for neutron-server's answer (ms); default min(30 s, max(2 s, interval)). */
  callTimeoutMs?: number;
  /** Deadline of connecting to one broker (ms). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/** Where the heartbeat stands; each change is logged once. */
export type ReporterStatus = 'reporting' | 'no_reply' | 'rejected' | 'broker_down' | 'withheld';

/** Answer of neutron-server to a report: `new`, `alive`, `revived`, or null (stale, dropped). */
export type ReportResult = string | null;

/**
 * The agent's heartbeat to Neutron: a `report_state` call to `q-reports-plugin` every
 * report interval, as Neutron's own L2 agents do, so `GET /v2.0/agents` lists the agent and
 * ML2's `host_agents('SPP neutron agent')` finds it alive. A call rather than a cast: the
 * reply says the server recorded the report, `start_flag` is sent until one was, and the
 * message expires instead of piling up while neutron-server is down. When the broker is
 * unreachable the agent keeps working; the reporter reconnects (next broker of the URL
 * first) with bounded exponential backoff and reports as soon as it is back.
 */
export class StateReporter {
  readonly url: TransportUrl;
  private startFlag = true;
  private status: ReporterStatus | undefined;
  private nextBroker = 0;
  private stopping = false;
  /** Reports sent and answered so far, and the last answer (for tests and the logs). */
  reportsSent = 0;
  reportsWithheld = 0;
  reportsAnswered = 0;
  lastResult: ReportResult | undefined;

  constructor(private readonly options: StateReporterOptions) {
    if (!(options.reportIntervalS > 0)) throw new Error('report interval must be positive');
    this.url = parseTransportUrl(options.transportUrl);
  }

  private get callTimeoutMs(): number {
    return (
      this.options.callTimeoutMs ??
      Math.min(30_000, Math.max(2000, this.options.reportIntervalS * 1000))
    );
  }

  /** Reports until `signal` aborts; an abort also cuts a connect or a call in progress. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.options.retryBaseMs ?? 500, this.options.retryMaxMs ?? 30_000);
    const intervalMs = this.options.reportIntervalS * 1000;
    let client: OsloRpcClient | undefined;
    // Closing the client fails a pending call at once, so shutdown never waits for a reply.
    const onAbort = () => {
      this.stopping = true;
      void client?.close();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Wakes the interval sleep on shutdown or when the connection is lost (one per connection).
    let wake: AbortSignal = signal;
    try {
      while (!signal.aborted) {
        if (!client) {
          client = await this.connectUnlessAborted(signal);
          if (client) wake = AbortSignal.any([signal, client.lostSignal]);
        }
        if (signal.aborted) break;
        if (!client) {
          await sleep(backoff.next(), signal);
          continue;
        }
        const started = Date.now();
        const usable = await this.reportOnce(client);
        if (signal.aborted) break;
        if (!usable) {
          await client.close();
          client = undefined;
          await sleep(backoff.next(), signal);
          continue;
        }
        backoff.reset();
        await sleep(Math.max(0, intervalMs - (Date.now() - started)), wake);
        const lost = client.lost;
        if (lost && !signal.aborted) {
          this.setStatus('broker_down', errorMessage(lost));
          await client.close();
          client = undefined;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client?.close();
    }
  }

  /** Connects, or gives up as soon as `signal` aborts (closing a connection made late). */
  private async connectUnlessAborted(signal: AbortSignal): Promise<OsloRpcClient | undefined> {
    const connecting = this.connect();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const client = await Promise.race([connecting, aborted]);
      if (!signal.aborted) return client;
      void connecting.then((late) => late?.close());
      return undefined;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private async connect(): Promise<OsloRpcClient | undefined> {
    try {
      const client = await OsloRpcClient.connect(this.url, {
        connectTimeoutMs: this.options.connectTimeoutMs ?? 5000,
        firstBroker: this.nextBroker,
      });
      this.nextBroker = client.brokerIndex;
      this.options.logger.debug({ broker: brokerLabel(client.broker) }, 'connected to RabbitMQ');
      return client;
    } catch (error) {
      // Next time start with the broker after the one that was tried first.
      this.nextBroker = (this.nextBroker + 1) % this.url.brokers.length;
      this.setStatus('broker_down', errorMessage(error));
      return undefined;
    }
  }

  /** One report; false when the connection is unusable and must be re-made. */
  private async reportOnce(client: OsloRpcClient): Promise<boolean> {
    if (this.options.healthy && !this.options.healthy()) {
      this.reportsWithheld++;
      this.setStatus('withheld', 'the agent is not healthy', client);
      return true;
    }
    let request;
    try {
      const agentState = buildAgentState({
        host: this.options.host,
        configurations: this.options.state(),
        startFlag: this.startFlag,
      });
      request = reportStateRequest(agentState, new Date());
    } catch (error) {
      this.options.logger.error({ err: errorMessage(error) }, 'cannot build the agent state');
      return true;
    }
    try {
      this.reportsSent++;
      const answer = await client.call(REPORTS_TOPIC, request, this.callTimeoutMs);
      const result = typeof answer === 'string' ? answer : null;
      this.reportsAnswered++;
      this.lastResult = result;
      // null: the server dropped the report as stamped before its start; send start_flag again.
      if (result !== null) this.startFlag = false;
      if (result === 'revived') {
        this.options.logger.info(
          { broker: brokerLabel(client.broker) },
          'neutron revived the agent',
        );
      }
      this.setStatus('reporting', undefined, client);
      return true;
    } catch (error) {
      if (this.stopping) return true;
      if (error instanceof RpcTimeoutError) {
        this.setStatus('no_reply', error.message, client);
        return true;
      }
      if (error instanceof RpcRemoteError) {
        this.setStatus('rejected', error.message, client);
        return true;
      }
      this.setStatus('broker_down', errorMessage(error));
      return false;
    }
  }

  private setStatus(status: ReporterStatus, why?: string, client?: OsloRpcClient): void {
    if (this.status === status) return;
    this.status = status;
    const fields = {
      ...(client ? { broker: brokerLabel(client.broker) } : {}),
      ...(why ? { err: why } : {}),
    };
    const logger = this.options.logger;
    switch (status) {
      case 'reporting':
        logger.info({ ...fields, result: this.lastResult }, 'reporting state to neutron');
        break;
      case 'no_reply':
        logger.warn(fields, 'neutron-server does not answer state reports');
        break;
      case 'rejected':
        logger.warn(fields, 'neutron-server rejected the state report');
        break;
      case 'withheld':
        logger.warn(fields, 'agent unhealthy, state reports withheld');
        break;
      case 'broker_down':
        logger.warn(
          { ...fields, brokers: this.url.brokers.map(brokerLabel) },
          'RabbitMQ unreachable, state reports paused',
        );
        break;
    }
  }

  get currentStatus(): ReporterStatus | undefined {
    return this.status;
  }
}
