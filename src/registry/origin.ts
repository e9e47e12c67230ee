// One line on where a version came from, as /model-info, `flywheel models` and the dashboard show it.
import type { Manifest, ModelOrigin } from './types.js';

export function originOf(manifest: Pick<Manifest, 'origin'>): ModelOrigin {
  return manifest.origin ?? { kind: 'flywheel' };
}

/** e.g. `Flywheel learner`, `XGBoost 1.7.4 (reg:squarederror)`, `scikit-learn 1.2.1 RandomForestRegressor via command "python train.py"`. */
export function describeOrigin(manifest: Pick<Manifest, 'origin'>): string {
  const o = originOf(manifest);
  const detail = (parts: (string | undefined)[]) =>
    parts.filter((p) => p !== undefined && p !== '').join(' ');
  let text: string;
  if (o.kind === 'flywheel') text = 'Flywheel learner';
  else if (o.kind === 'xgboost') {
    text = detail(['XGBoost', o.library_version, o.objective === undefined ? undefined : `(${o.objective})`]);
  } else if (o.kind === 'scikit-learn') {
    text = detail([
      'scikit-learn',
      o.library_version,
      o.estimator,
      o.objective === undefined ? undefined : `(${o.objective})`,
    ]);
  } else text = detail(['interchange file', o.estimator === undefined ? undefined : `(${o.estimator})`]);
  if (o.command !== undefined) text += ` via command ${JSON.stringify(o.command)}`;
  else if (o.file !== undefined) text += `, imported from ${o.file}`;
  return text;
}
