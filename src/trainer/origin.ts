// What the manifest records about a model read from a file (`flywheel import`, `train --command`).
import type { ReadModel } from '../model/import/index.js';
import type { ModelOrigin } from '../registry/types.js';

/** The manifest's origin for a model read from a file. */
export function originOfRead(read: ReadModel, extra: { file?: string; command?: string }): ModelOrigin {
  const library = read.origin?.library;
  const kind: ModelOrigin['kind'] =
    read.format === 'xgboost-json' || library === 'xgboost'
      ? 'xgboost'
      : read.format === 'sklearn' || library === 'scikit-learn'
        ? 'scikit-learn'
        : 'interchange';
  const o = read.origin ?? {};
  return {
    kind,
    ...(o.library_version === undefined ? {} : { library_version: o.library_version }),
    ...(o.estimator === undefined ? {} : { estimator: o.estimator }),
    ...(o.objective === undefined ? {} : { objective: o.objective }),
    ...(extra.file === undefined ? {} : { file: extra.file, file_sha256: read.sha256 }),
    ...(extra.command === undefined ? {} : { command: extra.command }),
  };
}

/** Parameters recorded in the manifest: what was imported and how it compares inputs. */
export function importParameters(read: ReadModel): Record<string, unknown> {
  const m = read.model;
  return {
    format: read.format,
    trees: m.treeCount,
    nodes: m.nodeCount,
    inputs: m.inputs,
    aggregation: m.aggregation,
  };
}
