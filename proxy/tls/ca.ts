/**
 * The certificate authority that signs Warden's interception leaves: load and check the one in
 * `ca_dir`, or create one on first start when the directory holds nothing.
 *
 * X.509 structures are built with node-forge's ASN.1 module and signed with `node:crypto`:
 * forge's `pki` can only sign with RSA in pure JavaScript (~95 ms a certificate, blocking the
 * event loop; DESIGN.md), and cannot sign with EC keys at all. The small DER toolkit at the end
 * of this file is shared with `tls/leaf.ts`.
 *
 * ```
 * ca_dir state            loadOrCreateCa
 * ─────────────────────   ──────────────────────────────────────────────────────────
 * (absent) / both absent  create dir 0700, write ca.key 0600 then ca.pem, log where
 * only one file present   throw, naming the missing file (never generate over it)
 * both present            load, check key/cert match, cA, keyCertSign, validity
 * ```
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Forge from 'node-forge';

// node-forge is CommonJS typed with `export =`; with esModuleInterop off (tsconfig.json) a
// default import does not type-check, and a namespace import may miss its lazily attached
// members at run time, so load it with require.
const forge = createRequire(import.meta.url)('node-forge') as typeof Forge;

const asn1 = forge.asn1;
type Asn1 = Forge.asn1.Asn1;

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

// ---------------------------------------------------------------------------------------------
// DER toolkit (shared with tls/leaf.ts). forge represents byte strings as binary JS strings.

/** Object identifiers used by Warden's certificates. */
export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), as a 9-bit mask with bit 0 = digitalSignature. */
export const KU = {
  digitalSignature: 1 << 0,
  keyEncipherment: 1 << 2,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

const bin = (b: Buffer): string => b.toString('binary');
const U = asn1.Class.UNIVERSAL;

/** SEQUENCE of the given elements. */
export function seq(items: Asn1[]): Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, items);
}
/** OBJECT IDENTIFIER. */
export function oid(dotted: string): Asn1 {
  return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}
/** OCTET STRING. */
export function octets(b: Buffer): Asn1 {
  return asn1.create(U, asn1.Type.OCTETSTRING, false, bin(b));
}
/** BOOLEAN. */
export function bool(v: boolean): Asn1 {
  return asn1.create(U, asn1.Type.BOOLEAN, false, v ? '\xff' : '\x00');
}
/** INTEGER from a small non-negative number. */
export function int(n: number): Asn1 {
  return asn1.create(U, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
}
/** An IMPLICIT context-specific primitive `[tag]` holding raw bytes (GeneralName, keyIdentifier). */
export function ctx(tag: number, value: Buffer | string): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, false, typeof value === 'string' ? value : bin(value));
}

