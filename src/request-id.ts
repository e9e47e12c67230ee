// What makes a request id safe to carry: shared by the gateway (a client's correlation id), the backend
// (the id it echoes as request_id) and the feedback body check, so all three apply one rule.

/** The longest request id any part of Flywheel accepts. */
export const MAX_REQUEST_ID = 200;

/**
 * A client's own id is kept (as its correlation id) when it is 1-200 characters of letters, digits and
 * `-_.:` — safe in a header, a log line and a JSON string without escaping. Anything else is dropped.
 */
export function isUsableRequestId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_REQUEST_ID) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x3a) || // 0-9 :
      (c >= 0x41 && c <= 0x5a) || // A-Z
      (c >= 0x61 && c <= 0x7a) || // a-z
      c === 0x2d || // -
      c === 0x2e || // .
      c === 0x5f; // _
    if (!ok) return false;
  }
  return true;
}
