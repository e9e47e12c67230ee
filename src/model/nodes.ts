// Node storage of a tree being grown: parallel arrays in creation order, flattened to preorder (the
// predictor's layout) once the tree is complete.
import type { FlatTree, GrownTree } from './tree.js';

export class NodeStore {
  private cap = 0;
  count = 0;
  feature = new Int32Array(0);
  bin = new Uint8Array(0);
  left = new Int32Array(0);
  right = new Int32Array(0);
  value = new Float64Array(0);
  /** The node's slice of the grower's row index array (boosting reads its leaves' rows). */
  start = new Int32Array(0);
  end = new Int32Array(0);

  reset(capacity: number): void {
    this.count = 0;
    if (capacity <= this.cap) return;
    this.cap = capacity;
    this.feature = new Int32Array(capacity);
    this.bin = new Uint8Array(capacity);
    this.left = new Int32Array(capacity);
    this.right = new Int32Array(capacity);
    this.value = new Float64Array(capacity);
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
  }

  add(start: number, end: number): number {
    const id = this.count++;
    this.start[id] = start;
    this.end[id] = end;
    return id;
  }

  setSplit(id: number, feature: number, bin: number, left: number, right: number): void {
    this.feature[id] = feature;
    this.bin[id] = bin;
    this.left[id] = left;
    this.right[id] = right;
  }

  setLeaf(id: number, value: number): void {
    this.feature[id] = -1;
    this.bin[id] = 0;
    this.value[id] = value;
  }

  /** Renumbers the nodes in preorder from node 0 (left child = next node). */
  flatten(withLeafRows: boolean): GrownTree {
    const n = this.count;
    const feature = new Int32Array(n);
    const bin = new Uint8Array(n);
    const value = new Float64Array(n);
    const right = new Int32Array(n);
    const leafStart = withLeafRows ? new Int32Array(n) : undefined;
    const leafEnd = withLeafRows ? new Int32Array(n) : undefined;
    const stack = new Int32Array(n);
    const rightOf = new Int32Array(n).fill(-1); // creation id of a right child → its parent's preorder index
    let top = 0;
    stack[top++] = 0;
    let out = 0;
    while (top > 0) {
      const id = stack[--top];
      const i = out++;
      if (rightOf[id] >= 0) right[rightOf[id]] = i;
      const f = this.feature[id];
      feature[i] = f;
      if (f < 0) {
        value[i] = this.value[id];
        right[i] = -1;
        if (leafStart && leafEnd) {
          leafStart[i] = this.start[id];
          leafEnd[i] = this.end[id];
        }
      } else {
        bin[i] = this.bin[id];
        rightOf[this.right[id]] = i;
        stack[top++] = this.right[id];
        stack[top++] = this.left[id];
      }
    }
    const tree: FlatTree = { feature, bin, value, right };
    return { tree, leafStart, leafEnd };
  }
}
