// Seeded pseudo-random numbers for everything that must replay bit for bit from a seed: the synthetic
// data, the train/holdout split, bootstrap samples and feature sampling (Math.random cannot be seeded).
// xoshiro128** (Blackman & Vigna) seeded through splitmix32: fast on 32-bit integer maths, period 2^128.

const TWO_POW_32 = 4_294_967_296;
const TWO_POW_53 = 9_007_199_254_740_992;

/** One splitmix32 output for `x`: spreads any seed word into a well-mixed 32-bit word. */
function mix32(x: number): number {
  let t = (x + 0x9e3779b9) | 0;
  t = Math.imul(t ^ (t >>> 16), 0x21f0aaad);
  t = Math.imul(t ^ (t >>> 15), 0x735a2d97);
  return (t ^ (t >>> 15)) >>> 0;
}

/**
 * A seed for an independent stream (a tree, a split) derived from a base seed and a stream number,
 * so that tree 17 gets the same numbers whichever thread trains it.
 */
export function deriveSeed(seed: number, stream: number): number {
  const lo = mix32((seed >>> 0) ^ mix32(stream >>> 0));
  const hi = mix32(Math.floor(seed / TWO_POW_32) ^ mix32(lo ^ 0x5bd1e995));
  return (hi & 0x1fffff) * TWO_POW_32 + lo; // stays an exact integer < 2^53
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal = 0;
  private hasSpare = false;

  /** `seed` is any non-negative integer up to 2^53 (both 32-bit halves are used). */
  constructor(seed: number) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.s0 = mix32(lo);
    this.s1 = mix32(hi ^ this.s0);
    this.s2 = mix32(this.s1 ^ 0x6a09e667);
    this.s3 = mix32(this.s2 ^ 0xbb67ae85);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67_108_864 + lo) / TWO_POW_53;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32. */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Normal deviate (Box–Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + sd * this.spareNormal;
    }
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spareNormal = r * Math.sin(theta);
    this.hasSpare = true;
    return mean + sd * r * Math.cos(theta);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
