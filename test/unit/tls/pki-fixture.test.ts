import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { loadOrCreateCa } from '../../../proxy/tls/ca.js';
import { createTestPki, writeTestPki } from '../../fixtures/pki.js';

const DAY = 24 * 3600 * 1000;
const pki = createTestPki();
const servers: https.Server[] = [];
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'warden-pki-test-'));
});
after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(tmp, { recursive: true, force: true });
});

/** An HTTPS upstream on 127.0.0.1:0 answering "ok" with the given certificate. */
async function upstream(cert: { certPem: string; keyPem: string }): Promise<number> {
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('ok'));
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Connect with verification on; resolve with the error code, or null when the handshake verified. */
async function verifyCode(port: number, servername?: string): Promise<string | null> {
  const sock = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, ...(servername ? { servername } : {}) });
  try {
    return await new Promise<string | null>((resolve) => {
      sock.once('secureConnect', () => resolve(null));
      sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'unknown'));
    });
  } finally {
    sock.destroy();
  }
}

describe('test PKI fixture', () => {
  const names = ['localhost', '127.0.0.1', '*.test.local', '::1'];
  const cert = pki.issue(names);

  test('issued certificate names every host, verifies against caPem', () => {
    const x = new X509Certificate(cert.certPem);
    assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, DNS:*.test.local, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(x.verify(new X509Certificate(pki.caPem).publicKey), true);
    assert.notEqual(x.checkHost('api.test.local'), undefined);
    assert.equal(x.checkHost('test.local'), undefined);
    assert.notEqual(x.checkIP('127.0.0.1'), undefined);
  });

  test('each issue() gets its own key', () => {
    assert.notEqual(pki.issue(['localhost']).keyPem, pki.issue(['localhost']).keyPem);
  });

  const handshakes: Array<[name: string, servername: string | undefined, code: string | null]> = [
    ['https to 127.0.0.1 (IP SAN)', undefined, null],
    ['SNI localhost', 'localhost', null],
    ['SNI under the wildcard', 'api.test.local', null],
    ['SNI not on the certificate', 'evil.example', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ];
  for (const [name, servername, code] of handshakes) {
    test(`upstream handshake: ${name}`, async () => {
      assert.equal(await verifyCode(await upstream(cert), servername), code);
    });
  }

  test('an https client trusting caPem gets a response', async () => {
    const port = await upstream(cert);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', ca: pki.caPem, agent: false }, (res) => {
          let data = '';
          res.on('data', (c: Buffer) => (data += c.toString()));
          res.on('end', () => resolve(data));
        })
        .on('error', reject);
    });
    assert.equal(body, 'ok');
  });

  test('expired certificate for upstream_tls tests', async () => {
    const expired = pki.issue(['localhost'], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    assert.equal(await verifyCode(await upstream(expired), 'localhost'), 'CERT_HAS_EXPIRED');
  });

  test('writeTestPki writes ca.pem and a 0600 ca.key that Warden loads as its CA', async () => {
    const dir = join(tmp, 'pki');
    await mkdir(dir);
    const written = writeTestPki(dir, pki);
    assert.equal(written.caFile, join(dir, 'ca.pem'));
    assert.equal((await stat(written.keyFile)).mode & 0o777, 0o600);
    const { ca, created } = await loadOrCreateCa(dir);
    assert.equal(created, false);
    assert.equal(ca.fingerprint256, pki.ca.fingerprint256);
  });
});
