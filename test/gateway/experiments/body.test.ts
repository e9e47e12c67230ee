import { describe, expect, it } from 'vitest';
import { predictionOf, readFeatureRow, userIdOf } from '../../../src/gateway/experiments/body.js';

describe('predictionOf', () => {
  it('reads the x-flywheel-prediction header; absent or not a number is NaN', () => {
    expect(predictionOf('41.5')).toBe(41.5);
    expect(predictionOf('-3.25e-1')).toBe(-0.325);
    for (const h of [null, undefined, '', 'high']) expect(predictionOf(h)).toBeNaN();
  });
});

describe('readFeatureRow', () => {
  const read = (text: string | null | undefined, n: number): number[] | null => {
    const out = new Float64Array(n);
    return readFeatureRow(text, n, out) ? [...out] : null;
  };

  it('reads exactly n values of an x-flywheel-features header; a value that is not a number is NaN', () => {
    expect(read('30,14,4.5,-6e-1', 4)).toEqual([30, 14, 4.5, -0.6]);
    expect(read('1,NaN', 2)).toEqual([1, NaN]);
    expect(read('1,,x,3', 4)).toEqual([1, NaN, NaN, 3]);
    for (const bad of [null, undefined, '', '1,2,3', '1,2,3,4,5']) expect(read(bad, 4)).toBeNull();
    expect(read('1', 0)).toBeNull();
  });
});

describe('userIdOf', () => {
  it('reads a string or integer user_id without parsing the body', () => {
    expect(userIdOf('{"a":1,"user_id":"alice"}')).toBe('alice');
    expect(userIdOf('{"user_id" : 42, "a":1}')).toBe('42');
    expect(userIdOf('{"a":1}')).toBeUndefined();
    expect(userIdOf('{"user_id":null}')).toBeUndefined();
  });
});
