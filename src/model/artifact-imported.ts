// Artifact layout 2: a model trained elsewhere (src/model/import/). Its split thresholds are its own
// raw values, not the learner's bin edges, so each split stores a float64 where layout 1 stores a
// one-byte bin index. The prefix and the checksum are layout 1's (artifact.ts); after the header:
//
//   payload: f64 per node in preorder (split threshold, or leaf value)
//            | u8 or u16 per node in preorder: row slot (ensemble.ts), all ones = leaf
//   end      u32 CRC-32 of every byte before it
//
// As in layout 1 the shape is implied by which nodes are leaves (preorder, the "next" child first):
// no child pointers to corrupt, no cycles possible.
import { FlywheelError } from '../errors.js';
import {
  LITTLE_ENDIAN,
  MAX_NODES,
  firstNonFinite,
  invalid,
  isCount,
  readFloat64s,
  readUint16s,
} from './artifact-bytes.js';
import { NODE_BYTES, TreeEnsemble, type Aggregation, type InputPrecision } from './ensemble.js';
import type { Algorithm } from './types.js';

export const IMPORTED_ARTIFACT_VERSION = 2;
/** Negated slots double the slot range, which must stay below the u16 leaf marker. */
export const MAX_IMPORTED_FEATURES = 32_767;

export interface ImportedHeader {
  format: 'flywheel-tree-ensemble';
  algorithm: Algorithm;
  featureNames: string[];
  targetName: string;
  aggregation: Aggregation;
  base: number;
  inputs: InputPrecision;
  treeNodes: number[];
  leaves: number;
  /** 1 when every slot (up to 2 × features) fits below the u8 leaf marker 0xff, else 2. */
  slotBytes: 1 | 2;
}

const slotBytesFor = (nf: number): 1 | 2 => (2 * nf < 0xff ? 1 : 2);

/** The header and payload of a model whose thresholds are its own (the prefix is the caller's). */
export function importedParts(model: TreeEnsemble): { header: ImportedHeader; payload: Uint8Array } {
  const nf = model.featureNames.length;
  if (nf > MAX_IMPORTED_FEATURES) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_INVALID',
      `the model has ${nf} features; at most ${MAX_IMPORTED_FEATURES} can be stored`,
    );
  }
  const slotBytes = slotBytesFor(nf);
  const marker = slotBytes === 1 ? 0xff : 0xffff;
  const nodes = model.nodeCount;
  const links = model.nodeLinks;
  const values = new Float64Array(nodes);
  const slots = slotBytes === 1 ? new Uint8Array(nodes) : new Uint16Array(nodes);
  let leaves = 0;
  for (let i = 0; i < nodes; i++) {
    values[i] = model.nodeValue[2 * i];
    const s = links[4 * i + 2];
    if (s === nf) {
      slots[i] = marker;
      leaves++;
    } else slots[i] = s;
  }
  const treeNodes: number[] = [];
  for (let t = 0; t < model.treeCount; t++) {
    const end = t + 1 < model.treeCount ? model.treeStart[t + 1] : nodes;
    treeNodes.push(end - model.treeStart[t]);
  }
  const header: ImportedHeader = {
    format: 'flywheel-tree-ensemble',
    algorithm: model.algorithm,
    featureNames: [...model.featureNames],
    targetName: model.targetName,
    aggregation: model.aggregation,
    base: model.base,
    inputs: model.inputs,
    treeNodes,
    leaves,
    slotBytes,
  };
  const payload = new Uint8Array(8 * nodes + slots.byteLength);
  const view = new DataView(payload.buffer);
  if (LITTLE_ENDIAN) {
    payload.set(new Uint8Array(values.buffer), 0);
    payload.set(new Uint8Array(slots.buffer), 8 * nodes);
  } else {
    for (let i = 0; i < nodes; i++) view.setFloat64(8 * i, values[i], true);
    for (let i = 0; i < nodes; i++) {
      if (slotBytes === 1) payload[8 * nodes + i] = slots[i];
      else view.setUint16(8 * nodes + 2 * i, slots[i], true);
    }
  }
  return { header, payload };
}

