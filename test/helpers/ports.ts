// Free ports for tests that start real servers and processes on 127.0.0.1.
import net from 'node:net';

/** A port the OS reports free right now (port 0 trick). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports (for `flywheel up --backend-port`, where replica i
 * listens on base + i). Picked at random below Linux's ephemeral range (32768+) so that outgoing
 * connections of parallel tests do not take them, and so parallel test files rarely collide.
 */
export async function freePortRange(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await canListen(host, base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
