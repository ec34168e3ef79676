/** Issue 2.13: the admin port — health, readiness, Prometheus metrics and live limiter usage. */
import { strict as assert } from 'node:assert';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startAdmin } from '../../proxy/admin/server.js';
import { rawConnect, startWarden, type Harness } from './harness.js';

describe('admin port', () => {
  let h: Harness;
  let admin: { server: Server; address: { port: number } };
  let base: string;
  before(async () => {
    h = await startWarden({ yaml: 'listen: "127.0.0.1:0"\nca_dir: "{{DIR}}/ca"\nprofiles:\n  default:\n    allow: [api.openai.com]\n    limits: { requests: "100 per 1m", upload: "1MiB per 1m" }\naudit: { file: null }\n' });
    admin = await startAdmin('127.0.0.1', 0, h.metrics, h.proxy);
    base = `http://127.0.0.1:${admin.address.port}`;
  });
  after(async () => {
    admin.server.close();
    await h.close();
  });

  test('healthz and readyz', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await request(base + path);
      assert.equal(r.statusCode, 200);
      await r.body.dump();
    }
  });

  test('metrics expose decisions by reason, connections, handshakes and upstream errors', async () => {
    await rawConnect(h.port, 'denied.example.com:443');
    const r = await request(`${base}/metrics`);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /text\/plain/);
    const text = await r.body.text();
    assert.match(text, /^warden_decisions_total\{reason="not_allowlisted",decision="block"\} 1$/m);
    for (const name of ['warden_active_connections', 'warden_tls_handshake_failures_total', 'warden_upstream_errors_total', 'warden_requests_total', 'process_cpu_seconds_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
    }
  });

  test('limits shows the configured budgets and live usage', async () => {
    const r = await request(`${base}/limits?ip=127.0.0.1`);
    const j = (await r.body.json()) as { profile: string; usage: { requests: { limit: number }; upload: { limitBytes: number } } };
    assert.equal(j.profile, 'default');
    assert.equal(j.usage.requests.limit, 100);
    assert.equal(j.usage.upload.limitBytes, 1024 * 1024);
  });

  test('anything but GET is refused', async () => {
    const r = await request(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(r.statusCode, 405);
    await r.body.dump();
  });
});
