import { after, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import type { SecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateCa, parseCa, signatureSchemeFor } from '../../../proxy/tls/ca.js';
import { KU, OID, bool, buildCertificate, ctx, derToPem, encodeName, extension, fromDerExact, int, keyUsageBits, octets, publicKeyInfo, randomSerial, seq, subjectKeyId } from '../../../proxy/tls/x509.js';
import type { CertificateAuthority } from '../../../proxy/tls/ca.js';
import { CertCache } from '../../../proxy/tls/cert-cache.js';
import { LEAF_VALIDITY_MS, createLeafKey } from '../../../proxy/tls/leaf.js';

const { ca } = generateCa();
const leafKey = createLeafKey();

const servers: net.Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/**
 * A TLS echo server on 127.0.0.1:0 whose contexts come from `cache`, terminating TLS on the
 * accepted socket with `new tls.TLSSocket(socket, { isServer: true, SNICallback })`, the way
 * tls/intercept.ts does. `defaultContext` serves clients that send no SNI (IP destinations).
 */
async function startServer(cache: CertCache, defaultContext?: SecureContext): Promise<number> {
  const server = net.createServer((raw) => {
    raw.on('error', () => undefined);
    const sock = new tls.TLSSocket(raw, {
      isServer: true,
      SNICallback: cache.sniCallback,
      ...(defaultContext ? { secureContext: defaultContext } : {}),
    });
    sock.on('error', () => undefined);
    sock.pipe(sock);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Connect, verify (the default: rejectUnauthorized), echo one line, and report what was seen. */
async function handshake(port: number, caPem: string, servername?: string): Promise<{ cn: string; protocol: string | null; echoed: string }> {
  const sock = tls.connect({ host: '127.0.0.1', port, ca: caPem, ...(servername ? { servername } : {}) });
  try {
    await once(sock, 'secureConnect');
    assert.equal(sock.authorized, true, String(sock.authorizationError));
    sock.write('ping\n');
    const [data] = (await once(sock, 'data')) as [Buffer];
    return { cn: String(sock.getPeerCertificate().subject.CN), protocol: sock.getProtocol(), echoed: data.toString() };
  } finally {
    sock.destroy();
  }
}

describe('CertCache over real TLS on 127.0.0.1', () => {
  test('SNI api.example.test: client verifying against ca.pem connects', async () => {
    const cache = new CertCache(ca, { leafKey });
    const port = await startServer(cache);
    const seen = await handshake(port, ca.certPem, 'api.example.test');
    assert.deepEqual(seen, { cn: 'api.example.test', protocol: 'TLSv1.3', echoed: 'ping\n' });
    assert.deepEqual(cache.stats(), { hits: 0, misses: 1, mints: 1, size: 1 });
    await handshake(port, ca.certPem, 'api.example.test');
    assert.equal(cache.stats().hits, 1, 'second connection served from the cache');
  });

  test('a client trusting another CA refuses the leaf', async () => {
    const cache = new CertCache(ca, { leafKey });
    const port = await startServer(cache);
    const stranger = generateCa().ca;
    const sock = tls.connect({ host: '127.0.0.1', port, ca: stranger.certPem, servername: 'api.example.test' });
    const [err] = (await once(sock, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    sock.destroy();
  });

  test('no SNI (IP destination): the default context from getContext(ip) verifies by IP SAN', async () => {
    const cache = new CertCache(ca, { leafKey });
    const port = await startServer(cache, cache.getContext('127.0.0.1'));
    const seen = await handshake(port, ca.certPem);
    assert.equal(seen.cn, '127.0.0.1');
  });

  test('TLS 1.2 is the floor', async () => {
    const cache = new CertCache(ca, { leafKey });
    const port = await startServer(cache);
    const sock = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'v12.example.test', maxVersion: 'TLSv1.2' });
    await once(sock, 'secureConnect');
    assert.equal(sock.getProtocol(), 'TLSv1.2');
    sock.destroy();
  });

  test('an intermediate CA brought by an admin is sent after the leaf; clients trusting only the root connect', async () => {
    const root = makeCa(null, 'Corp Root');
    const inter = makeCa(root, 'Corp Warden Intermediate');
    assert.equal(root.chainPem, '');
    assert.notEqual(inter.chainPem, '');
    assert.equal(ca.chainPem, '', 'a self-signed root is not sent');
    const cache = new CertCache(inter, { leafKey });
    const port = await startServer(cache);
    const seen = await handshake(port, root.certPem, 'corp.example.test');
    assert.equal(seen.cn, 'corp.example.test');
  });

  test('an invalid SNI fails the handshake instead of minting', async () => {
    const cache = new CertCache(ca, { leafKey });
    const results: Array<[Error | null, SecureContext | undefined]> = [];
    cache.sniCallback('bad name!', (err, context) => void results.push([err, context]));
    assert.equal(results.length, 1);
    assert.ok(results[0]![0] instanceof Error);
    assert.equal(results[0]![1], undefined);
    assert.equal(cache.stats().mints, 0);
  });
});

describe('CertCache bookkeeping', () => {
  test('50 concurrent first requests for one host mint once', async () => {
    let mintHook = 0;
    const cache = new CertCache(ca, { leafKey, onMint: () => void mintHook++ });
    const contexts = await Promise.all(
      Array.from({ length: 50 }, () => Promise.resolve().then(() => cache.getContext('burst.example.test'))),
    );
    assert.deepEqual(cache.stats(), { hits: 49, misses: 1, mints: 1, size: 1 });
    assert.equal(mintHook, 1);
    assert.ok(contexts.every((c) => c === contexts[0]), 'all callers share one context');
  });

  test('bounded: max 3, four hosts → size 3, least recently used evicted', () => {
    const cache = new CertCache(ca, { leafKey, max: 3 });
    for (const h of ['a.test', 'b.test', 'c.test', 'd.test']) cache.getContext(h);
    assert.equal(cache.stats().size, 3);
    cache.getContext('d.test');
    assert.equal(cache.stats().mints, 4, 'the newest is cached');
    cache.getContext('a.test');
    assert.equal(cache.stats().mints, 5, 'the oldest was evicted');
  });

  const sameEntry: Array<[name: string, spellings: string[]]> = [
    ['case and trailing dot', ['Api.Example.Test', 'api.example.test.', 'API.EXAMPLE.TEST']],
    ['IPv6 spellings', ['::1', '[::1]', '0:0:0:0:0:0:0:1']],
    ['IPv4-mapped IPv6 spellings', ['::ffff:10.0.0.1', '::FFFF:a00:1']],
  ];
  for (const [name, spellings] of sameEntry) {
    test(`one entry for ${name}`, () => {
      const cache = new CertCache(ca, { leafKey });
      for (const s of spellings) cache.getContext(s);
      assert.equal(cache.stats().mints, 1);
    });
  }

  test('entries expire after ttlMs', async () => {
    const cache = new CertCache(ca, { leafKey, ttlMs: 40 });
    cache.getContext('ttl.example.test');
    cache.getContext('ttl.example.test');
    assert.equal(cache.stats().mints, 1);
    await sleep(80);
    cache.getContext('ttl.example.test');
    assert.equal(cache.stats().mints, 2);
  });

  test('a leaf near the CA expiry is served but not cached', () => {
    const dying = generateCa({ notAfter: new Date(Date.now() + 3600 * 1000) }).ca;
    const cache = new CertCache(dying, { leafKey });
    cache.getContext('dying.example.test');
    cache.getContext('dying.example.test');
    assert.deepEqual(cache.stats(), { hits: 0, misses: 2, mints: 2, size: 0 });
  });

  const badOptions: Array<[name: string, opts: { max?: number; ttlMs?: number }]> = [
    ['ttl as long as the leaf', { ttlMs: LEAF_VALIDITY_MS }],
    ['zero ttl', { ttlMs: 0 }],
    ['zero max', { max: 0 }],
    ['fractional max', { max: 2.5 }],
  ];
  for (const [name, opts] of badOptions) {
    test(`refused option: ${name}`, () => assert.throws(() => new CertCache(ca, opts), RangeError));
  }

  test('a context leaving the cache frees its OpenSSL memory at once; a connection using it carries on', async () => {
    const cache = new CertCache(ca, { leafKey, max: 1 });
    const port = await startServer(cache);
    const sock = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'held.example.test' });
    try {
      await once(sock, 'secureConnect');
      const held = cache.getContext('held.example.test');
      const native = (held as SecureContext & { context: { getCertificate(): Buffer | null } }).context;
      assert.ok(native.getCertificate() instanceof Buffer, 'cached: the context holds its leaf');
      cache.getContext('other.example.test'); // evicts held.example.test
      assert.equal(native.getCertificate(), null, 'evicted: released without waiting for a garbage collection');
      sock.write('after eviction\n');
      const [data] = (await once(sock, 'data')) as [Buffer];
      assert.equal(data.toString(), 'after eviction\n');
    } finally {
      sock.destroy();
    }
    const again = await handshake(port, ca.certPem, 'held.example.test');
    assert.equal(again.cn, 'held.example.test', 'an evicted name is minted again');
    assert.equal(cache.stats().mints, 3);
  });

  test('clear() empties the cache', () => {
    const cache = new CertCache(ca, { leafKey });
    cache.getContext('x.test');
    cache.clear();
    assert.equal(cache.stats().size, 0);
  });
});

/**
 * A CA signed by `parent` (or self-signed when `parent` is null), without a path length limit
 * so that it can carry an intermediate, loaded through parseCa as if it were an admin's ca.pem.
 */
function makeCa(parent: CertificateAuthority | null, commonName: string): CertificateAuthority {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKeyInfo(privateKey);
  const subject = encodeName([[OID.commonName, commonName]]);
  const ski = subjectKeyId(spki);
  const der = buildCertificate({
    serial: randomSerial(),
    issuer: parent ? fromDerExact(parent.subjectDer) : subject,
    subject,
    notBefore: new Date(Date.now() - 3600 * 1000),
    notAfter: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    spki,
    extensions: [
      extension(OID.basicConstraints, true, parent ? seq([bool(true), int(0)]) : seq([bool(true)])),
      extension(OID.keyUsage, true, keyUsageBits(KU.keyCertSign | KU.cRLSign)),
      extension(OID.subjectKeyIdentifier, false, octets(ski)),
      extension(OID.authorityKeyIdentifier, false, seq([ctx(0, parent ? parent.keyId : ski)])),
    ],
    signer: parent ? parent.keyObject : privateKey,
    scheme: parent ? parent.scheme : signatureSchemeFor(privateKey, 'test key'),
  });
  const pem = derToPem(der);
  if (parent) assert.equal(new X509Certificate(pem).verify(new X509Certificate(parent.certPem).publicKey), true);
  return parseCa(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { certFile: 'ca.pem', keyFile: 'ca.key' });
}

describe('CertCache.contextFor: cold leaves minted one per event-loop turn', () => {
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  test('a cached leaf is passed at once; cold ones are minted one per turn, in order', async () => {
    const queueLengths: number[] = [];
    const cache = new CertCache(ca, { leafKey, onMintQueue: (n) => void queueLengths.push(n) });
    const warm = cache.getContext('warm.example.test');
    let got: SecureContext | undefined;
    cache.contextFor('warm.example.test', () => true, (err, c) => { assert.equal(err, null); got = c; });
    assert.equal(got, warm, 'synchronous for a cached name');

    const done: string[] = [];
    const names = ['c1.example.test', 'c2.example.test', 'c3.example.test'];
    for (const n of names) cache.contextFor(n, () => true, (err, c) => { assert.equal(err, null); assert.ok(c); done.push(n); });
    assert.equal(cache.queuedMints, 3);
    assert.deepEqual(done, [], 'nothing minted in the turn that asked');
    for (let k = 1; k <= 3; k++) {
      await turn();
      assert.deepEqual(done, names.slice(0, k), `after ${k} turn(s)`);
      assert.equal(cache.stats().mints, 1 + k);
    }
    assert.equal(cache.queuedMints, 0);
    assert.deepEqual(queueLengths, [1, 2, 3, 2, 1, 0], 'onMintQueue follows the queue');
  });

  test('I/O runs between two queued mints', async () => {
    const cache = new CertCache(ca, { leafKey });
    const events: string[] = [];
    cache.contextFor('a.io.example.test', () => true, () => void events.push('mint a'));
    cache.contextFor('b.io.other.test', () => true, () => void events.push('mint b'));
    // A poll-phase callback (a socket connecting) queued now lands between the two mints.
    const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
    servers.push(server);
    await once(server, 'listening');
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1', () => void events.push('connected'));
    client.on('error', () => undefined);
    while (events.length < 3) await turn();
    client.destroy();
    assert.equal(events[events.length - 1], 'mint b', `order: ${events.join(', ')}`);
    assert.ok(events.indexOf('mint a') < events.indexOf('mint b'));
  });

  test('a client that gave up is not minted for; a name queued twice is minted once; a bad name fails at once', async () => {
    const cache = new CertCache(ca, { leafKey });
    let called = false;
    cache.contextFor('gone.example.test', () => false, () => { called = true; });
    const twice: Array<SecureContext | undefined> = [];
    cache.contextFor('twice.example.test', () => true, (_e, c) => void twice.push(c));
    cache.contextFor('twice.example.test', () => true, (_e, c) => void twice.push(c));
    const errors: Array<Error | null> = [];
    cache.contextFor('bad name!', () => true, (err) => void errors.push(err));
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Error);
    for (let k = 0; k < 4; k++) await turn();
    assert.equal(called, false);
    assert.equal(twice.length, 2);
    assert.equal(twice[0], twice[1]);
    assert.equal(cache.stats().mints, 1, 'only twice.example.test');
  });
});
