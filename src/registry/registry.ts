// The filesystem model registry (layout and guarantees: see index.ts). Readers need only read access,
// so backends can mount the folder read-only; writers publish versions without any lock (ids are
// reserved with mkdir) and change aliases or prune under a short crash-safe lock.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rmdir, stat, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FlywheelError, isFlywheelError, type ErrorCode } from '../errors.js';
import {
  errnoCode,
  fsyncDir,
  removeTree,
  uniqueSuffix,
  UNWRITABLE_CODES,
  writeFileAtomic,
  writeNewFile,
} from './fs.js';
import { FileLock, LockLostError } from './lock.js';
import type {
  AliasAction,
  AliasChange,
  AliasName,
  AliasState,
  ChangeInfo,
  Manifest,
  VersionEntry,
} from './types.js';
import { EMPTY_ALIASES, manifestProblem, parseAliases, parseHistoryLine, parseManifest } from './validate.js';
import { compareNewestFirst, formatVersionId, isVersionId, MAX_SEQ, versionIdTime } from './version-id.js';

export const ARTIFACT_FILE = 'model.bin';
export const MANIFEST_FILE = 'manifest.json';

export interface RegistryPaths {
  readonly root: string;
  /** One folder per published version: `versions/<id>/{manifest.json, model.bin}`. */
  readonly versions: string;
  /** Version id reservations (empty folders made with mkdir): what makes ids unique. */
  readonly ids: string;
  /** Temp files and folders; anything here older than a run is left by a dead process. */
  readonly tmp: string;
  readonly aliases: string;
  readonly history: string;
  readonly lock: string;
}

export function registryPaths(root: string): RegistryPaths {
  const r = path.resolve(root);
  return {
    root: r,
    versions: path.join(r, 'versions'),
    ids: path.join(r, 'ids'),
    tmp: path.join(r, 'tmp'),
    aliases: path.join(r, 'aliases.json'),
    history: path.join(r, 'history.jsonl'),
    lock: path.join(r, 'registry.lock'),
  };
}

export interface RegistryOptions {
  /** A lock older than this was left by a dead process (default 10 s; holders keep it for ms). */
  readonly lockStaleMs?: number;
  /** How long a writer waits for the lock (default 15 s). */
  readonly lockTimeoutMs?: number;
  /** Recorded as `by` when a change does not say who made it (default: this host's name). */
  readonly host?: string;
}

export type PublishInput = {
  readonly artifact: Uint8Array;
  readonly manifest: Omit<Manifest, 'version' | 'created_at' | 'artifact' | 'format'>;
};

interface Step {
  readonly alias: AliasName;
  readonly to: string | null;
  readonly action: AliasAction;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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

export class Registry {
  readonly root: string;
  readonly paths: RegistryPaths;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;
  readonly #host: string;

  constructor(root: string, options: RegistryOptions = {}) {
    this.paths = registryPaths(root);
    this.root = this.paths.root;
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    this.#host = options.host ?? os.hostname();
  }

  // ---- writing -------------------------------------------------------------------------------

  /**
   * Creates the folder layout and proves it can be written (a probe file in tmp/), so a trainer
   * fails before a long fit rather than after. Throws FLY_ERR_REGISTRY_UNWRITABLE.
   */
  async init(): Promise<void> {
    try {
      for (const dir of [this.root, this.paths.versions, this.paths.ids, this.paths.tmp]) {
        await mkdir(dir, { recursive: true });
      }
      const probe = path.join(this.paths.tmp, `probe-${uniqueSuffix()}`);
      await writeNewFile(probe, 'probe');
      await removeTree(probe);
    } catch (err) {
      throw this.#unwritable(err);
    }
  }

