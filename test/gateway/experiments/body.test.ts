import { describe, expect, it } from 'vitest';
import { parseFeatureList, predictionOf, userIdOf } from '../../../src/gateway/experiments/body.js';

describe('predictionOf', () => {
  it('reads the x-flywheel-prediction header; absent or not a number is NaN', () => {
    expect(predictionOf('41.5')).toBe(41.5);
    expect(predictionOf('-3.25e-1')).toBe(-0.325);
    for (const h of [null, undefined, '', 'high']) expect(predictionOf(h)).toBeNaN();
  });
});

describe('parseFeatureList', () => {
  it('reads exactly n numbers of an x-flywheel-features header, else null', () => {
    expect(parseFeatureList('30,14,4.5,-6e-1', 4)).toEqual([30, 14, 4.5, -0.6]);
    expect(parseFeatureList('1,NaN', 2)).toEqual([1, NaN]);
    for (const bad of [null, undefined, '', '1,2,3', '1,,2,3', '1,x,2,3', '1,2,3,4,5'])
      expect(parseFeatureList(bad, 4)).toBeNull();
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
