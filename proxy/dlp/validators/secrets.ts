/**
 * Secret validators: vendor checksums and structure (GitHub/npm CRC32, JWT, PEM blocks),
 * AWS pairing, HTTP credentials, and the key-name-driven generic secret. Entropy and the
 * placeholder filter are applied by the engine from the pack (`min_entropy`, `placeholder`).
 */
import { prefixedCrc32Valid } from '../checksums.js';
import { isPlaceholder, shannonEntropy } from '../entropy.js';
import { TLDS } from '../tlds.js';
import { readPemBlock, unarmoredPrivateKey } from './pem-block.js';
import { ACCEPT, type Validator, type ValidatorInput, type Verdict } from './types.js';

/** Classic GitHub tokens carry a CRC32 checksum: pass → high/block, fail → medium/redact. */
export const githubToken: Validator = (c) => {
  if (c.value.startsWith('github_pat_')) return ACCEPT;
  if (/^gh[pousr]_[A-Za-z0-9]{36}$/.test(c.value)) {
    return prefixedCrc32Valid(c.value, 4) ? { confidence: 'high' } : { confidence: 'medium', action: 'redact' };
  }
  return { confidence: 'medium', action: 'redact' };
};

/** npm automation/publish tokens use the same CRC32 scheme as GitHub. */
export const npmToken: Validator = (c) =>
  prefixedCrc32Valid(c.value, 4) ? { confidence: 'high' } : { confidence: 'medium', action: 'redact' };

/** Stripe: live/prod keys block; `sk_test_`/`rk_test_` are redacted (medium). */
export const stripeKey: Validator = (c) =>
  /^[rs]k_test_/.test(c.value) ? { confidence: 'medium', action: 'redact' } : ACCEPT;

/** AWS key id: real ids are base32 (`[A-Z2-7]`); other digits are accepted at medium. */
export const awsKeyId: Validator = (c) =>
  /^[A-Z]{4}[A-Z2-7]{16}$/.test(c.value) ? ACCEPT : { confidence: 'medium', action: 'redact' };

const AWS_ID_NEAR = /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/;

/** A bare 40-character AWS secret counts only within 300 characters after a key id. */
export const awsSecretNearId: Validator = (c) => {
  const window = c.text.slice(Math.max(0, c.start - 300), c.start);
  if (!AWS_ID_NEAR.test(window)) return null;
  if (!/[A-Z]/.test(c.value) || !/[a-z]/.test(c.value) || !/\d/.test(c.value)) return null;
  return ACCEPT;
};

/** Requires at least one digit, one upper and one lower case letter (`s.` vault tokens, ids). */
export const mixedCase: Validator = (c) =>
  /\d/.test(c.value) && /[A-Z]/.test(c.value) && /[a-z]/.test(c.value) ? ACCEPT : null;

/** Requires at least one digit and one letter. */
export const hasDigit: Validator = (c) => (/\d/.test(c.value) && /[A-Za-z]/.test(c.value) ? ACCEPT : null);

/** Public sample keys from Google's Firebase documentation, shipped in countless apps. */
const FIREBASE_SAMPLES = new Set([
  'AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs', 'AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM',
  'AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU', 'AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0',
  'AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A', 'AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c',
  'AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4', 'AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY',
  'AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM', 'AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ',
  'AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g', 'AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU',
  'AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw', 'AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE',
  'AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY',
]);

/** Google API key: not a Firebase documentation sample, not an alphabet run. */
export const googleApiKey: Validator = (c) => {
  if (FIREBASE_SAMPLES.has(c.value)) return null;
  if (/abcdefghij|bcdefghijk|0123456789/.test(c.value)) return null;
  return ACCEPT;
};

function b64urlDecode(s: string): string | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  return Buffer.from(s, 'base64url').toString('latin1');
}

/**
 * JWT: the header decodes to a JSON object naming `alg` or `typ` (tolerating the mangled
 * fixtures of public suites: a prefix that parses is enough), the payload to a JSON object.
 */
