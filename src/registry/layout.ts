// Where things live in the registry folder, and the errors every part of the registry reports about it
// (unreadable, unwritable, a missing or corrupt version), so that versions, aliases and the lock all
// word a storage fault the same way.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { FlywheelError, isFlywheelError } from '../errors.js';
import { errnoCode, UNWRITABLE_CODES } from './fs.js';

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

export function unreadable(root: string, err: unknown, file: string): FlywheelError {
  const code = errnoCode(err);
  return new FlywheelError(
    'FLY_ERR_REGISTRY_UNREADABLE',
    `registry folder ${root} cannot be read: ${file} (${code ?? (err as Error)?.message ?? String(err)})`,
    { root, file, errno: code },
    { cause: err },
  );
}

export function unwritable(root: string, err: unknown): FlywheelError {
  if (isFlywheelError(err)) return err;
  const code = errnoCode(err);
  const why = code && UNWRITABLE_CODES.has(code) ? code : ((err as Error)?.message ?? String(err));
  return new FlywheelError(
    'FLY_ERR_REGISTRY_UNWRITABLE',
    `registry folder ${root} cannot be written (${why})`,
    { root, errno: code },
    { cause: err },
  );
}

export function notFound(version: string): FlywheelError {
  return new FlywheelError(
    'FLY_ERR_VERSION_NOT_FOUND',
    `model version ${JSON.stringify(version)} not found`,
    {
      version,
    },
  );
}

export function corrupt(version: string, why: string): FlywheelError {
  return new FlywheelError('FLY_ERR_VERSION_CORRUPT', `model version ${version} is corrupt: ${why}`, {
    version,
  });
}

/** The names in a folder of the registry; a folder not made yet is empty. */
export async function readdirOrEmpty(root: string, dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw unreadable(root, err, dir);
  }
}
