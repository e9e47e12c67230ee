import { mkdtemp, readdir, readFile, rm, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import {
  FeedbackStore,
  mixWithFeedback,
  parseFeedbackBody,
  readFeedbackDataset,
  featureMembers,
} from '../../src/registry/feedback.js';

let dir: string;
const stores: FeedbackStore[] = [];
async function open(gatewayId: string, extra: Partial<Parameters<typeof FeedbackStore.open>[0]> = {}) {
  const s = await FeedbackStore.open({ registryDir: dir, gatewayId, ...extra });
  stores.push(s);
  return s;
}
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-feedback-'));
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function allLines(): Promise<Record<string, unknown>[]> {
  const fdir = path.join(dir, 'feedback');
  const out: Record<string, unknown>[] = [];
  for (const name of (await readdir(fdir)).sort()) {
    for (const line of (await readFile(path.join(fdir, name), 'utf8')).split('\n')) {
      if (line) out.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return out;
}

const features = (x: number) => featureMembers({ a: x, b: 2 * x });

async function code(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlywheelError);
  return (err as FlywheelError).code;
}

describe('FeedbackStore', () => {
  it('writes ids and versions that need escaping as valid JSON (most need none and skip the escaper)', async () => {
    const s = await open('gw-a');
    const odd = ['a"b', 'c\\d', 'tab\there', 'é✓'];
    for (const [i, id] of odd.entries()) {
      s.logPrediction({
        requestId: id,
        version: i % 2 === 0 ? 'v1' : `v"${i}`,
        prediction: i,
        features: features(i),
      });
    }
    s.logPrediction({ requestId: 'plain_ID-1', version: 'v1', prediction: 9, features: features(9) });
    await s.flush();
    const lines = await allLines();
    expect(lines.map((l) => [l.request_id, l.version])).toEqual([
      ['a"b', 'v1'],
      ['c\\d', 'v"1'],
      ['tab\there', 'v1'],
      ['é✓', 'v"3'],
      ['plain_ID-1', 'v1'],
    ]);
  });

  it('logs predictions, joins feedback to them and refuses duplicates', async () => {
    const s = await open('gw-a');
    s.logPrediction({ requestId: 'r1', version: 'v1', prediction: 10, features: features(1) });
    s.logPrediction({ requestId: 'r2', version: 'v1', prediction: 20, features: features(2) });
    s.logPrediction({
      requestId: 'r2',
      version: 'v2',
      prediction: 22,
      features: features(2),
      shadow: true,
    });
    const accepted = await s.recordFeedback({ request_id: 'r2', actual: 21 });
    expect(accepted).toEqual([
      {
        request_id: 'r2',
        actual: 21,
        predictions: [
          { version: 'v1', prediction: 20, shadow: false },
          { version: 'v2', prediction: 22, shadow: true },
        ],
      },
    ]);
    expect(await code(s.recordFeedback({ request_id: 'r2', actual: 30 }))).toBe('FLY_ERR_FEEDBACK_DUPLICATE');
    await s.flush();
    const lines = await allLines();
    expect(lines.filter((l) => l.type === 'feedback')).toEqual([
      { type: 'feedback', request_id: 'r2', time: expect.any(String), actual: 21 },
    ]);
    expect(lines.filter((l) => l.type === 'prediction')).toHaveLength(3);
    expect(lines[2]).toMatchObject({ shadow: true, version: 'v2', features: { a: 2, b: 4 } });
  });

  it('refuses bad feedback with a clear code and stores nothing, even in a batch', async () => {
    const s = await open('gw-a');
    s.logPrediction({ requestId: 'r1', version: 'v1', prediction: 10, features: features(1) });
    s.logPrediction({ requestId: 'r2', version: 'v1', prediction: 10, features: features(1) });
    expect(await code(s.recordFeedback({ request_id: 'r1', actual: 'ten' }))).toBe('FLY_ERR_FEEDBACK');
    expect(await code(s.recordFeedback({ request_id: 'r1' }))).toBe('FLY_ERR_FEEDBACK');
    expect(await code(s.recordFeedback({ request_id: '', actual: 1 }))).toBe('FLY_ERR_FEEDBACK');
    expect(await code(s.recordFeedback('x'))).toBe('FLY_ERR_FEEDBACK');
    expect(await code(s.recordFeedback({ feedback: [] }))).toBe('FLY_ERR_FEEDBACK');
    expect(await code(s.recordFeedback({ request_id: 'nope', actual: 1 }))).toBe(
      'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
    );
    // One bad item spoils the batch: the good ones are not stored either.
    const batch = [
      { request_id: 'r1', actual: 1 },
      { request_id: 'nope', actual: 2 },
    ];
    expect(await code(s.recordFeedback({ feedback: batch }))).toBe('FLY_ERR_FEEDBACK_UNKNOWN_REQUEST');
    expect(
      await code(
        s.recordFeedback([
          { request_id: 'r1', actual: 1 },
          { request_id: 'r1', actual: 2 },
        ]),
      ),
    ).toBe('FLY_ERR_FEEDBACK_DUPLICATE');
    expect(
      await code(
        s.recordFeedback([
          { request_id: 'r1', actual: 1 },
          { request_id: 'r2', actual: NaN },
        ]),
      ),
    ).toBe('FLY_ERR_FEEDBACK');
    await s.flush();
    expect((await allLines()).filter((l) => l.type === 'feedback')).toEqual([]);
    // A valid batch is then stored whole.
    expect(
      await s.recordFeedback({ feedback: batch.slice(0, 1).concat([{ request_id: 'r2', actual: 3 }]) }),
    ).toHaveLength(2);
    await s.flush();
    expect((await allLines()).filter((l) => l.type === 'feedback')).toHaveLength(2);
  });

  it('details every invalid item', () => {
    const err = (() => {
      try {
        parseFeedbackBody([{ request_id: 'a', actual: 1 }, { request_id: 'b', actual: '2' }, 7]);
      } catch (e) {
        return e as FlywheelError;
      }
    })();
    expect(err?.details).toEqual({
      problems: [
        { index: 1, problem: 'actual must be a finite number, got "2"' },
        { index: 2, problem: 'not an object' },
      ],
    });
  });

  it('finds a prediction logged by another replica and refuses feedback it already has', async () => {
    const a = await open('gw-a');
    const b = await open('gw-b');
    a.logPrediction({ requestId: 'ra', version: 'v1', prediction: 5, features: features(5) });
    // No flush: the batched log line reaches a's file within milliseconds, and b finds it there.
    const deadline = Date.now() + 2000;
    while ((await readFile(a.currentFile, 'utf8')) === '' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await b.recordFeedback({ request_id: 'ra', actual: 7 })).toEqual([
      { request_id: 'ra', actual: 7, predictions: [{ version: 'v1', prediction: 5, shadow: false }] },
    ]);
    await b.flush();
    // Replica a sees b's feedback in b's file and refuses a second one.
    expect(await code(a.recordFeedback({ request_id: 'ra', actual: 7 }))).toBe('FLY_ERR_FEEDBACK_DUPLICATE');
  });

  it('rotates files by size and by age, never sharing a file between writers', async () => {
    const s = await open('gw-a', { maxFileBytes: 300 });
    // Lines are written in batches; rotation is checked before each batch.
    for (let i = 0; i < 10; i++) {
      s.logPrediction({ requestId: `r${i}`, version: 'v1', prediction: i, features: features(i) });
      await s.flush();
    }
    const names = (await readdir(path.join(dir, 'feedback'))).sort();
    expect(names.length).toBeGreaterThanOrEqual(4);
    expect(names.every((n) => /^gw-a-\d+\.jsonl$/.test(n))).toBe(true);
    expect(s.counts.rotations).toBe(names.length - 1);
    expect((await allLines()).map((l) => l.request_id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );
    // A second writer with the same id (a restart) takes the next number instead of appending.
    const again = await open('gw-a');
    expect(path.basename(again.currentFile)).toBe(`gw-a-${names.length + 1}.jsonl`);

    const aged = await open('gw-c', { maxFileAgeMs: 1 });
    aged.logPrediction({ requestId: 'x1', version: 'v1', prediction: 1, features: features(1) });
    await aged.flush();
    await new Promise((r) => setTimeout(r, 5));
    aged.logPrediction({ requestId: 'x2', version: 'v1', prediction: 1, features: features(1) });
    await aged.flush();
    expect(aged.counts.rotations).toBeGreaterThanOrEqual(1);
  });

  it('forgets the oldest request ids beyond the index size', async () => {
    const s = await open('gw-a', { indexSize: 100 });
    for (let i = 0; i < 150; i++) {
      s.logPrediction({ requestId: `r${i}`, version: 'v1', prediction: i, features: features(i) });
    }
    expect(await code(s.recordFeedback({ request_id: 'r10', actual: 1 }))).toBe(
      'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
    );
    expect(await s.recordFeedback({ request_id: 'r149', actual: 1 })).toHaveLength(1);
  });

  it('logs only finite numeric features, never other text', async () => {
    const s = await open('gw-a');
    s.logPrediction({
      requestId: 'r1',
      version: 'v1',
      prediction: 1,
      features: featureMembers({ a: 1, b: 2, c: NaN, 'd"\n': 3 } as Record<string, number>),
    });
    await s.flush();
    const text = await readFile(s.currentFile, 'utf8');
    expect(text.split('\n')).toHaveLength(2);
    expect((await allLines())[0].features).toEqual({ a: 1, b: 2, 'd"\n': 3 });
  });
});

describe('readFeedbackDataset', () => {
  it('joins feedback with logged features across replicas, once per request', async () => {
    const a = await open('gw-a');
    const b = await open('gw-b');
    a.logPrediction({ requestId: 'r1', version: 'v1', prediction: 10, features: features(1) });
    a.logPrediction({
      requestId: 'r1',
      version: 'v2',
      prediction: 11,
      features: features(1),
      shadow: true,
    });
    b.logPrediction({ requestId: 'r2', version: 'v1', prediction: 20, features: features(2) });
    b.logPrediction({ requestId: 'r3', version: 'v1', prediction: 30, features: features(3) });
    await a.flush();
    await b.flush();
    await a.recordFeedback({ request_id: 'r1', actual: 100 });
    await a.recordFeedback({ request_id: 'r2', actual: 200 });
    await a.close();
    await b.close();
    // A racing replica wrote a second feedback for r1, and a killed one left a torn line.
    const extra = path.join(dir, 'feedback', 'gw-z-1.jsonl');
    await appendFile(
      extra,
      '{"type":"feedback","request_id":"r1","time":"9999","actual":999}\n{"type":"feedb',
    );

    const { dataset, duplicates, skipped, sha256 } = await readFeedbackDataset(dir, {
      targetName: 'engagement_score',
    });
    expect(dataset.featureNames).toEqual(['a', 'b']);
    expect(dataset.targetName).toBe('engagement_score');
    expect(dataset.rows).toBe(2);
    expect([...dataset.columns[0]]).toEqual([1, 2]);
    expect([...dataset.columns[1]]).toEqual([2, 4]);
    expect([...dataset.target]).toEqual([100, 200]);
    expect(duplicates).toBe(1);
    expect(skipped).toBe(0);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);

    const chosen = await readFeedbackDataset(dir, { targetName: 't', featureNames: ['b'] });
    expect(chosen.dataset.featureNames).toEqual(['b']);
    // Rows lacking a chosen feature are skipped; none left is an empty data set.
    await expect(
      readFeedbackDataset(dir, { targetName: 't', featureNames: ['a', 'c'] }),
    ).rejects.toMatchObject({
      code: 'FLY_ERR_DATA_EMPTY',
    });
  }, 20_000);

  it('says so when there is no feedback', async () => {
    await expect(readFeedbackDataset(dir, { targetName: 't' })).rejects.toMatchObject({
      code: 'FLY_ERR_DATA_EMPTY',
    });
  });

  it('appends feedback rows to another source on its columns', async () => {
    const s = await open('gw-a');
    s.logPrediction({
      requestId: 'r1',
      version: 'v1',
      prediction: 1,
      features: featureMembers({ b: 7, a: 5 }),
    });
    s.logPrediction({ requestId: 'r2', version: 'v1', prediction: 1, features: featureMembers({ a: 6 }) });
    await s.recordFeedback([
      { request_id: 'r1', actual: 9 },
      { request_id: 'r2', actual: 8 },
    ]);
    await s.close();
    const base = {
      featureNames: ['a', 'b'],
      targetName: 'y',
      rows: 2,
      columns: [Float64Array.from([1, 2]), Float64Array.from([3, 4])],
      target: Float64Array.from([10, 20]),
    };
    const { dataset, feedback } = await mixWithFeedback(base, dir);
    expect(dataset.rows).toBe(3);
    expect([...dataset.columns[0]]).toEqual([1, 2, 5]);
    expect([...dataset.columns[1]]).toEqual([3, 4, 7]);
    expect([...dataset.target]).toEqual([10, 20, 9]);
    // r2 lacks feature b.
    expect(feedback.skipped).toBe(1);
  });
});
