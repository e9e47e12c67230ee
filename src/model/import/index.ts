// `flywheel import`'s reading half: a model file in, a validated predictor out. The format is
// detected from the content (never the extension): XGBoost's JSON, Flywheel's interchange format
// (one JSON document, or JSON Lines: a header line and one line per tree, which is how big forests
// stream), or else a joblib/pickle file for the scikit-learn exporter. Every path ends in the
// interchange compiler (interchange.ts).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { FlywheelError } from '../../errors.js';
import type { TreeEnsemble } from '../ensemble.js';
import type { FeatureSchema } from '../types.js';
import {
  INTERCHANGE_FORMAT,
  TreeCompiler,
  parseInterchangeHeader,
  type InterchangeHeader,
  type InterchangeOrigin,
} from './interchange.js';
import { runExporter } from './python.js';
import { isXgboostJson, xgboostToInterchange } from './xgboost.js';

export { INTERCHANGE_FORMAT, INTERCHANGE_VERSION, type InterchangeOrigin } from './interchange.js';
export { XGBOOST_OBJECTIVES } from './xgboost.js';

export const IMPORT_FORMATS = ['auto', 'xgboost-json', 'flywheel-json', 'sklearn'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Largest single JSON document read whole (V8 strings stop near 512 MiB); JSON Lines have no limit. */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;

export interface ReadModelOptions {
  readonly format: ImportFormat;
  /** Interpreter for the scikit-learn exporter. */
  readonly python: string;
  /** Feature names when the model carries none (must match when it does); empty = the model's. */
  readonly features: readonly string[];
  /** The target's name; undefined = the interchange file's, else `defaultTarget`. */
  readonly target: string | undefined;
  readonly defaultTarget: string;
  /** Test hooks: smaller limits than the real ones. */
  readonly maxNodes?: number;
  readonly maxJsonBytes?: number;
}

export interface ReadModel {
  readonly model: TreeEnsemble;
  /** The format the file was read as. */
  readonly format: Exclude<ImportFormat, 'auto'>;
  readonly origin: InterchangeOrigin | null;
  /** sha256 and size of the file as read. */
  readonly sha256: string;
  readonly bytes: number;
}

export async function readModelFile(file: string, options: ReadModelOptions): Promise<ReadModel> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a regular file');
    size = s.size;
  } catch (err) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FORMAT',
      `model file ${file} cannot be read: ${(err as Error).message}`,
    );
  }
  const sha256 = await hashFile(file);
  const head = await readHead(file, 64 * 1024);
  const json = /^\s*\{/.test(head);
  let format = options.format;
  if (format === 'auto') format = json ? 'flywheel-json' : 'sklearn'; // refined below for JSON
  if (format === 'sklearn') {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-import-'));
    try {
      const out = path.join(dir, 'model.jsonl');
      await runExporter(options.python, file, out);
      const { model, origin } = await readJsonLines(out, options, 'the exporter output');
      return { model, format, origin, sha256, bytes: size };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (!json) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FORMAT',
      `${file} is not JSON, so not ${format}: ${describeHead(head)}`,
    );
  }
  if (format === 'flywheel-json' && isJsonLinesHeader(head)) {
    const { model, origin } = await readJsonLines(file, options, file);
    return { model, format, origin, sha256, bytes: size };
  }
  const limit = options.maxJsonBytes ?? MAX_JSON_BYTES;
  if (size > limit) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_TOO_LARGE',
      `${file} is ${size} bytes, more than the ${limit} read as one JSON document: write the interchange format as JSON Lines (a header line, then one line per tree)`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FORMAT',
      `${file} is not valid JSON (truncated or edited?): ${(err as Error).message}`,
    );
  }
  const xgboost = isXgboostJson(doc);
  if (options.format === 'auto') format = xgboost ? 'xgboost-json' : 'flywheel-json';
  if (format === 'xgboost-json') {
    if (!xgboost)
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FORMAT',
        `${file} is JSON but not XGBoost's model JSON (no "learner" object)`,
      );
    doc = xgboostToInterchange(doc);
  } else if (!(
    typeof doc === 'object' &&
    doc !== null &&
    (doc as Record<string, unknown>).format === INTERCHANGE_FORMAT
  )) {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FORMAT',
      `${file} is JSON of another shape: neither XGBoost's save_model JSON (a "learner" object) nor Flywheel's interchange format ("format": "${INTERCHANGE_FORMAT}")`,
    );
  }
  const header = parseInterchangeHeader(doc, file);
  const trees = (doc as Record<string, unknown>).trees;
  if (!Array.isArray(trees))
    throw new FlywheelError('FLY_ERR_IMPORT_INVALID', `${file}: trees must be a list`);
  const compiler = new TreeCompiler(header, names(header, options), limits(options));
  trees.forEach((t, i) => compiler.add(t, i));
  return { model: compiler.finish(), format, origin: header.origin, sha256, bytes: size };
}

