import { describe, expect, it } from 'vitest';
import { predictionOf, spliceRequestId, userIdOf } from '../../../src/gateway/experiments/body.js';

describe('spliceRequestId', () => {
  it('adds request_id as the first member and keeps the JSON valid', () => {
    const body = Buffer.from('{"engagement_score":41.5,"prediction":41.5,"model_version":"v1"}');
    const out = spliceRequestId(body, 'abc-123');
    expect(JSON.parse(out.toString())).toEqual({
      request_id: 'abc-123',
      engagement_score: 41.5,
      prediction: 41.5,
      model_version: 'v1',
    });
    expect(JSON.parse(spliceRequestId(Buffer.from('  {  }'), 'x').toString())).toEqual({ request_id: 'x' });
    expect(JSON.parse(spliceRequestId(Buffer.from('\n{\n"a":1}'), 'x').toString())).toEqual({
      request_id: 'x',
      a: 1,
    });
  });

  it('leaves anything but an object alone', () => {
    for (const s of ['[1,2]', '', 'null', '"x"'])
      expect(spliceRequestId(Buffer.from(s), 'x').toString()).toBe(s);
  });
});

describe('predictionOf', () => {
  it('reads the prediction of a single answer and not of a batch', () => {
    expect(predictionOf('{"engagement_score":41.5,"prediction":41.5,"x":1}')).toBe(41.5);
    expect(predictionOf('{"prediction": -3.25e-1}')).toBe(-0.325);
    expect(predictionOf('{"predictions":[1,2]}')).toBeNaN();
    expect(predictionOf('{"error":"x"}')).toBeNaN();
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
