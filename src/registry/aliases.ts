// Aliases (`production`, `candidate`) and their history: one small file replaced atomically under the
// registry lock, every change appended to history.jsonl, and the walk back through that history that
// a rollback follows. The Registry class (registry.ts) is the public face of these functions.
import { readFile } from 'node:fs/promises';
import { FlywheelError } from '../errors.js';
import { errnoCode, writeFileAtomic } from './fs.js';
import { appendJsonLines, readJsonLines, type Rotation } from './history.js';
import { unreadable, unwritable, type RegistryPaths } from './layout.js';
import type { AliasAction, AliasChange, AliasName, AliasState, ChangeInfo } from './types.js';
import { EMPTY_ALIASES, parseAliases, parseHistoryLine } from './validate.js';

/** What alias changes need of the registry: its folder, its lock and a check that a version is intact. */
export interface AliasStore {
  readonly paths: RegistryPaths;
  /** Recorded as `by` when a change does not say who made it. */
  readonly host: string;
  /** When history.jsonl starts a new file (history.ts). */
  readonly historyRotation: Rotation;
  withLock<T>(fn: (assertHeld: () => Promise<void>) => Promise<T>): Promise<T>;
  loadArtifact(version: string): Promise<unknown>;
}

interface Step {
  readonly alias: AliasName;
  readonly to: string | null;
  readonly action: AliasAction;
}

/**
 * Versions production pointed at before, most recent last, as a rollback walks them: a promotion
 * pushes the version it replaced; a rollback to X pops back to below X, so two rollbacks in a row go
 * two steps back rather than toggling.
 */
export function productionStack(history: readonly AliasChange[]): string[] {
  const stack: string[] = [];
  for (const h of history) {
    if (h.alias !== 'production' || h.from === h.to) continue;
    if (h.action === 'rollback') {
      const i = h.to === null ? -1 : stack.lastIndexOf(h.to);
      if (i >= 0) stack.length = i;
    } else if (h.from !== null) {
      stack.push(h.from);
    }
  }
  return stack;
}

