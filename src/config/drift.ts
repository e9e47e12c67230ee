// Drift monitoring (docs/drift.md): the reference the trainer stores, the gateway's live window and
// thresholds, and `flywheel up`'s retraining when production drifts. Spread into the role tables.
import { bool, duration, int, num } from './kinds.js';

/** `flywheel train` (and import): the reference distribution stored in the manifest. */
export const driftTrain = {
  referenceBins: int(
    '--reference-bins <n>',
    'FLYWHEEL_REFERENCE_BINS',
    'quantile bins of the reference distribution stored per feature for drift monitoring',
    10,
    { min: 2, max: 100 },
  ),
};

/** `flywheel gateway`: the live comparison. */
export const driftGateway = {
  driftWindow: int(
    '--drift-window <n>',
    'FLYWHEEL_DRIFT_WINDOW',
    'sliding window of drift monitoring: the last n requests each version answered (0 turns drift monitoring off)',
    1000,
    { min: 0, max: 1_000_000 },
  ),
  driftMinRequests: int(
    '--drift-min-requests <n>',
    'FLYWHEEL_DRIFT_MIN_REQUESTS',
    'requests a version needs in its window before drift gets a verdict',
    200,
    { min: 1 },
  ),
  driftWarn: num(
    '--drift-warn <psi>',
    'FLYWHEEL_DRIFT_WARN',
    'PSI at which a feature is reported as shifting (warn)',
    0.1,
    { min: 0 },
  ),
  driftAlert: num(
    '--drift-alert <psi>',
    'FLYWHEEL_DRIFT_ALERT',
    'PSI at which a feature counts as drifted (alert)',
    0.25,
    { min: 0 },
  ),
  driftCheckInterval: duration(
    '--drift-check-interval <duration>',
    'FLYWHEEL_DRIFT_CHECK_INTERVAL',
    'how often drift levels are checked and changes logged',
    5000,
  ),
};

/** `flywheel up`: retraining when production drifts. */
export const driftUp = {
  retrainOnDrift: bool(
    '--retrain-on-drift',
    'FLYWHEEL_RETRAIN_ON_DRIFT',
    'start a training run when a production feature drifts (PSI at or over the gateway’s --drift-alert)',
  ),
  driftCooldown: duration(
    '--drift-cooldown <duration>',
    'FLYWHEEL_DRIFT_COOLDOWN',
    'least time between two training runs started by drift',
    30 * 60_000,
  ),
};
