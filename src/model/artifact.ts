// The model artifact: data only, never code. A small JSON header (names, parameters, counts) and a
// binary payload of typed arrays, chosen over plain JSON because a 100-tree forest on 100,000 rows
// has millions of nodes: as JSON it is several times larger and slower to parse (bench/learner.mjs
// measures both). Layout, all little-endian:
//
//   0   "FLYWTREE"                    magic
//   8   u32 format version (1; 2 is a model trained elsewhere, artifact-imported.ts)
//   12  u32 header length H
//   16  header: UTF-8 JSON (ArtifactHeader), then zero padding to a multiple of 8
//   …   payload: f64 thresholds (per feature, concatenated) | f64 leaf values (preorder)
//       | u8 or u16 node features in preorder (all ones = leaf) | u8 split bins of internal nodes
//   end u32 CRC-32 of every byte before it
//
// Trees are stored in preorder, so a tree's shape is implied by which nodes are leaves: no child
// pointers to corrupt, no cycles possible. Decoding checks everything and refuses a malformed file
// with FLY_ERR_ARTIFACT_INVALID; a decoded model never reads out of bounds.
import { NODE_BYTES, TreeEnsemble, type Aggregation } from './ensemble.js';
import { IMPORTED_ARTIFACT_VERSION, decodeImported, importedParts } from './artifact-imported.js';
import { validateFitParams, type FitParams } from './params.js';
import type { Algorithm } from './types.js';
import {
  LITTLE_ENDIAN,
  MAX_NODES,
  align8,
  crc32,
  firstNonFinite,
  invalid,
  isCount,
  readFloat64s,
  readUint16s,
} from './artifact-bytes.js';

export { crc32 } from './artifact-bytes.js';

export const ARTIFACT_FORMAT = 'flywheel-tree-ensemble';
export const ARTIFACT_VERSION = 1;
const MAGIC = 'FLYWTREE';
const PREFIX = 16;
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
const MAX_FEATURES = 65_535;

export interface ArtifactHeader {
  format: typeof ARTIFACT_FORMAT;
  algorithm: Algorithm;
  featureNames: string[];
  targetName: string;
  params: FitParams;
  aggregation: Aggregation;
  base: number;
  /** Nodes of each tree, in order. */
  treeNodes: number[];
  leaves: number;
  /** Bin edges stored for each feature. */
  thresholdCounts: number[];
  /** 1 when fewer than 255 features (leaf marker 0xff), else 2 (leaf marker 0xffff). */
  featureBytes: 1 | 2;
}

export function encodeArtifact(model: TreeEnsemble): Uint8Array {
  if (model.params === null || model.thresholds === null) return encodeImported(model);
  const nf = model.featureNames.length;
  const featureBytes: 1 | 2 = nf < 0xff ? 1 : 2;
  const leafMarker = featureBytes === 1 ? 0xff : 0xffff;
  const { params, thresholds } = model;
  const nodes = model.nodeCount;
  const links = model.nodeLinks;
  const value = model.nodeValue;
  let leaves = 0;
  for (let i = 0; i < nodes; i++) if (links[4 * i + 2] === nf) leaves++;
  const treeNodes: number[] = [];
  for (let t = 0; t < model.treeCount; t++) {
    const end = t + 1 < model.treeCount ? model.treeStart[t + 1] : nodes;
    treeNodes.push(end - model.treeStart[t]);
  }
  const header: ArtifactHeader = {
    format: ARTIFACT_FORMAT,
    algorithm: model.algorithm,
    featureNames: [...model.featureNames],
    targetName: model.targetName,
    params: { ...params },
    aggregation: model.aggregation,
    base: model.base,
    treeNodes,
    leaves,
    thresholdCounts: thresholds.map((t) => t.length),
    featureBytes,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = align8(PREFIX + headerBytes.length);
  const thresholdTotal = header.thresholdCounts.reduce((a, b) => a + b, 0);
  const size = payloadStart + 8 * (thresholdTotal + leaves) + nodes * featureBytes + (nodes - leaves) + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, ARTIFACT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREFIX);
  // Payload sections; out is fresh and payloadStart a multiple of 8, so float64 views line up.
  const leafValues = new Float64Array(leaves);
  // Each feature's edges padded to 256 with +Infinity, for edgeIndex.
  const padded = new Float64Array(256 * nf).fill(Infinity);
  thresholds.forEach((t, f) => padded.set(t, 256 * f));
  const featureOut = featureBytes === 1 ? new Uint8Array(nodes) : new Uint16Array(nodes);
  const binOut = new Uint8Array(nodes - leaves);
  for (let i = 0, leaf = 0, split = 0; i < nodes; i++) {
    const f = links[4 * i + 2];
    if (f === nf) {
      featureOut[i] = leafMarker;
      leafValues[leaf++] = value[2 * i];
    } else {
      featureOut[i] = f;
      binOut[split++] = edgeIndex(padded, f, value[2 * i]);
    }
  }
  let at = payloadStart;
  const putFloats = (a: Float64Array) => {
    for (let i = 0; i < a.length; i++) view.setFloat64(at + 8 * i, a[i], true);
    at += 8 * a.length;
  };
  for (const t of thresholds) putFloats(t);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(leafValues.buffer), at);
    at += 8 * leaves;
    out.set(new Uint8Array(featureOut.buffer), at);
    at += featureOut.byteLength;
  } else {
    putFloats(leafValues);
    for (let i = 0; i < nodes; i++, at += featureBytes) {
      if (featureBytes === 1) out[at] = featureOut[i];
      else view.setUint16(at, featureOut[i], true);
    }
  }
  out.set(binOut, at);
  view.setUint32(size - 4, crc32(out.subarray(0, size - 4)), true);
  return out;
}

