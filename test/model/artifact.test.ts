// The artifact: save → load → predict round trips, every malformed case refused with
// FLY_ERR_ARTIFACT_INVALID and a clear message, and fuzzing with mutated artifacts.
import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import { crc32 } from '../../src/model/artifact.js';
import {
  DEFAULT_FIT_PARAMS,
  decodeArtifact,
  encodeArtifact,
  fitModel,
  type FitParams,
  type TreeEnsemble,
} from '../../src/model/index.js';
import { Rng } from '../../src/model/random.js';
import { makeDataset, rowMajor, uniformColumn } from './fixtures.js';

async function smallModel(params: Partial<FitParams> = {}): Promise<TreeEnsemble> {
  const rng = new Rng(17);
  const ds = makeDataset(
    [uniformColumn(rng, 300), uniformColumn(rng, 300, -5, 5), uniformColumn(rng, 300)],
    ([a, b, c]) => a * 3 + Math.sin(b) + (c > 0.5 ? 1 : 0),
    ['alpha', 'beta', 'gamma'],
  );
  return (await fitModel(ds, { ...DEFAULT_FIT_PARAMS, trees: 5, ...params }, { threads: 1 })).model;
}

/** The artifact's parts, to rebuild it with a changed header or payload and a correct checksum. */
function parts(bytes: Uint8Array): { header: Record<string, unknown>; payload: Uint8Array } {
  const h = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + h))) as Record<string, unknown>;
  const payloadStart = (16 + h + 7) & ~7;
  return { header, payload: bytes.slice(payloadStart, bytes.length - 4) };
}

function assemble(header: unknown, payload: Uint8Array, version = 1): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const payloadStart = (16 + json.length + 7) & ~7;
  const out = new Uint8Array(payloadStart + payload.length + 4);
  out.set(new TextEncoder().encode('FLYWTREE'));
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  out.set(payload, payloadStart);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function refusal(bytes: Uint8Array): string {
  try {
    decodeArtifact(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(FlywheelError);
    expect((err as FlywheelError).code).toBe('FLY_ERR_ARTIFACT_INVALID');
    return (err as FlywheelError).message;
  }
  throw new Error('the artifact was accepted');
}

function randomInputs(n: number, features: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n * features }, () => rng.normal(0, 4));
}

