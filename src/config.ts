// One typed, frozen config object per role, from command-line flags and FLYWHEEL_* variables.
// Flags win over variables, variables over defaults. Every problem is reported at once, naming the
// flag and the variable; an unknown FLYWHEEL_* variable is an error rather than a silent default.
import os from 'node:os';
import { Command, Option } from 'commander';
import { FlywheelError } from './errors.js';

type Raw = string | boolean;

interface Setting<T> {
  /** commander flag spec, e.g. `--port <n>` or `--json` */
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly default: T;
  /** Parses a raw flag or variable value; throws an Error with a short reason when invalid. */
  readonly parse: (raw: Raw) => T;
  /** Shown in --help instead of the default value when the default is computed. */
  readonly defaultLabel?: string;
  /** Never printed (tokens). */
  readonly secret?: boolean;
}

function str(flag: string, env: string, description: string, def: string): Setting<string> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      if (typeof raw !== 'string') throw new Error('expects a value');
      return raw;
    },
  };
}

function optStr(flag: string, env: string, description: string): Setting<string | undefined> {
  return {
    flag,
    env,
    description,
    default: undefined,
    parse: (raw) => {
      if (typeof raw !== 'string' || raw === '') throw new Error('expects a non-empty value');
      return raw;
    },
  };
}

function num(
  flag: string,
  env: string,
  description: string,
  def: number,
  bounds: { min?: number; max?: number; integer?: boolean } = {},
): Setting<number> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new Error(`expects a number, got ${JSON.stringify(raw)}`);
      if (bounds.integer && !Number.isInteger(n)) throw new Error(`expects a whole number, got ${raw}`);
      if (bounds.min !== undefined && n < bounds.min) throw new Error(`must be >= ${bounds.min}, got ${raw}`);
      if (bounds.max !== undefined && n > bounds.max) throw new Error(`must be <= ${bounds.max}, got ${raw}`);
      return n;
    },
  };
}

function int(
  flag: string,
  env: string,
  description: string,
  def: number,
  bounds: { min?: number; max?: number } = {},
): Setting<number> {
  return num(flag, env, description, def, { ...bounds, integer: true });
}

function bool(flag: string, env: string, description: string, def = false): Setting<boolean> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      if (raw === true || raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === false || raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new Error(`expects true or false, got ${JSON.stringify(raw)}`);
    },
  };
}

