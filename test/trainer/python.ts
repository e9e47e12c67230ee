// Python for the end-to-end tests of the scikit-learn exporter and `train --command`: Debian's
// /usr/bin/python3 with python3-sklearn (the python3 first on PATH may lack it). Absent, those tests
// are skipped with a message; under CI (CI=true, where .ci/run installs the packages) they are required.
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

export const HAVE_SKLEARN =
  spawnSync(PYTHON, ['-c', 'import sklearn, joblib, numpy'], { stdio: 'ignore' }).status === 0;

export const REQUIRED = process.env.CI === 'true';

export const SKIP_MESSAGE = `${PYTHON} with scikit-learn not found: skipping the Python end-to-end tests (install python3-sklearn; required when CI=true)`;

if (!HAVE_SKLEARN && !REQUIRED) console.warn(SKIP_MESSAGE);
