// The feedback join's index of recent ids: its own open-addressing table against a plain Map model,
// with collisions forced by a tiny table and the ring overwriting the oldest ids.
import { describe, expect, it } from 'vitest';
import { RecentPredictions } from '../../src/registry/feedback-index.js';

describe('RecentPredictions', () => {
  it('finds exactly the last `size` ids, through collisions and the ring wrapping many times', () => {
    const size = 37;
    const index = new RecentPredictions(size);
    const model = new Map<string, number>();
    const order: string[] = [];
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let n = 0; n < 5000; n++) {
      // Short ids collide often in a 128-entry table; some ids repeat (a second prediction).
      const id = `r${rand() % 400}`;
      const prediction = n;
      if (!model.has(id)) {
        order.push(id);
        if (order.length > size) model.delete(order.shift() as string);
        model.set(id, prediction);
      }
      index.add(id, 'v1', prediction, false, n);
      if (n % 50 === 0) {
        for (let k = 0; k < 400; k++) {
          const probe = `r${k}`;
          const want = model.get(probe);
          const got = index.predictions(probe);
          if (want === undefined) expect(got, probe).toEqual([]);
          else expect(got[0]?.prediction, probe).toBe(want);
        }
      }
    }
  });

  it('keeps feedback with its id until the id is forgotten', () => {
    const index = new RecentPredictions(2);
    index.add('a', 'v1', 1, false, 0);
    index.setActual('a', 5);
    expect(index.hasActual('a')).toBe(true);
    index.add('b', 'v1', 2, false, 0);
    index.add('c', 'v1', 3, false, 0);
    expect(index.hasActual('a')).toBe(false);
    expect(index.issuedAt('a')).toBeNaN();
    expect(index.predictions('c')[0]?.prediction).toBe(3);
  });
});
