import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's range for outgoing connections' local ports (Linux's default if unknown). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: assume its default.
  }
  return [32768, 60999];
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a child process (etcd) to listen
 * on. Chosen below the ephemeral range when there is room: a port the kernel handed out
 * would soon be handed out again as the local port of some outgoing connection (tests run
 * in parallel and connect a lot), and the child's listen would then fail.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  for (let attempt = 0; low - floor > 1000 && attempt < 50; attempt++) {
    const port = await tryListen(floor + Math.floor(Math.random() * (low - floor)));
    if (port !== undefined) return port;
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}

/** Whether a child failed because its port was taken meanwhile (worth a retry on new ports). */
export function portTaken(error: unknown): boolean {
  return error instanceof Error && /address already in use/.test(error.message);
}
