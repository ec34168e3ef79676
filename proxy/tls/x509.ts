/**
 * A small DER / X.509 toolkit over node-forge's ASN.1 module: the structures of Warden's CA and
 * leaf certificates (tls/ca.ts, tls/leaf.ts). Signing is not here: certificates are signed with
 * `node:crypto` by the callers.
 */
import { createHash, createPublicKey, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Forge from 'node-forge';
import type { SignatureScheme } from './ca.js';

// node-forge is CommonJS typed with `export =`; with esModuleInterop off (tsconfig.json) a
// default import does not type-check, and a namespace import may miss its lazily attached
// members at run time, so load it with require. Only the two modules this file uses: the
// package's index loads all of forge (its TLS, PKI and ciphers), 1.4 MiB more live heap and
// ~55 ms more at every start of the CLI.
const requireForge = createRequire(import.meta.url);
const asn1 = requireForge('node-forge/lib/asn1') as typeof Forge.asn1;
const forgeUtil = requireForge('node-forge/lib/util') as typeof Forge.util;
export type Asn1 = Forge.asn1.Asn1;

// forge represents byte strings as binary JS strings.

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
export function isCaConstraint(extnValue: Buffer): boolean {
  const first = (fromDerExact(extnValue).value as Asn1[])[0];
  return first?.type === asn1.Type.BOOLEAN && first.value !== '\x00';
}

/** The contents of a DER OCTET STRING. */
export function readOctetString(der: Buffer): Buffer {
  return Buffer.from(asn1.fromDer(bin(der)).value as string, 'binary');
}

/** A Name of single-valued RDNs, each value a UTF8String (RFC 5280 §4.1.2.4). */
export function encodeName(attrs: ReadonlyArray<readonly [oid: string, value: string]>): Asn1 {
  return seq(
    attrs.map(([id, value]) =>
      asn1.create(U, asn1.Type.SET, true, [seq([oid(id), asn1.create(U, asn1.Type.UTF8, false, forgeUtil.encodeUtf8(value))])]),
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

export function spkiDer(key: KeyObject): Buffer {
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
export function encodeTime(d: Date): Asn1 {
  return d.getUTCFullYear() < 2050
    ? asn1.create(U, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

export function decodeTime(node: Asn1): Date {
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
export interface TbsFields {
  readonly subjectDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: ReadonlyMap<string, { critical: boolean; value: Buffer }>;
}

export function readTbs(der: Buffer): TbsFields {
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

