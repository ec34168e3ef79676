/**
 * Leaf certificates for intercepted hosts: node-forge's ASN.1 builds the X.509 structure,
 * `crypto.sign` signs it with the CA key (~1 ms with ECDSA P-256; see test/bench/leaf-bench.ts).
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { BACKDATE_MS } from './ca.js';
import { KU, OID, buildCertificate, ctx, derToPem, encodeName, extension, fromDerExact, keyUsageBits, octets, oid, publicKeyInfo, randomSerial, seq, subjectKeyId, toDerBytes } from './x509.js';
import type { CertificateAuthority } from './ca.js';

/**
 * Leaf lifetime. Short on purpose: the CA/Browser Forum's ballot SC-081 (2025) brings public
 * TLS certificates down to 47 days, Apple clients refuse server certificates valid for more than
 * 825 days even from private roots, and a short life bounds how long a leaked leaf (whose key is
 * shared, see {@link LeafKey}) stays useful. Leaves are minted on demand, so nothing is lost.
 * mockttp uses 45 days and mitmproxy 199; 30 days stays clear of every client limit.
 */
export const LEAF_VALIDITY_MS = 30 * 24 * 3600 * 1000;

/** X.520 ub-common-name: a CN longer than this is invalid; the SAN carries the full name. */
const MAX_CN_LENGTH = 64;

/**
 * The key pair shared by every leaf Warden mints. One ECDSA P-256 key per process, as mitmproxy
 * and mockttp do. This is acceptable because the leaf key never leaves this process's memory,
 * and the CA key that signs every leaf sits in the same memory: a separate key per host would
 * add no isolation against anyone able to read it. A new process makes a new key. Sharing it
 * saves a key generation per host and lets every SecureContext reuse one parsed key.
 */
export interface LeafKey {
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM of `privateKey`, for `tls.createSecureContext({ key })`. */
  readonly privateKeyPem: string;
  /** DER of the SubjectPublicKeyInfo, placed in every leaf. */
  readonly spkiDer: Buffer;
  /** Subject key identifier of the leaf key. */
  readonly keyId: Buffer;
}

/** Make a new leaf key pair (ECDSA P-256). Most callers want {@link processLeafKey}. */
export function createLeafKey(privateKey?: KeyObject): LeafKey {
  const key = privateKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const spki = publicKeyInfo(key);
  return {
    privateKey: key,
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spkiDer: toDerBytes(spki),
    keyId: subjectKeyId(spki),
  };
}

let processKey: LeafKey | undefined;

/** The process-wide leaf key ({@link LeafKey} says why one key is shared), made on first use. */
export function processLeafKey(): LeafKey {
  return (processKey ??= createLeafKey());
}

/** A host name normalised for a certificate: DNS name or IP address. */
export type CertName =
  | { readonly kind: 'dns'; readonly name: string }
  | { readonly kind: 'ip'; readonly name: string; readonly bytes: Buffer };

const LABEL = /^[a-z0-9_-]{1,63}$/;

/**
 * Normalise a host name for a certificate and the cert cache: lowercase, one trailing dot and
 * IPv6 brackets removed; IP literals (v4, v6, v4-mapped v6) become IP names.
 *
 * Untrusted input (the TLS SNI or the CONNECT host). Throws an `Error` for anything that is not
 * a plausible DNS name (labels of `[a-z0-9_-]`, 1–63 characters, 253 in total) or IP literal.
 * `*.` as the whole first label is accepted only with `allowWildcard` (test fixtures); a client
 * never legitimately sends a wildcard in SNI.
 */
