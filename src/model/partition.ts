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
  // Branch-free (the branch would be a coin flip): write both ways, advance one.
  for (let k = start; k < end; k++) {
    const r = rows[k];
    const goesRight = (bin - column[r]) >>> 31; // 1 when column[r] > bin
    rows[left] = r; // left <= k: this slot has been read already
    scratch[right] = r;
    left += 1 - goesRight;
    right += goesRight;
  }
  rows.set(scratch.subarray(0, right), left);
  return left;
}
