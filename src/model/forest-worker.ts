// Worker thread of the forest: takes tree indices from a shared counter until none are left and
// posts each tree back (its typed arrays transferred, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { ForestTrainer, type ForestWorkerData, type ForestWorkerMessage } from './forest.js';

const data = workerData as ForestWorkerData;
const port = parentPort;
if (port === null) throw new Error('forest-worker.js runs as a worker thread only');
const trainer = new ForestTrainer(
  { rows: data.target.length, columns: data.columns, nBins: data.nBins, packed: data.packed },
  data.target,
  data.params,
);
for (;;) {
  const index = Atomics.add(data.next, 0, 1);
  if (index >= data.params.trees) break;
  const tree = trainer.tree(index);
  const message: ForestWorkerMessage = { type: 'tree', index, tree };
  const buffers = [
    tree.feature.buffer,
    tree.bin.buffer,
    tree.value.buffer,
    tree.right.buffer,
  ] as ArrayBuffer[];
  port.postMessage(message, buffers);
}
const done: ForestWorkerMessage = { type: 'done' };
port.postMessage(done);