function oneOf<const T extends string>(
  flag: string,
  env: string,
  description: string,
  choices: readonly T[],
  def: T,
): Setting<T> {
  return {
    flag,
    env,
    description: `${description} (${choices.join(' | ')})`,
    default: def,
    parse: (raw) => {
      if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as T;
      throw new Error(`expects one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
    },
  };
}

function list(flag: string, env: string, description: string): Setting<string[]> {
  return {
    flag,
    env,
    description,
    default: [],
    parse: (raw) => {
      if (typeof raw !== 'string') throw new Error('expects a comma-separated list');
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    },
  };
}

/** Durations are written in milliseconds or with a unit: `500ms`, `2s`, `1m`. */
function duration(flag: string, env: string, description: string, defMs: number): Setting<number> {
  return {
    flag,
    env,
    description: `${description}, e.g. 500ms, 2s, 1m`,
    default: defMs,
    parse: (raw) => {
      const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw) : null;
      if (!m) throw new Error(`expects a duration such as 500ms or 2s, got ${JSON.stringify(raw)}`);
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
      return Math.round(Number(m[1]) * unit);
    },
  };
}

/** Sizes in bytes or with a unit: `1mb`, `512kb`. */
function bytes(flag: string, env: string, description: string, def: number): Setting<number> {
  return {
    flag,
    env,
    description: `${description}, e.g. 1mb, 512kb`,
    default: def,
    parse: (raw) => {
      const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(raw) : null;
      if (!m) throw new Error(`expects a size such as 1mb, got ${JSON.stringify(raw)}`);
      const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[
        (m[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'
      ];
      return Math.round(Number(m[1]) * unit);
    },
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const common = {
  registry: str(
    '--registry <dir>',
    'FLYWHEEL_REGISTRY',
    'model registry folder (shared storage)',
    './.flywheel',
  ),
  logLevel: oneOf('--log-level <level>', 'FLYWHEEL_LOG_LEVEL', 'log level', LOG_LEVELS, 'info'),
};

const json = { json: bool('--json', 'FLYWHEEL_JSON', 'print JSON for scripts instead of tables') };

const train = {
  ...common,
  ...json,
  source: str(
    '--source <source>',
    'FLYWHEEL_SOURCE',
    'training data: synthetic | csv:<path> | jsonl:<path> | feedback | <source>+feedback',
    'synthetic',
  ),
  rows: int('--rows <n>', 'FLYWHEEL_ROWS', 'rows of synthetic data', 250, { min: 10 }),
  seed: int('--seed <n>', 'FLYWHEEL_SEED', 'seed for data, split and learner', 42, { min: 0 }),
  target: optStr('--target <name>', 'FLYWHEEL_TARGET', 'target column (csv/jsonl; default engagement_score)'),
  features: list(
    '--features <names>',
    'FLYWHEEL_FEATURES',
    'comma-separated feature columns (default: all others)',
  ),
  holdout: num('--holdout <fraction>', 'FLYWHEEL_HOLDOUT', 'share of rows held out for evaluation', 0.2, {
    min: 0.01,
    max: 0.9,
  }),
  algorithm: oneOf(
    '--algorithm <name>',
    'FLYWHEEL_ALGORITHM',
    'learner',
    ['random-forest', 'gradient-boosting'],
    'random-forest',
  ),
  trees: int('--trees <n>', 'FLYWHEEL_TREES', 'trees (forest) or maximum boosting iterations', 100, {
    min: 1,
    max: 10_000,
  }),
  maxDepth: int('--max-depth <n>', 'FLYWHEEL_MAX_DEPTH', 'maximum tree depth, 0 for unlimited', 0, {
    min: 0,
    max: 64,
  }),
  minSamplesLeaf: int('--min-samples-leaf <n>', 'FLYWHEEL_MIN_SAMPLES_LEAF', 'minimum rows in a leaf', 1, {
    min: 1,
  }),
  maxFeatures: num(
    '--max-features <fraction>',
    'FLYWHEEL_MAX_FEATURES',
    'share of features tried per split (forest)',
    1,
    { min: 0.01, max: 1 },
  ),
  maxLeaves: int('--max-leaves <n>', 'FLYWHEEL_MAX_LEAVES', 'maximum leaves per tree (boosting)', 31, {
    min: 2,
  }),
  learningRate: num('--learning-rate <rate>', 'FLYWHEEL_LEARNING_RATE', 'shrinkage (boosting)', 0.1, {
    min: 1e-6,
    max: 1,
  }),
  earlyStopping: bool(
    '--early-stopping',
    'FLYWHEEL_EARLY_STOPPING',
    'stop boosting when a validation split stops improving',
    true,
  ),
  threads: int('--threads <n>', 'FLYWHEEL_THREADS', 'worker threads for training, 0 for all cores', 0, {
    min: 0,
    max: 256,
  }),
  promote: oneOf(
    '--promote <policy>',
    'FLYWHEEL_PROMOTE',
    'promotion policy',
    ['auto', 'canary', 'manual'],
    'auto',
  ),
  tolerance: num(
    '--tolerance <r2>',
    'FLYWHEEL_TOLERANCE',
    'auto promotion: largest holdout R² drop accepted against production',
    0.01,
    { min: 0, max: 1 },
  ),
  keep: int('--keep <n>', 'FLYWHEEL_KEEP', 'versions kept by retention (aliases always kept)', 20, {
    min: 1,
  }),
};

const serve = {
  ...common,
  host: str('--host <addr>', 'FLYWHEEL_HOST', 'address to listen on', '0.0.0.0'),
  port: int('--port <n>', 'FLYWHEEL_PORT', 'port to listen on', 5001, { min: 0, max: 65535 }),
  modelName: str('--model-name <name>', 'FLYWHEEL_MODEL_NAME', 'model name on the v2 paths', 'engagement'),
  bodyLimit: bytes('--body-limit <size>', 'FLYWHEEL_BODY_LIMIT', 'largest request body', 1024 * 1024),
  batchLimit: int('--batch-limit <n>', 'FLYWHEEL_BATCH_LIMIT', 'most instances in one batch', 1000, {
    min: 1,
  }),
  gracePeriod: duration(
    '--grace-period <duration>',
    'FLYWHEEL_GRACE_PERIOD',
    'time in-flight requests get to finish on shutdown',
    10_000,
  ),
  pollInterval: duration(
    '--poll-interval <duration>',
    'FLYWHEEL_POLL_INTERVAL',
    'registry re-read interval (fallback to file watching)',
    500,
  ),
};

/**
 * Backend replica sources of the gateway. Checked for shape here so that a typo stops the process at
 * start (and in --print-config); src/gateway/discovery.ts turns each entry into a source.
 */
function backendList(flag: string, env: string, description: string): Setting<string[]> {
  const base = list(flag, env, description);
  return {
    ...base,
    parse: (raw) => {
      const entries = base.parse(raw);
      for (const entry of entries) {
        if (entry.startsWith('file:')) {
          if (entry.length === 'file:'.length) throw new Error(`${entry}: file: needs a path`);
          continue;
        }
        const dns = entry.startsWith('dns+');
        let url: URL;
        try {
          url = new URL(dns ? entry.slice(4) : entry);
        } catch {
          throw new Error(
            `${JSON.stringify(entry)} is not a URL (expected http://host:port, dns+http://name:port or file:<path>)`,
          );
        }
        if (url.protocol !== 'http:') throw new Error(`${entry}: only http:// backends are supported`);
        if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
          throw new Error(`${entry}: give only scheme, host and port (no path, query or credentials)`);
        }
        if (dns && url.port === '') throw new Error(`${entry}: dns+http:// needs an explicit port`);
      }
      return entries;
    },
  };
}

