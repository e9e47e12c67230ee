import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, FlywheelError } from '../src/errors.js';

describe('error codes', () => {
  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^## (FLY_ERR_[A-Z0-9_]+)$/gm)].map((m) => m[1]));
    const missing = Object.keys(ERRORS).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
  });

  it('serialises to a body without a stack trace', () => {
    const err = new FlywheelError('FLY_ERR_INVALID_FEATURES', undefined, { missing: ['a'] });
    expect(err.status).toBe(400);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      error: 'missing or invalid features',
      code: 'FLY_ERR_INVALID_FEATURES',
      details: { missing: ['a'] },
    });
  });
});
