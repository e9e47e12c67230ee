// Port checks before anything is spawned: a child that fails to bind would only show up as a crash
// loop in the logs, so `flywheel up` tries each port itself first and names the one that is taken.
import net from 'node:net';

export type PortProblem = { readonly port: number; readonly reason: string; readonly code: string };

/** Listens on host:port and closes at once; null when the port can be used, else why not. */
export function probePort(host: string, port: number): Promise<PortProblem | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'UNKNOWN';
      const reason =
        code === 'EADDRINUSE'
          ? 'already in use'
          : code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : code === 'EADDRNOTAVAIL'
              ? `address ${host} is not available on this machine`
              : err.message;
      resolve({ port, reason, code });
    });
    // exclusive: a cluster-shared handle must not make a taken port look free.
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** A port the OS says is free now (it may be taken again before use; callers re-check by binding). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
