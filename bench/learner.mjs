// The learner side by side with scikit-learn on the seed's synthetic data: for each size, the same
// rows are split 80/20 (seed 42) into two CSV files that both learners read; each configuration runs
// alone in its own process. Prints fit time, peak RSS, holdout R²/MAE, artifact size and load time,
// one-row and 1,000-row prediction times, then the targets. Never fails on a time.
//
//   npm run build && npm run bench:learner -- [--sizes 250,10000,100000,1000000] [--sklearn-max-rows 100000]
//
// scikit-learn runs under Debian's /usr/bin/python3 (apt-get install python3-sklearn): the python3
// first on PATH here may be another interpreter that does not see Debian's packages.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { generateSynthetic, splitHoldout, writeCsv } from '../dist/trainer/data/index.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '250,10000,100000,1000000' },
    'sklearn-max-rows': { type: 'string', default: '100000' },
    threads: { type: 'string', default: '0' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const sklearnMaxRows = Number(values['sklearn-max-rows']);

const probe = spawnSync(PYTHON, ['-c', 'import sklearn, joblib; print(sklearn.__version__)'], {
  encoding: 'utf8',
});
const sklearnVersion = probe.status === 0 ? probe.stdout.trim() : null;

console.log(`# flywheel learner benchmark, ${new Date().toISOString()}`);
console.log(
  `# machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.availableParallelism()}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(0)} GB, ${os.type()} ${os.release()}, node ${process.version}`,
);
console.log(
  `# command: node bench/learner.mjs --sizes ${values.sizes} --sklearn-max-rows ${sklearnMaxRows} --threads ${values.threads}`,
);
console.log(
  sklearnVersion
    ? `# scikit-learn ${sklearnVersion} (${PYTHON}); skipped above ${sklearnMaxRows.toLocaleString('en')} rows`
    : `# scikit-learn columns skipped: ${PYTHON} cannot import sklearn (apt-get install python3-sklearn)`,
);
console.log(
  '# settings: 80/20 split (seed 42), 100 trees, full depth, all features, bootstrap; HGB defaults',
);
// Other work on the machine skews every time below (scikit-learn's OpenMP threads suffer most).
console.log(
  `# load average at start: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log('');

const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-learner-'));
const results = [];
try {
  for (const rows of sizes) {
    const { train, holdout } = splitHoldout(generateSynthetic(rows, 42), 0.2, 42);
    const trainCsv = path.join(dir, `train-${rows}.csv`);
    const holdoutCsv = path.join(dir, `holdout-${rows}.csv`);
    await writeCsv(train, trainCsv);
    await writeCsv(holdout, holdoutCsv);
    const ours = async (algorithm, label) => {
      const { stdout } = await run(
        process.execPath,
        [
          path.join(here, 'learner-run.mjs'),
          '--train',
          trainCsv,
          '--holdout',
          holdoutCsv,
          '--algorithm',
          algorithm,
          '--threads',
          values.threads,
          '--out',
          path.join(dir, `flywheel-${algorithm}-${rows}.bin`),
          ...(rows <= 100_000 && algorithm === 'random-forest' ? ['--json-size'] : []),
        ],
        { maxBuffer: 1 << 24 },
      );
      record(rows, label, JSON.parse(stdout));
    };
    const sklearn = async (algo, jobs, label) => {
      if (!sklearnVersion || rows > sklearnMaxRows) return;
      const out = path.join(dir, `sklearn-${algo}-${jobs}-${rows}.joblib`);
      const { stdout } = await run(
        PYTHON,
        [path.join(here, 'learner_sklearn.py'), trainCsv, holdoutCsv, algo, jobs, out],
        {
          maxBuffer: 1 << 24,
        },
      );
      record(rows, label, JSON.parse(stdout));
      await rm(out, { force: true });
    };
    await ours('random-forest', 'flywheel forest');
    await sklearn('rf', '1', 'sklearn RF n_jobs=1');
    await sklearn('rf', '-1', 'sklearn RF n_jobs=-1');
    await ours('gradient-boosting', 'flywheel boosting');
    await sklearn('hgb', '1', 'sklearn HGB');
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** Threads for our forest, trees kept for our boosting, iterations run for scikit-learn's. */
function detail(learner, r) {
  if (learner === 'flywheel forest') return ` (${r.threads} thread${r.threads > 1 ? 's' : ''})`;
  if (learner === 'flywheel boosting') return ` (${r.trees} trees)`;
  return r.iterations ? ` (${r.iterations} iter)` : '';
}

function record(rows, learner, r) {
  results.push({ rows, learner, ...r });
  const mb = (b) => (b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 1);
  if (results.length === 1) {
    console.log(
      '| rows | learner | fit s | peak RSS MB | R² | MAE | artifact MB | load ms | 1-row µs | 1,000-row ms |',
    );
    console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  }
  console.log(
    `| ${rows.toLocaleString('en')} | ${learner}${detail(learner, r)} ` +
      `| ${r.fitSeconds.toFixed(2)} | ${r.peakRssMB.toFixed(0)} | ${r.r2.toFixed(4)} | ${r.mae.toFixed(3)} ` +
      `| ${mb(r.artifactBytes)} | ${r.loadMs.toFixed(0)} | ${r.oneRowMicros.toFixed(1)} | ${r.batchMs.toFixed(2)} |`,
  );
}

// The targets, from the figures above.
const find = (rows, learner) => results.find((r) => r.rows === rows && r.learner === learner);
const lines = [];
const check = (ok, text) => lines.push(`${ok === null ? '–' : ok ? '✓' : '✗'} ${text}`);
for (const rows of [10_000, 100_000]) {
  const f = find(rows, 'flywheel forest');
  const s = find(rows, 'sklearn RF n_jobs=-1');
  if (!f) continue;
  if (s) {
    check(
      Math.abs(f.r2 - s.r2) <= 0.005,
      `forest R² at ${rows.toLocaleString('en')} rows: ${f.r2.toFixed(4)} vs ${s.r2.toFixed(4)} (within 0.005)`,
    );
    check(
      f.fitSeconds <= 0.5 * s.fitSeconds,
      `forest fit at ${rows.toLocaleString('en')} rows: ${f.fitSeconds.toFixed(2)} s vs n_jobs=-1 ${s.fitSeconds.toFixed(2)} s (≤ 0.5×: ${(f.fitSeconds / s.fitSeconds).toFixed(2)}×)`,
    );
  }
}
const million = find(1_000_000, 'flywheel forest');
if (million)
  check(
    true,
    `forest at 1,000,000 rows finished: ${million.fitSeconds.toFixed(1)} s, peak RSS ${million.peakRssMB.toFixed(0)} MB`,
  );
const gb = find(100_000, 'flywheel boosting');
const hgb = find(100_000, 'sklearn HGB');
if (gb && hgb) {
  check(
    Math.abs(gb.r2 - hgb.r2) <= 0.003,
    `boosting R² at 100,000 rows: ${gb.r2.toFixed(4)} vs ${hgb.r2.toFixed(4)} (within 0.003)`,
  );
  check(
    gb.fitSeconds <= 2 * hgb.fitSeconds,
    `boosting fit at 100,000 rows: ${gb.fitSeconds.toFixed(2)} s vs ${hgb.fitSeconds.toFixed(2)} s (≤ 2×: ${(gb.fitSeconds / hgb.fitSeconds).toFixed(2)}×)`,
  );
}
const big = find(100_000, 'flywheel forest');
const bigSk = find(100_000, 'sklearn RF n_jobs=-1') ?? find(100_000, 'sklearn RF n_jobs=1');
if (big) {
  check(
    big.oneRowMicros <= 20,
    `1-row prediction, 100-tree forest on 100,000 rows: ${big.oneRowMicros.toFixed(1)} µs median (≤ 20)`,
  );
  check(big.batchMs <= 2, `1,000-row batch, same forest: ${big.batchMs.toFixed(2)} ms (≤ 2)`);
  check(big.loadMs <= 500, `artifact load at 100,000 rows: ${big.loadMs.toFixed(0)} ms (≤ 500)`);
  if (bigSk) {
    check(
      big.artifactBytes * 5 <= bigSk.artifactBytes,
      `artifact ${(big.artifactBytes / 2 ** 20).toFixed(1)} MB vs joblib ${(bigSk.artifactBytes / 2 ** 20).toFixed(0)} MB (≤ 1/5: 1/${(bigSk.artifactBytes / big.artifactBytes).toFixed(1)})`,
    );
  }
  if (big.json) {
    check(
      null,
      `format choice: the same forest as JSON is ${(big.json.bytes / 2 ** 20).toFixed(0)} MB and parses in ${big.json.parseMs.toFixed(0)} ms (binary: ${(big.artifactBytes / 2 ** 20).toFixed(0)} MB, ${big.loadMs.toFixed(0)} ms with validation)`,
    );
  }
}
console.log(
  `# load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log('');
console.log('targets:');
for (const l of lines) console.log(`  ${l}`);
