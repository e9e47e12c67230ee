// PLACEHOLDER until the registry lands (issue 4).
import type { ConfigOf } from '../config.js';
import { FlywheelError } from '../errors.js';
export async function runModelsCommand(
  _action: 'list' | 'show' | 'promote' | 'history' | 'rollback',
  _args: { version?: string; to?: string },
  _config: ConfigOf<'models'>,
  _out: NodeJS.WritableStream,
): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel models is not built yet');
}
