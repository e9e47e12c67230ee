// The model registry: a folder on shared storage (a local folder, or a ReadWriteMany PVC / NFS share
// mounted by every role) that is the single source of truth for model versions and aliases.
//
// Layout of <root> (default ./.flywheel):
//
//   versions/<id>/manifest.json   one immutable folder per version; appears whole (temp + rename)
//   versions/<id>/model.bin       the artifact (JSON data, never code); sha256 in the manifest
//   ids/<id>/                     empty folder per reserved id: mkdir makes ids unique across hosts
//   aliases.json                  { production, candidate, generation, updated_at }, replaced atomically
//   history.jsonl                 one line per alias change or promotion decision, appended under the lock;
//                                 rotated to history-<UTC time>.jsonl by size or age (history.ts)
//   registry.lock                 lock file held for milliseconds by alias changes and pruning
//   tmp/                          temp files and folders (same filesystem, so renames are atomic);
//                                 anything old here was left by a dead process: cleanStaleTemps
//   routing.json, feedback/       reserved for the gateway (traffic split state, collected feedback),
//                                 written with Registry.writeFile / writeFileAtomic like everything else
//   gateways/<id>.json            each gateway's published per-version figures (merged by every gateway)
//   leases/analysis.json          the lease that elects the gateway running the automatic analysis
//   local/state.json              what `flywheel up` publishes about its processes (stack-state.ts)
//
// Version ids look like v20250314-101502-347-00: UTC creation time plus a sequence number, so they sort
// as text in creation order.
//
// Guarantees: a reader sees a whole version or none; every load verifies the artifact's sha256; a
// broken version is refused by name and marked (not fatal) in listings; two writers never take the same
// id or lose each other's alias change; a crash at any point leaves nothing half-visible; retention
// never deletes an alias target or the previous production.

export {
  ARTIFACT_FILE,
  MANIFEST_FILE,
  productionStack,
  Registry,
  registryPaths,
  type PublishInput,
  type RegistryOptions,
  type RegistryPaths,
} from './registry.js';
export { watchRegistry, type RegistrySnapshot, type RegistryWatcher, type WatchOptions } from './watch.js';
export { fsyncDir, writeFileAtomic } from './fs.js';
export { isVersionId } from './version-id.js';
export { describeOrigin, originOf } from './origin.js';
export {
  ALIASES,
  type AliasAction,
  type AliasChange,
  type AliasName,
  type AliasState,
  type ChangeInfo,
  type DataProvenance,
  type Manifest,
  type ModelOrigin,
  type VersionEntry,
} from './types.js';
