/**
 * `server.headers_timeout` inside CONNECT tunnels (red team, HTTP mechanics, finding 3): the MITM
 * server never listens, so Node never checked it there and a decrypted connection with half a
 * head, or none, was kept for ever. Now it is closed as the plain listener closes one (no answer).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, openTunnel, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

describe('server.headers_timeout on decrypted connections', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-headto-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    // upstream.headers_timeout is 2s (baseYaml): /slow is answered 504 after it, past the 1 s head timeout.
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') + 'server: { headers_timeout: 1s }\n' });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tunnel = async (): Promise<TLSSocket> => {
    const tcp = await openTunnel(h.port, 'api.test.local:443');
    const t = tlsConnect({ socket: tcp, servername: 'api.test.local', ca: h.wardenCa });
    t.on('error', () => undefined);
    await new Promise<void>((resolve) => t.once('secureConnect', () => resolve()));
    return t;
  };

  /** Everything the connection receives, and when it closed (ms after `since`), or null if still open at `waitMs`. */
  const watch = (t: TLSSocket, since: number, waitMs: number): Promise<{ got: string; closedAfterMs: number | null }> =>
    new Promise((resolve) => {
      let got = '';
      t.on('data', (c: Buffer) => void (got += c.toString('latin1')));
      const timer = setTimeout(() => {
        t.destroy();
        resolve({ got, closedAfterMs: null });
      }, waitMs);
      t.once('close', () => {
        clearTimeout(timer);
        resolve({ got, closedAfterMs: Date.now() - since });
      });
    });

  test('a connection that sends half a head is closed, unanswered, after headers_timeout', async () => {
    const t = await tunnel();
    const since = Date.now();
    t.write('GET /1k HTTP/1.1\r\nHost: api.test.local\r\nX-A: ');
    const r = await watch(t, since, 4000);
    assert.notEqual(r.closedAfterMs, null, 'closed');
    assert.ok(r.closedAfterMs! >= 900, `not before the timeout (${r.closedAfterMs} ms)`);
    assert.equal(r.got, '');
  });

  test('a connection that sends nothing after the TLS handshake is closed after headers_timeout', async () => {
    const t = await tunnel();
    const r = await watch(t, Date.now(), 4000);
    assert.notEqual(r.closedAfterMs, null, 'closed');
    assert.equal(r.got, '');
  });

  test('after an answered request, a half-sent next head is closed too', async () => {
    const t = await tunnel();
    let got = '';
    t.on('data', (c: Buffer) => void (got += c.toString('latin1')));
    t.write('GET /1k HTTP/1.1\r\nHost: api.test.local\r\n\r\n');
    const deadline = Date.now() + 3000;
    while (!got.endsWith('x'.repeat(16)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.match(got, /^HTTP\/1\.1 200/);
    // Drip bytes of a next head: activity keeps Node's keep-alive timer (60 s) from firing.
    const since = Date.now();
    t.write('GET /1k HTTP/1.1\r\n');
    const drip = setInterval(() => t.writable && t.write('X-A: a\r\n'), 300);
    const r = await watch(t, since, 5000);
    clearInterval(drip);
    assert.notEqual(r.closedAfterMs, null, 'closed within two headers_timeout and some slack');
  });

  test('a request whose head is complete is not cut while the upstream takes longer than headers_timeout', async () => {
    const t = await tunnel();
    t.write('GET /slow HTTP/1.1\r\nHost: api.test.local\r\nConnection: close\r\n\r\n');
    const r = await watch(t, Date.now(), 5000);
    assert.match(r.got, /^HTTP\/1\.1 504/, 'answered by the upstream timeout (2 s), not closed at the head timeout (1 s)');
  });
});
