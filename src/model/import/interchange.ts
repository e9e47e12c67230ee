// Flywheel's interchange format for tree ensembles trained elsewhere ("flywheel-trees", documented in
// docs/models.md with a JSON Schema) and its compiler into the predictor (ensemble.ts). Every reader
// (XGBoost JSON, the scikit-learn exporter, a user's own file) ends here, as treelite's frontends end
// in its model builder: nothing downstream knows where a tree came from.
//
// Per tree, parallel arrays indexed by node id (node 0 is the root): left/right children (−1 for a
// leaf), feature, threshold, value (the leaf's output), and optionally default_left (where a missing
// value goes) and comparison (per node; else the model's). The arrays may list nodes in any order;
// the compiler walks them from the root and lays them out in preorder, refusing what would make the
// walk wrong: a child out of range, a node reached twice (a cycle or a shared subtree), a NaN
// threshold, a leaf that is not a finite number, more nodes than a model may hold.
import { FlywheelError } from '../../errors.js';
import { MAX_NODES } from '../artifact-bytes.js';
import { MAX_IMPORTED_FEATURES } from '../artifact-imported.js';
import { NODE_BYTES, TreeEnsemble, type Aggregation, type InputPrecision } from '../ensemble.js';
import { asAtMost, below } from './float.js';

export const INTERCHANGE_FORMAT = 'flywheel-trees';
export const INTERCHANGE_VERSION = 1;

export type Comparison = '<' | '<=';

/** Who made a model, as the interchange header and the manifest record it. */
export interface InterchangeOrigin {
  readonly library?: string;
  readonly library_version?: string;
  readonly estimator?: string;
  readonly objective?: string;
}

/** The model-level fields (everything but the trees), validated. */
export interface InterchangeHeader {
  readonly n_features: number;
  readonly feature_names: readonly string[] | null;
  readonly target: string | null;
  readonly inputs: InputPrecision;
  /**
   * How the file's threshold numbers are meant: float32 when the library stores float32 thresholds
   * and writes their shortest decimal form (XGBoost), which is read back as that float32; float64
   * (default) when the decimal is the threshold itself.
   */
  readonly threshold_type: InputPrecision;
  readonly comparison: Comparison;
  readonly combine: Aggregation;
  readonly base_score: number;
  readonly learning_rate: number;
  readonly origin: InterchangeOrigin | null;
  /** Trees announced by a JSON Lines header (a shorter file was truncated); null in a document. */
  readonly n_trees: number | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): never {
  throw new FlywheelError('FLY_ERR_IMPORT_INVALID', message);
}

/** Validates the model-level fields of an interchange document or JSON Lines header. */
export function parseInterchangeHeader(doc: unknown, where: string): InterchangeHeader {
  if (!isObj(doc) || doc.format !== INTERCHANGE_FORMAT) {
    throw new FlywheelError('FLY_ERR_IMPORT_FORMAT', `${where}: not a "${INTERCHANGE_FORMAT}" model`);
  }
  if (doc.format_version !== INTERCHANGE_VERSION) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FORMAT',
      `${where}: format_version ${JSON.stringify(doc.format_version)} is not supported (this Flywheel reads ${INTERCHANGE_VERSION})`,
    );
  }
  const nf = doc.n_features;
  if (typeof nf !== 'number' || !Number.isInteger(nf) || nf < 1 || nf > MAX_IMPORTED_FEATURES) {
    bad(`${where}: n_features must be a whole number from 1 to ${MAX_IMPORTED_FEATURES}`);
  }
  let names: string[] | null = null;
  if (doc.feature_names !== undefined && doc.feature_names !== null) {
    const n = doc.feature_names;
    if (
      !Array.isArray(n) ||
      !n.every((s) => typeof s === 'string' && s.length > 0) ||
      new Set(n).size !== n.length
    ) {
      bad(`${where}: feature_names must be a list of distinct, non-empty names`);
    }
    if (n.length !== nf) bad(`${where}: ${n.length} feature_names for n_features ${nf}`);
    names = n as string[];
  }
  const target = doc.target ?? null;
  if (target !== null && (typeof target !== 'string' || target.length === 0)) {
    bad(`${where}: target must be a non-empty name`);
  }
  if (doc.inputs !== 'float32' && doc.inputs !== 'float64')
    bad(`${where}: inputs must be "float32" or "float64"`);
  const thresholdType = doc.threshold_type ?? 'float64';
  if (thresholdType !== 'float32' && thresholdType !== 'float64') {
    bad(`${where}: threshold_type must be "float32" or "float64"`);
  }
  if (doc.comparison !== '<' && doc.comparison !== '<=') bad(`${where}: comparison must be "<" or "<="`);
  if (doc.combine !== 'mean' && doc.combine !== 'sum') bad(`${where}: combine must be "mean" or "sum"`);
  const base = doc.base_score ?? 0;
  if (typeof base !== 'number' || !Number.isFinite(base)) bad(`${where}: base_score must be a finite number`);
  const rate = doc.learning_rate ?? 1;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    bad(`${where}: learning_rate must be a finite number above 0`);
  }
  let origin: InterchangeOrigin | null = null;
  if (doc.origin !== undefined && doc.origin !== null) {
    const o = doc.origin;
    if (!isObj(o)) bad(`${where}: origin must be an object`);
    const picked: Record<string, string> = {};
    for (const key of ['library', 'library_version', 'estimator', 'objective'] as const) {
      const v = o[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' || v.length > 200) bad(`${where}: origin.${key} must be a short string`);
      picked[key] = v;
    }
    origin = picked;
  }
  let nTrees: number | null = null;
  if (doc.n_trees !== undefined) {
    const n = doc.n_trees;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
      bad(`${where}: n_trees must be a whole number >= 1`);
    nTrees = n;
  }
  return {
    n_features: nf,
    feature_names: names,
    target: target as string | null,
    inputs: doc.inputs,
    threshold_type: thresholdType,
    comparison: doc.comparison,
    combine: doc.combine,
    base_score: base,
    learning_rate: rate,
    origin,
    n_trees: nTrees,
  };
}