export const jwt: Validator = (c) => {
  const parts = c.value.split('.');
  if (parts.length !== 3) return null;
  const header = b64urlDecode(parts[0] ?? '');
  const payload = b64urlDecode(parts[1] ?? '');
  if (header === null || payload === null) return null;
  if (!/^\{\s*"/.test(header) || !/"(?:alg|typ|kid|x5t)"/.test(header)) return null;
  if (!payload.startsWith('{')) return null;
  return ACCEPT;
};

/** An encrypted JWT (RFC 7516 compact form): five parts, a JSON header naming `alg` and `enc`. */
export const jwe: Validator = (c) => {
  const parts = c.value.split('.');
  if (parts.length !== 5) return null;
  const header = b64urlDecode(parts[0] ?? '');
  if (header === null || !/^\{\s*"/.test(header) || !/"alg"/.test(header) || !/"enc"/.test(header)) return null;
  return ACCEPT;
};

/**
 * 64 base64 characters are 48 bytes: an Ed25519 or X25519 PKCS#8 key, the smallest private key
 * openssl writes (`openssl genpkey -algorithm ed25519`), and gitleaks' threshold for a body.
 */
const MIN_KEY_CHARS = 64;
/**
 * Part of a key counts from 256 base64 characters (192 bytes, four PEM lines). Documentation
 * shows a key's first line or two and `...`; those lines of an RSA key are its DER header and the
 * start of the public modulus, and the private fields start ~360 characters in. An EC key, whose
 * secret comes early, is shorter than that whole (164 characters for P-256) and counts complete.
 */
const MIN_PARTIAL_KEY_CHARS = 256;

/**
 * PEM private key (the pattern matches the BEGIN line; pem-block.ts reads the block after it).
 * - A whole block, BEGIN to END, without a placeholder mark counts when its body has ≥ 64 base64
 *   characters, whatever they decode to: public test suites' truncated keys count (gitleaks' rule).
 * - A block with a placeholder mark (`...`, `<`, `redacted`, `xxxxxxxx`), or without its END
 *   line, counts for the real key material in it, whatever else it holds: base64 lines that start
 *   with a key header (DER SEQUENCE, `openssh-key-v1`, an OpenPGP secret-key packet, or anything
 *   after `DEK-Info:`), either all the DER length the header declares (≥ 64 characters) or at
 *   least 256 characters of it. A real key with a `...` line before its END line, or pasted
 *   without its END line, is found; `<your key here>`, `...` and a doc's first line of a key are not.
 * The span runs to the END line, or, without one, to the end of the key material.
 */
export const privateKey: Validator = (c) => {
  if (!/^-----BEGIN/i.test(c.value)) return ACCEPT; // AGE / PuTTY forms are fixed-format
  const block = readPemBlock(c.text, c.start);
  if (block === null) return null;
  if (block.endLineEnd >= 0 && !block.placeholder) {
    return block.base64Chars >= MIN_KEY_CHARS ? { end: block.endLineEnd } : null;
  }
  const key = block.material;
  if (key === null || key.chars < MIN_KEY_CHARS) return null;
  const complete = key.derLength !== null && Math.floor((key.chars * 3) / 4) >= key.derLength;
  if (!complete && key.chars < MIN_PARTIAL_KEY_CHARS) return null;
  return { end: block.endLineEnd >= 0 ? block.endLineEnd : key.end };
};

/**
 * A private key as one run of base64, without PEM armour (pem-block.ts unarmoredPrivateKey):
 * whole (its decoded length reaches what its DER header declares), or at least
 * MIN_PARTIAL_KEY_CHARS of it, as for a PEM block cut short; an OpenSSH key of MIN_KEY_CHARS.
 */
export const privateKeyDer: Validator = (c) => {
  const derLength = unarmoredPrivateKey(c.value);
  if (derLength === undefined) return null;
  const chars = c.value.replace(/=+$/, '').length;
  if (derLength === null) return chars >= MIN_KEY_CHARS ? ACCEPT : null;
  return Math.floor((chars * 3) / 4) >= derLength || chars >= MIN_PARTIAL_KEY_CHARS ? ACCEPT : null;
};

/** Passwords that documentation uses for "a password goes here". */
const DUMMY_PASSWORDS = new Set([
  'password', 'pass', 'passwd', 'pwd', 'token', 'secret', 'test', 'xxx', 'yyy', 'changeme', 'pass123',
  'username', 'user', 'apikey', 'api_key', 'key', 'foo', 'bar', 'foobar',
]);

/** Whether `pass` is one of the passwords documentation uses for "a password goes here". */
export function isDummyPassword(pass: string): boolean {
  return DUMMY_PASSWORDS.has(pass.toLowerCase());
}

function plausibleCredential(pass: string, user: string | null): boolean {
  if (pass.length === 0 || isPlaceholder(pass)) return false;
  if (/^[$%<[{(]/.test(pass) && !/^\{[A-Za-z0-9]+\}$/.test(pass)) return false;
  if (DUMMY_PASSWORDS.has(pass.toLowerCase())) return false;
  if (user !== null && pass === user) return false;
  return true;
}

/** `scheme://user:pass@host`: report the password unless it is a template; dummies are low. */
export const passwordInUrl: Validator = (c) => {
  const v = c.value;
  if (v.length === 0 || isPlaceholder(v) || /^[$<{[]/.test(v) || /^(?:x+|\*+|\.+)$/i.test(v)) return null;
  if (/^(?:password|guest|pass|secret|root|admin)$/i.test(v)) return { confidence: 'low' };
  return ACCEPT;
};

/**
 * `curl -u user:pass` / `--user`: report the password part exactly as written. `token:` with
 * an empty password is an API-token convention (Stripe, Mailgun), so the user part is reported.
 */
export const curlUser: Validator = (c) => {
  const raw = c.value;
  let user: string;
  let pass: string;
  let passOffset: number;
  const quotedPair = /^(["'])([^"']*)\1:(["'])([^"']*)\3$/.exec(raw);
  const unq = (s: string): [string, number] => (/^(["']).*\1$/.test(s) && s.length >= 2 ? [s.slice(1, -1), 1] : [s, 0]);
  if (quotedPair !== null) {
    user = quotedPair[2] ?? '';
    pass = quotedPair[4] ?? '';
    passOffset = raw.length - 1 - pass.length;
  } else {
    const [inner, q] = unq(raw);
    const colon = inner.indexOf(':');
    if (colon < 0) return null;
    user = inner.slice(0, colon);
    const [p, pq] = unq(inner.slice(colon + 1));
    pass = p;
    passOffset = q + colon + 1 + pq;
    if (user.startsWith('-')) return null;
    if (pass.length === 0 && q === 1) {
      // "token:" form: the credential is the user part.
      pass = user;
      user = '';
      passOffset = q;
    }
  }
  if (!plausibleCredential(pass, user === '' ? null : user)) return null;
  if (user !== '' && (isPlaceholder(user) || /^[$<{[]/.test(user)) && !/^\{[\w-]+\}$/.test(user)) return null;
  return { start: c.start + passOffset, end: c.start + passOffset + pass.length };
};

/**
 * Authorization header value. Basic must base64-decode to printable `user:pass`; other
 * schemes need a non-template value with some entropy (gitleaks uses 2.75).
 */
export const httpAuth: Validator = (c) => {
  const scheme = (c.groups[1] ?? '').toLowerCase();
  const v = c.value;
  if (isPlaceholder(v) || /^[$<{[(*.]/.test(v) || /^x+$/i.test(v)) return null;
  if (scheme === 'basic') {
    if (!/^[A-Za-z0-9+/]+=*$/.test(v)) return null;
    const decoded = Buffer.from(v, 'base64').toString('latin1');
    const printable = decoded.replace(/[^\x20-\x7e]/g, '').length >= decoded.length * 0.9;
    return printable && decoded.indexOf(':') > 0 ? ACCEPT : null;
  }
  if (shannonEntropy(v) < 2.75) return null;
  return ACCEPT;
};

/** Key names that make a value a secret (DLP.md §2.2 generic_secret (a)). */
export const SECRET_KEY = /(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|client[_.-]?secret|auth|credentials?|signing[_.-]?key)/i;

/**
 * Key names that look secret-ish but hold non-secrets, read word by word (camelCase, `_`, `-`,
 * `.`): a word anywhere that makes the whole name a non-secret (`csrf_token`, `public_key`,
 * `authenticity_token`), or a last word that names something about the secret rather than the
 * secret itself (`token_url`, `password_hint`, `auth_method`, `secret_name`). Read as substrings
 * anywhere, as first written, these words excluded `account_password` (`count`),
 * `shared_secret` (`sha`), `VAULT_TOKEN`, `authorizationToken` (`author`), `one_time_password`
 * (`time`) and more (red team, session 14).
 */
const NON_SECRET_WORDS = new Set(['public', 'publishable', 'csrf', 'xsrf', 'authenticity', 'author', 'authors', 'mechanism', 'placeholder']);
const NON_SECRET_LAST_WORDS = new Set([
  'id', 'ids', 'url', 'urls', 'uri', 'uris', 'name', 'names', 'length', 'len', 'size', 'version', 'type', 'types', 'file',
  'filename', 'path', 'format', 'mode', 'method', 'methods', 'endpoint', 'header', 'prefix', 'ttl', 'timeout', 'count',
  'enabled', 'required', 'policy', 'scope', 'scopes', 'issuer', 'audience', 'algorithm', 'alg', 'provider', 'accessor',
  'variable', 'var', 'label', 'hint', 'field', 'column', 'description', 'at', 'date', 'time', 'hash', 'checksum',
  'digest', 'sha', 'sha1', 'sha256', 'md5', 'location', 'source', 'min', 'max', 'strength', 'rotation', 'ref',
]);

/** The words of a key name, lower case: `authorizationToken` → authorization, token. */
export function keyWords(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 0);
}

/** Whether `key` names a secret: it holds a secret word (SECRET_KEY) and is not excluded above. */
export function secretKeyName(key: string): boolean {
  if (!SECRET_KEY.test(key)) return false;
  let words = keyWords(key);
  // `pass` inside another word: a test log's `Passed:`, `bypass`, `passport`, `compass`.
  if (words.some((w) => PASS_WORDS.has(w))) {
    words = words.filter((w) => !PASS_WORDS.has(w));
    if (!SECRET_KEY.test(words.join('_'))) return false;
  }
  const last = words[words.length - 1] ?? '';
  if (words.some((w) => NON_SECRET_WORDS.has(w)) || NON_SECRET_LAST_WORDS.has(last) || last.startsWith('expir')) return false;
  // Where secrets are kept, not one of them: `keyVaultToStoreSecrets`, `secrets_manager_secrets`.
  return !(COLLECTIONS.has(last) && words.some((w) => CONTAINER_WORDS.has(w)));
}
const COLLECTIONS = new Set(['secrets', 'tokens', 'keys', 'passwords', 'credentials']);
/** Words that hold `pass` but name no password (a test runner's `Passed: t/x.java`, `bypass_cache`). */
const PASS_WORDS = new Set([
  'passed', 'passes', 'passing', 'bypass', 'bypassed', 'compass', 'encompass', 'surpass', 'passport', 'passports',
  'passenger', 'passengers', 'passage', 'passthrough', 'passthru', 'passive', 'passover',
]);
const CONTAINER_WORDS = new Set(['vault', 'store', 'manager', 'to', 'for']);

/**
 * Generic secret (key-name driven): the key (group 1, or the view key) is secret-ish and not
 * excluded, and the value looks like a credential: not a placeholder, not a word, not a
 * hostname/URL/version, entropy > 3 and (a digit, or length ≥ 20).
 */
export const genericSecret: Validator = (c) => {
  const key = c.groups[1] ?? c.key ?? '';
  if (!secretKeyName(key)) return null;
  return wholeValue(c, ASSIGNED_VALUE_CHAR, genericValueVerdict(c.value));
};

/** The patterns read 512 characters of a value; how far past that the validators follow it. */
export const MAX_VALUE_CHARS = 1 << 20;
export const ASSIGNED_VALUE_CHAR = /[^\s"'`;,<>(){}[\]\\]/;

/**
 * `verdict` for a value the pattern cut at 512 characters, moved to the value's end (a key's
 * base64, a long token): it is redacted whole, never its first 512 characters only. Past
 * MAX_VALUE_CHARS, it blocks.
 */
export function wholeValue(c: ValidatorInput, valueChar: RegExp, verdict: Verdict | null): Verdict | null {
  if (verdict === null || !valueChar.test(c.text[c.end] ?? ' ')) return verdict;
  const limit = Math.min(c.text.length, c.start + MAX_VALUE_CHARS);
  // Candidates follow each other through one long value (`password=…password=…`, each match
  // 512 characters): what an earlier one walked is known to be value characters, so each
  // character is tested once per text, not once per candidate (3.0 s per 256 KiB before).
  const m = runMemo;
  const known = m.valueChar === valueChar && m.text === c.text && c.end >= m.from && c.end <= m.to;
  let end = Math.min(known ? m.to : c.end, limit);
  while (end < limit && valueChar.test(c.text[end] as string)) end++;
  m.text = c.text;
  m.valueChar = valueChar;
  m.from = known ? m.from : c.end;
  m.to = end;
  return end - c.start >= MAX_VALUE_CHARS ? { ...verdict, end, action: 'block' } : { ...verdict, end };
}

/** The last run wholeValue walked: [from, to) of `text` are all `valueChar` characters. */
const runMemo: { text: string; valueChar: RegExp | null; from: number; to: number } = { text: '', valueChar: null, from: 0, to: 0 };

/** A relative or absolute path whose last segment is a file name with a common extension. */
const FILE_PATH = /^(?:\.{0,2}\/)?(?:[\w.@+-]+\/)+[\w.@+-]*[\w-]\.(?:[cht]|cc|cpp|cxx|hpp|hh|m|mm|js|mjs|cjs|jsx|ts|mts|cts|tsx|py|pyi|rb|go|rs|java|kt|kts|scala|swift|cs|fs|php|pl|pm|sh|bash|zsh|ps1|lua|r|sql|json|ya?ml|toml|ini|cfg|conf|xml|html?|css|scss|md|rst|txt|log|lock|csv|svg|png|jpe?g|gif|pdf|in|am|ac|mk|cmake|gradle|proto|vue|svelte|ex|exs|erl|hs|ml|clj|dart|snap|spec)$/i;

/** The value half of the generic-secret rule, shared with key-only views. */
export function genericValueVerdict(v: string): Verdict | null {
  if (v.length < 10) return null;
  if (/&\w+=/.test(v)) return null; // a query string swallowed after `auth…=`
  if (isPlaceholder(v) || /^[$%<[{(]/.test(v)) return null;
  if (/^[A-Za-z]+$/.test(v) || /^[A-Za-z_]+$/.test(v)) return null;
  if (/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(v)) return null; // a constant's name (`DBUS_COOKIE_SHA1`)
  // Mostly outside ASCII: text in another script (a translated message), not a credential.
  if ((v.match(/[^\x00-\x7f]/g)?.length ?? 0) * 2 > v.length) return null;
  if (/^\d+$/.test(v) || /:\/\//.test(v) || /^(?:true|false|null|none|undefined)$/i.test(v)) return null;
  if (/\d+\.\d+\.\d+/.test(v) && !/[+/=]/.test(v)) return null; // versions, dotted ids
  // A file path or a test's id, as a test runner prints after `PASS:` (`PASS: t/io/open.t`,
  // `PASS: src/app.test.ts`, `tests/test_db.py::test_login`): no credential ends in a file name.
  if (FILE_PATH.test(v) || /\.[a-z]{1,5}::[A-Za-z_]/.test(v)) return null;
  // A reference in code, not a value: `password = process.env.DB_PASSWORD`, `settings.SECRET_KEY`,
  // `this.options.apiKey` (identifiers joined by dots; a token's parts carry digits).
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v) && (v.match(/\d/g)?.length ?? 0) <= 2) return null;
  if (/^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/i.test(v)) {
    const tld = v.slice(v.lastIndexOf('.') + 1).toLowerCase();
    if (TLDS.has(tld) || /^(?:pem|crt|cer|key|p12|json|yaml|yml|txt|png|jpg|js|ts)$/.test(tld)) return null;
  }
  if (/^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$/.test(v) && TLDS.has(v.slice(v.lastIndexOf('.') + 1).toLowerCase())) return null; // an email address, not a secret
  const h = shannonEntropy(v);
  if (h <= 3) return null;
  if (!/\d/.test(v) && v.length < 20) return null;
  // Short or low-entropy secrets are still worth a log line (hunter2), not a redaction.
  if (h < 3.5 || v.length < 12) return { confidence: 'low' };
  return ACCEPT;
}

/** Key-only view (`{"password": "…"}` walked by the pipeline): the whole value is the candidate. */
export const genericKeyedValue: Validator = (c) => {
  if (c.key === null || !secretKeyName(c.key)) return null;
  return genericValueVerdict(c.value);
};

/**
 * Last words of a key name under which a value may be a passphrase (words and spaces): a
 * password or a secret. A token or an API key never holds a space; a message about a password
 * (`password_error`, `password_too_short`) ends in another word.
 */
const PASSPHRASE_KEY = /^(?:pass(?:word|wd|phrase)?|pwd|secret)s?$/;
/**
 * Words that make a spaced value prose or a label rather than a passphrase: the word for
 * "password" in the languages UI strings are most often translated to (`Mot de passe`,
 * `Neues Passwort`), and the function words of instructions and messages (`Please enter your
 * password`, `the rotation job runs nightly`). Passphrases are a few random words (diceware,
 * xkcd's `correct horse battery staple`); one that happens to hold `the` is missed, which is the
 * price of not redacting every translated label.
 */
const PROSE_WORD = /^(?:pass\w*|pwd|secret\w*|token\w*|kennwort|contrase\w*|senha|wachtwoord|salasana|l[öo]senord|has[łl]o|parol\w*|mot|your|you|please|enter|must|should|will|can|is|are|be|not|no|the|this|that|these|with|for|from|of|to|and|or|an|a|at|in|on|by|it|its|de|le|la|du|des|der|die|das|und|el|los|las|por|para)$/i;

/**
 * A value holding spaces under a passphrase key (`password = "correct horse battery staple"`):
 * 3 to 12 words, 12 to 128 characters, no sentence punctuation, no word from PROSE_WORD, not a
 * placeholder. Accepted at medium confidence, whatever its entropy: it is a password by its key.
 */
export function passphraseVerdict(key: string, value: string): Verdict | null {
  const words = keyWords(key);
  if (!PASSPHRASE_KEY.test(words[words.length - 1] ?? '')) return null;
  const v = value.trim();
  if (v.length < 12 || v.length > 128 || isPlaceholder(v) || /^[$%<[{(]/.test(v)) return null;
  if (/[.!?;:,()[\]{}<>"`]/.test(v)) return null;
  const parts = v.split(/\s+/);
  if (parts.length < 3 || parts.length > 12) return null;
  if (parts.some((w) => PROSE_WORD.test(w))) return null;
  return ACCEPT;
}

/** Key-only view whose value holds spaces (`{"password": "correct horse battery staple"}`). */
export const genericKeyedPhrase: Validator = (c) => {
  if (c.key === null || !secretKeyName(c.key)) return null;
  const verdict = passphraseVerdict(c.key, c.value);
  return verdict === null ? null : { ...verdict, start: c.start + (c.value.length - c.value.trimStart().length), end: c.end - (c.value.length - c.value.trimEnd().length) };
};
