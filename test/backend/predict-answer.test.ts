// The single /predict answer written by hand must be, byte for byte, what the route's response schema
// serializer writes; where it cannot be (a target named like one of the answer's fields), it is not used.
// Real fastify with the route's real schema; the models are real, only their names are changed.
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SingleAnswers, singleReply } from '../../src/backend/predict-answer.js';
import { errorResponses, predictReply } from '../../src/backend/schemas.js';
import { ServedModel } from '../../src/backend/served-model.js';
import { decodeArtifact } from '../../src/model/index.js';
import type { Predictor } from '../../src/model/types.js';
import type { Manifest } from '../../src/registry/index.js';
import { trainModels, type TrainedModel } from './helpers.js';

/** A real model, renamed: its features to `names` (same count) and its target to `target`. */
function servedAs(m: TrainedModel, version: string, target: string, names?: string[]): ServedModel {
  const decoded = decodeArtifact(m.artifact);
  const featureNames = names ?? decoded.featureNames;
  const predictor = Object.create(decoded, {
    targetName: { value: target },
    featureNames: { value: featureNames },
  }) as Predictor;
  const manifest = {
    version,
    features: m.features.map((f, j) => ({ ...f, name: featureNames[j] })),
    target,
    created_at: '2026-01-01T00:00:00.000Z',
  } as unknown as Manifest;
  return new ServedModel(version, manifest, predictor);
}

let trained: TrainedModel;
beforeAll(async () => {
  [trained] = await trainModels(1, 100, 2);
});

describe('SingleAnswers', () => {
  const app = Fastify();
  const answers = new SingleAnswers();
  let model: ServedModel;
  let host = 'vm:5001';
  /** Both writings of each (request id, prediction) case, side by side. */
  let cases: [string | undefined, number][] = [];
  app.get('/', { schema: { response: { 200: predictReply, ...errorResponses } } }, (_request, reply) => {
    const fast = answers.of(model, host, reply);
    const out = cases.map(([id, y]) => ({
      fast: fast?.write(id, String(y)),
      ascii: fast?.ascii,
      schema: reply.serialize(singleReply(model, host, id, y, undefined)),
    }));
    reply.type('application/json').serializer((payload) => payload as string);
    reply.send(JSON.stringify(out));
  });
  afterAll(() => app.close());

  const both = async () =>
    JSON.parse((await app.inject({ url: '/' })).body) as { fast?: string; ascii?: boolean; schema: string }[];

  const ys = [64.67899376220659, 0, -0, 1e21, 5e-324, -1.7976931348623157e308, 12, 1 / 3, -2.5e-7];
  const ids = [undefined, 'abc-123', 'a.b_c:D-9', 'x'.repeat(200)];

  it('writes what the schema writes, for any prediction and usable request id', async () => {
    model = servedAs(trained, 'v20260101-000000-000-00', 'engagement_score');
    cases = ids.flatMap((id) => ys.map((y) => [id, y] as [string | undefined, number]));
    const out = await both();
    expect(out).toHaveLength(cases.length);
    for (const { fast, ascii, schema } of out) {
      expect(fast).toBeDefined();
      expect(fast).toBe(schema);
      expect(ascii).toBe(true);
    }
  });

  it('writes what the schema writes for names that need escaping', async () => {
    model = servedAs(trained, 'v"1\\', 'score "é" \u2028', ['a"b', 'ü\\n', '\ud83d\ude00', 'tab\there']);
    host = 'host "quoted"';
    cases = [
      ['abc', 1.5],
      [undefined, -3],
    ];
    for (const { fast, ascii, schema } of await both()) {
      expect(fast).toBe(schema);
      // Not ASCII: the lane sends the answer's UTF-8 bytes, not its characters.
      expect(ascii).toBe(false);
      expect(Buffer.byteLength(schema)).toBeGreaterThan(schema.length);
    }
    host = 'vm:5001';
  });

  it('is not used where the target is named like a field of the answer', async () => {
    cases = [['abc', 1.5]];
    for (const target of ['prediction', 'host', 'model_version', 'request_id']) {
      model = servedAs(trained, `v-${target}`, target);
      const [{ fast, schema }] = await both();
      expect([target, fast]).toEqual([target, undefined]);
      expect(JSON.parse(schema)).toHaveProperty(target);
    }
  });

  it('is rebuilt when the host changes (the port is known only once listening)', async () => {
    model = servedAs(trained, 'v-host', 'engagement_score');
    cases = [['abc', 2]];
    host = 'vm';
    expect(JSON.parse((await both())[0].fast!).host).toBe('vm');
    host = 'vm:5001';
    expect(JSON.parse((await both())[0].fast!).host).toBe('vm:5001');
  });
});
