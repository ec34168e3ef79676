import { describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createMetrics } from '../../../proxy/admin/metrics.js';

describe('createMetrics', () => {
  // [metric name, type line, how to touch it so a sample appears]
  const m = createMetrics();
  const cases: Array<[name: string, type: string, touch: () => void, sample: string]> = [
    ['warden_decisions_total', 'counter', () => m.decisions.inc({ reason: 'not_allowlisted', decision: 'block' }),
      'warden_decisions_total{reason="not_allowlisted",decision="block"} 1'],
    ['warden_requests_total', 'counter', () => m.requests.inc({ kind: 'mitm' }), 'warden_requests_total{kind="mitm"} 1'],
    ['warden_active_connections', 'gauge', () => m.activeConnections.inc(2), 'warden_active_connections 2'],
    ['warden_active_tunnels', 'gauge', () => m.activeTunnels.set(3), 'warden_active_tunnels 3'],
    ['warden_tls_handshake_failures_total', 'counter', () => m.tlsHandshakeFailures.inc({ side: 'client' }),
      'warden_tls_handshake_failures_total{side="client"} 1'],
    ['warden_upstream_errors_total', 'counter', () => m.upstreamErrors.inc({ code: 'upstream_timeout' }),
      'warden_upstream_errors_total{code="upstream_timeout"} 1'],
    ['warden_dlp_scan_seconds', 'histogram', () => m.dlpScanSeconds.observe(0.002), 'warden_dlp_scan_seconds_count 1'],
    ['warden_dlp_findings_total', 'counter', () => m.dlpFindings.inc({ type: 'credit_card', action: 'redact' }),
      'warden_dlp_findings_total{type="credit_card",action="redact"} 1'],
    ['warden_leaf_certificates_minted_total', 'counter', () => m.leafCerts.inc(), 'warden_leaf_certificates_minted_total 1'],
    ['warden_leaf_certificates_queued', 'gauge', () => m.leafCertsQueued.set(4), 'warden_leaf_certificates_queued 4'],
    ['warden_dlp_worker_jobs', 'gauge', () => m.dlpWorkerJobs.set(2), 'warden_dlp_worker_jobs 2'],
    ['warden_dlp_worker_wait_seconds', 'histogram', () => m.dlpWorkerWaitSeconds.observe(0.003), 'warden_dlp_worker_wait_seconds_count 1'],
    ['warden_audit_records_total', 'counter', () => m.auditRecords.inc({ event: 'request' }), 'warden_audit_records_total{event="request"} 1'],
    ['warden_config_reloads_total', 'counter', () => m.configReloads.inc({ result: 'applied' }), 'warden_config_reloads_total{result="applied"} 1'],
  ];
  for (const [name, type, touch, sample] of cases) {
    test(`${name} is exposed as a ${type}`, async () => {
      const before = await m.registry.metrics();
      assert.ok(before.includes(`# TYPE ${name} ${type}`), `${name} declared before any sample`);
      touch();
      const text = await m.registry.metrics();
      assert.ok(text.includes(sample), `expected "${sample}" in:\n${text.split('\n').filter((l) => l.startsWith(name)).join('\n')}`);
    });
  }

  test('default process metrics are collected into the same registry', async () => {
    const text = await m.registry.metrics();
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(text.includes(`# TYPE ${name} `), name);
    }
  });

  test('each call has its own registry (no global state, no duplicate-name errors)', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.leafCerts.inc(5);
    assert.notEqual(a.registry, b.registry);
    assert.ok((await a.registry.metrics()).includes('warden_leaf_certificates_minted_total 5'));
    assert.ok((await b.registry.metrics()).includes('warden_leaf_certificates_minted_total 0'));
  });

  test('content type is the Prometheus text format', () => {
    assert.match(m.registry.contentType, /^text\/plain; version=0\.0\.4/);
  });
});
