// The Open Inference Protocol (KServe v2) REST paths, for clients that speak it instead of the lab's
// /predict. One model is served under one name (--model-name); its versions are the loaded versions.
import type { FastifyInstance } from 'fastify';
import { FlywheelError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import type { ReadReport } from './features.js';
import {
  errorResponses,
  inferBody,
  inferReply,
  modelMetadataReply,
  modelParams,
  modelReadyReply,
  modelVersionParams,
  serverMetadataReply,
  type InferBody,
  type InferInput,
  type InferReply,
  type ModelMetadataReply,
  type ModelParams,
  type ModelReadyReply,
  type ServerMetadataReply,
} from './schemas.js';
import { MODEL_VERSION_HEADER, invalidFeatures, type RouteContext } from './context.js';
import type { ServedModel } from './served-model.js';

export function registerV2Routes(app: FastifyInstance, ctx: RouteContext): void {
  /** The model a v2 path names: the name must be ours; a version must be loaded. */
  function modelFor(params: ModelParams): ServedModel {
    if (params.name !== ctx.modelName) {
      throw new FlywheelError('FLY_ERR_MODEL_NOT_FOUND', `no model named ${params.name} on this server`, {
        name: params.name,
        models: [ctx.modelName],
      });
    }
    return ctx.pickModel(params.version);
  }

  const serverMetadata = ctx.requests('/v2');
  app.get<{ Reply: ServerMetadataReply }>(
    '/v2',
    {
      schema: {
        summary: 'Server metadata',
        tags: ['v2'],
        response: { 200: serverMetadataReply, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      serverMetadata.observe(request, reply);
      reply.send({ name: 'flywheel', version: PACKAGE_VERSION, extensions: [] });
    },
  );

  const metadata = (model: ServedModel): ModelMetadataReply => ({
    name: ctx.modelName,
    versions: ctx.holder.loadedVersions(),
    platform: `flywheel/${model.predictor.algorithm}`,
    inputs: model.reader.names.map((name) => ({ name, datatype: 'FP64', shape: [-1] })),
    outputs: [{ name: model.manifest.target, datatype: 'FP64', shape: [-1] }],
    parameters: { version: model.version, aliases: ctx.holder.servingVersions() },
  });
  for (const [url, params] of [
    ['/v2/models/:name', modelParams],
    ['/v2/models/:name/versions/:version', modelVersionParams],
  ] as const) {
    const counted = ctx.requests(url);
    app.get<{ Params: ModelParams; Reply: ModelMetadataReply }>(
      url,
      {
        schema: {
          summary: 'Model metadata: loaded versions, inputs (one tensor per feature, in order) and outputs',
          tags: ['v2'],
          params,
          response: { 200: modelMetadataReply, ...errorResponses },
        } as object,
      },
      (request, reply) => {
        const model = modelFor(request.params);
        reply.header(MODEL_VERSION_HEADER, model.version);
        counted.observe(request, reply, model.version);
        reply.send(metadata(model));
      },
    );
  }

  for (const [url, params] of [
    ['/v2/models/:name/ready', modelParams],
    ['/v2/models/:name/versions/:version/ready', modelVersionParams],
  ] as const) {
    const counted = ctx.requests(url);
    app.get<{ Params: ModelParams; Reply: ModelReadyReply }>(
      url,
      {
        schema: {
          summary: 'Model readiness: 200 when loaded, 503 before the first model, 404 for an unknown version',
          tags: ['v2'],
          params,
          response: { 200: modelReadyReply, ...errorResponses },
        } as object,
      },
      (request, reply) => {
        const model = modelFor(request.params);
        reply.header(MODEL_VERSION_HEADER, model.version);
        counted.observe(request, reply, model.version);
        reply.send({ name: ctx.modelName, version: model.version, ready: true });
      },
    );
  }

  for (const [url, params] of [
    ['/v2/models/:name/infer', modelParams],
    ['/v2/models/:name/versions/:version/infer', modelVersionParams],
  ] as const) {
    const counted = ctx.requests(url);
    app.post<{ Params: ModelParams; Body: InferBody; Reply: InferReply }>(
      url,
      {
        schema: {
          summary: 'Inference',
          description:
            'Inputs: either one FP32/FP64 tensor of shape [n, features], columns in the order the model ' +
            'metadata lists, under any name; or one [n] tensor per feature, named after it. Output: one ' +
            '[n] FP64 tensor named after the target.',
          tags: ['v2'],
          params,
          body: inferBody,
          response: { 200: inferReply, ...errorResponses },
        } as object,
      },
      (request, reply) => {
        const model = modelFor(request.params);
        reply.header(MODEL_VERSION_HEADER, model.version);
        const answer = infer(ctx, model, request.body);
        counted.observe(request, reply, model.version);
        reply.send(answer);
      },
    );
  }
}

function infer(ctx: RouteContext, model: ServedModel, body: InferBody): InferReply {
  const target = model.manifest.target;
  for (const o of body.outputs ?? []) {
    if (o.name !== target) {
      throw new FlywheelError(
        'FLY_ERR_BAD_REQUEST',
        `unknown output ${o.name}; the model outputs ${target}`,
        {
          output: o.name,
          outputs: [target],
        },
      );
    }
  }
  const report: ReadReport = { problems: undefined, warnings: undefined };
  const { x, n } = readTensors(ctx, model, body.inputs, report);
  if (report.problems !== undefined) throw invalidFeatures(report.problems);
  const f = model.reader.size;
  const { out } = model.batchBuffers(n);
  const y = model.predictor.predictBatch(x.subarray(0, n * f), n, out.subarray(0, n));
  ctx.metrics.countPredictions(model.version, n);
  const warnings = ctx.countWarnings(model, report);
  return {
    model_name: ctx.modelName,
    model_version: model.version,
    ...(body.id !== undefined && { id: body.id }),
    ...(warnings !== undefined && { parameters: { warnings } }),
    outputs: [{ name: target, shape: [n], datatype: 'FP64', data: Array.from(y) }],
  };
}

/** Reads the request's tensors into the model's row-major batch buffer. */
function readTensors(
  ctx: RouteContext,
  model: ServedModel,
  inputs: readonly InferInput[],
  report: ReadReport,
): { x: Float64Array; n: number } {
  const names = model.reader.names;
  const f = names.length;
  const byName = new Map(inputs.map((t) => [t.name, t]));

  // Form 1: one [n, features] matrix, columns in metadata order (any name unless it is a feature's).
  if (inputs.length === 1 && inputs[0].shape.length === 2 && !(f === 1 && byName.has(names[0]))) {
    const t = inputs[0];
    requireFloat(t);
    const [n, cols] = t.shape;
    if (cols !== f) {
      throw badTensor(t, `has ${cols} columns; the model takes ${f} features (${names.join(', ')})`, {
        expected_shape: [n, f],
      });
    }
    const data = flatData(t, n * f);
    limitBatch(ctx, n);
    const { x } = model.batchBuffers(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < f; j++) model.reader.readValue(j, data[i * f + j], x, i * f + j, report, i);
    }
    return { x, n };
  }

  // Form 2: one [n] tensor per feature, named after it.
  const unknown = inputs.filter((t) => !names.includes(t.name)).map((t) => t.name);
  if (unknown.length > 0 || byName.size !== inputs.length) {
    throw new FlywheelError(
      'FLY_ERR_BAD_REQUEST',
      unknown.length > 0
        ? `inputs ${unknown.join(', ')} are not features of the model; send one [n] tensor per feature (${names.join(', ')}) or one [n, ${f}] tensor`
        : 'an input name appears twice',
      { unknown_inputs: unknown, features: names },
    );
  }
  const missing = names.filter((name) => !byName.has(name));
  if (missing.length > 0) {
    throw invalidFeatures(missing.map((feature) => ({ feature, problem: 'missing' as const })));
  }
  let n = -1;
  for (const t of inputs) {
    requireFloat(t);
    const rows = t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1) ? t.shape[0] : -1;
    if (rows < 0) throw badTensor(t, `has shape [${t.shape.join(', ')}]; a feature tensor is [n]`, {});
    if (n >= 0 && rows !== n) {
      throw badTensor(t, `has ${rows} rows but another input has ${n}; all inputs need the same n`, {});
    }
    n = rows;
  }
  limitBatch(ctx, n);
  const { x } = model.batchBuffers(n);
  for (let j = 0; j < f; j++) {
    const data = flatData(byName.get(names[j])!, n);
    for (let i = 0; i < n; i++) model.reader.readValue(j, data[i], x, i * f + j, report, i);
  }
  return { x, n };
}

function requireFloat(t: InferInput): void {
  // Integers are accepted too: counts such as visits_per_week are naturally INT64.
  if (t.datatype === 'FP32' || t.datatype === 'FP64' || t.datatype.includes('INT')) return;
  throw badTensor(t, `has datatype ${t.datatype}; send FP32 or FP64`, {});
}

/** The tensor's data, row-major, checked against its shape (JSON may nest it or not). */
function flatData(t: InferInput, expected: number): readonly unknown[] {
  const data = t.data.some(Array.isArray) ? (t.data as unknown[]).flat(Infinity) : t.data;
  if (data.length !== expected) {
    throw badTensor(t, `has ${data.length} values; its shape [${t.shape.join(', ')}] needs ${expected}`, {});
  }
  return data;
}

function limitBatch(ctx: RouteContext, n: number): void {
  if (n > ctx.batchLimit) {
    throw new FlywheelError(
      'FLY_ERR_BATCH_TOO_LARGE',
      `the batch has ${n} rows; the limit is ${ctx.batchLimit}`,
      { instances: n, limit: ctx.batchLimit },
    );
  }
}

function badTensor(t: InferInput, problem: string, extra: Record<string, unknown>): FlywheelError {
  return new FlywheelError('FLY_ERR_BAD_REQUEST', `input ${t.name} ${problem}`, {
    input: t.name,
    shape: t.shape,
    datatype: t.datatype,
    ...extra,
  });
}
