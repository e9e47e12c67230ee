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
}

async function currentCandidate(registry: Registry, expected: string | undefined): Promise<string> {
  const aliases = await registry.readAliases();
  if (aliases.candidate === null) {
    throw new FlywheelError('FLY_ERR_NO_CANDIDATE', 'there is no candidate version to decide on');
  }
  // Checked just before the change (the registry's alias operations take its lock themselves): a
  // decision about one candidate must not land on a newer one a trainer published meanwhile.
  if (expected !== undefined && aliases.candidate !== expected) {
    throw new FlywheelError(
      'FLY_ERR_ALIAS',
      `the candidate changed from ${expected} to ${aliases.candidate}; decision not applied`,
    );
  }
  return aliases.candidate;
}

/** candidate → production (the candidate alias is cleared); recorded in the alias history. */
export async function promoteCandidate(registry: Registry, info: DecisionInfo): Promise<AliasState> {
  const candidate = await currentCandidate(registry, info.expected);
  return registry.promote(candidate, {
    by: info.by,
    reason: info.reason,
    ...(info.evidence ? { evidence: info.evidence } : {}),
  });
}

/** The candidate is dropped: all traffic goes to production. Recorded in the alias history. */
export async function rollbackCandidate(registry: Registry, info: DecisionInfo): Promise<AliasState> {
  await currentCandidate(registry, info.expected);
  return registry.setAlias('candidate', null, {
    by: info.by,
    reason: info.reason,
    ...(info.evidence ? { evidence: info.evidence } : {}),
  });
}
