// The filesystem model registry (layout and guarantees: see index.ts). Readers need only read access,
// so backends can mount the folder read-only; writers publish versions without any lock (ids are
// reserved with mkdir) and change aliases or prune under a short crash-safe lock. The work is done in
// versions.ts (publishing, reading versions) and aliases.ts (aliases and their history); this class
// holds the folder, the lock and housekeeping, and is the API every role uses.
import { mkdir, rename, rmdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FlywheelError, isFlywheelError } from '../errors.js';
import * as aliases from './aliases.js';
import { errnoCode, fsyncDir, removeTree, uniqueSuffix, writeFileAtomic, writeNewFile } from './fs.js';
import { readdirOrEmpty, registryPaths, unwritable, type RegistryPaths } from './layout.js';
import { DEFAULT_ROTATION, type Rotation } from './history.js';
import { FileLock, LockLostError } from './lock.js';
import type { AliasChange, AliasName, AliasState, ChangeInfo, Manifest, VersionEntry } from './types.js';
import * as versions from './versions.js';

export { ARTIFACT_FILE, MANIFEST_FILE, registryPaths, type RegistryPaths } from './layout.js';
export { productionStack } from './aliases.js';
export type { PublishInput } from './versions.js';

export interface RegistryOptions {
  /** A lock older than this was left by a dead process (default 10 s; holders keep it for ms). */
  readonly lockStaleMs?: number;
  /** How long a writer waits for the lock (default 15 s). */
  readonly lockTimeoutMs?: number;
  /** Recorded as `by` when a change does not say who made it (default: this host's name). */
  readonly host?: string;
  /** When history.jsonl starts a new file (default: history.ts DEFAULT_ROTATION). */
  readonly historyRotation?: Rotation;
}

export class Registry implements aliases.AliasStore {
  readonly root: string;
  readonly paths: RegistryPaths;
  readonly host: string;
  readonly historyRotation: Rotation;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;

  /** init() succeeded on this object (see withLock). */
  #laidOut = false;

  constructor(root: string, options: RegistryOptions = {}) {
    this.paths = registryPaths(root);
    this.root = this.paths.root;
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    this.host = options.host ?? os.hostname();
    this.historyRotation = options.historyRotation ?? DEFAULT_ROTATION;
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
      throw unwritable(this.root, err);
    }
  }

  /**
   * Publishes an immutable version: artifact and manifest are written into a temp folder, fsynced,
   * and the folder is renamed to `versions/<id>`, so readers see the whole version or nothing.
   */
  async publish(input: versions.PublishInput): Promise<Manifest> {
    await this.init();
    return versions.publishVersion(this.paths, input);
  }

  /**
   * Points an alias at a version (verified intact) or clears it with null. The alias file is
   * replaced atomically and the change appended to the history, under the registry lock. With
   * `expect`, a compare-and-set: refused (FLY_ERR_ALIAS) unless the alias still points there.
   */
  setAlias(
    alias: AliasName,
    version: string | null,
    change: ChangeInfo & { readonly expect?: string | null },
  ): Promise<AliasState> {
    return aliases.setAlias(this, alias, version, change);
  }

  /**
   * production := version; the candidate is cleared if it was that version. With `expectProduction`,
   * refuses (FLY_ERR_ALIAS, details.conflict) when production is no longer that version: a trainer
   * that compared against one production must not replace another that arrived meanwhile.
   */
  promote(
    version: string,
    change: ChangeInfo & { readonly expectProduction?: string | null },
  ): Promise<AliasState> {
    return aliases.promote(this, version, change);
  }

  /** production := `to`, or the production before the current one (see productionStack). */
  rollback(change: ChangeInfo & { readonly to?: string }): Promise<AliasState> {
    return aliases.rollback(this, change);
  }

  /** Appends a decision that left the alias as it was (e.g. "not promoted: worse than production"). */
  recordDecision(alias: AliasName, change: ChangeInfo): Promise<AliasState> {
    return aliases.recordDecision(this, alias, change);
  }

  /**
   * Runs `fn` holding the registry lock (alias changes, pruning; the gateway's routing state).
   * `fn` calls `assertHeld()` right before it commits; if the lock was broken meanwhile, `fn` runs
   * again from the start, so it must read what it changes inside.
   */
  async withLock<T>(fn: (assertHeld: () => Promise<void>) => Promise<T>): Promise<T> {
    // The layout is checked once per Registry object, not before every lock: a gateway takes the lock
    // every few seconds (lease, routing state), and init() is four mkdirs and an fsynced probe file.
    // Any failure below checks it again next time (the folders may have been removed).
    if (!this.#laidOut) {
      await this.init();
      this.#laidOut = true;
    }
    try {
      return await this.#locked(fn);
    } catch (err) {
      this.#laidOut = false;
      throw err;
    }
  }

  async #locked<T>(fn: (assertHeld: () => Promise<void>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const lock = new FileLock(this.paths.lock, this.paths.tmp, {
        staleMs: this.#lockStaleMs,
        timeoutMs: this.#lockTimeoutMs,
      });
      try {
        await lock.acquire();
      } catch (err) {
        if (isFlywheelError(err)) throw err;
        throw unwritable(this.root, err);
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
      const current = await this.readAliases();
      const previous = aliases
        .productionStack(await this.history())
        .reverse()
        .find((v) => v !== current.production);
      const protect = new Set([current.production, current.candidate, previous]);
      const doomed = (await this.versionIds()).slice(keep).filter((v) => !protect.has(v));
      await assertHeld();
      const out: { version: string; aside: string }[] = [];
      for (const version of doomed) {
        const aside = path.join(this.paths.tmp, `pruned-${version}-${uniqueSuffix()}`);
        try {
          await rename(path.join(this.paths.versions, version), aside);
          out.push({ version, aside });
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw unwritable(this.root, err);
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
    for (const name of await readdirOrEmpty(this.root, this.paths.tmp)) {
      const p = path.join(this.paths.tmp, name);
      if (await oldEnough(p)) {
        await removeTree(p);
        removed.push(`tmp/${name}`);
      }
    }
    const published = new Set(await this.versionIds());
    for (const name of await readdirOrEmpty(this.root, this.paths.ids)) {
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
      throw unwritable(this.root, err);
    }
  }

  // ---- reading -------------------------------------------------------------------------------

  /** Version ids present, newest first (names only: cheap enough to poll). */
  versionIds(): Promise<string[]> {
    return versions.versionIds(this.paths);
  }

  /**
   * Every version, newest first. A broken one is listed as `{ ok: false, error }` instead of failing
   * the listing. `verify` also checks each artifact's sha256 (reads every artifact: for people, not
   * for polling).
   */
  listVersions(options: { verify?: boolean } = {}): Promise<VersionEntry[]> {
    return versions.listVersions(this.paths, options);
  }

  readManifest(version: string): Promise<Manifest> {
    return versions.readManifest(this.paths, version);
  }

  /** The manifest and the artifact bytes, after checking the bytes against the manifest's sha256. */
  loadArtifact(version: string): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
    return versions.loadArtifact(this.paths, version);
  }

  readAliases(): Promise<AliasState> {
    return aliases.readAliases(this.paths);
  }

  /** Every alias change, oldest first; lines that do not parse (a torn last line) are skipped. */
  history(): Promise<AliasChange[]> {
    return aliases.readHistory(this.paths);
  }

  /** The version a rollback would go to, if any (it may since have been pruned or damaged). */
  previousProduction(): Promise<string | null> {
    return aliases.previousProduction(this.paths);
  }
}
