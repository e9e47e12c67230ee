// Partitioning: a node owns the slice rows[start..end) of one index array; splitting it reorders the
// slice in place (stable) so that the left child owns [start, mid) and the right child [mid, end).

/** Moves rows with bin <= `bin` to the front of the slice, keeping order; returns the boundary. */
export function partitionRows(
  rows: Int32Array,
  start: number,
  end: number,
  column: Uint8Array,
  bin: number,
  scratch: Int32Array,
): number {
  let left = start;
  let right = 0;
  for (let k = start; k < end; k++) {
    const r = rows[k];
    if (column[r] <= bin) rows[left++] = r;
    else scratch[right++] = r;
  }
  rows.set(scratch.subarray(0, right), left);
  return left;
}
