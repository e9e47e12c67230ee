// Reads request instances into the model's feature order, naming every missing or invalid feature and
// flagging values far outside what training saw. One reader per loaded model: the bounds are computed
// once, and the hot path writes straight into a caller's Float64Array without allocating.
import type { FeatureSchema } from '../model/types.js';

/**
 * How far outside the training range a value may lie before it is flagged, as a share of the range's
 * width: 0.5 flags only values that no model trained on this data has evidence for (e.g. with normal
 * data and 250 rows, about five standard deviations from the mean), not the ordinary tails.
 */
export const FAR_OUTSIDE_SHARE = 0.5;

export interface FeatureProblem {
  /** Index of the instance in a batch; absent for a single instance. */
  readonly instance?: number;
  readonly feature: string;
  readonly problem: 'missing' | 'not a number' | 'not finite';
  /** The JSON type received (`string`, `boolean`, `null`, `object`, `array`). */
  readonly received?: string;
}

export interface RangeWarning {
  readonly instance?: number;
  readonly feature: string;
  readonly value: number;
  readonly training_min: number;
  readonly training_max: number;
  readonly message: string;
}

/** What a read found; the arrays are created only when something is wrong, so a clean read allocates nothing. */
export interface ReadReport {
  problems: FeatureProblem[] | undefined;
  warnings: RangeWarning[] | undefined;
}

export class FeatureReader {
  readonly names: readonly string[];
  readonly #schema: readonly FeatureSchema[];
  readonly #low: Float64Array;
  readonly #high: Float64Array;

  constructor(schema: readonly FeatureSchema[]) {
    this.#schema = schema;
    this.names = schema.map((f) => f.name);
    this.#low = new Float64Array(schema.length);
    this.#high = new Float64Array(schema.length);
    schema.forEach((f, j) => {
      // A feature constant in training has no width: its magnitude (at least 1) stands in for it.
      const width = f.max > f.min ? f.max - f.min : Math.max(1, Math.abs(f.max));
      this.#low[j] = f.min - FAR_OUTSIDE_SHARE * width;
      this.#high[j] = f.max + FAR_OUTSIDE_SHARE * width;
    });
  }

  get size(): number {
    return this.names.length;
  }

  /**
   * Copies `obj`'s features into `out` from `offset`. Problems and warnings are appended to `report`
   * (created there on first use). Fields that are not features are ignored (the lab sends `user_id`).
   */
  readObject(
    obj: Readonly<Record<string, unknown>>,
    out: Float64Array,
    offset: number,
    report: ReadReport,
    instance?: number,
  ): void {
    const names = this.names;
    for (let j = 0; j < names.length; j++) {
      const value = Object.hasOwn(obj, names[j]) ? obj[names[j]] : undefined;
      this.#check(j, value, out, offset + j, report, instance);
    }
  }

  /** Checks one value of feature `j` (a tensor element) and stores it at `out[index]`. */
  readValue(
    j: number,
    value: unknown,
    out: Float64Array,
    index: number,
    report: ReadReport,
    instance?: number,
  ): void {
    this.#check(j, value, out, index, report, instance);
  }

  #check(
    j: number,
    value: unknown,
    out: Float64Array,
    index: number,
    report: ReadReport,
    instance: number | undefined,
  ): void {
    if (typeof value === 'number' && Number.isFinite(value)) {
      out[index] = value;
      if (value < this.#low[j] || value > this.#high[j]) this.#warn(j, value, report, instance);
      return;
    }
    (report.problems ??= []).push(problemOf(this.names[j], value, instance));
  }

  #warn(j: number, value: number, report: ReadReport, instance: number | undefined): void {
    const f = this.#schema[j];
    const message = `${f.name}=${value} is far outside the training range [${f.min}, ${f.max}]`;
    const w = { feature: f.name, value, training_min: f.min, training_max: f.max, message };
    (report.warnings ??= []).push(instance === undefined ? w : { instance, ...w });
  }
}

function problemOf(feature: string, value: unknown, instance: number | undefined): FeatureProblem {
  const base = instance === undefined ? { feature } : { instance, feature };
  if (value === undefined) return { ...base, problem: 'missing' };
  if (typeof value === 'number') return { ...base, problem: 'not finite', received: String(value) };
  if (typeof value === 'string' && /^\s*[+-]?(nan|infinity|inf)\s*$/i.test(value)) {
    // JSON cannot carry NaN or Infinity; clients that try send them as strings.
    return { ...base, problem: 'not finite', received: 'string' };
  }
  const received = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return { ...base, problem: 'not a number', received };
}

/** A one-line summary for the error message: `missing: a, b; not a number: c (string)`. */
export function describeProblems(problems: readonly FeatureProblem[]): string {
  const parts = problems.slice(0, 10).map((p) => {
    const where = p.instance === undefined ? p.feature : `instances[${p.instance}].${p.feature}`;
    return p.problem === 'missing' ? `${where} is missing` : `${where} is ${p.problem} (${p.received})`;
  });
  const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
  return `missing or invalid features: ${parts.join('; ')}${more}`;
}
