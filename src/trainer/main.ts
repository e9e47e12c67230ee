// PLACEHOLDER until the trainer lands (issue 4).
import type { TrainConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
export async function runTrain(_config: TrainConfig, _log: Logger): Promise<unknown> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel train is not built yet');
}
