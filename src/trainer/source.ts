// The `--source` spec: which data the trainer reads. Parsed here, before anything is read, so a typo
// fails at once with the list of accepted forms. Feedback (the gateway's collected ground truth) is
// read by src/registry/feedback.ts, alone or added to another source.
import { FlywheelError } from '../errors.js';

export type SourceSpec =
  | { readonly kind: 'synthetic' }
  | { readonly kind: 'csv'; readonly path: string }
  | { readonly kind: 'jsonl'; readonly path: string }
  /** The gateway's feedback joined with its logged predictions; with `base`, added to that source. */
  | { readonly kind: 'feedback'; readonly base: Exclude<SourceSpec, { kind: 'feedback' }> | null };

const FORMS = 'synthetic, csv:<path>, jsonl:<path>, feedback or <source>+feedback';

export function parseSourceSpec(spec: string): SourceSpec {
  const s = spec.trim();
  if (s === 'synthetic') return { kind: 'synthetic' };
  if (s === 'feedback') return { kind: 'feedback', base: null };
  if (s.endsWith('+feedback')) {
    const base = parseSourceSpec(s.slice(0, -'+feedback'.length));
    if (base.kind === 'feedback') {
      throw new FlywheelError('FLY_ERR_USAGE', `--source ${JSON.stringify(spec)}: feedback is added once`);
    }
    return { kind: 'feedback', base };
  }
  const m = /^(csv|jsonl):(.+)$/.exec(s);
  if (m) return { kind: m[1] as 'csv' | 'jsonl', path: m[2] };
  throw new FlywheelError(
    'FLY_ERR_USAGE',
    `--source ${JSON.stringify(spec)} is not a data source; use ${FORMS}`,
  );
}

/** The spec as the data readers and the manifest spell it. */
export function formatSourceSpec(spec: SourceSpec): string {
  if (spec.kind === 'feedback') return spec.base ? `${formatSourceSpec(spec.base)}+feedback` : 'feedback';
  return spec.kind === 'synthetic' ? 'synthetic' : `${spec.kind}:${spec.path}`;
}
