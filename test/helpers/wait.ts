// Polling with a deadline instead of sleeping: tests wait for a condition, never for a fixed time.

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Named in the timeout error ("timed out after 5000 ms waiting for <what>"). */
  readonly what?: string;
}

/**
 * Calls `fn` until it returns a truthy value (returned) or the deadline passes (throws, with the last
 * error `fn` threw, if any). `fn` may be async; an exception counts as "not yet".
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what ?? 'a condition'}${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
