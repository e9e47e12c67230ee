// Rows of a data set as /predict bodies, optionally with features scaled (drift on purpose), and a
// sender that posts them a few at a time and says which version answered how many.
import type { Pool } from 'undici';
import type { Dataset } from '../../src/model/types.js';

/** Row i as a /predict body, each feature multiplied by `scale[name]` (1 when absent). */
export function rowBody(ds: Dataset, i: number, scale: Record<string, number> = {}): Record<string, number> {
  const body: Record<string, number> = {};
  ds.featureNames.forEach((name, j) => (body[name] = ds.columns[j][i] * (scale[name] ?? 1)));
  return body;
}

/**
 * POSTs each body (an object, or text sent as it is) to /predict, `concurrency` at a time; returns the
 * count of answers per `"<status> <x-model-version>"`.
 */
export async function postRows(
  pool: Pool,
  bodies: readonly unknown[],
  concurrency = 8,
): Promise<Map<string, number>> {
  const answered = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await pool.request({
        path: '/predict',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      await res.body.dump();
      const key = `${res.statusCode} ${String(res.headers['x-model-version'] ?? '-')}`;
      answered.set(key, (answered.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answered;
}
