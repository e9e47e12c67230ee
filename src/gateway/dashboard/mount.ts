// Plugs the dashboard into a running gateway: its routes go into the gateway's route table (local
// routes, beside /status and /metrics), its figures come from the gateway's balancer, forwarder and,
// when the experiment layer runs, its per-version statistics and analysis.
import type { Experiments } from '../experiments/experiments.js';
import type { Gateway } from '../server.js';
import { Dashboard, type DashboardOptions } from './index.js';
import { experimentsFacts } from './experiments-source.js';
import type { PeerGatewayView } from './api-types.js';
import type { ExperimentsFacts, GatewayFacts } from './overview.js';

export interface MountOptions {
  /** The experiment layer, or a getter when it starts after the dashboard is mounted. */
  readonly experiments?: Experiments | null | (() => Experiments | null);
  /** Overrides for tests (sampling interval, client folder). */
  readonly dashboard?: Partial<Pick<DashboardOptions, 'sampler' | 'clientDir' | 'stackStateFile'>>;
}

/** What the dashboard reads of the gateway on every sample: a few counters, nothing per request. */
export function gatewayFacts(gateway: Gateway): () => GatewayFacts {
  let startedAt: string | null = gateway.server.listening ? new Date().toISOString() : null;
  gateway.server.once('listening', () => {
    startedAt = new Date().toISOString();
  });
  return () => {
    const stats = gateway.balancer.stats();
    return {
      id: gateway.config.gatewayId,
      startedAt,
      ready: gateway.ready,
      balance: stats.policy,
      discovery: gateway.source.description,
      adminEnabled: gateway.config.adminToken !== undefined,
      inFlight: gateway.forwarder.inFlight,
      requestsTotal: gateway.forwarder.requests,
      replicas: stats.replicas.map((r) => ({
        url: r.url,
        state: r.state,
        inFlight: r.in_flight,
        requestsTotal: r.requests_total,
        failures: r.failures_total,
        detail: r.last_error,
      })),
    };
  };
}

/** Reads the experiment layer through a getter, so it may start after the dashboard. */
function lazyExperimentsFacts(source: Experiments | (() => Experiments | null)): ExperimentsFacts {
  let facts: ExperimentsFacts | null = null;
  const current = (): ExperimentsFacts | null => {
    if (facts) return facts;
    const experiments = typeof source === 'function' ? source() : source;
    if (!experiments) return null;
    facts = experimentsFacts({
      evidence: () => experiments.evidence(),
      thresholds: experiments.analysis.thresholds,
      automatic: experiments.analysis.intervalMs > 0,
    });
    return facts;
  };
  return {
    counters: () => current()?.counters() ?? [],
    stats: () => current()?.stats() ?? [],
    verdict: (aliases) =>
      current()?.verdict(aliases) ?? { verdict: 'none', reason: 'The experiment layer is starting.' },
  };
}

/** The other live gateways, as the experiment layer last read their figures files. */
function peersOf(source: Experiments | (() => Experiments | null)): () => PeerGatewayView[] {
  return () => {
    const experiments = typeof source === 'function' ? source() : source;
    return (experiments?.peers.peers ?? []).map((p) => ({
      id: p.gateway,
      host: p.host,
      age_s: p.ageMs / 1000,
      replicas: p.replicas,
    }));
  };
}

/** Adds `/`, `/dashboard` and `/dashboard/...` to the gateway and starts sampling; stops with it. */
export function mountDashboard(gateway: Gateway, options: MountOptions = {}): Dashboard {
  const dashboard = new Dashboard({
    registryDir: gateway.config.registry,
    gateway: gatewayFacts(gateway),
    ...(options.experiments
      ? {
          experiments: lazyExperimentsFacts(options.experiments),
          peers: peersOf(options.experiments),
        }
      : {}),
    ...options.dashboard,
  });
  if (dashboard.missing.length > 0) {
    gateway.log.warn({ missing: dashboard.missing }, 'dashboard files missing: the page will not load');
  }
  for (const route of dashboard.routes) {
    const local = gateway.localRoute('dashboard', route.handle);
    if (route.prefix) gateway.routes.prefix(route.path, local);
    else gateway.routes.exact(route.path, local);
  }
  dashboard.start();
  gateway.server.once('close', () => dashboard.stop());
  return dashboard;
}
