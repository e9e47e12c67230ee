// `flywheel import`: a model trained elsewhere, its evaluation data and the promotion policy (shared
// with `flywheel train`, whose publish path it takes).
import { common, json } from './common.js';
import { driftTrain } from './drift.js';
import { list, oneOf, optStr } from './kinds.js';
import { python, train } from './train.js';

export const importModel = {
  ...common,
  ...json,
  format: oneOf(
    '--format <format>',
    'FLYWHEEL_IMPORT_FORMAT',
    'model file format, detected from the content by default',
    ['auto', 'xgboost-json', 'flywheel-json', 'sklearn'],
    'auto',
  ),
  python: python(),
  features: list(
    '--features <names>',
    'FLYWHEEL_FEATURES',
    "comma-separated feature names, in the model's order (when the model carries none)",
  ),
  target: optStr(
    '--target <name>',
    'FLYWHEEL_TARGET',
    'name of what the model predicts (default engagement_score)',
  ),
  eval: optStr(
    '--eval <source>',
    'FLYWHEEL_EVAL',
    'evaluation rows: synthetic | csv:<path> | jsonl:<path> (unset: not evaluated)',
  ),
  rows: train.rows,
  seed: train.seed,
  promote: train.promote,
  tolerance: train.tolerance,
  keep: train.keep,
  ...driftTrain,
};