export function normalizeCertName(host: string, allowWildcard = false): CertName {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const family = isIP(h);
  if (family === 4) return { kind: 'ip', name: h, bytes: ipv4Bytes(h) };
  if (family === 6) {
    if (h.includes('%')) throw new Error(`IPv6 address with a zone cannot be named in a certificate: ${quote(host)}`);
    return { kind: 'ip', name: h, bytes: ipv6Bytes(h) };
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  const labels = h.split('.');
  const ok =
    h.length > 0 &&
    h.length <= 253 &&
    labels.every((l, i) => LABEL.test(l) || (allowWildcard && i === 0 && l === '*' && labels.length > 1));
  if (!ok) throw new Error(`not a valid host name for a certificate: ${quote(host)}`);
  return { kind: 'dns', name: h };
}

/** Options for {@link issueCertificate}. */
export interface IssueOptions {
  /** Default: now minus one hour (sandbox clocks that run behind still accept the leaf). */
  readonly notBefore?: Date;
  /** Default: now plus {@link LEAF_VALIDITY_MS}, but never past the CA's own `notAfter`. */
  readonly notAfter?: Date;
  /** Accept `*.example.com` names (test fixtures only). */
  readonly allowWildcard?: boolean;
  /** Clock, for tests. */
  readonly now?: Date;
}

/**
 * Issue a server certificate for `names` (DNS names and IP literals; the first is also the CN)
 * to `key`, signed by `ca`: SAN, EKU serverAuth, keyUsage digitalSignature (critical),
 * basicConstraints cA=false (critical), subject and authority key identifiers, random 16-byte
 * serial. Throws for invalid names (see {@link normalizeCertName}) or a CA that has expired.
 */
export function issueCertificate(
  ca: CertificateAuthority,
  names: readonly string[],
  key: LeafKey,
  opts: IssueOptions = {},
): { certPem: string; notAfter: Date } {
  if (names.length === 0) throw new Error('a certificate needs at least one name');
  const parsed = names.map((n) => normalizeCertName(n, opts.allowWildcard));
  const nowMs = (opts.now ?? new Date()).getTime();
  const notBefore = truncateToSecond(opts.notBefore ?? new Date(nowMs - BACKDATE_MS));
  // A leaf outliving its CA would be rejected by clients anyway; cap it so the cache TTL that
  // follows notAfter also refreshes in time.
  const notAfter = truncateToSecond(opts.notAfter ?? new Date(Math.min(nowMs + LEAF_VALIDITY_MS, ca.notAfter.getTime())));
  if (notAfter.getTime() <= nowMs && opts.notAfter === undefined) {
    throw new Error(`the CA (${ca.subject}) expired on ${ca.notAfter.toISOString()}; cannot issue leaves`);
  }
  const first = parsed[0]!;
  const der = buildCertificate({
    serial: randomSerial(),
    issuer: fromDerExact(ca.subjectDer),
    subject: encodeName([[OID.commonName, first.name.slice(0, MAX_CN_LENGTH)]]),
    notBefore,
    notAfter,
    spki: fromDerExact(key.spkiDer),
    extensions: [
      extension(OID.basicConstraints, true, seq([])), // cA DEFAULT FALSE: DER encodes it as empty
      extension(OID.keyUsage, true, keyUsageBits(KU.digitalSignature)),
      extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth)])),
      extension(
        OID.subjectAltName,
        false,
        seq(parsed.map((n) => (n.kind === 'dns' ? ctx(2, n.name) : ctx(7, n.bytes)))), // dNSName [2], iPAddress [7]
      ),
      extension(OID.subjectKeyIdentifier, false, octets(key.keyId)),
      extension(OID.authorityKeyIdentifier, false, seq([ctx(0, ca.keyId)])),
    ],
    signer: ca.keyObject,
    scheme: ca.scheme,
  });
  return { certPem: derToPem(der), notAfter };
}

/**
 * Mint the interception leaf for one host (DNS name, or IP literal → IP SAN), signed by `ca`,
 * for the shared `leafKey`. CN is the host truncated to 64 characters; the SAN has it in full.
 * Valid from one hour ago for {@link LEAF_VALIDITY_MS} (capped at the CA's expiry).
 *
 * Untrusted input: `hostname` comes from SNI or CONNECT; throws an `Error` when it is not a
 * valid host name. Takes about 1 ms with an ECDSA P-256 CA.
 */
export function mintLeaf(
  ca: CertificateAuthority,
  hostname: string,
  leafKey: LeafKey,
): { certPem: string; notAfter: Date } {
  return issueCertificate(ca, [hostname], leafKey);
}

// ---------------------------------------------------------------------------------------------

function truncateToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map((p) => Number(p)));
}

/** 16 bytes of an IPv6 literal already validated by `net.isIP` (`::`, embedded IPv4 allowed). */
export function ipv6Bytes(ip: string): Buffer {
  let groups: number[];
  const parseHalf = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const v4 = ipv4Bytes(part);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const dbl = ip.indexOf('::');
  if (dbl >= 0) {
    const head = parseHalf(ip.slice(0, dbl));
    const tail = parseHalf(ip.slice(dbl + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = parseHalf(ip);
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 100 ? s.slice(0, 100) + '…' : s);
}
