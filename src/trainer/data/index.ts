// Training data for the trainer: where rows come from (synthetic, CSV, JSON Lines), with provenance,
// and the seeded train/holdout split.
import { FlywheelError } from '../../errors.js';
import { Rng, deriveSeed } from '../../model/random.js';
import type { Dataset } from '../../model/types.js';
import { checkTrainable, selectColumns } from './columns.js';
import { csvChunks, readCsv } from './csv.js';
import { readJsonl } from './jsonl.js';
import { mixWithFeedback, readFeedbackDataset } from '../../registry/feedback.js';
import { whileReadingFeedback } from '../../registry/feedback-retention.js';
import { Registry } from '../../registry/registry.js';
import { SYNTHETIC_TARGET, generateSynthetic } from './synthetic.js';
import { createHash } from 'node:crypto';

export { generateSynthetic, SYNTHETIC_FEATURES, SYNTHETIC_TARGET } from './synthetic.js';
export { writeCsv, readCsv, csvChunks } from './csv.js';
export { readJsonl } from './jsonl.js';

export interface SourceOptions {
  /** Target column (default engagement_score). */
  target?: string;
  /** Feature columns (default: every column but the target). */
  features?: readonly string[];
  /** Rows to generate (synthetic only; files are read whole). */
  rows: number;
  /** Seed of the synthetic generator. */
  seed: number;
  /** Registry folder: where `feedback` and `<source>+feedback` read the gateway's feedback. */
  registry?: string;
}

export interface Provenance {
  source: string;
  rows: number;
  /** sha256 of the bytes read, or of the CSV text of the generated rows for `synthetic`. */
  sha256: string;
}

export async function readSource(
  spec: string,
  opts: SourceOptions,
): Promise<{ dataset: Dataset; provenance: Provenance }> {
  const target = opts.target ?? SYNTHETIC_TARGET;
  if (spec === 'feedback' || spec.endsWith('+feedback')) return readFeedbackSource(spec, target, opts);
  let dataset: Dataset;
  let sha256: string;
  if (spec === 'synthetic') {
    const all = generateSynthetic(opts.rows, opts.seed);
    const { featureNames } = selectColumns(
      spec,
      [...all.featureNames, all.targetName],
      target,
      opts.features,
    );
    dataset = {
      ...all,
      featureNames,
      columns: featureNames.map((n) => all.columns[all.featureNames.indexOf(n)]),
    };
    checkTrainable(dataset, spec);
    const hash = createHash('sha256');
    for (const piece of csvChunks(dataset)) hash.update(piece);
    sha256 = hash.digest('hex');
  } else if (spec.startsWith('csv:') && spec.length > 4) {
    ({ dataset, sha256 } = await readCsv(spec.slice(4), { source: spec, target, features: opts.features }));
  } else if (spec.startsWith('jsonl:') && spec.length > 6) {
    ({ dataset, sha256 } = await readJsonl(spec.slice(6), { source: spec, target, features: opts.features }));
  } else {
    throw new FlywheelError(
      'FLY_ERR_USAGE',
      `unknown data source "${spec}": use synthetic, csv:<path> or jsonl:<path>`,
      { source: spec },
    );
  }
  return { dataset, provenance: { source: spec, rows: dataset.rows, sha256 } };
}

/** `feedback` alone or added to another source: delegated to the registry's feedback reader. */
async function readFeedbackSource(
  spec: string,
  target: string,
  opts: SourceOptions,
): Promise<{ dataset: Dataset; provenance: Provenance }> {
  if (opts.registry === undefined) {
    throw new FlywheelError(
      'FLY_ERR_USAGE',
      `--source ${spec} needs the registry folder holding the feedback`,
    );
  }
  let dataset: Dataset;
  let sha256: string;
  // Retention (run by the gateways) deletes nothing while this run reads the feedback folder.
  const registry = new Registry(opts.registry);
  const reading = <T>(read: () => Promise<T>): Promise<T> =>
    whileReadingFeedback(registryDir, (fn) => registry.withLock(() => fn()), read);
  const registryDir = opts.registry;
  if (spec === 'feedback') {
    const fb = await reading(() =>
      readFeedbackDataset(registryDir, {
        targetName: target,
        ...(opts.features ? { featureNames: opts.features } : {}),
      }),
    );
    ({ dataset, sha256 } = { dataset: fb.dataset, sha256: fb.sha256 });
  } else {
    const base = await readSource(spec.slice(0, -'+feedback'.length), opts);
    const mixed = await reading(() => mixWithFeedback(base.dataset, registryDir));
    dataset = mixed.dataset;
    sha256 = createHash('sha256').update(`${base.provenance.sha256}+${mixed.feedback.sha256}`).digest('hex');
  }
  checkTrainable(dataset, spec);
  return { dataset, provenance: { source: spec, rows: dataset.rows, sha256 } };
}

/** Fewest rows on either side of a split: R² needs at least two holdout rows, a tree two to learn from. */
export const MIN_SPLIT_ROWS = 2;

/**
 * Shuffles the rows with the seed and holds out round(rows × fraction) of them. Refuses with
 * FLY_ERR_HOLDOUT_TOO_SMALL when either side would have fewer than MIN_SPLIT_ROWS rows.
 */
export function splitHoldout(
  ds: Dataset,
  fraction: number,
  seed: number,
): { train: Dataset; holdout: Dataset } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new FlywheelError(
      'FLY_ERR_USAGE',
      `the holdout fraction must be between 0 and 1 (got ${fraction})`,
    );
  }
  const held = Math.round(ds.rows * fraction);
  if (held < MIN_SPLIT_ROWS || ds.rows - held < MIN_SPLIT_ROWS) {
    throw new FlywheelError(
      'FLY_ERR_HOLDOUT_TOO_SMALL',
      `holding out ${fraction} of ${ds.rows} rows leaves ${held} for the holdout and ${ds.rows - held} for training; each needs at least ${MIN_SPLIT_ROWS}`,
      { rows: ds.rows, fraction, holdout: held, train: ds.rows - held },
    );
  }
  const order = Int32Array.from({ length: ds.rows }, (_, i) => i);
  new Rng(deriveSeed(seed, 0x5b117)).shuffle(order);
  return { holdout: takeRows(ds, order.subarray(0, held)), train: takeRows(ds, order.subarray(held)) };
}

/** The rows `index` of a data set, in that order. */
export function takeRows(ds: Dataset, index: Int32Array): Dataset {
  const pick = (col: Float64Array) => {
    const out = new Float64Array(index.length);
    for (let i = 0; i < index.length; i++) out[i] = col[index[i]];
    return out;
  };
  return {
    featureNames: ds.featureNames,
    targetName: ds.targetName,
    rows: index.length,
    columns: ds.columns.map(pick),
    target: pick(ds.target),
  };
}