/** An X.509 Extension whose extnValue is the DER of `value`. */
export function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(bool(true)); // DER omits the DEFAULT FALSE
  parts.push(asn1.create(U, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(parts);
}

/** keyUsage BIT STRING for a {@link KU} mask, trailing zero bits dropped as DER requires. */
export function keyUsageBits(mask: number): Asn1 {
  let last = -1;
  for (let i = 0; i < 9; i++) if (mask & (1 << i)) last = i;
  const nbytes = Math.floor(last / 8) + 1;
  const bytes = Buffer.alloc(nbytes);
  for (let i = 0; i <= last; i++) if (mask & (1 << i)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  const unused = nbytes * 8 - (last + 1);
  return asn1.create(U, asn1.Type.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

/** Whether a keyUsage extnValue (DER BIT STRING) has every bit of `mask`. */
export function hasKeyUsage(extnValue: Buffer, mask: number): boolean {
  const bits = asn1.fromDer(bin(extnValue), { decodeBitStrings: false } as unknown as boolean);
  const raw = Buffer.from(bits.value as string, 'binary').subarray(1); // skip the unused-bits count
  for (let i = 0; i < 9; i++) {
    if (!(mask & (1 << i))) continue;
    const byte = raw[i >> 3] ?? 0;
    if (!(byte & (0x80 >> (i & 7)))) return false;
  }
  return true;
}

/** Whether a basicConstraints extnValue says cA TRUE. */
function isCaConstraint(extnValue: Buffer): boolean {
  const first = (fromDerExact(extnValue).value as Asn1[])[0];
  return first?.type === asn1.Type.BOOLEAN && first.value !== '\x00';
}

/** The contents of a DER OCTET STRING. */
function readOctetString(der: Buffer): Buffer {
  return Buffer.from(asn1.fromDer(bin(der)).value as string, 'binary');
}

/** A Name of single-valued RDNs, each value a UTF8String (RFC 5280 §4.1.2.4). */
export function encodeName(attrs: ReadonlyArray<readonly [oid: string, value: string]>): Asn1 {
  return seq(
    attrs.map(([id, value]) =>
      asn1.create(U, asn1.Type.SET, true, [seq([oid(id), asn1.create(U, asn1.Type.UTF8, false, forge.util.encodeUtf8(value))])]),
    ),
  );
}

/** Re-inflate DER bytes (a Name, an SPKI) into a forge node so it can be nested verbatim. */
export function fromDerExact(der: Buffer): Asn1 {
  // decodeBitStrings: false keeps BIT STRINGs as raw bytes, so re-encoding reproduces the input.
  return asn1.fromDer(bin(der), { decodeBitStrings: false } as unknown as boolean);
}

/** The SubjectPublicKeyInfo of a key (public or private), as a forge node. */
export function publicKeyInfo(key: KeyObject): Asn1 {
  return fromDerExact(spkiDer(key));
}

function spkiDer(key: KeyObject): Buffer {
  // createPublicKey derives the public half of a private KeyObject.
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function subjectKeyId(spki: Asn1): Buffer {
  const bits = (spki.value as Asn1[])[1];
  if (!bits || typeof bits.value !== 'string') throw new Error('malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(Buffer.from(bits.value, 'binary').subarray(1)).digest();
}

/** 16 random bytes, positive and minimally encoded (CA/B Forum asks for ≥ 64 bits of entropy). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  if (b[0] === 0) b[0] = 1; // a leading 0x00 before a byte < 0x80 is not minimal DER
  return b;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function encodeTime(d: Date): Asn1 {
  return d.getUTCFullYear() < 2050
    ? asn1.create(U, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function decodeTime(node: Asn1): Date {
  const v = node.value as string;
  return node.type === asn1.Type.UTCTIME ? asn1.utcTimeToDate(v) : asn1.generalizedTimeToDate(v);
}

/** What {@link buildCertificate} needs. `issuer` and `subject` are forge nodes (see {@link fromDerExact}). */
export interface CertificateSpec {
  readonly serial: Buffer;
  readonly issuer: Asn1;
  readonly subject: Asn1;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Asn1;
  readonly extensions: Asn1[];
  readonly signer: KeyObject;
  readonly scheme: SignatureScheme;
}

/**
 * Build a v3 certificate: assemble the TBSCertificate with forge's ASN.1, sign its DER with
 * `crypto.sign` (native; ECDSA signatures come out DER-encoded as X.509 wants), wrap.
 *
 * @returns the certificate DER.
 */
export function buildCertificate(spec: CertificateSpec): Buffer {
  const sigAlg = seq(spec.scheme.nullParams ? [oid(spec.scheme.oid), asn1.create(U, asn1.Type.NULL, false, '')] : [oid(spec.scheme.oid)]);
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [int(2)]), // v3
    asn1.create(U, asn1.Type.INTEGER, false, bin(spec.serial)),
    sigAlg,
    spec.issuer,
    seq([encodeTime(spec.notBefore), encodeTime(spec.notAfter)]),
    spec.subject,
    spec.spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(spec.extensions)]),
  ]);
  const tbsBytes = asn1.toDer(tbs).getBytes();
  const signature = sign(spec.scheme.hash, Buffer.from(tbsBytes, 'binary'), spec.signer);
  const cert = seq([tbs, sigAlg, asn1.create(U, asn1.Type.BITSTRING, false, '\x00' + bin(signature))]);
  return Buffer.from(asn1.toDer(cert).getBytes(), 'binary');
}

/** DER bytes of a forge node. */
export function toDerBytes(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** PEM armour for certificate DER. */
export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** The TBSCertificate fields Warden reads back. */
interface TbsFields {
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: ReadonlyMap<string, { critical: boolean; value: Buffer }>;
}

function readTbs(der: Buffer): TbsFields {
  const cert = fromDerExact(der);
  const tbs = (cert.value as Asn1[])[0];
  if (!tbs || !Array.isArray(tbs.value)) throw new Error('malformed certificate');
  const f = tbs.value;
  const hasVersion = f[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC && f[0].type === 0;
  const base = hasVersion ? 1 : 0;
  const validity = f[base + 3];
  const subject = f[base + 4];
  if (!validity || !subject || !Array.isArray(validity.value)) throw new Error('malformed certificate');
  const [nb, na] = validity.value;
  if (!nb || !na) throw new Error('malformed certificate validity');

  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  for (const node of f.slice(base + 6)) {
    if (node.tagClass !== asn1.Class.CONTEXT_SPECIFIC || node.type !== 3 || !Array.isArray(node.value)) continue;
    const list = node.value[0];
    if (!list || !Array.isArray(list.value)) continue;
    for (const ext of list.value) {
      if (!Array.isArray(ext.value)) continue;
      const [idNode, second, third] = ext.value;
      if (!idNode) continue;
      const critical = third !== undefined && second?.type === asn1.Type.BOOLEAN && second.value === '\xff';
      const valueNode = third ?? second;
      if (!valueNode) continue;
      extensions.set(asn1.derToOid(idNode.value as string), { critical, value: Buffer.from(valueNode.value as string, 'binary') });
    }
  }
  return {
    subjectDer: Buffer.from(asn1.toDer(subject).getBytes(), 'binary'),
    notBefore: decodeTime(nb),
    notAfter: decodeTime(na),
    extensions,
  };
}

/**
 * The extensions of a certificate (DER), by OID, with each extnValue's DER. Used by tests and
 * by {@link parseCa}; node's `X509Certificate` does not expose keyUsage bits.
 */
export function certificateExtensions(der: Buffer): ReadonlyMap<string, { critical: boolean; value: Buffer }> {
  return readTbs(der).extensions;
}

function addYears(d: Date, years: number): Date {
  const r = new Date(d.getTime());
  r.setUTCFullYear(r.getUTCFullYear() + years);
  return r;
}
