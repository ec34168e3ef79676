/**
 * Red team (HTTP, TLS and proxy mechanics), findings 5, 7, 8 and 9, over real sockets:
 *
 * - 5: UTF-8 in a request header value (full-width or Arabic-Indic digits, a honeytoken split
 *   by U+200B) was scanned as Node's latin1 string, never normalised, and passed;
 * - 7: a passthrough entry for an IP address skipped the SNI check (domain fronting);
 * - 8: the request head (request line and headers) was not counted in bytes_up, the upload
 *   budget or the upload alerts;
 * - 9: inside a tunnel, and on the plain listener, the Host header went upstream as the agent
 *   spelled it (case, trailing dot, `:00443`, soft hyphens IDNA drops): a covert channel.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, header, rawExchange, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

const CANARY = 'CANARYtok3nXYZ987';
const SSN = '536-22-8143';

async function waitFor<T>(fn: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * CONNECT to `authority`, TLS with Warden's CA (SNI `servername`), send `raw` as is, and collect
 * what comes back until the server closes or `timeoutMs` passes.
 */
async function mitmExchange(h: Harness, authority: string, servername: string, raw: Buffer, timeoutMs = 2000): Promise<string> {
  const sock = netConnect(h.port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const answer = await new Promise<string>((r) => sock.once('data', (c: Buffer) => r(c.toString('latin1'))));
  assert.match(answer, /^HTTP\/1\.1 200/, `CONNECT ${authority}`);
  const t = tlsConnect({ socket: sock, servername, ca: h.wardenCa });
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', () => resolve());
    t.once('error', reject);
  });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      t.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, timeoutMs);
    t.on('data', (c: Buffer) => chunks.push(c));
    t.on('close', done);
    t.on('error', done);
    t.write(raw);
  });
}

/** A request head whose header values are given as text and sent as their UTF-8 bytes. */
function head(lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
}

