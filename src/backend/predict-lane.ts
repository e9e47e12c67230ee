// The fast lane of POST /predict: the answer the backend gives most (one valid instance, 200) written
// straight on node:http, beside fastify rather than through it. Fastify's per-request machinery (router,
// request and reply objects, hook runners, content-type parser with its async resource, schema checks,
// reply.send) cost about as much CPU as the 100-tree forest walk, in a stack where every backend µs is
// throughput. The lane answers only what it can prove the route would answer the same way, with the same
// code (the project's JSON parser, the model's feature reader, SingleAnswer); anything else (another
// content type, a batch, a missing feature, a warning, an unknown version, shutdown, a failed read) is
// handed to fastify with the body bytes as received, so fastify answers it exactly as before.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { parseJsonBody } from '../json-body.js';
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

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class PredictLane {
  /** The single answers checked against the route's serializer: the route builds them, both use them. */
  readonly answers = new SingleAnswers();
  readonly #o: LaneOptions;
  readonly #requests: RouteRequests;
  /** Bodies (or read errors) of requests handed to fastify, for the route's preParsing hook to replay. */
  readonly #handedOver = new WeakMap<IncomingMessage, Buffer | Error>();
  readonly #report: ReadReport = { problems: undefined, warnings: undefined };

  constructor(options: LaneOptions) {
    this.#o = options;
    this.#requests = options.metrics.route(PREDICT_PATH);
  }

  /** The server's request listener: the lane where it applies, else `fastify`. */
  listener(fastify: Handler): Handler {
    return (req, res) => {
      if (!this.#take(req, res, fastify)) fastify(req, res);
    };
  }

  /**
   * For the route's preParsing hook: the body of a request the lane read and handed over, as a stream
   * that gives the same bytes (or fails with the same error); undefined for any other request.
   */
  replay(req: IncomingMessage): Readable | undefined {
    const body = this.#handedOver.get(req);
    if (body === undefined) return undefined;
    this.#handedOver.delete(req);
    if (body instanceof Error) {
      return new Readable({
        read() {
          this.destroy(body);
        },
      });
    }
    return Readable.from([body], { objectMode: false });
  }

  /** Starts reading the request when the lane may answer it, judging by the head alone. */
  #take(req: IncomingMessage, res: ServerResponse, fastify: Handler): boolean {
    if (req.method !== 'POST' || req.url !== PREDICT_PATH) return false;
    const headers = req.headers;
    if (headers['content-type'] !== JSON_TYPE || headers['transfer-encoding'] !== undefined) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= this.#o.bodyLimit) || this.#o.shuttingDown()) return false;
    const started = performance.now();
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const onEnd = () => {
      req.removeListener('error', onError);
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      let answered: boolean;
      try {
        answered = this.#answer(req, res, body, started);
      } catch (err) {
        // Nothing here throws on any input; should it anyway, the route answers (its error handler
        // makes a 500 of it) unless this answer had begun.
        if (res.headersSent) {
          res.destroy(err as Error);
          return;
        }
        answered = false;
      }
      if (!answered) this.#handOver(req, res, body, fastify);
    };
    const onError = (err: Error) => {
      req.removeListener('data', onData).removeListener('end', onEnd);
      this.#handOver(req, res, err, fastify);
    };
    req.on('data', onData).once('end', onEnd).once('error', onError);
    return true;
  }

  #handOver(req: IncomingMessage, res: ServerResponse, body: Buffer | Error, fastify: Handler): void {
    this.#handedOver.set(req, body);
    fastify(req, res);
  }

  /** Answers 200 and returns true, or returns false having written nothing. */
  #answer(req: IncomingMessage, res: ServerResponse, body: Buffer, started: number): boolean {
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
    const requested = req.headers[MODEL_VERSION_HEADER];
    const model =
      requested === undefined || requested === '' ? o.holder.production : o.holder.get(String(requested));
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

    const id = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof id === 'string' && isUsableRequestId(id) ? id : undefined;
    const prediction = String(y);
    const text = answer.write(requestId, prediction);
    o.metrics.countPredictions(model.version, 1);
    o.metrics.countLaneAnswer();
    this.#requests.observe('POST', 200, model.version, (performance.now() - started) / 1000);
    // The headers, in the order, the route writes them.
    res.writeHead(200, [
      MODEL_VERSION_HEADER,
      model.version,
      PREDICTION_HEADER,
      prediction,
      FEATURES_HEADER,
      model.row.join(','),
      'content-type',
      JSON_CONTENT_TYPE,
      'content-length',
      String(answer.bytes(requestId, prediction)),
    ]);
    res.end(text);
    return true;
  }
}
