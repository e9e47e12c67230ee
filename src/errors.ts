// Every error Flywheel reports to a person or a client has a stable code from this table.
// A retired code is never reused; docs/errors.md documents each one (a test checks it).

export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
}

export const ERRORS = {
  // configuration and CLI
  FLY_ERR_CONFIG: { status: 500, message: 'invalid configuration' },
  FLY_ERR_USAGE: { status: 400, message: 'invalid command-line usage' },

  // data sources
  FLY_ERR_DATA_NOT_FOUND: { status: 400, message: 'data file not found' },
  FLY_ERR_DATA_COLUMN: { status: 400, message: 'unknown or missing column' },
  FLY_ERR_DATA_VALUE: { status: 400, message: 'non-numeric or non-finite value' },
  FLY_ERR_DATA_EMPTY: { status: 400, message: 'data set is empty' },
  FLY_ERR_DATA_CONSTANT_TARGET: { status: 400, message: 'target is constant' },
  FLY_ERR_DATA_PARSE: { status: 400, message: 'data row cannot be parsed' },
  FLY_ERR_HOLDOUT_TOO_SMALL: { status: 400, message: 'holdout or training split too small' },

  // model artifacts and training
  FLY_ERR_ARTIFACT_INVALID: { status: 500, message: 'model artifact is malformed' },
  FLY_ERR_TRAIN_PARAMS: { status: 400, message: 'invalid training parameters' },

  // models trained elsewhere (flywheel import, train --command)
  FLY_ERR_IMPORT_FORMAT: { status: 400, message: 'model file is not in a format Flywheel reads' },
  FLY_ERR_IMPORT_UNSUPPORTED: { status: 400, message: 'model is of a kind Flywheel cannot serve' },
  FLY_ERR_IMPORT_INVALID: { status: 400, message: 'model trees are malformed' },
  FLY_ERR_IMPORT_FEATURES: { status: 400, message: 'model features do not match' },
  FLY_ERR_IMPORT_TOO_LARGE: { status: 400, message: 'model is larger than Flywheel accepts' },
  FLY_ERR_PYTHON: { status: 500, message: 'Python with scikit-learn is needed and was not found' },
  FLY_ERR_TRAIN_COMMAND_FAILED: { status: 500, message: 'training command failed' },
  FLY_ERR_TRAIN_COMMAND_TIMEOUT: { status: 500, message: 'training command ran past its timeout' },
  FLY_ERR_TRAIN_COMMAND_OUTPUT: { status: 500, message: 'training command wrote no model file, or several' },

  // registry
  FLY_ERR_REGISTRY_UNWRITABLE: { status: 500, message: 'registry folder cannot be written' },
  FLY_ERR_VERSION_NOT_FOUND: { status: 404, message: 'model version not found' },
  FLY_ERR_VERSION_CORRUPT: { status: 500, message: 'model version is corrupt' },
  FLY_ERR_ALIAS: { status: 409, message: 'alias change refused' },
  FLY_ERR_REGISTRY_BUSY: { status: 503, message: 'registry lock held by another process for too long' },
  FLY_ERR_REGISTRY_CORRUPT: { status: 500, message: 'registry file is corrupt' },
  FLY_ERR_REGISTRY_UNREADABLE: { status: 500, message: 'registry folder cannot be read' },

  // inference (backend)
  FLY_ERR_BAD_JSON: { status: 400, message: 'request body is not valid JSON' },
  FLY_ERR_BAD_REQUEST: { status: 400, message: 'request is invalid' },
  FLY_ERR_INVALID_FEATURES: { status: 400, message: 'missing or invalid features' },
  FLY_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'content type must be application/json' },
  FLY_ERR_BODY_TOO_LARGE: { status: 413, message: 'request body is too large' },
  FLY_ERR_BATCH_TOO_LARGE: { status: 413, message: 'batch has too many instances' },
  FLY_ERR_MODEL_NOT_FOUND: { status: 404, message: 'model not found' },
  FLY_ERR_NO_MODEL: { status: 503, message: 'no model is loaded yet' },
  FLY_ERR_SHUTTING_DOWN: { status: 503, message: 'server is shutting down' },
  FLY_ERR_NOT_FOUND: { status: 404, message: 'route not found' },
  FLY_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this path' },
  FLY_ERR_INTERNAL: { status: 500, message: 'internal error' },

  // gateway
  FLY_ERR_NO_UPSTREAM: { status: 503, message: 'no healthy backend replica' },
  FLY_ERR_UPSTREAM_FAILED: { status: 502, message: 'backend replica failed to answer' },
  FLY_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'backend replica did not answer in time' },
  FLY_ERR_REQUEST_TIMEOUT: { status: 408, message: 'the client did not send its request body in time' },
  FLY_ERR_UNAUTHORIZED: { status: 401, message: 'admin token missing or wrong' },
  FLY_ERR_ADMIN_DISABLED: { status: 403, message: 'admin routes are off: no admin token configured' },
  FLY_ERR_FEEDBACK: { status: 400, message: 'feedback refused' },
  FLY_ERR_FEEDBACK_UNKNOWN_REQUEST: { status: 404, message: 'no prediction with that request id' },
  FLY_ERR_FEEDBACK_DUPLICATE: { status: 409, message: 'feedback for that request id already recorded' },
  FLY_ERR_FEEDBACK_EXPIRED: { status: 410, message: 'the prediction is older than --feedback-max-age' },
  FLY_ERR_FEEDBACK_UNAVAILABLE: { status: 503, message: 'the feedback log cannot be written now' },
  FLY_ERR_ROUTING_CORRUPT: { status: 500, message: 'routing state file is malformed' },
  FLY_ERR_NO_CANDIDATE: { status: 409, message: 'there is no candidate version' },
  FLY_ERR_LEASE_LOST: { status: 409, message: 'this gateway no longer holds the analysis lease' },

  // local stack
  FLY_ERR_PORT_IN_USE: { status: 500, message: 'port already in use' },
  FLY_ERR_SCHEDULE: { status: 400, message: 'invalid cron schedule' },
  FLY_ERR_STACK_RUNNING: { status: 409, message: 'a local stack is already running on this registry' },
  FLY_ERR_STACK_NOT_RUNNING: { status: 404, message: 'no local stack is running on this registry' },
  FLY_ERR_START_FAILED: { status: 500, message: 'a component of the local stack failed to start' },
  FLY_ERR_ROLLOUT_FAILED: { status: 500, message: 'rolling restart failed' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable code, an HTTP status and optional structured details. */
export class FlywheelError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'FlywheelError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  /** The JSON body a client sees: never a stack trace. */
  toJSON(): { error: string; code: ErrorCode; details?: unknown } {
    return this.details === undefined
      ? { error: this.message, code: this.code }
      : { error: this.message, code: this.code, details: this.details };
  }
}

export function isFlywheelError(err: unknown): err is FlywheelError {
  return err instanceof FlywheelError;
}