describe('red team (HTTP): headers as UTF-8, Host as checked, SNI on IP tunnels, head bytes counted', () => {
  let up: Upstream;
  let plain: Upstream;
  let h: Harness;
  let dir: string;
  const pki = createTestPki();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-rt-http-'));
    const caFile = join(dir, 'upstream-ca.pem');
    writeFileSync(caFile, pki.caPem);
    up = await startUpstream(pki);
    plain = await startUpstream(null);
    const profile = `  default:
    allow:
      - api.test.local
      - { host: plain.test.local, ports: [80] }
      - { host: 127.0.0.1, ports: [${up.port}], inspect: false }
`;
    const extra = `honeytokens:\n  - { id: canary-1, value: "${CANARY}" }\n`;
    h = await startWarden({
      yaml: baseYaml(up.port, caFile, profile, extra).replace('    "*.test.local:80"', `    "plain.test.local:80": "127.0.0.1:${plain.port}"\n    "*.test.local:80"`),
    });
  });
  after(async () => {
    const text = h.audit.text();
    for (const v of [CANARY, SSN, '５３６', '٥٣٦', 'ＣＡＮＡＲＹ']) assert.ok(!text.includes(v), 'no planted value reaches the audit');
    await h.close();
    await Promise.all([up.close(), plain.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  // ─── finding 5 ─────────────────────────────────────────────────────────────────────────────

  const utf8Cases: Array<[name: string, header: string, reason: string]> = [
    ['a full-width SSN', 'X-Note: ssn ５３６-２２-８１４３', 'dlp'],
    ['an SSN in Arabic-Indic digits', 'X-Note: ssn ٥٣٦-٢٢-٨١٤٣', 'dlp'],
    ['a full-width honeytoken', 'X-Note: ＣＡＮＡＲＹｔｏｋ３ｎＸＹＺ９８７', 'honeytoken'],
    ['a honeytoken split by U+200B', `X-Note: CANARY\u200Btok3nXYZ987`, 'honeytoken'],
    ['a honeytoken split by U+200B in the agent\'s own Authorization', `Authorization: Bearer CANARY\u200Btok3nXYZ987`, 'honeytoken'],
  ];
  utf8Cases.forEach(([name, line, reason], i) => {
    test(`finding 5: ${name} in a header, sent as UTF-8, is refused (${reason})`, async () => {
      const id = `rt5-${i}`;
      const out = await mitmExchange(h, 'api.test.local:443', 'api.test.local',
        head(['GET /echo HTTP/1.1', 'Host: api.test.local', `X-Request-Id: ${id}`, line, 'Connection: close']));
      assert.match(out, /^HTTP\/1\.1 403/);
      assert.equal(header(out, 'x-warden-reason'), reason);
      assert.ok(!up.seen.some((s) => s.headers['x-request-id'] === id), 'never forwarded');
      const rec = h.audit.byId(id).find((r) => r.event === 'request');
      assert.equal(rec?.decision, 'block');
      assert.equal(rec?.reason, reason);
      assert.ok(rec?.findings?.every((f) => f.where.startsWith('header:')), 'found in the header');
      if (reason === 'honeytoken') assert.ok(h.audit.byId(id).some((r) => r.event === 'alert' && r.severity === 'critical'), 'critical alert');
    });
  });

  test('finding 5: clean UTF-8 in a header still goes through, as sent', async () => {
    const out = await mitmExchange(h, 'api.test.local:443', 'api.test.local',
      head(['GET /echo HTTP/1.1', 'Host: api.test.local', 'X-Request-Id: rt5-clean', 'X-Note: naïve résumé, 東京', 'Connection: close']));
    assert.match(out, /^HTTP\/1\.1 200/);
    const seen = up.seen.find((s) => s.headers['x-request-id'] === 'rt5-clean');
    assert.equal(Buffer.from(String(seen?.headers['x-note']), 'latin1').toString('utf8'), 'naïve résumé, 東京');
  });

  // ─── finding 9 ─────────────────────────────────────────────────────────────────────────────

  const hostCases: Array<[name: string, host: string]> = [
    ['upper case and a trailing dot', 'API.Test.Local.'],
    ['the default port with leading zeros', 'api.test.local:00443'],
    ['soft hyphens that IDNA mapping drops', 'api.te\u00ADst.lo\u00AD\u00ADcal'],
  ];
  hostCases.forEach(([name, host], i) => {
    test(`finding 9: inside a tunnel, Host written with ${name} goes upstream as the checked authority`, async () => {
      const id = `rt9-${i}`;
      // Host as latin1 bytes: U+00AD is the one byte 0xAD, as the red team sent it.
      const out = await mitmExchange(h, 'api.test.local:443', 'api.test.local',
        Buffer.from(`GET /echo HTTP/1.1\r\nHost: ${host}\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`, 'latin1'));
      assert.match(out, /^HTTP\/1\.1 200/);
      const seen = up.seen.find((s) => s.headers['x-request-id'] === id);
      assert.equal(seen?.headers.host, 'api.test.local');
      const rec = h.audit.byId(id).find((r) => r.event === 'request');
      assert.equal(rec?.url, 'https://api.test.local/echo');
      assert.equal(rec?.host, 'api.test.local');
    });
  });

  test('finding 9: a WebSocket handshake inside a tunnel sends the checked authority as Host', async () => {
    await mitmExchange(h, 'api.test.local:443', 'api.test.local', Buffer.from(
      'GET /ws HTTP/1.1\r\nHost: API.TEST.LOCAL.:443\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: rt9-ws\r\n\r\n', 'latin1'), 500);
    const seen = await waitFor(() => up.seen.find((s) => s.url === '/ws' && s.headers['x-request-id'] === 'rt9-ws'));
    assert.equal(seen.headers.host, 'api.test.local');
  });

  test('finding 9: on the plain listener, the absolute-form authority goes upstream as the checked one', async () => {
    const out = await rawExchange(h.port, 'GET http://PLAIN.Test.Local.:80/echo HTTP/1.1\r\nHost: PLAIN.Test.Local.\r\nX-Request-Id: rt9-plain\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200/);
    const seen = plain.seen.find((s) => s.headers['x-request-id'] === 'rt9-plain');
    assert.equal(seen?.headers.host, 'plain.test.local');
    assert.equal(h.audit.byId('rt9-plain').find((r) => r.event === 'request')?.url, 'http://plain.test.local/echo');
  });

  // ─── finding 7 ─────────────────────────────────────────────────────────────────────────────

  /** CONNECT to the upstream's address (a passthrough entry), then TLS with `servername` (none when undefined). */
  async function ipTunnel(id: string, servername: string | undefined): Promise<string> {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nX-Request-Id: ${id}\r\n\r\n`);
    await new Promise<void>((r) => sock.once('data', () => r()));
    return new Promise<string>((resolve) => {
      // An IP literal as `host` and no servername: Node sends no SNI, as RFC 6066 requires.
      const t = tlsConnect({ socket: sock, host: '127.0.0.1', ...(servername ? { servername } : {}), ca: pki.caPem, checkServerIdentity: () => undefined });
      t.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      t.on('secureConnect', () => {
        t.end();
        resolve('handshake completed');
      });
    });
  }

  test('finding 7: a passthrough CONNECT to an IP address with an SNI naming a host is refused (sni_mismatch)', async () => {
    const before = up.seen.length;
    const result = await ipTunnel('rt7-fronted', 'evil.test.local');
    assert.notEqual(result, 'handshake completed');
    const rec = await waitFor(() => h.audit.byId('rt7-fronted').find((r) => r.event === 'tunnel_close'));
    assert.equal(rec.decision, 'block');
    assert.equal(rec.reason, 'sni_mismatch');
    assert.equal(rec.bytes_up, 0, 'nothing reached the upstream');
    assert.equal(up.seen.length, before);
  });

  test('finding 7: a passthrough CONNECT to an IP address without SNI is spliced', async () => {
    assert.equal(await ipTunnel('rt7-plain', undefined), 'handshake completed');
    const rec = await waitFor(() => h.audit.byId('rt7-plain').find((r) => r.event === 'tunnel_close'));
    assert.equal(rec.decision, 'allow');
    assert.equal(rec.reason, 'allowlisted');
  });

  // ─── finding 8 ─────────────────────────────────────────────────────────────────────────────

  test('finding 8: bytes_up is the request head as forwarded plus the body', async () => {
    const res = await request('https://api.test.local/echo?q=1', {
      dispatcher: h.agent(), method: 'POST', body: '{"hello":"world"}',
      headers: { 'content-type': 'application/json', 'x-request-id': 'rt8-count', 'x-big': 'y'.repeat(2000) },
    });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = up.seen.find((s) => s.headers['x-request-id'] === 'rt8-count')!;
    // What the upstream received, less the `connection` header undici adds to every request.
    let expected = `${seen.method} ${seen.url} HTTP/1.1\r\n`.length + 2 + seen.body.length;
    for (const [k, v] of Object.entries(seen.headers)) if (k !== 'connection') expected += `${k}: ${String(v)}\r\n`.length;
    assert.equal(h.audit.byId('rt8-count').find((r) => r.event === 'request')?.bytes_up, expected);
  });
});

describe('red team (HTTP), finding 8: request heads count against the upload budget', () => {
  test('GETs with large headers and no body exhaust the budget and are refused with upload_budget', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'warden-rt8-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const up = await startUpstream(pki);
    const h = await startWarden({
      yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n    limits: { upload: "8KiB per 1m" }\n',
        'alerts:\n  - { name: bulk_upload, when: upload_bytes, over: 6KiB, within: 1m, severity: critical }\n'),
    });
    const get = async (id: string): Promise<number> => {
      const res = await request('https://api.test.local/1k', { dispatcher: h.agent(), headers: { 'x-request-id': id, 'x-note': 'z'.repeat(3000) } });
      await res.body.dump();
      return res.statusCode;
    };
    try {
      assert.equal(await get('rt8-1'), 200);
      assert.equal(await get('rt8-2'), 200);
      const first = h.audit.byId('rt8-1').find((r) => r.event === 'request');
      assert.ok((first?.bytes_up ?? 0) > 3000, 'the head is counted');
      assert.ok(h.audit.records.some((r) => r.event === 'alert' && r.severity === 'critical'), 'the upload alert fires on heads');
      assert.equal(await get('rt8-3'), 429, 'past 8 KiB of heads');
      const refused = h.audit.byId('rt8-3').find((r) => r.event === 'request');
      assert.equal(refused?.reason, 'upload_budget');
      assert.equal(refused?.rule, 'profiles.default.limits.upload');
      assert.ok(!up.seen.some((s) => s.headers['x-request-id'] === 'rt8-3'), 'never forwarded');
    } finally {
      await h.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('red team (HTTP), notes: override headers name another method or path', () => {
  test('X-HTTP-Method-Override and X-Original-URL must name what the allow entry allows', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'warden-rtov-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const up = await startUpstream(pki);
    const h = await startWarden({
      yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow:\n      - { host: api.test.local, methods: [POST], paths: ["/echo"] }\n'),
    });
    const post = async (headers: Record<string, string>): Promise<[number, string | undefined]> => {
      const res = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: 'hello', headers });
      await res.body.dump();
      return [res.statusCode, res.headers['x-warden-reason'] as string | undefined];
    };
    try {
      assert.deepEqual(await post({}), [200, undefined]);
      assert.deepEqual(await post({ 'x-http-method-override': 'POST' }), [200, undefined]);
      assert.deepEqual(await post({ 'x-http-method-override': 'DELETE' }), [403, 'request_not_allowed']);
      assert.deepEqual(await post({ 'x-original-url': '/admin' }), [403, 'request_not_allowed']);
      const rec = h.audit.records.find((r) => r.event === 'request' && r.reason === 'request_not_allowed');
      assert.match(String((rec?.detail as { error?: string } | undefined)?.error), /x-http-method-override names a method or path/);
    } finally {
      await h.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