export function decodeArtifact(bytes: Uint8Array): TreeEnsemble {
  if (!(bytes instanceof Uint8Array)) invalid('artifact must be bytes');
  if (bytes.length < PREFIX + 4) invalid(`artifact is ${bytes.length} bytes: too short to be a model`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) invalid('not a Flywheel model artifact (bad magic bytes)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== ARTIFACT_VERSION && version !== IMPORTED_ARTIFACT_VERSION) {
    invalid(
      `artifact format version ${version} is not supported (this Flywheel reads versions ${ARTIFACT_VERSION} and ${IMPORTED_ARTIFACT_VERSION})`,
    );
  }
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) invalid('artifact checksum mismatch: the file is corrupt or truncated');
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES || PREFIX + headerLength > bytes.length - 4) {
    invalid(`header length ${headerLength} does not fit in the ${bytes.length}-byte artifact`);
  }
  if (version === IMPORTED_ARTIFACT_VERSION) {
    return decodeImported(
      bytes,
      parseJson(bytes.subarray(PREFIX, PREFIX + headerLength)),
      align8(PREFIX + headerLength),
    );
  }
  const header = parseHeader(bytes.subarray(PREFIX, PREFIX + headerLength));
  const nf = header.featureNames.length;
  const nodes = header.treeNodes.reduce((a, b) => a + b, 0);
  const leaves = header.leaves;
  const internal = nodes - leaves;
  const thresholdTotal = header.thresholdCounts.reduce((a, b) => a + b, 0);
  const payloadStart = align8(PREFIX + headerLength);
  const expected = payloadStart + 8 * (thresholdTotal + leaves) + nodes * header.featureBytes + internal + 4;
  if (bytes.length !== expected) {
    invalid(`artifact is ${bytes.length} bytes but its header describes ${expected}`);
  }

  let at = payloadStart;
  const thresholds: Float64Array[] = [];
  for (let f = 0; f < nf; f++) {
    const t = readFloat64s(bytes, at, header.thresholdCounts[f]);
    at += 8 * t.length;
    for (let i = 0; i < t.length; i++) {
      if (!Number.isFinite(t[i]) || (i > 0 && !(t[i] > t[i - 1]))) {
        invalid(`bin edges of feature "${header.featureNames[f]}" must be finite and increasing (edge ${i})`);
      }
    }
    thresholds.push(t);
  }
  const leafValues = readFloat64s(bytes, at, leaves, false); // copied into the node block below
  at += 8 * leaves;
  const bad = firstNonFinite(leafValues);
  if (bad >= 0) invalid(`leaf value ${bad} is not a finite number`);
  const features = header.featureBytes === 1 ? bytes.subarray(at, at + nodes) : readUint16s(bytes, at, nodes);
  const bins = bytes.subarray(at + nodes * header.featureBytes, at + nodes * header.featureBytes + internal);
  const thresholdStart = new Int32Array(nf + 1);
  for (let f = 0; f < nf; f++) thresholdStart[f + 1] = thresholdStart[f] + thresholds[f].length;
  const allThresholds = new Float64Array(thresholdStart[nf]);
  thresholds.forEach((t, f) => allThresholds.set(t, thresholdStart[f]));

  const block = new ArrayBuffer(nodes * NODE_BYTES);
  const treeStart = new Int32Array(header.treeNodes.length);
  const problem = linkTrees(
    features,
    header.featureBytes === 1 ? 0xff : 0xffff,
    bins,
    leafValues,
    allThresholds,
    thresholdStart,
    header.treeNodes,
    treeStart,
    block,
  );
  if (problem !== null) invalid(problem);

  return new TreeEnsemble(
    {
      algorithm: header.algorithm,
      featureNames: header.featureNames,
      targetName: header.targetName,
      params: header.params,
      aggregation: header.aggregation,
      base: header.base,
      thresholds,
    },
    treeStart,
    block,
  );
}

