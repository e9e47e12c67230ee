// The model holder's decisions, as a pure function of its state (TensorFlow Serving's
// availability-preserving policy in small): load an aspired version beside the one in service, switch
// an alias to it only once it is loaded, and unload a version only when nothing serves or aspires to it.
// Kept free of I/O and clocks so every case can be checked from a table.
import type { AliasName } from '../registry/types.js';

export type AliasVersions = Readonly<Record<AliasName, string | null>>;

/** What the holder remembers about a version that failed to load. */
export interface LoadFailure {
  readonly attempts: number;
  /** Not tried again before this time (ms since the epoch). */
  readonly retryAt: number;
}

export interface HolderState {
  /** What the registry's aliases name now (the source's wish). */
  readonly aspired: AliasVersions;
  /** What each alias answers with now. */
  readonly serving: AliasVersions;
  readonly loaded: ReadonlySet<string>;
  /** A version being loaded; only one load runs at a time (loads are CPU work on a small machine). */
  readonly loading: string | null;
  readonly failures: ReadonlyMap<string, LoadFailure>;
  readonly now: number;
}

export type Action =
  | { readonly kind: 'switch'; readonly alias: AliasName; readonly version: string | null }
  | { readonly kind: 'unload'; readonly version: string }
  | { readonly kind: 'load'; readonly version: string }
  /** Nothing to do until `until`, when a failed version may be tried again. */
  | { readonly kind: 'wait'; readonly until: number }
  | { readonly kind: 'idle' };

/** Production first: a candidate must never delay the version most traffic goes to. */
const ORDER: readonly AliasName[] = ['production', 'candidate'];

export function nextAction(s: HolderState): Action {
  // 1. Switch any alias whose aspired version is ready. A cleared candidate stops being served at once;
  //    a cleared production keeps the old model answering (no model at all is never better).
  for (const alias of ORDER) {
    const want = s.aspired[alias];
    if (s.serving[alias] === want) continue;
    if (want === null) {
      if (alias === 'candidate') return { kind: 'switch', alias, version: null };
    } else if (s.loaded.has(want)) {
      return { kind: 'switch', alias, version: want };
    }
  }

  // 2. Unload what nothing serves or aspires to: the old model goes only after the new one took over.
  for (const version of s.loaded) {
    if (!isNamed(s.serving, version) && !isNamed(s.aspired, version) && version !== s.loading) {
      return { kind: 'unload', version };
    }
  }

  if (s.loading !== null) return { kind: 'idle' };

  // 3. Load the next aspired version, unless it failed recently (backoff, never a tight retry loop).
  let until = Infinity;
  for (const alias of ORDER) {
    const want = s.aspired[alias];
    if (want === null || s.loaded.has(want)) continue;
    const failure = s.failures.get(want);
    if (failure === undefined || failure.retryAt <= s.now) return { kind: 'load', version: want };
    until = Math.min(until, failure.retryAt);
  }
  return until === Infinity ? { kind: 'idle' } : { kind: 'wait', until };
}

function isNamed(aliases: AliasVersions, version: string): boolean {
  return aliases.production === version || aliases.candidate === version;
}

/** Backoff after the n-th failed load of one version: 1 s, 2 s, 4 s … capped at one minute. */
export function retryDelayMs(attempts: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));
}
