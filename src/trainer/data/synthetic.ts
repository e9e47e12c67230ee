// PLACEHOLDER until the data generator lands (issue 3).
import type { Dataset } from '../../model/types.js';
import { FlywheelError } from '../../errors.js';
export function generateSynthetic(_rows: number, _seed: number): Dataset {
  throw new FlywheelError('FLY_ERR_USAGE', 'not built yet');
}
