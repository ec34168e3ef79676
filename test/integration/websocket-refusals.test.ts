/**
 * WebSocket handshakes refused before anything is dialled, as plain requests are (red team,
 * session 14, HTTP leftovers): by the agent's upload budget (spent before the handshake, or
 * crossed by the handshake's own head), and by an override header (X-Original-URL,
 * X-Rewrite-URL, X-HTTP-Method-Override…) naming a path or method the allow entry does not allow.
 * Each refusal has the status, X-Warden-Reason and JSON body of the README's Refusals table, and
 * exactly one audit record; the upstream sees no handshake.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, header, openTunnel, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const basic = (user: string): string => `Basic ${Buffer.from(`${user}:${user}-token`).toString('base64')}`;

describe('WebSocket handshakes refused like requests', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-wsref-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    const profiles = `  default:
    allow:
      - { host: api.test.local, methods: [GET], paths: ["/ws", "/ws/*"] }
  budget:
    allow: [api.test.local]
    limits: { upload: "2KiB per 1m" }
`;
    const agents = `agents:
  - { id: spender, token_sha256: "${sha('spender-token')}", profile: budget }
  - { id: big, token_sha256: "${sha('big-token')}", profile: budget }
`;
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), profiles) + agents });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A WebSocket handshake written by hand through a TLS tunnel (the proxy's answer to a refusal
   * is read until it closes the connection; a 101 is read up to the end of its head).
   */
  const handshake = async (o: { id: string; path?: string; auth?: string; headers?: Record<string, string> }): Promise<{ status: number; head: string; body: string }> => {
    const tcp = await openTunnel(h.port, 'api.test.local:443', o.auth ? `Proxy-Authorization: ${basic(o.auth)}\r\n` : '');
    const t = tlsConnect({ socket: tcp, servername: 'api.test.local', ca: h.wardenCa });
    t.on('error', () => undefined);
    await new Promise<void>((resolve) => t.once('secureConnect', () => resolve()));
    const extra = Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    t.write(`GET ${o.path ?? '/ws'} HTTP/1.1\r\nHost: api.test.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nX-Request-Id: ${o.id}\r\n${extra}\r\n`);
    const text = await new Promise<string>((resolve) => {
      let got = '';
      const done = (): void => {
        clearTimeout(timer);
        t.destroy();
        resolve(got);
      };
      const timer = setTimeout(done, 3000);
      t.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.startsWith('HTTP/1.1 101') && got.includes('\r\n\r\n')) done();
      });
      t.once('close', done);
    });
    const [head = '', body = ''] = text.split('\r\n\r\n', 2);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body };
  };

  /** The refusal as the README's Refusals section gives it, with one audit record and no handshake upstream. */
  const assertRefused = (r: { status: number; head: string; body: string }, id: string, code: string, status: number): void => {
    assert.equal(r.status, status, `status for ${id}`);
    assert.equal(header(r.head, 'x-warden-reason'), code);
    const body = JSON.parse(r.body) as { error: { type: string; code: string; request_id: string; message: string } };
    assert.equal(body.error.type, 'egress_blocked');
    assert.equal(body.error.code, code);
    assert.equal(body.error.request_id, id);
    const recs = h.audit.byId(id);
    assert.equal(recs.length, 1, `exactly one audit record for ${id}: ${JSON.stringify(recs.map((x) => [x.event, x.reason]))}`);
    assert.equal(recs[0]!.event, 'request');
    assert.equal(recs[0]!.decision, 'block');
    assert.equal(recs[0]!.reason, code);
    assert.equal(up.seen.find((s) => s.headers['x-request-id'] === id), undefined, 'the upstream saw no handshake');
  };

  const OVERRIDES: Array<[name: string, headers: Record<string, string>, refusedAs: string | null]> = [
    ['no override header (control)', {}, null],
    ['X-Original-URL naming an allowed path', { 'X-Original-URL': '/ws/chat' }, null],
    ['X-Original-URL naming another path', { 'X-Original-URL': '/admin' }, 'x-original-url'],
    ['X-Rewrite-URL naming another path', { 'X-Rewrite-URL': '/admin/ws' }, 'x-rewrite-url'],
    ['X-Original-URL as an absolute URL', { 'X-Original-URL': 'https://api.test.local/admin' }, 'x-original-url'],
    ['X-Original-URL with dot segments', { 'X-Original-URL': '/ws/../admin' }, 'x-original-url'],
    ['X-HTTP-Method-Override naming a method the entry does not allow', { 'X-HTTP-Method-Override': 'DELETE' }, 'x-http-method-override'],
  ];
  for (const [name, headers, refusedAs] of OVERRIDES) {
    test(`override headers on a handshake: ${name}`, async () => {
      const id = `ws-ov-${name.replace(/[^a-z]+/gi, '-').toLowerCase()}`;
      const r = await handshake({ id, headers });
      if (refusedAs === null) {
        assert.equal(r.status, 101, 'the handshake goes through');
        return;
      }
      assertRefused(r, id, 'request_not_allowed', 403);
      const detail = h.audit.byId(id)[0]!.detail as { error?: string } | undefined;
      assert.equal(detail?.error, `${refusedAs} names a method or path this destination does not allow`);
    });
  }

  test('a handshake after the upload budget is spent: 429 upload_budget with Retry-After, one audit record', async () => {
    // 3 KiB of body through the same agent spends its 2 KiB budget.
    const res = await request('https://api.test.local/echo', { dispatcher: h.agent({ auth: 'spender:spender-token' }), method: 'POST', body: 'z'.repeat(3072) });
    await res.body.dump();
    const r = await handshake({ id: 'ws-budget-spent', auth: 'spender' });
    assertRefused(r, 'ws-budget-spent', 'upload_budget', 429);
    assert.ok(Number(header(r.head, 'retry-after')) >= 1, 'Retry-After');
    assert.equal(h.audit.byId('ws-budget-spent')[0]!.rule, 'profiles.budget.limits.upload');
  });

  test('a handshake whose own head crosses the upload budget: 429 upload_budget, one audit record', async () => {
    const r = await handshake({ id: 'ws-budget-head', auth: 'big', headers: { 'X-Padding': 'p'.repeat(2500) } });
    assertRefused(r, 'ws-budget-head', 'upload_budget', 429);
    assert.ok(Number(header(r.head, 'retry-after')) >= 1, 'Retry-After');
    assert.equal(h.audit.byId('ws-budget-head')[0]!.rule, 'profiles.budget.limits.upload');
  });
});
