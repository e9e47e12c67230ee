// One typed, frozen config object per role, from command-line flags and FLYWHEEL_* variables.
// Flags win over variables, variables over defaults. Every problem is reported at once, naming the
// flag and the variable; an unknown FLYWHEEL_* variable is an error rather than a silent default.
// Each role's table of settings lives in src/config/.
import { Command, Option } from 'commander';
import { FlywheelError } from './errors.js';
import { leaseTimingProblems } from './registry/lease.js';
import { gateway } from './config/gateway.js';
import type { Raw, Setting } from './config/kinds.js';
import { importModel } from './config/import.js';
import { serve } from './config/serve.js';
import { admin, models, status, up } from './config/tools.js';
import { train } from './config/train.js';

export const SETTINGS = { train, serve, gateway, up, models, status, admin, import: importModel } as const;

export type Role = keyof typeof SETTINGS;
type SettingsOf<R extends Role> = (typeof SETTINGS)[R];
export type ConfigOf<R extends Role> = {
  readonly [K in keyof SettingsOf<R>]: SettingsOf<R>[K] extends Setting<infer T> ? T : never;
};
export type TrainConfig = ConfigOf<'train'>;
export type ServeConfig = ConfigOf<'serve'>;
export type GatewayConfig = ConfigOf<'gateway'>;
export type UpConfig = ConfigOf<'up'>;
export type ImportConfig = ConfigOf<'import'>;

/** Every FLYWHEEL_* variable any role reads. */
export const KNOWN_ENV = new Set(
  Object.values(SETTINGS).flatMap((s) =>
    Object.values(s as Record<string, Setting<unknown>>).map((x) => x.env),
  ),
);

/** Rules between settings of one role, checked once every setting parsed. */
const CROSS_CHECKS: Partial<Record<Role, (c: Record<string, unknown>) => string[]>> = {
  gateway: (c) =>
    leaseTimingProblems({
      durationMs: c.leaseDuration as number,
      renewDeadlineMs: c.leaseRenewDeadline as number,
      retryPeriodMs: c.leaseRetryPeriod as number,
    }).map((p) => `--lease-duration, --lease-renew-deadline, --lease-retry-period: ${p}`),
};

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
  if (problems.length === 0) problems.push(...(CROSS_CHECKS[role]?.(out) ?? []));
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  return Object.freeze(out) as ConfigOf<R>;
}