/** Decodes layout 2 from `bytes` (prefix and checksum already checked) with its parsed header. */
export function decodeImported(bytes: Uint8Array, rawHeader: unknown, payloadStart: number): TreeEnsemble {
  const header = checkHeader(rawHeader);
  const nf = header.featureNames.length;
  const nodes = header.treeNodes.reduce((a, b) => a + b, 0);
  const expected = payloadStart + 8 * nodes + header.slotBytes * nodes + 4;
  if (bytes.length !== expected)
    invalid(`artifact is ${bytes.length} bytes but its header describes ${expected}`);
  const values = readFloat64s(bytes, payloadStart, nodes, false);
  const slotsAt = payloadStart + 8 * nodes;
  const slots =
    header.slotBytes === 1 ? bytes.subarray(slotsAt, slotsAt + nodes) : readUint16s(bytes, slotsAt, nodes);
  const block = new ArrayBuffer(nodes * NODE_BYTES);
  const treeStart = new Int32Array(header.treeNodes.length);
  const problem = linkImported(
    values,
    slots,
    header.slotBytes === 1 ? 0xff : 0xffff,
    nf,
    header.treeNodes,
    treeStart,
    block,
  );
  if (problem !== null) invalid(problem);
  const leafValues = new Float64Array(header.leaves);
  const links = new Int32Array(block);
  const value = new Float64Array(block);
  for (let i = 0, k = 0; i < nodes; i++) if (links[4 * i + 2] === nf) leafValues[k++] = value[2 * i];
  const bad = firstNonFinite(leafValues);
  if (bad >= 0) invalid(`leaf value ${bad} is not a finite number`);
  return new TreeEnsemble(
    {
      algorithm: header.algorithm,
      featureNames: header.featureNames,
      targetName: header.targetName,
      params: null,
      aggregation: header.aggregation,
      base: header.base,
      thresholds: null,
      inputs: header.inputs,
    },
    treeStart,
    block,
  );
}

/** Builds the node block from the preorder arrays, checking as it goes; returns what is wrong, or null. */
function linkImported(
  values: Float64Array,
  slots: Uint8Array | Uint16Array,
  marker: number,
  nf: number,
  treeNodes: readonly number[],
  treeStart: Int32Array,
  block: ArrayBuffer,
): string | null {
  const value = new Float64Array(block);
  const links = new Int32Array(block);
  const pending = new Int32Array(slots.length);
  let leaves = 0;
  let node = 0;
  for (let t = 0; t < treeNodes.length; t++) {
    const start = node;
    const end = start + treeNodes[t];
    treeStart[t] = start;
    let top = 0;
    for (; node < end; node++) {
      if (node > start && links[4 * node - 2] === nf) {
        if (top === 0) return `tree ${t} has nodes after its last leaf`;
        links[4 * pending[--top] + 3] = node;
      }
      const s = slots[node];
      const v = values[node];
      if (s === marker) {
        links[4 * node + 2] = nf;
        links[4 * node + 3] = node;
        leaves++;
      } else {
        if (s === nf || s > 2 * nf)
          return `tree ${t} node ${node - start} compares slot ${s} of ${2 * nf + 1}`;
        if (Number.isNaN(v)) return `tree ${t} node ${node - start} has a NaN threshold`;
        links[4 * node + 2] = s;
        pending[top++] = node;
      }
      value[2 * node] = v;
    }
    if (top !== 0 || links[4 * end - 2] !== nf)
      return `tree ${t} is incomplete: a split lacks its second child`;
  }
  return leaves * 2 - treeNodes.length === slots.length
    ? null
    : 'node and leaf counts do not match the header';
}

function checkHeader(h: unknown): ImportedHeader {
  if (typeof h !== 'object' || h === null || Array.isArray(h))
    invalid('artifact header must be a JSON object');
  const o = h as Record<string, unknown>;
  if (o.format !== 'flywheel-tree-ensemble')
    invalid('artifact header format must be "flywheel-tree-ensemble"');
  const names = o.featureNames;
  if (
    !Array.isArray(names) ||
    names.length === 0 ||
    names.length > MAX_IMPORTED_FEATURES ||
    !names.every((n) => typeof n === 'string' && n.length > 0) ||
    new Set(names).size !== names.length
  ) {
    invalid('featureNames must be a non-empty list of distinct, non-empty names');
  }
  if (typeof o.targetName !== 'string' || o.targetName.length === 0)
    invalid('targetName must be a non-empty string');
  if (o.aggregation !== 'mean' && o.aggregation !== 'sum') invalid('aggregation must be "mean" or "sum"');
  const algorithm = o.aggregation === 'mean' ? 'random-forest' : 'gradient-boosting';
  if (o.algorithm !== algorithm) invalid(`algorithm must be "${algorithm}" for aggregation ${o.aggregation}`);
  if (typeof o.base !== 'number' || !Number.isFinite(o.base)) invalid('base must be a finite number');
  if (o.inputs !== 'float32' && o.inputs !== 'float64') invalid('inputs must be "float32" or "float64"');
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
  if (!isCount(o.leaves) || (nodes + treeNodes.length) / 2 !== o.leaves)
    invalid('leaves do not match the trees’ node counts');
  const slotBytes = slotBytesFor(names.length);
  if (o.slotBytes !== slotBytes) invalid(`slotBytes must be ${slotBytes} for ${names.length} features`);
  return {
    format: 'flywheel-tree-ensemble',
    algorithm,
    featureNames: names as string[],
    targetName: o.targetName,
    aggregation: o.aggregation,
    base: o.base,
    inputs: o.inputs,
    treeNodes: treeNodes as number[],
    leaves: o.leaves,
    slotBytes,
  };
}
