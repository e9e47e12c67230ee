// `flywheel gateway`: replicas and balancing, health, timeouts, and the experiment layer (routing,
// feedback log, canary analysis).
import os from 'node:os';
import { common } from './common.js';
import { driftGateway } from './drift.js';
import { bytes, duration, int, list, num, oneOf, optStr, str, type Setting } from './kinds.js';
import { serve } from './serve.js';

/**
 * Backend replica sources of the gateway. Checked for shape here so that a typo stops the process at
 * start (and in --print-config); src/gateway/discovery.ts turns each entry into a source.
 */
function backendList(flag: string, env: string, description: string): Setting<string[]> {
  const base = list(flag, env, description);
  return {
    ...base,
    parse: (raw) => {
      const entries = base.parse(raw);
      for (const entry of entries) {
        if (entry.startsWith('file:')) {
          if (entry.length === 'file:'.length) throw new Error(`${entry}: file: needs a path`);
          continue;
        }
        const dns = entry.startsWith('dns+');
        let url: URL;
        try {
          url = new URL(dns ? entry.slice(4) : entry);
        } catch {
          throw new Error(
            `${JSON.stringify(entry)} is not a URL (expected http://host:port, dns+http://name:port or file:<path>)`,
          );
        }
        if (url.protocol !== 'http:') throw new Error(`${entry}: only http:// backends are supported`);
        if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
          throw new Error(`${entry}: give only scheme, host and port (no path, query or credentials)`);
        }
        if (dns && url.port === '') throw new Error(`${entry}: dns+http:// needs an explicit port`);
      }
      return entries;
    },
  };
}

