/**
 * Issue 2, bad input: each malformed shape gets a precise status or a clean close, an audit
 * record where a request was identified, and the proxy keeps serving afterwards.
 */
import { strict as assert } from 'node:assert';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, rawExchange, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

describe('bad input', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-bad-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local, { host: plain.test.local, ports: [80] }]\n') + 'server: { max_header_size: 8KiB }\n' });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function stillServing(): Promise<void> {
    const res = await request('https://api.test.local/1k', { dispatcher: h.agent() });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }

  // [name, bytes sent on the plain proxy port, expected status line]
  const plainCases: Array<[string, string, RegExp]> = [
    ['a malformed request line', 'GARBAGE\r\n\r\n', /^HTTP\/1\.1 400/],
    ['a request line with spaces in the target', 'GET http://plain.test.local/a b HTTP/1.1\r\nHost: plain.test.local\r\n\r\n', /^HTTP\/1\.1 400/],
    ['a header without a colon', 'GET http://plain.test.local/ HTTP/1.1\r\nHost: plain.test.local\r\nBroken header\r\n\r\n', /^HTTP\/1\.1 400/],
    ['oversized headers', `GET http://plain.test.local/ HTTP/1.1\r\nHost: plain.test.local\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431/],
    ['both Content-Length and Transfer-Encoding (smuggling)', 'POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400/],
    ['duplicate, different Content-Length', 'POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', /^HTTP\/1\.1 400/],
    ['a transfer coding other than chunked (the body would stay compressed, unscanned)', 'POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nTransfer-Encoding: deflate, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', /^HTTP\/1\.1 400[^]*only Transfer-Encoding: chunked/],
    ['a fragment in the request target (it would go upstream unscanned)', 'GET http://plain.test.local/x#frag HTTP/1.1\r\nHost: plain.test.local\r\n\r\n', /^HTTP\/1\.1 400[^]*fragment/],
    ['an invalid chunk size', 'POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', /^HTTP\/1\.1 400/],
    ['an https:// absolute-form request (must use CONNECT)', 'GET https://api.test.local/ HTTP/1.1\r\nHost: api.test.local\r\n\r\n', /^HTTP\/1\.1 400/],
    ['a CONNECT with an empty host', 'CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400/],
    ['a CONNECT to port 0', 'CONNECT api.test.local:0 HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400/],
  ];
  for (const [name, bytes, expected] of plainCases) {
    test(`${name}: precise status, proxy keeps serving`, async () => {
      const out = await rawExchange(h.port, bytes, 2000);
      assert.match(out, expected, JSON.stringify(out.slice(0, 200)));
      await stillServing();
    });
  }

  test('the smuggled request never reaches the upstream', async () => {
    const before = up.seen.length;
    await rawExchange(h.port, 'POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://plain.test.local/smuggled HTTP/1.1\r\nHost: plain.test.local\r\n\r\n', 1500);
    assert.ok(!up.seen.slice(before).some((s) => s.url.includes('smuggled')));
  });

  for (const [shape, head] of [
    ['Content-Length with Transfer-Encoding', 'POST /echo HTTP/1.1\r\nHost: api.test.local\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a fragment in the target', 'GET /x?q=1#frag-536-22-8143 HTTP/1.1\r\nHost: api.test.local\r\nx-request-id: te-gzip\r\n\r\n'],
    ['gzip before chunked', `POST /echo HTTP/1.1\r\nHost: api.test.local\r\nx-request-id: te-gzip\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${gzipSync('AKIAIOSFODNN7EXAMPLE').length.toString(16)}\r\n`],
  ] as const) test(`inside a MITM tunnel, ${shape} gets 400 as well`, async () => {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    const t = tlsConnect({ socket: sock, servername: 'api.test.local', ca: h.wardenCa });
    await new Promise<void>((r) => t.once('secureConnect', () => r()));
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      t.on('data', (c: Buffer) => (buf += c.toString()));
      t.on('close', () => resolve(buf));
      t.on('error', () => resolve(buf));
      t.write(head);
      if (head.includes('gzip')) t.write(Buffer.concat([gzipSync('AKIAIOSFODNN7EXAMPLE'), Buffer.from('\r\n0\r\n\r\n')]));
      setTimeout(() => t.destroy(), 1500).unref();
    });
    assert.match(out, /^HTTP\/1\.1 400/);
    assert.ok(!up.seen.some((s) => s.headers['x-request-id'] === 'te-gzip'), 'nothing reached the upstream');
  });

  test('a client that disconnects mid-handshake leaves the proxy serving', async () => {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])); // a ClientHello cut short
    sock.destroy();
    await new Promise((r) => setTimeout(r, 100));
    await stillServing();
  });

  test('a client that disconnects mid-body: nothing is forwarded, the request is audited', async () => {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('POST http://plain.test.local/echo HTTP/1.1\r\nHost: plain.test.local\r\nX-Request-Id: midbody-1\r\nContent-Length: 1000\r\n\r\npartial body');
    await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    for (let i = 0; i < 50 && !h.audit.find((r) => r.id === 'midbody-1'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(h.audit.find((r) => r.id === 'midbody-1' && r.event === 'request'), 'audited');
    assert.ok(!up.seen.some((s) => s.headers['x-request-id'] === 'midbody-1'), 'upstream got nothing');
    await stillServing();
  });

  test('a ClientHello without SNI to an inspected host is served the CONNECT host\'s certificate', async () => {
    const sock = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    // No servername: Node sends no SNI; verify the certificate against the CONNECT host ourselves.
    const t = tlsConnect({ socket: sock, ca: h.wardenCa, checkServerIdentity: () => undefined });
    const cert = await new Promise<import('node:crypto').X509Certificate | undefined>((resolve, reject) => {
      t.once('secureConnect', () => resolve(t.getPeerX509Certificate()));
      t.once('error', reject);
    });
    assert.ok(cert?.checkHost('api.test.local'), 'the certificate is valid for the CONNECT host');
    assert.ok(t.authorized, 'chains to Warden\'s CA');
    t.destroy();
  });
});
