// A bounded GET for readiness probes and the gateway's /status. One short connection per call (no
// pooled sockets left behind to keep the supervisor or a CLI command alive).
import http from 'node:http';

export interface Reply {
  readonly status: number;
  readonly body: string;
}

export function httpGet(
  url: string,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // Probes only need a small body; a huge one is cut rather than buffered.
        if (body.length < 1_000_000) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** True when GET url answers 200 within the timeout; any error is a no. */
export async function isReady(url: string, timeoutMs: number): Promise<boolean> {
  try {
    return (await httpGet(url, timeoutMs)).status === 200;
  } catch {
    return false;
  }
}
