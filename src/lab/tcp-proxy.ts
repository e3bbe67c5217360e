import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';

/** What the relay does with traffic: forward it, refuse it, or swallow it. */
export type RelayMode = 'open' | 'cut' | 'blackhole';

/**
 * A loopback TCP relay to a target port that tests can cut, black-hole and restore, to put
 * a network partition between a process and its server (e.g. an agent and etcd) without
 * stopping either.
 * - cut(): every connection is dropped and new ones are refused (a peer that is gone).
 * - blackhole(): connections are held open and new ones accepted, but every byte in either
 *   direction is discarded (a peer behind a firewall that drops packets): nothing fails,
 *   calls just never get an answer.
 * - restore(): bytes flow again, on the held connections too (what was dropped is lost, so
 *   a connection may or may not survive, as after a real partition).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private state: RelayMode = 'open';

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const holder: { proxy?: TcpProxy } = {};
    const server = createServer((client) => holder.proxy?.relay(client, targetHost, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    holder.proxy = proxy;
    return proxy;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get mode(): RelayMode {
    return this.state;
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut(): void {
    this.state = 'cut';
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /** Holds every connection (and accepts new ones) but discards all bytes until restore(). */
  blackhole(): void {
    this.state = 'blackhole';
  }

  restore(): void {
    this.state = 'open';
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, host: string, port: number): void {
    if (this.state === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
      // Not pipe(): each chunk is forwarded or swallowed depending on the mode at the time.
      a.on('data', (chunk: Buffer) => {
        if (this.state !== 'open' || b.destroyed) return;
        if (!b.write(chunk)) {
          a.pause();
          b.once('drain', () => a.resume());
        }
      });
    }
  }
}
