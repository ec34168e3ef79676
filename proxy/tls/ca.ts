/**
 * The certificate authority that signs Warden's interception leaves: load and check the one in
 * `ca_dir`, or create one on first start when the directory holds nothing.
 *
 * X.509 structures are built with node-forge's ASN.1 module and signed with `node:crypto`:
 * forge's `pki` can only sign with RSA in pure JavaScript (~95 ms a certificate, blocking the
 * event loop; DESIGN.md), and cannot sign with EC keys at all. The DER toolkit both this file and
 * `tls/leaf.ts` use is in `tls/x509.ts`.
 *
 * ```
 * ca_dir state            loadOrCreateCa
 * ─────────────────────   ──────────────────────────────────────────────────────────
 * (absent) / both absent  create dir 0700, write ca.key 0600 then ca.pem, log where
 * only one file present   throw, naming the missing file (never generate over it)
 * both present            load, check key/cert match, cA, keyCertSign, validity
 * ```
 */
import { createPrivateKey, randomBytes, sign, verify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KU,
  OID,
  bool,
  buildCertificate,
  ctx,
  derToPem,
  encodeName,
  extension,
  hasKeyUsage,
  int,
  isCaConstraint,
  keyUsageBits,
  octets,
  publicKeyInfo,
  randomSerial,
  readOctetString,
  readTbs,
  seq,
  subjectKeyId,
} from './x509.js';
import type { TbsFields } from './x509.js';


/** File names inside `ca_dir` (DESIGN.md: `ca.pem` is what clients trust, `ca.key` is mode 0600). */
export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

/** Validity of a CA Warden creates. Long, because every sandbox image has to trust it. */
export const CA_VALIDITY_YEARS = 10;

/** A CA closer than this to `notAfter` gets a warning at load time. */
const CA_EXPIRY_WARNING_MS = 30 * 24 * 3600 * 1000;

/** Backdating of `notBefore`, so that sandboxes whose clock runs slightly behind accept the cert. */
export const BACKDATE_MS = 3600 * 1000;

