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
//     seen (own + tailed), and while the prediction's file was modified within `windowMs`;
//   - a prediction made by another replica becomes visible once that replica's buffered write has
//     reached the file (milliseconds); feedback posted sooner than that gets a 404 and may be retried;
//   - two replicas given the same feedback at the same instant could both accept it; the training
//     reader keeps only the first, so a row is never trained on twice.
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { FlywheelError } from '../errors.js';
import type { Dataset } from '../model/types.js';

export const FEEDBACK_DIR = 'feedback';
const MAX_BATCH = 10_000;
/** Prediction lines are written at most this long after they are logged... */
const FLUSH_MS = 10;
/** ...or as soon as this many characters are queued. */
const FLUSH_BYTES = 64 * 1024;
const MAX_REQUEST_ID = 200;

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
  /** Files not modified for this long are not read when looking for a prediction. */
  readonly windowMs?: number;
}

export interface LoggedPrediction {
  readonly requestId: string;
  readonly version: string;
  readonly prediction: number;
  /**
   * The /predict request body as JSON text: an object holding the features (extra fields such as
   * user_id are kept and dropped when training). Spliced into the log line as is, so the hot path does
   * not parse and re-serialise it: it must be JSON the backend accepted.
   */
  readonly featuresJson: string;
  /** A mirrored request whose answer the client never saw. */
  readonly shadow?: boolean;
}

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
class RecentPredictions {
  readonly #size: number;
  readonly #slotOf = new Map<string, number>();
  readonly #ids: (string | undefined)[] = [];
  readonly #version: Int32Array;
  readonly #prediction: Float64Array;
  readonly #shadow: Uint8Array;
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

  add(id: string, version: string, prediction: number, shadow: boolean): void {
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

function sanitiseId(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9._-]/g, '_');
  return clean === '' ? 'gateway' : clean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a POST /feedback body: `{request_id, actual}`, `{feedback: [...]}` or a bare array. Returns
 * the items or throws FLY_ERR_FEEDBACK listing every bad item (so a batch is all or nothing).
 */
export function parseFeedbackBody(body: unknown): { request_id: string; actual: number }[] {
  let items: unknown[];
  if (Array.isArray(body)) items = body;
  else if (isRecord(body) && Array.isArray(body.feedback)) items = body.feedback;
  else if (isRecord(body)) items = [body];
  else {
    throw new FlywheelError(
      'FLY_ERR_FEEDBACK',
      'feedback must be {"request_id": "...", "actual": <number>} or a batch {"feedback": [...]}',
    );
  }
  if (items.length === 0) throw new FlywheelError('FLY_ERR_FEEDBACK', 'feedback batch is empty');
  if (items.length > MAX_BATCH) {
    throw new FlywheelError('FLY_ERR_FEEDBACK', `feedback batch has more than ${MAX_BATCH} items`);
  }
  const problems: { index: number; problem: string }[] = [];
  const out: { request_id: string; actual: number }[] = [];
  items.forEach((item, index) => {
    if (!isRecord(item)) {
      problems.push({ index, problem: 'not an object' });
      return;
    }
    const id = item.request_id;
    if (typeof id !== 'string' || id === '' || id.length > MAX_REQUEST_ID) {
      problems.push({ index, problem: `request_id must be a string of 1 to ${MAX_REQUEST_ID} characters` });
      return;
    }
    if (typeof item.actual !== 'number' || !Number.isFinite(item.actual)) {
      problems.push({ index, problem: `actual must be a finite number, got ${JSON.stringify(item.actual)}` });
      return;
    }
    out.push({ request_id: id, actual: item.actual });
  });
  if (problems.length > 0) {
    throw new FlywheelError(
      'FLY_ERR_FEEDBACK',
      `feedback refused: ${problems.length} invalid item(s); nothing was recorded`,
      { problems },
    );
  }
  return out;
}

/** One replica's writer and joiner; see the file comment for its limits. */
export class FeedbackStore {
  readonly dir: string;
  readonly gatewayId: string;
  readonly #maxFileBytes: number;
  readonly #maxFileAgeMs: number;
  readonly #indexSize: number;
  readonly #windowMs: number;
  readonly #index: RecentPredictions;
  #isoAt = 0;
  #iso = '';
  /** Files this store wrote: never tailed (their records are indexed as they are written). */
  readonly #ownFiles = new Set<string>();
  /** Other replicas' files: how far each was read, and an unfinished last line. */
  readonly #tails = new Map<string, { offset: number; rest: string }>();
  #stream: fs.WriteStream | null = null;
  #pending = '';
  #flushTimer: NodeJS.Timeout | null = null;
  #file = '';
  #fileBytes = 0;
  #fileOpenedAt = 0;
  #nextSeq = 1;
  #scan: Promise<void> | null = null;
  #scanAgain = false;
  #closed = false;
  /** Counters for /experiments and tests. */
  readonly counts = { predictions: 0, feedback: 0, rotations: 0, unreadable_lines: 0 };

