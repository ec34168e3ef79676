// Throwaway certificates for the benchmark, made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TestPki {
  /** test CA that signs the upstream's certificate (every peer verifies against it) */
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** a separate RSA CA for Squid's ssl-bump (Squid's usual setup) */
  readonly squidCaCert: string;
  readonly squidCaKey: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestPki(dir: string): TestPki {
  const p = (n: string): string => join(dir, n);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('test-ca.key')]);
  openssl([
    'req', '-x509', '-new', '-key', p('test-ca.key'), '-days', '3', '-sha256',
    '-subj', '/CN=Warden bench upstream test CA', '-out', p('test-ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('upstream.key')]);
  openssl(['req', '-new', '-key', p('upstream.key'), '-subj', '/CN=bench.test', '-out', p('upstream.csr')]);
  writeFileSync(
    p('upstream.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:bench.test,DNS:*.bench.test,IP:127.0.0.1',
    ].join('\n') + '\n',
  );
  openssl([
    'x509', '-req', '-in', p('upstream.csr'), '-CA', p('test-ca.pem'), '-CAkey', p('test-ca.key'),
    '-CAcreateserial', '-days', '3', '-sha256', '-extfile', p('upstream.ext'), '-out', p('upstream.pem'),
  ]);
  openssl(['genrsa', '-out', p('squid-ca.key'), '2048']);
  openssl([
    'req', '-x509', '-new', '-key', p('squid-ca.key'), '-days', '3', '-sha256',
    '-subj', '/CN=Squid bench CA', '-out', p('squid-ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    caCert: p('test-ca.pem'),
    caKey: p('test-ca.key'),
    serverCert: p('upstream.pem'),
    serverKey: p('upstream.key'),
    squidCaCert: p('squid-ca.pem'),
    squidCaKey: p('squid-ca.key'),
  };
}

/**
 * Workload (c)'s names sit under a parent domain of their own (`x.c<i>-s<slice>.bench.test`), so
 * a proxy cannot serve them from one shared leaf: each is a cold leaf certificate, as issue 6
 * asks. The upstream (and node-bare, which presents upstream certificates) needs a certificate
 * for each: an ordinary one naming only that host, signed by the test CA over the upstream's
 * key (one CSR, one `openssl x509` per name). Files: `<dir>/cold/<name>.pem`.
 */
export function makeColdCerts(pki: TestPki, dir: string, names: readonly string[]): void {
  const cold = join(dir, 'cold');
  mkdirSync(cold, { recursive: true });
  const csr = join(cold, 'cold.csr');
  openssl(['req', '-new', '-key', pki.serverKey, '-subj', '/CN=cold.bench.test', '-out', csr]);
  names.forEach((name, i) => {
    const ext = join(cold, `${name}.ext`);
    writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=DNS:${name}`,
    ].join('\n') + '\n');
    openssl([
      // Subject per name too: Squid's certificate cache mixed up names that shared one subject.
      'x509', '-req', '-in', csr, '-subj', `/CN=${name}`, '-CA', pki.caCert, '-CAkey', pki.caKey, '-set_serial', String(i + 1000),
      '-days', '3', '-sha256', '-extfile', ext, '-out', join(cold, `${name}.pem`),
    ]);
  });
}

/** Whether `servername` is one of workload (c)'s names (see makeColdCerts). */
function isColdName(servername: string): boolean {
  return /^x\.c\d+-s\d+\.bench\.test$/.test(servername);
}

/**
 * For a TLS server that answers (c)'s names (the upstream, node-bare): the context holding the
 * certificate makeColdCerts wrote for `servername` under `dir`, loaded on first use, or null for
 * any other name.
 */
export function coldContexts(dir: string, key: Buffer): (servername: string) => SecureContext | null {
  const cache = new Map<string, SecureContext>();
  return (servername) => {
    if (!isColdName(servername)) return null;
    let ctx = cache.get(servername);
    if (!ctx) {
      ctx = createSecureContext({ cert: readFileSync(join(dir, 'cold', `${servername}.pem`)), key });
      cache.set(servername, ctx);
    }
    return ctx;
  };
}
