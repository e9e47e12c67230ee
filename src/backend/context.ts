// What the route modules share: the server's options plus helpers that pick a model for a request
// and turn problems into errors.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeProblems, type FeatureProblem, type ReadReport } from './features.js';
import type { ModelHolder } from './holder.js';
import type { BackendMetrics } from './metrics.js';
import type { ServedModel } from './served-model.js';

export interface ServerOptions {
  readonly holder: ModelHolder;
  readonly metrics: BackendMetrics;
  readonly log: Logger;
  readonly modelName: string;
  readonly bodyLimit: number;
  readonly batchLimit: number;
  /** This replica's name in answers; known only once listening (port 0). */
  readonly host: () => string;
  /** True from the first shutdown signal on: readiness fails at once. */
  readonly shuttingDown: () => boolean;
}

/** What route handlers share: the holder, limits and helpers that pick a model or report problems. */
export interface RouteContext extends ServerOptions {
  /** The model a request asked for (header or path), or production; throws 404/503 errors. */
  pickModel(requested: string | undefined): ServedModel;
  /** The request counter of the route registered at `url`; a route takes it once, at registration. */
  requests(url: string): RequestCounter;
  /** Counts and returns the out-of-range warnings of one answer. */
  countWarnings(model: ServedModel, report: ReadReport): ReadReport['warnings'];
}

/**
 * Counts a route's answers in the request metrics (route, method, status, version, time so far). Routes
 * call it just before they send: cheaper than a fastify onResponse hook, which on /predict cost more
 * than the prediction. The time therefore ends when the answer is ready, before it is written. The
 * route's URL is known at registration: `request.routeOptions` builds an object on every read.
 */
export interface RequestCounter {
  observe(request: FastifyRequest, reply: FastifyReply, version?: string): void;
}

export const MODEL_VERSION_HEADER = 'x-model-version';
/** The id the gateway minted for this request; echoed as `request_id` in a single /predict answer. */
export const REQUEST_ID_HEADER = 'x-request-id';
/**
 * For the gateway, on a single /predict 200 answer: the prediction, and the feature values as the
 * model used them (its feature order, comma-separated). The gateway removes `x-flywheel-*` headers.
 */
export const PREDICTION_HEADER = 'x-flywheel-prediction';
export const FEATURES_HEADER = 'x-flywheel-features';

export function invalidFeatures(problems: readonly FeatureProblem[]): FlywheelError {
  return new FlywheelError('FLY_ERR_INVALID_FEATURES', describeProblems(problems), { problems });
}