  private constructor(options: FeedbackStoreOptions) {
    this.dir = path.join(options.registryDir, FEEDBACK_DIR);
    this.gatewayId = sanitiseId(options.gatewayId);
    this.#maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.#maxFileAgeMs = options.maxFileAgeMs ?? 3_600_000;
    this.#indexSize = options.indexSize ?? 100_000;
    this.#index = new RecentPredictions(this.#indexSize);
    this.#windowMs = options.windowMs ?? 24 * 3_600_000;
  }

  /** Creates the feedback folder and this replica's first file. */
  static async open(options: FeedbackStoreOptions): Promise<FeedbackStore> {
    const store = new FeedbackStore(options);
    try {
      await fsp.mkdir(store.dir, { recursive: true });
      const names = await fsp.readdir(store.dir);
      const prefix = `${store.gatewayId}-`;
      for (const name of names) {
        if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
        const n = Number(name.slice(prefix.length, -'.jsonl'.length));
        if (Number.isInteger(n) && n >= store.#nextSeq) store.#nextSeq = n + 1;
      }
      store.#rotate();
    } catch (err) {
      if (err instanceof FlywheelError) throw err;
      throw new FlywheelError(
        'FLY_ERR_REGISTRY_UNWRITABLE',
        `cannot write feedback in ${store.dir}`,
        undefined,
        {
          cause: err,
        },
      );
    }
    return store;
  }

  /** The file being written now. */
  get currentFile(): string {
    return this.#file;
  }

  /** Opens the next `<id>-<n>.jsonl`, exclusively so that two processes never share a file. */
  #rotate(): void {
    const previous = this.#stream;
    for (;;) {
      const file = path.join(this.dir, `${this.gatewayId}-${this.#nextSeq}.jsonl`);
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
      this.#ownFiles.add(file);
      this.#fileBytes = 0;
      this.#fileOpenedAt = Date.now();
      break;
    }
    if (previous) {
      previous.end();
      this.counts.rotations += 1;
    }
  }

  /**
   * Queues a line. Prediction lines are written in batches (one write per `FLUSH_MS` at most, not one
   * per request); a line with `done` (feedback) flushes everything queued at once and reports when it
   * reached the OS.
   */
  #write(line: string, done?: (err?: Error | null) => void): void {
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
    if (this.#fileBytes >= this.#maxFileBytes || Date.now() - this.#fileOpenedAt >= this.#maxFileAgeMs) {
      this.#rotate();
    }
    this.#fileBytes += Buffer.byteLength(data);
    (this.#stream as fs.WriteStream).write(data, done);
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

  /** Logs one served prediction. Synchronous and buffered: it runs on the request path. */
  logPrediction(p: LoggedPrediction): void {
    const features = p.featuresJson.includes('\n') ? p.featuresJson.replace(/[\r\n]/g, ' ') : p.featuresJson;
    const line =
      `{"type":"prediction","request_id":${JSON.stringify(p.requestId)},"time":"${this.#isoNow()}",` +
      `"version":${JSON.stringify(p.version)},"prediction":${Number.isFinite(p.prediction) ? p.prediction : null}` +
      `${p.shadow ? ',"shadow":true' : ''},"features":${features}}\n`;
    this.#write(line);
    this.#index.add(p.requestId, p.version, p.prediction, p.shadow === true);
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
    const oldest = Date.now() - this.#windowMs;
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
      this.#index.add(rec.request_id, rec.version, rec.prediction, rec.shadow === true);
    } else if (rec.type === 'feedback' && typeof rec.actual === 'number') {
      this.#index.setActual(rec.request_id, rec.actual);
    }
  }

