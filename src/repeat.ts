// A task run again and again with a pause between runs: never two runs at once, the timer does not
// keep the process alive, and stop() waits for the run in flight. The registry's polling loops (peer
// figures, the analysis lease) share it rather than each keeping its own timer, in-flight promise and
// stopped flag.

export class Repeater {
  readonly #run: () => Promise<unknown>;
  readonly #pauseMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** `run` should not throw; a rejection is dropped so that the loop goes on. */
  constructor(run: () => Promise<unknown>, pauseMs: number) {
    this.#run = run;
    this.#pauseMs = pauseMs;
  }

  /** Runs at once, then `pauseMs` after each run ends. A second start, or a start after stop, does nothing. */
  start(): void {
    if (this.#timer !== null || this.#running !== null || this.#stopped) return;
    const tick = (): void => {
      this.#running = this.#run()
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.#running = null;
          if (!this.#stopped) {
            this.#timer = setTimeout(tick, this.#pauseMs);
            this.#timer.unref();
          }
        });
    };
    tick();
  }

  /** No further runs; resolves once the run in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
