// Random forest = the shared grower + a bootstrap sample per tree (as counts, i.e. row weights) +
// features sampled per split + averaging (in the predictor). Trees are independent, so they are
// trained on worker threads; tree i draws its randomness from deriveSeed(seed, i) alone, which makes
// the forest the same whatever the number of threads and whichever thread trains which tree.
import { existsSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BinnedFeatures } from './binning.js';
import { TreeGrower, type BinnedColumns, type FlatTree } from './grower.js';
import { featuresPerSplit, type FitParams } from './params.js';
import { Rng, deriveSeed } from './random.js';

/** Per-thread buffers reused from tree to tree. */
export class ForestTrainer {
  private readonly grower: TreeGrower;
  private readonly weight: Float64Array;
  private readonly rows: Int32Array;

  constructor(
    private readonly binned: BinnedColumns,
    private readonly target: Float64Array,
    private readonly params: FitParams,
  ) {
    this.grower = new TreeGrower(binned);
    this.weight = new Float64Array(binned.rows);
    this.rows = new Int32Array(binned.rows);
  }

  /** Grows tree `index` of the forest: a function of (data, params, index) only. */
  tree(index: number): FlatTree {
    const n = this.binned.rows;
    const rng = new Rng(deriveSeed(this.params.seed, index));
    const weight = this.weight;
    weight.fill(0);
    // Bootstrap: n draws with replacement, kept as counts (a row drawn 3 times weighs 3).
    for (let i = 0; i < n; i++) weight[rng.nextInt(n)] += 1;
    let count = 0;
    for (let r = 0; r < n; r++) if (weight[r] > 0) this.rows[count++] = r;
    return this.grower.grow(
      { rows: this.rows, count, weight, target: this.target, rng },
      {
        maxDepth: this.params.maxDepth,
        minSamplesLeaf: this.params.minSamplesLeaf,
        maxLeaves: 0,
        featuresPerSplit: featuresPerSplit(this.params.maxFeatures, this.binned.columns.length),
      },
    ).tree;
  }
}

/** What a forest worker thread is started with (all arrays over SharedArrayBuffers: no copies). */
export interface ForestWorkerData {
  columns: Uint8Array[];
  nBins: Int32Array;
  target: Float64Array;
  params: FitParams;
  /** [0]: next tree index to take. */
  next: Int32Array;
}

export type ForestWorkerMessage = { type: 'tree'; index: number; tree: FlatTree } | { type: 'done' };

export interface ForestResult {
  trees: FlatTree[];
  /** Worker threads used; 0 when the trees were grown on the calling thread. */
  workers: number;
}

/**
 * The compiled worker script. From dist/ it sits beside this module; when this module runs from the
 * TypeScript sources (vitest), the compiled copy in dist/ is used, so `npm run build` must have run.
 */
export function forestWorkerUrl(): URL | null {
  const beside = new URL('./forest-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  const here = fileURLToPath(import.meta.url);
  const marker = `${sep}src${sep}model${sep}`;
  const at = here.lastIndexOf(marker);
  if (at < 0) return null;
  const built = `${here.slice(0, at)}${sep}dist${sep}model${sep}forest-worker.js`;
  return existsSync(built) ? pathToFileURL(built) : null;
}

export async function trainForest(
  binned: BinnedFeatures,
  target: Float64Array,
  params: FitParams,
  threads: number,
  onProgress?: (done: number, total: number) => void,
): Promise<ForestResult> {
  const total = params.trees;
  const workerUrl = threads > 1 ? forestWorkerUrl() : null;
  if (workerUrl === null || total === 1) {
    const trainer = new ForestTrainer(binned, target, params);
    const trees: FlatTree[] = [];
    for (let i = 0; i < total; i++) {
      trees.push(trainer.tree(i));
      onProgress?.(i + 1, total);
      // Let timers and I/O (logs, signals) run between trees.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { trees, workers: 0 };
  }

  const workers = Math.min(threads, total);
  const data: ForestWorkerData = {
    columns: binned.columns.map((c) => (c.buffer instanceof SharedArrayBuffer ? c : sharedCopy(c))),
    nBins: binned.nBins,
    target: sharedCopy(target),
    params,
    next: new Int32Array(new SharedArrayBuffer(4)),
  };
  const trees: FlatTree[] = new Array<FlatTree>(total);
  let done = 0;
  const started: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: workers }, () => {
        const worker = new Worker(workerUrl, { workerData: data });
        started.push(worker);
        return new Promise<void>((resolve, reject) => {
          worker.on('message', (m: ForestWorkerMessage) => {
            if (m.type === 'tree') {
              trees[m.index] = m.tree;
              done++;
              onProgress?.(done, total);
            } else resolve();
          });
          worker.on('error', reject);
          worker.on('exit', (code) => {
            if (code !== 0) reject(new Error(`forest worker exited with code ${code}`));
            else resolve();
          });
        });
      }),
    );
  } finally {
    await Promise.all(started.map((w) => w.terminate()));
  }
  if (done !== total) throw new Error(`forest workers returned ${done} of ${total} trees`);
  return { trees, workers };
}

function sharedCopy<T extends Uint8Array | Float64Array>(a: T): T {
  const copy = (
    a instanceof Uint8Array
      ? new Uint8Array(new SharedArrayBuffer(a.byteLength))
      : new Float64Array(new SharedArrayBuffer(a.byteLength))
  ) as T;
  copy.set(a as never);
  return copy;
}
