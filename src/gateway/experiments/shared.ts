// What makes several gateways on one registry act as one: this gateway's figures published for the
// others and theirs read back (peers.ts), their merge (the evidence every report and decision rests
// on), and the lease that elects the one gateway running the automatic analysis (registry/lease.ts).
import type { GatewayConfig } from '../../config.js';
import type { Logger } from '../../log.js';
import { Lease } from '../../registry/lease.js';
import type { Registry } from '../../registry/registry.js';
import type { PeerDrift } from '../drift/monitor.js';
import type { Evidence } from './analysis.js';
import { Peers, type PeerDescription } from './peers.js';
import { mergeStats, type ExperimentStats, type VersionStats } from './stats.js';

export class SharedFigures {
  readonly peers: Peers;
  /** The analysis lease; null when this gateway never decides (--analysis-interval 0). */
  readonly lease: Lease | null;
  readonly #gatewayId: string;
  readonly #stats: ExperimentStats;

  constructor(options: {
    config: GatewayConfig;
    registry: Registry;
    stats: ExperimentStats;
    log: Logger;
    describe?: () => PeerDescription;
  }) {
    const { config, registry, stats, log } = options;
    this.#gatewayId = config.gatewayId;
    this.#stats = stats;
    this.peers = new Peers({
      registry,
      gatewayId: config.gatewayId,
      intervalMs: config.publishInterval,
      expiryMs: config.peerExpiry,
      log,
      figures: () => stats.toWire(),
      describe: options.describe ?? (() => ({ replicas: [] })),
    });
    this.lease =
      config.analysisInterval > 0
        ? new Lease({
            registry,
            name: 'analysis',
            identity: config.gatewayId,
            durationMs: config.leaseDuration,
            renewDeadlineMs: config.leaseRenewDeadline,
            retryPeriodMs: config.leaseRetryPeriod,
            log: log.child({ component: 'lease' }),
          })
        : null;
  }

  /** Publishes and reads once (so this gateway is visible, and sees the others, from the start), then keeps at it. */
  async start(): Promise<void> {
    await this.peers.tick();
    this.peers.start();
    this.lease?.start();
  }

  /** Hands the lease back (if held) and stops publishing. */
  async stop(): Promise<void> {
    await this.lease?.stop();
    await this.peers.stop();
  }

  /** This gateway's live figures merged with every live peer's last published ones. */
  evidence(): Evidence {
    // Summed in the order of the gateway ids, whichever gateway sums: floating-point addition is not
    // associative, and every gateway must arrive at the same comparison to the last digit.
    const sources = [
      // Its own figures live; what it publishes is exactly these once traffic pauses for a tick.
      { gateway: this.#gatewayId, versions: this.#stats.all() as Iterable<VersionStats> },
      ...this.peers.peers,
    ].sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
    return {
      stats: mergeStats(sources.map((s) => s.versions)),
      gateways: sources.map((s) => s.gateway),
    };
  }

  /**
   * The drift snapshots (DriftMonitor.snapshot(): plain bin counts) the other live gateways published
   * beside their figures, as read from their files: untrusted, the drift monitor validates them
   * (drift/peer-counts.ts) before GET /drift merges them with its own.
   */
  peerDriftSnapshots(): PeerDrift[] {
    return this.peers.peers
      .filter((p) => p.drift !== undefined)
      .map((p) => ({ gateway: p.gateway, drift: p.drift }));
  }
}