  /**
   * Publishes an immutable version: artifact and manifest are written into a temp folder, fsynced,
   * and the folder is renamed to `versions/<id>`, so readers see the whole version or nothing.
   */
  async publish(input: PublishInput): Promise<Manifest> {
    await this.init();
    let tmpDir: string | undefined;
    try {
      tmpDir = await mkdtemp(path.join(this.paths.tmp, 'publish-'));
      await writeNewFile(path.join(tmpDir, ARTIFACT_FILE), input.artifact);
      // Reserved after the artifact is written so created_at is close to when the version appears.
      const { version, ms } = await this.#reserveVersionId();
      const manifest: Manifest = {
        format: 1,
        version,
        created_at: new Date(ms).toISOString(),
        ...input.manifest,
        artifact: { file: ARTIFACT_FILE, sha256: sha256(input.artifact), bytes: input.artifact.byteLength },
      };
      // Never publish what readers would refuse (e.g. a NaN metric serialises as null).
      const problem = manifestProblem(JSON.parse(JSON.stringify(manifest)), version);
      if (problem) throw new FlywheelError('FLY_ERR_INTERNAL', `refusing to publish ${version}: ${problem}`);
      await writeNewFile(path.join(tmpDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      await fsyncDir(tmpDir);
      await rename(tmpDir, path.join(this.paths.versions, version));
      tmpDir = undefined;
      await fsyncDir(this.paths.versions);
      return manifest;
    } catch (err) {
      if (tmpDir) await removeTree(tmpDir).catch(() => undefined);
      if (isFlywheelError(err)) throw err;
      throw this.#unwritable(err);
    }
  }

  /**
   * A time-sortable id claimed with mkdir: exactly one process gets each name, on a local disk or
   * NFS. Starting from the newest id already reserved keeps ids increasing even if this host's
   * clock is behind another trainer's.
   */
  async #reserveVersionId(): Promise<{ version: string; ms: number }> {
    let newest = 0;
    for (const dir of [this.paths.ids, this.paths.versions]) {
      for (const name of await readdir(dir)) newest = Math.max(newest, versionIdTime(name) ?? 0);
    }
    for (let ms = Math.max(Date.now(), newest); ; ms++) {
      for (let seq = 0; seq < MAX_SEQ; seq++) {
        const version = formatVersionId(ms, seq);
        try {
          await mkdir(path.join(this.paths.ids, version));
          return { version, ms };
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
        }
      }
    }
  }

  /**
   * Points an alias at a version (verified intact) or clears it with null. The alias file is
   * replaced atomically and the change appended to the history, under the registry lock.
   */
  async setAlias(alias: AliasName, version: string | null, change: ChangeInfo): Promise<AliasState> {
    return this.#changeAliases(change, async () => {
      if (version !== null) await this.loadArtifact(version);
      return [{ alias, to: version, action: 'set' }];
    });
  }

