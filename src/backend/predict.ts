// The lab's API on the backend: POST /predict (one instance or a batch) and GET /model-info. Each
// request takes its model once at the start (RouteContext.pickModel), so a swap mid-request is invisible.
import type { FastifyInstance } from 'fastify';
import { FlywheelError } from '../errors.js';
import { describeOrigin, originOf } from '../registry/origin.js';
// The gateway's rule for an id that can go into a header and a JSON string as it is.
import { isUsableRequestId } from '../request-id.js';
import {
  FEATURES_HEADER,
  invalidFeatures,
  MODEL_VERSION_HEADER,
  PREDICTION_HEADER,
  REQUEST_ID_HEADER,
  type RouteContext,
} from './context.js';
import type { ReadReport } from './features.js';
import {
  errorResponses,
  modelInfoReply,
  modelVersionHeader,
  predictBody,
  predictReply,
  type BatchPredictReply,
  type ModelInfoReply,
  type ModelVersionHeader,
  type PredictBody,
  type SinglePredictReply,
} from './schemas.js';
import type { ServedModel } from './served-model.js';
import { singleReply } from './predict-answer.js';
import { JSON_CONTENT_TYPE, PREDICT_PATH, type PredictLane } from './predict-lane.js';

export function registerPredictRoutes(app: FastifyInstance, ctx: RouteContext, lane: PredictLane): void {
  // One report object for all requests: handlers run to completion without yielding.
  const report: ReadReport = { problems: undefined, warnings: undefined };
  const predictions = ctx.requests(PREDICT_PATH);
  const infos = ctx.requests('/model-info');
  const answers = lane.answers;

  app.post<{
    Body: PredictBody;
    Headers: ModelVersionHeader;
    Reply: SinglePredictReply | BatchPredictReply | string;
  }>(
    PREDICT_PATH,
    {
      schema: {
        summary: 'Predict for one instance or a batch (the lab’s API)',
        tags: ['predict'],
        headers: modelVersionHeader,
        body: predictBody,
        response: { 200: predictReply, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      const model = ctx.pickModel(request.headers[MODEL_VERSION_HEADER]);
      reply.header(MODEL_VERSION_HEADER, model.version);
      const body = request.body;
      report.problems = undefined;
      report.warnings = undefined;

      const instances = body.instances;
      if (instances !== undefined) {
        const answer = predictBatch(ctx, model, instances, report);
        predictions.observe(request, reply, model.version);
        reply.send(answer);
        return;
      }
      model.reader.readObject(body, model.row, 0, report);
      if (report.problems !== undefined) throw invalidFeatures(report.problems);
      const y = model.predictor.predictRow(model.row);
      ctx.metrics.countPredictions(model.version, 1);
      const warnings = ctx.countWarnings(model, report);
      // The gateway's join key comes back in the body (so the gateway streams the answer untouched),
      // and what the gateway records of the answer comes in two headers it strips (no body scan).
      const header = request.headers[REQUEST_ID_HEADER];
      const requestId = typeof header === 'string' && isUsableRequestId(header) ? header : undefined;
      const host = ctx.host();
      const prediction = String(y);
      reply.header(PREDICTION_HEADER, prediction);
      reply.header(FEATURES_HEADER, model.row.join(','));
      predictions.observe(request, reply, model.version);
      const fast = warnings === undefined && Number.isFinite(y) ? answers.of(model, host, reply) : undefined;
      if (fast !== undefined) {
        reply.header('content-type', JSON_CONTENT_TYPE);
        reply.send(fast.write(requestId, prediction));
      } else {
        reply.send(singleReply(model, host, requestId, y, warnings));
      }
    },
  );

  app.get<{ Headers: ModelVersionHeader; Reply: ModelInfoReply }>(
    '/model-info',
    {
      schema: {
        summary: 'The model in service: the lab’s fields plus version, metrics and provenance',
        tags: ['predict'],
        headers: modelVersionHeader,
        response: { 200: modelInfoReply, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      const model = ctx.pickModel(request.headers[MODEL_VERSION_HEADER]);
      reply.header(MODEL_VERSION_HEADER, model.version);
      const m = model.manifest;
      infos.observe(request, reply, model.version);
      reply.send({
        status: ctx.shuttingDown() ? 'shutting down' : 'ok',
        last_training_time: m.created_at,
        features: model.reader.names,
        feature_ranges: m.features,
        model_type: m.algorithm,
        host: ctx.host(),
        model_name: ctx.modelName,
        version: model.version,
        target: m.target,
        metrics: m.metrics,
        provenance: {
          origin: originOf(m),
          origin_description: describeOrigin(m),
          ...m.data,
          artifact_sha256: m.artifact.sha256,
          trainer_host: m.trainer_host,
          package_version: m.package_version,
          fit_seconds: m.fit_seconds,
        },
        parameters: m.parameters,
        aliases: ctx.holder.servingVersions(),
        loaded_versions: ctx.holder.loadedVersions(),
      });
    },
  );
}

function predictBatch(
  ctx: RouteContext,
  model: ServedModel,
  instances: readonly Readonly<Record<string, unknown>>[],
  report: ReadReport,
): BatchPredictReply {
  const n = instances.length;
  if (n > ctx.batchLimit) {
    throw new FlywheelError(
      'FLY_ERR_BATCH_TOO_LARGE',
      `the batch has ${n} instances; the limit is ${ctx.batchLimit}`,
      { instances: n, limit: ctx.batchLimit },
    );
  }
  const f = model.reader.size;
  const { x, out } = model.batchBuffers(n);
  for (let i = 0; i < n; i++) model.reader.readObject(instances[i], x, i * f, report, i);
  if (report.problems !== undefined) throw invalidFeatures(report.problems);
  const y = model.predictor.predictBatch(x.subarray(0, n * f), n, out.subarray(0, n));
  ctx.metrics.countPredictions(model.version, n);
  const warnings = ctx.countWarnings(model, report);
  const answer: BatchPredictReply = {
    predictions: Array.from(y),
    target: model.manifest.target,
    model_version: model.version,
    model_training_time: model.trainingTime,
    features_used: model.reader.names,
    host: ctx.host(),
  };
  if (warnings !== undefined) answer.warnings = warnings;
  return answer;
}
