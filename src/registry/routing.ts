// The gateway's routing state (which share of traffic the candidate gets, and how), kept in the registry
// beside the aliases so that every gateway replica reads the same split and a restart keeps it.
// One small JSON file replaced atomically; every change is appended to a routing history.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlywheelError } from '../errors.js';
import { appendJsonLines, readJsonLines } from './history.js';
import { unwritable } from './layout.js';
import { Registry } from './registry.js';

export const ROUTING_MODES = ['off', 'canary', 'sticky', 'shadow'] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

export interface RoutingState {
  readonly mode: RoutingMode;
  /** The candidate's share in percent: of all traffic (canary, sticky) or of mirrored traffic (shadow). */
  readonly weight: number;
  /** Mixed into the sticky hash; changing it reshuffles which users see the candidate. */
  readonly salt: string;
  readonly updated_at: string | null;
  /** Increases by one on every change. */
  readonly generation: number;
}

export interface RoutingChange {
  readonly mode?: RoutingMode;
  readonly weight?: number;
  readonly salt?: string;
}

export interface RoutingHistoryEntry {
  readonly at: string;
  readonly from: { readonly mode: RoutingMode; readonly weight: number };
  readonly to: { readonly mode: RoutingMode; readonly weight: number };
  readonly salt_changed: boolean;
  readonly generation: number;
  readonly by: string;
  readonly reason: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/** No file yet: everything goes to production. */
export const DEFAULT_ROUTING: RoutingState = Object.freeze({
  mode: 'off',
  weight: 0,
  salt: '',
  updated_at: null,
  generation: 0,
});

export const ROUTING_FILE = 'routing.json';
export const ROUTING_HISTORY_FILE = 'routing-history.jsonl';

export function routingPath(registryDir: string): string {
  return path.join(registryDir, ROUTING_FILE);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a requested change (from PUT /admin/traffic, the CLI or the analysis). Returns the list of
 * problems, empty when the change is valid; unknown fields are problems so a typo is not ignored.
 */
export function routingChangeProblems(body: unknown): string[] {
  if (!isRecord(body)) return ['body must be a JSON object such as {"mode":"canary","weight":10}'];
  const problems: string[] = [];
  for (const key of Object.keys(body)) {
    if (key !== 'mode' && key !== 'weight' && key !== 'salt') problems.push(`unknown field "${key}"`);
  }
  if (body.mode !== undefined && !(ROUTING_MODES as readonly unknown[]).includes(body.mode)) {
    problems.push(`mode must be one of ${ROUTING_MODES.join(', ')}`);
  }
  if (
    body.weight !== undefined &&
    (typeof body.weight !== 'number' || !Number.isFinite(body.weight) || body.weight < 0 || body.weight > 100)
  ) {
    problems.push('weight must be a number from 0 to 100');
  }
  if (
    body.salt !== undefined &&
    (typeof body.salt !== 'string' || body.salt.length === 0 || body.salt.length > 200)
  ) {
    problems.push('salt must be a non-empty string of at most 200 characters');
  }
  if (body.mode === undefined && body.weight === undefined && body.salt === undefined) {
    problems.push('nothing to change: give mode, weight or salt');
  }
  return problems;
}

/** Validates the stored file; a malformed state is refused rather than half-used. */
export function parseRouting(text: string, file = ROUTING_FILE): RoutingState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FlywheelError('FLY_ERR_ROUTING_CORRUPT', `${file} is not valid JSON`);
  }
  const problems: string[] = [];
  if (!isRecord(raw)) problems.push('not an object');
  else {
    if (!(ROUTING_MODES as readonly unknown[]).includes(raw.mode)) problems.push('mode');
    if (typeof raw.weight !== 'number' || !(raw.weight >= 0 && raw.weight <= 100)) problems.push('weight');
    if (typeof raw.salt !== 'string') problems.push('salt');
    if (raw.updated_at !== null && typeof raw.updated_at !== 'string') problems.push('updated_at');
    if (typeof raw.generation !== 'number' || !Number.isInteger(raw.generation) || raw.generation < 0) {
      problems.push('generation');
    }
  }
  if (problems.length > 0 || !isRecord(raw)) {
    throw new FlywheelError('FLY_ERR_ROUTING_CORRUPT', `${file} is malformed: ${problems.join(', ')}`, {
      problems,
    });
  }
  return Object.freeze({
    mode: raw.mode as RoutingMode,
    weight: raw.weight as number,
    salt: raw.salt as string,
    updated_at: raw.updated_at as string | null,
    generation: raw.generation as number,
  });
}

/** The current routing state; the default (all production) when none was ever written. */
export async function readRouting(registryDir: string): Promise<RoutingState> {
  const file = routingPath(registryDir);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_ROUTING;
    throw err;
  }
  return parseRouting(text, file);
}

export interface RoutingChangeMeta {
  /** who: e.g. `gateway:<id>`, `cli:<host>`, `analysis:<gateway id>` */
  readonly by?: string;
  readonly reason: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/**
 * Applies a change, writes the new state atomically and appends it to the routing history. Throws
 * FLY_ERR_BAD_REQUEST listing the problems of an invalid change (the file is then untouched).
 */
export async function updateRouting(
  registryDir: string,
  change: RoutingChange,
  meta: RoutingChangeMeta,
): Promise<RoutingState> {
  const problems = routingChangeProblems(change);
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_BAD_REQUEST', `invalid routing change: ${problems.join('; ')}`, {
      problems,
    });
  }
  // Several gateways and the CLI may change the split at once: read-modify-write under the registry's
  // lock (the one alias changes take); the registry re-runs this if the lock was broken meanwhile.
  const registry = new Registry(registryDir);
  return registry.withLock(async (assertHeld) => {
    const before = await readRouting(registryDir).catch((err: unknown) => {
      // A corrupt file must not block an operator from fixing the split: start from the default.
      if (err instanceof FlywheelError && err.code === 'FLY_ERR_ROUTING_CORRUPT') return DEFAULT_ROUTING;
      throw err;
    });
    const at = new Date().toISOString();
    const next: RoutingState = Object.freeze({
      mode: change.mode ?? before.mode,
      weight: change.weight ?? before.weight,
      // A salt is made once, at the first write, so sticky assignments differ between registries.
      salt: change.salt ?? (before.salt || randomBytes(8).toString('hex')),
      updated_at: at,
      generation: before.generation + 1,
    });
    const entry: RoutingHistoryEntry = {
      at,
      from: { mode: before.mode, weight: before.weight },
      to: { mode: next.mode, weight: next.weight },
      salt_changed: next.salt !== before.salt,
      generation: next.generation,
      by: meta.by ?? `${os.hostname()}:${process.pid}`,
      reason: meta.reason,
      ...(meta.evidence ? { evidence: meta.evidence } : {}),
    };
    await assertHeld();
    await registry.writeFile(ROUTING_FILE, `${JSON.stringify(next, null, 2)}\n`);
    // Under the lock, with the project's one history appender (fsync, rotation).
    try {
      await appendJsonLines(path.join(registryDir, ROUTING_HISTORY_FILE), [entry]);
    } catch (err) {
      throw unwritable(registry.root, err);
    }
    return next;
  });
}

/** Every routing change, oldest first, across rotated files; lines that do not parse are skipped. */
export async function readRoutingHistory(registryDir: string): Promise<RoutingHistoryEntry[]> {
  return readJsonLines(path.join(registryDir, ROUTING_HISTORY_FILE), (line) => {
    try {
      return JSON.parse(line) as RoutingHistoryEntry;
    } catch {
      return undefined; // a torn last line
    }
  });
}
