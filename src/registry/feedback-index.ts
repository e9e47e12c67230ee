// The feedback join's memory: the last N request ids with their predictions and feedback, shared by
// the store's own log writes and what it tails from other gateways' files.

export interface JoinedPrediction {
  readonly version: string;
  readonly prediction: number;
  readonly shadow: boolean;
}

export interface AcceptedFeedback {
  readonly request_id: string;
  readonly actual: number;
  /** The predictions it grades: one, or two when the request was mirrored to the candidate. */
  readonly predictions: readonly JoinedPrediction[];
}

/**
 * The last `size` request ids with their predictions and feedback, in flat ring arrays: no object per
 * request, so a full index (100,000 ids) costs the garbage collector little. The slot a new id takes
 * holds the oldest id, which is forgotten. A second prediction for an id (the candidate's answer to a
 * mirrored request) goes to a small side map.
 *
 * Ids find their slot through an open-addressing table of Int32 (linear probing, deletion by backward
 * shift) rather than a Map: every prediction adds one id and forgets another, and a 100,000-entry
 * Map's get, delete and set showed up at about 5% of the gateway's JavaScript time under load.
 */
export class RecentPredictions {
  readonly #size: number;
  /** Open addressing: slot + 1 of the id whose probe sequence passes here, 0 when empty. */
  readonly #table: Int32Array;
  readonly #mask: number;
  /** The table hash of the id in each slot (backward-shift deletion needs it). */
  readonly #hashOf: Int32Array;
  readonly #ids: (string | undefined)[] = [];
  readonly #version: Int32Array;
  readonly #prediction: Float64Array;
  readonly #shadow: Uint8Array;
  /** When the id's first prediction was made (ms since the epoch): feedback has a deadline. */
  readonly #issuedAt: Float64Array;
  /** NaN: no feedback yet. */
  readonly #actual: Float64Array;
  readonly #extra = new Map<string, JoinedPrediction[]>();
  readonly #versionIds = new Map<string, number>();
  readonly #versionNames: string[] = [];
  #next = 0;

  constructor(size: number) {
    this.#size = size;
    let tableSize = 16;
    while (tableSize < size * 2) tableSize *= 2;
    this.#table = new Int32Array(tableSize);
    this.#mask = tableSize - 1;
    this.#hashOf = new Int32Array(size);
    this.#version = new Int32Array(size);
    this.#prediction = new Float64Array(size);
    this.#shadow = new Uint8Array(size);
    this.#issuedAt = new Float64Array(size);
    this.#actual = new Float64Array(size);
  }

  /** FNV-1a over the id's UTF-16 code units. */
  static #hash(id: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    return h;
  }

  /** The slot of `id`, or -1. */
  #find(id: string): number {
    return this.#findHashed(id, RecentPredictions.#hash(id));
  }

  /**
   * The slot of `id` whose hash is `h`, or -1. The stored hashes are compared before the ids: an id
   * string compare costs a pointer chase into the heap per probe, and the unsuccessful look-up every
   * new prediction makes took about a third of the prediction log's time on the proxy's path.
   */
  #findHashed(id: string, h: number): number {
    const mask = this.#mask;
    const table = this.#table;
    const hashOf = this.#hashOf;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const entry = table[i];
      if (entry === 0) return -1;
      if (hashOf[entry - 1] === h && this.#ids[entry - 1] === id) return entry - 1;
    }
  }

  #insert(id: string, slot: number, h: number): void {
    this.#hashOf[slot] = h;
    const mask = this.#mask;
    let i = h & mask;
    while (this.#table[i] !== 0) i = (i + 1) & mask;
    this.#table[i] = slot + 1;
  }

  /** Removes `slot`'s id from the table, moving later entries of its probe run back into the gap. */
  #erase(slot: number): void {
    const mask = this.#mask;
    const table = this.#table;
    let i = this.#hashOf[slot] & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = this.#hashOf[table[j] - 1] & mask;
      // The entry at j may fill the gap at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        table[i] = table[j];
        i = j;
      }
    }
    table[i] = 0;
  }

  #slot(id: string): number {
    const h = RecentPredictions.#hash(id);
    let slot = this.#findHashed(id, h);
    if (slot !== -1) return slot;
    slot = this.#next;
    this.#next = slot + 1 === this.#size ? 0 : slot + 1;
    const old = this.#ids[slot];
    if (old !== undefined) {
      this.#erase(slot);
      if (this.#extra.size > 0) this.#extra.delete(old);
    }
    this.#ids[slot] = id;
    this.#insert(id, slot, h);
    this.#version[slot] = -1;
    this.#actual[slot] = NaN;
    return slot;
  }

  add(id: string, version: string, prediction: number, shadow: boolean, issuedAt: number): void {
    const slot = this.#slot(id);
    if (this.#version[slot] !== -1) {
      const more = this.#extra.get(id);
      const p = { version, prediction, shadow };
      if (more) more.push(p);
      else this.#extra.set(id, [p]);
      return;
    }
    let v = this.#versionIds.get(version);
    if (v === undefined) {
      v = this.#versionNames.push(version) - 1;
      this.#versionIds.set(version, v);
    }
    this.#version[slot] = v;
    this.#prediction[slot] = prediction;
    this.#shadow[slot] = shadow ? 1 : 0;
    this.#issuedAt[slot] = issuedAt;
  }

  /** When the id's prediction was made; NaN when no prediction with this id is known. */
  issuedAt(id: string): number {
    const slot = this.#find(id);
    return slot === -1 || this.#version[slot] === -1 ? NaN : this.#issuedAt[slot];
  }

  /** Records feedback seen for an id (kept even before its prediction is known, for de-duplication). */
  setActual(id: string, actual: number): void {
    const slot = this.#slot(id);
    if (Number.isNaN(this.#actual[slot])) this.#actual[slot] = actual;
  }

  clearActual(id: string): void {
    const slot = this.#find(id);
    if (slot !== -1) this.#actual[slot] = NaN;
  }

  hasActual(id: string): boolean {
    const slot = this.#find(id);
    return slot !== -1 && !Number.isNaN(this.#actual[slot]);
  }

  predictions(id: string): JoinedPrediction[] {
    const slot = this.#find(id);
    if (slot === -1 || this.#version[slot] === -1) return [];
    const first: JoinedPrediction = {
      version: this.#versionNames[this.#version[slot]],
      prediction: this.#prediction[slot],
      shadow: this.#shadow[slot] === 1,
    };
    const more = this.#extra.get(id);
    return more ? [first, ...more] : [first];
  }
}
