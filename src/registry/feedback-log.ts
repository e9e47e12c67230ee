// The writing half of one gateway's prediction/feedback log: `<registry>/feedback/<gatewayId>-<n>.jsonl`,
// lines queued and written in batches, a new file per start and when the current one passes a size or
// an age.
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';

export const FEEDBACK_DIR = 'feedback';
/** Prediction lines are written at most this long after they are logged... */
const FLUSH_MS = 10;
/** ...or as soon as this many characters are queued. */
const FLUSH_BYTES = 64 * 1024;

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
}

export class FeedbackLog {
  readonly #options: FeedbackLogOptions;
  #stream: fs.WriteStream | null = null;
  #pending = '';
  #flushTimer: NodeJS.Timeout | null = null;
  #file = '';
  #fileBytes = 0;
  #fileOpenedAt = 0;
  #nextSeq = 1;
  #closed = false;

  private constructor(options: FeedbackLogOptions) {
    this.#options = options;
  }

  /** Creates the folder and opens the first file after the highest number this prefix has used. */
  static async open(options: FeedbackLogOptions): Promise<FeedbackLog> {
    const log = new FeedbackLog(options);
    await fsp.mkdir(options.dir, { recursive: true });
    const names = await fsp.readdir(options.dir);
    const prefix = `${options.prefix}-`;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
      const n = Number(name.slice(prefix.length, -'.jsonl'.length));
      if (Number.isInteger(n) && n >= log.#nextSeq) log.#nextSeq = n + 1;
    }
    log.#rotate();
    return log;
  }

  /** The file being written now. */
  get currentFile(): string {
    return this.#file;
  }

  /** Opens the next `<id>-<n>.jsonl`, exclusively so that two processes never share a file. */
  #rotate(): void {
    const previous = this.#stream;
    for (;;) {
      const file = path.join(this.#options.dir, `${this.#options.prefix}-${this.#nextSeq}.jsonl`);
      this.#nextSeq += 1;
      let fd: number;
      try {
        // Synchronous on purpose: it happens once per file, and a write must never find no stream.
        fd = fs.openSync(file, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      this.#stream = fs.createWriteStream(file, { fd, flags: 'a' });
      this.#stream.on('error', () => {
        // Surfaced to feedback writers through their callbacks; predictions are best effort.
      });
      this.#file = file;
      this.#options.onOpen(file);
      this.#fileBytes = 0;
      this.#fileOpenedAt = Date.now();
      break;
    }
    if (previous) {
      previous.end();
    }
  }

  /**
   * Queues a line. Prediction lines are written in batches (one write per `FLUSH_MS` at most, not one
   * per request); a line with `done` (feedback) flushes everything queued at once and reports when it
   * reached the OS.
   */
  write(line: string, done?: (err?: Error | null) => void): void {
    if (this.#closed) {
      done?.(new Error('feedback store is closed'));
      return;
    }
    this.#pending += line;
    if (done !== undefined || this.#pending.length >= FLUSH_BYTES) this.#flushPending(done);
    else if (this.#flushTimer === null) {
      this.#flushTimer = setTimeout(() => this.#flushPending(), FLUSH_MS);
      this.#flushTimer.unref();
    }
  }

  #flushPending(done?: (err?: Error | null) => void): void {
    if (this.#flushTimer !== null) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
    }
    const data = this.#pending;
    this.#pending = '';
    if (data === '') {
      done?.();
      return;
    }
    if (
      this.#fileBytes >= this.#options.maxFileBytes ||
      Date.now() - this.#fileOpenedAt >= this.#options.maxFileAgeMs
    ) {
      this.#rotate();
    }
    this.#fileBytes += Buffer.byteLength(data);
    (this.#stream as fs.WriteStream).write(data, done);
  }

  /** Waits until everything logged so far is handed to the OS. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#flushPending(() => resolve()));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flushPending();
    const stream = this.#stream;
    this.#closed = true;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}
