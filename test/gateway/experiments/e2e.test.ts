// Version routing, feedback and the automated canary analysis end to end, with real processes: the
// `flywheel` executable as trainer, two backends and up to three gateways on one registry folder in a
// temp dir. Requests carry rows of the seed's synthetic data, so feedback has a true target.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCsv } from '../../../src/trainer/data/csv.js';
import { generateSynthetic } from '../../../src/trainer/data/synthetic.js';
import { Rng } from '../../../src/model/random.js';
import { LAB_PREDICT_BODY, startLoad } from '../../helpers/load.js';
import { waitFor } from '../../helpers/wait.js';
import {
  aliases,
  call,
  predict,
  rowBody,
  startRole,
  storedFeedbackLines,
  TOKEN,
  train,
  type Proc,
  gatewayArgs as sharedGatewayArgs,
} from './procs.js';

let registry: string;
let production: string;
let candidate: string;
const backends: Proc[] = [];
const gateways: Proc[] = [];
const requests = generateSynthetic(3000, 1234);

function gatewayArgs(id: string, extra: string[] = []): string[] {
  return sharedGatewayArgs(registry, backends, id, ['--analysis-interval', '0', ...extra]);
}

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-exp-e2e-'));
  production = await train(registry, ['--rows', '400', '--seed', '1']);
  candidate = await train(registry, ['--rows', '400', '--seed', '2', '--promote', 'canary']);
  backends.push(
    ...(await Promise.all(
      [0, 1].map(() =>
        startRole(['serve', '--registry', registry, '--poll-interval', '100ms', '--log-level', 'warn']),
      ),
    )),
  );
  gateways.push(...(await Promise.all([startRole(gatewayArgs('g1')), startRole(gatewayArgs('g2'))])));
}, 60_000);

afterAll(async () => {
  await Promise.all([...gateways, ...backends].map((p) => p.stop()));
  await rm(registry, { recursive: true, force: true });
}, 30_000);

async function setTraffic(gateway: Proc, mode: string, weight: number): Promise<void> {
  const r = await call(gateway.url, 'PUT', '/admin/traffic', { token: TOKEN, body: { mode, weight } });
  expect(r.status).toBe(200);
  // Every other gateway follows the registry within its poll interval.
  await Promise.all(
    gateways.map((g) =>
      waitFor(
        async () => {
          const e = await call(g.url, 'GET', '/experiments');
          const routing = e.json.routing as { mode: string; weight: number };
          return routing.mode === mode && routing.weight === weight;
        },
        { timeoutMs: 5000, what: `${g.url} to apply ${mode} ${weight}` },
      ),
    ),
  );
}

/** Feedback count and error sum per version, as every gateway reports them once they agree. */
async function settledFeedback(): Promise<Map<string, { count: number; sum: number }>> {
  const read = async (g: Proc) => {
    const e = await call(g.url, 'GET', '/experiments');
    const versions = e.json.versions as {
      version: string;
      feedback: { count: number; mae: number | null };
    }[];
    return new Map(
      versions.map((v) => [
        v.version,
        { count: v.feedback.count, sum: (v.feedback.mae ?? 0) * v.feedback.count },
      ]),
    );
  };
  const same = (a: Map<string, { count: number }>, b: Map<string, { count: number }>) =>
    a.size === b.size && [...a].every(([k, v]) => b.get(k)?.count === v.count);
  return waitFor(
    async () => {
      const views = await Promise.all(gateways.map(read));
      return views.every((v) => same(v, views[0])) ? views[0] : null;
    },
    { timeoutMs: 10_000, what: 'the gateways to agree on the merged feedback figures' },
  );
}

