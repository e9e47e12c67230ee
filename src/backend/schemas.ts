// JSON schemas of every backend route (validation and fast serialisation come from them, and so does
// GET /openapi.json) with the TypeScript shapes the handlers use, written beside each schema so the
// two are read and changed together.
import type { ErrorCode } from '../errors.js';
import type { ModelOrigin } from '../registry/types.js';
import type { FeatureProblem, RangeWarning } from './features.js';

// ---------------------------------------------------------------- shared pieces

export const errorSchema = {
  type: 'object',
  description: 'Every error: a message for people, a stable code for programs, and details when useful.',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string' },
    code: { type: 'string', description: 'a FLY_ERR_* code, see docs/errors.md' },
    details: { description: 'structured context, e.g. each missing or invalid feature' },
  },
} as const;
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: unknown;
}

/** The error responses a route can give, for serialisation and the OpenAPI description. */
export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

const warningsSchema = {
  type: 'array',
  description: 'Feature values far outside the training range: answered, but the prediction is a guess.',
  items: {
    type: 'object',
    required: ['feature', 'value', 'training_min', 'training_max', 'message'],
    properties: {
      instance: { type: 'integer', description: 'index in `instances` (batch form)' },
      feature: { type: 'string' },
      value: { type: 'number' },
      training_min: { type: 'number' },
      training_max: { type: 'number' },
      message: { type: 'string' },
    },
  },
} as const;

/** Problems named in a FLY_ERR_INVALID_FEATURES error's `details.problems`. */
export type { FeatureProblem, RangeWarning };

export const modelVersionHeader = {
  type: 'object',
  properties: {
    'x-model-version': {
      type: 'string',
      description:
        'answer with this loaded version (or alias `production` / `candidate`) instead of production',
    },
  },
} as const;
export interface ModelVersionHeader {
  'x-model-version'?: string;
}

// ---------------------------------------------------------------- POST /predict

export const predictBody = {
  type: 'object',
  description:
    'Either one instance, an object with the model’s feature fields (GET /model-info lists them; other ' +
    'fields such as `user_id` are ignored), or `{ "instances": [ {...}, ... ] }` for a batch.',
  properties: {
    instances: { type: 'array', items: { type: 'object' }, description: 'batch form' },
  },
  additionalProperties: true,
} as const;
export type PredictBody = Readonly<Record<string, unknown>> & {
  readonly instances?: readonly Readonly<Record<string, unknown>>[];
};

export const predictReply = {
  type: 'object',
  description:
    'Single form: the prediction under the model’s target name (e.g. `engagement_score`, as the lab’s ' +
    'backend answers) and as `prediction`. Batch form: `predictions`, one per instance in order.',
  required: ['model_version', 'model_training_time', 'features_used', 'host'],
  properties: {
    request_id: {
      type: 'string',
      description: 'single form: the `x-request-id` the request carried (the gateway sets it), for feedback',
    },
    prediction: { type: 'number' },
    predictions: { type: 'array', items: { type: 'number' } },
    target: { type: 'string', description: 'batch form: what the predictions are' },
    model_version: { type: 'string' },
    model_training_time: { type: 'string', format: 'date-time' },
    features_used: { type: 'array', items: { type: 'string' } },
    host: { type: 'string' },
    warnings: warningsSchema,
  },
  additionalProperties: { type: 'number', description: 'the target field, e.g. `engagement_score`' },
} as const;
interface PredictCommon {
  model_version: string;
  model_training_time: string;
  features_used: readonly string[];
  host: string;
  warnings?: readonly RangeWarning[];
}
export type SinglePredictReply = PredictCommon & { request_id?: string; prediction: number } & Record<
    string,
    unknown
  >;
export type BatchPredictReply = PredictCommon & { predictions: number[]; target: string };

// ---------------------------------------------------------------- GET /model-info

const metricsSchema = {
  type: 'object',
  description: 'holdout metrics from training',
  properties: { r2: { type: 'number' }, mae: { type: 'number' }, rmse: { type: 'number' } },
} as const;

