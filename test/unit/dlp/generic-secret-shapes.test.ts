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
/** Short passwords (6-9 characters) where the shape names a password: a tool's option, .netrc, .pgpass, a connection string. */
const SHORT = 'S3cret!x';
/** A value past the 512 characters a pattern reads (640 characters), and one holding the other quote. */
const LONG = 'Qw7rT2xk9Lm4vB8nZ1'.repeat(36).slice(0, 640);
const LONG_QUOTED = `Qw7r"${LONG.slice(5)}`;

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
  // 5. The value before its sibling name (session 16)
  ['env entry, value before name (JSON in prose)', `the task has "environment": [{"value": "${S}", "name": "DB_PASSWORD"}] set`, S],
  ['env list, value before name (YAML)', `env:\n  - value: ${S}\n    name: DB_PASSWORD\n  - value: info\n    name: LOG_LEVEL\n`, S],
  ['.NET appSettings, value before key', `<add value="${S}" key="DbPassword" />`, S],
  // 6. Named XML values and CDATA
  ['Java properties XML entry', `<properties>\n  <entry key="db.user">app</entry>\n  <entry key="db.password">${S}</entry>\n</properties>`, S],
  ['Java properties XML entry with a value attribute', `<entry key="db.password" value="${S}"/>`, S],
  ['Spring property named password', `<property name="password" value="${S}"/>`, S],
  ['Hadoop property (name, then value)', `<property>\n  <name>fs.s3a.secret.key</name>\n  <value>${S}</value>\n</property>`, S],
  ['Hadoop property on one line', `<property><name>javax.jdo.option.ConnectionPassword</name><value>${S}</value></property>`, S],
  ['property list key and string', `<dict>\n\t<key>Password</key>\n\t<string>${S}</string>\n</dict>`, S],
  ['XML element in CDATA', `<password><![CDATA[${S}]]></password>`, S],
  ['XML element in CDATA holding < and &', '<password><![CDATA[Qw7r<T2&xk9Lm4vB8n]]></password>', 'Qw7r<T2&xk9Lm4vB8n'],
  ['Java properties XML entry in CDATA', `<entry key="password"><![CDATA[${S}]]></entry>`, S],
  // 7. Short passwords given to a tool known to take one (6-9 characters)
  ['mysql -p attached, 7 characters', 'mysql -u root -pS3cret! appdb', 'S3cret!'],
  ['mysql -p attached, 11 characters', 'mysql -u root -pS3cret!xy1z appdb', 'S3cret!xy1z'],
  ['sshpass -p, 8 characters', 'sshpass -p hunter22 ssh deploy@build-host', 'hunter22'],
  ['redis-cli -a, 8 characters', 'redis-cli -h cache.internal -a pa55word ping', 'pa55word'],
  ['docker login -p, 8 characters', `docker login -u ci -p ${SHORT} registry.example.com`, SHORT],
  ['--password, 8 characters', `mongodump --username admin --password ${SHORT} --out /backup`, SHORT],
  ['htpasswd -b, 8 characters', `htpasswd -b /etc/nginx/.htpasswd admin ${SHORT}`, SHORT],
  // 8. Values past 512 characters
  ['a long value in an XML element', `<password>${LONG}</password>`, LONG],
  ['a long value in CDATA', `<secret><![CDATA[${LONG}]]></secret>`, LONG],
  ['a long quoted value holding the other quote', `password: '${LONG_QUOTED}'`, LONG_QUOTED],
  ['a long quoted sibling value', `- name: DB_PASSWORD\n  value: '${LONG_QUOTED}'`, LONG_QUOTED],
  ['a long quoted sibling value, value first', `{"value": '${LONG_QUOTED}', "name": "API_TOKEN"}`, LONG_QUOTED],
  ['a long quoted command option', `sshpass -p '${LONG_QUOTED}' ssh deploy@host`, LONG_QUOTED],
  ['a long quoted long option', `./migrate --db-password '${LONG_QUOTED}' up`, LONG_QUOTED],
  // 9. .netrc, .pgpass, connection strings
  ['.netrc on one line', `machine api.example.com login ci password ${S}`, S],
  ['.netrc on several lines, short password', `machine git.example.com\n  login deploy\n  password ${SHORT}\n`, SHORT],
  ['.pgpass, short password', `localhost:5432:*:postgres:${SHORT}\n`, SHORT],
  ['.pgpass among other lines', `# ~/.pgpass\n*:*:*:readonly:$PGPASS_RO\ndb.example.com:*:app:app:${S}\n`, S],
  ['ADO.NET connection string, short password', `Server=db;Database=app;User Id=sa;Password=${SHORT};`, SHORT],
  ['ODBC connection string, braced password', 'Driver={ODBC Driver 18 for SQL Server};Server=db;Uid=sa;Pwd={Qw7r;T2x}}k9Lm4};', 'Qw7r;T2x}}k9Lm4'],
  ['JDBC URL, short password in the query', `jdbc:postgresql://db.internal/app?user=app&password=${SHORT}&ssl=true`, SHORT],
  ['JDBC SQL Server URL, short password', `jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=${SHORT};`, SHORT],
];

/** Whole-body JSON: the key sits in a sibling member, or the value holds a space or a quote. */
const jsonCases: Array<[name: string, body: unknown, secret: string]> = [
  ['Kubernetes env list (JSON)', { spec: { containers: [{ name: 'app', env: [{ name: 'DB_PASSWORD', value: S }, { name: 'PORT', value: '8080' }] }] } }, S],
  ['ECS environment (JSON)', { containerDefinitions: [{ environment: [{ name: 'STRIPE_SECRET', value: S }] }] }, S],
  ['CloudFormation parameters (JSON)', [{ ParameterKey: 'DbPassword', ParameterValue: S }], S],
  ['sibling key as "Key"/"Value"', { settings: [{ Key: 'ApiToken', Value: S }] }, S],
  ['passphrase under a password key', { user: 'ada', password: PHRASE }, PHRASE],
  ['a quote inside a password value', { password: QUOTED }, QUOTED],
  ['env list, value before name (JSON)', { spec: { containers: [{ env: [{ value: S, name: 'DB_PASSWORD' }, { value: '8080', name: 'PORT' }] }] } }, S],
  ['CloudFormation parameters, value first (JSON)', [{ ParameterValue: S, ParameterKey: 'DbPassword' }], S],
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
