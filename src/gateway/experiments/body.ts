// Cheap reads of what the gateway forwards: it never parses a /predict body just to read one field,
// and reads an answer's figures from the backend's `x-flywheel-*` headers rather than its body.

/**
 * The prediction of a backend answer, from its `x-flywheel-prediction` header (raw); NaN when absent
 * (a batch answer, an error) or not a number.
 */
export function predictionOf(header: string | null | undefined): number {
  if (header === null || header === undefined || header === '') return NaN;
  return Number(header);
}

/**
 * Reads the `n` feature values of an `x-flywheel-features` header (`v1,v2,...`, the answering version's
 * feature order: the validated values the model used) into `out`. False when the text holds no row of
 * that length (no header, a batch answer, another version's row). A value that is not a number reads
 * as NaN (the backend sends finite numbers only): drift counts it apart, the log leaves it out. The one
 * reader of the header: drift and the prediction log both use it.
 */
export function readFeatureRow(text: string | null | undefined, n: number, out: Float64Array): boolean {
  if (text === null || text === undefined || n === 0) return false;
  let start = 0;
  for (let j = 0; j < n; j++) {
    let end = text.indexOf(',', start);
    if (end < 0) {
      if (j !== n - 1) return false;
      end = text.length;
    } else if (j === n - 1) {
      return false;
    }
    out[j] = end > start ? Number(text.slice(start, end)) : NaN;
    start = end + 1;
  }
  return true;
}

const USER_ID = /"user_id"\s*:\s*(?:"((?:[^"\\]|\\.){1,200})"|(-?\d{1,30}))/;

/** `user_id` of a /predict body (a string or an integer), read without parsing the whole body. */
export function userIdOf(body: string): string | undefined {
  if (!body.includes('"user_id"')) return undefined;
  const m = USER_ID.exec(body);
  if (!m) return undefined;
  return m[1] ?? m[2];
}
