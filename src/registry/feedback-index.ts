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
 * The last `size` request ids with their predictions and feedback, in flat ring arrays: one Map entry
 * and no object per request, so a full index (100,000 ids) costs the garbage collector little. The
 * slot a new id takes holds the oldest id, which is forgotten. A second prediction for an id (the
 * candidate's answer to a mirrored request) goes to a small side map.
 */
export class RecentPredictions {
  readonly #size: number;
  readonly #slotOf = new Map<string, number>();
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
    this.#version = new Int32Array(size);
    this.#prediction = new Float64Array(size);
    this.#shadow = new Uint8Array(size);
    this.#issuedAt = new Float64Array(size);
    this.#actual = new Float64Array(size);
  }

  #slot(id: string): number {
    let slot = this.#slotOf.get(id);
    if (slot !== undefined) return slot;
    slot = this.#next;
    this.#next = slot + 1 === this.#size ? 0 : slot + 1;
    const old = this.#ids[slot];
    if (old !== undefined) {
      this.#slotOf.delete(old);
      if (this.#extra.size > 0) this.#extra.delete(old);
    }
    this.#ids[slot] = id;
    this.#slotOf.set(id, slot);
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
    const slot = this.#slotOf.get(id);
    return slot === undefined || this.#version[slot] === -1 ? NaN : this.#issuedAt[slot];
  }

  /** Records feedback seen for an id (kept even before its prediction is known, for de-duplication). */
  setActual(id: string, actual: number): void {
    const slot = this.#slot(id);
    if (Number.isNaN(this.#actual[slot])) this.#actual[slot] = actual;
  }

  clearActual(id: string): void {
    const slot = this.#slotOf.get(id);
    if (slot !== undefined) this.#actual[slot] = NaN;
  }

  hasActual(id: string): boolean {
    const slot = this.#slotOf.get(id);
    return slot !== undefined && !Number.isNaN(this.#actual[slot]);
  }

  predictions(id: string): JoinedPrediction[] {
    const slot = this.#slotOf.get(id);
    if (slot === undefined || this.#version[slot] === -1) return [];
    const first: JoinedPrediction = {
      version: this.#versionNames[this.#version[slot]],
      prediction: this.#prediction[slot],
      shadow: this.#shadow[slot] === 1,
    };
    const more = this.#extra.get(id);
    return more ? [first, ...more] : [first];
  }
}
