/**
 * Generic secrets written without `key=value` (red team, session 14, F5): XML elements and
 * attributes, command lines whose tool takes a password as an option, Kubernetes / compose env
 * lists whose key is in a sibling `name` field, and quoted values that hold a quote or a space.
 * Each shape goes through inspect() with the shipped packs, as a plain-text body and as chat
 * content, and the whole value, and only it, must be redacted; the fast path and the group
 * prefilter must agree with the full path. The clean counterparts are in generic-secret-fp.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { InspectRequest, InspectResult } from '../../../proxy/dlp/types.js';
import { cleanChatBody, policy, request } from './inspect-helpers.js';

const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: real.packNames });
const fast = createDlpEngine(real);
const full = createDlpEngine(real, { fastPath: false, groupPrefilter: false });

/** Synthetic values (random characters), never real credentials. */
const S = 'Qw7rT2xk9Lm4vB8n';
const PHRASE = 'correct horse battery staple';
const QUOTED = 'Qw7r"T2xk9Lm';
const R = '[REDACTED:generic_secret]';

/** [name, text, the secret in it]: the output must be the text with exactly that value replaced. */
const cases: Array<[name: string, text: string, secret: string]> = [
  // 1. XML / HTML-ish elements and attributes
  ['XML element <password>', `<password>${S}</password>`, S],
  ['XML element <secret> with spaces around the value', `<secret>  ${S}  </secret>`, S],
  ['Maven settings.xml server password', `<settings>\n  <servers>\n    <server>\n      <id>nexus</id>\n      <username>deploy</username>\n      <password>${S}</password>\n    </server>\n  </servers>\n</settings>`, S],
  ['XML element with a namespace prefix and attributes', `<cfg:dbPassword type="string">${S}</cfg:dbPassword>`, S],
  ['.NET app.config appSettings', `<appSettings>\n  <add key="DbPassword" value="${S}" />\n</appSettings>`, S],
  ['Spring XML property', `<property name="db.password" value="${S}"/>`, S],
  // 2. Command lines
  ['mysql -p attached', `mysql -u root -p${S} appdb`, S],
  ['mysql -p attached, quoted', `mysql -h db.internal -uroot -p'${S}' -e "show tables"`, S],
  ['mysqldump -p attached', `mysqldump -u backup -p${S} --all-databases > dump.sql`, S],
  ['mariadb -p attached', `mariadb --user=app -p"${S}" app`, S],
  ['--password with a space', `mongodump --username admin --password ${S} --out /backup`, S],
  ['--db-password with a space, quoted', `./migrate --db-password "${S}" up`, S],
  ['sshpass -p quoted', `sshpass -p '${S}' ssh deploy@build-host uptime`, S],
  ['sshpass -p attached', `sshpass -p${S} scp file.tgz host:/tmp`, S],
  ['docker login -p', `docker login -u ci-bot -p ${S} registry.example.com`, S],
  ['podman login -p after the registry', `podman login quay.io --username robot -p ${S}`, S],
  ['htpasswd -b with a file', `htpasswd -b /etc/nginx/.htpasswd admin ${S}`, S],
  ['htpasswd -nbB without a file', `htpasswd -nbB admin '${S}' > users`, S],
  ['redis-cli -a', `redis-cli -h cache.internal -a ${S} ping`, S],
  ['sqlcmd -P', `sqlcmd -S tcp:db,1433 -U sa -P ${S} -Q "SELECT 1"`, S],
  ['ldapsearch -w', `ldapsearch -x -D "cn=admin,dc=example,dc=org" -w ${S} -b dc=example,dc=org`, S],
  ['openssl -passin pass:', `openssl pkcs12 -in cert.p12 -passin pass:${S} -nokeys`, S],
  ['keytool -storepass', `keytool -list -keystore app.jks -storepass ${S}`, S],
  // 3. Env lists: the key is in a sibling field
  ['Kubernetes env list (YAML)', `env:\n  - name: DB_PASSWORD\n    value: ${S}\n  - name: LOG_LEVEL\n    value: info\n`, S],
  ['Kubernetes env list (YAML), quoted value', `        - name: "API_TOKEN"\n          value: "${S}"`, S],
  ['compose / flow-style env entry', `env: [{name: DB_PASSWORD, value: ${S}}]`, S],
  ['ECS task definition (JSON in prose)', `the task has "environment": [{"name": "DB_PASSWORD", "value": "${S}"}] set`, S],
  ['CloudFormation parameters (JSON in prose)', `params: [{"ParameterKey": "DbPassword", "ParameterValue": "${S}"}]`, S],
  // 4. Values that hold a space or a quote
  ['passphrase in double quotes', `password = "${PHRASE}"`, PHRASE],
  ['passphrase in single quotes (YAML)', `db:\n  password: '${PHRASE}'\n`, PHRASE],
  ['a double quote inside single quotes', `password: '${QUOTED}'`, QUOTED],
  ['a single quote inside double quotes', `DB_PASSWORD="Qw7r'T2xk9Lm"`, "Qw7r'T2xk9Lm"],
  ['passphrase in an XML element', `<password>${PHRASE}</password>`, PHRASE],
];

