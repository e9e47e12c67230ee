// The writing half of one gateway's prediction/feedback log: `<registry>/feedback/<gatewayId>-<n>.jsonl`,
// lines queued and written in batches, a new file per start and when the current one passes a size or
// an age.
//
// Storage faults never end the process and never lose lines silently. A failed write (ENOSPC, EROFS,
// EIO, ...) or a failed open (EACCES, a vanished folder) puts the log in a failing state: the error is
// logged once per kind and counted, prediction lines stay queued (up to MAX_QUEUED bytes; beyond that
// the oldest are dropped and counted), feedback writes are refused at once so the client can retry,
// and every RETRY_MS the log tries a fresh file (re-creating the folder if it went away). A file
// deleted while open (writes to it would vanish without an error) is noticed by the same tick.
// Written with plain fs.write on our own descriptor rather than a WriteStream: a stream that fails
// once is destroyed for good, and we need to know exactly which bytes reached the file.
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';

export const FEEDBACK_DIR = 'feedback';
/** Prediction lines are written at most this long after they are logged... */
const FLUSH_MS = 10;
/** ...or as soon as this many characters are queued. */
const FLUSH_BYTES = 64 * 1024;
/** While failing: how often a fresh file is tried, and how often a healthy file is checked. */
export const RETRY_MS = 1000;
/** Prediction text kept while storage fails; past it the oldest lines are dropped (and counted). */
const MAX_QUEUED = 8 * 1024 * 1024;

export interface FeedbackLogOptions {
  readonly dir: string;
  /** File name prefix (this gateway's sanitised id). */
  readonly prefix: string;
  /** Start a new file past this many bytes. */
  readonly maxFileBytes: number;
  /** Start a new file when the current one is older than this. */
  readonly maxFileAgeMs: number;
  /** Called with each file this log opens (the store never tails its own files). */
  readonly onOpen: (file: string) => void;
  /** A storage fault, once per kind (errno code) until writing works again. */
  readonly onFault: (kind: string, err: Error, first: boolean) => void;
  /** Writing works again after a fault. */
  readonly onRecovered: (file: string, failedMs: number) => void;
}

export interface FeedbackLogCounts {
  /** Faults by kind (errno code, or `vanished` for a file deleted while open). */
  readonly errors: Record<string, number>;
  /** Prediction lines lost: dropped from a full queue or written to a file deleted while open. */
  dropped_lines: number;
}

type Done = (err?: Error | null) => void;

