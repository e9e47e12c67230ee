// Timeouts for every in-flight request without a timer per request. All entries of one list share the
// same timeout, so insertion order is expiry order: the list is a FIFO, adding and removing are O(1)
// pointer updates on fields of the entry itself, and one shared interval only looks at the head. A
// learned timeout (latency.ts) changes the list's timeout between additions: it moves slowly, and an
// entry behind one with a later expiry fires at most that difference late.
import { performance } from 'node:perf_hooks';

/** Something with a deadline; the links live on the entry so adding it allocates nothing. */
export abstract class Timed {
  expiresAt = 0;
  timedPrev: Timed | null = null;
  timedNext: Timed | null = null;
  timedList: DeadlineList | null = null;

  /** Called once, by the sweep, when the deadline passes before the entry was removed. */
  abstract expire(): void;
}

export class DeadlineList {
  /** Applies to entries added from now on. */
  timeoutMs: number;
  #head: Timed | null = null;
  #tail: Timed | null = null;
  #size = 0;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#size;
  }

  add(entry: Timed, now: number): void {
    entry.expiresAt = now + this.timeoutMs;
    entry.timedList = this;
    entry.timedPrev = this.#tail;
    entry.timedNext = null;
    if (this.#tail === null) this.#head = entry;
    else this.#tail.timedNext = entry;
    this.#tail = entry;
    this.#size++;
  }

  remove(entry: Timed): void {
    if (entry.timedList !== this) return;
    const { timedPrev: prev, timedNext: next } = entry;
    if (prev === null) this.#head = next;
    else prev.timedNext = next;
    if (next === null) this.#tail = prev;
    else next.timedPrev = prev;
    entry.timedPrev = entry.timedNext = null;
    entry.timedList = null;
    this.#size--;
  }

  /** Removes every entry and returns them (oldest first). */
  removeAll(): Timed[] {
    const out: Timed[] = [];
    while (this.#head !== null) {
      const entry = this.#head;
      this.remove(entry);
      out.push(entry);
    }
    return out;
  }

  /** Expires every entry whose deadline is at or before `now`. */
  sweep(now: number): void {
    let head = this.#head;
    while (head !== null && head.expiresAt <= now) {
      this.remove(head);
      head.expire();
      head = this.#head;
    }
  }
}

/**
 * One interval for all lists. Its period bounds how late a timeout fires: a twentieth of the shortest
 * timeout (`shortestMs`, the lists' own by default), between 5 ms and 250 ms (a 5 s attempt timeout
 * fires within 5.25 s). `beforeSweep` runs first on each tick (e.g. to update learned timeouts).
 */
export class DeadlineSweeper {
  readonly resolutionMs: number;
  readonly #lists: readonly DeadlineList[];
  readonly #beforeSweep: (() => void) | null;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    lists: readonly DeadlineList[],
    options: { shortestMs?: number; beforeSweep?: () => void } = {},
  ) {
    this.#lists = lists;
    this.#beforeSweep = options.beforeSweep ?? null;
    const shortest = options.shortestMs ?? Math.min(...lists.map((l) => l.timeoutMs));
    this.resolutionMs = Math.min(250, Math.max(5, Math.floor(shortest / 20)));
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.sweep(performance.now()), this.resolutionMs);
    this.#timer.unref();
  }

  sweep(now: number): void {
    this.#beforeSweep?.();
    for (const list of this.#lists) list.sweep(now);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
