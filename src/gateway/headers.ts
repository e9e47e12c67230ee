// Header handling of the proxy hot path: one pass over the client's raw headers builds the upstream
// request's header lines, one pass over the replica's raw headers builds the client answer's. The
// parser hands over flat [name, value, ...] arrays and the wire takes "name: value\r\n" lines, so no
// header object is built and no name is lower-cased unless its length and first letter make it a
// candidate.
import { randomFillSync } from 'node:crypto';
import { isUsableRequestId } from '../request-id.js';

/** What the request scan learns besides the forwarded headers. */
export interface RequestHead {
  /** Minted by the gateway for every request: the feedback join key, never the client's. */
  requestId: string;
  /** The client's own usable `x-request-id`, forwarded and echoed as `x-correlation-id`; '' when none. */
  correlationId: string;
  /** -1 when the client sent no Content-Length. */
  contentLength: number;
}

/**
 * Bytes of CSPRNG output per id: 144 bits (at least the 128 an unguessable id needs), a multiple of 3 so
 * that each id is exactly 24 base64url characters and ids can be cut out of one encoded pool.
 */
const ID_BYTES = 18;
const ID_CHARS = 24;
const POOL_IDS = 256;
const ID_POOL = Buffer.alloc(ID_BYTES * POOL_IDS);
/**
 * The pool, encoded once per 256 ids: one randomFillSync and one base64url pass per refill, so an id
 * costs a string slice (the syscall and a per-id encoding cost more than the rest of the header scan;
 * bench/request-id.mjs measures it).
 */
let idText = '';
let idNext = POOL_IDS;

/**
 * A new request id: 144 bits from the CSPRNG as 24 base64url characters (no prefix, no counter, no
 * JSON escaping needed). Each id uses bytes no other id used; nothing about the next id can be learnt
 * from earlier ones.
 */
export function newRequestId(): string {
  if (idNext === POOL_IDS) {
    randomFillSync(ID_POOL);
    idText = ID_POOL.toString('base64url');
    idNext = 0;
  }
  const at = idNext * ID_CHARS;
  idNext++;
  return idText.slice(at, at + ID_CHARS);
}

/**
 * The hop-by-hop headers both directions drop (RFC 9110 §7.6.1), apart from Transfer-Encoding, which
 * each direction handles itself. `c` is the name's first letter in ASCII lower case: with the length it
 * rules out almost every header before any lower-casing.
 */
function isHopByHop(name: string, c: number): boolean {
  switch (name.length) {
    case 2:
      return c === 0x74 && name.toLowerCase() === 'te';
    case 7:
      if (c !== 0x74 && c !== 0x75) return false;
      name = name.toLowerCase();
      return name === 'trailer' || name === 'upgrade';
    case 10:
      if (c !== 0x63 && c !== 0x6b) return false;
      name = name.toLowerCase();
      return name === 'connection' || name === 'keep-alive';
    case 16:
      return c === 0x70 && name.toLowerCase() === 'proxy-connection';
    default:
      return false;
  }
}

/**
 * The header lines to send upstream ("name: value\r\n" each): the client's end-to-end headers, a newly
 * minted `x-request-id` (the client's own, when usable, goes as `x-correlation-id`: a client never
 * chooses the id its feedback joins on) and `x-forwarded-for` with the client's address appended. Drops
 * hop-by-hop headers, Host (the pool sends the replica's), Content-Length (sent from the buffered
 * body), Transfer-Encoding (the body is de-chunked) and Expect (the front answered 100-continue).
 */
