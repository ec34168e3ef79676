/**
 * Issue 4 through the running proxy: identity (407, per-agent profiles), body caps (declared
 * and chunked; upstream receives nothing), request rate (429 + Retry-After), upload budget on
 * a passthrough tunnel, and a quarantine that starts and expires — each checked in the audit.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import { createTestPki, type TestPki } from '../fixtures/pki.js';
import { baseYaml, header, rawConnect, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('identity and limits', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  let pki: TestPki;
  let clock = 1_000_000;
  before(async () => {
    pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-lim-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    const profiles = `  default:
    allow: [api.test.local]
    limits: { max_body: 1KiB, requests: "3 per 1m" }
  builder:
    allow:
      - builder.test.local
      - { host: tunnel.test.local, inspect: false }
    limits: { max_body: 1KiB, upload: "64KiB per 1m" }
    dlp: { actions: { default: block } }
`;
    const extra = `auth: optional
agents:
  - { id: alice, token_sha256: "${sha('alice-token')}", profile: default }
  - { id: bob, token_sha256: "${sha('bob-token')}", profile: builder }
alerts:
  - { name: repeated_dlp_blocks, when: dlp_blocks, at_least: 2, within: 1m, severity: critical, action: block 30s }
`;
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), profiles).replace('auth: optional\n', '') + extra, now: () => clock });
  });
  after(async () => {
    const text = h.audit.text();
    assert.ok(!text.includes('alice-token') && !text.includes('bob-token'), 'tokens never reach the audit');
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a wrong token gets 407 with Proxy-Authenticate and an audit record', async () => {
    const r = await rawConnect(h.port, 'api.test.local:443', `Proxy-Authorization: Basic ${Buffer.from('alice:wrong').toString('base64')}\r\n`);
    assert.equal(r.status, 407);
    assert.match(header(r.head, 'proxy-authenticate') ?? '', /^Basic/);
    assert.equal(header(r.head, 'x-warden-reason'), 'auth_required');
    assert.ok(h.audit.find((x) => x.event === 'connect' && x.reason === 'auth_required'));
  });

  test('two agents with different profiles see different allowlists', async () => {
    const asBob = await rawConnect(h.port, 'builder.test.local:443', `Proxy-Authorization: Basic ${Buffer.from('bob:bob-token').toString('base64')}\r\n`);
    assert.equal(asBob.status, 200);
    const asAlice = await rawConnect(h.port, 'builder.test.local:443', `Proxy-Authorization: Basic ${Buffer.from('alice:alice-token').toString('base64')}\r\n`);
    assert.equal(asAlice.status, 403);
    const rec = h.audit.find((x) => x.event === 'connect' && x.agent === 'bob' && x.host === 'builder.test.local');
    assert.equal(rec?.profile, 'builder');
  });

  test('a declared Content-Length over max_body is a 413 and the upstream receives nothing', async () => {
    const res = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: 'x'.repeat(2048), headers: { 'x-request-id': 'lim-413a' } });
    assert.equal(res.statusCode, 413);
    assert.equal(res.headers['x-warden-reason'], 'body_too_large');
    await res.body.dump();
    assert.equal(up.seen.find((s) => s.headers['x-request-id'] === 'lim-413a'), undefined);
    // The audit `rule` names the config key that refused: the limit, not the allow entry.
    assert.equal(h.audit.find((x) => x.id === 'lim-413a' && x.event === 'request')?.rule, 'profiles.default.limits.max_body');
  });

  test('a chunked body crossing max_body is a 413 and the upstream receives nothing', async () => {
    const body = Readable.from((async function* () {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 97);
    })());
    const agent = new ProxyAgent({ uri: h.url, requestTls: { ca: [h.wardenCa] }, keepAliveTimeout: 100, token: `Basic ${Buffer.from('bob:bob-token').toString('base64')}` });
    try {
      const res = await request('https://builder.test.local/echo', { dispatcher: agent, method: 'POST', body, headers: { 'x-request-id': 'lim-413b' } }).catch((e: Error) => e);
      if (!(res instanceof Error)) {
        assert.equal(res.statusCode, 413);
        await res.body.dump();
      }
    } finally {
      await agent.close();
    }
    assert.equal(up.seen.find((s) => s.headers['x-request-id'] === 'lim-413b'), undefined);
    assert.equal(h.audit.find((x) => x.id === 'lim-413b' && x.reason === 'body_too_large')?.rule, 'profiles.builder.limits.max_body');
  });

  test('past the request cap: 429 with Retry-After', async () => {
    const agent = new ProxyAgent({ uri: h.url, requestTls: { ca: [h.wardenCa] }, keepAliveTimeout: 100, token: `Basic ${Buffer.from('alice:alice-token').toString('base64')}` });
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    try {
      for (let i = 0; i < 4; i++) {
        const res = await request('https://api.test.local/1k', { dispatcher: agent });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) retryAfter = res.headers['retry-after'] as string;
        await res.body.dump();
      }
    } finally {
      await agent.close();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.ok(Number(retryAfter) >= 1);
    assert.equal(h.audit.find((x) => x.agent === 'alice' && x.reason === 'rate_limited')?.rule, 'profiles.default.limits.requests');
  });

  test('a passthrough tunnel that crosses the upload budget is closed', async () => {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`CONNECT tunnel.test.local:443 HTTP/1.1\r\nHost: tunnel.test.local:443\r\nProxy-Authorization: Basic ${Buffer.from('bob:bob-token').toString('base64')}\r\n\r\n`);
    await new Promise<void>((r) => sock.once('data', () => r()));
    const tls = tlsConnect({ socket: sock, servername: 'tunnel.test.local', ca: pki.caPem });
    await new Promise<void>((r, j) => {
      tls.once('secureConnect', () => r());
      tls.once('error', j);
    });
    tls.on('error', () => undefined);
    tls.write('POST /echo HTTP/1.1\r\nHost: tunnel.test.local\r\nContent-Length: 204800\r\n\r\n');
    const closed = new Promise<void>((r) => tls.once('close', () => r()));
    for (let i = 0; i < 50 && !tls.destroyed; i++) {
      tls.write(Buffer.alloc(4096, 98));
      await new Promise((r) => setTimeout(r, 5));
    }
    await closed;
    const rec = h.audit.find((x) => x.event === 'tunnel_close' && x.agent === 'bob' && x.reason === 'upload_budget');
    assert.ok(rec, 'tunnel_close with upload_budget');
    assert.equal(rec.rule, 'profiles.builder.limits.upload');
    assert.ok((rec.bytes_up ?? 0) > 64 * 1024 && (rec.bytes_up ?? 0) < 200 * 1024);
    // New requests of that agent are refused with 429 + Retry-After while the window lasts
    // (intercepted tunnels are admitted; each request inside is checked).
    const agent = new ProxyAgent({ uri: h.url, requestTls: { ca: [h.wardenCa] }, keepAliveTimeout: 100, token: `Basic ${Buffer.from('bob:bob-token').toString('base64')}` });
    try {
      const res = await request('https://builder.test.local/1k', { dispatcher: agent });
      assert.equal(res.statusCode, 429);
      assert.equal(res.headers['x-warden-reason'], 'upload_budget');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      await res.body.dump();
      assert.equal(h.audit.find((x) => x.event === 'request' && x.agent === 'bob' && x.reason === 'upload_budget')?.rule, 'profiles.builder.limits.upload');
    } finally {
      await agent.close();
    }
  });

  test('refused requests count against the request rate: past it, rate_limited and the connection closes', async () => {
    // Red team, session 14: refusals came before the rate check, so an agent could pipeline
    // denied requests without end, each an audit record.
    clock += 120_000;
    const before = h.audit.records.length;
    const alice = new ProxyAgent({ uri: h.url, proxyTunnel: false, keepAliveTimeout: 100, token: `Basic ${Buffer.from('alice:alice-token').toString('base64')}` });
    try {
      const statuses: Array<[number, string | undefined, string | undefined]> = [];
      for (let i = 0; i < 5; i++) {
        const res = await request('http://nowhere.test.local/x', { dispatcher: alice });
        statuses.push([res.statusCode, res.headers['x-warden-reason'] as string | undefined, res.headers['connection'] as string | undefined]);
        await res.body.dump();
      }
      assert.deepEqual(statuses.slice(0, 3).map((x) => x.slice(0, 2)), [[403, 'not_allowlisted'], [403, 'not_allowlisted'], [403, 'not_allowlisted']]);
      assert.deepEqual(statuses.slice(3).map((x) => x.slice(0, 2)), [[429, 'rate_limited'], [429, 'rate_limited']]);
      assert.equal(statuses[3]?.[2], 'close');
      assert.equal(h.audit.records.slice(before).filter((x) => x.event === 'request' && x.agent === 'alice' && x.reason === 'rate_limited' && x.rule === 'profiles.default.limits.requests').length, 2);
    } finally {
      await alice.close();
    }
  });

  test('a quarantine starts when the rule fires and expires with the clock', async () => {
    clock += 120_000; // a fresh window for every limit
    const agent = new ProxyAgent({ uri: h.url, requestTls: { ca: [h.wardenCa] }, keepAliveTimeout: 100, token: `Basic ${Buffer.from('bob:bob-token').toString('base64')}` });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await request('https://builder.test.local/echo', { dispatcher: agent, method: 'POST', body: 'my ssn is 536-22-8143', headers: { 'content-type': 'text/plain' } });
        assert.equal(res.statusCode, 403);
        await res.body.dump();
      }
      const alert = h.audit.find((x) => x.event === 'alert' && x.reason === 'repeated_dlp_blocks' && x.agent === 'bob');
      assert.ok(alert, 'alert raised');
      assert.equal(alert.severity, 'critical');
      // A quarantined agent is refused already at CONNECT, before any TLS.
      const bobAuth = `Proxy-Authorization: Basic ${Buffer.from('bob:bob-token').toString('base64')}\r\n`;
      const q = await rawConnect(h.port, 'builder.test.local:443', bobAuth);
      assert.equal(q.status, 403);
      assert.equal(header(q.head, 'x-warden-reason'), 'quarantined');
      assert.equal(h.audit.find((x) => x.event === 'connect' && x.agent === 'bob' && x.reason === 'quarantined')?.rule, 'alerts.repeated_dlp_blocks');
      // Without its credentials (`auth: optional`), the same client is anonymous, keyed by its
      // address: quarantined there too (red team, session 14: dropping Proxy-Authorization lifted it).
      const anonymous = await rawConnect(h.port, 'api.test.local:443', '');
      assert.equal(anonymous.status, 403);
      assert.equal(header(anonymous.head, 'x-warden-reason'), 'quarantined');
      clock += 31_000;
      assert.equal((await rawConnect(h.port, 'builder.test.local:443', bobAuth)).status, 200);
      assert.equal((await rawConnect(h.port, 'api.test.local:443', '')).status, 200);
      const fresh = new ProxyAgent({ uri: h.url, requestTls: { ca: [h.wardenCa] }, keepAliveTimeout: 100, token: `Basic ${Buffer.from('bob:bob-token').toString('base64')}` });
      const later = await request('https://builder.test.local/1k', { dispatcher: fresh });
      assert.equal(later.statusCode, 200);
      await later.body.dump();
      await fresh.close();
    } finally {
      await agent.close();
    }
  });
});

describe('global inspection buffer', () => {
  test('when in-flight inspection would exceed server.max_inspect_buffer: 503 with Retry-After', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'warden-buf-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const up = await startUpstream(pki);
    const h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') + 'server: { max_inspect_buffer: 4KiB }\n' });
    try {
      const res = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: Buffer.alloc(16 * 1024, 120), headers: { 'content-type': 'text/plain' } });
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['x-warden-reason'], 'overloaded');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      await res.body.dump();
      assert.equal(h.proxy.inspectBudget.inUse, 0, 'reservations released');
      const small = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: 'ok', headers: { 'content-type': 'text/plain' } });
      assert.equal(small.statusCode, 200);
      await small.body.dump();
    } finally {
      await h.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bodies streamed past the inspection cap', () => {
  test('count against the upload budget like inspected ones (uninspectable: allow)', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'warden-stream-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const up = await startUpstream(pki);
    const h = await startWarden({
      yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n    limits: { upload: "4KiB per 1m" }\n    dlp: { max_inspect: 1KiB, uninspectable: allow }\n'),
    });
    const post = async (id: string) => {
      const res = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: Buffer.alloc(3 * 1024, 120), headers: { 'content-type': 'text/plain', 'x-request-id': id } });
      await res.body.dump();
      return res;
    };
    try {
      const first = await post('stream-1');
      assert.equal(first.statusCode, 200);
      assert.equal(up.seen.find((s) => s.headers['x-request-id'] === 'stream-1')?.body.length, 3 * 1024, 'streamed whole');
      const headBytes = (h.audit.find((r) => r.id === 'stream-1' && r.event === 'request')?.bytes_up ?? 0) - 3 * 1024;
      assert.ok(headBytes > 50 && headBytes < 1024, `the streamed body and the request head (${headBytes})`);
      await post('stream-2'); // crosses the 4 KiB budget part-way: aborted
      assert.notEqual(up.seen.find((s) => s.headers['x-request-id'] === 'stream-2')?.body.length, 3 * 1024, 'never a complete body past the budget');
      const aborted = h.audit.find((r) => r.id === 'stream-2' && r.event === 'request');
      assert.equal(aborted?.reason, 'upload_budget');
      assert.equal(aborted?.rule, 'profiles.default.limits.upload');
      const third = await post('stream-3');
      assert.equal(third.statusCode, 429);
      assert.equal(third.headers['x-warden-reason'], 'upload_budget');
    } finally {
      await h.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
