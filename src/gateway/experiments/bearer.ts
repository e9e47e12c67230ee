// Bearer tokens of the gateway's own routes (the admin API, and POST /feedback when a feedback token
// is set): one check, in constant time, for both.
import { createHash, timingSafeEqual } from 'node:crypto';
import { FlywheelError } from '../../errors.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class BearerToken {
  /** sha256 of the token: compared in constant time with the presented token's digest. */
  readonly #digest: Buffer;
  readonly #realm: string;
  readonly #what: string;

  /** `what` names the token in the refusal, e.g. "admin token". */
  constructor(token: string, realm: string, what: string) {
    this.#digest = digest(token);
    this.#realm = realm;
    this.#what = what;
  }

  /** null when `header` carries the token; else the 401 to answer, with its WWW-Authenticate. */
  check(
    header: string | string[] | undefined,
  ): { readonly error: FlywheelError; readonly headers: Record<string, string> } | null {
    const value = Array.isArray(header) ? header[0] : header;
    const m = value === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
    // Digests have equal length whatever was sent, so timingSafeEqual never throws and the time taken
    // says nothing about how much of the token matched.
    if (m !== null && timingSafeEqual(digest(m[1]), this.#digest)) return null;
    return {
      error: new FlywheelError(
        'FLY_ERR_UNAUTHORIZED',
        `${this.#what} missing or wrong: send Authorization: Bearer <token>`,
      ),
      headers: { 'www-authenticate': `Bearer realm="${this.#realm}"` },
    };
  }
}
