/**
 * Prometheus metrics, served on the admin listener's `/metrics`. Names follow STYLE.md §9:
 * `warden_<thing>_<unit>`, with the same reason codes and stage words as the audit stream.
 *
 * Each `createMetrics()` call makes its own `Registry` rather than using prom-client's global
 * one: tests and in-process integration runs create several proxies, and the global registry
 * refuses to register a metric name twice.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The typed metric handles of one Warden instance. */
export interface Metrics {
  readonly registry: Registry;
  /** `warden_decisions_total{reason,decision}`: one per decided request or CONNECT. */
  readonly decisions: Counter<'reason' | 'decision'>;
  /** `warden_requests_total{kind}`, kind = `http` (absolute-form), `mitm` (inside inspected TLS), `connect`. */
  readonly requests: Counter<'kind'>;
  /** `warden_active_connections`: accepted client sockets currently open. */
  readonly activeConnections: Gauge;
  /** `warden_active_tunnels`: passthrough tunnels currently open. */
  readonly activeTunnels: Gauge;
  /** `warden_tls_handshake_failures_total{side}`, side = `client` (agent → Warden) or `upstream`. */
  readonly tlsHandshakeFailures: Counter<'side'>;
  /** `warden_upstream_errors_total{code}`, code = Warden's refusal code or the socket error code. */
  readonly upstreamErrors: Counter<'code'>;
  /** `warden_dlp_scan_seconds`: time spent scanning one request (on a worker: the scan alone). */
  readonly dlpScanSeconds: Histogram;
  /** `warden_dlp_findings_total{type,action}`. */
  readonly dlpFindings: Counter<'type' | 'action'>;
  /** `warden_leaf_certificates_minted_total`. */
  readonly leafCerts: Counter;
  /** `warden_leaf_certificates_queued`: cold leaves waiting for their turn to be minted. */
  readonly leafCertsQueued: Gauge;
  /** `warden_dlp_worker_jobs`: large bodies sent to inspection workers and not yet answered. */
  readonly dlpWorkerJobs: Gauge;
  /** `warden_dlp_worker_wait_seconds`: an offloaded body's time from send to answer, less its scan. */
  readonly dlpWorkerWaitSeconds: Histogram;
  /** `warden_audit_records_total{event}`. */
  readonly auditRecords: Counter<'event'>;
  /** `warden_config_reloads_total{result}`, result = `applied` or `rejected`. */
  readonly configReloads: Counter<'result'>;
}

/** Label values used by callers; kept here so dashboards and code agree. */
export type RequestKind = 'http' | 'mitm' | 'connect';
export type HandshakeSide = 'client' | 'upstream';

/** Scans of typical prompts take well under a millisecond; large uploads take tens of ms. */
const DLP_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Create a registry with Warden's metrics and Node's default process metrics
 * (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, heap, …).
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    decisions: new Counter({
      name: 'warden_decisions_total',
      help: 'Policy decisions, by reason code and decision (allow, redact, block, alert).',
      labelNames: ['reason', 'decision'] as const,
      registers,
    }),
    requests: new Counter({
      name: 'warden_requests_total',
      help: 'Requests received, by kind (http: absolute-form, mitm: inside inspected TLS, connect).',
      labelNames: ['kind'] as const,
      registers,
    }),
    activeConnections: new Gauge({
      name: 'warden_active_connections',
      help: 'Client connections currently open.',
      registers,
    }),
    activeTunnels: new Gauge({
      name: 'warden_active_tunnels',
      help: 'Passthrough (uninspected) tunnels currently open.',
      registers,
    }),
    tlsHandshakeFailures: new Counter({
      name: 'warden_tls_handshake_failures_total',
      help: 'Failed TLS handshakes, by side (client: agent to Warden, upstream: Warden to server).',
      labelNames: ['side'] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'warden_upstream_errors_total',
      help: 'Upstream connection and request failures, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    dlpScanSeconds: new Histogram({
      name: 'warden_dlp_scan_seconds',
      help: 'Time spent in the DLP scan of one request (for a body inspected on a worker thread, the scan alone).',
      buckets: DLP_SECONDS_BUCKETS,
      registers,
    }),
    dlpFindings: new Counter({
      name: 'warden_dlp_findings_total',
      help: 'DLP findings, by finding type and the action taken.',
      labelNames: ['type', 'action'] as const,
      registers,
    }),
    leafCerts: new Counter({
      name: 'warden_leaf_certificates_minted_total',
      help: 'Interception leaf certificates minted (cache misses).',
      registers,
    }),
    leafCertsQueued: new Gauge({
      name: 'warden_leaf_certificates_queued',
      help: 'New host names waiting for their interception leaf (minted one per event-loop turn).',
      registers,
    }),
    dlpWorkerJobs: new Gauge({
      name: 'warden_dlp_worker_jobs',
      help: 'Large request bodies being inspected on worker threads (sent, not yet answered).',
      registers,
    }),
    dlpWorkerWaitSeconds: new Histogram({
      name: 'warden_dlp_worker_wait_seconds',
      help: 'Time a body inspected on a worker thread spent besides its scan: queued behind other bodies, and the messages to and from the worker (an answer waits for a busy event loop).',
      buckets: DLP_SECONDS_BUCKETS,
      registers,
    }),
    auditRecords: new Counter({
      name: 'warden_audit_records_total',
      help: 'Audit records written, by event.',
      labelNames: ['event'] as const,
      registers,
    }),
    configReloads: new Counter({
      name: 'warden_config_reloads_total',
      help: 'Configuration reloads, by result (applied, rejected).',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
