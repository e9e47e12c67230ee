// The fast lane of POST /predict: the answer the backend gives most (one valid instance, 200) written
// straight on the HTTP front (src/wire/), beside fastify rather than through it. Fastify's per-request
// machinery (router, request and reply objects, hook runners, content-type parser with its async
// resource, schema checks, reply.send) and node:http's request and response streams cost more CPU than
// the 100-tree forest walk, in a stack where every backend µs is throughput. The lane answers only what
// it can prove the route would answer the same way, with the same code (the project's JSON parser, the
// model's feature reader, SingleAnswers); anything else (another content type, a batch, a missing
// feature, a warning, an unknown version, shutdown) is handed to fastify on node:http's objects
// (src/wire/local.ts) with the body bytes as received, so fastify answers it exactly as before.
import { parseJsonBody } from '../json-body.js';
import { runNodeHandler, type NodeHandler } from '../wire/local.js';
import { httpDate, type RequestHandler, type WireRequest } from '../wire/request.js';
import { FEATURES_HEADER, MODEL_VERSION_HEADER, PREDICTION_HEADER, REQUEST_ID_HEADER } from './context.js';
import type { ReadReport } from './features.js';
import type { ModelHolder } from './holder.js';
import type { BackendMetrics, RouteRequests } from './metrics.js';
import { SingleAnswers } from './predict-answer.js';
import { isUsableRequestId } from '../request-id.js';

export const PREDICT_PATH = '/predict';
const JSON_TYPE = 'application/json';
/** What the route's serializer answers with (fastify's default for JSON). */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface LaneOptions {
  readonly holder: ModelHolder;
  readonly metrics: BackendMetrics;
  readonly bodyLimit: number;
  readonly host: () => string;
  readonly shuttingDown: () => boolean;
}

/** What the lane reads from a request's head; null: the head alone rules the lane out. */
interface LaneHead {
  /** `x-model-version`, or undefined. */
  version: string | undefined;
  /** `x-request-id`, or undefined. */
  requestId: string | undefined;
}

const CRLF = '\r\n';

/**
 * The head's verdict for the lane, from its raw header lines: `Content-Type: application/json` exactly,
 * a Content-Length within the body limit, no Transfer-Encoding, and none of the headers the lane reads
 * given twice (node:http would merge or drop the copies; fastify is left to do that).
 */
function laneHead(raw: readonly string[], bodyLimit: number): LaneHead | null {
  let type: string | undefined;
  let length: string | undefined;
  let version: string | undefined;
  let requestId: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    // The length rules out nearly every other name before a lower-casing.
    const n = name.length;
    if (n !== 12 && n !== 14 && n !== 15 && n !== 17) continue;
    const lower = name.toLowerCase();
    const value = raw[i + 1];
    if (lower === 'content-type') {
      if (type !== undefined) return null;
      type = value;
    } else if (lower === 'content-length') {
      if (length !== undefined) return null;
      length = value;
    } else if (lower === MODEL_VERSION_HEADER) {
      if (version !== undefined) return null;
      version = value;
    } else if (lower === REQUEST_ID_HEADER) {
      if (requestId !== undefined) return null;
      requestId = value;
    } else if (lower === 'transfer-encoding') {
      return null;
    }
  }
  if (type !== JSON_TYPE || length === undefined) return null;
  const bytes = Number(length);
  if (!(bytes > 0 && bytes <= bodyLimit)) return null;
  return { version, requestId };
}

export class PredictLane {
  /** The single answers checked against the route's serializer: the route builds them, both use them. */
  readonly answers = new SingleAnswers();
  readonly #o: LaneOptions;
  readonly #requests: RouteRequests;
  readonly #report: ReadReport = { problems: undefined, warnings: undefined };

  constructor(options: LaneOptions) {
    this.#o = options;
    this.#requests = options.metrics.route(PREDICT_PATH);
  }

  /** The front's request handler: the lane where it applies, else `fastify` on node:http's objects. */
  handler(fastify: NodeHandler): RequestHandler {
    return (req) => {
      if (!this.#take(req, fastify)) runNodeHandler(req, fastify);
    };
  }

  /** Starts reading the request when the lane may answer it, judging by the head alone. */
  #take(req: WireRequest, fastify: NodeHandler): boolean {
    if (req.method !== 'POST' || req.url !== PREDICT_PATH || this.#o.shuttingDown()) return false;
    const head = laneHead(req.rawHeaders, this.#o.bodyLimit);
    if (head === null) return false;
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.listener = {
      onBody: (chunk) => chunks.push(chunk),
      onBodyEnd: () => {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        let answered: boolean;
        try {
          answered = this.#answer(req, head, body, started);
        } catch {
          // Nothing here throws on any input; should it anyway, the route answers (its error handler
          // makes a 500 of it) unless this answer had begun.
          if (req.headSent) {
            req.abort();
            return;
          }
          answered = false;
        }
        if (!answered) runNodeHandler(req, fastify, body);
      },
      // Nothing was started for a client that leaves before its body is whole.
      onClientGone: () => undefined,
      onDrain: () => undefined,
    };
    return true;
  }

  /** Answers 200 and returns true, or returns false having written nothing. */
  #answer(req: WireRequest, head: LaneHead, body: Buffer, started: number): boolean {
    const o = this.#o;
    if (o.shuttingDown()) return false;
    let instance: unknown;
    try {
      instance = parseJsonBody(body.toString('utf8'));
    } catch {
      return false;
    }
    // The route's body schema: an object; `instances` makes it a batch.
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) return false;
    if (Object.hasOwn(instance, 'instances')) return false;
    const requested = head.version;
    const model = requested === undefined || requested === '' ? o.holder.production : o.holder.get(requested);
    if (model === undefined) return false;
    const host = o.host();
    const answer = this.answers.known(model, host);
    if (answer === undefined) return false;
    const report = this.#report;
    report.problems = undefined;
    report.warnings = undefined;
    model.reader.readObject(instance as Readonly<Record<string, unknown>>, model.row, 0, report);
    if (report.problems !== undefined || report.warnings !== undefined) return false;
    const y = model.predictor.predictRow(model.row);
    if (!Number.isFinite(y)) return false;

    const id = head.requestId;
    const requestId = id !== undefined && isUsableRequestId(id) ? id : undefined;
    const prediction = String(y);
    const written = answer.write(requestId, prediction);
    // An all-ASCII answer goes out as the string it is (one byte per character), else as UTF-8 bytes.
    const text = answer.ascii ? written : Buffer.from(written);
    o.metrics.countPredictions(model.version, 1);
    o.metrics.countLaneAnswer();
    this.#requests.observe('POST', 200, model.version, (performance.now() - started) / 1000);
    // The headers the route writes, in its order, then node:http's own (src/wire/local.ts answers the
    // route through it): Date, and Connection (added by the front).
    req.writeHead(
      200,
      'OK',
      `${MODEL_VERSION_HEADER}: ${model.version}${CRLF}${PREDICTION_HEADER}: ${prediction}${CRLF}` +
        `${FEATURES_HEADER}: ${model.row.join(',')}${CRLF}content-type: ${JSON_CONTENT_TYPE}${CRLF}` +
        `content-length: ${text.length}${CRLF}Date: ${httpDate()}${CRLF}`,
      true,
      true,
    );
    req.end(text);
    return true;
  }
}