function errKind(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

export class FeedbackLog {
  readonly #options: FeedbackLogOptions;
  /** Prediction lines not yet handed to a write. */
  #pending = '';
  #flushTimer: NodeJS.Timeout | null = null;
  #tick: NodeJS.Timeout | null = null;
  #fd = -1;
  #file = '';
  #fileBytes = 0;
  #fileOpenedAt = 0;
  #nextSeq = 1;
  /** A write is in flight: the next one waits (writes to one file never interleave). */
  #writing = false;
  /** Feedback batches waiting for the write in flight. */
  #feedbackQueue: { data: string; done: Done }[] = [];
  /** Lines written to the current file since the last check that it still exists. */
  #unchecked = 0;
  /** Set by a fault, cleared when a fresh file opens (then feedback may try again). */
  #failing: { kind: string; since: number } | null = null;
  /** When the first fault since the last successful write happened; 0 while writes succeed. */
  #faultSince = 0;
  /** Kinds already logged since the last successful write: a full disk is reported once, not per retry. */
  readonly #seenKinds = new Set<string>();
  #recovering = false;
  #closed = false;
  readonly counts: FeedbackLogCounts = { errors: {}, dropped_lines: 0 };

  private constructor(options: FeedbackLogOptions) {
    this.#options = options;
  }

  /**
   * Opens the first file after the highest number this prefix has used. Never throws for storage: an
   * unwritable folder makes a failing log that keeps trying (the gateway serves predictions meanwhile).
   */
  static async open(options: FeedbackLogOptions): Promise<FeedbackLog> {
    const log = new FeedbackLog(options);
    try {
      await log.#scanSequence();
      log.#openNext();
    } catch (err) {
      log.#fault(err);
    }
    log.#tick = setInterval(() => log.#onTick(), RETRY_MS);
    log.#tick.unref();
    return log;
  }

  async #scanSequence(): Promise<void> {
    // Non-recursive first: on a read-only filesystem a recursive mkdir reports ENOENT, not EROFS.
    await fsp.mkdir(this.#options.dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') await fsp.mkdir(this.#options.dir, { recursive: true });
      else if (err.code !== 'EEXIST') throw err;
    });
    const prefix = `${this.#options.prefix}-`;
    for (const name of await fsp.readdir(this.#options.dir)) {
      if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
      const n = Number(name.slice(prefix.length, -'.jsonl'.length));
      if (Number.isInteger(n) && n >= this.#nextSeq) this.#nextSeq = n + 1;
    }
  }

  /** The file being written now ('' before the first one could be opened). */
  get currentFile(): string {
    return this.#file;
  }

  /** The fault writing is stuck on, or null while the log works. */
  get failing(): { readonly kind: string; readonly since: number } | null {
    return this.#failing;
  }

  /**
   * Opens the next `<id>-<n>.jsonl`, exclusively so that two processes never share a file, and closes
   * the previous one. Synchronous on purpose: once per file, and a write must never find no file.
   * Throws the open's error (the caller turns it into a fault).
   */
  #openNext(): void {
    let fd: number;
    let file: string;
    for (;;) {
      file = path.join(this.#options.dir, `${this.#options.prefix}-${this.#nextSeq}.jsonl`);
      this.#nextSeq += 1;
      try {
        fd = fs.openSync(file, 'wx');
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (this.#fd !== -1) fs.close(this.#fd, () => undefined);
    this.#fd = fd;
    this.#file = file;
    this.#fileBytes = 0;
    this.#unchecked = 0;
    this.#fileOpenedAt = Date.now();
    this.#options.onOpen(file);
  }

  #fault(err: unknown): void {
    const kind = errKind(err);
    const errors = this.counts.errors;
    errors[kind] = (errors[kind] ?? 0) + 1;
    const first = !this.#seenKinds.has(kind);
    this.#seenKinds.add(kind);
    this.#options.onFault(kind, err instanceof Error ? err : new Error(String(err)), first);
    if (this.#faultSince === 0) this.#faultSince = Date.now();
    this.#failing = { kind, since: this.#faultSince };
    // The descriptor may point at a file with a torn last line: the next write goes to a new file. A
    // file that never got a byte is removed, so retries on a full disk leave no litter.
    if (this.#fd !== -1) {
      fs.close(this.#fd, () => undefined);
      if (this.#fileBytes === 0) fs.unlink(this.#file, () => undefined);
      this.#fd = -1;
    }
  }

  /** A write reached the file: the fault, if any, is over. */
  #succeeded(): void {
    if (this.#faultSince === 0) return;
    const failedMs = Date.now() - this.#faultSince;
    this.#faultSince = 0;
    this.#seenKinds.clear();
    this.#options.onRecovered(this.#file, failedMs);
  }

  /** Once a second: retry a failing log; check a healthy file still exists; rotate an old one. */
  #onTick(): void {
    if (this.#closed || this.#writing) return;
    if (this.#failing !== null) {
      void this.#recover();
      return;
    }
    if (this.#fd === -1) return;
    let vanished: boolean;
    try {
      vanished = fs.fstatSync(this.#fd).nlink === 0;
    } catch (err) {
      this.#fault(err);
      return;
    }
    if (vanished) {
      // Deleted while open (the folder removed, or pruned by mistake): what went there is gone.
      this.counts.dropped_lines += this.#unchecked;
      this.#fault(
        Object.assign(new Error(`${this.#file} was deleted while being written`), { code: 'vanished' }),
      );
      void this.#recover();
      return;
    }
    this.#unchecked = 0;
    if (this.#pending !== '') this.#flushPending();
  }

  async #recover(): Promise<void> {
    if (this.#recovering) return;
    this.#recovering = true;
    try {
      await this.#scanSequence();
      if (this.#closed) return;
      this.#openNext();
    } catch (err) {
      this.#fault(err);
      return;
    } finally {
      this.#recovering = false;
    }
    // Writable as far as opening a file tells; the next write proves it (or faults again, unlogged).
    this.#failing = null;
    this.#flushPending();
  }

  /** Queues a prediction line, written in batches (one write per `FLUSH_MS` at most, not per request). */
  write(line: string): void {
    if (this.#closed) return;
    this.#pending += line;
    if (this.#pending.length > MAX_QUEUED) this.#dropOldest();
    if (this.#failing !== null || this.#writing) return;
    if (this.#pending.length >= FLUSH_BYTES) this.#flushPending();
    else this.#armFlush();
  }

  /**
   * The queued predictions go out FLUSH_MS after the first of them, or once the write in flight
   * returns, whichever is later.
   */
  #armFlush(): void {
    if (this.#flushTimer !== null) return;
    this.#flushTimer = setTimeout(() => this.#flushPending(), FLUSH_MS);
    this.#flushTimer.unref();
  }

  #dropOldest(): void {
    const cut = this.#pending.indexOf('\n', this.#pending.length - MAX_QUEUED / 2);
    if (cut === -1) return;
    this.counts.dropped_lines += countLines(this.#pending.slice(0, cut + 1));
    this.#pending = this.#pending.slice(cut + 1);
  }

  /**
   * Writes feedback lines: everything queued before them first, then the batch in one write, so it
   * reaches the file whole or not at all. `done` gets an error at once while the log is failing; a
   * failed batch is not retried (the client was told, and may send it again).
   */
  writeFeedback(data: string, done: Done): void {
    if (this.#closed) {
      done(new Error('feedback log is closed'));
      return;
    }
    if (this.#failing !== null) {
      done(
        Object.assign(new Error(`feedback log is failing (${this.#failing.kind})`), {
          code: this.#failing.kind,
        }),
      );
      return;
    }
    this.#feedbackQueue.push({ data, done });
    if (!this.#writing) this.#flushPending();
  }

  /** Starts the next write: queued feedback after the predictions logged before it. */
  #flushPending(): void {
    if (this.#flushTimer !== null) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
    }
    if (this.#writing || this.#failing !== null || this.#fd === -1) return;
    let data: string;
    let feedback: { data: string; done: Done } | undefined;
    if (this.#pending !== '') {
      data = this.#pending;
      this.#pending = '';
    } else {
      feedback = this.#feedbackQueue.shift();
      if (feedback === undefined) return;
      data = feedback.data;
    }
    if (
      this.#fileBytes >= this.#options.maxFileBytes ||
      Date.now() - this.#fileOpenedAt >= this.#options.maxFileAgeMs
    ) {
      try {
        this.#openNext();
      } catch (err) {
        this.#failed(err, data, feedback);
        return;
      }
    }
    this.#writing = true;
    const buf = Buffer.from(data);
    this.#writeAll(buf, 0, (err, written) => {
      this.#writing = false;
      this.#fileBytes += written;
      if (err) {
        // Lines that did not reach the file whole are retried from their start in the next file.
        const whole = buf.subarray(0, written).lastIndexOf(0x0a) + 1;
        this.#failed(err, buf.subarray(whole).toString('utf8'), feedback);
        return;
      }
      this.#unchecked += feedback === undefined ? countLines(data) : 0;
      this.#succeeded();
      feedback?.done();
      // Predictions logged during the write wait for their own timer (or a full batch): writing
      // them at once made a write per threadpool round trip under load, about 240 a second, each a
      // cross-thread wakeup, where this makes 100 a second at most (a line waits up to the write in
      // flight plus 10 ms). flush() waiters and feedback do not wait.
      const waited = this.#idleWaiters.length > 0 && this.#pending !== '';
      if (this.#feedbackQueue.length > 0 || this.#pending.length >= FLUSH_BYTES || waited) {
        this.#flushPending();
        return;
      }
      if (this.#pending !== '') this.#armFlush();
      this.#drained();
    });
  }

  #failed(err: unknown, unwritten: string, feedback: { data: string; done: Done } | undefined): void {
    this.#fault(err);
    if (feedback !== undefined) {
      feedback.done(err instanceof Error ? err : new Error(String(err)));
    } else if (unwritten !== '') {
      this.#pending = unwritten + this.#pending;
      if (this.#pending.length > MAX_QUEUED) this.#dropOldest();
    }
    // Feedback waiting behind this write is refused now rather than after the next retry.
    for (const f of this.#feedbackQueue.splice(0)) {
      f.done(Object.assign(new Error(`feedback log is failing (${errKind(err)})`), { code: errKind(err) }));
    }
    this.#drained();
  }

  #writeAll(buf: Buffer, offset: number, cb: (err: Error | null, written: number) => void): void {
    fs.write(this.#fd, buf, offset, buf.length - offset, null, (err, n) => {
      if (err) cb(err, offset);
      else if (offset + n < buf.length) this.#writeAll(buf, offset + n, cb);
      else cb(null, buf.length);
    });
  }

  #idleWaiters: (() => void)[] = [];

  #drained(): void {
    if (this.#writing) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Waits until everything logged so far is handed to the OS (or held back by a fault). */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      if (!this.#writing) {
        this.#flushPending();
        if (!this.#writing) this.#drained();
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#tick !== null) clearInterval(this.#tick);
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    if (this.#pending !== '') this.counts.dropped_lines += countLines(this.#pending);
    if (this.#fd !== -1) {
      const fd = this.#fd;
      this.#fd = -1;
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
  }
}