export const modelInfoReply = {
  type: 'object',
  required: [
    'status',
    'last_training_time',
    'features',
    'model_type',
    'host',
    'model_name',
    'version',
    'target',
    'metrics',
    'provenance',
  ],
  properties: {
    status: { type: 'string', enum: ['ok', 'shutting down'] },
    last_training_time: { type: 'string', format: 'date-time' },
    features: { type: 'array', items: { type: 'string' } },
    feature_ranges: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          type: { type: 'string' },
          min: { type: 'number' },
          max: { type: 'number' },
        },
      },
    },
    model_type: { type: 'string' },
    host: { type: 'string' },
    model_name: { type: 'string', description: 'the name the /v2 paths serve the model under' },
    version: { type: 'string' },
    target: { type: 'string' },
    metrics: { ...metricsSchema, type: ['object', 'null'] },
    provenance: {
      type: 'object',
      properties: {
        origin: {
          type: 'object',
          description: 'what produced the version: kind flywheel | xgboost | scikit-learn | interchange',
          properties: {
            kind: { type: 'string' },
            library_version: { type: 'string' },
            estimator: { type: 'string' },
            objective: { type: 'string' },
            file: { type: 'string' },
            file_sha256: { type: 'string' },
            command: { type: 'string' },
          },
        },
        origin_description: { type: 'string' },
        source: { type: 'string' },
        rows: { type: 'integer' },
        sha256: { type: 'string', description: 'of the training data' },
        artifact_sha256: { type: 'string' },
        trainer_host: { type: 'string' },
        package_version: { type: 'string' },
        fit_seconds: { type: 'number' },
      },
    },
    parameters: { type: 'object', additionalProperties: true },
    aliases: {
      type: 'object',
      properties: {
        production: { type: ['string', 'null'] },
        candidate: { type: ['string', 'null'] },
      },
    },
    loaded_versions: { type: 'array', items: { type: 'string' } },
  },
} as const;
export interface ModelInfoReply {
  status: 'ok' | 'shutting down';
  last_training_time: string;
  features: readonly string[];
  feature_ranges: readonly { name: string; type: string; min: number; max: number }[];
  model_type: string;
  host: string;
  model_name: string;
  version: string;
  target: string;
  metrics: { r2: number; mae: number; rmse: number } | null;
  provenance: {
    origin: ModelOrigin;
    origin_description: string;
    source: string;
    rows: number;
    sha256: string;
    artifact_sha256: string;
    trainer_host: string;
    package_version: string;
    fit_seconds: number;
  };
  parameters: Readonly<Record<string, unknown>>;
  aliases: { production: string | null; candidate: string | null };
  loaded_versions: readonly string[];
}

// ---------------------------------------------------------------- Open Inference Protocol v2

export const liveReply = {
  type: 'object',
  required: ['live'],
  properties: { live: { type: 'boolean' } },
} as const;
export const readyReply = {
  type: 'object',
  required: ['ready'],
  properties: { ready: { type: 'boolean' } },
} as const;

export const serverMetadataReply = {
  type: 'object',
  required: ['name', 'version', 'extensions'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    extensions: { type: 'array', items: { type: 'string' } },
  },
} as const;
export interface ServerMetadataReply {
  name: string;
  version: string;
  extensions: string[];
}

export const modelParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string' } },
} as const;
export const modelVersionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string' }, version: { type: 'string' } },
} as const;
export interface ModelParams {
  name: string;
  version?: string;
}

const tensorMetadata = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: {
    name: { type: 'string' },
    datatype: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
  },
} as const;
interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export const modelMetadataReply = {
  type: 'object',
  required: ['name', 'versions', 'platform', 'inputs', 'outputs'],
  properties: {
    name: { type: 'string' },
    versions: { type: 'array', items: { type: 'string' }, description: 'loaded versions' },
    platform: { type: 'string' },
    inputs: {
      type: 'array',
      items: tensorMetadata,
      description:
        'one [n] tensor per feature, in this order; a single [n, features] tensor in this order is accepted too',
    },
    outputs: { type: 'array', items: tensorMetadata },
    parameters: {
      type: 'object',
      properties: {
        version: { type: 'string', description: 'the version these inputs and outputs describe' },
        aliases: {
          type: 'object',
          properties: {
            production: { type: ['string', 'null'] },
            candidate: { type: ['string', 'null'] },
          },
        },
      },
    },
  },
} as const;
export interface ModelMetadataReply {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  parameters: { version: string; aliases: { production: string | null; candidate: string | null } };
}

export const modelReadyReply = {
  type: 'object',
  required: ['name', 'ready'],
  properties: { name: { type: 'string' }, version: { type: 'string' }, ready: { type: 'boolean' } },
} as const;
export interface ModelReadyReply {
  name: string;
  version?: string;
  ready: boolean;
}

export const DATATYPES = [
  'FP32',
  'FP64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
] as const;

export const inferBody = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    parameters: { type: 'object' },
    inputs: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string', enum: DATATYPES },
          parameters: { type: 'object' },
          data: { type: 'array', description: 'row-major, flat or nested' },
        },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, parameters: { type: 'object' } },
      },
    },
  },
} as const;
export interface InferInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly datatype: (typeof DATATYPES)[number];
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly data: readonly unknown[];
}
export interface InferBody {
  readonly id?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly inputs: readonly InferInput[];
  readonly outputs?: readonly { readonly name: string }[];
}

export const inferReply = {
  type: 'object',
  required: ['model_name', 'model_version', 'outputs'],
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    parameters: {
      type: 'object',
      properties: { warnings: warningsSchema },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer' } },
          datatype: { type: 'string' },
          data: { type: 'array', items: { type: 'number' } },
        },
      },
    },
  },
} as const;
export interface InferReply {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: { warnings: readonly RangeWarning[] };
  outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
}