/** Whole-body JSON: the key sits in a sibling member, or the value holds a space or a quote. */
const jsonCases: Array<[name: string, body: unknown, secret: string]> = [
  ['Kubernetes env list (JSON)', { spec: { containers: [{ name: 'app', env: [{ name: 'DB_PASSWORD', value: S }, { name: 'PORT', value: '8080' }] }] } }, S],
  ['ECS environment (JSON)', { containerDefinitions: [{ environment: [{ name: 'STRIPE_SECRET', value: S }] }] }, S],
  ['CloudFormation parameters (JSON)', [{ ParameterKey: 'DbPassword', ParameterValue: S }], S],
  ['sibling key as "Key"/"Value"', { settings: [{ Key: 'ApiToken', Value: S }] }, S],
  ['passphrase under a password key', { user: 'ada', password: PHRASE }, PHRASE],
  ['a quote inside a password value', { password: QUOTED }, QUOTED],
  ['env list in tool-call arguments', { messages: [{ role: 'assistant', tool_calls: [{ function: { name: 'apply', arguments: JSON.stringify({ env: [{ name: 'DB_PASSWORD', value: S }] }) } }] }] }, S],
];

function redacted(r: InspectResult): string {
  return r.body === null ? '(unchanged)' : r.body.toString('utf8');
}

/** The inspected output with the synthetic secret masked, for assertion messages. */
function shown(out: string, secret: string): string {
  return out.split(secret).join('<secret>');
}

function check(name: string, req: InspectRequest, want: string, secret: string): void {
  const r = full.inspect(req, pol);
  const out = redacted(r);
  assert.deepEqual(r.findings.map((f) => f.type), ['generic_secret'], `${name}: ${shown(out, secret)}`);
  assert.ok(out === want, `${name}: ${shown(out, secret)}`);
  const f = fast.inspect(req, pol);
  assert.ok(redacted(f) === want, `${name}, fast path: ${shown(redacted(f), secret)}`);
}

for (const [name, text, secret] of cases) {
  test(`generic secret, ${name}: the whole value is redacted (text body)`, () => {
    check(name, request(text, { 'content-type': 'text/plain' }), text.split(secret).join(R), secret);
  });
  test(`generic secret, ${name}: the whole value is redacted (chat content)`, () => {
    const chat = JSON.parse(cleanChatBody(8 * 1024, 7).toString('utf8')) as { messages: unknown[] };
    chat.messages.push({ role: 'user', content: `here is my setup:\n${text}\nwhat is wrong?` });
    const body = JSON.stringify(chat);
    check(name, request(body), body.split(JSON.stringify(secret).slice(1, -1)).join(R), secret);
  });
}

for (const [name, value, secret] of jsonCases) {
  test(`generic secret, ${name}: the whole value is redacted (JSON body)`, () => {
    const body = JSON.stringify(value);
    check(name, request(body), body.split(JSON.stringify(secret).slice(1, -1)).join(R), secret);
  });
}