/**
 * Rebuilds the predictor's node block from the preorder arrays, checking as it goes (kept free of
 * closures and exceptions so that it is optimised quickly: a model is usually loaded once, cold).
 * Returns what is wrong, or null.
 */
function linkTrees(
  features: Uint8Array | Uint16Array,
  leafMarker: number,
  bins: Uint8Array,
  leafValues: Float64Array,
  thresholds: Float64Array,
  thresholdStart: Int32Array,
  treeNodes: readonly number[],
  treeStart: Int32Array,
  block: ArrayBuffer,
): string | null {
  const nf = thresholdStart.length - 1;
  const value = new Float64Array(block);
  const links = new Int32Array(block);
  const pending = new Int32Array(features.length); // internal nodes still waiting for their right child
  let leaf = 0;
  let split = 0;
  let node = 0;
  for (let t = 0; t < treeNodes.length; t++) {
    const start = node;
    const end = start + treeNodes[t];
    treeStart[t] = start;
    let top = 0;
    for (; node < end; node++) {
      // Preorder: after an internal node comes its left child; after a leaf, the right child of
      // the nearest internal node still waiting for one.
      if (node > start && links[4 * node - 2] === nf) {
        if (top === 0) return `tree ${t} has nodes after its last leaf`;
        links[4 * pending[--top] + 3] = node;
      }
      const f = features[node];
      if (f === leafMarker) {
        if (leaf >= leafValues.length) return `more leaves than the ${leafValues.length} the header declares`;
        links[4 * node + 2] = nf; // a leaf loops to itself (see ensemble.ts)
        links[4 * node + 3] = node;
        value[2 * node] = leafValues[leaf++];
      } else {
        if (f >= nf) return `tree ${t} node ${node - start} splits on feature ${f} of ${nf}`;
        if (split >= bins.length) return 'more internal nodes than the header declares';
        const b = bins[split++];
        if (b >= thresholdStart[f + 1] - thresholdStart[f]) {
          return `tree ${t} node ${node - start} uses bin edge ${b} of feature ${f}, which has ${thresholdStart[f + 1] - thresholdStart[f]}`;
        }
        links[4 * node + 2] = f;
        value[2 * node] = thresholds[thresholdStart[f] + b];
        pending[top++] = node;
      }
    }
    if (top !== 0 || links[4 * end - 2] !== nf) return `tree ${t} is incomplete: a split lacks a right child`;
  }
  if (leaf !== leafValues.length || split !== bins.length)
    return 'node and leaf counts do not match the header';
  return null;
}

function parseJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as unknown;
  } catch (err) {
    invalid(`artifact header is not valid JSON: ${(err as Error).message}`);
  }
}

