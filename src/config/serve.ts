// `flywheel serve`: the backend inference server.
import { common } from './common.js';
import { bytes, duration, int, str } from './kinds.js';

export const serve = {
  ...common,
  host: str('--host <addr>', 'FLYWHEEL_HOST', 'address to listen on', '0.0.0.0'),
  port: int('--port <n>', 'FLYWHEEL_PORT', 'port to listen on', 5001, { min: 0, max: 65535 }),
  modelName: str('--model-name <name>', 'FLYWHEEL_MODEL_NAME', 'model name on the v2 paths', 'engagement'),
  bodyLimit: bytes('--body-limit <size>', 'FLYWHEEL_BODY_LIMIT', 'largest request body', 1024 * 1024),
  batchLimit: int('--batch-limit <n>', 'FLYWHEEL_BATCH_LIMIT', 'most instances in one batch', 1000, {
    min: 1,
  }),
  gracePeriod: duration(
    '--grace-period <duration>',
    'FLYWHEEL_GRACE_PERIOD',
    'time in-flight requests get to finish on shutdown',
    10_000,
  ),
  pollInterval: duration(
    '--poll-interval <duration>',
    'FLYWHEEL_POLL_INTERVAL',
    'registry re-read interval (fallback to file watching)',
    500,
  ),
};