/** What the compiled model is called and answers: names and target as the importer settled them. */
export interface CompileNames {
  readonly featureNames: readonly string[];
  readonly targetName: string;
}

/** Growable typed arrays for the compiled nodes (a deep forest has millions). */
class NodeBuffer {
  slot = new Int32Array(1024);
  value = new Float64Array(1024);
  jump = new Int32Array(1024);
  count = 0;

  reserve(extra: number): void {
    const need = this.count + extra;
    if (need <= this.slot.length) return;
    let cap = this.slot.length;
    while (cap < need) cap *= 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, Kind: new (n: number) => T): T => {
      const b = new Kind(cap);
      b.set(a as never);
      return b;
    };
    this.slot = grow(this.slot, Int32Array);
    this.value = grow(this.value, Float64Array);
    this.jump = grow(this.jump, Int32Array);
  }
}

/**
 * Compiles interchange trees one at a time (a JSON Lines file streams them) into the predictor's
 * node block. The limits are parameters so that tests can reach them with small models.
 */
export class TreeCompiler {
  readonly #header: InterchangeHeader;
  readonly #names: CompileNames;
  readonly #maxNodes: number;
  readonly #nodes = new NodeBuffer();
  readonly #treeStart: number[] = [];

  constructor(header: InterchangeHeader, names: CompileNames, limits: { maxNodes?: number } = {}) {
    if (names.featureNames.length !== header.n_features) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FEATURES',
        `the model has ${header.n_features} features but ${names.featureNames.length} names were given`,
      );
    }
    this.#header = header;
    this.#names = names;
    this.#maxNodes = limits.maxNodes ?? MAX_NODES;
  }

  get trees(): number {
    return this.#treeStart.length;
  }

  /** Validates tree number `index` and appends it in preorder. */
  add(tree: unknown, index: number): void {
    const where = `tree ${index}`;
    if (!isObj(tree)) bad(`${where} is not an object`);
    const left = intArray(tree.left, where, 'left');
    const n = left.length;
    if (n === 0) bad(`${where} has no nodes`);
    const right = intArray(tree.right, where, 'right', n);
    const feature = intArray(tree.feature, where, 'feature', n, true);
    const threshold = numArray(tree.threshold, where, 'threshold', n);
    const value = numArray(tree.value, where, 'value', n);
    const defaultLeft = tree.default_left === undefined ? null : flagArray(tree.default_left, where, n);
    const comparison = tree.comparison === undefined ? null : comparisonArray(tree.comparison, where, n);

    const h = this.#header;
    const nf = h.n_features;
    const rate = h.learning_rate;
    const roundThreshold = h.threshold_type === 'float32';
    const out = this.#nodes;
    const first = out.count;
    if (first + n > this.#maxNodes && first + countReachable(left, right) > this.#maxNodes) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_TOO_LARGE',
        `${where}: the model has more than ${this.#maxNodes} nodes, the most a model may hold`,
      );
    }
    out.reserve(n);
    const seen = new Uint8Array(n);
    // (node id, output index of the split whose jump child it is, or −1)
    const stack: number[] = [0, -1];
    while (stack.length > 0) {
      const parent = stack.pop() as number;
      const id = stack.pop() as number;
      if (seen[id] === 1) bad(`${where}: node ${id} is reached twice (a cycle or a shared subtree)`);
      seen[id] = 1;
      const at = out.count++;
      if (parent >= 0) out.jump[parent] = at - first;
      const l = left[id];
      const r = right[id];
      if (l === -1 || r === -1) {
        if (l !== r) bad(`${where}: node ${id} has one child (left ${l}, right ${r})`);
        const v = value[id] * rate;
        if (!Number.isFinite(v)) bad(`${where}: leaf ${id} has value ${value[id]}, not a finite number`);
        out.slot[at] = -1;
        out.value[at] = v;
        out.jump[at] = at - first;
        continue;
      }
      if (l < 0 || l >= n || r < 0 || r >= n || l === r) {
        bad(`${where}: node ${id} has children ${l} and ${r}, out of range 0..${n - 1}`);
      }
      const f = feature[id];
      if (f < 0 || f >= nf) bad(`${where}: node ${id} splits on feature ${f} of ${nf}`);
      const t = roundThreshold ? Math.fround(threshold[id]) : threshold[id];
      if (Number.isNaN(t)) bad(`${where}: node ${id} has a NaN threshold`);
      const atMost = asAtMost(t, comparison === null ? h.comparison : comparison[id], h.inputs);
      let next = l;
      let jump = r;
      if (defaultLeft !== null && defaultLeft[id]) {
        // Missing goes left: compare −x (see ensemble.ts) and take the right child next.
        out.slot[at] = nf + 1 + f;
        out.value[at] = below(-atMost, h.inputs);
        next = r;
        jump = l;
      } else {
        out.slot[at] = f;
        out.value[at] = atMost;
      }
      stack.push(jump, at, next, -1);
    }
    this.#treeStart.push(first);
  }

  finish(): TreeEnsemble {
    const h = this.#header;
    if (this.#treeStart.length === 0) bad('the model has no trees');
    if (h.n_trees !== null && h.n_trees !== this.#treeStart.length) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FORMAT',
        `the header announces ${h.n_trees} trees but the file holds ${this.#treeStart.length}: it is truncated or edited`,
      );
    }
    const out = this.#nodes;
    const total = out.count;
    const nf = h.n_features;
    const block = new ArrayBuffer(total * NODE_BYTES);
    const value = new Float64Array(block);
    const links = new Int32Array(block);
    const starts = Int32Array.from(this.#treeStart);
    for (let t = 0; t < starts.length; t++) {
      const first = starts[t];
      const end = t + 1 < starts.length ? starts[t + 1] : total;
      for (let i = first; i < end; i++) {
        value[2 * i] = out.value[i];
        links[4 * i + 2] = out.slot[i] < 0 ? nf : out.slot[i];
        links[4 * i + 3] = first + out.jump[i];
      }
    }
    return new TreeEnsemble(
      {
        algorithm: h.combine === 'mean' ? 'random-forest' : 'gradient-boosting',
        featureNames: this.#names.featureNames,
        targetName: this.#names.targetName,
        params: null,
        aggregation: h.combine,
        base: h.base_score,
        thresholds: null,
        inputs: h.inputs,
      },
      starts,
      block,
    );
  }
}

