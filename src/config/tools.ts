// `flywheel up` and `status` (the local stack), `models`, and `traffic | promote | rollback`.
import { common, json } from './common.js';
import { driftUp } from './drift.js';
import { gateway } from './gateway.js';
import { duration, int, optStr, str } from './kinds.js';

export const up = {
  ...common,
  host: str('--host <addr>', 'FLYWHEEL_HOST', 'address the gateway and replicas listen on', '127.0.0.1'),
  port: int('--port <n>', 'FLYWHEEL_PORT', 'gateway port (the cluster NodePort)', 30080, {
    min: 0,
    max: 65535,
  }),
  replicas: int('--replicas <n>', 'FLYWHEEL_REPLICAS', 'backend replicas', 2, { min: 1, max: 64 }),
  backendPort: int(
    '--backend-port <n>',
    'FLYWHEEL_BACKEND_PORT',
    'first backend port (replica i: +i)',
    5001,
    {
      min: 1,
      max: 65535,
    },
  ),
  schedule: str(
    '--schedule <cron>',
    'FLYWHEEL_SCHEDULE',
    'trainer schedule (cron, 5 or 6 fields)',
    '*/2 * * * *',
  ),
  trainArgs: str(
    '--train-args <args>',
    'FLYWHEEL_TRAIN_ARGS',
    'extra arguments for each scheduled `flywheel train` run',
    '',
  ),
  adminToken: gateway.adminToken,
  ...driftUp,
  livenessInterval: duration(
    '--liveness-interval <duration>',
    'FLYWHEEL_LIVENESS_INTERVAL',
    'how often each running child is asked GET /v2/health/live',
    1000,
  ),
  livenessTimeout: duration(
    '--liveness-timeout <duration>',
    'FLYWHEEL_LIVENESS_TIMEOUT',
    'how long one liveness check may take',
    1000,
  ),
  livenessFailures: int(
    '--liveness-failures <n>',
    'FLYWHEEL_LIVENESS_FAILURES',
    'failed liveness checks in a row after which a child is killed (SIGKILL) and restarted',
    3,
    { min: 1 },
  ),
};

export const models = { ...common, ...json };

export const status = {
  ...common,
  ...json,
  url: str('--url <url>', 'FLYWHEEL_URL', 'gateway of the stack', 'http://127.0.0.1:30080'),
};

/** `flywheel traffic | promote | rollback`: against a gateway (--url) or directly on the registry. */
export const admin = {
  ...common,
  ...json,
  url: optStr(
    '--url <url>',
    'FLYWHEEL_URL',
    'gateway to ask (with --admin-token); unset: change the registry directly',
  ),
  adminToken: gateway.adminToken,
};
