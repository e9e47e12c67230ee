// One training run, independent of flags and the command line: read → split → fit → evaluate →
// score production on the same holdout → publish → promotion policy → retention. Every input is
// checked before the registry is touched, and the registry is checked before the (long) fit, so bad
// input or an unwritable registry fails fast and leaves the registry as it was.
import os from 'node:os';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  encodeArtifact,
  featureSchema,
  fitModel,
  validateFitParams,
  type FitParams,
  type TreeEnsemble,
} from '../model/index.js';
import type { Dataset, HoldoutMetrics } from '../model/types.js';
import { Registry } from '../registry/index.js';
import type { AliasName, ModelOrigin } from '../registry/types.js';
import { PACKAGE_VERSION } from '../version.js';
import { readSource, splitHoldout } from './data/index.js';
import { scoreOn } from './evaluate.js';
import { trainingReference } from './reference.js';
import { runTrainCommand, type CommandSpec } from './command.js';
import { decideAndPrune, outcomeFields } from './decide.js';
import type { PromotionPolicy } from './policy.js';
import { formatSourceSpec, parseSourceSpec } from './source.js';

/** Temp files younger than this may belong to a live trainer (a publish takes well under a second). */
export const STALE_TEMP_MS = 10 * 60_000;
/** Fewest rows either side of the split that give a meaningful fit and holdout score. */
export const MIN_TRAIN_ROWS = 10;
export const MIN_HOLDOUT_ROWS = 5;

export interface TrainOptions {
  readonly registry: string;
  /** synthetic | csv:<path> | jsonl:<path> | feedback | <source>+feedback */
  readonly source: string;
  /** Rows of synthetic data. */
  readonly rows: number;
  /** Seeds the data generator, the split and (through `fit.seed`) the learner. */
  readonly seed: number;
  readonly target?: string;
  /** Empty: every column but the target. */
  readonly features: readonly string[];
  /** Share of rows held out for evaluation. */
  readonly holdout: number;
  readonly fit: FitParams;
  /** Worker threads for the fit; 0 = all cores. */
  readonly threads: number;
  readonly promote: PromotionPolicy;
  readonly tolerance: number;
  readonly keep: number;
  /** Quantile bins of the drift reference stored in the manifest (default 10). */
  readonly referenceBins?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Called when the fit ends (boosting may stop before its last round), e.g. to clear a progress line. */
  readonly onFitEnd?: () => void;
  /** Run this training command instead of the learner (command.ts). */
  readonly command?: CommandSpec;
}

export interface TrainSummary {
  readonly version: string;
  /** Rows read from the source (train + holdout). */
  readonly rows: number;
  readonly holdout_rows: number;
  readonly fit_seconds: number;
  readonly metrics: HoldoutMetrics;
  /** The production version before this run, and its score on this run's holdout when comparable. */
  readonly production_version: string | null;
  readonly production_metrics: HoldoutMetrics | null;
  /** True when production now points at the new version. */
  readonly promoted: boolean;
  /** The alias that now points at the new version, if any. */
  readonly alias: AliasName | null;
  readonly reason: string;
  readonly pruned: readonly string[];
}

export async function trainOnce(options: TrainOptions, log: Logger): Promise<TrainSummary> {
  const spec = parseSourceSpec(options.source);
  const fitParams = validateFitParams(options.fit);

  const { dataset, provenance } = await readSource(formatSourceSpec(spec), {
    ...(options.target === undefined ? {} : { target: options.target }),
    // An empty list means "every column but the target", which the readers spell as no list.
    ...(options.features.length === 0 ? {} : { features: [...options.features] }),
    rows: options.rows,
    seed: options.seed,
    registry: options.registry,
  });
  log.info({ source: provenance.source, rows: provenance.rows, sha256: provenance.sha256 }, 'data read');
  const { train, holdout } = splitHoldout(dataset, options.holdout, options.seed);
  checkSplit(train, holdout, options.holdout);
  log.info({ train: train.rows, holdout: holdout.rows, features: dataset.featureNames }, 'data split');

  const registry = new Registry(options.registry, { host: `trainer@${os.hostname()}` });
  await registry.init();
  const cleaned = await registry.cleanStaleTemps(STALE_TEMP_MS);
  if (cleaned.length > 0) log.info({ removed: cleaned }, 'stale temp files removed');

  const fitted =
    options.command === undefined
      ? await fitWithLearner(train, fitParams, options, log)
      : await fitWithCommand(options.command, train, options.holdout, log);
  const { model, fitSeconds } = fitted;

  const scored = scoreOn(model, holdout);
  if ('mismatch' in scored)
    throw new FlywheelError('FLY_ERR_INTERNAL', `holdout scoring failed: ${scored.mismatch}`);
  const metrics = scored.metrics;
  log.info({ ...metrics, holdout_rows: holdout.rows }, 'holdout metrics');

  const manifest = await registry.publish({
    artifact: encodeArtifact(model),
    manifest: {
      trainer_host: os.hostname(),
      package_version: PACKAGE_VERSION,
      algorithm: model.algorithm,
      data: provenance,
      parameters: fitted.parameters,
      metrics,
      fit_seconds: fitSeconds,
      features: featureSchema(train),
      target: dataset.targetName,
      reference: trainingReference(model, train, holdout, options.referenceBins),
      ...(fitted.origin === undefined ? {} : { origin: fitted.origin }),
    },
  });
  const version = manifest.version;
  log.info(
    { version, sha256: manifest.artifact.sha256, bytes: manifest.artifact.bytes },
    'version published',
  );

  const outcome = await decideAndPrune(registry, options, version, metrics, holdout, log);

  return {
    version,
    rows: provenance.rows,
    holdout_rows: holdout.rows,
    fit_seconds: fitSeconds,
    metrics,
    ...outcomeFields(outcome),
  };
}

interface Fitted {
  readonly model: TreeEnsemble;
  readonly fitSeconds: number;
  readonly parameters: Record<string, unknown>;
  /** Absent for the learner's own models. */
  readonly origin?: ModelOrigin;
}

async function fitWithLearner(
  train: Dataset,
  fitParams: FitParams,
  options: TrainOptions,
  log: Logger,
): Promise<Fitted> {
  const { model, timings, workers } = await fitModel(train, fitParams, {
    threads: options.threads,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  options.onFitEnd?.();
  log.info({ fit_seconds: timings.total, timings, workers, algorithm: fitParams.algorithm }, 'model fitted');
  return { model, fitSeconds: timings.total, parameters: { ...fitParams, holdout: options.holdout } };
}

async function fitWithCommand(
  spec: CommandSpec,
  train: Dataset,
  holdout: number,
  log: Logger,
): Promise<Fitted> {
  const run = await runTrainCommand(spec, train, log);
  return {
    model: run.model,
    fitSeconds: run.seconds,
    parameters: { ...run.parameters, holdout },
    origin: run.origin,
  };
}

function checkSplit(train: Dataset, holdout: Dataset, fraction: number): void {
  if (holdout.rows < MIN_HOLDOUT_ROWS || train.rows < MIN_TRAIN_ROWS) {
    throw new FlywheelError(
      'FLY_ERR_HOLDOUT_TOO_SMALL',
      `--holdout ${fraction} of ${train.rows + holdout.rows} rows leaves ${train.rows} to train on and ${holdout.rows} to evaluate; ` +
        `need at least ${MIN_TRAIN_ROWS} and ${MIN_HOLDOUT_ROWS}: give more rows or change --holdout`,
      { train: train.rows, holdout: holdout.rows },
    );
  }
}
