// Promote and roll back the candidate: the two decisions of an experiment, shared by the admin API,
// the analysis loop and `flywheel promote | rollback` on a registry folder.
import { FlywheelError } from '../../errors.js';
import { Registry } from '../../registry/registry.js';
import type { AliasState } from '../../registry/types.js';

export interface DecisionInfo {
  /** The candidate the decision was made about; refused if the candidate changed since. */
  readonly expected?: string;
  readonly by: string;
  readonly reason: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
  /** Runs under the registry lock before the change: the analysis's lease check. */
  readonly guard?: () => Promise<void>;
}

async function currentCandidate(registry: Registry, expected: string | undefined): Promise<AliasState> {
  const aliases = await registry.readAliases();
  if (aliases.candidate === null) {
    throw new FlywheelError('FLY_ERR_NO_CANDIDATE', 'there is no candidate version to decide on');
  }
  // Checked here for a clear message; the registry checks again under its lock (compare-and-set), so a
  // decision about one candidate never lands on a newer one a trainer published meanwhile.
  if (expected !== undefined && aliases.candidate !== expected) {
    throw new FlywheelError(
      'FLY_ERR_ALIAS',
      `the candidate changed from ${expected} to ${aliases.candidate}; decision not applied`,
    );
  }
  return aliases;
}

/** candidate → production (the candidate alias is cleared); recorded in the alias history. */
export async function promoteCandidate(registry: Registry, info: DecisionInfo): Promise<AliasState> {
  const { candidate, production } = await currentCandidate(registry, info.expected);
  // Compare-and-set on production: refused if another gateway or a trainer moved it meanwhile.
  return registry.promote(candidate as string, {
    by: info.by,
    reason: info.reason,
    expectProduction: production,
    ...(info.evidence ? { evidence: info.evidence } : {}),
    ...(info.guard ? { guard: info.guard } : {}),
  });
}

/** The candidate is dropped: all traffic goes to production. Recorded in the alias history. */
export async function rollbackCandidate(registry: Registry, info: DecisionInfo): Promise<AliasState> {
  const { candidate } = await currentCandidate(registry, info.expected);
  // Compare-and-set on the candidate: refused if a trainer published another one meanwhile.
  return registry.setAlias('candidate', null, {
    by: info.by,
    reason: info.reason,
    expect: candidate,
    ...(info.evidence ? { evidence: info.evidence } : {}),
    ...(info.guard ? { guard: info.guard } : {}),
  });
}
