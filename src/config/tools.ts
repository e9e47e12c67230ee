// `flywheel up` and `status` (the local stack), `models`, and `traffic | promote | rollback`.
import { common, json } from './common.js';
import { driftUp } from './drift.js';
import { gateway } from './gateway.js';
import { int, optStr, str } from './kinds.js';

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
