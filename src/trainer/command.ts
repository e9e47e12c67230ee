// `flywheel train --command CMD`: the user's own training code as the trainer's fit step. Flywheel
// keeps its holdout back, hands the command the training rows as a CSV, and imports the one model
// file the command writes; the holdout scoring, publish and policy that follow are the trainer's own.
//
// The command runs through the shell (it is the user's own command line, as a CronJob's would be),
// in its own process group so that a timeout ends it and everything it started.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TreeEnsemble } from '../model/ensemble.js';
import { readModelFile } from '../model/import/index.js';
import type { Dataset } from '../model/types.js';
import type { ModelOrigin } from '../registry/types.js';
import { writeCsv } from './data/index.js';
import { importParameters, originOfRead } from './origin.js';

export interface CommandSpec {
  readonly command: string;
  readonly timeoutMs: number;
  /** Interpreter of the scikit-learn exporter, when the command writes a joblib/pickle file. */
  readonly python: string;
}

export interface CommandModel {
  readonly model: TreeEnsemble;
  readonly seconds: number;
  readonly origin: ModelOrigin;
  readonly parameters: Record<string, unknown>;
}

/** After SIGTERM, how long the command's process group has before SIGKILL. */
const KILL_GRACE_MS = 5000;

export async function runTrainCommand(spec: CommandSpec, train: Dataset, log: Logger): Promise<CommandModel> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'flywheel-command-'));
  try {
    const data = path.join(work, 'train.csv');
    const modelDir = path.join(work, 'model');
    await mkdir(modelDir);
    await writeCsv(train, data);
    // The command inherits the trainer's environment (PATH, a virtualenv, credentials of the user's
    // own code): passed through to the child, not read as settings.
    const env = {
      ...process.env,
      FLYWHEEL_TRAIN_DATA: data,
      FLYWHEEL_FEATURES: train.featureNames.join(','),
      FLYWHEEL_TARGET: train.targetName,
      FLYWHEEL_MODEL_DIR: modelDir,
    };
    log.info({ command: spec.command, rows: train.rows, model_dir: modelDir }, 'training command started');
    const started = performance.now();
    await runCommand(spec, env, log);
    const seconds = (performance.now() - started) / 1000;

    const files = await readdir(modelDir);
    if (files.length !== 1) {
      throw new FlywheelError(
        'FLY_ERR_TRAIN_COMMAND_OUTPUT',
        files.length === 0
          ? `the training command wrote no model file into FLYWHEEL_MODEL_DIR`
          : `the training command wrote ${files.length} entries into FLYWHEEL_MODEL_DIR (${files.slice(0, 5).join(', ')}); write exactly one model file`,
      );
    }
    const file = path.join(modelDir, files[0]);
    if (!(await stat(file)).isFile()) {
      throw new FlywheelError(
        'FLY_ERR_TRAIN_COMMAND_OUTPUT',
        `${files[0]} in FLYWHEEL_MODEL_DIR is not a file`,
      );
    }
    const read = await readModelFile(file, {
      format: 'auto',
      python: spec.python,
      features: train.featureNames,
      target: train.targetName,
      defaultTarget: train.targetName,
    });
    log.info(
      { file: files[0], format: read.format, trees: read.model.treeCount, seconds },
      'training command model read',
    );
    return {
      model: read.model,
      seconds,
      origin: originOfRead(read, { command: spec.command }),
      parameters: { command: spec.command, ...importParameters(read) },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function runCommand(spec: CommandSpec, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.command, {
      shell: true,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    for (const [name, stream] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        log.info({ stream: name, line }, 'training command output');
        if (name === 'stderr') {
          tail.push(line);
          if (tail.length > 5) tail.shift();
        }
      });
    }
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      killer = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
    }, spec.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new FlywheelError(
          'FLY_ERR_TRAIN_COMMAND_FAILED',
          `the training command cannot start: ${err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      if (timedOut) {
        reject(
          new FlywheelError(
            'FLY_ERR_TRAIN_COMMAND_TIMEOUT',
            `the training command ran past --command-timeout (${spec.timeoutMs / 1000}s) and was stopped`,
          ),
        );
      } else if (code !== 0) {
        const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(
          new FlywheelError(
            'FLY_ERR_TRAIN_COMMAND_FAILED',
            `the training command ${how}${tail.length > 0 ? `: ${tail.join(' | ').slice(0, 500)}` : ''}`,
            { code, signal },
          ),
        );
      } else resolve();
    });
  });
}
