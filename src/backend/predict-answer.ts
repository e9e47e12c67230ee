// The single-instance /predict answer, the backend's hot path. Everything in it but the request id and
// the prediction is fixed per model and host, so it is escaped and joined once (SingleAnswer) instead
// of by the response schema's serializer on every request, which cost about a tenth of the request's
// JavaScript time. The schema stays the contract: a SingleAnswer is used only once it has written the
// same bytes as the serializer for the same answers, and the route falls back to the serializer for
// anything else (warnings, a prediction that is not finite, a target named like one of the fields).
import type { FastifyReply } from 'fastify';
import type { ServedModel } from './served-model.js';
import type { RangeWarning, SinglePredictReply } from './schemas.js';

/** The answer as an object, for the response schema's serializer. */
export function singleReply(
  model: ServedModel,
  host: string,
  requestId: string | undefined,
  y: number,
  warnings: readonly RangeWarning[] | undefined,
): SinglePredictReply {
  const answer: SinglePredictReply = {
    // Left out of the JSON when undefined.
    request_id: requestId,
    [model.manifest.target]: y,
    prediction: y,
    model_version: model.version,
    model_training_time: model.trainingTime,
    features_used: model.reader.names,
    host,
  };
  if (warnings !== undefined) answer.warnings = warnings;
  return answer;
}

/** Each model's SingleAnswer on this host (the host is known only once the server listens). */
export class SingleAnswers {
  readonly #byModel = new WeakMap<ServedModel, { host: string; answer: SingleAnswer | undefined }>();

  /** The answer of `model` on `host`, or undefined where only the reply's serializer writes it right. */
  of(model: ServedModel, host: string, reply: FastifyReply): SingleAnswer | undefined {
    let known = this.#byModel.get(model);
    if (known === undefined || known.host !== host) {
      const serialize = (answer: SinglePredictReply) => {
        const text = reply.serialize(answer);
        return typeof text === 'string' ? text : '';
      };
      known = { host, answer: SingleAnswer.check(model, host, serialize) };
      this.#byModel.set(model, known);
    }
    return known.answer;
  }

  /** The answer of `model` on `host` if one was built and checked already. */
  known(model: ServedModel, host: string): SingleAnswer | undefined {
    const known = this.#byModel.get(model);
    return known !== undefined && known.host === host ? known.answer : undefined;
  }
}

/** The answer of one model on one host, written as a string around the request's own parts. */
export class SingleAnswer {
  /** `{"model_version":…,"host":"…"`: the schema's serializer writes its required fields first. */
  readonly #head: string;
  /** `,"<target>":` */
  readonly #target: string;
  /** Every character of the answer is ASCII (its UTF-8 bytes are its characters). */
  readonly ascii: boolean;

  private constructor(model: ServedModel, host: string) {
    this.#head =
      `{"model_version":${JSON.stringify(model.version)}` +
      `,"model_training_time":${JSON.stringify(model.trainingTime)}` +
      `,"features_used":${JSON.stringify(model.reader.names)}` +
      `,"host":${JSON.stringify(host)}`;
    this.#target = `,${JSON.stringify(model.manifest.target)}:`;
    // The varying parts are ASCII (see write), so the fixed ones decide.
    const fixed = this.#head + this.#target;
    this.ascii = Buffer.byteLength(fixed) === fixed.length;
  }

  /**
   * The answer for `model` on `host`, or undefined when it would not write what `serialize` (the
   * route's response serializer) writes: then every answer of this model goes through `serialize`.
   */
  static check(
    model: ServedModel,
    host: string,
    serialize: (answer: SinglePredictReply) => string,
  ): SingleAnswer | undefined {
    const answer = new SingleAnswer(model, host);
    for (const [requestId, y] of [
      ['check-1.a_b:c', 0.5],
      [undefined, -1.25e-7],
    ] as const) {
      const expected = serialize(singleReply(model, host, requestId, y, undefined));
      const text = answer.write(requestId, String(y));
      if (text !== expected) return undefined;
    }
    return answer;
  }

  /**
   * `requestId` must pass isUsableRequestId (it is written unescaped) and `prediction` be a finite
   * number as String() writes it, which is how the serializer writes numbers.
   */
  write(requestId: string | undefined, prediction: string): string {
    const id = requestId === undefined ? '' : `,"request_id":"${requestId}"`;
    return `${this.#head}${id},"prediction":${prediction}${this.#target}${prediction}}`;
  }
}