const gateway = {
  ...common,
  host: serve.host,
  port: int('--port <n>', 'FLYWHEEL_PORT', 'port to listen on', 8080, { min: 0, max: 65535 }),
  backends: backendList(
    '--backends <urls>',
    'FLYWHEEL_BACKENDS',
    'backend replicas, comma-separated: http://host:port, dns+http://service:port (every A/AAAA record), file:<path> (JSON {"replicas": [urls]}, re-read on change)',
  ),
  balance: oneOf(
    '--balance <policy>',
    'FLYWHEEL_BALANCE',
    'balancing policy',
    ['least-outstanding', 'round-robin'],
    'least-outstanding',
  ),
  healthInterval: duration(
    '--health-interval <duration>',
    'FLYWHEEL_HEALTH_INTERVAL',
    'active health check interval',
    1000,
  ),
  ejectAfter: int(
    '--eject-after <n>',
    'FLYWHEEL_EJECT_AFTER',
    'consecutive failures that eject a replica',
    3,
    { min: 1 },
  ),
  attemptTimeout: duration(
    '--attempt-timeout <duration>',
    'FLYWHEEL_ATTEMPT_TIMEOUT',
    'timeout of one attempt on one replica',
    5000,
  ),
  deadline: duration('--deadline <duration>', 'FLYWHEEL_DEADLINE', 'total time a request may take', 10_000),
  dnsInterval: duration(
    '--dns-interval <duration>',
    'FLYWHEEL_DNS_INTERVAL',
    'how often dns+ backends are re-resolved',
    5000,
  ),
  dnsServer: optStr(
    '--dns-server <host:port>',
    'FLYWHEEL_DNS_SERVER',
    'resolver for dns+ backends (default: the system resolver)',
  ),
  healthTimeout: duration(
    '--health-timeout <duration>',
    'FLYWHEEL_HEALTH_TIMEOUT',
    'time one active health check may take before it counts as failed',
    2000,
  ),
  readmitAfter: int(
    '--readmit-after <n>',
    'FLYWHEEL_READMIT_AFTER',
    'consecutive passing health checks that re-admit an ejected or unhealthy replica',
    2,
    { min: 1 },
  ),
  upstreamConnections: int(
    '--upstream-connections <n>',
    'FLYWHEEL_UPSTREAM_CONNECTIONS',
    'most keep-alive connections to one replica (more requests queue)',
    128,
    { min: 1, max: 65_536 },
  ),
  filePollInterval: duration(
    '--file-poll-interval <duration>',
    'FLYWHEEL_FILE_POLL_INTERVAL',
    'how often a file: backend list is re-read (besides watching it)',
    1000,
  ),
  gracePeriod: serve.gracePeriod,
  keepAliveTimeout: duration(
    '--keep-alive-timeout <duration>',
    'FLYWHEEL_KEEP_ALIVE_TIMEOUT',
    'idle time after which a client keep-alive connection is closed (longer than --deadline)',
    65_000,
  ),
  adminToken: {
    ...optStr(
      '--admin-token <token>',
      'FLYWHEEL_ADMIN_TOKEN',
      'bearer token for admin routes (unset: admin routes off)',
    ),
    secret: true,
  },
  bodyLimit: serve.bodyLimit,
  analysisInterval: duration(
    '--analysis-interval <duration>',
    'FLYWHEEL_ANALYSIS_INTERVAL',
    'how often the canary analysis runs, 0 to turn it off',
    10_000,
  ),
  gatewayId: str(
    '--gateway-id <id>',
    'FLYWHEEL_GATEWAY_ID',
    'this gateway replica name (feedback file name)',
    os.hostname(),
  ),
  // Canary analysis thresholds (see src/gateway/experiments/analysis.ts).
  analysisMinRequests: int(
    '--analysis-min-requests <n>',
    'FLYWHEEL_ANALYSIS_MIN_REQUESTS',
    'requests each of candidate and production needs before a decision',
    200,
    { min: 1 },
  ),
  analysisMinDuration: duration(
    '--analysis-min-duration <duration>',
    'FLYWHEEL_ANALYSIS_MIN_DURATION',
    'time the candidate must take traffic before a decision',
    60_000,
  ),
  analysisMinFeedback: int(
    '--analysis-min-feedback <n>',
    'FLYWHEEL_ANALYSIS_MIN_FEEDBACK',
    'feedback records each version needs before a decision, 0 to decide on errors and latency alone',
    30,
    { min: 0 },
  ),
  analysisMaxErrorIncrease: num(
    '--analysis-max-error-increase <rate>',
    'FLYWHEEL_ANALYSIS_MAX_ERROR_INCREASE',
    'largest accepted rise of the error rate over production (0.01 = one point)',
    0.01,
    { min: 0, max: 1 },
  ),
  analysisMaxLatencyRatio: num(
    '--analysis-max-latency-ratio <ratio>',
    'FLYWHEEL_ANALYSIS_MAX_LATENCY_RATIO',
    'largest accepted candidate/production p99 latency ratio',
    1.5,
    { min: 1 },
  ),
  analysisMaxMaeRatio: num(
    '--analysis-max-mae-ratio <ratio>',
    'FLYWHEEL_ANALYSIS_MAX_MAE_RATIO',
    'largest accepted candidate/production MAE ratio on feedback',
    1.1,
    { min: 0.01 },
  ),
  analysisAlpha: num(
    '--analysis-alpha <p>',
    'FLYWHEEL_ANALYSIS_ALPHA',
    'significance level: a worse MAE rolls back only when its Welch p-value is below this',
    0.05,
    { min: 1e-9, max: 0.5 },
  ),
  routingPollInterval: duration(
    '--routing-poll-interval <duration>',
    'FLYWHEEL_ROUTING_POLL_INTERVAL',
    'how often the routing state and aliases are re-read from the registry',
    500,
  ),
  feedbackMaxBytes: bytes(
    '--feedback-max-bytes <size>',
    'FLYWHEEL_FEEDBACK_MAX_BYTES',
    'size at which the prediction/feedback log starts a new file',
    64 * 1024 * 1024,
  ),
  feedbackMaxAge: duration(
    '--feedback-max-age <duration>',
    'FLYWHEEL_FEEDBACK_MAX_AGE',
    'age at which the prediction/feedback log starts a new file',
    3_600_000,
  ),
  feedbackIndexSize: int(
    '--feedback-index-size <n>',
    'FLYWHEEL_FEEDBACK_INDEX_SIZE',
    'recent request ids kept in memory to join feedback with predictions',
    100_000,
    { min: 100 },
  ),
};

