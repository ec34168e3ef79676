/** Sibling sharing in the cert cache: one `*.parent` leaf for sibling names, never under a public suffix. */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { createServer, connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CertCache, siblingWildcard } from '../../../proxy/tls/cert-cache.js';
import { createTestPki } from '../../fixtures/pki.js';

const cases: Array<[string, string | null]> = [
  ['api.example.com', '*.example.com'],
  ['h1.bench.test', '*.bench.test'],
  ['a.b.example.com', '*.b.example.com'],
  ['example.com', null],
  ['com', null],
  ['shop.example.co.uk', '*.example.co.uk'],
  ['example.co.uk', null], // would be *.co.uk: a public suffix
  ['*.example.com', null],
];
for (const [host, expected] of cases) {
  test(`siblingWildcard(${host}) = ${expected}`, () => assert.equal(siblingWildcard(host), expected));
}

test('with shareSiblings, sibling names share one mint and the leaf verifies for each name', async () => {
  const pki = createTestPki();
  const cache = new CertCache(pki.ca, { shareSiblings: true });
  const server = createServer({ SNICallback: cache.sniCallback }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    for (const name of ['h1.bench.test', 'h2.bench.test', 'h3.bench.test']) {
      const got = await new Promise<string>((resolve, reject) => {
        const c = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: name, ca: pki.caPem }, () => {
          const cert = c.getPeerX509Certificate();
          assert.ok(cert && cert.checkHost(name));
          c.on('data', (d: Buffer) => resolve(d.toString()));
        });
        c.on('error', reject);
      });
      assert.equal(got, 'ok');
    }
    assert.equal(cache.stats().mints, 1);
    const other = new X509Certificate(pki.caPem);
    assert.ok(other.ca);
  } finally {
    server.close();
  }
  const plain = new CertCache(pki.ca);
  plain.getContext('h1.bench.test');
  plain.getContext('h2.bench.test');
  assert.equal(plain.stats().mints, 2, 'off by default');
});
