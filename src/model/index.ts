// Flywheel's learner: random forests and gradient-boosted trees over histograms of binned features.
//
// Why our own: the seed's model is scikit-learn's RandomForestRegressor, and the JavaScript ecosystem
// has no maintained tree learner that scales. ml-random-forest searches splits in O(n²) (100 trees on
// 10,000 rows took 637 s and wrote a 164 MB model; 100,000 rows would take about a day) and
// ml-xgboost is a 2018 WebAssembly build of an old XGBoost with opaque model blobs. So the learner is
// built the way LightGBM and scikit-learn's HistGradientBoosting are — binning (binning.ts), histograms
// with subtraction (histogram.ts), a split finder (split.ts), one partitioned index array
// (partition.ts), a grower loop (grower.ts) — with the forest (forest.ts, on worker threads) and
// boosting (boosting.ts) on top, a predictor over flat typed arrays (ensemble.ts) and a data-only,
// validated artifact (artifact.ts).
import { availableParallelism } from 'node:os';
import { FlywheelError } from '../errors.js';
import { binDataset } from './binning.js';
import { trainBoosting } from './boosting.js';
import { TreeEnsemble } from './ensemble.js';
import { trainForest } from './forest.js';
import { validateFitParams, type FitParams } from './params.js';
import { deriveSeed } from './random.js';
import type { Dataset } from './types.js';

export { DEFAULT_FIT_PARAMS, validateFitParams, type FitParams } from './params.js';
export { TreeEnsemble } from './ensemble.js';
export { encodeArtifact, decodeArtifact, ARTIFACT_FORMAT, ARTIFACT_VERSION } from './artifact.js';
export { regressionMetrics } from './metrics.js';
export { featureSchema } from './schema.js';
export { Rng, deriveSeed } from './random.js';
export type { Dataset, FeatureSchema, HoldoutMetrics, Predictor, Algorithm } from './types.js';

export interface FitOptions {
  /**
   * Threads that grow the forest's trees; 0 = all cores, 1 = the calling thread only. Boosting is
   * sequential and always runs on the calling thread.
   */
  threads?: number;
  /** Called after each tree (forest) or boosting round (early stopping may end before `total`). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Forest with threads > 1: the calling thread grows trees beside its workers (default). False
   * leaves its event loop free, as a process that trains while it serves would want.
   */
  callerGrowsTrees?: boolean;
}

export interface FitResult {
  model: TreeEnsemble;
  /** Seconds per phase: bin, trees, assemble, total. */
  timings: Record<string, number>;
  /** Threads that grew the trees (the calling thread and its workers). */
  threads: number;
  /** Worker threads started besides the calling thread; 0 when it grew every tree itself. */
  workers: number;
  /** Trees grown on worker threads. */
  workerTrees: number;
}

export async function fitModel(ds: Dataset, params: FitParams, options: FitOptions = {}): Promise<FitResult> {
  const p = validateFitParams(params);
  checkDataset(ds);
  const threads =
    options.threads === undefined || options.threads === 0 ? availableParallelism() : options.threads;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new FlywheelError(
      'FLY_ERR_TRAIN_PARAMS',
      `threads must be a whole number >= 0 (got ${options.threads})`,
    );
  }
  const timings: Record<string, number> = {};
  let t = performance.now();
  const t0 = t;
  const lap = (phase: string) => {
    const now = performance.now();
    timings[phase] = (now - t) / 1000;
    t = now;
  };
  const forest = p.algorithm === 'random-forest';
  const binned = binDataset(ds.columns, ds.rows, {
    seed: deriveSeed(p.seed, 0xb1),
    shared: forest && threads > 1,
  });
  lap('bin');
  const info = {
    algorithm: p.algorithm,
    featureNames: ds.featureNames,
    targetName: ds.targetName,
    params: p,
    thresholds: binned.thresholds,
  };
  let model: TreeEnsemble;
  let workers = 0;
  let used = 1;
  let workerTrees = 0;
  if (forest) {
    const result = await trainForest(
      binned,
      ds.target,
      p,
      threads,
      options.onProgress,
      options.callerGrowsTrees ?? true,
    );
    workers = result.workers;
    used = result.threads;
    workerTrees = result.workerTrees;
    lap('trees');
    model = TreeEnsemble.fromTrees({ ...info, aggregation: 'mean', base: 0 }, result.trees);
  } else {
    const result = await trainBoosting(binned, ds.target, p, options.onProgress);
    lap('trees');
    model = TreeEnsemble.fromTrees({ ...info, aggregation: 'sum', base: result.base }, result.trees);
  }
  lap('assemble');
  timings.total = (performance.now() - t0) / 1000;
  return { model, timings, threads: used, workers, workerTrees };
}

/** The learner's own edge check: callers other than the data readers must not feed it junk. */
function checkDataset(ds: Dataset): void {
  const nf = ds.featureNames.length;
  if (nf === 0) throw new FlywheelError('FLY_ERR_DATA_COLUMN', 'the data set has no feature columns');
  if (ds.columns.length !== nf) {
    throw new FlywheelError('FLY_ERR_DATA_COLUMN', `${nf} feature names but ${ds.columns.length} columns`);
  }
  if (ds.rows < 2)
    throw new FlywheelError('FLY_ERR_DATA_EMPTY', `training needs at least 2 rows (got ${ds.rows})`);
  const check = (values: Float64Array, name: string) => {
    if (values.length < ds.rows) {
      throw new FlywheelError(
        'FLY_ERR_DATA_COLUMN',
        `column "${name}" has ${values.length} of ${ds.rows} rows`,
      );
    }
    for (let r = 0; r < ds.rows; r++) {
      if (!Number.isFinite(values[r])) {
        throw new FlywheelError(
          'FLY_ERR_DATA_VALUE',
          `row ${r + 1}, column "${name}": ${values[r]} is not a finite number`,
          {
            row: r + 1,
            column: name,
          },
        );
      }
    }
  };
  ds.columns.forEach((c, f) => check(c, ds.featureNames[f]));
  check(ds.target, ds.targetName);
}
