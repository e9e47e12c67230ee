// Picks the model version of one request from the routing state. Pure and allocation-free on the
// common paths: it runs on every /predict. Sticky assignment hashes salt + user id, so every gateway
// replica, and the same gateway after a restart, puts a user on the same side without sharing memory.
import type { RoutingState } from '../../registry/routing.js';

export interface RouteChoice {
  /** Which alias answers the client. */
  readonly target: 'production' | 'candidate';
  /** Also mirror the request to the candidate (shadow mode); its answer is only recorded. */
  readonly shadow: boolean;
}

const PRODUCTION: RouteChoice = Object.freeze({ target: 'production', shadow: false });
const CANDIDATE: RouteChoice = Object.freeze({ target: 'candidate', shadow: false });
const MIRRORED: RouteChoice = Object.freeze({ target: 'production', shadow: true });

/** Buckets per 100%: weights are honoured to a hundredth of a percent. */
const BUCKETS = 10_000;

/**
 * A user's bucket in [0, 10000): FNV-1a over the UTF-16 code units, then murmur3's finaliser so that
 * similar ids (user-1, user-2, ...) spread evenly rather than clustering in the low bits.
 */
export function stickyBucket(salt: string, userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < salt.length; i++) {
    h ^= salt.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A separator so that ("ab", "c") and ("a", "bc") hash apart.
  h ^= 0x1f;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKETS;
}

/**
 * The version of one request. `userId` is only read in sticky mode (requests without one are split by
 * weight); `rand` returns a number in [0, 1) and is a parameter so tests can drive it.
 */
export function pickVersion(
  state: Pick<RoutingState, 'mode' | 'weight' | 'salt'>,
  userId: string | undefined,
  rand: () => number,
): RouteChoice {
  switch (state.mode) {
    case 'off':
      return PRODUCTION;
    case 'canary':
      return rand() * 100 < state.weight ? CANDIDATE : PRODUCTION;
    case 'sticky':
      if (userId !== undefined && userId !== '') {
        return stickyBucket(state.salt, userId) < state.weight * (BUCKETS / 100) ? CANDIDATE : PRODUCTION;
      }
      return rand() * 100 < state.weight ? CANDIDATE : PRODUCTION;
    case 'shadow':
      return rand() * 100 < state.weight ? MIRRORED : PRODUCTION;
  }
}
