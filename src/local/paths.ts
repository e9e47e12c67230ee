// Where the local stack keeps its files: beside the models, in `<registry>/local/`, so that one
// registry folder is everything a stack needs and `flywheel status` finds it from `--registry`.
import path from 'node:path';
import { stackStatePath } from '../registry/stack-state.js';

export function localDir(registry: string): string {
  return path.join(registry, 'local');
}

/** The supervisor's state: components, schedule, last runs, rollout (read by `flywheel status`). */
export function statePath(registry: string): string {
  return stackStatePath(registry);
}

/** The replica set the gateway follows (`--backends file:<path>`). */
export function replicasPath(registry: string): string {
  return path.join(localDir(registry), 'replicas.json');
}

/** Held by the running supervisor, so two `flywheel up` never drive the same replica set. */
export function lockPath(registry: string): string {
  return path.join(localDir(registry), 'up.lock');
}

/** A host to connect to for a listen address: the wildcard addresses are reached on loopback. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function urlOf(host: string, port: number): string {
  return `http://${connectHost(host)}:${port}`;
}
