// The shape of one grown tree, shared by the grower (which makes it), the node store (which flattens
// it), forest and boosting (which collect it) and the predictor (which copies it into its node block).
// It lives apart from all of them so that each imports it one way: no module cycle through the grower.

/** One tree in preorder: an internal node's left child is the next node; leaves have feature −1. */
export interface FlatTree {
  feature: Int32Array;
  /** Split bin of an internal node (rows with bin <= it go left); 0 for leaves. */
  bin: Uint8Array;
  /** Leaf value; 0 for internal nodes. */
  value: Float64Array;
  /** Right child of an internal node; −1 for leaves. */
  right: Int32Array;
}

export interface GrownTree {
  tree: FlatTree;
  /** With recordLeafRows: for each preorder leaf i, its rows are rows[leafStart[i] .. leafEnd[i]). */
  leafStart?: Int32Array;
  leafEnd?: Int32Array;
}
