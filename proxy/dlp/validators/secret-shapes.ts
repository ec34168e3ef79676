/**
 * Generic secrets written without `key=value` (red team, session 14, F5; session 16): the key is
 * an XML element or entry, a sibling member (before or after the value), a command option, a
 * `.netrc` or `.pgpass` field, a connection string's; the value may be quoted, in CDATA, or longer
 * than the 512 characters a pattern reads. Each names its secret by the key-name rule
 * (secretKeyName) and judges the value by the generic rule (genericValueVerdict; passphraseVerdict
 * for one holding spaces), or, where the shape itself says "this is a password" (a tool's password
 * option, `.netrc`, `.pgpass`, a connection string), by shortPasswordVerdict for 6-9 characters.
 * The span is the value alone, inside any quotes or CDATA. secrets.yaml holds the patterns;
 * generic-secret-fp.test.ts the clean texts they must not flag.
 */
import { isPlaceholder } from '../entropy.js';
import {
  ASSIGNED_VALUE_CHAR, MAX_VALUE_CHARS, genericValueVerdict, isDummyPassword, keyWords, passphraseVerdict, secretKeyName, wholeValue,
} from './secrets.js';
import { ACCEPT, type Validator, type ValidatorInput, type Verdict } from './types.js';

/** How many characters of a value the rule reads (the `{1,512}` of bare values in the patterns). */
const PATTERN_VALUE_CHARS = 512;

/**
 * The shortest password counted where the shape names it one (`mysql -pS3cret!`, `sshpass -p
 * hunter22`, `.netrc`, `.pgpass`, `Password=…;` in a connection string): the generic rule wants
 * 10 characters because a key name alone (`token: …`) says less. Chosen from a scan of ~400 MiB of
 * real files (node_modules, /usr/share/doc, man pages, Python's library): no 6-9 character value
 * in these shapes there passed the rule below except documentation's own, which are logged.
 */
export const MIN_SHORT_PASSWORD = 6;

