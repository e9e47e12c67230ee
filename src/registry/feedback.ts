// Ground truth for served predictions, kept in the registry as training data for the next run.
//
// Layout: `<registry>/feedback/<gatewayId>-<n>.jsonl`, append-only JSON Lines, one writer per file (each
// gateway replica writes only its own files, so replicas never interleave), a new file per start and
// when the current one passes a size or an age. Two kinds of line:
//   {"type":"prediction","request_id","time","version","prediction","shadow"?,"features":{...}}
//   {"type":"feedback","request_id","time","actual"}
//
// Joining feedback to its prediction needs the prediction, which may have been served by another
// replica. Each store keeps a bounded in-memory index of recent request ids: its own predictions as it
// logs them, and other replicas' records read incrementally from their files (each file is tailed from
// the byte offset reached last time). Limits, by design:
//   - feedback must arrive while its request id is among the last `indexSize` ids this replica has
//     seen (own + tailed), and within `maxAgeMs` of the prediction (410 after that);
//   - request ids are minted by the gateway (144 random bits, src/gateway/headers.ts), so a client can
//     only send feedback for ids it was given: a guessed id is unknown (404);
//   - a prediction made by another replica becomes visible once that replica's buffered write has
//     reached the file (milliseconds); feedback posted sooner than that gets a 404 and may be retried;
//   - two replicas given the same feedback at the same instant could both accept it; the training
//     reader keeps only the first, so a row is never trained on twice.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FlywheelError } from '../errors.js';
import { isRecord, parseFeedbackBody } from './feedback-body.js';
import { RecentPredictions, type JoinedPrediction } from './feedback-index.js';
import { FEEDBACK_DIR, FeedbackLog, type FeedbackLogCounts } from './feedback-log.js';

export { parseFeedbackBody, type FeedbackItem } from './feedback-body.js';
export {
  mixWithFeedback,
  readFeedbackDataset,
  type FeedbackDatasetOptions,
  type FeedbackDatasetResult,
} from './feedback-dataset.js';
export type { JoinedPrediction } from './feedback-index.js';
export { FEEDBACK_DIR } from './feedback-log.js';

export interface FeedbackStoreOptions {
  readonly registryDir: string;
  /** This replica's name: the prefix of the files it writes. */
  readonly gatewayId: string;
  /** Start a new file past this many bytes. */
  readonly maxFileBytes?: number;
  /** Start a new file when the current one is older than this. */
  readonly maxFileAgeMs?: number;
  /** Request ids kept in memory for joining and de-duplication. */
  readonly indexSize?: number;
  /** Feedback is accepted this long after its prediction (files not modified since are not read). */
  readonly maxAgeMs?: number;
  /** A storage fault of the log (`first`: the first of its kind since writing last worked). */
  readonly onFault?: (kind: string, err: Error, first: boolean) => void;
  /** The log writes again after a fault. */
  readonly onRecovered?: (file: string, failedMs: number) => void;
}

export interface LoggedPrediction {
  readonly requestId: string;
  readonly version: string;
  readonly prediction: number;
  /**
   * The feature values the prediction was made from, as the members of a JSON object (`"a":1,"b":2`;
   * featureMembers() makes them from a record; the gateway makes them straight from the backend's
   * header, FeatureNames.members).
   */
  readonly features: string;
  /** A mirrored request whose answer the client never saw. */
  readonly shadow?: boolean;
}

/** A row of features by name as the members of a JSON object, finite values only. */
export function featureMembers(features: Readonly<Record<string, number>>): string {
  let out = '';
  for (const name in features) {
    const v = features[name];
    if (typeof v === 'number' && Number.isFinite(v))
      out += `${out === '' ? '' : ','}${JSON.stringify(name)}:${v}`;
  }
  return out;
}

export interface AcceptedFeedback {
  readonly request_id: string;
  readonly actual: number;
  /** The predictions it grades: one, or two when the request was mirrored to the candidate. */
  readonly predictions: readonly JoinedPrediction[];
}

/**
 * `s` as a JSON string. JSON.stringify of the request id and the version was about a third of building
 * a log line; ids the gateway mints (base64url) and version ids need no escaping, checked here in a loop.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}

function sanitiseId(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9._-]/g, '_');
  return clean === '' ? 'gateway' : clean;
}

/** One replica's writer and joiner; see the file comment for its limits. */
export class FeedbackStore {
  readonly dir: string;
  readonly gatewayId: string;
  readonly #index: RecentPredictions;
  readonly #maxAgeMs: number;
  #isoAt = 0;
  #iso = '';
  /** The version of the last line and its JSON: nearly every line names the same version. */
  #version = '';
  #versionJson = '""';
  /** Files this store wrote: never tailed (their records are indexed as they are written). */
  readonly #ownFiles = new Set<string>();
  /** Other replicas' files: how far each was read, and an unfinished last line. */
  readonly #tails = new Map<string, { offset: number; rest: string }>();
  #log: FeedbackLog | null = null;
  #scan: Promise<void> | null = null;
  #scanAgain = false;
  /** Counters for /experiments and tests. */
  readonly counts = { predictions: 0, feedback: 0, rotations: 0, unreadable_lines: 0 };

