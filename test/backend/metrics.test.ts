// The request metrics kept outside prom-client's hot path must still read as Prometheus metrics:
// cumulative buckets, sum and count per series, escaped labels, and one family per name.
import { describe, expect, it } from 'vitest';
import { BackendMetrics } from '../../src/backend/metrics.js';

describe('BackendMetrics.render', () => {
  it('writes request counts and a cumulative latency histogram per route, method, status and version', async () => {
    const m = new BackendMetrics();
    m.observeRequest('/predict', 'POST', 200, 'v1', 0.0002);
    m.observeRequest('/predict', 'POST', 200, 'v1', 0.003);
    m.observeRequest('/predict', 'POST', 200, 'v1', 9);
    m.observeRequest('unmatched', 'GET', 404, 'say "hi"\\', 0.001);
    m.countPredictions('v1', 3);
    m.countPredictions('v1', 100);
    const text = await m.render();
    const line = (name: string) => text.split('\n').find((l) => l.startsWith(name));

    const labels = 'route="/predict",method="POST",status="200",model_version="v1"';
    expect(line(`flywheel_backend_requests_total{${labels}} `)).toBe(
      `flywheel_backend_requests_total{${labels}} 3`,
    );
    const bucket = (le: string) =>
      line(`flywheel_backend_request_duration_seconds_bucket{le="${le}",${labels}}`);
    expect(bucket('0.0005')).toMatch(/ 1$/);
    expect(bucket('0.005')).toMatch(/ 2$/);
    expect(bucket('2.5')).toMatch(/ 2$/);
    expect(bucket('+Inf')).toMatch(/ 3$/);
    expect(line(`flywheel_backend_request_duration_seconds_count{${labels}}`)).toMatch(/ 3$/);
    expect(
      Number(line(`flywheel_backend_request_duration_seconds_sum{${labels}}`)!.split(' ')[1]),
    ).toBeCloseTo(9.0032, 6);
    expect(text).toContain('model_version="say \\"hi\\"\\\\"');
    expect(line('flywheel_backend_predictions_total{')).toBe(
      'flywheel_backend_predictions_total{model_version="v1"} 103',
    );

    // Every family is declared once, and every sample belongs to a declared family.
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    const families = types.map((l) => l.split(' ')[2]);
    expect(new Set(families).size).toBe(families.length);
    for (const sample of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      const name = sample.split(/[{ ]/)[0];
      const declared = families.some(
        (f) => name === f || (name.startsWith(f) && /^_(bucket|sum|count)$/.test(name.slice(f.length))),
      );
      expect([name, declared]).toEqual([name, true]);
    }
  });

  it("counts a route's answers in the series of their own method, status and version", async () => {
    // A route keeps the series of its last answer; each change of label must still land in its own.
    const m = new BackendMetrics();
    const predict = m.route('/predict');
    const answers: [string, number, string][] = [
      ['POST', 200, 'v1'],
      ['POST', 200, 'v1'],
      ['POST', 200, 'v2'],
      ['POST', 400, 'v2'],
      ['POST', 200, 'v1'],
      ['HEAD', 200, 'v1'],
    ];
    for (const [method, status, version] of answers) predict.observe(method, status, version, 0.001);
    m.observeRequest('/predict', 'POST', 200, 'v1', 0.001);
    const text = await m.render();
    const count = (method: string, status: number, version: string) =>
      text
        .split('\n')
        .find((l) =>
          l.startsWith(
            `flywheel_backend_requests_total{route="/predict",method="${method}",status="${status}",model_version="${version}"} `,
          ),
        )
        ?.split(' ')[1];
    expect(count('POST', 200, 'v1')).toBe('4');
    expect(count('POST', 200, 'v2')).toBe('1');
    expect(count('POST', 400, 'v2')).toBe('1');
    expect(count('HEAD', 200, 'v1')).toBe('1');
  });
});