/** The operational logger subset used here (a pino logger fits). */
export interface CaLog {
  info(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
}

/** How a CA key signs: the X.509 AlgorithmIdentifier and the `crypto.sign` digest. */
export interface SignatureScheme {
  /** Human name, as OpenSSL prints it. */
  readonly name: 'ecdsa-with-SHA256' | 'ecdsa-with-SHA384' | 'ecdsa-with-SHA512' | 'sha256WithRSAEncryption';
  readonly oid: string;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** RSA AlgorithmIdentifiers carry an explicit NULL parameter; ECDSA ones carry none (RFC 5758). */
  readonly nullParams: boolean;
}

/** A loaded, checked certificate authority: everything needed to issue leaves. */
export interface CertificateAuthority {
  /** The CA certificate (PEM): the first certificate of `ca.pem`. */
  readonly certPem: string;
  /**
   * What a leaf sends after itself in the TLS Certificate message: `''` for a self-signed root
   * (the client already has it; RFC 8446 §4.4.2 lets the root be omitted), or the whole of
   * `ca.pem` when the CA is an intermediate an admin brought (clients then need it to reach
   * their trusted root).
   */
  readonly chainPem: string;
  /** The CA private key. Never logged, never written anywhere but `ca.key`. */
  readonly keyObject: KeyObject;
  /** DER of the CA certificate's subject Name: the issuer Name of every leaf. */
  readonly subjectDer: Buffer;
  /** The CA's subject key identifier: the authorityKeyIdentifier of every leaf. */
  readonly keyId: Buffer;
  /** How this CA's key signs. */
  readonly scheme: SignatureScheme;
  /** `AA:BB:…` SHA-256 fingerprint of the CA certificate (what `warden ca export` users compare). */
  readonly fingerprint256: string;
  /** Subject as text (`CN=…`), for logs. */
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Where a CA came from, used only to name files in error messages. */
interface Origin {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Load the CA from `dir`, or create one there when `dir` (or both files in it) is absent.
 *
 * Trusted input: `dir` comes from the admin's config. Throws an `Error` naming the file when
 * exactly one of `ca.pem`/`ca.key` is present, when they do not match, or when the certificate
 * is not a usable CA (not cA, no keyCertSign, expired, not yet valid, unsupported key type).
 * Messages never include key material. A `ca.key` readable by group or others is a warning
 * through `log`, not an error: refusing to start would not make the key any less exposed.
 *
 * @returns the CA and whether it was created by this call.
 */
export async function loadOrCreateCa(
  dir: string,
  log?: CaLog,
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  const [certStat, keyStat] = await Promise.all([statOrNull(certFile), statOrNull(keyFile)]);

  if (certStat && !keyStat) {
    throw new Error(
      `CA directory ${dir} has ${CA_CERT_FILE} but ${keyFile} is missing. Restore the private key that ` +
        `matches ${certFile}, or remove ${certFile} so that Warden creates a new CA (every client must then ` +
        `trust the new ${CA_CERT_FILE}).`,
    );
  }
  if (keyStat && !certStat) {
    throw new Error(
      `CA directory ${dir} has ${CA_KEY_FILE} but ${certFile} is missing. Restore the CA certificate that ` +
        `matches ${keyFile}, or remove ${keyFile} so that Warden creates a new CA (every client must then ` +
        `trust the new ${CA_CERT_FILE}).`,
    );
  }

  if (certStat && keyStat) {
    if (process.platform !== 'win32' && (keyStat.mode & 0o077) !== 0) {
      const mode = (keyStat.mode & 0o777).toString(8).padStart(4, '0');
      (log?.warn ?? log?.info)?.call(
        log,
        { ca_key: keyFile, mode },
        `${keyFile} is accessible to group or others (mode ${mode}); run: chmod 600 ${keyFile}`,
      );
    }
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const ca = parseCa(certPem, keyPem, { certFile, keyFile });
    if (ca.notAfter.getTime() - Date.now() < CA_EXPIRY_WARNING_MS) {
      (log?.warn ?? log?.info)?.call(
        log,
        { ca_cert: certFile, not_after: ca.notAfter.toISOString() },
        `${certFile} expires on ${ca.notAfter.toISOString()}; plan its replacement`,
      );
    }
    return { ca, created: false };
  }

  // Nothing there: first start. 0700 because the directory holds the key that can impersonate
  // every inspected site to every sandbox that trusts us.
  const dirExisted = (await statOrNull(dir)) !== null;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const made = generateCa();
  // The key goes first: a crash in between leaves "ca.key without ca.pem", which the check above
  // refuses with a clear message, rather than a certificate nobody holds the key to.
  await writeNewFile(keyFile, made.keyPem, 0o600);
  await writeNewFile(certFile, made.ca.certPem, 0o644);
  log?.info(
    { ca_dir: dir, ca_cert: certFile, fingerprint256: made.ca.fingerprint256, created_dir: !dirExisted },
    `Created a new Warden CA in ${dir}. Clients must trust ${certFile} (print it with: warden ca export).`,
  );
  return { ca: made.ca, created: true };
}

/** Options for {@link generateCa}. Tests use the dates to build expired or future CAs. */
export interface GenerateCaOptions {
  /** Default `Warden CA <8 hex chars>`: the suffix tells apart CAs of different installations. */
  readonly commonName?: string;
  readonly organization?: string;
  /** Default: now minus {@link BACKDATE_MS}. */
  readonly notBefore?: Date;
  /** Default: now plus {@link CA_VALIDITY_YEARS}. */
  readonly notAfter?: Date;
  /** Default: a new ECDSA P-256 key. RSA and ECDSA P-384/P-521 keys also work. */
  readonly privateKey?: KeyObject;
}

/**
 * Create a new self-signed CA in memory (nothing is written). The certificate has
 * basicConstraints cA=true, pathLen 0 (critical: leaves only, no intermediates below us),
 * keyUsage keyCertSign + cRLSign (critical), and subject/authority key identifiers.
 *
 * @returns the CA and its private key as PKCS#8 PEM (for `ca.key`).
 */
export function generateCa(opts: GenerateCaOptions = {}): { ca: CertificateAuthority; keyPem: string } {
  const privateKey = opts.privateKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const scheme = signatureSchemeFor(privateKey, 'the new CA key');
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  const notAfter = opts.notAfter ?? addYears(new Date(now), CA_VALIDITY_YEARS);
  const name = encodeName([
    // Most significant first, as OpenSSL and browsers display names.
    [OID.organization, opts.organization ?? 'Warden'],
    [OID.commonName, opts.commonName ?? `Warden CA ${randomBytes(4).toString('hex')}`],
  ]);
  const spki = publicKeyInfo(privateKey);
  const keyId = subjectKeyId(spki);
  const der = buildCertificate({
    serial: randomSerial(),
    issuer: name,
    subject: name,
    notBefore,
    notAfter,
    spki,
    extensions: [
      extension(OID.basicConstraints, true, seq([bool(true), int(0)])),
      extension(OID.keyUsage, true, keyUsageBits(KU.keyCertSign | KU.cRLSign)),
      extension(OID.subjectKeyIdentifier, false, octets(keyId)),
      extension(OID.authorityKeyIdentifier, false, seq([ctx(0, keyId)])),
    ],
    signer: privateKey,
    scheme,
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ca = parseCa(derToPem(der), keyPem, { certFile: '(generated CA certificate)', keyFile: '(generated CA key)' }, new Date(notBefore.getTime()));
  return { ca, keyPem };
}

/**
 * Parse and check a CA from PEM text: the first certificate of `certPem` is the CA; `keyPem`
 * is an unencrypted private key (PKCS#8, PKCS#1 or SEC1). Checks that the key signs what the
 * certificate's public key verifies, cA=true, keyCertSign (when keyUsage is present), and the
 * validity period against `now`. Throws an `Error` naming `origin`'s files.
 */
export function parseCa(certPem: string, keyPem: string, origin: Origin, now: Date = new Date()): CertificateAuthority {
  const { certFile, keyFile } = origin;
  const pems = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  const first = pems?.[0];
  if (!first) throw new Error(`${certFile} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);

  let x509: X509Certificate;
  let tbs: TbsFields;
  try {
    x509 = new X509Certificate(first);
    tbs = readTbs(x509.raw);
  } catch (err) {
    throw new Error(`${certFile} could not be parsed as an X.509 certificate`, { cause: err });
  }

  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (err) {
    // The OpenSSL reason (e.g. "unsupported", "bad decrypt") carries no key bytes.
    const reason = (err as { code?: string }).code ?? 'unreadable';
    throw new Error(
      `${keyFile} could not be read as an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): ${reason}`,
      { cause: err },
    );
  }
  const scheme = signatureSchemeFor(keyObject, keyFile);

  // A probe signature, rather than comparing public keys, also proves the key is usable for
  // signing with the scheme we will use for every leaf.
  const probe = randomBytes(32);
  let matches = false;
  try {
    matches = verify(scheme.hash, probe, x509.publicKey, sign(scheme.hash, probe, keyObject));
  } catch {
    matches = false; // e.g. an RSA key against an EC certificate
  }
  if (!matches) throw new Error(`${keyFile} is not the private key of the certificate in ${certFile}`);

  // Read basicConstraints ourselves: X509Certificate.ca (OpenSSL's X509_check_ca) also says
  // "no" for a keyUsage without keyCertSign, and "yes" for some v1 roots without the extension.
  const bc = tbs.extensions.get(OID.basicConstraints);
  if (!bc || !isCaConstraint(bc.value)) {
    throw new Error(`${certFile} is not a CA certificate (basicConstraints cA is not true); it cannot sign leaves`);
  }
  const ku = tbs.extensions.get(OID.keyUsage);
  if (ku && !hasKeyUsage(ku.value, KU.keyCertSign)) {
    throw new Error(`${certFile} has a keyUsage extension without keyCertSign; clients would reject the leaves it signs`);
  }
  if (now.getTime() < tbs.notBefore.getTime()) {
    throw new Error(`${certFile} is not valid before ${tbs.notBefore.toISOString()}; check the system clock, or replace the CA`);
  }
  if (now.getTime() > tbs.notAfter.getTime()) {
    throw new Error(
      `${certFile} expired on ${tbs.notAfter.toISOString()}; replace it (remove ${CA_CERT_FILE} and ${CA_KEY_FILE} ` +
        `to have Warden create a new CA, which clients must then trust)`,
    );
  }

  const ski = tbs.extensions.get(OID.subjectKeyIdentifier);
  const keyId = ski ? readOctetString(ski.value) : subjectKeyId(publicKeyInfo(keyObject));
  const selfSigned = x509.checkIssued(x509) && x509.verify(x509.publicKey);
  return {
    certPem: first + '\n',
    chainPem: selfSigned ? '' : pems.join('\n') + '\n',
    keyObject,
    subjectDer: tbs.subjectDer,
    keyId,
    scheme,
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    notBefore: tbs.notBefore,
    notAfter: tbs.notAfter,
  };
}

/** The signature scheme for a CA key; throws for key types Warden does not sign with. */
export function signatureSchemeFor(key: KeyObject, what: string): SignatureScheme {
  if (key.type !== 'private') throw new Error(`${what} is not a private key`);
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new Error(`${what} is a ${bits}-bit RSA key; TLS clients refuse RSA keys under 2048 bits`);
    return { name: 'sha256WithRSAEncryption', oid: '1.2.840.113549.1.1.11', hash: 'sha256', nullParams: true };
  }
  if (type === 'ec') {
    switch (key.asymmetricKeyDetails?.namedCurve) {
      case 'prime256v1':
        return { name: 'ecdsa-with-SHA256', oid: '1.2.840.10045.4.3.2', hash: 'sha256', nullParams: false };
      case 'secp384r1':
        return { name: 'ecdsa-with-SHA384', oid: '1.2.840.10045.4.3.3', hash: 'sha384', nullParams: false };
      case 'secp521r1':
        return { name: 'ecdsa-with-SHA512', oid: '1.2.840.10045.4.3.4', hash: 'sha512', nullParams: false };
    }
  }
  const detail = type === 'ec' ? `EC (${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'})` : String(type);
  throw new Error(`${what} is an unsupported key type: ${detail}; use ECDSA P-256 (recommended), P-384, P-521 or RSA ≥ 2048 bits`);
}

// ---------------------------------------------------------------------------------------------
// File helpers

async function statOrNull(path: string): Promise<{ mode: number } | null> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Write `data` to `path` atomically and without clobbering: write a temp file with `mode`,
 * fsync, then hard-link it into place. `link` fails with EEXIST where `rename` would silently
 * replace, so two Warden replicas starting at once on a shared volume cannot end up with one's
 * key beside the other's certificate. Falls back to `rename` where hard links are unsupported.
 */
async function writeNewFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await unlink(tmp).catch(() => undefined);
      throw new Error(`${path} appeared while Warden was creating a CA (another instance sharing the directory?); start again to load it`);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await rename(tmp, path);
    return;
  }
  await unlink(tmp);
}

function addYears(d: Date, years: number): Date {
  const r = new Date(d.getTime());
  r.setUTCFullYear(r.getUTCFullYear() + years);
  return r;
}