/** Layout 2: the prefix and checksum of layout 1 around artifact-imported.ts's header and payload. */
function encodeImported(model: TreeEnsemble): Uint8Array {
  const { header, payload } = importedParts(model);
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = align8(PREFIX + headerBytes.length);
  const out = new Uint8Array(payloadStart + payload.length + 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, IMPORTED_ARTIFACT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREFIX);
  out.set(payload, payloadStart);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function parseHeader(raw: Uint8Array): ArtifactHeader {
  const h = parseJson(raw);
  if (typeof h !== 'object' || h === null || Array.isArray(h))
    invalid('artifact header must be a JSON object');
  const o = h as Record<string, unknown>;
  if (o.format !== ARTIFACT_FORMAT) invalid(`artifact header format must be "${ARTIFACT_FORMAT}"`);
  if (o.algorithm !== 'random-forest' && o.algorithm !== 'gradient-boosting') {
    invalid(`unknown algorithm ${JSON.stringify(o.algorithm)}`);
  }
  const names = o.featureNames;
  if (
    !Array.isArray(names) ||
    names.length === 0 ||
    names.length > MAX_FEATURES ||
    !names.every((n) => typeof n === 'string' && n.length > 0) ||
    new Set(names).size !== names.length
  ) {
    invalid('featureNames must be a non-empty list of distinct, non-empty names');
  }
  if (typeof o.targetName !== 'string' || o.targetName.length === 0)
    invalid('targetName must be a non-empty string');
  let params: FitParams;
  try {
    params = validateFitParams(o.params as FitParams);
  } catch (err) {
    invalid(`artifact parameters are invalid: ${(err as Error).message}`);
  }
  if (params.algorithm !== o.algorithm) invalid('params.algorithm differs from algorithm');
  const aggregation = o.algorithm === 'random-forest' ? 'mean' : 'sum';
  if (o.aggregation !== aggregation) invalid(`aggregation must be "${aggregation}" for ${o.algorithm}`);
  if (typeof o.base !== 'number' || !Number.isFinite(o.base)) invalid('base must be a finite number');
  const treeNodes = o.treeNodes;
  if (
    !Array.isArray(treeNodes) ||
    treeNodes.length === 0 ||
    !treeNodes.every((n) => isCount(n) && n % 2 === 1)
  ) {
    invalid(
      'treeNodes must be a non-empty list of odd node counts (a binary tree of L leaves has 2L−1 nodes)',
    );
  }
  const nodes = (treeNodes as number[]).reduce((a, b) => a + b, 0);
  if (nodes > MAX_NODES)
    invalid(`artifact declares ${nodes} nodes: more than a model may hold (${MAX_NODES})`);
  if (!isCount(o.leaves) || o.leaves < treeNodes.length || o.leaves > nodes)
    invalid('leaves must count the trees’ leaves');
  if ((nodes + treeNodes.length) / 2 !== o.leaves) invalid('leaves do not match the trees’ node counts');
  const counts = o.thresholdCounts;
  if (
    !Array.isArray(counts) ||
    counts.length !== names.length ||
    !counts.every((c) => isCount(c) && c <= 254)
  ) {
    invalid('thresholdCounts must hold 0–254 bin edges for each feature');
  }
  const featureBytes = names.length < 0xff ? 1 : 2;
  if (o.featureBytes !== featureBytes)
    invalid(`featureBytes must be ${featureBytes} for ${names.length} features`);
  return {
    format: ARTIFACT_FORMAT,
    algorithm: o.algorithm,
    featureNames: names as string[],
    targetName: o.targetName,
    params,
    aggregation,
    base: o.base,
    treeNodes: treeNodes as number[],
    leaves: o.leaves,
    thresholdCounts: counts as number[],
    featureBytes,
  };
}

/** Which of feature f's edges `threshold` is (branch-free search; see binning.ts binColumn). */
function edgeIndex(padded: Float64Array, f: number, threshold: number): number {
  const base = 256 * f;
  let b = 0;
  b += +(padded[base + b + 127] < threshold) << 7;
  b += +(padded[base + b + 63] < threshold) << 6;
  b += +(padded[base + b + 31] < threshold) << 5;
  b += +(padded[base + b + 15] < threshold) << 4;
  b += +(padded[base + b + 7] < threshold) << 3;
  b += +(padded[base + b + 3] < threshold) << 2;
  b += +(padded[base + b + 1] < threshold) << 1;
  b += +(padded[base + b] < threshold);
  return b;
}
