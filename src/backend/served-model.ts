// One loaded model version as the routes use it: the predictor, its manifest, a feature reader and
// reusable buffers. Built once per load and checked before it may serve (TF Serving's "loader").
import { FlywheelError } from '../errors.js';
import type { Predictor } from '../model/types.js';
import type { Manifest } from '../registry/types.js';
import { FeatureReader } from './features.js';

export class ServedModel {
  readonly version: string;
  readonly manifest: Manifest;
  readonly predictor: Predictor;
  readonly reader: FeatureReader;
  /**
   * The row buffer of single predictions. Sharing one per model is safe: a prediction is read,
   * computed and answered without yielding to the event loop, so two requests never hold it at once.
   */
  readonly row: Float64Array;
  #batchX = new Float64Array(0);
  #batchOut = new Float64Array(0);

  constructor(version: string, manifest: Manifest, predictor: Predictor) {
    const names = manifest.features.map((f) => f.name);
    const problems: string[] = [];
    if (manifest.version !== version) problems.push(`manifest names version ${manifest.version}`);
    if (names.length === 0) problems.push('the model has no features');
    if (names.join('\0') !== predictor.featureNames.join('\0')) {
      problems.push(
        `manifest features [${names.join(', ')}] differ from the model's [${predictor.featureNames.join(', ')}]`,
      );
    }
    if (manifest.target !== predictor.targetName) {
      problems.push(`manifest target ${manifest.target} differs from the model's ${predictor.targetName}`);
    }
    for (const f of manifest.features) {
      if (!Number.isFinite(f.min) || !Number.isFinite(f.max) || f.min > f.max) {
        problems.push(`feature ${f.name} has no valid training range`);
      }
    }
    if (problems.length > 0) {
      throw new FlywheelError('FLY_ERR_ARTIFACT_INVALID', `version ${version}: ${problems.join('; ')}`, {
        version,
        problems,
      });
    }
    this.version = version;
    this.manifest = manifest;
    this.predictor = predictor;
    this.reader = new FeatureReader(manifest.features);
    this.row = new Float64Array(names.length);

    // A model that cannot answer the middle of its own training range must never take traffic.
    manifest.features.forEach((f, j) => (this.row[j] = (f.min + f.max) / 2));
    const probe = predictor.predictRow(this.row);
    if (!Number.isFinite(probe)) {
      throw new FlywheelError(
        'FLY_ERR_ARTIFACT_INVALID',
        `version ${version}: the model answers ${probe} for the middle of its training range`,
        { version, probe: String(probe) },
      );
    }
  }

  get trainingTime(): string {
    return this.manifest.created_at;
  }

  /** Row-major input and output buffers for `n` rows, grown on demand and reused (same reasoning as `row`). */
  batchBuffers(n: number): { x: Float64Array; out: Float64Array } {
    const need = n * this.reader.size;
    if (this.#batchX.length < need) this.#batchX = new Float64Array(Math.max(need, this.#batchX.length * 2));
    if (this.#batchOut.length < n) this.#batchOut = new Float64Array(Math.max(n, this.#batchOut.length * 2));
    return { x: this.#batchX, out: this.#batchOut };
  }
}
