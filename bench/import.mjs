// Imported models against their own libraries, in the same run: a 100-tree full-depth scikit-learn
// RandomForestRegressor on 100,000 rows and a 300-round XGBoost model, each imported the way
// `flywheel import` does (the forest through the shipped exporter), then one-row and 1,000-row
// prediction times beside sklearn's / xgboost's own predict (single-threaded both sides), in
// alternating rounds. Also the import time and the largest difference from the library's predictions.
// Never fails on a time.
//
//   npm run bench:import -- [--rows 100000] [--rounds 2] [--python /usr/bin/python3]
//
// Debian's /usr/bin/python3 with python3-sklearn, python3-xgboost and python3-pandas: the python3
// first on PATH here may be another interpreter that does not see Debian's packages.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { readModelFile } from '../dist/model/import/index.js';
import { walk16 } from '../dist/model/walk.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
    layout: { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const out = path.join(here, 'out', `import-${rows}`);
mkdirSync(out, { recursive: true });
const script = path.join(here, 'import_models.py');
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

console.log(`# flywheel import benchmark, ${new Date().toISOString()}`);
console.log(
  `# command: npm run bench:import -- --rows ${rows} --rounds ${values.rounds} --python ${values.python}${values.layout ? ' --layout' : ''}`,
);
console.log(
  `# machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.availableParallelism()}, node ${process.version}`,
);
console.log(`# load average at start: ${load()}`);

if (!existsSync(path.join(out, 'rows.json'))) {
  console.log(`# fitting the models on ${rows} rows (cached in ${path.relative(process.cwd(), out)})...`);
  await run(values.python, [script, 'fit', out, String(rows)], { maxBuffer: 1 << 26 });
}
const meta = JSON.parse(readFileSync(path.join(out, 'rows.json'), 'utf8'));
const x = Float64Array.from(meta.rows.flat());
console.log(
  `# fit: forest ${meta.fit_seconds.forest.toFixed(1)} s (${meta.nodes} nodes), xgboost ${meta.fit_seconds.xgboost.toFixed(1)} s`,
);

const options = {
  format: 'auto',
  python: values.python,
  features: [],
  target: undefined,
  defaultTarget: 'engagement_score',
};
const models = {};
for (const [name, file] of [
  ['forest', 'forest.joblib'],
  ['xgboost', 'xgboost.json'],
]) {
  const t = performance.now();
  const read = await readModelFile(path.join(out, file), options);
  const seconds = (performance.now() - t) / 1000;
  models[name] = read.model;
  console.log(
    `# import ${name}: ${seconds.toFixed(1)} s (${read.format}, ${read.model.nodeCount} nodes), load ${load()}`,
  );
}

function median(a) {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}
function timeOurs(model) {
  const one = x.subarray(0, 4);
  const outBuf = new Float64Array(1000);
  for (let i = 0; i < 50; i++) model.predictRow(one);
  const single = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    model.predictRow(x.subarray((i % 1000) * 4, (i % 1000) * 4 + 4));
    single.push(performance.now() - t);
  }
  const batch = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    model.predictBatch(x, 1000, outBuf);
    if (i >= 3) batch.push(performance.now() - t);
  }
  return { one: median(single), batch: median(batch), predictions: model.predictBatch(x, 1000) };
}

const table = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  const { stdout } = await run(values.python, [script, 'time', out], { maxBuffer: 1 << 26 });
  const lib = JSON.parse(stdout);
  const libLoad = load();
  for (const name of ['forest', 'xgboost']) {
    const ours = timeOurs(models[name]);
    let worst = 0;
    for (let i = 0; i < 1000; i++)
      worst = Math.max(worst, Math.abs(ours.predictions[i] - lib[name].predictions[i]));
    table.push({
      round,
      model: name === 'forest' ? 'sklearn RF 100 trees' : 'xgboost 300 rounds',
      'flywheel 1 row ms': ours.one.toFixed(4),
      'library 1 row ms': lib[name].one_row_ms.toFixed(4),
      'flywheel 1000 rows ms': ours.batch.toFixed(2),
      'library 1000 rows ms': lib[name].batch_1000_ms.toFixed(2),
      'max |diff|': worst.toExponential(1),
      'load (lib / ours)': `${libLoad} / ${load()}`,
    });
  }
}
console.table(table);

if (values.layout) {
  // The batch layout question: predictBatch walks 16 trees over the whole batch before the next 16
  // (the trees' upper levels stay in cache for the batch). Blocks of B rows, each walked over every
  // group of 16 trees before the next block, keep the rows' partial sums in cache instead. Both use
  // the same preorder node block (the next-taken child beside its parent) and the same walk.
  const model = models.forest;
  const nf = model.featureNames.length;
  const row = new Float64Array(2 * nf + 1);
  row[nf] = NaN;
  const starts = model.treeStart;
  const groups = Math.floor(starts.length / 16); // 100 trees: 6 groups of 16 (the rest is left out of both)
  function blocked(block, out) {
    out.fill(0);
    for (let b = 0; b < 1000; b += block) {
      const end = Math.min(1000, b + block);
      for (let g = 0; g < groups; g++) {
        for (let r = b; r < end; r++) {
          for (let f = 0; f < nf; f++) {
            row[f] = Math.fround(x[r * nf + f]);
            row[nf + 1 + f] = -row[f]; // negated slots: splits whose missing values go left
          }
          out[r] = walk16(model.nodeValue, model.nodeLinks, starts, 16 * g, row, nf, out[r]);
        }
      }
    }
  }
  const out = new Float64Array(1000);
  const variants = [1000, 256, 64, 16];
  const times = Object.fromEntries(variants.map((v) => [v, []]));
  for (let rep = 0; rep < 12; rep++) {
    for (const v of variants) {
      const t = performance.now();
      blocked(v, out);
      if (rep >= 2) times[v].push(performance.now() - t);
    }
  }
  console.log(
    `# batch layout, 1,000 rows over ${16 * groups} trees of the forest, median ms (load ${load()}):`,
  );
  console.table(
    variants.map((v) => ({
      'rows per block': v === 1000 ? '1000 (predictBatch today)' : v,
      ms: median(times[v]).toFixed(2),
    })),
  );
}
