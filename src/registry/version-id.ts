// Version ids: `vYYYYMMDD-HHMMSS-mmm-NN` (UTC time, then a sequence number within the millisecond).
// They sort as text in creation order, and they are unique because each one is reserved with mkdir,
// which the filesystem (local or NFS) creates atomically for exactly one caller.

const VERSION_RE = /^v(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d{3})-(\d{2})$/;

/** Sequence numbers per millisecond; beyond this the next millisecond is used. */
export const MAX_SEQ = 100;

export function isVersionId(value: string): boolean {
  return VERSION_RE.test(value);
}

export function formatVersionId(ms: number, seq: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `v${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}` +
    `-${p(d.getUTCMilliseconds(), 3)}-${p(seq)}`
  );
}

/** The creation time encoded in an id, in ms since the epoch; undefined for anything else. */
export function versionIdTime(id: string): number | undefined {
  const m = VERSION_RE.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number);
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  return Number.isFinite(t) ? t : undefined;
}

/** Newest first. Ids sort as text in creation order. */
export function compareNewestFirst(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}
