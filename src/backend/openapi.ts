// GET /openapi.json: an OpenAPI 3.1 description built from the very schemas the routes validate and
// serialise with, collected as routes are registered (so it cannot drift from the code).
import type { FastifyInstance, RouteOptions } from 'fastify';

interface DocSchema {
  summary?: string;
  description?: string;
  tags?: readonly string[];
  body?: unknown;
  params?: { properties?: Record<string, unknown>; required?: readonly string[] };
  headers?: { properties?: Record<string, unknown>; required?: readonly string[] };
  response?: Record<string, unknown>;
  /** Content type of the 200 answer when it is not JSON. */
  produces?: string;
}

interface Collected {
  readonly method: string;
  readonly url: string;
  readonly schema: DocSchema;
}

export const OPENAPI_PATH = '/openapi.json';

export class OpenApiCollector {
  readonly #routes: Collected[] = [];

  /** Call before registering routes. */
  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD' || route.schema === undefined) continue;
        this.#routes.push({
          method: method.toLowerCase(),
          url: route.url,
          schema: route.schema as DocSchema,
        });
      }
    });
  }

  document(info: { title: string; version: string; description: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.#routes) {
      // fastify writes /v2/models/:name, OpenAPI /v2/models/{name}
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      (paths[path] ??= {})[r.method] = operation(r.schema);
    }
    return { openapi: '3.1.0', info, paths };
  }
}

function operation(s: DocSchema): Record<string, unknown> {
  const parameters = [...parametersOf(s.params, 'path'), ...parametersOf(s.headers, 'header')];
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(s.response ?? {})) {
    const type = status === '200' && s.produces !== undefined ? s.produces : 'application/json';
    const description =
      (schema as { description?: string }).description ?? (status === '200' ? 'success' : 'error');
    responses[status.toUpperCase()] = { description, content: { [type]: { schema } } };
  }
  return {
    ...(s.summary !== undefined && { summary: s.summary }),
    ...(s.description !== undefined && { description: s.description }),
    ...(s.tags !== undefined && { tags: s.tags }),
    ...(parameters.length > 0 && { parameters }),
    ...(s.body !== undefined && {
      requestBody: { required: true, content: { 'application/json': { schema: s.body } } },
    }),
    responses,
  };
}

function parametersOf(schema: DocSchema['params'], where: 'path' | 'header'): Record<string, unknown>[] {
  return Object.entries(schema?.properties ?? {}).map(([name, sub]) => ({
    name,
    in: where,
    required: where === 'path' || (schema?.required ?? []).includes(name),
    schema: sub,
  }));
}