const up = {
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
};

const models = { ...common, ...json };

const status = {
  ...common,
  ...json,
  url: str('--url <url>', 'FLYWHEEL_URL', 'gateway of the stack', 'http://127.0.0.1:30080'),
};

/** `flywheel traffic | promote | rollback`: against a gateway (--url) or directly on the registry. */
const admin = {
  ...common,
  ...json,
  url: optStr(
    '--url <url>',
    'FLYWHEEL_URL',
    'gateway to ask (with --admin-token); unset: change the registry directly',
  ),
  adminToken: gateway.adminToken,
};

export const SETTINGS = { train, serve, gateway, up, models, status, admin } as const;

export type Role = keyof typeof SETTINGS;
type SettingsOf<R extends Role> = (typeof SETTINGS)[R];
export type ConfigOf<R extends Role> = {
  readonly [K in keyof SettingsOf<R>]: SettingsOf<R>[K] extends Setting<infer T> ? T : never;
};
export type TrainConfig = ConfigOf<'train'>;
export type ServeConfig = ConfigOf<'serve'>;
export type GatewayConfig = ConfigOf<'gateway'>;
export type UpConfig = ConfigOf<'up'>;

/** Every FLYWHEEL_* variable any role reads. */
export const KNOWN_ENV = new Set(
  Object.values(SETTINGS).flatMap((s) =>
    Object.values(s as Record<string, Setting<unknown>>).map((x) => x.env),
  ),
);

