// The seed's synthetic user-engagement data set, seeded so that any run (and any other tool, through
// `flywheel data synthetic`) sees the very same rows. Columns are drawn one after another, each row
// of a column in turn, as the seed's numpy code draws whole vectors.
import { FlywheelError } from '../../errors.js';
import { Rng } from '../../model/random.js';
import type { Dataset } from '../../model/types.js';

export const SYNTHETIC_FEATURES = [
  'avg_session_duration',
  'visits_per_week',
  'response_rate',
  'feature_usage_depth',
] as const;
export const SYNTHETIC_TARGET = 'engagement_score';

/** [mean, standard deviation, low clip, high clip] of each feature, in SYNTHETIC_FEATURES order. */
const DISTRIBUTIONS: readonly (readonly [number, number, number, number])[] = [
  [15, 8, 1, 60],
  [5, 2, 1, 14],
  [70, 15, 0, 100],
  [6, 2, 1, 10],
];

export function generateSynthetic(rows: number, seed: number): Dataset {
  if (!Number.isSafeInteger(rows) || rows < 1) {
    throw new FlywheelError(
      'FLY_ERR_USAGE',
      `synthetic data needs a whole number of rows >= 1 (got ${rows})`,
    );
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new FlywheelError('FLY_ERR_USAGE', `the seed must be a whole number >= 0 (got ${seed})`);
  }
  const rng = new Rng(seed);
  const columns = DISTRIBUTIONS.map(([mean, sd, lo, hi]) => {
    const col = new Float64Array(rows);
    for (let r = 0; r < rows; r++) col[r] = Math.min(hi, Math.max(lo, rng.normal(mean, sd)));
    return col;
  });
  const [asd, vpw, rr, fud] = columns;
  const maxAsd = max(asd);
  const maxVpw = max(vpw);
  const maxFud = max(fud);
  const target = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    target[r] =
      0.3 * (asd[r] / maxAsd) * 100 +
      0.3 * (vpw[r] / maxVpw) * 100 +
      0.2 * rr[r] +
      0.2 * (fud[r] / maxFud) * 100;
  }
  return { featureNames: [...SYNTHETIC_FEATURES], targetName: SYNTHETIC_TARGET, rows, columns, target };
}

function max(a: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}
