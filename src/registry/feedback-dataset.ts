// Reading the feedback log for training: feedback joined to the predictions it grades, as a data set
// alone or appended to another source's rows.
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { FlywheelError } from '../errors.js';
import type { Dataset } from '../model/types.js';
import { isRecord } from './feedback-body.js';
import { FEEDBACK_DIR } from './feedback-log.js';

export interface FeedbackDatasetOptions {
  readonly targetName: string;
  /** Feature columns; by default the numeric fields of the first joined prediction, minus user_id. */
  readonly featureNames?: readonly string[];
}

export interface FeedbackDatasetResult {
  readonly dataset: Dataset;
  /** sha256 of the joined rows, for the manifest's provenance. */
  readonly sha256: string;
  /** Feedback whose prediction was not found or lacked a feature. */
  readonly skipped: number;
  /** Feedback lines recorded more than once (by racing replicas): only the first counts. */
  readonly duplicates: number;
}

/** Fields of a /predict body that are never features. */
const NOT_FEATURES = new Set(['user_id', 'request_id']);

async function forEachRecord(dir: string, fn: (rec: Record<string, unknown>) => void): Promise<void> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const lines = readline.createInterface({
      input: fs.createReadStream(path.join(dir, name), 'utf8'),
      crlfDelay: Infinity,
    });
    for await (const line of lines) {
      if (line === '') continue;
      try {
        const rec: unknown = JSON.parse(line);
        if (isRecord(rec) && typeof rec.request_id === 'string') fn(rec);
      } catch {
        // A torn last line of a replica that was killed mid-write: not data.
      }
    }
  }
}

/**
 * Joins the feedback in `<registry>/feedback` with the predictions it grades into a training data set:
 * the logged features as columns, the reported `actual` as the target. Two passes so that memory holds
 * only the requests that have feedback, not every prediction ever logged.
 */
export async function readFeedbackDataset(
  registryDir: string,
  options: FeedbackDatasetOptions,
): Promise<FeedbackDatasetResult> {
  const dir = path.join(registryDir, FEEDBACK_DIR);
  const actuals = new Map<string, { actual: number; time: string }>();
  let duplicates = 0;
  await forEachRecord(dir, (rec) => {
    if (rec.type !== 'feedback' || typeof rec.actual !== 'number' || !Number.isFinite(rec.actual)) return;
    const id = rec.request_id as string;
    const time = typeof rec.time === 'string' ? rec.time : '';
    const seen = actuals.get(id);
    if (seen) {
      duplicates += 1;
      if (time < seen.time) actuals.set(id, { actual: rec.actual, time });
    } else actuals.set(id, { actual: rec.actual, time });
  });
  const features = new Map<string, Record<string, unknown>>();
  await forEachRecord(dir, (rec) => {
    if (rec.type !== 'prediction' || !isRecord(rec.features)) return;
    const id = rec.request_id as string;
    if (actuals.has(id) && !features.has(id)) features.set(id, rec.features);
  });
  // Request-id order makes the data set (and its hash) independent of file order.
  const ids = [...actuals.keys()].filter((id) => features.has(id)).sort();
  let featureNames =
    options.featureNames && options.featureNames.length > 0 ? [...options.featureNames] : null;
  if (featureNames === null) {
    const first = ids.length > 0 ? features.get(ids[0]) : undefined;
    featureNames = first
      ? Object.keys(first).filter(
          (k) => !NOT_FEATURES.has(k) && k !== options.targetName && typeof first[k] === 'number',
        )
      : [];
  }
  const rows: { id: string; x: number[]; y: number }[] = [];
  for (const id of ids) {
    const f = features.get(id) as Record<string, unknown>;
    const x = featureNames.map((name) => f[name]);
    if (x.every((v): v is number => typeof v === 'number' && Number.isFinite(v))) {
      rows.push({ id, x, y: (actuals.get(id) as { actual: number }).actual });
    }
  }
  if (rows.length === 0) {
    throw new FlywheelError(
      'FLY_ERR_DATA_EMPTY',
      `no feedback joined to a logged prediction in ${dir} (${actuals.size} feedback record(s))`,
    );
  }
  const hash = createHash('sha256');
  hash.update(`${featureNames.join(',')},${options.targetName}\n`);
  const columns = featureNames.map(() => new Float64Array(rows.length));
  const target = new Float64Array(rows.length);
  rows.forEach((row, i) => {
    for (let j = 0; j < row.x.length; j++) columns[j][i] = row.x[j];
    target[i] = row.y;
    hash.update(`${row.x.join(',')},${row.y}\n`);
  });
  return {
    dataset: { featureNames, targetName: options.targetName, rows: rows.length, columns, target },
    sha256: hash.digest('hex'),
    skipped: actuals.size - rows.length,
    duplicates,
  };
}

/**
 * `<source>+feedback`: another source's rows followed by the feedback rows, on the other source's
 * feature columns and target (feedback rows lacking one of those features are skipped; no feedback at
 * all gives the other source alone, with `feedback.dataset.rows` 0).
 */
export async function mixWithFeedback(
  base: Dataset,
  registryDir: string,
): Promise<{ dataset: Dataset; feedback: FeedbackDatasetResult }> {
  let feedback: FeedbackDatasetResult;
  try {
    feedback = await readFeedbackDataset(registryDir, {
      targetName: base.targetName,
      featureNames: base.featureNames,
    });
  } catch (err) {
    // No feedback yet is normal for a scheduled `synthetic+feedback` run: train on the base alone.
    if (!(err instanceof FlywheelError && err.code === 'FLY_ERR_DATA_EMPTY')) throw err;
    return {
      dataset: base,
      feedback: {
        dataset: { ...base, rows: 0, columns: [], target: new Float64Array(0) },
        sha256: '',
        skipped: 0,
        duplicates: 0,
      },
    };
  }
  const rows = base.rows + feedback.dataset.rows;
  const columns = base.featureNames.map((_, j) => {
    const col = new Float64Array(rows);
    col.set(base.columns[j], 0);
    col.set(feedback.dataset.columns[j], base.rows);
    return col;
  });
  const target = new Float64Array(rows);
  target.set(base.target, 0);
  target.set(feedback.dataset.target, base.rows);
  return {
    dataset: { featureNames: base.featureNames, targetName: base.targetName, rows, columns, target },
    feedback,
  };
}
