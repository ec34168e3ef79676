// Throwaway certificates for the benchmark, made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
