import { describe, expect, it } from 'vitest';
import { KNOWN_ENV, loadConfig, redactConfig, SETTINGS } from '../src/config.js';
import { FlywheelError } from '../src/errors.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FlywheelError);
    expect((err as FlywheelError).code).toBe('FLY_ERR_CONFIG');
    return ((err as FlywheelError).details as { problems: string[] }).problems;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('uses defaults that work on a laptop', () => {
    const c = loadConfig('serve', {}, {});
    expect(c.port).toBe(5001);
    expect(c.registry).toBe('./.flywheel');
    expect(c.bodyLimit).toBe(1024 * 1024);
    expect(Object.isFrozen(c)).toBe(true);
    expect(loadConfig('up', {}, {}).port).toBe(30080);
    expect(loadConfig('gateway', {}, {}).port).toBe(8080);
  });

  it('prefers a flag over a variable over the default', () => {
    expect(loadConfig('serve', {}, { FLYWHEEL_PORT: '6000' }).port).toBe(6000);
    expect(loadConfig('serve', { port: '7000' }, { FLYWHEEL_PORT: '6000' }).port).toBe(7000);
  });

  it('parses durations, sizes, lists, booleans and choices', () => {
    const g = loadConfig(
      'gateway',
      {
        backends: 'http://a:1, http://b:2',
        healthInterval: '2s',
        bodyLimit: '512kb',
        balance: 'round-robin',
      },
      {},
    );
    expect(g.backends).toEqual(['http://a:1', 'http://b:2']);
    expect(g.healthInterval).toBe(2000);
    expect(g.bodyLimit).toBe(512 * 1024);
    expect(g.balance).toBe('round-robin');
    expect(loadConfig('train', {}, { FLYWHEEL_EARLY_STOPPING: 'false' }).earlyStopping).toBe(false);
    expect(loadConfig('train', { json: true }, {}).json).toBe(true);
  });

  it('reports every problem at once, naming the flag or the variable', () => {
    const problems = problemsOf(() =>
      loadConfig(
        'train',
        { rows: 'many', promote: 'always' },
        { FLYWHEEL_HOLDOUT: '2', FLYWHEEL_TREEZ: '5' },
      ),
    );
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/--rows: expects a number/);
    expect(problems.join('\n')).toMatch(/--promote: expects one of auto, canary, manual/);
    expect(problems.join('\n')).toMatch(/FLYWHEEL_HOLDOUT: must be <= 0.9/);
    expect(problems.join('\n')).toMatch(/FLYWHEEL_TREEZ: unknown setting/);
  });

  it('refuses fractional ports and malformed durations', () => {
    expect(problemsOf(() => loadConfig('serve', { port: '50.5' }, {}))[0]).toMatch(/whole number/);
    expect(problemsOf(() => loadConfig('serve', { gracePeriod: 'soon' }, {}))[0]).toMatch(/duration/);
  });

  it('accepts a variable known to another role (one ConfigMap serves every role)', () => {
    expect(() => loadConfig('serve', {}, { FLYWHEEL_BACKENDS: 'http://a:1' })).not.toThrow();
  });

  it('masks secrets when printed', () => {
    const c = loadConfig('gateway', {}, { FLYWHEEL_ADMIN_TOKEN: 's3cret' });
    expect(c.adminToken).toBe('s3cret');
    expect(JSON.stringify(redactConfig('gateway', c))).not.toContain('s3cret');
  });

  it('gives every setting a FLYWHEEL_ variable', () => {
    for (const role of Object.values(SETTINGS)) {
      for (const s of Object.values(role)) expect(s.env).toMatch(/^FLYWHEEL_[A-Z_]+$/);
    }
    expect(KNOWN_ENV.has('FLYWHEEL_REGISTRY')).toBe(true);
  });
});
