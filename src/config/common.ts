// Settings every role shares.
import { bool, oneOf, str } from './kinds.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const common = {
  registry: str(
    '--registry <dir>',
    'FLYWHEEL_REGISTRY',
    'model registry folder (shared storage)',
    './.flywheel',
  ),
  logLevel: oneOf('--log-level <level>', 'FLYWHEEL_LOG_LEVEL', 'log level', LOG_LEVELS, 'info'),
};

export const json = { json: bool('--json', 'FLYWHEEL_JSON', 'print JSON for scripts instead of tables') };
