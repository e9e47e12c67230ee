// The backend's HTTP server: fastify with a schema on every route, errors mapped to
// `{ error, code, details }`, per-request metrics, health/metrics/OpenAPI routes. The lab's /predict and
// /model-info are in predict.ts, the Open Inference Protocol paths in v2.ts.
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { FlywheelError, isFlywheelError, type ErrorCode } from '../errors.js';
import { parseJsonBody } from '../json-body.js';
import { PACKAGE_VERSION } from '../version.js';
import { MODEL_VERSION_HEADER, type RouteContext, type ServerOptions } from './context.js';
import { RouteMethods } from './methods.js';
import { OPENAPI_PATH, OpenApiCollector } from './openapi.js';
import { registerPredictRoutes } from './predict.js';
import { PredictLane } from './predict-lane.js';
import { errorResponses, liveReply, readyReply } from './schemas.js';
import { registerV2Routes } from './v2.js';
import type { RequestHandler } from '../wire/request.js';

export type { ServerOptions };

export interface BackendServer {
  /** Every route; `ready()` before `handler` runs. */
  readonly app: FastifyInstance;
  /** The HTTP front's request handler (src/wire/): the /predict fast lane, else fastify. */
  readonly handler: RequestHandler;
}

export function buildServer(options: ServerOptions): BackendServer {
  const lane = new PredictLane(options);
  const app = Fastify({
    // Request logging stays off: a child logger per request costs more than the prediction. Errors and
    // lifecycle events are logged by this module and main.ts.
    logger: false,
    bodyLimit: options.bodyLimit,
    // During shutdown, requests still arriving on open keep-alive connections are answered (with
    // `Connection: close`) instead of fastify's default bare 503: no request a client sent is lost.
    return503OnClosing: false,
    // Schemas validate, they do not convert: "30" is not a number where a number belongs.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });

  // Only JSON: text/plain would otherwise reach the routes as a string.
  app.removeContentTypeParser('text/plain');
  // The project's JSON parser (the gateway's routes use it too): one message per way a body fails.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as FlywheelError, undefined);
    }
  });
  const methods = new RouteMethods();
  app.addHook('onRoute', (route) => methods.add(route.url ?? route.path, route.method));

  const openapi = new OpenApiCollector();
  openapi.attach(app);

  const ctx: RouteContext = {
    ...options,
    pickModel(requested) {
      if (requested === undefined || requested === '') {
        const model = options.holder.production;
        if (model === undefined) {
          throw new FlywheelError(
            'FLY_ERR_NO_MODEL',
            'no model is loaded yet: the registry has no usable production version',
            {
              loaded_versions: options.holder.loadedVersions(),
            },
          );
        }
        return model;
      }
      const model = options.holder.get(requested);
      if (model === undefined) {
        throw new FlywheelError(
          'FLY_ERR_MODEL_NOT_FOUND',
          `model version ${requested} is not loaded on this server`,
          {
            version: requested,
            loaded_versions: options.holder.loadedVersions(),
          },
        );
      }
      return model;
    },
    requests(url) {
      const figures = options.metrics.route(url);
      return {
        observe(request, reply, version = '') {
          figures.observe(request.method, reply.statusCode, version, reply.elapsedTime / 1000);
        },
      };
    },
    countWarnings(model, report) {
      const warnings = report.warnings;
      if (warnings !== undefined) {
        for (const w of warnings) options.metrics.countOutOfRange(model.version, w.feature);
      }
      return warnings;
    },
  };

  const sendError = (err: FlywheelError, request: FastifyRequest, reply: FastifyReply): void => {
    if (err.status >= 500 && err.code !== 'FLY_ERR_NO_MODEL' && err.code !== 'FLY_ERR_SHUTTING_DOWN') {
      options.log.error({ code: err.code, url: request.url, err: err.cause ?? err }, 'request failed');
    }
    reply.code(err.status);
    const version = reply.getHeader(MODEL_VERSION_HEADER);
    options.metrics.observeRequest(
      request.routeOptions.url ?? 'unmatched',
      request.method,
      reply.statusCode,
      typeof version === 'string' ? version : '',
      reply.elapsedTime / 1000,
    );
    reply.send(err.toJSON());
  };
  app.setErrorHandler((err: FastifyError, request, reply) =>
    sendError(toFlywheelError(err, options, request), request, reply),
  );
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allow = methods.allowed(path);
    if (allow.length > 0) {
      reply.header('allow', allow.join(', '));
      sendError(
        new FlywheelError(
          'FLY_ERR_METHOD_NOT_ALLOWED',
          `${request.method} is not allowed on ${path}; use ${allow.join(', ')}`,
          { method: request.method, path, allow },
        ),
        request,
        reply,
      );
      return;
    }
    sendError(
      new FlywheelError('FLY_ERR_NOT_FOUND', `no route ${request.method} ${path}`, {
        method: request.method,
        path,
        see: OPENAPI_PATH,
      }),
      request,
      reply,
    );
  });

  registerPredictRoutes(app, ctx, lane);
  registerV2Routes(app, ctx);
  registerOpsRoutes(app, ctx, openapi);
  // The /predict fast lane (predict-lane.ts) goes in front of fastify's routing. Fastify's own server
  // never listens: the front (src/wire/) does, and runs fastify on node:http's objects.
  return { app, handler: lane.handler((req, res) => app.routing(req, res)) };
}

