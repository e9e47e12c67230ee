// Which methods each registered path takes, so that a known path asked with another method is answered
// 405 with `Allow` rather than fastify's 404 (find-my-way matches method and path together).

/** A route path as fastify registers it (`/v2/models/:name/infer`) turned into a matcher. */
function matcher(url: string): RegExp {
  const pattern = url
    .split('/')
    .map((part) =>
      part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${pattern}$`);
}

export class RouteMethods {
  readonly #routes = new Map<string, { match: RegExp; methods: Set<string> }>();

  add(url: string, method: string | readonly string[]): void {
    let entry = this.#routes.get(url);
    if (entry === undefined) {
      entry = { match: matcher(url), methods: new Set() };
      this.#routes.set(url, entry);
    }
    for (const m of typeof method === 'string' ? [method] : method) entry.methods.add(m);
  }

  /** The methods `path` takes (sorted), or none when no route has this path. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const { match, methods } of this.#routes.values()) {
      if (match.test(path)) for (const m of methods) out.add(m);
    }
    return [...out].sort();
  }
}