describe.sequential('experiments through real gateway processes', () => {
  it('splits a 10% canary within ±3 points over 2,000 requests and says which version answered', async () => {
    await setTraffic(gateways[0], 'canary', 10);
    const pool = new Pool(gateways[0].url, { connections: 8 });
    const counts: Record<string, number> = {};
    let next = 0;
    const worker = async () => {
      while (next < 2000) {
        const i = next++;
        const a = await predict(pool, rowBody(requests, i));
        expect(a.status).toBe(200);
        // The version in the header, the body, and the request id in both.
        expect(a.body.model_version).toBe(a.version);
        expect(a.body.request_id).toBe(a.requestId);
        counts[a.version] = (counts[a.version] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await pool.close();
    expect(Object.keys(counts).sort()).toEqual([production, candidate].sort());
    const share = (counts[candidate] / 2000) * 100;
    expect(Math.abs(share - 10)).toBeLessThanOrEqual(3);
  });

  it('keeps every sticky user on one version across two gateway processes and a restart', async () => {
    await setTraffic(gateways[0], 'sticky', 30);
    const pools = gateways.map((g) => new Pool(g.url, { connections: 4 }));
    const users = Array.from({ length: 150 }, (_, u) => `user-${u}`);
    const seen = new Map<string, string>();
    for (const [u, user] of users.entries()) {
      const viaBody = await predict(pools[0], rowBody(requests, u, { user_id: user }));
      const viaOther = await predict(pools[1], rowBody(requests, u + 1, { user_id: user }));
      const viaHeader = await predict(pools[1], rowBody(requests, u + 2), { 'x-user-id': user });
      expect(viaOther.version, user).toBe(viaBody.version);
      expect(viaHeader.version, user).toBe(viaBody.version);
      seen.set(user, viaBody.version);
    }
    // The candidate's share is the 30% weight: 45 of 150 users expected, sd 5.6.
    const onCandidate = [...seen.values()].filter((v) => v === candidate).length;
    expect(onCandidate).toBeGreaterThan(25);
    expect(onCandidate).toBeLessThan(65);
    await pools[1].close();
    // A restarted gateway reads the same salt from the registry: nobody moves.
    await gateways[1].stop();
    gateways[1] = await startRole(gatewayArgs('g2'));
    pools[1] = new Pool(gateways[1].url, { connections: 4 });
    for (const [u, user] of users.entries()) {
      expect((await predict(pools[1], rowBody(requests, u, { user_id: user }))).version, user).toBe(
        seen.get(user),
      );
    }
    await Promise.all(pools.map((p) => p.close()));
  });

  it('answers from production in shadow mode and records both predictions', async () => {
    await setTraffic(gateways[0], 'shadow', 100);
    const before = await call(gateways[0].url, 'GET', '/experiments');
    const shadowBefore =
      (before.json.versions as { version: string; shadow_requests: number }[]).find(
        (v) => v.version === candidate,
      )?.shadow_requests ?? 0;
    const gw = new Pool(gateways[0].url, { connections: 4 });
    const direct = new Pool(backends[0].url, { connections: 4 });
    const ids: string[] = [];
    for (let i = 2000; i < 2040; i++) {
      const a = await predict(gw, rowBody(requests, i));
      const p = await predict(direct, rowBody(requests, i), { 'x-model-version': production });
      expect(a.version).toBe(production);
      expect(a.body.model_version).toBe(production);
      expect(a.body.prediction).toBe(p.body.prediction);
      ids.push(a.requestId);
    }
    await Promise.all([gw.close(), direct.close()]);
    await waitFor(
      async () => {
        const e = await call(gateways[0].url, 'GET', '/experiments');
        const c = (e.json.versions as { version: string; shadow_requests: number }[]).find(
          (v) => v.version === candidate,
        );
        return (c?.shadow_requests ?? 0) - shadowBefore >= 40;
      },
      { timeoutMs: 10_000, what: 'the 40 mirrored requests to be recorded' },
    );
    const fb = await call(gateways[0].url, 'POST', '/feedback', { body: { request_id: ids[0], actual: 50 } });
    expect(fb.status).toBe(200);
    const preds = (fb.json.feedback as { predictions: { version: string; shadow: boolean }[] }[])[0]
      .predictions;
    expect(preds.map((p) => [p.version, p.shadow]).sort()).toEqual(
      [
        [production, false],
        [candidate, true],
      ].sort(),
    );
  });

  it('logs the row each answering version used, named by its manifest, never fields of the body', async () => {
    // Shadow mode (left by the test above): the served and the mirrored answer are both logged.
    const names = requests.featureNames;
    // Integer-valued floats written as `30.0` and `1.4e1`, and fields no model reads: the backend's
    // validated row is what gets logged, so `extra_num` (a number the old body parse kept) is absent.
    const values = names.map((_, j) => Math.round(requests.columns[j][2100]));
    const text =
      '{' +
      names
        .map((n, j) => `${JSON.stringify(n)}:${j === 1 ? `${values[j] / 10}e1` : `${values[j]}.0`}`)
        .join(',') +
      ',"note":"not a feature","extra_num":7,"user_id":34}';
    const res = await request(`${gateways[0].url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const id = String(res.headers['x-request-id']);
    // The row a backend uses for this body, from its own side channel to the gateway.
    const direct = await request(`${backends[0].url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-model-version': production },
      body: text,
    });
    await direct.body.dump();
    const row = String(direct.headers['x-flywheel-features']).split(',').map(Number);
    const expected = Object.fromEntries(names.map((n, j) => [n, row[j]]));
    expect(expected).toEqual(Object.fromEntries(names.map((n, j) => [n, values[j]])));

    const lines = await waitFor(
      async () => {
        const found: { version: string; shadow?: boolean; features: Record<string, number> }[] = [];
        const dir = path.join(registry, 'feedback');
        for (const name of await readdir(dir)) {
          for (const line of (await readFile(path.join(dir, name), 'utf8')).split('\n')) {
            if (line.includes(`"request_id":${JSON.stringify(id)}`)) found.push(JSON.parse(line));
          }
        }
        return found.length === 2 ? found : null;
      },
      { timeoutMs: 5000, what: 'the served and the shadow prediction lines' },
    );
    expect(lines.map((l) => [l.version, l.shadow === true]).sort()).toEqual(
      [
        [production, false],
        [candidate, true],
      ].sort(),
    );
    for (const l of lines) expect(l.features).toEqual(expected);
  });

  it('computes per-version MAE from feedback exactly, and refuses bad feedback without storing it', async () => {
    await setTraffic(gateways[0], 'canary', 50);
    const feedbackBefore = await settledFeedback();
    const pool = new Pool(gateways[0].url, { connections: 4 });
    const answers: { id: string; version: string; prediction: number; actual: number }[] = [];
    for (let i = 2100; i < 2160; i++) {
      const a = await predict(pool, rowBody(requests, i));
      answers.push({
        id: a.requestId,
        version: a.version,
        prediction: Number(a.body.prediction),
        actual: requests.target[i],
      });
    }
    await pool.close();
    // Sent to the other gateway: it finds the predictions in g1's log.
    const g2 = gateways[1].url;
    const feedback = answers.slice(0, 50).map((a) => ({ request_id: a.id, actual: a.actual }));
    const stored = await waitFor(
      async () => {
        const r = await call(g2, 'POST', '/feedback', { body: { feedback } });
        if (r.status === 404) return null; // g1's buffered log line not on disk yet: documented, retried
        return r;
      },
      { timeoutMs: 5000, what: 'g2 to find g1’s predictions' },
    );
    expect(stored.status).toBe(200);
    expect(stored.json.recorded).toBe(50);

    const hand: Record<string, { sum: number; n: number }> = {};
    for (const a of answers.slice(0, 50)) {
      hand[a.version] ??= { sum: 0, n: 0 };
      hand[a.version].sum += Math.abs(a.prediction - a.actual);
      hand[a.version].n += 1;
    }
    // Every gateway answers with the merge of all: g2's figures are its own feedback plus what g1 had
    // (the shadow test's), so the check is on what this test added, once g1 and g2 agree.
    const after = await settledFeedback();
    for (const [version, h] of Object.entries(hand)) {
      const now = after.get(version)!;
      const was = feedbackBefore.get(version) ?? { count: 0, sum: 0 };
      expect(now.count - was.count).toBe(h.n);
      expect((now.sum - was.sum) / h.n).toBeCloseTo(h.sum / h.n, 9);
    }
    expect(Object.keys(hand).sort()).toEqual([production, candidate].sort());

    const before = await storedFeedbackLines(registry);
    const fresh = answers[55];
    const bad: [unknown, number, string][] = [
      [{ request_id: 'no-such-request', actual: 1 }, 404, 'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST'],
      [{ request_id: fresh.id, actual: 'high' }, 400, 'FLY_ERR_FEEDBACK'],
      [{ request_id: fresh.id }, 400, 'FLY_ERR_FEEDBACK'],
      [{ request_id: answers[0].id, actual: 3 }, 409, 'FLY_ERR_FEEDBACK_DUPLICATE'],
      [
        {
          feedback: [
            { request_id: fresh.id, actual: 2 },
            { request_id: 'nope', actual: 1 },
          ],
        },
        404,
        'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
      ],
      [
        {
          feedback: [
            { request_id: fresh.id, actual: 2 },
            { request_id: fresh.id, actual: 2 },
          ],
        },
        409,
        'FLY_ERR_FEEDBACK_DUPLICATE',
      ],
    ];
    for (const [body, status, code] of bad) {
      for (const g of gateways) {
        const r = await call(g.url, 'POST', '/feedback', { body });
        expect(r.status, JSON.stringify(body)).toBe(status);
        expect(r.json.code).toBe(code);
      }
    }
    const notJson = await request(`${g2}/feedback`, {
      method: 'POST',
      body: '{"request_id":',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    await notJson.body.dump();
    expect(await storedFeedbackLines(registry)).toBe(before);
    // The id refused above was never stored: it is accepted once, then refused as a duplicate.
    expect((await call(g2, 'POST', '/feedback', { body: { request_id: fresh.id, actual: 2 } })).status).toBe(
      200,
    );
    expect(
      (await call(gateways[0].url, 'POST', '/feedback', { body: { request_id: fresh.id, actual: 2 } }))
        .status,
    ).toBe(409);
  });

  it('refuses admin changes without the right token and leaves the state unchanged', async () => {
    const routingBefore = await readFile(path.join(registry, 'routing.json'), 'utf8');
    const aliasesBefore = await readFile(path.join(registry, 'aliases.json'), 'utf8');
    for (const token of [undefined, 'wrong-token', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const attempts = [
        call(gateways[0].url, 'PUT', '/admin/traffic', {
          body: { mode: 'off', weight: 0 },
          ...(token ? { token } : {}),
        }),
        call(gateways[0].url, 'POST', '/admin/promote', { ...(token ? { token } : {}) }),
        call(gateways[1].url, 'POST', '/admin/rollback', { ...(token ? { token } : {}) }),
        call(gateways[1].url, 'GET', '/admin/traffic', { ...(token ? { token } : {}) }),
      ];
      for (const r of await Promise.all(attempts)) {
        expect(r.status).toBe(401);
        expect(r.json.code).toBe('FLY_ERR_UNAUTHORIZED');
      }
    }
    expect(await readFile(path.join(registry, 'routing.json'), 'utf8')).toBe(routingBefore);
    expect(await readFile(path.join(registry, 'aliases.json'), 'utf8')).toBe(aliasesBefore);
  });

  it('rolls back a bad candidate and promotes a better one on its own, with no failed request under load', async () => {
    // A candidate trained on shuffled targets: it has learned nothing about engagement.
    const data = generateSynthetic(400, 77);
    const shuffled = Float64Array.from(data.target);
    const rng = new Rng(99);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const badCsv = path.join(registry, 'shuffled.csv');
    await writeCsv({ ...data, target: shuffled }, badCsv);
    const bad = await train(registry, ['--source', `csv:${badCsv}`, '--promote', 'canary']);
    expect((await aliases(registry)).candidate).toBe(bad);

    const g3 = await startRole(
      gatewayArgs('g3', [
        '--analysis-interval',
        '250ms',
        '--analysis-min-requests',
        '40',
        '--analysis-min-duration',
        '1s',
        '--analysis-min-feedback',
        '20',
        '--analysis-max-mae-ratio',
        '1.2',
        '--analysis-max-latency-ratio',
        '50',
        '--analysis-max-error-increase',
        '0.02',
      ]),
    );
    gateways.push(g3);
    await setTraffic(g3, 'canary', 50);

    const load = startLoad({ url: `${g3.url}/predict`, body: LAB_PREDICT_BODY, concurrency: 2, pauseMs: 5 });
    // Clients that report the truth for what they were told: the feedback that convicts the bad model.
    let running = true;
    let feedbackFailures = 0;
    let predictFailures = 0;
    const pool = new Pool(g3.url, { connections: 2 });
    const clientLoop = async (offset: number) => {
      for (let i = offset; running; i += 2) {
        const row = 2200 + (i % 800);
        try {
          const a = await predict(pool, rowBody(requests, row));
          if (a.status !== 200) predictFailures++;
          else {
            const r = await call(g3.url, 'POST', '/feedback', {
              body: { request_id: a.requestId, actual: requests.target[row] },
            });
            if (r.status !== 200) feedbackFailures++;
          }
        } catch {
          predictFailures++;
        }
      }
    };
    const clients = [clientLoop(0), clientLoop(1)];
    try {
      await waitFor(async () => (await aliases(registry)).candidate === null, {
        timeoutMs: 40_000,
        what: 'the analysis to roll the shuffled-target candidate back',
      });
      expect((await aliases(registry)).production).toBe(production);

      const good = await train(registry, ['--rows', '3000', '--seed', '5', '--promote', 'canary']);
      await waitFor(async () => (await aliases(registry)).production === good, {
        timeoutMs: 40_000,
        what: 'the analysis to promote the better candidate',
      });
      // Keep the load on a moment after the switch, then count.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      running = false;
      await Promise.all(clients);
      await pool.close();
    }
    const report = await load.stop();
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect(report.ok).toBeGreaterThan(100);
    expect(predictFailures).toBe(0);
    expect(feedbackFailures).toBe(0);

    const history = (await readFile(path.join(registry, 'history.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            alias: string;
            from: string | null;
            to: string | null;
            by: string;
            reason: string;
            evidence?: {
              decision: string;
              comparison: { mae: { ratio: number; welch: { p_greater: number } } };
            };
          },
      );
    // At least the rollback and the promotion, in that order (earlier runs may add more lines).
    expect(history.length).toBeGreaterThanOrEqual(2);
    const rollbackAt = history.findIndex((h) => h.alias === 'candidate' && h.from === bad && h.to === null);
    const promotionAt = history.findIndex(
      (h) => h.alias === 'production' && h.to !== production && h.by === 'analysis:gateway:g3',
    );
    expect(rollbackAt).toBeGreaterThanOrEqual(0);
    expect(promotionAt).toBeGreaterThan(rollbackAt);
    const rollback = history[rollbackAt];
    expect(rollback.by).toBe('analysis:gateway:g3');
    expect(rollback.evidence!.decision).toBe('rollback');
    expect(rollback.evidence!.comparison.mae.ratio).toBeGreaterThan(1.2);
    expect(rollback.evidence!.comparison.mae.welch.p_greater).toBeLessThan(0.05);
    const promotion = history[promotionAt];
    expect(promotion.evidence!.decision).toBe('promote');
    expect(promotion.reason).toMatch(/^canary analysis: promote/);
  }, 100_000);
});