export function scanRequestHeaders(
  raw: readonly string[],
  remoteAddress: string | undefined,
  head: RequestHead,
): string {
  let out = '';
  let correlationId = '';
  let forwardedFor = '';
  head.contentLength = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    const c = name.charCodeAt(0) | 0x20; // ASCII lower case of the first letter
    if (isHopByHop(name, c)) continue;
    switch (name.length) {
      case 4: // host
        if (c === 0x68 && name.toLowerCase() === 'host') continue;
        break;
      case 6: // expect
        if (c === 0x65 && name.toLowerCase() === 'expect') continue;
        break;
      case 12: // x-request-id
        if (c === 0x78 && name.toLowerCase() === 'x-request-id') {
          if (correlationId === '' && isUsableRequestId(value)) correlationId = value;
          continue;
        }
        break;
      case 14: // content-length
        if (c === 0x63 && name.toLowerCase() === 'content-length') {
          head.contentLength = Number(value);
          continue;
        }
        break;
      case 15: // x-forwarded-for
        if (c === 0x78 && name.toLowerCase() === 'x-forwarded-for') {
          forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
          continue;
        }
        break;
      case 17: // transfer-encoding
        if (c === 0x74 && name.toLowerCase() === 'transfer-encoding') {
          continue;
        }
        break;
    }
    out += `${name}: ${value}\r\n`;
  }
  head.requestId = newRequestId();
  head.correlationId = correlationId;
  out += `x-request-id: ${head.requestId}\r\n`;
  if (correlationId !== '') out += `x-correlation-id: ${correlationId}\r\n`;
  if (remoteAddress !== undefined) {
    out += `x-forwarded-for: ${forwardedFor === '' ? remoteAddress : `${forwardedFor}, ${remoteAddress}`}\r\n`;
  } else if (forwardedFor !== '') {
    out += `x-forwarded-for: ${forwardedFor}\r\n`;
  }
  return out;
}

/** What the gateway reads from a replica's answer head while copying it (null: header absent). */
export interface AnswerHead {
  /** `x-model-version`: the version that answered. */
  answeredBy: string | null;
  /** `x-flywheel-prediction` (see src/backend/context.ts), raw. */
  prediction: string | null;
  /** `x-flywheel-features`, raw: the feature values as the model used them, comma-separated. */
  features: string | null;
  /** The answer has a Content-Length. */
  hasLength: boolean;
}

/**
 * The replica's response header lines for the client ("name: value\r\n" each), byte for byte (latin1
 * strings keep every byte), without the hop-by-hop ones the front sets itself and without
 * `x-flywheel-*` (meant for the gateway alone, kept in `head`), plus the minted `x-request-id` unless
 * the replica already echoed it and the client's `x-correlation-id` when it sent one.
 */
export function responseHeaderLines(
  raw: readonly string[],
  request: Readonly<RequestHead>,
  head: AnswerHead,
): string {
  let out = '';
  let hasRequestId = false;
  head.hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const c = name.charCodeAt(0) | 0x20;
    if (isHopByHop(name, c)) continue;
    if (c === 0x78 && name.length > 11 && name.charCodeAt(10) === 0x2d) {
      const lower = name.toLowerCase();
      if (lower.startsWith('x-flywheel-')) {
        if (lower === 'x-flywheel-prediction') head.prediction = raw[i + 1];
        else if (lower === 'x-flywheel-features') head.features = raw[i + 1];
        continue;
      }
    }
    switch (name.length) {
      case 12: // x-request-id
        if (c === 0x78 && name.toLowerCase() === 'x-request-id') hasRequestId = true;
        break;
      case 14: // content-length
        if (c === 0x63 && name.toLowerCase() === 'content-length') head.hasLength = true;
        break;
      case 15: // x-model-version
        if (c === 0x78 && head.answeredBy === null && name.toLowerCase() === 'x-model-version') {
          head.answeredBy = raw[i + 1];
        }
        break;
      case 17: // transfer-encoding
        if (c === 0x74 && name.toLowerCase() === 'transfer-encoding') continue;
        break;
    }
    out += `${name}: ${raw[i + 1]}\r\n`;
  }
  if (!hasRequestId) out += `x-request-id: ${request.requestId}\r\n`;
  if (request.correlationId !== '') out += `x-correlation-id: ${request.correlationId}\r\n`;
  return out;
}

export { isUsableRequestId };
