// One Flywheel learner run for bench/learner.mjs, in its own process so that its peak RSS is its own:
// read the train/holdout CSVs, fit, evaluate, save and load the artifact, time predictions. Prints
// one JSON line.
//
//   node bench/learner-run.mjs --train t.csv --holdout h.csv --algorithm random-forest --out m.bin
import { Buffer } from 'node:buffer';
import { readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  DEFAULT_FIT_PARAMS,
  decodeArtifact,
  encodeArtifact,
  fitModel,
  regressionMetrics,
} from '../dist/model/index.js';
import { readSource } from '../dist/trainer/data/index.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string' },
    holdout: { type: 'string' },
    algorithm: { type: 'string', default: 'random-forest' },
    threads: { type: 'string', default: '0' },
    out: { type: 'string' },
    'json-size': { type: 'boolean', default: false },
  },
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const read = async (path) => (await readSource(`csv:${path}`, { rows: 0, seed: 0 })).dataset;
const train = await read(values.train);
const holdout = await read(values.holdout);
const forest = values.algorithm === 'random-forest';
// scikit-learn's defaults for each: RandomForestRegressor(n_estimators=100) and
// HistGradientBoostingRegressor() (max_iter=100, max_leaf_nodes=31, min_samples_leaf=20,
// learning_rate=0.1, early stopping on 10% when there are more than 10,000 rows).
const params = forest
  ? { ...DEFAULT_FIT_PARAMS, seed: 42 }
  : {
      ...DEFAULT_FIT_PARAMS,
      algorithm: 'gradient-boosting',
      minSamplesLeaf: 20,
      earlyStopping: train.rows > 10_000,
      seed: 42,
    };

let t = performance.now();
const { model, timings, threads } = await fitModel(train, params, { threads: Number(values.threads) });
const fitSeconds = (performance.now() - t) / 1000;

const nf = holdout.featureNames.length;
const x = new Float64Array(holdout.rows * nf);
for (let r = 0; r < holdout.rows; r++) for (let f = 0; f < nf; f++) x[r * nf + f] = holdout.columns[f][r];
const metrics = regressionMetrics(holdout.target, model.predictBatch(x, holdout.rows));

const bytes = encodeArtifact(model);
await writeFile(values.out, bytes);
// Load as a server does, cold: read the file and decode it (the first decode in this process).
t = performance.now();
const loaded = decodeArtifact(await readFile(values.out));
const loadMs = performance.now() - t;

// One row at a time, over 1,000 different holdout rows (a single repeated row would sit in cache).
const rows = Array.from({ length: 1000 }, (_, i) =>
  x.subarray((i % holdout.rows) * nf, ((i % holdout.rows) + 1) * nf),
);
let sink = 0;
for (let i = 0; i < 3000; i++) sink += loaded.predictRow(rows[i % 1000]);
const one = [];
for (let i = 0; i < 5000; i++) {
  const row = rows[i % 1000];
  const s = process.hrtime.bigint();
  sink += loaded.predictRow(row);
  one.push(Number(process.hrtime.bigint() - s) / 1000);
}
const batchX = new Float64Array(1000 * nf);
for (let i = 0; i < 1000; i++) batchX.set(rows[i], i * nf);
const out = new Float64Array(1000);
const batch = [];
for (let i = 0; i < 25; i++) {
  const s = performance.now();
  loaded.predictBatch(batchX, 1000, out);
  if (i >= 5) batch.push(performance.now() - s);
}

let json = null;
if (values['json-size']) {
  // The same trees as plain JSON (what the format would be without the binary payload), for the
  // format choice: its size and parse time.
  const trees = [];
  for (let ti = 0; ti < loaded.treeCount; ti++) {
    const end = ti + 1 < loaded.treeCount ? loaded.treeStart[ti + 1] : loaded.nodeCount;
    const feature = [];
    const value = [];
    for (let i = loaded.treeStart[ti]; i < end; i++) {
      feature.push(loaded.nodeLinks[4 * i + 2]);
      value.push(loaded.nodeValue[2 * i]);
    }
    trees.push({ feature, value });
  }
  const text = JSON.stringify({ featureNames: loaded.featureNames, trees });
  const s = performance.now();
  JSON.parse(text);
  json = { bytes: Buffer.byteLength(text), parseMs: performance.now() - s };
}

console.log(
  JSON.stringify({
    fitSeconds,
    timings,
    threads,
    trees: model.treeCount,
    nodes: model.nodeCount,
    r2: metrics.r2,
    mae: metrics.mae,
    artifactBytes: bytes.length,
    loadMs,
    oneRowMicros: median(one),
    batchMs: median(batch),
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    json,
    sink: Number.isFinite(sink),
  }),
);
