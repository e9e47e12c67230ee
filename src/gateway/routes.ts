// The gateway's routing table: which paths are forwarded to the replicas and which the gateway answers
// itself. This is the seam later features plug into (dashboard `/`, `/feedback`, `/admin/*`,
// `/experiments`, a version router on `/predict`): they add or replace entries, the hot path stays one
// Map lookup for exact paths plus a short prefix scan.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ForwardRoute } from './forward.js';

/** A route the gateway answers itself. It owns the response; a rejection becomes a 500 JSON error. */
export type LocalHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface LocalRoute {
  readonly kind: 'local';
  readonly name: string;
  readonly handle: LocalHandler;
}

export type Route = ForwardRoute | LocalRoute;

export class RouteTable {
  readonly #exact = new Map<string, Route>();
  #prefixes: { readonly prefix: string; readonly route: Route }[] = [];

  /** `path` exactly (no query string). Replaces an earlier entry for the same path. */
  exact(path: string, route: Route): this {
    this.#exact.set(path, route);
    return this;
  }

  /** Every path starting with `prefix`; the longest matching prefix wins, exact paths win over all. */
  prefix(prefix: string, route: Route): this {
    this.#prefixes = [...this.#prefixes.filter((p) => p.prefix !== prefix), { prefix, route }].sort(
      (a, b) => b.prefix.length - a.prefix.length,
    );
    return this;
  }

  match(path: string): Route | undefined {
    const exact = this.#exact.get(path);
    if (exact !== undefined) return exact;
    for (const p of this.#prefixes) if (path.startsWith(p.prefix)) return p.route;
    return undefined;
  }

  /** Every path and prefix (prefixes end with `*`), for /status. */
  list(): { path: string; kind: Route['kind']; name: string }[] {
    return [
      ...[...this.#exact].map(([path, r]) => ({ path, kind: r.kind, name: r.name })),
      ...this.#prefixes.map((p) => ({ path: `${p.prefix}*`, kind: p.route.kind, name: p.route.name })),
    ];
  }
}
