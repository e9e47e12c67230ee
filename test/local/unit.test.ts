// Pure parts of the local stack: restart backoff, --train-args splitting, log tagging, ages, schedules.
import { describe, expect, it } from 'vitest';
import { splitArgs } from '../../src/local/args.js';
import { backoffDelay, DEFAULT_BACKOFF, nextConsecutive } from '../../src/local/backoff.js';
import { parseGatewayStatus } from '../../src/local/gateway-view.js';
import { jsonLine, prettyLine } from '../../src/local/logs.js';
import { validateSchedule } from '../../src/local/schedule.js';
import { formatAge, table } from '../../src/local/status.js';
import { parseSummary } from '../../src/local/trainer.js';

describe('restart backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const policy = { initialMs: 500, factor: 2, maxMs: 30_000, resetAfterMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(policy, n))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    // A very long crash loop neither overflows nor goes past the cap.
    expect(backoffDelay(policy, 10_000)).toBe(30_000);
  });

  it('starts over after a child stayed up long enough', () => {
    expect(nextConsecutive(DEFAULT_BACKOFF, 4, 100)).toBe(5);
    expect(nextConsecutive(DEFAULT_BACKOFF, 4, DEFAULT_BACKOFF.resetAfterMs)).toBe(1);
    expect(nextConsecutive(DEFAULT_BACKOFF, 0, 0)).toBe(1);
  });
});

describe('--train-args splitting', () => {
  it.each([
    ['', []],
    ['  --trees 20   --rows 500 ', ['--trees', '20', '--rows', '500']],
    [`--source 'csv:/data/my users.csv'`, ['--source', 'csv:/data/my users.csv']],
    ['--source "csv:/a b.csv" --seed 1', ['--source', 'csv:/a b.csv', '--seed', '1']],
    ['a\\ b "x\\"y" \'\'', ['a b', 'x"y', '']],
  ])('%j', (text, expected) => {
    expect(splitArgs(text)).toEqual(expected);
  });

  it('refuses an unclosed quote with a config error naming the setting', () => {
    expect(() => splitArgs(`--source 'oops`)).toThrow(/--train-args: unclosed ' quote/);
  });
});

describe('child log lines', () => {
  it('adds the component to a JSON line and keeps it one JSON object', () => {
    const line = jsonLine('backend-1', '{"level":30,"time":1,"msg":"model loaded","version":"v1"}');
    expect(JSON.parse(line)).toEqual({
      component: 'backend-1',
      level: 30,
      time: 1,
      msg: 'model loaded',
      version: 'v1',
    });
  });

  it('wraps a plain line (a crash trace) as a JSON object', () => {
    const parsed = JSON.parse(jsonLine('gateway', 'Error: boom')) as Record<string, unknown>;
    expect(parsed).toMatchObject({ component: 'gateway', msg: 'Error: boom', level: 30 });
    expect(JSON.parse(jsonLine('trainer', '{not json}'))).toMatchObject({ msg: '{not json}' });
  });

  it('prints a short line on a terminal', () => {
    const line = prettyLine(
      'backend-0',
      '{"level":40,"time":0,"pid":9,"role":"backend","msg":"slow","ms":12}',
    );
    expect(line).toBe('00:00:00.000 WARN  [backend-0] slow {"ms":12}');
    expect(prettyLine('trainer', 'plain text')).toBe('[trainer] plain text');
  });
});

describe('schedules', () => {
  it('accepts 5-field and 6-field (seconds) cron expressions', () => {
    expect(() => validateSchedule('*/2 * * * *')).not.toThrow();
    expect(() => validateSchedule('*/5 * * * * *')).not.toThrow();
  });

  it.each(['bogus', '61 * * * *', '* * * * * * *', '', '*/0 * * * *'])(
    'refuses %j with FLY_ERR_SCHEDULE',
    (cron) => {
      let caught: unknown;
      try {
        validateSchedule(cron);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'FLY_ERR_SCHEDULE' });
      expect((caught as Error).message).toContain('--schedule');
    },
  );
});

describe('status formatting', () => {
  it('prints ages as kubectl does', () => {
    expect([0, 45_000, 192_000, 3_600_000, 7_500_000, 90_000_000].map(formatAge)).toEqual([
      '0s',
      '45s',
      '3m12s',
      '1h',
      '2h5m',
      '1d1h',
    ]);
  });

  it('pads columns to the widest cell', () => {
    expect(
      table([
        ['NAME', 'PID'],
        ['backend-10', '7'],
      ]),
    ).toBe('NAME        PID\nbackend-10  7');
  });
});

describe('reading other roles output', () => {
  it('takes the version from the trainer --json summary (last JSON line)', () => {
    expect(parseSummary(['noise', '{"version":"v1","promoted":true}'])).toEqual({
      version: 'v1',
      promoted: true,
    });
    expect(parseSummary(['{"manifest":{"version":"v2"},"promotion":{"promoted":false}}'])).toEqual({
      version: 'v2',
      promoted: false,
    });
    expect(parseSummary([])).toEqual({ version: null, promoted: null });
  });

  it('reads the replicas and their health from the gateway /status', () => {
    const body = JSON.stringify({
      replicas: [
        { url: 'http://127.0.0.1:5001', state: 'healthy', requests_total: 12 },
        { url: 'http://127.0.0.1:5002/', state: 'draining' },
        { url: 'http://127.0.0.1:5003', state: 'unknown' },
      ],
    });
    expect(parseGatewayStatus(body)).toEqual([
      { url: 'http://127.0.0.1:5001', healthy: true, draining: false, state: 'healthy', requests: 12 },
      { url: 'http://127.0.0.1:5002', healthy: false, draining: true, state: 'draining', requests: null },
      { url: 'http://127.0.0.1:5003', healthy: false, draining: false, state: 'unknown', requests: null },
    ]);
    expect(parseGatewayStatus('{"ok":true}')).toBeNull();
    expect(parseGatewayStatus('not json')).toBeNull();
  });
});
