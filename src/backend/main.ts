// PLACEHOLDER until the backend lands (issue 5).
import type { ServeConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
export async function runServe(_config: ServeConfig, _log: Logger): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel serve is not built yet');
}
