// Published versions: each one an immutable folder that appears whole (temp folder + rename), its id
// reserved with mkdir so two trainers never take the same one, and every load checked against the
// manifest's sha256. The Registry class (registry.ts) is the public face of these functions.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { FlywheelError, isFlywheelError, type ErrorCode } from '../errors.js';
import { errnoCode, fsyncDir, removeTree, writeNewFile } from './fs.js';
import {
  ARTIFACT_FILE,
  corrupt,
  MANIFEST_FILE,
  notFound,
  readdirOrEmpty,
  unwritable,
  type RegistryPaths,
} from './layout.js';
import type { Manifest, VersionEntry } from './types.js';
import { manifestProblem, parseManifest } from './validate.js';
import { compareNewestFirst, formatVersionId, isVersionId, MAX_SEQ, versionIdTime } from './version-id.js';

export type PublishInput = {
  readonly artifact: Uint8Array;
  readonly manifest: Omit<Manifest, 'version' | 'created_at' | 'artifact' | 'format'>;
};

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Publishes an immutable version: artifact and manifest are written into a temp folder, fsynced,
 * and the folder is renamed to `versions/<id>`, so readers see the whole version or nothing. The
 * folder layout must exist (Registry.init).
 */
export async function publishVersion(paths: RegistryPaths, input: PublishInput): Promise<Manifest> {
  let tmpDir: string | undefined;
  try {
    tmpDir = await mkdtemp(path.join(paths.tmp, 'publish-'));
    await writeNewFile(path.join(tmpDir, ARTIFACT_FILE), input.artifact);
    // Reserved after the artifact is written so created_at is close to when the version appears.
    const { version, ms } = await reserveVersionId(paths);
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
    await rename(tmpDir, path.join(paths.versions, version));
    tmpDir = undefined;
    await fsyncDir(paths.versions);
    return manifest;
  } catch (err) {
    if (tmpDir) await removeTree(tmpDir).catch(() => undefined);
    if (isFlywheelError(err)) throw err;
    throw unwritable(paths.root, err);
  }
}

/**
 * A time-sortable id claimed with mkdir: exactly one process gets each name, on a local disk or
 * NFS. Starting from the newest id already reserved keeps ids increasing even if this host's
 * clock is behind another trainer's.
 */
async function reserveVersionId(paths: RegistryPaths): Promise<{ version: string; ms: number }> {
  let newest = 0;
  for (const dir of [paths.ids, paths.versions]) {
    for (const name of await readdir(dir)) newest = Math.max(newest, versionIdTime(name) ?? 0);
  }
  for (let ms = Math.max(Date.now(), newest); ; ms++) {
    for (let seq = 0; seq < MAX_SEQ; seq++) {
      const version = formatVersionId(ms, seq);
      try {
        await mkdir(path.join(paths.ids, version));
        return { version, ms };
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
    }
  }
}

/** Version ids present, newest first (names only: cheap enough to poll). */
export async function versionIds(paths: RegistryPaths): Promise<string[]> {
  return (await readdirOrEmpty(paths.root, paths.versions)).filter(isVersionId).sort(compareNewestFirst);
}

function versionDir(paths: RegistryPaths, version: string): string {
  // Only well-formed ids reach the filesystem: no path traversal through a version argument.
  if (!isVersionId(version)) throw notFound(version);
  return path.join(paths.versions, version);
}

export async function readManifest(paths: RegistryPaths, version: string): Promise<Manifest> {
  const dir = versionDir(paths, version);
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
export async function loadArtifact(
  paths: RegistryPaths,
  version: string,
): Promise<{ manifest: Manifest; bytes: Uint8Array }> {
  const manifest = await readManifest(paths, version);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path.join(versionDir(paths, version), manifest.artifact.file));
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

/**
 * Every version, newest first. A broken one is listed as `{ ok: false, error }` instead of failing
 * the listing. `verify` also checks each artifact's sha256 (reads every artifact: for people, not
 * for polling).
 */
export async function listVersions(
  paths: RegistryPaths,
  options: { verify?: boolean } = {},
): Promise<VersionEntry[]> {
  const ids = await versionIds(paths);
  const entries = await Promise.all(
    ids.map(async (version): Promise<VersionEntry | undefined> => {
      try {
        const manifest = options.verify
          ? (await loadArtifact(paths, version)).manifest
          : await readManifest(paths, version);
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
