// The `--source` spec: which data the trainer reads. Parsed here, before anything is read, so a typo
// fails at once with the list of accepted forms. Feedback (the gateway's collected ground truth) is
// the next source to add: it gets its kind here and a reader in data/.
import { FlywheelError } from '../errors.js';

export type SourceSpec =
  | { readonly kind: 'synthetic' }
  | { readonly kind: 'csv'; readonly path: string }
  | { readonly kind: 'jsonl'; readonly path: string };

const FORMS = 'synthetic, csv:<path> or jsonl:<path>';

export function parseSourceSpec(spec: string): SourceSpec {
  const s = spec.trim();
  if (s === 'synthetic') return { kind: 'synthetic' };
  const m = /^(csv|jsonl):(.+)$/.exec(s);
  if (m) return { kind: m[1] as 'csv' | 'jsonl', path: m[2] };
  if (s === 'feedback' || s.endsWith('+feedback')) {
    throw new FlywheelError(
      'FLY_ERR_USAGE',
      `--source ${JSON.stringify(spec)}: training on collected feedback is not available yet; use ${FORMS}`,
    );
  }
  throw new FlywheelError(
    'FLY_ERR_USAGE',
    `--source ${JSON.stringify(spec)} is not a data source; use ${FORMS}`,
  );
}

/** The spec as the data readers and the manifest spell it. */
export function formatSourceSpec(spec: SourceSpec): string {
  return spec.kind === 'synthetic' ? 'synthetic' : `${spec.kind}:${spec.path}`;
}
