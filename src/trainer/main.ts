// `flywheel train`: maps the validated config onto one pipeline run (pipeline.ts) and shows progress
// of a long fit: a live line on a terminal, a log line every few seconds otherwise.
import type { ImportConfig, TrainConfig } from '../config.js';
import type { Logger } from '../log.js';
import { importOnce, type ImportSummary } from './import.js';
import { trainOnce, type TrainOptions, type TrainSummary } from './pipeline.js';

export type { TrainSummary } from './pipeline.js';

/** Progress appears only for fits longer than this: short runs stay quiet. */
const PROGRESS_AFTER_MS = 1000;

export function trainOptionsFromConfig(config: TrainConfig): Omit<TrainOptions, 'onProgress'> {
  return {
    registry: config.registry,
    source: config.source,
    rows: config.rows,
    seed: config.seed,
    ...(config.target === undefined ? {} : { target: config.target }),
    features: config.features,
    holdout: config.holdout,
    fit: {
      algorithm: config.algorithm,
      trees: config.trees,
      maxDepth: config.maxDepth,
      minSamplesLeaf: config.minSamplesLeaf,
      maxFeatures: config.maxFeatures,
      maxLeaves: config.maxLeaves,
      learningRate: config.learningRate,
      earlyStopping: config.earlyStopping,
      seed: config.seed,
    },
    threads: config.threads,
    promote: config.promote,
    tolerance: config.tolerance,
    keep: config.keep,
    referenceBins: config.referenceBins,
    ...(config.command === undefined
      ? {}
      : { command: { command: config.command, timeoutMs: config.commandTimeout, python: config.python } }),
  };
}

/** Reports fit progress: a rewritten line on a TTY (≤ 10 per second), else a log line every 5 s. */
function progressReporter(
  log: Logger,
  stream: NodeJS.WriteStream,
): { onProgress: (done: number, total: number) => void; finish: () => void } {
  const start = Date.now();
  const tty = stream.isTTY === true;
  let last = 0;
  let drawn = false;
  return {
    onProgress(done, total) {
      const now = Date.now();
      if (now - start < PROGRESS_AFTER_MS || (now - last < (tty ? 100 : 5000) && done < total)) return;
      last = now;
      const pct = Math.floor((100 * done) / total);
      if (tty) {
        const width = 30;
        const bar = '#'.repeat(Math.round((width * done) / total)).padEnd(width, '.');
        stream.write(
          `\r  fitting [${bar}] ${done}/${total} (${pct}%) ${((now - start) / 1000).toFixed(1)}s `,
        );
        drawn = true;
      } else {
        log.info({ done, total, percent: pct }, 'fit progress');
      }
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

export async function runTrain(config: TrainConfig, log: Logger): Promise<TrainSummary> {
  const progress = progressReporter(log, process.stderr);
  try {
    return await trainOnce(
      { ...trainOptionsFromConfig(config), onProgress: progress.onProgress, onFitEnd: progress.finish },
      log,
    );
  } finally {
    progress.finish();
  }
}

export async function runImport(file: string, config: ImportConfig, log: Logger): Promise<ImportSummary> {
  return importOnce(
    {
      registry: config.registry,
      file,
      format: config.format,
      python: config.python,
      features: config.features,
      ...(config.target === undefined ? {} : { target: config.target }),
      ...(config.eval === undefined ? {} : { eval: config.eval }),
      rows: config.rows,
      seed: config.seed,
      promote: config.promote,
      tolerance: config.tolerance,
      keep: config.keep,
      referenceBins: config.referenceBins,
    },
    log,
  );
}