/** The interchange format as JSON Lines: the first line is a whole header object without trees. */
function isJsonLinesHeader(head: string): boolean {
  const nl = head.indexOf('\n');
  if (nl < 0) return false;
  try {
    const first = JSON.parse(head.slice(0, nl)) as unknown;
    return (
      typeof first === 'object' &&
      first !== null &&
      !('trees' in first) &&
      (first as { format?: unknown }).format === INTERCHANGE_FORMAT
    );
  } catch {
    return false;
  }
}

async function readJsonLines(
  file: string,
  options: ReadModelOptions,
  where: string,
): Promise<{ model: TreeEnsemble; origin: InterchangeOrigin | null }> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let header: InterchangeHeader | null = null;
  let compiler: TreeCompiler | null = null;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FORMAT',
        `${where}, line ${n}: not valid JSON (truncated or edited?): ${(err as Error).message}`,
      );
    }
    if (compiler === null) {
      header = parseInterchangeHeader(value, where);
      if (header.n_trees === null) {
        throw new FlywheelError('FLY_ERR_IMPORT_FORMAT', `${where}: a JSON Lines header must say n_trees`);
      }
      compiler = new TreeCompiler(header, names(header, options), limits(options));
    } else {
      compiler.add(value, compiler.trees);
    }
  }
  if (compiler === null || header === null)
    throw new FlywheelError('FLY_ERR_IMPORT_FORMAT', `${where} is empty`);
  return { model: compiler.finish(), origin: header.origin };
}

function names(header: InterchangeHeader, options: ReadModelOptions) {
  const given = options.features;
  const own = header.feature_names;
  let featureNames: readonly string[];
  if (given.length > 0) {
    if (given.length !== header.n_features) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FEATURES',
        `the model has ${header.n_features} features but ${given.length} were given (${given.join(', ')})`,
      );
    }
    if (own !== null && own.join('\0') !== given.join('\0')) {
      throw new FlywheelError(
        'FLY_ERR_IMPORT_FEATURES',
        `the model's features [${own.join(', ')}] differ from the given [${given.join(', ')}]`,
      );
    }
    featureNames = given;
  } else if (own !== null) {
    featureNames = own;
  } else {
    throw new FlywheelError(
      'FLY_ERR_IMPORT_FEATURES',
      `the model carries no feature names: give its ${header.n_features} features in order with --features a,b,c`,
    );
  }
  return { featureNames, targetName: options.target ?? header.target ?? options.defaultTarget };
}

function limits(options: ReadModelOptions): { maxNodes?: number } {
  return options.maxNodes === undefined ? {} : { maxNodes: options.maxNodes };
}

async function readHead(file: string, bytes: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
}

function describeHead(head: string): string {
  if (head.length === 0) return 'the file is empty';
  const printable = head.slice(0, 16).replace(/[^\x20-\x7e]/g, '.');
  return `it starts with "${printable}"`;
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Per feature, the span of the model's own split thresholds: the feature ranges recorded for an
 * import that comes without data (the backend flags inputs far outside them). A feature the model
 * never splits on gets [0, 0].
 */
export function splitRanges(model: TreeEnsemble): FeatureSchema[] {
  const nf = model.featureNames.length;
  const min = new Float64Array(nf).fill(Infinity);
  const max = new Float64Array(nf).fill(-Infinity);
  const links = model.nodeLinks;
  for (let i = 0; i < model.nodeCount; i++) {
    const slot = links[4 * i + 2];
    if (slot === nf) continue;
    const f = slot < nf ? slot : slot - nf - 1;
    const t = slot < nf ? model.nodeValue[2 * i] : -model.nodeValue[2 * i];
    if (!Number.isFinite(t)) continue;
    if (t < min[f]) min[f] = t;
    if (t > max[f]) max[f] = t;
  }
  return model.featureNames.map((name, f) => ({
    name,
    type: 'number',
    min: min[f] <= max[f] ? min[f] : 0,
    max: min[f] <= max[f] ? max[f] : 0,
  }));
}