export async function readAliases(paths: RegistryPaths): Promise<AliasState> {
  let text: string;
  try {
    text = await readFile(paths.aliases, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return EMPTY_ALIASES;
    throw unreadable(paths.root, err, paths.aliases);
  }
  const parsed = parseAliases(text);
  if (typeof parsed === 'string') {
    throw new FlywheelError('FLY_ERR_REGISTRY_CORRUPT', `${paths.aliases} ${parsed}`);
  }
  return parsed;
}

/** Every alias change, oldest first; lines that do not parse (a torn last line) are skipped. */
export async function readHistory(paths: RegistryPaths): Promise<AliasChange[]> {
  try {
    return await readJsonLines(paths.history, parseHistoryLine);
  } catch (err) {
    throw unreadable(paths.root, err, paths.history);
  }
}

/** The version a rollback would go to, if any (it may since have been pruned or damaged). */
export async function previousProduction(paths: RegistryPaths): Promise<string | null> {
  const aliases = await readAliases(paths);
  const stack = productionStack(await readHistory(paths)).reverse();
  return stack.find((v) => v !== aliases.production) ?? null;
}

/**
 * Points an alias at a version (verified intact) or clears it with null. With `expect`, refuses
 * (FLY_ERR_ALIAS, details.conflict) when the alias no longer points where the caller saw it: a
 * decision about one candidate must not clear a newer one a trainer published meanwhile.
 */
export function setAlias(
  store: AliasStore,
  alias: AliasName,
  version: string | null,
  change: ChangeInfo & { readonly expect?: string | null },
): Promise<AliasState> {
  return changeAliases(store, change, async (current) => {
    if (change.expect !== undefined && current[alias] !== change.expect) {
      throw new FlywheelError(
        'FLY_ERR_ALIAS',
        `${alias} changed from ${change.expect ?? 'none'} to ${current[alias] ?? 'none'} meanwhile`,
        { conflict: true, [alias]: current[alias] },
      );
    }
    if (version !== null) await store.loadArtifact(version);
    return [{ alias, to: version, action: 'set' }];
  });
}

/** production := version; the candidate is cleared if it was that version (see Registry.promote). */
export function promote(
  store: AliasStore,
  version: string,
  change: ChangeInfo & { readonly expectProduction?: string | null },
): Promise<AliasState> {
  return changeAliases(store, change, async (current) => {
    if (change.expectProduction !== undefined && current.production !== change.expectProduction) {
      throw new FlywheelError(
        'FLY_ERR_ALIAS',
        `production changed from ${change.expectProduction ?? 'none'} to ${current.production ?? 'none'} meanwhile`,
        { conflict: true, production: current.production },
      );
    }
    await store.loadArtifact(version);
    const steps: Step[] = [{ alias: 'production', to: version, action: 'promote' }];
    if (current.candidate === version) steps.push({ alias: 'candidate', to: null, action: 'promote' });
    return steps;
  });
}

/** production := `to`, or the production before the current one (see productionStack). */
export function rollback(
  store: AliasStore,
  change: ChangeInfo & { readonly to?: string },
): Promise<AliasState> {
  return changeAliases(store, change, async (current, history) => {
    let target = change.to;
    if (target === undefined) {
      // Walk back past versions that were pruned or damaged since.
      for (const v of productionStack(await history()).reverse()) {
        if (v === current.production) continue;
        try {
          await store.loadArtifact(v);
          target = v;
          break;
        } catch {
          continue;
        }
      }
      if (target === undefined) {
        throw new FlywheelError(
          'FLY_ERR_ALIAS',
          'no previous production version to roll back to; name one with --to <version>',
        );
      }
    } else {
      await store.loadArtifact(target);
    }
    if (target === current.production) {
      throw new FlywheelError('FLY_ERR_ALIAS', `${target} is already production`);
    }
    const steps: Step[] = [{ alias: 'production', to: target, action: 'rollback' }];
    if (current.candidate === target) steps.push({ alias: 'candidate', to: null, action: 'rollback' });
    return steps;
  });
}

/** Appends a decision that left the alias as it was (e.g. "not promoted: worse than production"). */
export function recordDecision(store: AliasStore, alias: AliasName, change: ChangeInfo): Promise<AliasState> {
  return changeAliases(store, change, async (current) => [{ alias, to: current[alias], action: 'decision' }]);
}

/**
 * Reads the aliases, plans the steps, writes the alias file atomically and appends the history, all
 * under the registry lock.
 */
async function changeAliases(
  store: AliasStore,
  change: ChangeInfo,
  // The history is read only by the plans that need it (rollback): it grows with every run.
  plan: (current: AliasState, readHistory: () => Promise<AliasChange[]>) => Promise<Step[]>,
): Promise<AliasState> {
  const { paths } = store;
  return store.withLock(async (assertHeld) => {
    await change.guard?.();
    const current = await readAliases(paths);
    const steps = await plan(current, () => readHistory(paths));
    const at = new Date().toISOString();
    const next: { -readonly [K in keyof AliasState]: AliasState[K] } = { ...current };
    const entries: Omit<AliasChange, 'generation'>[] = [];
    for (const step of steps) {
      const from = next[step.alias];
      if (from === step.to && step.action !== 'decision') continue;
      next[step.alias] = step.to;
      entries.push({
        at,
        alias: step.alias,
        from,
        to: step.to,
        by: change.by ?? store.host,
        reason: change.reason,
        ...(change.evidence === undefined ? {} : { evidence: change.evidence }),
        action: step.action,
      });
    }
    if (entries.length === 0) return current;
    const changed = entries.some((e) => e.from !== e.to);
    if (changed) {
      next.generation = current.generation + 1;
      next.updated_at = at;
    }
    await assertHeld();
    try {
      if (changed) {
        const body = {
          production: next.production,
          candidate: next.candidate,
          generation: next.generation,
          updated_at: next.updated_at,
        };
        await writeFileAtomic(paths.aliases, `${JSON.stringify(body, null, 2)}\n`, { tmpDir: paths.tmp });
      }
      await appendJsonLines(
        paths.history,
        entries.map((e) => ({ ...e, generation: next.generation })),
        store.historyRotation,
      );
    } catch (err) {
      throw unwritable(paths.root, err);
    }
    return next;
  });
}