  /**
   * production := version; the candidate is cleared if it was that version. With `expectProduction`,
   * refuses (FLY_ERR_ALIAS, details.conflict) when production is no longer that version: a trainer
   * that compared against one production must not replace another that arrived meanwhile.
   */
  async promote(
    version: string,
    change: ChangeInfo & { readonly expectProduction?: string | null },
  ): Promise<AliasState> {
    return this.#changeAliases(change, async (current) => {
      if (change.expectProduction !== undefined && current.production !== change.expectProduction) {
        throw new FlywheelError(
          'FLY_ERR_ALIAS',
          `production changed from ${change.expectProduction ?? 'none'} to ${current.production ?? 'none'} meanwhile`,
          { conflict: true, production: current.production },
        );
      }
      await this.loadArtifact(version);
      const steps: Step[] = [{ alias: 'production', to: version, action: 'promote' }];
      if (current.candidate === version) steps.push({ alias: 'candidate', to: null, action: 'promote' });
      return steps;
    });
  }

  /** production := `to`, or the production before the current one (see productionStack). */
  async rollback(change: ChangeInfo & { readonly to?: string }): Promise<AliasState> {
    return this.#changeAliases(change, async (current, readHistory) => {
      let target = change.to;
      if (target === undefined) {
        // Walk back past versions that were pruned or damaged since.
        for (const v of productionStack(await readHistory()).reverse()) {
          if (v === current.production) continue;
          try {
            await this.loadArtifact(v);
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
        await this.loadArtifact(target);
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
  async recordDecision(alias: AliasName, change: ChangeInfo): Promise<AliasState> {
    return this.#changeAliases(change, async (current) => [
      { alias, to: current[alias], action: 'decision' },
    ]);
  }

  async #changeAliases(
    change: ChangeInfo,
    // The history is read only by the plans that need it (rollback): it grows with every run.
    plan: (current: AliasState, readHistory: () => Promise<AliasChange[]>) => Promise<Step[]>,
  ): Promise<AliasState> {
    return this.withLock(async (assertHeld) => {
      const current = await this.readAliases();
      const steps = await plan(current, () => this.history());
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
          by: change.by ?? this.#host,
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
          await writeFileAtomic(this.paths.aliases, `${JSON.stringify(body, null, 2)}\n`, {
            tmpDir: this.paths.tmp,
          });
        }
        await this.#appendHistory(entries.map((e) => ({ ...e, generation: next.generation })));
      } catch (err) {
        throw this.#unwritable(err);
      }
      return next;
    });
  }

  async #appendHistory(entries: readonly AliasChange[]): Promise<void> {
    const fh = await open(this.paths.history, 'a+', 0o644);
    try {
      // A crash mid-append can leave a line without its newline; start on a fresh line.
      const { size } = await fh.stat();
      let prefix = '';
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      await fh.write(prefix + entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Runs `fn` holding the registry lock (alias changes, pruning; the gateway's routing state).
   * `fn` calls `assertHeld()` right before it commits; if the lock was broken meanwhile, `fn` runs
   * again from the start, so it must read what it changes inside.
   */
  async withLock<T>(fn: (assertHeld: () => Promise<void>) => Promise<T>): Promise<T> {
    await this.init();
    for (let attempt = 1; ; attempt++) {
      const lock = new FileLock(this.paths.lock, this.paths.tmp, {
        staleMs: this.#lockStaleMs,
        timeoutMs: this.#lockTimeoutMs,
      });
      try {
        await lock.acquire();
      } catch (err) {
        if (isFlywheelError(err)) throw err;
        throw this.#unwritable(err);
      }
      try {
        return await fn(() => lock.assertHeld());
      } catch (err) {
        if (err instanceof LockLostError && attempt < 5) continue;
        throw err;
      } finally {
        await lock.release();
      }
    }
  }

  /**
   * Deletes all but the newest `keep` versions, never an alias target or the previous production
   * (the rollback target). A pruned version is renamed out of versions/ first, so it disappears
   * whole. Returns the deleted ids.
   */
  async prune(keep: number): Promise<string[]> {
    if (!Number.isInteger(keep) || keep < 1) {
      throw new FlywheelError('FLY_ERR_USAGE', `keep must be a whole number >= 1, got ${keep}`);
    }
    const moved = await this.withLock(async (assertHeld) => {
      const aliases = await this.readAliases();
      const previous = productionStack(await this.history())
        .reverse()
        .find((v) => v !== aliases.production);
      const protect = new Set([aliases.production, aliases.candidate, previous]);
      const doomed = (await this.#versionIds()).slice(keep).filter((v) => !protect.has(v));
      await assertHeld();
      const out: { version: string; aside: string }[] = [];
      for (const version of doomed) {
        const aside = path.join(this.paths.tmp, `pruned-${version}-${uniqueSuffix()}`);
        try {
          await rename(path.join(this.paths.versions, version), aside);
          out.push({ version, aside });
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw this.#unwritable(err);
        }
      }
      if (out.length > 0) await fsyncDir(this.paths.versions);
      return out;
    });
    // Deleting the files can be slow on a network volume: done outside the lock.
    for (const { version, aside } of moved) {
      await removeTree(aside);
      await rmdir(path.join(this.paths.ids, version)).catch(() => undefined);
    }
    return moved.map((m) => m.version);
  }

  /**
   * Removes what dead writers left: temp files and folders in tmp/ and id reservations without a
   * version, when older than `maxAgeMs` (younger ones may belong to a live writer). Returns the names.
   */
  async cleanStaleTemps(maxAgeMs: number): Promise<string[]> {
    const removed: string[] = [];
    const now = Date.now();
    const oldEnough = async (p: string) => {
      try {
        return now - (await stat(p)).mtimeMs > maxAgeMs;
      } catch {
        return false;
      }
    };
    for (const name of await this.#readdirOrEmpty(this.paths.tmp)) {
      const p = path.join(this.paths.tmp, name);
      if (await oldEnough(p)) {
        await removeTree(p);
        removed.push(`tmp/${name}`);
      }
    }
    const published = new Set(await this.#versionIds());
    for (const name of await this.#readdirOrEmpty(this.paths.ids)) {
      const p = path.join(this.paths.ids, name);
      if (!published.has(name) && (await oldEnough(p))) {
        await rmdir(p).catch(() => undefined);
        removed.push(`ids/${name}`);
      }
    }
    return removed;
  }

  /**
   * Replaces a file of the registry folder atomically, e.g. `routing.json` or `feedback/<gateway>.jsonl`
   * rewritten whole: the one way for other roles to write shared state beside the versions.
   */
  async writeFile(relativePath: string, data: Uint8Array | string): Promise<void> {
    const target = path.resolve(this.root, relativePath);
    if (!target.startsWith(this.root + path.sep)) {
      throw new FlywheelError('FLY_ERR_USAGE', `${relativePath} is outside the registry folder`);
    }
    try {
      await writeFileAtomic(target, data, { tmpDir: this.paths.tmp });
    } catch (err) {
      throw this.#unwritable(err);
    }
  }

  // ---- reading -------------------------------------------------------------------------------

  /** Version ids present, newest first (names only: cheap enough to poll). */
  async versionIds(): Promise<string[]> {
    return this.#versionIds();
  }

  async #versionIds(): Promise<string[]> {
    return (await this.#readdirOrEmpty(this.paths.versions)).filter(isVersionId).sort(compareNewestFirst);
  }

  async #readdirOrEmpty(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw this.#unreadable(err, dir);
    }
  }

  /**
   * Every version, newest first. A broken one is listed as `{ ok: false, error }` instead of failing
   * the listing. `verify` also checks each artifact's sha256 (reads every artifact: for people, not
   * for polling).
   */
  async listVersions(options: { verify?: boolean } = {}): Promise<VersionEntry[]> {
    const ids = await this.#versionIds();
    const entries = await Promise.all(
      ids.map(async (version): Promise<VersionEntry | undefined> => {
        try {
          const manifest = options.verify
            ? (await this.loadArtifact(version)).manifest
            : await this.readManifest(version);
          return { version, ok: true, manifest };
        } catch (err) {
          const code: ErrorCode = isFlywheelError(err) ? err.code : 'FLY_ERR_VERSION_CORRUPT';
          if (code === 'FLY_ERR_VERSION_NOT_FOUND') return undefined; // pruned since readdir
          return { version, ok: false, error: (err as Error).message, code };
        }
      }),
    );
    return entries.filter((e): e is VersionEntry => e !== undefined);
  }

  async readManifest(version: string): Promise<Manifest> {
    const dir = this.#versionDir(version);
    let text: string;
    try {
      text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        const exists = await stat(dir).then(
          (s) => s.isDirectory(),
          () => false,
        );
        if (exists) throw corrupt(version, 'manifest.json is missing');
        throw notFound(version);
      }
      throw corrupt(version, `manifest.json cannot be read: ${(err as Error).message}`);
    }
    const parsed = parseManifest(text, version);
    if (typeof parsed === 'string') throw corrupt(version, parsed);
    return parsed;
  }

  /** The manifest and the artifact bytes, after checking the bytes against the manifest's sha256. */
  async loadArtifact(version: string): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
    const manifest = await this.readManifest(version);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path.join(this.#versionDir(version), manifest.artifact.file));
    } catch (err) {
      throw corrupt(version, `artifact ${manifest.artifact.file} cannot be read (${errnoCode(err) ?? err})`);
    }
    const actual = sha256(bytes);
    if (actual !== manifest.artifact.sha256) {
      throw corrupt(
        version,
        `artifact sha256 ${actual.slice(0, 12)}… does not match the manifest's ${manifest.artifact.sha256.slice(0, 12)}…`,
      );
    }
    return { manifest, bytes };
  }

  async readAliases(): Promise<AliasState> {
    let text: string;
    try {
      text = await readFile(this.paths.aliases, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return EMPTY_ALIASES;
      throw this.#unreadable(err, this.paths.aliases);
    }
    const parsed = parseAliases(text);
    if (typeof parsed === 'string') {
      throw new FlywheelError('FLY_ERR_REGISTRY_CORRUPT', `${this.paths.aliases} ${parsed}`);
    }
    return parsed;
  }

  /** Every alias change, oldest first; lines that do not parse (a torn last line) are skipped. */
  async history(): Promise<AliasChange[]> {
    let text: string;
    try {
      text = await readFile(this.paths.history, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw this.#unreadable(err, this.paths.history);
    }
    return text
      .split('\n')
      .map(parseHistoryLine)
      .filter((e): e is AliasChange => e !== undefined);
  }

  /** The version a rollback would go to, if any (it may since have been pruned or damaged). */
  async previousProduction(): Promise<string | null> {
    const aliases = await this.readAliases();
    const stack = productionStack(await this.history()).reverse();
    return stack.find((v) => v !== aliases.production) ?? null;
  }

  #versionDir(version: string): string {
    // Only well-formed ids reach the filesystem: no path traversal through a version argument.
    if (!isVersionId(version)) throw notFound(version);
    return path.join(this.paths.versions, version);
  }

  #unreadable(err: unknown, file: string): FlywheelError {
    const code = errnoCode(err);
    return new FlywheelError(
      'FLY_ERR_REGISTRY_UNREADABLE',
      `registry folder ${this.root} cannot be read: ${file} (${code ?? (err as Error)?.message ?? String(err)})`,
      { root: this.root, file, errno: code },
      { cause: err },
    );
  }

  #unwritable(err: unknown): FlywheelError {
    if (isFlywheelError(err)) return err;
    const code = errnoCode(err);
    const why = code && UNWRITABLE_CODES.has(code) ? code : ((err as Error)?.message ?? String(err));
    return new FlywheelError(
      'FLY_ERR_REGISTRY_UNWRITABLE',
      `registry folder ${this.root} cannot be written (${why})`,
      { root: this.root, errno: code },
      { cause: err },
    );
  }
}

function notFound(version: string): FlywheelError {
  return new FlywheelError(
    'FLY_ERR_VERSION_NOT_FOUND',
    `model version ${JSON.stringify(version)} not found`,
    {
      version,
    },
  );
}

function corrupt(version: string, why: string): FlywheelError {
  return new FlywheelError('FLY_ERR_VERSION_CORRUPT', `model version ${version} is corrupt: ${why}`, {
    version,
  });
}
