/**
 * `warden explain` takes the proxy's decision without sending anything: these are the checks it
 * used to skip, and so answered allow (exit 0) where the proxy refuses: a Host header naming
 * another host, a connect_to target that the address guard refuses, and live limits read from
 * the admin port that the request would cross.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileConfigText } from '../../proxy/config/load.js';
import type { CompiledConfig } from '../../proxy/config/types.js';
import { explainCommand } from '../../proxy/explain.js';
import type { LimitUsage } from '../../proxy/limits/limiter.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-explain-'));
const cfg = compileConfigText(`
ca_dir: ${dir}/ca
upstream:
  allow_private: ["127.0.0.0/8"]
  connect_to:
    "api.test.local:443": "127.0.0.1:9"
    "intranet.test.local:443": "10.20.30.40:443"
profiles:
  default:
    allow: [api.test.local, intranet.test.local, public.example.com]
    limits: { upload: "1KiB per 1m", requests: "5 per 1m" }
audit:
  file: null
`, join(dir, 'warden.yaml'));

// The admin port's /limits answer, as proxy/admin/server.ts writes it.
let live: { usage: LimitUsage; quarantined: unknown } = { usage: { requests: null, upload: null }, quarantined: null };
let admin: Server;
let adminUrl = '';
before(async () => {
  admin = createServer((_req, res) => res.end(JSON.stringify({ agent: null, profile: 'default', ...live })));
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));
  adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
});
after(() => {
  admin.close();
  rmSync(dir, { recursive: true, force: true });
});

async function explain(args: string[]): Promise<{ code: number; out: { decision: string; reason: string; address_guard?: string } }> {
  let text = '';
  const code = await explainCommand(['--admin', adminUrl, ...args], {
    out: (s) => void (text += s),
    err: (s) => void (text += s),
    readConfig: (): CompiledConfig => cfg,
  });
  return { code, out: JSON.parse(text) as { decision: string; reason: string } };
}

test('explain: a Host header naming another host is host_mismatch, as inside the tunnel', async () => {
  const ok = await explain(['GET', 'https://api.test.local/v1/models', '--header', 'Host: api.test.local']);
  assert.deepEqual([ok.code, ok.out.decision], [0, 'allow']);
  const bad = await explain(['GET', 'https://api.test.local/v1/models', '--header', 'Host: evil.example']);
  assert.deepEqual([bad.code, bad.out.decision, bad.out.reason], [1, 'block', 'host_mismatch']);
  const port = await explain(['GET', 'https://api.test.local/v1/models', '--header', 'Host: api.test.local:8443']);
  assert.equal(port.out.reason, 'host_mismatch');
});

test('explain: the address guard applies to connect_to targets (no DNS lookup is made)', async () => {
  const mapped = await explain(['GET', 'https://api.test.local/v1/models']);
  assert.equal(mapped.out.decision, 'allow');
  assert.match(mapped.out.address_guard ?? '', /connect_to 127\.0\.0\.1:9/);
  const priv = await explain(['GET', 'https://intranet.test.local/']);
  assert.deepEqual([priv.code, priv.out.decision, priv.out.reason], [1, 'block', 'private_address']);
  const name = await explain(['GET', 'https://public.example.com/']);
  assert.equal(name.out.decision, 'allow');
  assert.match(name.out.address_guard ?? '', /at connect time/);
});

test('explain: live limits from the admin port decide as the proxy would', async () => {
  live = { usage: { requests: { used: 1, limit: 5, windowMs: 60_000 }, upload: { usedBytes: 1000, limitBytes: 1024, windowMs: 60_000 } }, quarantined: null };
  const small = await explain(['GET', 'https://api.test.local/v1/models']);
  assert.deepEqual([small.code, small.out.decision], [0, 'allow']);
  const bodyFile = join(dir, 'body.txt');
  writeFileSync(bodyFile, 'x'.repeat(100));
  const over = await explain(['POST', 'https://api.test.local/v1/upload', '--body', bodyFile]);
  assert.deepEqual([over.code, over.out.reason], [1, 'upload_budget']);
  live = { usage: { requests: { used: 5, limit: 5, windowMs: 60_000 }, upload: null }, quarantined: null };
  assert.equal((await explain(['GET', 'https://api.test.local/v1/models'])).out.reason, 'rate_limited');
  live = { usage: { requests: null, upload: null }, quarantined: { until: new Date().toISOString(), rule: 'r' } };
  assert.equal((await explain(['GET', 'https://api.test.local/v1/models'])).out.reason, 'quarantined');
});
