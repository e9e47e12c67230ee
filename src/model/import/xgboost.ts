// XGBoost's JSON model (`Booster.save_model("m.json")`, schema: XGBoost's doc/model.schema) read into
// the interchange format. Only what serves as XGBoost predicts is accepted: `gbtree` boosters with
// one output and an identity-link regression objective. XGBoost compares float32 inputs with
// `x < split_condition`, sends a missing value where `default_left` says, and keeps a leaf's output
// in split_conditions; the prediction is base_score plus every tree's leaf.
import { FlywheelError } from '../../errors.js';
import { INTERCHANGE_FORMAT, INTERCHANGE_VERSION } from './interchange.js';

export const XGBOOST_OBJECTIVES = [
  'reg:squarederror',
  'reg:absoluteerror',
  'reg:pseudohubererror',
  'reg:quantileerror',
] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a parsed JSON document looks like XGBoost's model JSON (a `learner` object). */
export function isXgboostJson(doc: unknown): boolean {
  return isObj(doc) && isObj(doc.learner);
}

function unsupported(message: string): never {
  throw new FlywheelError('FLY_ERR_IMPORT_UNSUPPORTED', `XGBoost model: ${message}`);
}
function malformed(message: string): never {
  throw new FlywheelError('FLY_ERR_IMPORT_FORMAT', `XGBoost model JSON: ${message}`);
}

/** XGBoost's numbers in strings: "5E-1" (1.x) or "[5E-1]" (3.x, one per target). */
export function parseXgboostNumber(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') malformed(`${what} is missing`);
  const m = /^\s*\[?\s*([^,\]\s]+)\s*\]?\s*$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(n)) malformed(`${what} ${JSON.stringify(v)} is not one number`);
  return n;
}

/** The interchange document for an XGBoost model JSON (the compiler validates the trees). */
export function xgboostToInterchange(doc: unknown): Obj {
  if (!isObj(doc) || !isObj(doc.learner)) malformed('no "learner" object');
  const learner = doc.learner;
  const version = Array.isArray(doc.version) ? doc.version.join('.') : undefined;
  const objective = isObj(learner.objective) ? learner.objective.name : undefined;
  if (typeof objective !== 'string') malformed('learner.objective.name is missing');
  if (!(XGBOOST_OBJECTIVES as readonly string[]).includes(objective)) {
    unsupported(
      `objective ${objective} is not supported: Flywheel serves regression with an identity link (${XGBOOST_OBJECTIVES.join(', ')})`,
    );
  }
  const params = isObj(learner.learner_model_param) ? learner.learner_model_param : {};
  const numClass = params.num_class === undefined ? 0 : parseXgboostNumber(params.num_class, 'num_class');
  if (numClass > 1)
    unsupported(`a classifier (${numClass} classes) is not supported: Flywheel serves regression`);
  const numTarget = params.num_target === undefined ? 1 : parseXgboostNumber(params.num_target, 'num_target');
  if (numTarget !== 1) unsupported(`${numTarget} targets: Flywheel serves models with one output`);
  const nFeatures = parseXgboostNumber(params.num_feature, 'learner_model_param.num_feature');
  const base = parseXgboostNumber(params.base_score, 'learner_model_param.base_score');

  const booster = learner.gradient_booster;
  if (!isObj(booster)) malformed('learner.gradient_booster is missing');
  if (booster.name !== 'gbtree') {
    unsupported(`booster ${JSON.stringify(booster.name)} is not supported: Flywheel serves gbtree boosters`);
  }
  const model = booster.model;
  if (!isObj(model) || !Array.isArray(model.trees)) malformed('gradient_booster.model.trees is missing');
  const treeInfo = Array.isArray(model.tree_info) ? model.tree_info : [];
  if (treeInfo.some((g) => g !== 0)) unsupported('trees for several outputs: Flywheel serves one output');

  const trees = model.trees.map((t: unknown, i: number) => {
    if (!isObj(t)) malformed(`tree ${i} is not an object`);
    const splitType = t.split_type;
    if (Array.isArray(splitType) && splitType.some((s) => s !== 0)) {
      unsupported(`tree ${i} has categorical splits, which Flywheel does not serve`);
    }
    if (Array.isArray(t.categories) && t.categories.length > 0) {
      unsupported(`tree ${i} has categorical splits, which Flywheel does not serve`);
    }
    const sizeLeaf = isObj(t.tree_param) ? t.tree_param.size_leaf_vector : undefined;
    if (sizeLeaf !== undefined && sizeLeaf !== '0' && sizeLeaf !== 0 && sizeLeaf !== '1' && sizeLeaf !== 1) {
      unsupported(`tree ${i} has vector leaves: Flywheel serves one output`);
    }
    return {
      left: t.left_children,
      right: t.right_children,
      feature: t.split_indices,
      threshold: t.split_conditions,
      // A leaf's output is its split_condition (base_weights is the unscaled weight).
      value: t.split_conditions,
      default_left: t.default_left,
    };
  });

  // XGBRegressor.predict stops at the best round of early stopping; so does the served model.
  const attributes = isObj(learner.attributes) ? learner.attributes : {};
  if (attributes.best_iteration !== undefined) {
    const best = parseXgboostNumber(attributes.best_iteration, 'best_iteration');
    const parallel = isObj(model.gbtree_model_param)
      ? parseXgboostNumber(model.gbtree_model_param.num_parallel_tree ?? 1, 'num_parallel_tree')
      : 1;
    const keep = (best + 1) * parallel;
    if (Number.isInteger(keep) && keep > 0 && keep < trees.length) trees.length = keep;
  }

  const names =
    Array.isArray(learner.feature_names) && learner.feature_names.length > 0 ? learner.feature_names : null;
  return {
    format: INTERCHANGE_FORMAT,
    format_version: INTERCHANGE_VERSION,
    n_features: nFeatures,
    feature_names: names,
    inputs: 'float32',
    threshold_type: 'float32',
    comparison: '<',
    combine: 'sum',
    base_score: base,
    learning_rate: 1,
    origin: {
      library: 'xgboost',
      ...(version === undefined ? {} : { library_version: version }),
      estimator: 'gbtree',
      objective,
    },
    trees,
  };
}
