// `flywheel serve` as a real process on a real registry: 503 before the first model, the lab's two
// requests byte for byte, every API form (batch, explicit version, Open Inference Protocol v2,
// metrics, OpenAPI), and each kind of bad input answered with a 4xx JSON error.
import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeArtifact } from '../../src/model/index.js';
import { waitFor } from '../helpers/wait.js';
import type { Manifest } from '../../src/registry/index.js';
import {
  LAB_PREDICT_BODY,
  LAB_PREDICT_TEXT,
  call,
  publish,
  startBackend,
  tempRegistry,
  trainModels,
  waitServing,
  type Backend,
  type TrainedModel,
} from './helpers.js';

/** Sends exactly these bytes on a fresh socket and reads one HTTP/1.1 response (Content-Length framed). */
function rawRequest(
  port: number,
  bytes: string,
): Promise<{ status: number; headers: Record<string, string>; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      const length = Number(headers['content-length']);
      if (data.length < end + 4 + length) return;
      socket.destroy();
      const body = JSON.parse(data.subarray(end + 4, end + 4 + length).toString('utf8')) as Record<
        string,
        unknown
      >;
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

let backend: Backend;
let reg: Awaited<ReturnType<typeof tempRegistry>>;
let models: TrainedModel[];
let v1: string;
let v2: string;
let manifest1: Manifest;

const FEATURES = ['avg_session_duration', 'visits_per_week', 'response_rate', 'feature_usage_depth'];

beforeAll(async () => {
  reg = await tempRegistry();
  // The server starts on an empty registry: the first tests see it without a model.
  [backend, models] = await Promise.all([startBackend(reg.dir), trainModels(2)]);
});

afterAll(async () => {
  await backend?.stop('SIGKILL');
  await reg?.cleanup();
});

describe('before any model is loaded', () => {
  it('is live but not ready, and /predict, /model-info and the v2 model paths answer 503 JSON', async () => {
    expect((await call(`${backend.url}/v2/health/live`)).body).toEqual({ live: true });
    const ready = await call(`${backend.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ code: 'FLY_ERR_NO_MODEL', details: { ready: false } });

    const predict = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect(predict.status).toBe(503);
    expect(predict.body).toMatchObject({ code: 'FLY_ERR_NO_MODEL' });
    expect(typeof predict.body.error).toBe('string');
    for (const p of ['/model-info', '/v2/models/engagement', '/v2/models/engagement/ready']) {
      const r = await call(`${backend.url}${p}`);
      expect([p, r.status, r.body.code]).toEqual([p, 503, 'FLY_ERR_NO_MODEL']);
    }
  });

  it('serves the first version once it is promoted, without a restart', async () => {
    v1 = await publish(reg.registry, models[0]);
    await reg.registry.promote(v1, { reason: 'test' });
    await waitServing(backend.url, v1);
    manifest1 = await reg.registry.readManifest(v1);
    expect((await call(`${backend.url}/v2/health/ready`)).body).toEqual({ ready: true });

    // A candidate is loaded beside production.
    v2 = await publish(reg.registry, models[1]);
    await reg.registry.setAlias('candidate', v2, { reason: 'test' });
    await waitServing(backend.url); // still production
    await waitFor(
      async () =>
        (await call(`${backend.url}/model-info`, { headers: { 'x-model-version': v2 } })).status === 200,
      { timeoutMs: 10_000, what: 'the candidate to load' },
    );
  });
});

describe('the lab’s requests', () => {
  it('POST /predict with the Postman request, byte for byte, answers the lab’s fields', async () => {
    const r = await rawRequest(
      backend.port,
      'POST /predict HTTP/1.1\r\n' +
        'Content-Type: application/json\r\n' +
        'User-Agent: PostmanRuntime/7.39.0\r\n' +
        'Accept: */*\r\n' +
        'Cache-Control: no-cache\r\n' +
        'Postman-Token: 4b1c3c2e-8f0e-4a57-9d7c-2f4f0b1c9a11\r\n' +
        `Host: localhost:${backend.port}\r\n` +
        'Accept-Encoding: gzip, deflate, br\r\n' +
        'Connection: keep-alive\r\n' +
        `Content-Length: ${Buffer.byteLength(LAB_PREDICT_TEXT)}\r\n` +
        '\r\n' +
        LAB_PREDICT_TEXT,
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.headers['x-model-version']).toBe(v1);
    expect(Object.keys(r.body).sort()).toEqual(
      [
        'engagement_score',
        'features_used',
        'host',
        'model_training_time',
        'model_version',
        'prediction',
      ].sort(),
    );
    // The answer is the model's own: decode the published artifact and predict the same row here.
    const model = decodeArtifact(models[0].artifact);
    const expected = model.predictRow(
      FEATURES.map((f) => LAB_PREDICT_BODY[f as keyof typeof LAB_PREDICT_BODY]),
    );
    expect(r.body.engagement_score).toBe(expected);
    expect(r.body.prediction).toBe(expected);
    expect(r.body.model_version).toBe(v1);
    expect(r.body.model_training_time).toBe(manifest1.created_at);
    expect(r.body.features_used).toEqual(FEATURES);
    expect(r.body.host).toBe(`${os.hostname()}:${backend.port}`);
  });

  it('GET /model-info answers the lab’s fields plus version, metrics, provenance and model_name', async () => {
    const r = await rawRequest(
      backend.port,
      'GET /model-info HTTP/1.1\r\n' +
        'User-Agent: PostmanRuntime/7.39.0\r\n' +
        'Accept: */*\r\n' +
        'Cache-Control: no-cache\r\n' +
        'Postman-Token: 0d6a3e52-1b0f-4c53-a1f7-6c2d1f0e8b77\r\n' +
        `Host: localhost:${backend.port}\r\n` +
        'Accept-Encoding: gzip, deflate, br\r\n' +
        'Connection: keep-alive\r\n' +
        '\r\n',
    );
    expect(r.status).toBe(200);
    expect(r.headers['x-model-version']).toBe(v1);
    expect(r.body).toMatchObject({
      status: 'ok',
      last_training_time: manifest1.created_at,
      features: FEATURES,
      model_type: 'random-forest',
      model_name: 'engagement',
      version: v1,
      target: 'engagement_score',
      metrics: manifest1.metrics,
      provenance: { source: 'synthetic', rows: 250, artifact_sha256: manifest1.artifact.sha256 },
      aliases: { production: v1, candidate: v2 },
    });
    expect(r.body.host).toMatch(/:\d+$/);
    expect(r.body.loaded_versions).toEqual(expect.arrayContaining([v1, v2]));
  });
});

describe('what the gateway reads of an answer', () => {
  it('echoes a usable x-request-id as request_id and sends the prediction and features in x-flywheel-*', async () => {
    const body = JSON.stringify(LAB_PREDICT_BODY);
    const headers = { 'content-type': 'application/json' };
    const r = await call(`${backend.url}/predict`, {
      method: 'POST',
      body,
      headers: { ...headers, 'x-request-id': 'gw-abc_123' },
    });
    expect(r.status).toBe(200);
    const answer = r.body;
    expect(answer.request_id).toBe('gw-abc_123');
    expect(Number(r.headers['x-flywheel-prediction'])).toBe(answer.prediction);
    expect(r.headers['x-flywheel-features']).toBe(
      FEATURES.map((f) => LAB_PREDICT_BODY[f as keyof typeof LAB_PREDICT_BODY]).join(','),
    );
    // No id, or one that is not safe to echo: no request_id member.
    for (const id of [undefined, 'has "quotes"']) {
      const plain = await call(`${backend.url}/predict`, {
        method: 'POST',
        body,
        headers: id === undefined ? headers : { ...headers, 'x-request-id': id },
      });
      expect(plain.status).toBe(200);
      expect(plain.body).not.toHaveProperty('request_id');
    }
  });
});

describe('API forms', () => {
  const rows = [
    { avg_session_duration: 10, visits_per_week: 3, response_rate: 60, feature_usage_depth: 4 },
    { avg_session_duration: 25, visits_per_week: 8, response_rate: 90, feature_usage_depth: 9, user_id: 7 },
    { avg_session_duration: 5, visits_per_week: 1, response_rate: 40, feature_usage_depth: 2 },
  ];

  it('batch: one prediction per instance, in order, equal to single predictions', async () => {
    const batch = await call(`${backend.url}/predict`, { body: { instances: rows } });
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({
      target: 'engagement_score',
      model_version: v1,
      features_used: FEATURES,
    });
    const singles = await Promise.all(rows.map((row) => call(`${backend.url}/predict`, { body: row })));
    expect(batch.body.predictions).toEqual(singles.map((s) => s.body.prediction));
    expect(new Set(batch.body.predictions as number[]).size).toBe(3);
  });

  it('explicit version: header x-model-version with an id or an alias; unknown → 404 JSON', async () => {
    for (const asked of [v2, 'candidate']) {
      const r = await call(`${backend.url}/predict`, {
        body: LAB_PREDICT_TEXT,
        headers: { 'x-model-version': asked },
      });
      expect(r.status).toBe(200);
      expect(r.body.model_version).toBe(v2);
      expect(r.headers['x-model-version']).toBe(v2);
      expect(r.body.prediction).toBe(decodeArtifact(models[1].artifact).predictRow([30, 14, 4, 6]));
    }
    const unknown = await call(`${backend.url}/predict`, {
      body: LAB_PREDICT_TEXT,
      headers: { 'x-model-version': 'v19990101-000000-000-00' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({
      code: 'FLY_ERR_MODEL_NOT_FOUND',
      details: { version: 'v19990101-000000-000-00', loaded_versions: expect.arrayContaining([v1, v2]) },
    });
  });

  it('values far outside the training range are answered, flagged and counted', async () => {
    const r = await call(`${backend.url}/predict`, {
      body: { ...LAB_PREDICT_BODY, avg_session_duration: 5000 },
    });
    expect(r.status).toBe(200);
    expect(r.body.warnings).toEqual([
      expect.objectContaining({
        feature: 'avg_session_duration',
        value: 5000,
        training_min: models[0].features[0].min,
        training_max: models[0].features[0].max,
      }),
    ]);
    const lab = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect(lab.body.warnings).toBeUndefined();
    const metrics = (await call(`${backend.url}/metrics`)).text;
    expect(metrics).toMatch(
      new RegExp(
        `flywheel_backend_out_of_range_total\\{model_version="${v1}",feature="avg_session_duration"\\} 1\\b`,
      ),
    );
  });

  it('v2: server metadata, model metadata, readiness', async () => {
    expect((await call(`${backend.url}/v2`)).body).toMatchObject({ name: 'flywheel', extensions: [] });
    const meta = await call(`${backend.url}/v2/models/engagement`);
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({
      name: 'engagement',
      versions: expect.arrayContaining([v1, v2]),
      inputs: FEATURES.map((name) => ({ name, datatype: 'FP64', shape: [-1] })),
      outputs: [{ name: 'engagement_score', datatype: 'FP64', shape: [-1] }],
      parameters: { version: v1 },
    });
    expect((await call(`${backend.url}/v2/models/engagement/versions/${v2}`)).body.parameters).toMatchObject({
      version: v2,
    });
    expect((await call(`${backend.url}/v2/models/engagement/ready`)).body).toMatchObject({
      ready: true,
      version: v1,
    });
    expect((await call(`${backend.url}/v2/models/engagement/versions/${v2}/ready`)).status).toBe(200);
    const other = await call(`${backend.url}/v2/models/other`);
    expect([other.status, other.body.code]).toEqual([404, 'FLY_ERR_MODEL_NOT_FOUND']);
  });

  it('v2 infer: one [n, features] tensor, or one [n] tensor per feature; versions path', async () => {
    const expected = (await call(`${backend.url}/predict`, { body: { instances: rows } })).body.predictions;
    const matrix = await call(`${backend.url}/v2/models/engagement/infer`, {
      body: {
        id: 'req-1',
        inputs: [
          {
            name: 'input-0',
            shape: [3, 4],
            datatype: 'FP32',
            data: rows.map((r) => FEATURES.map((f) => r[f as keyof typeof r])),
          },
        ],
      },
    });
    expect(matrix.status).toBe(200);
    expect(matrix.headers['x-model-version']).toBe(v1);
    expect(matrix.body).toEqual({
      model_name: 'engagement',
      model_version: v1,
      id: 'req-1',
      outputs: [{ name: 'engagement_score', shape: [3], datatype: 'FP64', data: expected }],
    });

    const perFeature = await call(`${backend.url}/v2/models/engagement/infer`, {
      body: {
        inputs: [...FEATURES].reverse().map((name) => ({
          name,
          shape: [3],
          datatype: 'FP64',
          data: rows.map((r) => r[name as keyof typeof r]),
        })),
      },
    });
    expect(perFeature.status).toBe(200);
    expect((perFeature.body.outputs as { data: number[] }[])[0].data).toEqual(expected);

    const versioned = await call(`${backend.url}/v2/models/engagement/versions/${v2}/infer`, {
      body: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [30, 14, 4, 6] }] },
    });
    expect(versioned.body.model_version).toBe(v2);
    expect(versioned.headers['x-model-version']).toBe(v2);

    const unknown = await call(`${backend.url}/v2/models/engagement/versions/nope/infer`, {
      body: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [30, 14, 4, 6] }] },
    });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'FLY_ERR_MODEL_NOT_FOUND']);
  });

  it('GET /metrics: requests by route, status and version; loaded versions; swaps', async () => {
    const r = await call(`${backend.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.text).toMatch(
      new RegExp(
        `flywheel_backend_requests_total\\{route="/predict",method="POST",status="200",model_version="${v1}"\\} \\d+`,
      ),
    );
    expect(r.text).toMatch(
      /flywheel_backend_requests_total\{route="\/predict",method="POST",status="503",model_version=""\} 1/,
    );
    expect(r.text).toMatch(
      new RegExp(
        `flywheel_backend_request_duration_seconds_bucket\\{le="0.005",route="/predict",method="POST",status="200",model_version="${v1}"\\}`,
      ),
    );
    expect(r.text).toContain(`flywheel_backend_model_loaded{version="${v1}",alias="production"} 1`);
    expect(r.text).toContain(`flywheel_backend_model_loaded{version="${v2}",alias="candidate"} 1`);
    expect(r.text).toMatch(/flywheel_backend_model_swaps_total\{alias="production"\} 1/);
    expect(r.text).toContain('flywheel_backend_ready 1');
  });

  it('GET /openapi.json describes every route from the same schemas', async () => {
    const r = await call(`${backend.url}/openapi.json`);
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const paths = r.body.paths as Record<
      string,
      Record<string, { requestBody?: unknown; responses: object }>
    >;
    expect(Object.keys(paths).sort()).toEqual(
      [
        '/predict',
        '/model-info',
        '/v2',
        '/v2/health/live',
        '/v2/health/ready',
        '/v2/models/{name}',
        '/v2/models/{name}/versions/{version}',
        '/v2/models/{name}/ready',
        '/v2/models/{name}/versions/{version}/ready',
        '/v2/models/{name}/infer',
        '/v2/models/{name}/versions/{version}/infer',
        '/metrics',
        '/openapi.json',
      ].sort(),
    );
    expect(paths['/predict'].post.requestBody).toBeDefined();
    expect(Object.keys(paths['/v2/models/{name}/infer'].post.responses)).toEqual(['200', '4XX', '5XX']);
  });
});

describe('bad input: a 4xx JSON error, and the server still answers', () => {
  const big = JSON.stringify({ ...LAB_PREDICT_BODY, pad: 'x'.repeat(1024 * 1024) });
  const cases: {
    name: string;
    body: string;
    type?: string;
    path?: string;
    status: number;
    code: string;
    /** The whole message: a client learns what was wrong, not just that something was. */
    message?: string;
    details?: unknown;
  }[] = [
    {
      name: 'malformed JSON',
      message: 'the request body ends before its JSON does (27 characters received): was it cut short?',
      body: '{"avg_session_duration":30,',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
    },
    {
      name: 'NaN literal',
      message: 'the request body is not valid JSON: NaN and Infinity are not JSON numbers',
      body: '{"avg_session_duration":NaN}',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
    },
    {
      name: 'Infinity literal',
      message: 'the request body is not valid JSON: NaN and Infinity are not JSON numbers',
      body: '{"avg_session_duration":Infinity}',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
    },
    {
      name: 'empty body',
      message: 'the request body is empty; send a JSON object',
      body: '',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
    },
    {
      name: 'prototype pollution',
      message: 'the request body has the forbidden key "__proto__"; rename it',
      body: '{"__proto__":{"x":1}}',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
    },
    {
      name: 'whitespace only',
      body: '  \n\t ',
      message: 'the request body is empty; send a JSON object',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
      details: { reason: 'empty' },
    },
    {
      name: 'a trailing comma',
      body: '{"avg_session_duration":30,}',
      message: 'the request body is not valid JSON: a trailing comma before position 27',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
      details: { reason: 'syntax', position: 27 },
    },
    {
      name: 'a constructor.prototype key',
      body: '{"constructor":{"prototype":{"x":1}}}',
      message: 'the request body has the forbidden key "constructor" holding a "prototype"; rename it',
      status: 400,
      code: 'FLY_ERR_BAD_JSON',
      details: { reason: 'forbidden_key', key: 'constructor' },
    },
    {
      name: 'an array',
      message: 'invalid body: body must be object',
      body: '[1,2,3]',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'a string',
      message: 'invalid body: body must be object',
      body: '"hello"',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'null',
      message: 'invalid body: body must be object',
      body: 'null',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'no features',
      message:
        'missing or invalid features: avg_session_duration is missing; visits_per_week is missing; response_rate is missing; feature_usage_depth is missing',
      body: '{"user_id":34}',
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
      details: { problems: FEATURES.map((feature) => ({ feature, problem: 'missing' })) },
    },
    {
      name: 'strings, booleans, null, NaN and Infinity where numbers belong',
      message:
        'missing or invalid features: avg_session_duration is not a number (string); visits_per_week is not a number (boolean); response_rate is not a number (null); feature_usage_depth is not finite (string)',
      body: '{"avg_session_duration":"30","visits_per_week":true,"response_rate":null,"feature_usage_depth":"NaN"}',
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
      details: {
        problems: [
          { feature: 'avg_session_duration', problem: 'not a number', received: 'string' },
          { feature: 'visits_per_week', problem: 'not a number', received: 'boolean' },
          { feature: 'response_rate', problem: 'not a number', received: 'null' },
          { feature: 'feature_usage_depth', problem: 'not finite', received: 'string' },
        ],
      },
    },
    {
      name: '"Infinity" and nested values',
      message:
        'missing or invalid features: avg_session_duration is not finite (string); visits_per_week is not a number (array); response_rate is not a number (object)',
      body: '{"avg_session_duration":"-Infinity","visits_per_week":[1],"response_rate":{"v":1},"feature_usage_depth":6}',
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
      details: {
        problems: [
          { feature: 'avg_session_duration', problem: 'not finite', received: 'string' },
          { feature: 'visits_per_week', problem: 'not a number', received: 'array' },
          { feature: 'response_rate', problem: 'not a number', received: 'object' },
        ],
      },
    },
    {
      name: 'a bad instance in a batch',
      message: 'missing or invalid features: instances[1].response_rate is not a number (string)',
      body: JSON.stringify({ instances: [LAB_PREDICT_BODY, { ...LAB_PREDICT_BODY, response_rate: 'high' }] }),
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
      details: {
        problems: [{ instance: 1, feature: 'response_rate', problem: 'not a number', received: 'string' }],
      },
    },
    {
      name: 'instances not an array',
      message: 'invalid body: body/instances must be array',
      body: '{"instances":{"a":1}}',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'an instance not an object',
      message: 'invalid body: body/instances/0 must be object',
      body: '{"instances":[1]}',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'a batch over the limit',
      message: 'the batch has 1001 instances; the limit is 1000',
      body: JSON.stringify({ instances: Array.from({ length: 1001 }, () => LAB_PREDICT_BODY) }),
      status: 413,
      code: 'FLY_ERR_BATCH_TOO_LARGE',
      details: { instances: 1001, limit: 1000 },
    },
    {
      name: 'unknown content type',
      message: 'content type "application/xml" is not accepted; send application/json',
      body: LAB_PREDICT_TEXT,
      type: 'application/xml',
      status: 415,
      code: 'FLY_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'text/plain',
      message: 'content type "text/plain" is not accepted; send application/json',
      body: LAB_PREDICT_TEXT,
      type: 'text/plain',
      status: 415,
      code: 'FLY_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'a body over 1 MiB',
      message: 'the request body is over the limit of 1048576 bytes',
      body: big,
      status: 413,
      code: 'FLY_ERR_BODY_TOO_LARGE',
      details: { limit: 1048576 },
    },
    {
      name: 'v2: a feature tensor missing',
      message:
        'missing or invalid features: visits_per_week is missing; response_rate is missing; feature_usage_depth is missing',
      path: '/v2/models/engagement/infer',
      body: JSON.stringify({
        inputs: [{ name: 'avg_session_duration', shape: [1], datatype: 'FP64', data: [1] }],
      }),
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
    },
    {
      name: 'v2: wrong column count',
      message:
        'input x has 3 columns; the model takes 4 features (avg_session_duration, visits_per_week, response_rate, feature_usage_depth)',
      path: '/v2/models/engagement/infer',
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP64', data: [1, 2, 3] }] }),
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'v2: data that does not fill the shape',
      message: 'input x has 4 values; its shape [2, 4] needs 8',
      path: '/v2/models/engagement/infer',
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] }),
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'v2: a string in a tensor',
      message: 'missing or invalid features: instances[0].visits_per_week is not a number (string)',
      path: '/v2/models/engagement/infer',
      body: JSON.stringify({
        inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 'a', 3, 4] }],
      }),
      status: 400,
      code: 'FLY_ERR_INVALID_FEATURES',
      details: {
        problems: [{ instance: 0, feature: 'visits_per_week', problem: 'not a number', received: 'string' }],
      },
    },
    {
      name: 'v2: unsupported datatype',
      message: 'invalid body: body/inputs/0/datatype must be equal to one of the allowed values',
      path: '/v2/models/engagement/infer',
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'BYTES', data: [1, 2, 3, 4] }] }),
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
    {
      name: 'v2: no inputs',
      message: 'invalid body: body/inputs must NOT have fewer than 1 items',
      path: '/v2/models/engagement/infer',
      body: '{"inputs":[]}',
      status: 400,
      code: 'FLY_ERR_BAD_REQUEST',
    },
  ];

  it.each(cases)('$name → $status $code', async (c) => {
    const r = await call(`${backend.url}${c.path ?? '/predict'}`, {
      method: 'POST',
      body: c.body,
      headers: { 'content-type': c.type ?? 'application/json' },
    });
    expect(r.status).toBe(c.status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.body.code).toBe(c.code);
    expect(typeof r.body.error).toBe('string');
    // Every case names its message; a case without one fails here rather than passing loosely.
    expect(c.message, 'each case states its message').toBeDefined();
    expect(r.body.error).toBe(c.message);
    expect(r.text).not.toMatch(/\bat .*\.(js|ts):\d+/); // never a stack trace
    if (c.details !== undefined) expect(r.body.details).toEqual(c.details);
    // The server is unharmed.
    const after = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect(after.status).toBe(200);
  });

  it('an unknown route is a 404 JSON error', async () => {
    const r = await call(`${backend.url}/nope`);
    expect([r.status, r.body.code]).toEqual([404, 'FLY_ERR_NOT_FOUND']);
  });

  it('a wrong method on a known path is a 405 JSON error with Allow', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/predict', 'POST'],
      ['DELETE', '/model-info', 'GET, HEAD'],
      ['GET', '/v2/models/engagement/infer', 'POST'],
      ['POST', '/v2/health/ready', 'GET, HEAD'],
    ];
    for (const [method, route, allow] of cases) {
      const r = await call(`${backend.url}${route}`, { method });
      expect([r.status, r.body.code], `${method} ${route}`).toEqual([405, 'FLY_ERR_METHOD_NOT_ALLOWED']);
      expect(r.headers.allow).toBe(allow);
      expect(r.body.error).toBe(`${method} is not allowed on ${route}; use ${allow}`);
    }
  });

  it('no input produced a 5xx: the metrics show none', async () => {
    const text = (await call(`${backend.url}/metrics`)).text;
    expect(text).not.toMatch(/flywheel_backend_requests_total\{[^}]*status="5\d\d"[^}]*model_version="v/);
    expect(text).not.toMatch(/status="500"/);
    expect(backend.logs().filter((l) => l.level >= 50)).toEqual([]);
    expect(backend.proc.exitCode).toBeNull();
  });
});
