// A bounded load client for fault tests: a few concurrent keep-alive request loops against one URL,
// counting every response; a failure is any network error or a status other than the expected one.
// It also tallies JSON fields of the bodies (e.g. model_version, host) and a response header (e.g. the
// replica that answered) so a test can see which versions and replicas served.
//
//   const load = startLoad({ url: `${stack.url}/predict`, body: LAB_PREDICT_BODY });
//   ... break something ...
//   const report = await load.stop();
//   expect(report.failed, report.failures.join('\n')).toBe(0);
import { Agent, request } from 'undici';

export interface LoadOptions {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: unknown;
  /** Concurrent request loops. */
  readonly concurrency?: number;
  /** Pause between two requests of one loop, so the load stays moderate on a shared 2-core machine. */
  readonly pauseMs?: number;
  readonly expectStatus?: number;
  /** Tally these top-level fields of JSON response bodies (default model_version and host). */
  readonly tally?: readonly string[];
  /** Tally this response header. */
  readonly header?: string;
  /** Per-request timeout. */
  readonly timeoutMs?: number;
  /** Count the requests that took longer than this (a bound a fault test asserts, not a benchmark). */
  readonly slowMs?: number;
}

export interface LoadReport {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** The first few failures, for the assertion message. */
  readonly failures: readonly string[];
  /** field → value → count, e.g. tally.host['vm:5001'] (the backend's `host` is hostname:port). */
  readonly tally: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly headers: Readonly<Record<string, number>>;
  readonly durationMs: number;
  /** Requests that took longer than `slowMs` (0 when not set). */
  readonly slow: number;
}

export interface LoadRun {
  /** Counts so far. */
  report(): LoadReport;
  /** Stops sending, waits for the requests in flight, returns the final counts. */
  stop(): Promise<LoadReport>;
}

/** The lab's prediction request (its Postman collection). */
export const LAB_PREDICT_BODY = {
  avg_session_duration: 30,
  visits_per_week: 14,
  response_rate: 4,
  feature_usage_depth: 6,
  user_id: 34,
};

export function startLoad(options: LoadOptions): LoadRun {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const expectStatus = options.expectStatus ?? 200;
  const tallyFields = options.tally ?? ['model_version', 'host'];
  const timeout = options.timeoutMs ?? 15_000;
  const agent = new Agent({
    connections: options.concurrency ?? 4,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const started = Date.now();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  const tally: Record<string, Record<string, number>> = Object.fromEntries(tallyFields.map((f) => [f, {}]));
  const headers: Record<string, number> = {};
  let running = true;
  let slow = 0;

  const fail = (what: string) => {
    failed++;
    if (failures.length < 10) failures.push(what);
  };

  const loop = async () => {
    while (running) {
      sent++;
      const t0 = performance.now();
      try {
        const res = await request(options.url, {
          method,
          body,
          dispatcher: agent,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
        });
        const text = await res.body.text();
        if (options.slowMs !== undefined && performance.now() - t0 > options.slowMs) slow++;
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode !== expectStatus) fail(`status ${res.statusCode}: ${text.slice(0, 200)}`);
        else ok++;
        if (options.header !== undefined) {
          const h = res.headers[options.header.toLowerCase()];
          const key = Array.isArray(h) ? h.join(',') : (h ?? '<none>');
          headers[key] = (headers[key] ?? 0) + 1;
        }
        try {
          const parsed = JSON.parse(text) as Record<string, unknown>;
          for (const f of tallyFields) {
            const v = parsed[f];
            if (typeof v === 'string' || typeof v === 'number')
              tally[f][String(v)] = (tally[f][String(v)] ?? 0) + 1;
          }
        } catch {
          // not JSON: only the status counts
        }
      } catch (err) {
        fail(`error: ${(err as Error).message}`);
      }
      if (options.pauseMs !== 0) await new Promise((r) => setTimeout(r, options.pauseMs ?? 5));
    }
  };

  const report = (): LoadReport => ({
    sent,
    ok,
    failed,
    statuses: { ...statuses },
    failures: [...failures],
    tally: Object.fromEntries(Object.entries(tally).map(([f, counts]) => [f, { ...counts }])),
    headers: { ...headers },
    durationMs: Date.now() - started,
    slow,
  });
  const loops = Array.from({ length: options.concurrency ?? 4 }, () => loop());
  return {
    report,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await agent.close();
      return report();
    },
  };
}
