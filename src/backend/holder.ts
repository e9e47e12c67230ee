// The model holder (TensorFlow Serving's manager in small): the registry watcher tells it which
// versions the aliases name, `nextAction` decides, and this class carries the decisions out — one load
// at a time, beside the model in service, then a switch of one reference. Requests read `production`
// (or `get(version)`) once when they start, so a switch never changes a request's model halfway.
import { isFlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { ALIASES, type AliasName } from '../registry/types.js';
import type { BackendMetrics } from './metrics.js';
import { nextAction, retryDelayMs, type AliasVersions, type LoadFailure } from './policy.js';
import type { ServedModel } from './served-model.js';

export type LoadVersion = (version: string) => Promise<ServedModel>;

export interface HolderOptions {
  readonly load: LoadVersion;
  readonly log: Logger;
  readonly metrics: BackendMetrics;
  readonly now?: () => number;
}

export class ModelHolder {
  readonly #load: LoadVersion;
  readonly #log: Logger;
  readonly #metrics: BackendMetrics;
  readonly #now: () => number;
  #aspired: AliasVersions = { production: null, candidate: null };
  #serving: Record<AliasName, ServedModel | null> = { production: null, candidate: null };
  readonly #loaded = new Map<string, ServedModel>();
  readonly #failures = new Map<string, LoadFailure>();
  #loading: string | null = null;
  #pumping: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Set when the wish changes while the pump runs, so the change is never lost between two turns. */
  #again = false;

  constructor(options: HolderOptions) {
    this.#load = options.load;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#now = options.now ?? Date.now;
  }

  /** The model most traffic gets; undefined until the first production version has loaded. */
  get production(): ServedModel | undefined {
    return this.#serving.production ?? undefined;
  }

  get candidate(): ServedModel | undefined {
    return this.#serving.candidate ?? undefined;
  }

  /** A loaded version by id, or an alias name (`production`, `candidate`). */
  get(versionOrAlias: string): ServedModel | undefined {
    if (versionOrAlias === 'production' || versionOrAlias === 'candidate') {
      return this.#serving[versionOrAlias] ?? undefined;
    }
    return this.#loaded.get(versionOrAlias);
  }

  /** Versions in memory, newest id first. */
  loadedVersions(): string[] {
    return [...this.#loaded.keys()].sort().reverse();
  }

  /** What each alias answers with now. */
  servingVersions(): { production: string | null; candidate: string | null } {
    return {
      production: this.#serving.production?.version ?? null,
      candidate: this.#serving.candidate?.version ?? null,
    };
  }

  /** The source's wish: what the registry's aliases name now. */
  setAspired(aliases: AliasVersions): void {
    if (this.#closed) return;
    if (aliases.production === this.#aspired.production && aliases.candidate === this.#aspired.candidate) {
      return;
    }
    this.#aspired = { production: aliases.production, candidate: aliases.candidate };
    this.#log.debug({ aspired: this.#aspired }, 'aliases changed');
    this.#kick();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
  }

  #kick(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#log.error({ err }, 'model holder failed'))
      .finally(() => {
        this.#pumping = null;
        if (this.#again) this.#kick();
      });
  }

  async #pump(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    while (!this.#closed) {
      this.#again = false;
      const action = nextAction({
        aspired: this.#aspired,
        serving: this.servingVersions(),
        loaded: new Set(this.#loaded.keys()),
        loading: this.#loading,
        failures: this.#failures,
        now: this.#now(),
      });
      switch (action.kind) {
        case 'switch':
          this.#switch(action.alias, action.version);
          break;
        case 'unload':
          this.#loaded.delete(action.version);
          this.#log.info({ version: action.version }, 'model unloaded');
          this.#publishGauge();
          break;
        case 'load':
          await this.#loadOne(action.version);
          break;
        case 'wait':
          // Woken by the timer, or earlier by an alias change.
          this.#retryTimer = setTimeout(() => this.#kick(), Math.max(0, action.until - this.#now()));
          this.#retryTimer.unref();
          return;
        case 'idle':
          return;
      }
    }
  }

  #switch(alias: AliasName, version: string | null): void {
    const from = this.#serving[alias]?.version ?? null;
    // The swap: one reference. Requests that already took the old model finish on it.
    this.#serving = { ...this.#serving, [alias]: version === null ? null : this.#loaded.get(version)! };
    this.#metrics.swaps.inc({ alias });
    this.#log.info({ alias, from, to: version }, 'model switched');
    this.#publishGauge();
  }

  async #loadOne(version: string): Promise<void> {
    this.#loading = version;
    const started = performance.now();
    try {
      const model = await this.#load(version);
      this.#loaded.set(version, model);
      this.#failures.delete(version);
      const loadMs = Math.round((performance.now() - started) * 10) / 10;
      this.#log.info(
        { version, sha256: model.manifest.artifact.sha256, algorithm: model.predictor.algorithm, loadMs },
        'model loaded',
      );
      this.#publishGauge();
    } catch (err) {
      const attempts = (this.#failures.get(version)?.attempts ?? 0) + 1;
      const retryInMs = retryDelayMs(attempts);
      this.#failures.set(version, { attempts, retryAt: this.#now() + retryInMs });
      const code = isFlywheelError(err) ? err.code : 'FLY_ERR_INTERNAL';
      this.#metrics.loadFailures.inc({ code });
      this.#log.error(
        {
          version,
          code,
          err: err instanceof Error ? err.message : String(err),
          attempts,
          retryInMs,
          serving: this.servingVersions(),
        },
        'model load failed',
      );
    } finally {
      this.#loading = null;
    }
  }

  #publishGauge(): void {
    const serving = this.servingVersions();
    this.#metrics.setLoaded(
      [...this.#loaded.keys()].map((version) => ({
        version,
        alias: ALIASES.filter((a) => serving[a] === version).join(',') || 'none',
      })),
    );
  }
}
