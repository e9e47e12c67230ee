// Runs the shipped scikit-learn exporter (flywheel_export.py, beside this module in src/ and, copied
// by the build, in dist/) with the chosen Python, so that a pickle is only ever loaded by Python.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FlywheelError, type ErrorCode } from '../../errors.js';

/** The exporter script: beside this module (src/ when run from the sources, dist/ once built). */
export function exporterPath(): string {
  const path = fileURLToPath(new URL('./flywheel_export.py', import.meta.url));
  if (!existsSync(path)) {
    throw new FlywheelError(
      'FLY_ERR_INTERNAL',
      `the scikit-learn exporter is missing from this install (${path})`,
    );
  }
  return path;
}

/** Codes the exporter may report; anything else it prints is shown as a Python failure. */
const EXPORTER_CODES: readonly ErrorCode[] = [
  'FLY_ERR_PYTHON',
  'FLY_ERR_IMPORT_FORMAT',
  'FLY_ERR_IMPORT_UNSUPPORTED',
  'FLY_ERR_IMPORT_INVALID',
  'FLY_ERR_IMPORT_FEATURES',
];

/** Runs `python exporter model out`; resolves when `out` holds the interchange JSON Lines. */
export async function runExporter(python: string, model: string, out: string): Promise<void> {
  const script = exporterPath();
  const child = spawn(python, [script, model, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // Keep the tail: the exporter's verdict is its last line.
    stderr = (stderr + chunk).slice(-16_384);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new FlywheelError(
        'FLY_ERR_PYTHON',
        `Python interpreter ${JSON.stringify(python)} was not found: install Python 3 with scikit-learn, or pass --python /path/to/python3`,
      );
    }
    throw new FlywheelError('FLY_ERR_PYTHON', `cannot run ${python}: ${err.message}`);
  });
  if (code === 0) return;
  const last = stderr.trim().split('\n').pop() ?? '';
  if (code === 3) {
    let verdict: { code?: unknown; message?: unknown } = {};
    try {
      verdict = JSON.parse(last) as typeof verdict;
    } catch {
      // not the exporter's verdict line
    }
    if (EXPORTER_CODES.includes(verdict.code as ErrorCode) && typeof verdict.message === 'string') {
      throw new FlywheelError(verdict.code as ErrorCode, verdict.message);
    }
  }
  throw new FlywheelError(
    'FLY_ERR_PYTHON',
    `the scikit-learn exporter failed under ${python} (exit ${code}): ${last.slice(0, 500) || 'no message'}`,
  );
}
