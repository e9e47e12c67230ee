// Exact rewrites of a split's comparison into the predictor's one form, `x <= t`, for inputs of a
// known precision: x < t holds exactly when x <= (the largest input value below t), and x <= t
// exactly when x <= (the largest input value at or below t). No rounding is involved: both sides
// are values of the input's own precision (float32 values are exact in float64).
import type { InputPrecision } from '../ensemble.js';

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest float64 below t (t itself for −Infinity). */
export function below64(t: number): number {
  if (t === -Infinity || Number.isNaN(t)) return t;
  if (t === 0) return -Number.MIN_VALUE;
  f64[0] = t;
  u64[0] = t > 0 ? u64[0] - 1n : u64[0] + 1n;
  return f64[0];
}

/** The largest float32 at or below t. */
export function floor32(t: number): number {
  const r = Math.fround(t);
  return r > t ? below32Exact(r) : r;
}

/** The largest float32 below t. */
export function below32(t: number): number {
  const r = floor32(t);
  return r < t ? r : below32Exact(r);
}

/** The float32 just below r, which is a float32 itself. */
function below32Exact(r: number): number {
  if (r === -Infinity || Number.isNaN(r)) return r;
  if (r === 0) return -Math.fround(1.401298464324817e-45);
  f32[0] = r;
  u32[0] = r > 0 ? u32[0] - 1 : u32[0] + 1;
  return f32[0];
}

/** `x cmp t` as `x <= result`, for inputs of the given precision. */
export function asAtMost(t: number, comparison: '<' | '<=', inputs: InputPrecision): number {
  if (inputs === 'float32') return comparison === '<=' ? floor32(t) : below32(t);
  return comparison === '<=' ? t : below64(t);
}

/** The largest input value below t, for inputs of the given precision. */
export function below(t: number, inputs: InputPrecision): number {
  return inputs === 'float32' ? below32(t) : below64(t);
}
