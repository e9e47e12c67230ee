// What the gateway says about its replicas (GET /status), so a rollout can wait until the gateway
// has taken a new replica in, and has let an old one go, instead of guessing with a sleep.
import { httpGet } from './http.js';

export interface ReplicaView {
  readonly url: string;
  /** Takes traffic; null when the gateway does not say. */
  readonly healthy: boolean | null;
  /** Taken out of the set and finishing its requests: no new traffic goes there. */
  readonly draining: boolean;
  /** The gateway's word for it (healthy, unhealthy, ejected, draining, unknown), when given. */
  readonly state: string | null;
  /** Requests the gateway sent it, when given. */
  readonly requests: number | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The replicas listed in a gateway /status body; null when the body does not list any. */
export function parseGatewayStatus(body: string): ReplicaView[] | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  const list = value.replicas ?? value.upstreams ?? value.backends;
  if (!Array.isArray(list)) return null;
  const out: ReplicaView[] = [];
  for (const item of list) {
    if (!isObject(item)) continue;
    const url = item.url ?? item.origin ?? item.address;
    if (typeof url !== 'string') continue;
    let healthy: boolean | null = null;
    if (typeof item.healthy === 'boolean') healthy = item.healthy;
    else if (typeof item.state === 'string') healthy = item.state === 'healthy' || item.state === 'up';
    out.push({
      url: url.replace(/\/+$/, ''),
      healthy,
      draining: item.state === 'draining',
      state: typeof item.state === 'string' ? item.state : null,
      requests: typeof item.requests_total === 'number' ? item.requests_total : null,
    });
  }
  return out;
}

export async function fetchGatewayView(gatewayUrl: string, timeoutMs: number): Promise<ReplicaView[] | null> {
  try {
    const reply = await httpGet(`${gatewayUrl}/status`, timeoutMs);
    return reply.status === 200 ? parseGatewayStatus(reply.body) : null;
  } catch {
    return null;
  }
}
