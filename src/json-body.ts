// The one JSON body parser of the project (the backend's application/json parser and the gateway's own
// routes): secure-json-parse underneath, so `__proto__` and `constructor.prototype` keys are refused
// rather than merged into objects, and one message per way a body can fail, so that a client learns
// what is wrong with what it sent rather than a generic "not JSON".
import sjson from 'secure-json-parse';
import { FlywheelError } from './errors.js';

export type JsonFailure = 'empty' | 'truncated' | 'forbidden_key' | 'syntax';

/** A JSON number where JSON has none: the most common mistake of clients written in Python. */
const NON_FINITE = /[:,[]\s*-?(?:NaN|Infinity)\b/;

function failure(reason: JsonFailure, message: string, extra: Record<string, unknown> = {}): FlywheelError {
  return new FlywheelError('FLY_ERR_BAD_JSON', message, { reason, ...extra });
}

/**
 * Parses a request body as JSON. Throws FLY_ERR_BAD_JSON (400) with `details.reason` one of `empty`
 * (nothing or only whitespace), `truncated` (the text ends inside a value), `forbidden_key` (names the
 * key: `__proto__`, or `constructor` holding a `prototype`) or `syntax` (anything else, with the
 * parser's own words and a hint when NaN or Infinity is the cause).
 */
export function parseJsonBody(body: string | Buffer): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    throw failure('empty', 'the request body is empty; send a JSON object');
  }
  try {
    return sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('forbidden prototype property')) {
      // secure-json-parse says which kind, not where; the key itself is what a client can act on.
      const key = /"__proto__"\s*:/.test(text) ? '__proto__' : 'constructor';
      throw failure(
        'forbidden_key',
        key === '__proto__'
          ? 'the request body has the forbidden key "__proto__"; rename it'
          : 'the request body has the forbidden key "constructor" holding a "prototype"; rename it',
        { key },
      );
    }
    const at = /at position (\d+)/.exec(message);
    const position = at === null ? -1 : Number(at[1]);
    if (position >= text.trimEnd().length || message.includes('Unexpected end of JSON input')) {
      throw failure(
        'truncated',
        `the request body ends before its JSON does (${text.length} characters received): was it cut short?`,
        { received: text.length },
      );
    }
    if (position > 0 && /^\s*[}\]]/.test(text.slice(position)) && /,\s*$/.test(text.slice(0, position))) {
      throw failure(
        'syntax',
        `the request body is not valid JSON: a trailing comma before position ${position}`,
        {
          position,
        },
      );
    }
    if (NON_FINITE.test(text)) {
      throw failure('syntax', 'the request body is not valid JSON: NaN and Infinity are not JSON numbers');
    }
    const said = message.length > 160 ? `${message.slice(0, 157)}...` : message;
    throw failure('syntax', `the request body is not valid JSON: ${said}`);
  }
}