  private constructor(options: FeedbackStoreOptions) {
    this.dir = path.join(options.registryDir, FEEDBACK_DIR);
    this.gatewayId = sanitiseId(options.gatewayId);
    this.#index = new RecentPredictions(options.indexSize ?? 100_000);
    this.#maxAgeMs = options.maxAgeMs ?? 24 * 3_600_000;
  }

  /**
   * Opens this replica's log (the folder and its first file). Storage faults do not make this fail:
   * the log then retries by itself and feedback is refused with 503 until it writes again.
   */
  static async open(options: FeedbackStoreOptions): Promise<FeedbackStore> {
    const store = new FeedbackStore(options);
    store.#log = await FeedbackLog.open({
      dir: store.dir,
      prefix: store.gatewayId,
      maxFileBytes: options.maxFileBytes ?? 64 * 1024 * 1024,
      maxFileAgeMs: options.maxFileAgeMs ?? 3_600_000,
      onOpen: (file) => {
        if (store.#ownFiles.size > 0) store.counts.rotations += 1;
        store.#ownFiles.add(file);
      },
      onFault: options.onFault ?? (() => undefined),
      onRecovered: options.onRecovered ?? (() => undefined),
    });
    return store;
  }

  /** Storage faults and lost lines of this replica's log. */
  get logCounts(): Readonly<FeedbackLogCounts> {
    return this.#writer.counts;
  }

  /** The fault the log is stuck on, or null while it writes. */
  get failing(): { readonly kind: string; readonly since: number } | null {
    return this.#writer.failing;
  }

  get #writer(): FeedbackLog {
    return this.#log as FeedbackLog;
  }

  /** The file being written now. */
  get currentFile(): string {
    return this.#writer.currentFile;
  }

  /** The time as ISO text, formatted once per millisecond rather than once per line. */
  #isoNow(): string {
    const now = Date.now();
    if (now !== this.#isoAt) {
      this.#isoAt = now;
      this.#iso = new Date(now).toISOString();
    }
    return this.#iso;
  }

  #versionText(version: string): string {
    if (version !== this.#version) {
      this.#version = version;
      this.#versionJson = jsonString(version);
    }
    return this.#versionJson;
  }

  /** Logs one served prediction. Synchronous and buffered: it runs on the request path. */
  logPrediction(p: LoggedPrediction): void {
    const line =
      `{"type":"prediction","request_id":${jsonString(p.requestId)},"time":"${this.#isoNow()}",` +
      `"version":${this.#versionText(p.version)},"prediction":${Number.isFinite(p.prediction) ? p.prediction : null}` +
      `${p.shadow ? ',"shadow":true' : ''},"features":{${p.features}}}\n`;
    this.#writer.write(line);
    this.#index.add(p.requestId, p.version, p.prediction, p.shadow === true, this.#isoAt);
    this.counts.predictions += 1;
  }

  /** Reads what other replicas appended since the last look. One scan at a time; callers share it. */
  refresh(): Promise<void> {
    if (this.#scan) {
      this.#scanAgain = true;
      return this.#scan;
    }
    this.#scan = (async () => {
      do {
        this.#scanAgain = false;
        await this.#scanOnce();
      } while (this.#scanAgain);
    })().finally(() => {
      this.#scan = null;
    });
    return this.#scan;
  }

  async #scanOnce(): Promise<void> {
    const names = (await fsp.readdir(this.dir)).filter((n) => n.endsWith('.jsonl')).sort();
    const oldest = Date.now() - this.#maxAgeMs;
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (this.#ownFiles.has(file)) continue;
      const st = await fsp.stat(file).catch(() => null);
      if (!st || st.mtimeMs < oldest) continue;
      const tail = this.#tails.get(file) ?? { offset: 0, rest: '' };
      if (st.size <= tail.offset) continue;
      const fh = await fsp.open(file, 'r');
      try {
        const buf = Buffer.alloc(st.size - tail.offset);
        const { bytesRead } = await fh.read(buf, 0, buf.length, tail.offset);
        tail.offset += bytesRead;
        const text = tail.rest + buf.toString('utf8', 0, bytesRead);
        const lastNewline = text.lastIndexOf('\n');
        tail.rest = text.slice(lastNewline + 1);
        for (const line of text.slice(0, lastNewline + 1).split('\n')) if (line !== '') this.#ingest(line);
      } finally {
        await fh.close();
      }
      this.#tails.set(file, tail);
    }
  }

  #ingest(line: string): void {
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      this.counts.unreadable_lines += 1;
      return;
    }
    if (!isRecord(rec) || typeof rec.request_id !== 'string') return;
    if (rec.type === 'prediction' && typeof rec.version === 'string' && typeof rec.prediction === 'number') {
      const at = typeof rec.time === 'string' ? Date.parse(rec.time) : NaN;
      this.#index.add(rec.request_id, rec.version, rec.prediction, rec.shadow === true, at);
    } else if (rec.type === 'feedback' && typeof rec.actual === 'number') {
      this.#index.setActual(rec.request_id, rec.actual);
    }
  }

  /**
   * Validates and records feedback (a single item or a batch, all or nothing). Throws FLY_ERR_FEEDBACK
   * (400) for a malformed item, FLY_ERR_FEEDBACK_UNKNOWN_REQUEST (404) when no prediction has the id,
   * FLY_ERR_FEEDBACK_EXPIRED (410) when the prediction is older than `maxAgeMs`,
   * FLY_ERR_FEEDBACK_DUPLICATE (409) when the id already has feedback, FLY_ERR_FEEDBACK_UNAVAILABLE
   * (503) while the log cannot be written; nothing is stored then.
   */
  async recordFeedback(body: unknown): Promise<AcceptedFeedback[]> {
    const items = parseFeedbackBody(body);
    this.#assertWritable();
    // Another replica may hold the prediction or have recorded feedback for it already.
    await this.refresh();
    const unknown: string[] = [];
    const expired: string[] = [];
    const duplicate: string[] = [];
    const seen = new Set<string>();
    const oldest = Date.now() - this.#maxAgeMs;
    for (const { request_id } of items) {
      const issuedAt = this.#index.issuedAt(request_id);
      if (seen.has(request_id) || this.#index.hasActual(request_id)) duplicate.push(request_id);
      else if (Number.isNaN(issuedAt)) unknown.push(request_id);
      else if (issuedAt < oldest) expired.push(request_id);
      seen.add(request_id);
    }
    if (unknown.length > 0) {
      throw new FlywheelError(
        'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
        `no recent prediction with request id ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}; nothing was recorded`,
        { unknown },
      );
    }
    if (expired.length > 0) {
      throw new FlywheelError(
        'FLY_ERR_FEEDBACK_EXPIRED',
        `the prediction of request id ${expired.slice(0, 5).join(', ')}${expired.length > 5 ? ', ...' : ''} is older than ${this.#maxAgeMs} ms (--feedback-max-age); nothing was recorded`,
        { expired, max_age_ms: this.#maxAgeMs },
      );
    }
    if (duplicate.length > 0) {
      throw new FlywheelError(
        'FLY_ERR_FEEDBACK_DUPLICATE',
        `feedback already recorded for request id ${duplicate.slice(0, 5).join(', ')}${duplicate.length > 5 ? ', ...' : ''}; nothing was recorded`,
        { duplicate },
      );
    }
    // Marked before the write so that a concurrent request for the same id is refused as a duplicate.
    const accepted: AcceptedFeedback[] = [];
    const now = new Date().toISOString();
    let lines = '';
    for (const { request_id, actual } of items) {
      this.#index.setActual(request_id, actual);
      accepted.push({ request_id, actual, predictions: this.#index.predictions(request_id) });
      lines += `{"type":"feedback","request_id":${JSON.stringify(request_id)},"time":"${now}","actual":${actual}}\n`;
    }
    try {
      // One write for the batch: it reaches the file whole or (on an I/O error) not at all.
      await new Promise<void>((resolve, reject) =>
        this.#writer.writeFeedback(lines, (err) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      for (const { request_id } of items) {
        this.#index.clearActual(request_id);
      }
      throw this.#unavailable(err);
    }
    this.counts.feedback += items.length;
    return accepted;
  }

  #unavailable(err: unknown): FlywheelError {
    const kind = this.#writer.failing?.kind ?? (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    return new FlywheelError(
      'FLY_ERR_FEEDBACK_UNAVAILABLE',
      `the feedback log in ${this.dir} cannot be written now (${kind}); nothing was recorded, send it again later`,
      { kind, retry_after_s: 5 },
      { cause: err },
    );
  }

  #assertWritable(): void {
    if (this.#writer.failing !== null) throw this.#unavailable(undefined);
  }

  /** Waits until everything logged so far is handed to the OS. */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  close(): Promise<void> {
    return this.#writer.close();
  }
}
