// The feature names of each version that answers, read from its manifest off the proxy's path, so the
// prediction log can name the values of the backend's `x-flywheel-features` header (the validated row
// the model used, in the version's feature order) without parsing any request body.
import type { Logger } from '../../log.js';
import { isVersionId } from '../../registry/index.js';
import type { Registry } from '../../registry/registry.js';
import { readFeatureRow } from './body.js';

/** Versions remembered at once (as many as the drift monitor measures); the one unused longest goes. */
export const MAX_NAMED_VERSIONS = 16;

/** How the names of a version are read (the registry's manifest; a map in unit tests). */
export type NamesSource = (version: string) => Promise<readonly string[]>;

/** One version's feature names, and the last row read with them. */
export interface NamedRow {
  readonly names: readonly string[];
  /** Each name JSON-quoted with its colon (`"name":`), made once per version for the log lines. */
  readonly keys: readonly string[];
  /**
   * The values of the header last read with these names (`read`), one per name. Overwritten by the
   * next read of the same version: consumed at once, on the proxy's path, by drift and the log.
   */
  readonly values: Float64Array;
}

/**
 * A bounded cache of version → feature names, filled lazily: `get` never waits, it starts the read
 * and answers undefined until the names are in. A manifest that cannot be read is remembered as no
 * names (its rows are not logged) until the version is evicted, so a broken version costs one read.
 */
export class FeatureNames {
  readonly #source: NamesSource;
  readonly #names = new Map<string, NamedRow>();
  /** The version used last: its lookups skip the recency update (nearly every lookup is one). */
  #newest: string | null = null;
  readonly #loading = new Map<string, Promise<void>>();
  readonly #onError: (version: string, err: Error) => void;
  /**
   * Rows that could not be named: the version's names were not read yet (its first answers, unless it
   * was production or candidate beforehand), or the answer had no row of that version.
   */
  unnamed = 0;

  constructor(source: NamesSource, onError: (version: string, err: Error) => void = () => {}) {
    this.#source = source;
    this.#onError = onError;
  }

  static fromRegistry(registry: Registry, log: Logger): FeatureNames {
    return new FeatureNames(
      async (version) => (await registry.readManifest(version)).features.map((f) => f.name),
      (version, err) =>
        log.warn({ version, err: err.message }, 'manifest unreadable; its predictions are not logged'),
    );
  }

  /** The names of `version`, or undefined while they are being read (the read starts on first sight). */
  get(version: string): readonly string[] | undefined {
    return this.#named(version)?.names;
  }

  #named(version: string): NamedRow | undefined {
    const named = this.#names.get(version);
    if (named !== undefined) {
      if (version !== this.#newest) {
        // Most recently used last: Map keeps insertion order, so the first key is the one to evict.
        this.#names.delete(version);
        this.#names.set(version, named);
        this.#newest = version;
      }
      return named;
    }
    void this.load(version);
    return undefined;
  }

  /** Reads the names of the versions given (production and candidate, ahead of their answers). */
  preload(versions: readonly (string | null)[]): Promise<unknown> {
    return Promise.all(versions.map((v) => (v === null ? null : this.load(v))));
  }

  /** Reads the names of `version` unless they are in or being read; resolves when they are in. */
  load(version: string): Promise<void> {
    if (this.#names.has(version)) return Promise.resolve();
    const pending = this.#loading.get(version);
    if (pending !== undefined) return pending;
    if (!isVersionId(version)) return Promise.resolve();
    const p = this.#source(version)
      .catch((err: unknown) => {
        this.#onError(version, err as Error);
        return [] as readonly string[];
      })
      .then((names) => {
        this.#loading.delete(version);
        if (this.#names.size >= MAX_NAMED_VERSIONS) {
          const oldest = this.#names.keys().next().value as string;
          this.#names.delete(oldest);
        }
        this.#names.set(version, {
          names,
          keys: names.map((n) => `${JSON.stringify(n)}:`),
          values: new Float64Array(names.length),
        });
        this.#newest = version;
      });
    this.#loading.set(version, p);
    return p;
  }

  /**
   * Reads an `x-flywheel-features` header with `version`'s names into its `values`: the one parse of
   * the header per request, shared by drift and the prediction log. Null when the names are not in
   * yet (the read starts), or the header is absent or not a row of that version.
   */
  read(version: string, header: string | null | undefined): NamedRow | null {
    const named = this.#named(version);
    if (named === undefined || !readFeatureRow(header, named.names.length, named.values)) return null;
    return named;
  }

  /**
   * A row `read` returned as the members of the log line's "features" object (`"a":30,"b":10`:
   * finite values only, see featureMembers in registry/feedback.ts); null (counted in `unnamed`) for
   * no row.
   */
  members(row: NamedRow | null): string | null {
    if (row === null) {
      this.unnamed++;
      return null;
    }
    const { keys, values } = row;
    let out = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (Number.isFinite(v)) out += out === '' ? keys[i] + v : `,${keys[i]}${v}`;
    }
    return out;
  }
}
