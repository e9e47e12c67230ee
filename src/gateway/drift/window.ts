// The live accounting of one version: for each feature (and the prediction) counts per reference bin,
// below min, above max and not-a-number, over a sliding window of the last `size` rows. Written for
// the proxy's path: typed arrays allocated once, a binary search over at most bins−1 edges per value,
// and a ring of bin indices (one byte per value) so the row leaving the window is un-counted exactly,
// with no per-request allocation and no timestamps.
import { slotOf } from '../../drift/reference.js';
import type { Distribution, DriftReference } from '../../drift/types.js';
import { nameMap, type VersionCounts } from './report.js';

/** Slots per series besides its bins: below min, above max, not a number. */
const EXTRA_SLOTS = 3;

export class DriftWindow {
  readonly version: string;
  readonly size: number;
  /** Null: the version has no reference; only its requests are counted. */
  readonly reference: DriftReference | null;
  /** Why the reference is missing, for /drift (null when there is one). */
  readonly note: string | null;
  /** Feature names in the model's order (what a row must hold). */
  readonly names: readonly string[];
  /** Rows counted since this window was made. */
  requests = 0;
  /** Rows in the window now (≤ size). */
  filled = 0;
  /** When it last counted a row, in the monitor's tick (for evicting the longest unused version). */
  lastSeen = 0;
  /** Scratch row the feature reader writes into (one per version: the event loop runs one at a time). */
  readonly row: Float64Array;
  readonly #series: number;
  readonly #hasPrediction: boolean;
  readonly #edges: Float64Array[];
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  readonly #offset: Int32Array;
  readonly #counts: Uint32Array;
  readonly #ring: Uint8Array;
  #pos = 0;

  constructor(
    version: string,
    size: number,
    reference: DriftReference | null,
    names: readonly string[],
    note: string | null = null,
  ) {
    this.version = version;
    this.size = size;
    this.reference = reference;
    this.note = note;
    this.names = names;
    this.row = new Float64Array(names.length);
    const dists: Distribution[] =
      reference === null
        ? []
        : [...reference.features, ...(reference.prediction === null ? [] : [reference.prediction])];
    this.#hasPrediction = reference !== null && reference.prediction !== null;
    this.#series = dists.length;
    this.#edges = dists.map((d) => Float64Array.from(d.edges));
    this.#min = Float64Array.from(dists, (d) => d.min);
    this.#max = Float64Array.from(dists, (d) => d.max);
    this.#offset = new Int32Array(dists.length + 1);
    dists.forEach((d, j) => (this.#offset[j + 1] = this.#offset[j] + d.shares.length + EXTRA_SLOTS));
    this.#counts = new Uint32Array(this.#offset[dists.length]);
    this.#ring = new Uint8Array(size * dists.length);
  }

  /** Counts `row` (features in `names` order) and `prediction`; the oldest row leaves a full window. */
  add(row: Float64Array, prediction: number): void {
    const series = this.#series;
    const base = this.#pos * series;
    const full = this.filled === this.size;
    const counts = this.#counts;
    const ring = this.#ring;
    const last = this.#hasPrediction ? series - 1 : series;
    for (let j = 0; j < series; j++) {
      const slot = slotOf(this.#edges[j], this.#min[j], this.#max[j], j < last ? row[j] : prediction);
      const at = this.#offset[j];
      if (full) counts[at + ring[base + j]]--;
      counts[at + slot]++;
      ring[base + j] = slot;
    }
    this.requests++;
    if (!full) this.filled++;
    this.#pos = this.#pos + 1 === this.size ? 0 : this.#pos + 1;
  }

  /** Plain counts `[bins..., below, above]` per series (not-a-number values left out), to merge or report. */
  counts(): VersionCounts {
    const features = nameMap<number[]>();
    const series = (j: number) => Array.from(this.#counts.subarray(this.#offset[j], this.#offset[j + 1] - 1));
    this.names.forEach((name, j) => {
      if (j < this.#series) features[name] = series(j);
    });
    return {
      requests: this.requests,
      window: this.filled,
      features: this.reference === null ? nameMap<number[]>() : features,
      prediction: this.#hasPrediction ? series(this.#series - 1) : null,
    };
  }
}
