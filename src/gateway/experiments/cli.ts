// `flywheel traffic | promote | rollback`: the admin API's actions from a shell, either against a running
// gateway (--url with --admin-token, so the change is made and logged by the gateway) or directly on
// the registry folder (no gateway needed; every gateway follows the registry within a poll interval).
import os from 'node:os';
import { request } from 'undici';
import type { ConfigOf } from '../../config.js';
import { ERRORS, FlywheelError, type ErrorCode } from '../../errors.js';
import { Registry } from '../../registry/registry.js';
import { readRouting, ROUTING_MODES, updateRouting, type RoutingChange } from '../../registry/routing.js';
import { promoteCandidate, rollbackCandidate } from './actions.js';

type AdminConfig = ConfigOf<'admin'>;

const actor = () => `cli:${os.hostname()}`;

async function callGateway(
  config: AdminConfig,
  method: 'GET' | 'PUT' | 'POST',
  route: string,
  body?: unknown,
) {
  const base = config.url as string;
  if (!config.adminToken) {
    throw new FlywheelError('FLY_ERR_USAGE', '--url needs --admin-token (or FLYWHEEL_ADMIN_TOKEN)');
  }
  let res;
  try {
    res = await request(new URL(route, base.endsWith('/') ? base : `${base}/`), {
      method,
      headers: {
        authorization: `Bearer ${config.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (err) {
    throw new FlywheelError(
      'FLY_ERR_UPSTREAM_FAILED',
      `cannot reach the gateway at ${base}: ${(err as Error).message}`,
    );
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FlywheelError(
      'FLY_ERR_UPSTREAM_FAILED',
      `${base}${route} answered ${res.statusCode} without JSON`,
    );
  }
  if (res.statusCode >= 400) {
    const e = parsed as { error?: unknown; code?: unknown };
    const code =
      typeof e.code === 'string' && e.code in ERRORS ? (e.code as ErrorCode) : 'FLY_ERR_UPSTREAM_FAILED';
    throw new FlywheelError(
      code,
      typeof e.error === 'string' ? e.error : `gateway answered ${res.statusCode}`,
    );
  }
  return parsed as Record<string, unknown>;
}

function print(
  config: AdminConfig,
  out: NodeJS.WritableStream,
  data: Record<string, unknown>,
  lines: string[],
) {
  out.write(config.json ? `${JSON.stringify(data)}\n` : `${lines.join('\n')}\n`);
}

function parseChange(args: { mode?: string; weight?: string; salt?: string }): RoutingChange | null {
  if (args.mode === undefined && args.weight === undefined && args.salt === undefined) return null;
  const change: { mode?: (typeof ROUTING_MODES)[number]; weight?: number; salt?: string } = {};
  if (args.mode !== undefined) {
    if (!(ROUTING_MODES as readonly string[]).includes(args.mode)) {
      throw new FlywheelError(
        'FLY_ERR_USAGE',
        `mode must be one of ${ROUTING_MODES.join(', ')}, got ${args.mode}`,
      );
    }
    change.mode = args.mode as (typeof ROUTING_MODES)[number];
  }
  if (args.weight !== undefined) {
    const w = Number(args.weight.replace(/%$/, ''));
    if (args.weight.trim() === '' || !Number.isFinite(w) || w < 0 || w > 100) {
      throw new FlywheelError('FLY_ERR_USAGE', `weight must be a number from 0 to 100, got ${args.weight}`);
    }
    change.weight = w;
  }
  if (args.salt !== undefined) change.salt = args.salt;
  return change;
}

/** `flywheel traffic [mode] [weight] [--salt s]`: shows the split, or changes it. */
export async function runTraffic(
  args: { mode?: string; weight?: string; salt?: string },
  config: AdminConfig,
  out: NodeJS.WritableStream,
): Promise<void> {
  const change = parseChange(args);
  let routing: Record<string, unknown>;
  let production: unknown;
  let candidate: unknown;
  if (config.url) {
    routing = change
      ? await callGateway(config, 'PUT', 'admin/traffic', change)
      : await callGateway(config, 'GET', 'admin/traffic');
    ({ production, candidate } = routing);
  } else {
    const state = change
      ? await updateRouting(config.registry, change, {
          by: actor(),
          reason: `flywheel traffic ${args.mode ?? ''} ${args.weight ?? ''}`.trim(),
        })
      : await readRouting(config.registry);
    const aliases = await new Registry(config.registry).readAliases();
    routing = { ...state, production: aliases.production, candidate: aliases.candidate };
    ({ production, candidate } = aliases);
  }
  const split =
    routing.mode === 'off'
      ? 'off: all traffic to production'
      : routing.mode === 'shadow'
        ? `shadow: ${String(routing.weight)}% mirrored to the candidate, answers from production`
        : `${String(routing.mode)}: ${String(routing.weight)}% to the candidate`;
  print(config, out, routing, [
    `routing     ${split}${candidate === null ? ' (no candidate now: 100% production)' : ''}`,
    `generation  ${String(routing.generation)}   updated ${String(routing.updated_at ?? 'never')}`,
    `production  ${String(production ?? '-')}`,
    `candidate   ${String(candidate ?? '-')}`,
  ]);
}

/** `flywheel promote` / `flywheel rollback`: decide on the candidate now. */
export async function runDecision(
  decision: 'promote' | 'rollback',
  args: { reason?: string },
  config: AdminConfig,
  out: NodeJS.WritableStream,
): Promise<void> {
  const reason = args.reason ?? `manual ${decision} via flywheel ${decision}`;
  let result: { candidate: unknown; aliases: { production: unknown; candidate: unknown } };
  if (config.url) {
    result = (await callGateway(config, 'POST', `admin/${decision}`, { reason })) as typeof result;
  } else {
    const registry = new Registry(config.registry);
    const { candidate } = await registry.readAliases();
    const info = {
      by: actor(),
      reason,
      evidence: { decision, via: 'cli' },
      ...(candidate ? { expected: candidate } : {}),
    };
    const aliases =
      decision === 'promote'
        ? await promoteCandidate(registry, info)
        : await rollbackCandidate(registry, info);
    result = { candidate, aliases: { production: aliases.production, candidate: aliases.candidate } };
  }
  print(config, out, { decision, ...result }, [
    decision === 'promote'
      ? `promoted ${String(result.candidate)}: production is now ${String(result.aliases.production)}`
      : `rolled back ${String(result.candidate)}: production stays ${String(result.aliases.production)}, no candidate`,
  ]);
}