/** `<word><digits>` passwords documentation writes (`password1`, `admin123`, `secret!`): logged, not redacted. */
const DOC_PASSWORD = /^(?:pass(?:word|wd)?|p[a@]ssw[o0]rd|secret|admin|root|test|user|demo|guest|qwerty|abc|letmein|welcome|mysql|postgres|redis|oracle|sa)[-_.!@#]?(?:\d{1,4}|12345\d*)?[!#]?$/i;

/**
 * A password of MIN_SHORT_PASSWORD to 9 characters, where the shape says it is one: not a
 * placeholder or variable (`$PASS`, `${X}`, `<password>`, `****`, `xxxxxx`, `changeme`), letters
 * and something else (a digit or a symbol: a word is a database name or a prompt's argument, a
 * number a port) but not words and their punctuation, at least 4 distinct characters, no space,
 * not an address. Documentation's `password1` is low.
 */
export function shortPasswordVerdict(v: string, anyLength = false): Verdict | null {
  if (v.length < MIN_SHORT_PASSWORD || (v.length >= 10 && !anyLength) || /\s/.test(v)) return null;
  if (isPlaceholder(v) || /^[$%<[{(*]/.test(v) || /\$[{(\w]/.test(v) || /x{3}|\*{3}|\.{3}/i.test(v)) return null;
  if (!/[A-Za-z]/.test(v) || !/[^A-Za-z]/.test(v) || new Set(v).size < 4) return null;
  // Words and their punctuation (`--password options.`, `(-r),`, `--passwd USER-ID`), an address
  // (`.netrc`'s `default login anonymous password user@site`).
  if (/^[(\[]?[A-Za-z]+(?:[-_.][A-Za-z]+)*[)\].,:;!?]*$/.test(v) || /^[\w.+-]+@[\w.-]+$/.test(v)) return null;
  if (/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(v)) return null; // a constant's name
  if (isDummyPassword(v) || DOC_PASSWORD.test(v)) return { confidence: 'low' };
  return ACCEPT;
}

/**
 * A value the shape names a password: the generic rule (valueVerdict), or shortPasswordVerdict's
 * for 6-9 characters; one of 10 or 11 characters, which the generic rule logs for its length
 * (`mysql -pS3cret!x2y`), is judged as a short one would be, so a longer value never counts less.
 */
function passwordVerdict(key: string, value: string): Verdict | null {
  const generic = valueVerdict(key, value);
  if (generic !== null && generic.confidence !== 'low') return generic;
  if (value.length >= 12) return generic;
  return (generic !== null ? shortPasswordVerdict(value, true) : shortPasswordVerdict(value)) ?? generic;
}

/** genericValueVerdict, or passphraseVerdict for a value holding whitespace. */
function valueVerdict(key: string, value: string): Verdict | null {
  return /\s/.test(value.trim()) ? passphraseVerdict(key, value) : genericValueVerdict(value);
}

/**
 * The inside of a quoted value at `[start, end)`: `undefined` when it is not quoted, null when its
 * quote does not close, unless it runs PATTERN_VALUE_CHARS or more to the end of its line (a paste
 * cut short: a credential's start is still one). The patterns read a quoted value unbounded
 * (`"[^"\r\n]+"?`): a `{1,512}` counter there made RE2 step ~512 states per character while it
 * extracted the groups of each long match (~100 ms per 256 KiB of `password: '…600 characters`).
 */
function quotedInner(text: string, start: number, end: number): { start: number; end: number } | null | undefined {
  const q = text[start] ?? '';
  if (q !== '"' && q !== "'" && q !== '`') return undefined;
  if (end - start >= 2 && text[end - 1] === q) return { start: start + 1, end: end - 1 };
  return end - start - 1 < PATTERN_VALUE_CHARS ? null : { start: start + 1, end };
}

/**
 * The verdict for the value `[s, e)` (quotes already dropped), moved to it without the spaces
 * around it. The rule reads its first PATTERN_VALUE_CHARS characters, as a pattern would; the span
 * is the whole value, cut at MAX_VALUE_CHARS, past which it blocks (as wholeValue does).
 */
function rangeVerdict(text: string, key: string, s: number, e: number, short: boolean): Verdict | null {
  while (s < e && /\s/.test(text[s] as string)) s++;
  while (e > s && /\s/.test(text[e - 1] as string)) e--;
  const value = text.slice(s, Math.min(e, s + PATTERN_VALUE_CHARS));
  const verdict = short ? passwordVerdict(key, value) : valueVerdict(key, value);
  if (verdict === null) return null;
  return e - s >= MAX_VALUE_CHARS ? { ...verdict, start: s, end: s + MAX_VALUE_CHARS, action: 'block' } : { ...verdict, start: s, end: e };
}

/**
 * The verdict for the span `[start, end)`: a quoted value's inside (followed to its closing quote
 * when the pattern cut it), or a bare value followed to its end over `valueChar` (wholeValue).
 * `short`: the shape names the value a password (shortPasswordVerdict).
 */
function spanVerdict(c: ValidatorInput, key: string, start: number, end: number, valueChar: RegExp, short = false): Verdict | null {
  const inner = quotedInner(c.text, start, end);
  if (inner === null) return null;
  if (inner !== undefined) return rangeVerdict(c.text, key, inner.start, inner.end, short);
  const moved = rangeVerdict(c.text, key, start, end, short);
  // A bare value the pattern cut at 512 characters is followed to its end (wholeValue).
  return moved === null ? null : wholeValue({ ...c, start: moved.start ?? start, end: moved.end ?? end }, valueChar, moved);
}

/**
 * A quoted value after a secret key (`password: 'Qw7r"T2…'`, `password = "correct horse battery
 * staple"`): group 1 the key, group 2 the value with its quotes. The span is the inside of the
 * quotes, whatever other quote or spaces it holds.
 */
export const genericQuotedSecret: Validator = (c) => {
  const key = c.groups[1] ?? '';
  if (!secretKeyName(key)) return null;
  const q = quotedInner(c.text, c.start, c.end);
  if (q === null || q === undefined) return null;
  const inner = c.text.slice(q.start, Math.min(q.end, q.start + PATTERN_VALUE_CHARS)).trim();
  if (/\s/.test(inner)) {
    // Two strings in a list (`['never a secret', 'blob Zf3… end']`) are no key and its passphrase.
    if (c.text.slice(c.matchStart + key.length, c.start).includes(',')) return null;
  } else if (!/^[^;,<>(){}[\]\\]+$/.test(inner)) {
    // Without spaces, the characters generic_secret_assignment takes and the other quote: what it
    // leaves are code (`'headers["x-api-key"]'`, `",Y),U&&f("`) and parameter lists (`m=256,t=1`).
    return null;
  }
  return rangeVerdict(c.text, key, q.start, q.end, false);
};

/** Where a CDATA section's value stops: its end, the next section's start, or the end of the line. */
const CDATA_END = /\]\]>|<!\[CDATA\[|[\r\n]/g;
const CDATA_OPEN = '<![CDATA[';

/**
 * An element's text whose start the pattern matched at `[c.start, c.end)`: a CDATA section's
 * inside (the search is native and stops where the next section would start, so sections one
 * after another cost their length once), or the text itself. `after`: where the closing tag
 * should follow.
 */
function elementText(c: ValidatorInput): { start: number; end: number; after: number } | null {
  if (c.value.startsWith(CDATA_OPEN)) {
    const s = c.start + CDATA_OPEN.length;
    CDATA_END.lastIndex = s;
    const m = CDATA_END.exec(c.text);
    if (m === null || m[0] !== ']]>') return null;
    return { start: s, end: m.index, after: m.index + 3 };
  }
  return { start: c.start, end: c.end, after: c.end };
}

/**
 * The verdict for an element's text (elementText) named `key`, when the closing tag that follows
 * it names one of `closing` (lower case).
 */
function elementVerdict(c: ValidatorInput, key: string, closing: readonly string[]): Verdict | null {
  const t = elementText(c);
  if (t === null) return null;
  const close = /^[ \t\r\n]*<\/([\w.:-]+)/.exec(c.text.slice(t.after, t.after + 120));
  if (close === null || !closing.includes((close[1] ?? '').toLowerCase())) return null;
  let { start, end } = t;
  while (start < end && /\s/.test(c.text[start] as string)) start++;
  while (end > start && /\s/.test(c.text[end - 1] as string)) end--;
  const quoted = end - start >= 2 && /["']/.test(c.text[start] as string) && c.text[end - 1] === c.text[start];
  return quoted ? rangeVerdict(c.text, key, start + 1, end - 1, false) : rangeVerdict(c.text, key, start, end, false);
}

/**
 * An element named like a secret (`<password>…</password>`, `<cfg:dbPassword type="string">…`,
 * `<password><![CDATA[…]]></password>`): group 1 the element name, group 2 its text (or a CDATA
 * section's opening); the closing tag must name the same element.
 */
export const genericSecretElement: Validator = (c) => {
  const name = c.groups[1] ?? '';
  if (!secretKeyName(name.slice(name.lastIndexOf(':') + 1))) return null;
  return elementVerdict(c, name, [name.toLowerCase()]);
};

/**
 * A value element after the element that names it: Hadoop's `<property><name>fs.s3a.secret.key
 * </name><value>…</value>`, a property list's `<key>Password</key><string>…</string>` (groups 1
 * and 2: the name and the value element), and Java's properties XML `<entry key="db.password">…
 * </entry>` (group 3 the name). The last group is the value's text, as above.
 */
export const genericNamedElement: Validator = (c) => {
  const key = c.groups[1] ?? c.groups[3] ?? '';
  if (!secretKeyName(key)) return null;
  return elementVerdict(c, key, [(c.groups[2] ?? 'entry').toLowerCase()]);
};

/**
 * A value whose key is a sibling's value: `- name: DB_PASSWORD⏎ value: …` (Kubernetes, compose),
 * `{"name": "DB_PASSWORD", "value": "…"}` in text, `<add key="DbPassword" value="…"/>`. Group 1
 * the name, group 2 the value with any quotes.
 */
export const genericSiblingSecret: Validator = (c) => {
  const key = c.groups[1] ?? '';
  if (!secretKeyName(key)) return null;
  return spanVerdict(c, key, c.start, c.end, ASSIGNED_VALUE_CHAR);
};

/**
 * The same with the value first (`{"value": "…", "name": "DB_PASSWORD"}`, `- value: …⏎ name:
 * DB_PASSWORD`): group 1 the value with any quotes, group 2 the name.
 */
export const genericSiblingValueFirst: Validator = (c) => {
  const key = c.groups[2] ?? '';
  if (!secretKeyName(key)) return null;
  return spanVerdict(c, key, c.start, c.end, ASSIGNED_VALUE_CHAR);
};

/** What a command-line value runs over when unquoted. */
const COMMAND_VALUE_CHAR = /[^\s"'`|;&<>]/;
/** Last words of a long option that names a password (`--db-password`), not a token or a key. */
const PASSWORD_OPTION_WORD = /^(?:pass(?:word|wd|phrase)?|pwd)$/;

/**
 * A password given to a tool known to take one as an option (`mysql -pX`, `sshpass -p X`,
 * `docker login -p X`, `--password X`; see secrets.yaml): the last group is the value, with any
 * quotes. A long option (group 1 set) must name a secret by the key-name rule (`--db-password`,
 * not `--password-file`). A short option, or a long one naming a password, takes 6-9 characters
 * too (shortPasswordVerdict); `--token X` wants the generic rule's 10.
 */
export const commandPassword: Validator = (c) => {
  const option = c.groups.length > 2 ? c.groups[1] : undefined;
  if (option !== undefined && !secretKeyName(option)) return null;
  if (c.value.startsWith('-')) return null;
  const words = option === undefined ? [] : keyWords(option);
  const short = option === undefined || PASSWORD_OPTION_WORD.test(words[words.length - 1] ?? '');
  return spanVerdict(c, option ?? 'password', c.start, c.end, COMMAND_VALUE_CHAR, short);
};

/** `htpasswd` with `-b` (the password on the command line): its arguments are `[file] user password`. */
const HTPASSWD = /^htpasswd((?:[ \t]+-[A-Za-z]+(?:[ \t]+\d{1,3})?)+)[ \t]+(\S+)[ \t]+(\S+)(?:[ \t]+(\S+))?/d;

/** `htpasswd -b[c|n|B…] [file] user password` (the pattern is the whole command, group 0). */
export const htpasswdBatch: Validator = (c) => {
  const m = HTPASSWD.exec(c.value);
  if (m === null || m.indices === undefined) return null;
  const flags = (m[1] ?? '').replace(/[ \t]+\d+/g, '');
  if (!/-[A-Za-z]*b/.test(flags)) return null;
  const at = m.indices[/-[A-Za-z]*n/.test(flags) ? 3 : 4];
  if (at === undefined) return null;
  return spanVerdict(c, 'password', c.start + at[0], c.start + at[1], COMMAND_VALUE_CHAR, true);
};

/** `.netrc`: `machine HOST login USER password VALUE` (group 1 the value, with any quotes). */
export const netrcPassword: Validator = (c) => spanVerdict(c, 'password', c.start, c.end, /\S/, true);

/**
 * `.pgpass`: `host:port:database:user:password` on a line of its own (group 1 the host, the last
 * group the password). A host holds a letter, a dot or is `*`: `12:30:45:10:UTC+01` is a time.
 */
export const pgpassPassword: Validator = (c) => {
  if (!/[A-Za-z.*/]/.test(c.groups[1] ?? '')) return null;
  return spanVerdict(c, 'password', c.start, c.end, /\S/, true);
};

/**
 * Other keys of a connection string (ADO.NET, ODBC, libpq's key=value form): with one of them
 * around a short `Password=…`, the string is a connection string and the value its password.
 */
const CONNECTION_KEY = /(?:^|[;\s"'])(?:server|data[ \t]?source|host|hostaddr|address|addr|user[ \t]?id|uid|database|initial[ \t]?catalog|dbname|driver|dsn|provider)[ \t]*=/i;

/** A Python / .NET format field's inside: an argument's name or index, then attributes, a conversion or a format spec. */
const FORMAT_FIELD = /^(?:\d+|[A-Za-z_]\w*)(?:(?:\.[A-Za-z_]\w*|\[\w+\])+(?:![rsa])?(?::[^{}]*)?|![rsa](?::[^{}]*)?|:[^{}]*)$|^\d+$/;

/**
 * `Password=…` / `Pwd=…` in a connection string (`Server=db;User Id=sa;Password=…;`, ODBC's
 * `Pwd={…}`, a JDBC URL's `;password=…` or `&password=…`): group 1 the key, group 2 the value.
 * Ten characters or more: the generic rule. Fewer: shortPasswordVerdict, when the line holds
 * `jdbc:` or another connection key within 300 characters on its line (a bare `?password=abc123`
 * in a URL is documentation's as often as not).
 */
export const connectionStringPassword: Validator = (c) => {
  const key = c.groups[1] ?? '';
  if (!secretKeyName(key)) return null;
  let s = c.start;
  let e = c.end;
  if (c.text[s] === '{' && c.text[e - 1] === '}' && e - s > 2) {
    // ODBC's braces, unless a format field (`{0.password!r}`, `{password:>8}`, `{self.pwd}`).
    if (FORMAT_FIELD.test(c.text.slice(s + 1, e - 1))) return null;
    s++;
    e--;
  } else if (/[&?]/.test(c.text[c.matchStart] ?? '')) {
    // A URL's query: the value ends at the next parameter.
    const amp = c.text.slice(s, e).indexOf('&');
    if (amp >= 0) e = s + amp;
  }
  const generic = rangeVerdict(c.text, key, s, e, false);
  if (generic !== null && generic.confidence !== 'low') return generic;
  // 300 characters either side, within the line (sliced first: a search of the whole text from
  // each of many candidates on one long line would be quadratic).
  const before = c.text.slice(Math.max(0, c.matchStart - 300), c.matchStart + 1);
  const after = c.text.slice(e, e + 300);
  const around = `${before.slice(before.lastIndexOf('\n') + 1)} ${after.split('\n', 1)[0] ?? ''}`;
  if (!/jdbc:/i.test(around) && !CONNECTION_KEY.test(around)) return generic;
  return rangeVerdict(c.text, key, s, e, true) ?? generic;
};
