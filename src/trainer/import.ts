// `flywheel import FILE`: a model trained elsewhere becomes a registry version through the trainer's
// own path — validated in full before the registry is touched, scored on evaluation rows when given,
// published with its origin, then the same promotion policy and retention as `flywheel train`.
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.js';
import { encodeArtifact, featureSchema } from '../model/index.js';
import { readModelFile, splitRanges, type ImportFormat } from '../model/import/index.js';
import type { Dataset, FeatureSchema, HoldoutMetrics } from '../model/types.js';
import { Registry } from '../registry/index.js';
import { PACKAGE_VERSION } from '../version.js';
import { SYNTHETIC_TARGET, readSource } from './data/index.js';
import { decideAndPrune, outcomeFields } from './decide.js';
import { scoreOn } from './evaluate.js';
import { importParameters, originOfRead } from './origin.js';
import { trainingReference } from './reference.js';
import type { TrainSummary } from './pipeline.js';
import type { PromotionPolicy } from './policy.js';
import { STALE_TEMP_MS } from './pipeline.js';
import { FlywheelError } from '../errors.js';

export interface ImportOptions {
  readonly registry: string;
  readonly file: string;
  readonly format: ImportFormat;
  readonly python: string;
  readonly features: readonly string[];
  readonly target?: string;
  /** Evaluation rows (synthetic | csv:<path> | jsonl:<path>); undefined: not evaluated. */
  readonly eval?: string;
  readonly rows: number;
  readonly seed: number;
  readonly promote: PromotionPolicy;
  readonly tolerance: number;
  readonly keep: number;
  /** Quantile bins of the drift reference, computed from the evaluation rows when given. */
  readonly referenceBins?: number;
}

/** `flywheel train`'s summary; metrics are null when no evaluation data was given. */
export type ImportSummary = Omit<TrainSummary, 'metrics'> & { readonly metrics: HoldoutMetrics | null };

export async function importOnce(options: ImportOptions, log: Logger): Promise<ImportSummary> {
  const started = performance.now();
  const read = await readModelFile(options.file, {
    format: options.format,
    python: options.python,
    features: options.features,
    target: options.target,
    defaultTarget: SYNTHETIC_TARGET,
  });
  const model = read.model;
  const readSeconds = (performance.now() - started) / 1000;
  log.info(
    {
      file: options.file,
      format: read.format,
      trees: model.treeCount,
      nodes: model.nodeCount,
      seconds: readSeconds,
    },
    'model read',
  );

  let holdout: Dataset | null = null;
  let metrics: HoldoutMetrics | null = null;
  let features: FeatureSchema[] = splitRanges(model);
  let data = { source: `import:${path.basename(options.file)}`, rows: 0, sha256: read.sha256 };
  if (options.eval !== undefined) {
    const { dataset, provenance } = await readSource(options.eval, {
      target: model.targetName,
      features: [...model.featureNames],
      rows: options.rows,
      seed: options.seed,
    });
    const scored = scoreOn(model, dataset);
    if ('mismatch' in scored) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FEATURES',
        `the evaluation data cannot score the model: ${scored.mismatch}`,
      );
    }
    holdout = dataset;
    metrics = scored.metrics;
    const byName = new Map(featureSchema(dataset).map((f) => [f.name, f]));
    features = model.featureNames.map((n) => byName.get(n) as FeatureSchema);
    data = provenance;
    log.info({ ...metrics, rows: dataset.rows, source: provenance.source }, 'evaluation metrics');
  }

  // Everything is checked: only now is the registry touched.
  const registry = new Registry(options.registry, { host: `importer@${os.hostname()}` });
  await registry.init();
  await registry.cleanStaleTemps(STALE_TEMP_MS);
  const origin = originOfRead(read, { file: path.basename(options.file) });
  const manifest = await registry.publish({
    artifact: encodeArtifact(model),
    manifest: {
      trainer_host: os.hostname(),
      package_version: PACKAGE_VERSION,
      algorithm: model.algorithm,
      data,
      parameters: importParameters(read),
      metrics,
      fit_seconds: readSeconds,
      features,
      target: model.targetName,
      origin,
      // The training rows stayed where the model was trained: the evaluation rows are the closest
      // picture of what it learned from (docs/drift.md). Without them the version has no reference.
      ...(holdout === null
        ? {}
        : { reference: trainingReference(model, holdout, holdout, options.referenceBins) }),
    },
  });
  const version = manifest.version;
  log.info(
    { version, sha256: manifest.artifact.sha256, bytes: manifest.artifact.bytes, origin },
    'version published',
  );
  const outcome = await decideAndPrune(registry, options, version, metrics, holdout, log);
  return {
    version,
    rows: data.rows,
    holdout_rows: holdout === null ? 0 : holdout.rows,
    fit_seconds: readSeconds,
    metrics,
    ...outcomeFields(outcome),
  };
}