export const gateway = {
  ...common,
  host: serve.host,
  port: int('--port <n>', 'FLYWHEEL_PORT', 'port to listen on', 8080, { min: 0, max: 65535 }),
  backends: backendList(
    '--backends <urls>',
    'FLYWHEEL_BACKENDS',
    'backend replicas, comma-separated: http://host:port, dns+http://service:port (every A/AAAA record), file:<path> (JSON {"replicas": [urls]}, re-read on change)',
  ),
  balance: oneOf(
    '--balance <policy>',
    'FLYWHEEL_BALANCE',
    'balancing policy',
    ['least-outstanding', 'round-robin'],
    'least-outstanding',
  ),
  healthInterval: duration(
    '--health-interval <duration>',
    'FLYWHEEL_HEALTH_INTERVAL',
    'active health check interval',
    1000,
  ),
  ejectAfter: int(
    '--eject-after <n>',
    'FLYWHEEL_EJECT_AFTER',
    'consecutive failures that eject a replica',
    3,
    { min: 1 },
  ),
  attemptTimeout: duration(
    '--attempt-timeout <duration>',
    'FLYWHEEL_ATTEMPT_TIMEOUT',
    'longest timeout of one attempt on one replica (the timeout is learned from observed latency, up to this)',
    5000,
  ),
  attemptTimeoutFloor: duration(
    '--attempt-timeout-floor <duration>',
    'FLYWHEEL_ATTEMPT_TIMEOUT_FLOOR',
    'shortest learned attempt timeout',
    1000,
  ),
  hedgeBudget: num(
    '--hedge-budget <percent>',
    'FLYWHEEL_HEDGE_BUDGET',
    'a /predict with no answer after the learned hedge delay is also sent to another replica, for at most this share of requests (0: off)',
    10,
    { min: 0, max: 100 },
  ),
  deadline: duration('--deadline <duration>', 'FLYWHEEL_DEADLINE', 'total time a request may take', 10_000),
  dnsInterval: duration(
    '--dns-interval <duration>',
    'FLYWHEEL_DNS_INTERVAL',
    'how often dns+ backends are re-resolved',
    5000,
  ),
  dnsServer: optStr(
    '--dns-server <host:port>',
    'FLYWHEEL_DNS_SERVER',
    'resolver for dns+ backends (default: the system resolver)',
  ),
  healthTimeout: duration(
    '--health-timeout <duration>',
    'FLYWHEEL_HEALTH_TIMEOUT',
    'time one active health check may take before it counts as failed',
    2000,
  ),
  readmitAfter: int(
    '--readmit-after <n>',
    'FLYWHEEL_READMIT_AFTER',
    'consecutive passing health checks that re-admit an ejected or unhealthy replica',
    2,
    { min: 1 },
  ),
  upstreamConnections: int(
    '--upstream-connections <n>',
    'FLYWHEEL_UPSTREAM_CONNECTIONS',
    'most keep-alive connections to one replica (more requests queue)',
    128,
    { min: 1, max: 65_536 },
  ),
  filePollInterval: duration(
    '--file-poll-interval <duration>',
    'FLYWHEEL_FILE_POLL_INTERVAL',
    'how often a file: backend list is re-read (besides watching it)',
    1000,
  ),
  gracePeriod: serve.gracePeriod,
  keepAliveTimeout: duration(
    '--keep-alive-timeout <duration>',
    'FLYWHEEL_KEEP_ALIVE_TIMEOUT',
    'idle time after which a client keep-alive connection is closed (longer than --deadline)',
    65_000,
  ),
  adminToken: {
    ...optStr(
      '--admin-token <token>',
      'FLYWHEEL_ADMIN_TOKEN',
      'bearer token for admin routes (unset: admin routes off)',
    ),
    secret: true,
  },
  bodyLimit: serve.bodyLimit,
  analysisInterval: duration(
    '--analysis-interval <duration>',
    'FLYWHEEL_ANALYSIS_INTERVAL',
    'how often the canary analysis runs, 0 to turn it off',
    10_000,
  ),
  gatewayId: str(
    '--gateway-id <id>',
    'FLYWHEEL_GATEWAY_ID',
    'this gateway replica name (feedback file name)',
    os.hostname(),
  ),
  // Canary analysis thresholds (see src/gateway/experiments/analysis.ts).
  analysisMinRequests: int(
    '--analysis-min-requests <n>',
    'FLYWHEEL_ANALYSIS_MIN_REQUESTS',
    'requests each of candidate and production needs before a decision',
    200,
    { min: 1 },
  ),
  analysisMinDuration: duration(
    '--analysis-min-duration <duration>',
    'FLYWHEEL_ANALYSIS_MIN_DURATION',
    'time the candidate must take traffic before a decision',
    60_000,
  ),
  analysisMinFeedback: int(
    '--analysis-min-feedback <n>',
    'FLYWHEEL_ANALYSIS_MIN_FEEDBACK',
    'feedback records each version needs before a decision, 0 to decide on errors and latency alone',
    30,
    { min: 0 },
  ),
  analysisMaxErrorIncrease: num(
    '--analysis-max-error-increase <rate>',
    'FLYWHEEL_ANALYSIS_MAX_ERROR_INCREASE',
    'largest accepted rise of the error rate over production (0.01 = one point)',
    0.01,
    { min: 0, max: 1 },
  ),
  analysisMaxLatencyRatio: num(
    '--analysis-max-latency-ratio <ratio>',
    'FLYWHEEL_ANALYSIS_MAX_LATENCY_RATIO',
    'largest accepted candidate/production p99 latency ratio',
    1.5,
    { min: 1 },
  ),
  analysisMaxMaeRatio: num(
    '--analysis-max-mae-ratio <ratio>',
    'FLYWHEEL_ANALYSIS_MAX_MAE_RATIO',
    'largest accepted candidate/production MAE ratio on feedback',
    1.1,
    { min: 0.01 },
  ),
  analysisAlpha: num(
    '--analysis-alpha <p>',
    'FLYWHEEL_ANALYSIS_ALPHA',
    'significance level: a worse MAE rolls back only when its Welch p-value is below this',
    0.05,
    { min: 1e-9, max: 0.5 },
  ),
  // Several gateways on one registry (src/gateway/experiments/peers.ts, src/registry/lease.ts).
  publishInterval: duration(
    '--publish-interval <duration>',
    'FLYWHEEL_PUBLISH_INTERVAL',
    "how often this gateway writes its per-version figures to the registry and reads the other gateways' figures",
    1000,
  ),
  peerExpiry: duration(
    '--peer-expiry <duration>',
    'FLYWHEEL_PEER_EXPIRY',
    'a gateway whose figures file is untouched for longer than this no longer counts in the merged figures',
    10_000,
  ),
  leaseDuration: duration(
    '--lease-duration <duration>',
    'FLYWHEEL_LEASE_DURATION',
    'the analysis lease: how long it must go unrenewed before another gateway may take it over',
    15_000,
  ),
  leaseRenewDeadline: duration(
    '--lease-renew-deadline <duration>',
    'FLYWHEEL_LEASE_RENEW_DEADLINE',
    'the lease holder stops deciding when it could not renew for this long (shorter than --lease-duration)',
    10_000,
  ),
  leaseRetryPeriod: duration(
    '--lease-retry-period <duration>',
    'FLYWHEEL_LEASE_RETRY_PERIOD',
    'how often the holder renews the lease and the other gateways try to take it (shorter than --lease-renew-deadline)',
    2000,
  ),
  routingPollInterval: duration(
    '--routing-poll-interval <duration>',
    'FLYWHEEL_ROUTING_POLL_INTERVAL',
    'how often the routing state and aliases are re-read from the registry',
    500,
  ),
  feedbackMaxAge: duration(
    '--feedback-max-age <duration>',
    'FLYWHEEL_FEEDBACK_MAX_AGE',
    'how long after a prediction its feedback is accepted (older: 410 FLY_ERR_FEEDBACK_EXPIRED)',
    24 * 3_600_000,
  ),
  feedbackToken: {
    ...optStr(
      '--feedback-token <token>',
      'FLYWHEEL_FEEDBACK_TOKEN',
      'bearer token POST /feedback requires (unset: any client may send feedback)',
    ),
    secret: true,
  },
  feedbackMaxBytes: bytes(
    '--feedback-max-bytes <size>',
    'FLYWHEEL_FEEDBACK_MAX_BYTES',
    'size at which the prediction/feedback log starts a new file',
    64 * 1024 * 1024,
  ),
  feedbackRotateAge: duration(
    '--feedback-rotate-age <duration>',
    'FLYWHEEL_FEEDBACK_ROTATE_AGE',
    'age at which the prediction/feedback log starts a new file',
    3_600_000,
  ),
  feedbackRetention: duration(
    '--feedback-retention <duration>',
    'FLYWHEEL_FEEDBACK_RETENTION',
    'feedback log files older than this are deleted (0: kept forever)',
    30 * 24 * 3_600_000,
  ),
  feedbackRetentionBytes: bytes(
    '--feedback-retention-bytes <size>',
    'FLYWHEEL_FEEDBACK_RETENTION_BYTES',
    'oldest feedback log files are deleted while all of them take more than this (0: no limit)',
    1024 ** 3,
  ),
  feedbackIndexSize: int(
    '--feedback-index-size <n>',
    'FLYWHEEL_FEEDBACK_INDEX_SIZE',
    'recent request ids kept in memory to join feedback with predictions',
    100_000,
    { min: 100 },
  ),
  ...driftGateway,
};