// ---------------------------------------------------------------- health, metrics, OpenAPI

function registerOpsRoutes(app: FastifyInstance, ctx: RouteContext, openapi: OpenApiCollector): void {
  const live = ctx.requests('/v2/health/live');
  app.get(
    '/v2/health/live',
    {
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        response: { 200: liveReply, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      live.observe(request, reply);
      reply.send({ live: true });
    },
  );

  const ready = ctx.requests('/v2/health/ready');
  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary:
          'Readiness: a production model is loaded and the server is not shutting down (503 otherwise)',
        tags: ['health'],
        response: { 200: readyReply, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      if (ctx.shuttingDown()) {
        throw new FlywheelError('FLY_ERR_SHUTTING_DOWN', 'the server is shutting down', { ready: false });
      }
      if (ctx.holder.production === undefined) {
        throw new FlywheelError('FLY_ERR_NO_MODEL', 'no model is loaded yet', { ready: false });
      }
      ready.observe(request, reply);
      reply.send({ ready: true });
    },
  );

  const scrapes = ctx.requests('/metrics');
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['ops'],
        produces: 'text/plain; version=0.0.4',
        response: { 200: { type: 'string', description: 'Prometheus text format' }, ...errorResponses },
      } as object,
    },
    async (request, reply) => {
      ctx.metrics.ready.set(ctx.shuttingDown() || ctx.holder.production === undefined ? 0 : 1);
      const text = await ctx.metrics.render();
      reply.type(ctx.metrics.registry.contentType).serializer((payload) => payload as string);
      scrapes.observe(request, reply);
      return text;
    },
  );

  let doc: string | undefined;
  const docs = ctx.requests(OPENAPI_PATH);
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This description (OpenAPI 3.1)',
        tags: ['ops'],
        response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses },
      } as object,
    },
    (request, reply) => {
      doc ??= JSON.stringify(
        openapi.document({
          title: 'Flywheel backend',
          version: PACKAGE_VERSION,
          description:
            'Inference server of one model (`flywheel serve`): the lab’s /predict and /model-info, the ' +
            'Open Inference Protocol v2 paths, health and metrics. Every error is `{ error, code, details }`.',
        }),
      );
      reply.type('application/json').serializer((payload) => payload as string);
      docs.observe(request, reply);
      reply.send(doc);
    },
  );
}

// ---------------------------------------------------------------- errors

const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  // An empty application/json body never reaches our parser: fastify refuses it first.
  FST_ERR_CTP_EMPTY_JSON_BODY: 'FLY_ERR_BAD_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'FLY_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'FLY_ERR_BODY_TOO_LARGE',
};

/** Every failure as a FlywheelError: fastify's own errors by code, input errors as 4xx, the rest 500. */
function toFlywheelError(err: FastifyError, options: ServerOptions, request: FastifyRequest): FlywheelError {
  if (isFlywheelError(err)) return err;
  if (err.validation !== undefined) {
    const where = err.validationContext ?? 'request';
    return new FlywheelError('FLY_ERR_BAD_REQUEST', `invalid ${where}: ${err.message}`, {
      validation: err.validation.map((v) => ({
        path: `${where}${v.instancePath}`,
        message: v.message ?? 'invalid',
      })),
    });
  }
  const mapped = err.code !== undefined ? FASTIFY_CODES[err.code] : undefined;
  if (mapped === 'FLY_ERR_BAD_JSON') {
    // The same answer as the parser gives an empty body.
    try {
      parseJsonBody('');
    } catch (empty) {
      return empty as FlywheelError;
    }
  }
  if (mapped === 'FLY_ERR_UNSUPPORTED_MEDIA_TYPE') {
    const type = request.headers['content-type'];
    return new FlywheelError(
      'FLY_ERR_UNSUPPORTED_MEDIA_TYPE',
      `content type ${type === undefined ? '(none)' : JSON.stringify(type)} is not accepted; send application/json`,
      { content_type: type ?? null, accepted: ['application/json'] },
    );
  }
  if (mapped === 'FLY_ERR_BODY_TOO_LARGE') {
    return new FlywheelError(
      'FLY_ERR_BODY_TOO_LARGE',
      `the request body is over the limit of ${options.bodyLimit} bytes`,
      {
        limit: options.bodyLimit,
      },
    );
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new FlywheelError('FLY_ERR_BAD_REQUEST', err.message, { fastify_code: err.code });
  }
  return new FlywheelError('FLY_ERR_INTERNAL', 'internal error', undefined, { cause: err });
}