  /**
   * Validates and records feedback (a single item or a batch, all or nothing). Throws FLY_ERR_FEEDBACK
   * (400) for a malformed item, FLY_ERR_FEEDBACK_UNKNOWN_REQUEST (404) when no prediction has the id,
   * FLY_ERR_FEEDBACK_DUPLICATE (409) when the id already has feedback; nothing is stored then.
   */
  async recordFeedback(body: unknown): Promise<AcceptedFeedback[]> {
    const items = parseFeedbackBody(body);
    // Another replica may hold the prediction or have recorded feedback for it already.
    await this.refresh();
    const unknown: string[] = [];
    const duplicate: string[] = [];
    const seen = new Set<string>();
    for (const { request_id } of items) {
      if (seen.has(request_id) || this.#index.hasActual(request_id)) duplicate.push(request_id);
      else if (this.#index.predictions(request_id).length === 0) unknown.push(request_id);
      seen.add(request_id);
    }
    if (unknown.length > 0) {
      throw new FlywheelError(
        'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
        `no recent prediction with request id ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}; nothing was recorded`,
        { unknown },
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
        this.#write(lines, (err) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      for (const { request_id } of items) {
        this.#index.clearActual(request_id);
      }
      throw new FlywheelError(
        'FLY_ERR_REGISTRY_UNWRITABLE',
        `cannot write feedback to ${this.#file}`,
        undefined,
        {
          cause: err,
        },
      );
    }
    this.counts.feedback += items.length;
    return accepted;
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

export interface FeedbackDatasetOptions {
  readonly targetName: string;
  /** Feature columns; by default the numeric fields of the first joined prediction, minus user_id. */
  readonly featureNames?: readonly string[];
}

export interface FeedbackDatasetResult {
  readonly dataset: Dataset;
  /** sha256 of the joined rows, for the manifest's provenance. */
  readonly sha256: string;
  /** Feedback whose prediction was not found or lacked a feature. */
  readonly skipped: number;
  /** Feedback lines recorded more than once (by racing replicas): only the first counts. */
  readonly duplicates: number;
}

/** Fields of a /predict body that are never features. */
const NOT_FEATURES = new Set(['user_id', 'request_id']);

async function forEachRecord(dir: string, fn: (rec: Record<string, unknown>) => void): Promise<void> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const lines = readline.createInterface({
      input: fs.createReadStream(path.join(dir, name), 'utf8'),
      crlfDelay: Infinity,
    });
    for await (const line of lines) {
      if (line === '') continue;
      try {
        const rec: unknown = JSON.parse(line);
        if (isRecord(rec) && typeof rec.request_id === 'string') fn(rec);
      } catch {
        // A torn last line of a replica that was killed mid-write: not data.
      }
    }
  }
}

/**
 * Joins the feedback in `<registry>/feedback` with the predictions it grades into a training data set:
 * the logged features as columns, the reported `actual` as the target. Two passes so that memory holds
 * only the requests that have feedback, not every prediction ever logged.
 */
export async function readFeedbackDataset(
  registryDir: string,
  options: FeedbackDatasetOptions,
): Promise<FeedbackDatasetResult> {
  const dir = path.join(registryDir, FEEDBACK_DIR);
  const actuals = new Map<string, { actual: number; time: string }>();
  let duplicates = 0;
  await forEachRecord(dir, (rec) => {
    if (rec.type !== 'feedback' || typeof rec.actual !== 'number' || !Number.isFinite(rec.actual)) return;
    const id = rec.request_id as string;
    const time = typeof rec.time === 'string' ? rec.time : '';
    const seen = actuals.get(id);
    if (seen) {
      duplicates += 1;
      if (time < seen.time) actuals.set(id, { actual: rec.actual, time });
    } else actuals.set(id, { actual: rec.actual, time });
  });
  const features = new Map<string, Record<string, unknown>>();
  await forEachRecord(dir, (rec) => {
    if (rec.type !== 'prediction' || !isRecord(rec.features)) return;
    const id = rec.request_id as string;
    if (actuals.has(id) && !features.has(id)) features.set(id, rec.features);
  });
  // Request-id order makes the data set (and its hash) independent of file order.
  const ids = [...actuals.keys()].filter((id) => features.has(id)).sort();
  let featureNames =
    options.featureNames && options.featureNames.length > 0 ? [...options.featureNames] : null;
  if (featureNames === null) {
    const first = ids.length > 0 ? features.get(ids[0]) : undefined;
    featureNames = first
      ? Object.keys(first).filter(
          (k) => !NOT_FEATURES.has(k) && k !== options.targetName && typeof first[k] === 'number',
        )
      : [];
  }
  const rows: { id: string; x: number[]; y: number }[] = [];
  for (const id of ids) {
    const f = features.get(id) as Record<string, unknown>;
    const x = featureNames.map((name) => f[name]);
    if (x.every((v): v is number => typeof v === 'number' && Number.isFinite(v))) {
      rows.push({ id, x, y: (actuals.get(id) as { actual: number }).actual });
    }
  }
  if (rows.length === 0) {
    throw new FlywheelError(
      'FLY_ERR_DATA_EMPTY',
      `no feedback joined to a logged prediction in ${dir} (${actuals.size} feedback record(s))`,
    );
  }
  const hash = createHash('sha256');
  hash.update(`${featureNames.join(',')},${options.targetName}\n`);
  const columns = featureNames.map(() => new Float64Array(rows.length));
  const target = new Float64Array(rows.length);
  rows.forEach((row, i) => {
    for (let j = 0; j < row.x.length; j++) columns[j][i] = row.x[j];
    target[i] = row.y;
    hash.update(`${row.x.join(',')},${row.y}\n`);
  });
  return {
    dataset: { featureNames, targetName: options.targetName, rows: rows.length, columns, target },
    sha256: hash.digest('hex'),
    skipped: actuals.size - rows.length,
    duplicates,
  };
}

/**
 * `<source>+feedback`: another source's rows followed by the feedback rows, on the other source's
 * feature columns and target (feedback rows lacking one of those features are skipped; no feedback at
 * all gives the other source alone, with `feedback.dataset.rows` 0).
 */
export async function mixWithFeedback(
  base: Dataset,
  registryDir: string,
): Promise<{ dataset: Dataset; feedback: FeedbackDatasetResult }> {
  let feedback: FeedbackDatasetResult;
  try {
    feedback = await readFeedbackDataset(registryDir, {
      targetName: base.targetName,
      featureNames: base.featureNames,
    });
  } catch (err) {
    // No feedback yet is normal for a scheduled `synthetic+feedback` run: train on the base alone.
    if (!(err instanceof FlywheelError && err.code === 'FLY_ERR_DATA_EMPTY')) throw err;
    return {
      dataset: base,
      feedback: {
        dataset: { ...base, rows: 0, columns: [], target: new Float64Array(0) },
        sha256: '',
        skipped: 0,
        duplicates: 0,
      },
    };
  }
  const rows = base.rows + feedback.dataset.rows;
  const columns = base.featureNames.map((_, j) => {
    const col = new Float64Array(rows);
    col.set(base.columns[j], 0);
    col.set(feedback.dataset.columns[j], base.rows);
    return col;
  });
  const target = new Float64Array(rows);
  target.set(base.target, 0);
  target.set(feedback.dataset.target, base.rows);
  return {
    dataset: { featureNames: base.featureNames, targetName: base.targetName, rows, columns, target },
    feedback,
  };
}