/** Adds a role's settings to a commander command as options. Values stay raw: loadConfig parses. */
/** The config with secrets masked, for logs and --print-config. */
export function redactConfig<R extends Role>(role: R, config: ConfigOf<R>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, setting] of Object.entries(SETTINGS[role]) as [string, Setting<unknown>][]) {
    if (setting.secret && out[key] !== undefined) out[key] = '***';
  }
  return out;
}

export function addSettingOptions(cmd: Command, role: Role): Command {
  for (const setting of Object.values(SETTINGS[role]) as Setting<unknown>[]) {
    const shown = setting.defaultLabel ?? JSON.stringify(setting.default);
    const opt = new Option(
      setting.flag,
      `${setting.description} [${setting.env}${setting.default === undefined ? '' : `, default ${shown}`}]`,
    );
    cmd.addOption(opt);
  }
  cmd.option('--print-config', 'print the validated configuration as JSON and exit without running');
  return cmd;
}

function optionKey(flag: string): string {
  const name = /--([a-z0-9-]+)/.exec(flag)?.[1] ?? flag;
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Builds the frozen config of a role. `flags` holds commander's raw option values (keyed by camelCase
 * option name); `env` is the process environment. Throws one FlywheelError listing every problem.
 */
export function loadConfig<R extends Role>(
  role: R,
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
): ConfigOf<R> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS[role]) as [string, Setting<unknown>][]) {
    const flagValue = flags[optionKey(setting.flag)];
    const envValue = env[setting.env];
    try {
      if (flagValue !== undefined) out[key] = setting.parse(flagValue as Raw);
      else if (envValue !== undefined) out[key] = setting.parse(envValue);
      else out[key] = setting.default;
    } catch (err) {
      const from = flagValue !== undefined ? setting.flag.split(' ')[0] : setting.env;
      problems.push(`${from}: ${(err as Error).message}`);
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('FLYWHEEL_') && !KNOWN_ENV.has(name)) {
      problems.push(`${name}: unknown setting (check the spelling; see --help)`);
    }
  }
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  return Object.freeze(out) as ConfigOf<R>;
}
