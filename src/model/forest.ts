// Random forest = the shared grower + a bootstrap sample per tree (as counts, i.e. row weights) +
// features sampled per split + averaging (in the predictor). Trees are independent, so they are
// trained on worker threads; tree i draws its randomness from deriveSeed(seed, i) alone, which makes
// the forest the same whatever the number of threads and whichever thread trains which tree.
import { existsSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BinnedFeatures } from './binning.js';
import { TreeGrower, type BinnedColumns } from './grower.js';
import type { FlatTree } from './tree.js';
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
  packed: Uint32Array[];
  nBins: Int32Array;
  target: Float64Array;
  params: FitParams;
  /** [0]: next tree index to take. */
  next: Int32Array;
}

export type ForestWorkerMessage = { type: 'tree'; index: number; tree: FlatTree } | { type: 'done' };

export interface ForestResult {
  trees: FlatTree[];
  /** Threads that grew trees: the calling thread plus `workers`. */
  threads: number;
  /** Worker threads started; 0 when every tree was grown on the calling thread. */
  workers: number;
  /** Trees the workers grew (the rest were grown on the calling thread). */
  workerTrees: number;
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
  callerGrows = true,
): Promise<ForestResult> {
  const total = params.trees;
  const workerUrl = (threads > 1 || !callerGrows) && total > 1 ? forestWorkerUrl() : null;
  const workers = workerUrl === null ? 0 : Math.min(threads, total) - (callerGrows ? 1 : 0);
  // The calling thread grows trees too (it would only wait otherwise), taking indices from the same
  // shared counter as the workers: it starts at once, while the workers are still loading.
  const next = new Int32Array(workers > 0 ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
  const trees: FlatTree[] = new Array<FlatTree>(total);
  let done = 0;
  let workerTrees = 0;
  const started: Worker[] = [];
  let failure: unknown = null;
  let stopping = false; // set when the workers are terminated on purpose: their exit is no failure
  const finished: Promise<void>[] = [];
  if (workerUrl !== null && workers > 0) {
    const data: ForestWorkerData = {
      columns: binned.columns.map((c) => (c.buffer instanceof SharedArrayBuffer ? c : sharedCopy(c))),
      packed: binned.packed.map((c) => (c.buffer instanceof SharedArrayBuffer ? c : sharedCopy(c))),
      nBins: binned.nBins,
      target: sharedCopy(target),
      params,
      next,
    };
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(workerUrl, { workerData: data });
      started.push(worker);
      finished.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: ForestWorkerMessage) => {
            if (m.type === 'done') resolve();
            else if (trees[m.index] === undefined) {
              // (Otherwise the calling thread grew that tree too, see below: the same tree.)
              trees[m.index] = m.tree;
              done++;
              workerTrees++;
              onProgress?.(done, total);
            }
          });
          worker.on('error', reject);
          worker.on('exit', (code) => {
            if (code !== 0) reject(new Error(`forest worker exited with code ${code}`));
            else resolve();
          });
        }).catch((err: unknown) => {
          if (stopping) return;
          failure ??= err;
          Atomics.store(next, 0, total); // the others stop after their current tree
        }),
      );
    }
  }
  const grow = (trainer: ForestTrainer, index: number) => {
    trees[index] = trainer.tree(index);
    done++;
    onProgress?.(done, total);
    // Let worker messages, timers and signals through between trees.
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
  try {
    if (callerGrows || workers === 0) {
      const trainer = new ForestTrainer(binned, target, params);
      for (let index = Atomics.add(next, 0, 1); index < total; index = Atomics.add(next, 0, 1)) {
        await grow(trainer, index);
      }
      // No index is left to take, but workers may still be growing their last trees — slowly, if
      // they are still being compiled or the machine is busy. Grow those here too rather than wait
      // on them: a tree depends on its index only, so whichever copy comes first is the same tree.
      for (let index = 0; index < total && failure === null; index++) {
        if (trees[index] === undefined) await grow(trainer, index);
      }
    } else {
      await Promise.all(finished);
    }
  } finally {
    stopping = true;
    await Promise.all(started.map((w) => w.terminate()));
  }
  if (failure !== null) throw failure;
  if (done !== total) throw new Error(`the forest got ${done} of ${total} trees`);
  return { trees, threads: workers + (callerGrows || workers === 0 ? 1 : 0), workers, workerTrees };
}

function sharedCopy<T extends Uint8Array | Uint32Array | Float64Array>(a: T): T {
  const Kind = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new Kind(new SharedArrayBuffer(a.byteLength));
  copy.set(a as never);
  return copy;
}
