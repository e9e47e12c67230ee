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
 * The feature values of an `x-flywheel-features` header (`v1,v2,...`, the answering version's feature
 * order), or null when it is absent, has not exactly `n` values, or one is not a number (`NaN` is
 * accepted: the model used it so).
 */
export function parseFeatureList(text: string | null | undefined, n: number): number[] | null {
  if (text === null || text === undefined || text === '') return null;
  const parts = text.split(',');
  if (parts.length !== n) return null;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const p = parts[i].trim();
    const v = Number(p);
    if (p === '' || (Number.isNaN(v) && p !== 'NaN')) return null;
    out[i] = v;
  }
  return out;
}

const USER_ID = /"user_id"\s*:\s*(?:"((?:[^"\\]|\\.){1,200})"|(-?\d{1,30}))/;

/** `user_id` of a /predict body (a string or an integer), read without parsing the whole body. */
export function userIdOf(body: string): string | undefined {
  if (!body.includes('"user_id"')) return undefined;
  const m = USER_ID.exec(body);
  if (!m) return undefined;
  return m[1] ?? m[2];
}
