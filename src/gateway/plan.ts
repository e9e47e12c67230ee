// The seam between the forwarder and what plugs into it (the experiment layer, metrics): the plan of
// one request, what a finished exchange reports, and the route and options types.
import type { Logger } from '../log.js';
import type { Balancer } from './balancer.js';
import type { FailureKind, Replica } from './replica.js';

/**
 * Per-request choices of a forwarding route. The plain routes share one frozen plan, so the common
 * path allocates nothing for it; a version router returns its own plan per request.
 */
export interface ForwardPlan {
  /** Replica set to pick from. */
  readonly balancer: Balancer;
  /** Extra upstream request headers, flat [name, value, ...] (e.g. `x-model-version`). */
  readonly headers: readonly string[] | null;
  /** Sees every finished exchange (what the answer's head said; the body streams past it). */
  readonly observer: ExchangeObserver | null;
  /**
   * Where to go when a replica answers 404 to this plan (e.g. it has not loaded the version named in
   * `headers` yet): the request is sent once more with the fallback plan. Followed at most once.
   */
  readonly fallback?: ForwardPlan;
}

/** What a planner may read of a client request besides its body. */
export interface RequestLine {
  readonly method: string;
  readonly url: string;
  /** Flat `[name, value, ...]`, as received. */
  readonly rawHeaders: readonly string[];
}

/** Chooses the plan of one request once its body is in (a sticky split may read `user_id` from it). */
export type Planner = (req: RequestLine, body: Buffer | null, requestId: string) => ForwardPlan;

/** The try that answered a finished exchange (or failed last): its replica and what its head said. */
export interface AnswerRecord {
  readonly replica: { readonly url: string };
  /** The replica's raw response headers (null when it never answered). */
  readonly rawHeaders: readonly string[] | null;
  /** `x-model-version` of the answer. */
  readonly answeredBy: string | null;
  /** `x-flywheel-prediction` of the answer, raw (a single /predict 200 answer has it). */
  readonly prediction: string | null;
  /** `x-flywheel-features` of the answer, raw; `readFeatureRow` in experiments/body.ts reads it. */
  readonly features: string | null;
}

/**
 * What an observer reads of a finished exchange: the Exchange and its Attempt themselves, read-only
 * (no record is copied out per request). Valid during the observer's call; nothing changes them after.
 */
export interface ExchangeRecord {
  readonly requestId: string;
  readonly route: { readonly name: string };
  readonly req: RequestLine;
  /** The request body as forwarded. */
  readonly body: Buffer | null;
  /** Tries sent (a hedge counts, a fallback does not). */
  readonly tries: number;
  /** The status the client got (499 when it went away, the gateway's own error status...). */
  readonly status: number;
  readonly durationMs: number;
  /** The try that answered (or failed last); null when no replica was asked or none answered. */
  readonly answer: AnswerRecord | null;
}

export type ExchangeObserver = (record: ExchangeRecord) => void;

/** What the forwarder reports per request; see metrics.ts. */
export interface RouteMeter {
  done(status: number, seconds: number): void;
}

export interface ForwardRoute {
  readonly kind: 'forward';
  readonly name: string;
  /** Its requests are idempotent: a slow attempt may be hedged on another replica. */
  readonly hedge: boolean;
  /** Used when there is no planner. */
  readonly plan: ForwardPlan;
  readonly planner: Planner | null;
  readonly meter: RouteMeter;
}

export interface ForwarderOptions {
  /** The longest attempt timeout; the one in force is learned below it (latency.ts). */
  attemptTimeoutMs: number;
  attemptTimeoutFloorMs: number;
  /** Percent of requests that may be hedged (0: never). */
  hedgeBudget: number;
  deadlineMs: number;
  /** Largest request body buffered (bodies are buffered so that a retry can resend them). */
  bodyLimit: number;
  onRetry: (kind: FailureKind) => void;
  onFailure: (replica: Replica, kind: FailureKind) => void;
  log: Logger;
}
