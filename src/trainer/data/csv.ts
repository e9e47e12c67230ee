// PLACEHOLDER until the data readers land (issue 3).
import type { Dataset } from '../../model/types.js';
import { FlywheelError } from '../../errors.js';
export async function writeCsv(_ds: Dataset, _out: string | NodeJS.WritableStream): Promise<void> {
  throw new FlywheelError('FLY_ERR_USAGE', 'not built yet');
}
