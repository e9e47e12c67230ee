// PLACEHOLDER until the local stack lands (issue 6).
import type { ConfigOf, UpConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
export async function runUp(_config: UpConfig, _log: Logger): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel up is not built yet');
}
export async function runStatus(_config: ConfigOf<'status'>, _out: NodeJS.WritableStream): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel status is not built yet');
}
export async function runRolloutRestart(
  _config: ConfigOf<'status'>,
  _out: NodeJS.WritableStream,
): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel rollout restart is not built yet');
}
