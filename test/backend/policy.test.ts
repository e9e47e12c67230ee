// The model holder's decisions, case by case (TensorFlow Serving's availability-preserving policy).
import { describe, expect, it } from 'vitest';
import { nextAction, retryDelayMs, type Action, type HolderState } from '../../src/backend/policy.js';

const NOW = 1_000_000;

function state(p: {
  aspired?: [string | null, string | null];
  serving?: [string | null, string | null];
  loaded?: string[];
  loading?: string | null;
  failures?: Record<string, { attempts: number; retryAt: number }>;
}): HolderState {
  const [ap, ac] = p.aspired ?? [null, null];
  const [sp, sc] = p.serving ?? [null, null];
  return {
    aspired: { production: ap, candidate: ac },
    serving: { production: sp, candidate: sc },
    loaded: new Set(p.loaded ?? []),
    loading: p.loading ?? null,
    failures: new Map(Object.entries(p.failures ?? {})),
    now: NOW,
  };
}

const cases: [string, HolderState, Action][] = [
  ['empty registry: nothing to do', state({}), { kind: 'idle' }],
  ['first production version: load it', state({ aspired: ['v1', null] }), { kind: 'load', version: 'v1' }],
  [
    'loaded but not yet serving: switch',
    state({ aspired: ['v1', null], loaded: ['v1'] }),
    { kind: 'switch', alias: 'production', version: 'v1' },
  ],
  ['steady state', state({ aspired: ['v1', null], serving: ['v1', null], loaded: ['v1'] }), { kind: 'idle' }],
  [
    'new production: load it beside the old one (old keeps serving)',
    state({ aspired: ['v2', null], serving: ['v1', null], loaded: ['v1'] }),
    { kind: 'load', version: 'v2' },
  ],
  [
    'new production loading: the old one is not unloaded',
    state({ aspired: ['v2', null], serving: ['v1', null], loaded: ['v1'], loading: 'v2' }),
    { kind: 'idle' },
  ],
  [
    'new production ready: switch before anything else',
    state({ aspired: ['v2', null], serving: ['v1', null], loaded: ['v1', 'v2'] }),
    { kind: 'switch', alias: 'production', version: 'v2' },
  ],
  [
    'switched: now the old one goes',
    state({ aspired: ['v2', null], serving: ['v2', null], loaded: ['v1', 'v2'] }),
    { kind: 'unload', version: 'v1' },
  ],
  [
    'production is loaded before the candidate',
    state({ aspired: ['v2', 'v3'], serving: ['v1', null], loaded: ['v1'] }),
    { kind: 'load', version: 'v2' },
  ],
  [
    'candidate loads once production is in place',
    state({ aspired: ['v2', 'v3'], serving: ['v2', null], loaded: ['v2'] }),
    { kind: 'load', version: 'v3' },
  ],
  [
    'candidate that is the old production: switch without loading',
    state({ aspired: ['v2', 'v1'], serving: ['v1', null], loaded: ['v1', 'v2'] }),
    { kind: 'switch', alias: 'production', version: 'v2' },
  ],
  [
    'candidate cleared: stop serving it at once',
    state({ aspired: ['v1', null], serving: ['v1', 'v2'], loaded: ['v1', 'v2'] }),
    { kind: 'switch', alias: 'candidate', version: null },
  ],
  [
    'candidate cleared and switched off: unload it',
    state({ aspired: ['v1', null], serving: ['v1', null], loaded: ['v1', 'v2'] }),
    { kind: 'unload', version: 'v2' },
  ],
  [
    'production cleared: keep the old model answering',
    state({ aspired: [null, null], serving: ['v1', null], loaded: ['v1'] }),
    { kind: 'idle' },
  ],
  [
    'candidate promoted to production: one switch, nothing to load',
    state({ aspired: ['v2', null], serving: ['v1', 'v2'], loaded: ['v1', 'v2'] }),
    { kind: 'switch', alias: 'production', version: 'v2' },
  ],
  [
    'failed version in backoff: wait, old model stays',
    state({
      aspired: ['v2', null],
      serving: ['v1', null],
      loaded: ['v1'],
      failures: { v2: { attempts: 1, retryAt: NOW + 1000 } },
    }),
    { kind: 'wait', until: NOW + 1000 },
  ],
  [
    'failed version after backoff: try again',
    state({
      aspired: ['v2', null],
      serving: ['v1', null],
      loaded: ['v1'],
      failures: { v2: { attempts: 3, retryAt: NOW } },
    }),
    { kind: 'load', version: 'v2' },
  ],
  [
    'failed production does not block the candidate',
    state({
      aspired: ['v2', 'v3'],
      serving: ['v1', null],
      loaded: ['v1'],
      failures: { v2: { attempts: 1, retryAt: NOW + 5000 } },
    }),
    { kind: 'load', version: 'v3' },
  ],
  [
    'a failure of an older version is irrelevant once the alias moved on',
    state({
      aspired: ['v3', null],
      serving: ['v1', null],
      loaded: ['v1'],
      failures: { v2: { attempts: 1, retryAt: NOW + 5000 } },
    }),
    { kind: 'load', version: 'v3' },
  ],
  [
    'two failed versions: wait for the earliest retry',
    state({
      aspired: ['v2', 'v3'],
      serving: ['v1', null],
      loaded: ['v1'],
      failures: { v2: { attempts: 2, retryAt: NOW + 5000 }, v3: { attempts: 1, retryAt: NOW + 2000 } },
    }),
    { kind: 'wait', until: NOW + 2000 },
  ],
  [
    'alias moved on while a version was loading: the loaded stray is unloaded',
    state({ aspired: ['v3', null], serving: ['v1', null], loaded: ['v1', 'v2'] }),
    { kind: 'unload', version: 'v2' },
  ],
  [
    'a version being loaded is never unloaded',
    state({ aspired: ['v3', null], serving: ['v1', null], loaded: ['v1', 'v2'], loading: 'v2' }),
    { kind: 'idle' },
  ],
];

describe('nextAction', () => {
  it.each(cases)('%s', (_name, s, expected) => {
    expect(nextAction(s)).toEqual(expected);
  });

  it('never unloads the version an alias serves, whatever the state', () => {
    const versions = ['v1', 'v2', 'v3', null] as const;
    for (const ap of versions)
      for (const ac of versions)
        for (const sp of versions)
          for (const sc of versions) {
            const loaded = [sp, sc].filter((v): v is 'v1' | 'v2' | 'v3' => v !== null);
            const a = nextAction(state({ aspired: [ap, ac], serving: [sp, sc], loaded }));
            if (a.kind === 'unload') expect([sp, sc]).not.toContain(a.version);
            if (a.kind === 'switch' && a.version !== null) expect(loaded).toContain(a.version);
          }
  });
});

describe('retryDelayMs', () => {
  it('doubles from one second and stops at a minute', () => {
    expect([1, 2, 3, 4, 7, 8, 20].map(retryDelayMs)).toEqual([
      1000, 2000, 4000, 8000, 60_000, 60_000, 60_000,
    ]);
  });
});
