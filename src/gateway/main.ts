// PLACEHOLDER until the gateway lands (issue 6).
import type { GatewayConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
export async function runGateway(_config: GatewayConfig, _log: Logger): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'flywheel gateway is not built yet');
}
