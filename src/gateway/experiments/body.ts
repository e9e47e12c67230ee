// Cheap reads and edits of JSON bodies the gateway forwards: it never parses and re-serialises a
// /predict body just to read one field or add one.

/**
 * Adds `"request_id":"<id>"` as the first member of a JSON object body by splicing it after the opening
 * brace. `id` must need no JSON escaping (the gateway's ids are hex/uuid or validated upstream); the
 * body is returned unchanged if it is not an object.
 */
export function spliceRequestId(body: Buffer, id: string): Buffer {
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09))
    i++;
  if (body[i] !== 0x7b /* { */) return body;
  let j = i + 1;
  while (j < body.length && (body[j] === 0x20 || body[j] === 0x0a || body[j] === 0x0d || body[j] === 0x09))
    j++;
  const empty = body[j] === 0x7d; /* } */
  const member = Buffer.from(`"request_id":${JSON.stringify(id)}${empty ? '' : ','}`);
  return Buffer.concat([body.subarray(0, i + 1), member, body.subarray(i + 1)]);
}

/**
 * The number after the first top-level-looking `"prediction":` in a backend answer. A batch answer has
 * `"predictions"` (no match), so it yields NaN and is not logged for feedback.
 */
export function predictionOf(body: string): number {
  const at = body.indexOf('"prediction":');
  if (at < 0) return NaN;
  return Number.parseFloat(body.slice(at + 13, at + 13 + 40).trimStart());
}

const USER_ID = /"user_id"\s*:\s*(?:"((?:[^"\\]|\\.){1,200})"|(-?\d{1,30}))/;

/** `user_id` of a /predict body (a string or an integer), read without parsing the whole body. */
export function userIdOf(body: string): string | undefined {
  if (!body.includes('"user_id"')) return undefined;
  const m = USER_ID.exec(body);
  if (!m) return undefined;
  return m[1] ?? m[2];
}
