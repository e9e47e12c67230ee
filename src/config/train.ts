// `flywheel train`: data source, learner, promotion policy and retention.
import { common, json } from './common.js';
import { driftTrain } from './drift.js';
import { bool, duration, int, list, num, oneOf, optStr, str } from './kinds.js';

export const train = {
  ...common,
  ...json,
  source: str(
    '--source <source>',
    'FLYWHEEL_SOURCE',
    'training data: synthetic | csv:<path> | jsonl:<path> | feedback | <source>+feedback',
    'synthetic',
  ),
  rows: int('--rows <n>', 'FLYWHEEL_ROWS', 'rows of synthetic data', 250, { min: 10 }),
  seed: int('--seed <n>', 'FLYWHEEL_SEED', 'seed for data, split and learner', 42, { min: 0 }),
  target: optStr('--target <name>', 'FLYWHEEL_TARGET', 'target column (csv/jsonl; default engagement_score)'),
  features: list(
    '--features <names>',
    'FLYWHEEL_FEATURES',
    'comma-separated feature columns (default: all others)',
  ),
  holdout: num('--holdout <fraction>', 'FLYWHEEL_HOLDOUT', 'share of rows held out for evaluation', 0.2, {
    min: 0.01,
    max: 0.9,
  }),
  algorithm: oneOf(
    '--algorithm <name>',
    'FLYWHEEL_ALGORITHM',
    'learner',
    ['random-forest', 'gradient-boosting'],
    'random-forest',
  ),
  trees: int('--trees <n>', 'FLYWHEEL_TREES', 'trees (forest) or maximum boosting iterations', 100, {
    min: 1,
    max: 10_000,
  }),
  maxDepth: int('--max-depth <n>', 'FLYWHEEL_MAX_DEPTH', 'maximum tree depth, 0 for unlimited', 0, {
    min: 0,
    max: 64,
  }),
  minSamplesLeaf: int('--min-samples-leaf <n>', 'FLYWHEEL_MIN_SAMPLES_LEAF', 'minimum rows in a leaf', 1, {
    min: 1,
  }),
  maxFeatures: num(
    '--max-features <fraction>',
    'FLYWHEEL_MAX_FEATURES',
    'share of features tried per split (forest)',
    1,
    { min: 0.01, max: 1 },
  ),
  maxLeaves: int('--max-leaves <n>', 'FLYWHEEL_MAX_LEAVES', 'maximum leaves per tree (boosting)', 31, {
    min: 2,
  }),
  learningRate: num('--learning-rate <rate>', 'FLYWHEEL_LEARNING_RATE', 'shrinkage (boosting)', 0.1, {
    min: 1e-6,
    max: 1,
  }),
  earlyStopping: bool(
    '--early-stopping',
    'FLYWHEEL_EARLY_STOPPING',
    'stop boosting when a validation split stops improving',
    true,
  ),
  threads: int('--threads <n>', 'FLYWHEEL_THREADS', 'worker threads for training, 0 for all cores', 0, {
    min: 0,
    max: 256,
  }),
  promote: oneOf(
    '--promote <policy>',
    'FLYWHEEL_PROMOTE',
    'promotion policy',
    ['auto', 'canary', 'manual'],
    'auto',
  ),
  tolerance: num(
    '--tolerance <r2>',
    'FLYWHEEL_TOLERANCE',
    'auto promotion: largest holdout R² drop accepted against production',
    0.01,
    { min: 0, max: 1 },
  ),
  keep: int('--keep <n>', 'FLYWHEEL_KEEP', 'versions kept by retention (aliases always kept)', 20, {
    min: 1,
  }),
  ...driftTrain,
  command: optStr(
    '--command <cmd>',
    'FLYWHEEL_TRAIN_COMMAND',
    'run your own training code instead of the learner; its model file is imported (docs/models.md)',
  ),
  commandTimeout: duration(
    '--command-timeout <time>',
    'FLYWHEEL_COMMAND_TIMEOUT',
    'how long --command may run',
    3_600_000,
  ),
  python: python(),
};

/** The interpreter of the scikit-learn exporter (shared with `flywheel import`). */
export function python() {
  return str(
    '--python <path>',
    'FLYWHEEL_PYTHON',
    'Python 3 with scikit-learn, for scikit-learn models (joblib/pickle)',
    'python3',
  );
}