describe('artifact round trip', () => {
  it('a loaded model predicts exactly what the trained one did, for both algorithms', async () => {
    for (const params of [{}, { algorithm: 'gradient-boosting' as const, trees: 30, minSamplesLeaf: 3 }]) {
      const model = await smallModel(params);
      const bytes = encodeArtifact(model);
      const loaded = decodeArtifact(bytes);
      expect(loaded.algorithm).toBe(model.algorithm);
      expect(loaded.featureNames).toEqual(['alpha', 'beta', 'gamma']);
      expect(loaded.targetName).toBe('y');
      expect(loaded.params).toEqual(model.params);
      expect(loaded.treeCount).toBe(model.treeCount);
      const x = randomInputs(2000, 3, 1);
      expect(loaded.predictBatch(x, 2000)).toEqual(model.predictBatch(x, 2000));
      // Encoding is deterministic and stable through a load.
      expect(Buffer.from(encodeArtifact(loaded)).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('loads from a Buffer at any byte offset (as read from a file)', async () => {
    const bytes = encodeArtifact(await smallModel());
    const padded = Buffer.alloc(bytes.length + 3);
    padded.set(bytes, 3);
    const loaded = decodeArtifact(padded.subarray(3));
    padded.fill(0); // the model must not keep pointing into the caller's buffer
    const x = randomInputs(50, 3, 2);
    expect(loaded.predictBatch(x, 50)).toEqual(decodeArtifact(bytes).predictBatch(x, 50));
  });

  it('handles 300 features (two-byte feature numbers)', async () => {
    const rng = new Rng(2);
    const cols = Array.from({ length: 300 }, () => uniformColumn(rng, 60));
    const ds = makeDataset(cols, (x) => x[299] * 10 + x[0]);
    const model = (await fitModel(ds, { ...DEFAULT_FIT_PARAMS, trees: 2 }, { threads: 1 })).model;
    const loaded = decodeArtifact(encodeArtifact(model));
    const x = rowMajor(ds);
    expect(loaded.predictBatch(x, ds.rows)).toEqual(model.predictBatch(x, ds.rows));
  });
});

describe('malformed artifacts', () => {
  it('refuses each broken envelope with a message saying what is wrong', async () => {
    const good = encodeArtifact(await smallModel());
    expect(refusal(new Uint8Array(0))).toMatch(/too short/);
    expect(refusal(good.subarray(0, 10))).toMatch(/too short/);
    expect(refusal(new TextEncoder().encode('{"format":"flywheel-tree-ensemble","trees":[]}'))).toMatch(
      /magic/,
    );
    const flipped = good.slice();
    flipped[flipped.length >> 1] ^= 0x10;
    expect(refusal(flipped)).toMatch(/checksum/);
    expect(refusal(good.subarray(0, good.length - 9))).toMatch(/checksum/);
    const { header, payload } = parts(good);
    expect(refusal(assemble(header, payload, 3))).toMatch(/version 3 is not supported/);
    expect(refusal(assemble('{"format": ', payload))).toMatch(/not valid JSON/);
    expect(refusal(assemble('[1,2]', payload))).toMatch(/JSON object/);
    expect(refusal(assemble(header, payload.subarray(0, payload.length - 1)))).toMatch(/header describes/);
    expect(refusal(assemble(header, new Uint8Array([...payload, 0])))).toMatch(/header describes/);
    expect(() => decodeArtifact('FLYWTREE' as unknown as Uint8Array)).toThrow(/must be bytes/);
  });

  it('refuses each bad header field', async () => {
    const { header, payload } = parts(encodeArtifact(await smallModel()));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ format: 'pickle' }, /format/],
      [{ algorithm: 'svm' }, /unknown algorithm/],
      [{ featureNames: ['a', 'a', 'b'] }, /featureNames/],
      [{ featureNames: [] }, /featureNames/],
      [{ targetName: '' }, /targetName/],
      [{ params: { ...(header.params as object), trees: -1 } }, /parameters are invalid.*trees/],
      [{ params: null }, /parameters are invalid/],
      [{ aggregation: 'sum' }, /aggregation/],
      [{ base: null }, /base/],
      [{ treeNodes: [] }, /treeNodes/],
      [{ treeNodes: [2, 4] }, /treeNodes/],
      [{ treeNodes: 'many' }, /treeNodes/],
      [{ treeNodes: [2 ** 29 + 1] }, /nodes: more than/],
      [{ leaves: 1 }, /leaves/],
      [{ thresholdCounts: [1, 2] }, /thresholdCounts/],
      [{ thresholdCounts: [300, 0, 0] }, /thresholdCounts/],
      [{ featureBytes: 2 }, /featureBytes/],
    ];
    for (const [change, message] of cases) {
      expect(refusal(assemble({ ...header, ...change }, payload)), JSON.stringify(change)).toMatch(message);
    }
  });

  it('refuses bad payloads: edges, leaf values, feature and bin numbers, tree shapes', async () => {
    const model = await smallModel({ trees: 1 });
    const { header, payload } = parts(encodeArtifact(model));
    const counts = header.thresholdCounts as number[];
    const edges = counts.reduce((a, b) => a + b, 0);
    const leaves = header.leaves as number;
    const nodes = (header.treeNodes as number[])[0];
    const leafAt = 8 * edges;
    const featureAt = leafAt + 8 * leaves;
    const binAt = featureAt + nodes;
    const change = (edit: (p: Uint8Array, v: DataView) => void) => {
      const p = payload.slice();
      edit(p, new DataView(p.buffer));
      return assemble(header, p);
    };
    expect(refusal(change((_, v) => v.setFloat64(8, NaN, true)))).toMatch(/bin edges of feature "alpha"/);
    expect(refusal(change((_, v) => v.setFloat64(8, -1e9, true)))).toMatch(/increasing/);
    expect(refusal(change((_, v) => v.setFloat64(leafAt + 16, Infinity, true)))).toMatch(/leaf value 2/);
    expect(refusal(change((p) => (p[featureAt] = 7)))).toMatch(/splits on feature 7 of 3/);
    expect(refusal(change((p) => (p[binAt] = 254)))).toMatch(/bin edge 254/);
    // A leaf where the root split was: the tree ends after one node and the rest dangles.
    expect(refusal(change((p) => (p[featureAt] = 0xff)))).toMatch(/after its last leaf|counts/);
    // A split where the last leaf was: a right child is missing.
    expect(refusal(change((p) => (p[featureAt + nodes - 1] = 0)))).toMatch(/incomplete|internal nodes/);
    // Leaves and splits swapped in count but not in bytes.
    const first = featureAt + 1;
    expect(refusal(change((p) => (p[first] = p[first] === 0xff ? 0 : 0xff)))).toBeTruthy();
  });

  it('survives fuzzing: every mutation is refused, or with a fixed checksum loads a safe model', async () => {
    const good = encodeArtifact(await smallModel({ trees: 3 }));
    const { header, payload } = parts(good);
    const rng = new Rng(99);
    const x = randomInputs(64, 3, 3);
    let refusedWithFixedChecksum = 0;
    let loadedWithFixedChecksum = 0;
    for (let round = 0; round < 400; round++) {
      const bytes = good.slice();
      const kind = round % 4;
      let mutated: Uint8Array = bytes;
      if (kind === 0)
        for (let k = 0; k < 1 + rng.nextInt(4); k++) bytes[rng.nextInt(bytes.length)] = rng.nextInt(256);
      else if (kind === 1) mutated = bytes.subarray(0, rng.nextInt(bytes.length));
      else if (kind === 2) {
        const at = rng.nextInt(bytes.length);
        mutated = new Uint8Array([...bytes.subarray(0, at), rng.nextInt(256), ...bytes.subarray(at)]);
      } else {
        bytes[rng.nextInt(bytes.length)] ^= 1 << rng.nextInt(8);
      }
      if (Buffer.from(mutated).equals(Buffer.from(good))) continue;
      refusal(mutated); // the checksum catches every change

      // The same damage to the payload with a correct checksum exercises the structural checks.
      const p = payload.slice();
      for (let k = 0; k < 1 + rng.nextInt(3); k++) p[rng.nextInt(p.length)] = rng.nextInt(256);
      let model: TreeEnsemble | null = null;
      try {
        model = decodeArtifact(assemble(header, p));
      } catch (err) {
        expect((err as FlywheelError).code).toBe('FLY_ERR_ARTIFACT_INVALID');
        refusedWithFixedChecksum++;
      }
      if (model !== null) {
        loadedWithFixedChecksum++; // e.g. a changed leaf value: still a well-formed model
        for (const v of model.predictBatch(x, 64)) expect(Number.isFinite(v)).toBe(true);
      }
    }
    expect(refusedWithFixedChecksum).toBeGreaterThan(50);
    expect(loadedWithFixedChecksum).toBeGreaterThan(10);
  });
});