/** Nodes reachable from the root, for the size check (a file may carry unreachable, deleted nodes). */
function countReachable(left: Int32Array, right: Int32Array): number {
  const n = left.length;
  const seen = new Uint8Array(n);
  const stack = [0];
  let count = 0;
  while (stack.length > 0) {
    const id = stack.pop() as number;
    if (id < 0 || id >= n || seen[id] === 1) continue;
    seen[id] = 1;
    count++;
    stack.push(left[id], right[id]);
  }
  return count;
}

/** Node indices (−1 = none), or with `anyInt` feature indices (leaves may hold anything, e.g. −2). */
function intArray(v: unknown, where: string, name: string, n?: number, anyInt = false): Int32Array {
  if (!Array.isArray(v)) bad(`${where}: ${name} must be a list`);
  if (n !== undefined && v.length !== n) bad(`${where}: ${name} has ${v.length} entries for ${n} nodes`);
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < (anyInt ? -0x80000000 : -1) || x > 0x7fffffff) {
      bad(`${where}: ${name}[${i}] is ${JSON.stringify(x)}, not a node or feature index`);
    }
    out[i] = x;
  }
  return out;
}

function numArray(v: unknown, where: string, name: string, n: number): Float64Array {
  if (!Array.isArray(v)) bad(`${where}: ${name} must be a list`);
  if (v.length !== n) bad(`${where}: ${name} has ${v.length} entries for ${n} nodes`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number') bad(`${where}: ${name}[${i}] is ${JSON.stringify(x)}, not a number`);
    out[i] = x;
  }
  return out;
}

function flagArray(v: unknown, where: string, n: number): Uint8Array {
  if (!Array.isArray(v)) bad(`${where}: default_left must be a list`);
  if (v.length !== n) bad(`${where}: default_left has ${v.length} entries for ${n} nodes`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const x: unknown = v[i];
    if (x === true || x === 1) out[i] = 1;
    else if (x !== false && x !== 0) bad(`${where}: default_left[${i}] must be true/false or 1/0`);
  }
  return out;
}

function comparisonArray(v: unknown, where: string, n: number): Comparison[] {
  if (!Array.isArray(v)) bad(`${where}: comparison must be a list`);
  if (v.length !== n) bad(`${where}: comparison has ${v.length} entries for ${n} nodes`);
  for (let i = 0; i < n; i++) {
    if (v[i] !== '<' && v[i] !== '<=') bad(`${where}: comparison[${i}] must be "<" or "<="`);
  }
  return v as Comparison[];
}
