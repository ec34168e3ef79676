/**
 * False positives of the generic-secret shapes (red team, session 14, F5): texts that hold the
 * shapes generic-secret-shapes.test.ts finds secrets in (XML password elements, `-p` options,
 * env lists, quoted values with spaces) but no secret. A DLP that redacts these gets turned off,
 * so none may yield a generic secret above low confidence, through inspect() with the shipped
 * packs, as a text body and as chat content. `-p` is a password only for the tools known to take
 * one that way; everywhere else it is a port, a flag or a pattern.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { InspectRequest } from '../../../proxy/dlp/types.js';
import { policy, request } from './inspect-helpers.js';

const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: real.packNames });
const engine = createDlpEngine(real, { fastPath: false, groupPrefilter: false });

const clean: Array<[name: string, text: string]> = [
  // XML and HTML
  ['XML password placeholder', '<password>${DB_PASSWORD}</password>'],
  ['XML password placeholder in angle brackets', '<password>&lt;your-password&gt;</password>'],
  ['XML password: changeme', '<password>changeme</password>'],
  ['XML password: stars', '<password>********</password>'],
  ['XML password: xxxxxxxx', '<password>xxxxxxxx</password>'],
  ['XML password: empty', '<password></password>\n<password/>'],
  ['XML passwordPolicy', '<passwordPolicy>\n  <minLength>12</minLength>\n  <requireDigits>true</requireDigits>\n</passwordPolicy>'],
  ['XML passwordPolicy with a value', '<passwordPolicy>strict-2024-rotation</passwordPolicy>'],
  ['XML token endpoint and secret name', '<tokenEndpoint>https://login.example.com/oauth2/token</tokenEndpoint>\n<secretName>prod-db-credentials</secretName>'],
  ['Maven settings.xml with env placeholders', '<servers>\n  <server>\n    <id>central</id>\n    <username>${env.MAVEN_USER}</username>\n    <password>${env.MAVEN_PASSWORD}</password>\n  </server>\n</servers>'],
  ['Maven encrypted password', '<password>{COQLCE6DU6GtcS5P=}</password>'],
  ['HTML password input', '<label for="pw">Password</label>\n<input type="password" name="password" id="pw" autocomplete="current-password" placeholder="Enter your password">'],
  ['HTML prose about passwords', '<p>Your password must be at least 12 characters long.</p>\n<p>Forgot your <a href="/reset">password</a>?</p>'],
  ['.NET app.config with a placeholder', '<appSettings>\n  <add key="DbPassword" value="__DB_PASSWORD__" />\n  <add key="DbServer" value="sql01.corp.local" />\n  <add key="PasswordMinLength" value="12" />\n</appSettings>'],
  ['Spring XML property placeholder', '<property name="password" value="${jdbc.password}"/>\n<property name="passwordEncoder" ref="bcryptEncoder"/>'],
  ['Spring application.properties', 'spring.datasource.url=jdbc:postgresql://db:5432/app\nspring.datasource.username=app\nspring.datasource.password=${DB_PASSWORD}\nspring.security.oauth2.client.registration.github.client-secret=${GITHUB_CLIENT_SECRET}'],
  ['Spring application.yml', 'spring:\n  datasource:\n    password: ${DB_PASSWORD:changeme}\n    hikari:\n      maximum-pool-size: 10'],
  // Kubernetes and compose
  ['k8s env from a secretKeyRef', 'env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password\n  - name: API_TOKEN\n    valueFrom:\n      secretKeyRef: {name: api, key: token}'],
  ['k8s env with a variable value', 'env:\n  - name: DB_PASSWORD\n    value: $(DB_PASSWORD_FROM_VAULT)\n  - name: REDIS_PASSWORD\n    value: "${REDIS_PASSWORD}"'],
  ['k8s env of non-secret names', 'env:\n  - name: LOG_LEVEL\n    value: debug-verbose-2\n  - name: TOKEN_URL\n    value: https://auth.example.com/token\n  - name: PASSWORD_MIN_LENGTH\n    value: "12345678901"'],
  ['k8s env JSON form from a secretKeyRef', '{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}'],
  ['k8s Secret manifest with a reference', 'kind: Secret\nmetadata:\n  name: db-password\ntype: Opaque\nstringData:\n  password: <set-by-ci>'],
  ['compose file with variables', 'services:\n  db:\n    image: postgres:16\n    ports:\n      - "5432:5432"\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n      POSTGRES_USER: app'],
  // Shell and command lines
  ['mysql -p prompting', 'mysql -u root -p\nEnter password:'],
  ['mysql -p prompting, then the database', 'mysql -u root -p appdb < schema.sql'],
  ['mysql -P port', 'mysql -h 127.0.0.1 -P 3306 -u app -p'],
  ['mysql -p with a variable', 'mysql -u"$DB_USER" -p"$DB_PASS" "$DB_NAME"\nmysqldump -uroot -p${MYSQL_ROOT_PASSWORD} --all-databases'],
  ['mysql --password prompting', 'mysql --user=root --password appdb'],
  ['psql -p port', 'psql -h localhost -p 5432 -U postgres -d app'],
  ['redis-cli -p port', 'redis-cli -h 127.0.0.1 -p 6379 ping'],
  ['mongosh port option', 'mongosh --host localhost --port 27017 --username admin --authenticationDatabase admin'],
  ['--password-file and --password-stdin', 'echo "$REGISTRY_TOKEN" | docker login --username ci --password-stdin registry.example.com\nrestic --password-file /etc/restic/pass backup /srv'],
  ['docker run -p', 'docker run -d -p 8080:80 -p 127.0.0.1:5432:5432 --name web nginx:1.27'],
  ['docker compose -p project', 'docker compose -p myproject-staging up -d'],
  ['ssh -p', 'ssh -p 2222 deploy@bastion.example.com\nscp -P 2222 build.tgz deploy@bastion.example.com:/tmp'],
  ['tar, cp, mkdir -p', 'tar -pxzf backup-2024-06-01.tar.gz\ncp -p config.yaml config.yaml.bak\nmkdir -p /var/lib/app/data/2024'],
  ['grep -P', "grep -P '\\d{4}-\\d{2}-\\d{2}' app.log | head\ngrep -Po 'password=\\K\\S+' redacted.log"],
  ['kubectl port-forward -p', 'kubectl exec -it -p app-7d9f8b6c5-x2x4q -- sh\nkubectl port-forward svc/db 5432:5432'],
  ['git and npm flags', 'git add -p src/handler.ts\nnpm publish -p --access public'],
  ['sshpass -f and -e', 'sshpass -f ~/.ssh/pass.txt ssh host\nSSHPASS="$PASS" sshpass -e ssh host'],
  ['htpasswd prompting', 'htpasswd -c /etc/nginx/.htpasswd admin\nhtpasswd -B /etc/nginx/.htpasswd ops'],
  ['htpasswd -b with a variable', 'htpasswd -bB /etc/nginx/.htpasswd "$USER" "$PASSWORD"'],
  ['docker login prompting', 'docker login registry.example.com\ndocker login -u robot quay.io'],
  ['openssl -passin env and file', 'openssl rsa -in key.pem -passin env:KEY_PASS -out plain.pem\nopenssl pkcs12 -export -passout file:pass.txt -out bundle.p12'],
  ['keytool with a variable', 'keytool -importcert -keystore truststore.jks -storepass "$STOREPASS" -file ca.crt -noprompt'],
  ['sqlcmd -P variable', 'sqlcmd -S localhost -U sa -P "$SA_PASSWORD" -Q "SELECT @@VERSION"'],
  ['CLI help text', 'Options:\n  -p, --password <password>   Password to use when connecting to the server\n  --password-file <path>      Read the password from a file\n  -P, --port <port>           Port number (default: 3306)'],
  ['man page prose', '-p, --password[=password]\n    The password of the MySQL account used for connecting to the server. If you omit the\n    password value following the --password or -p option on the command line, mysql prompts for one.'],
  // Prose, README text and code
  ['README setup section', '## Setup\n\nSet `DB_PASSWORD` in your environment before starting the app. The password is read from\nthe environment at startup and never logged. Use a password manager to generate it.'],
  ['prose with quoted password advice', 'The error said "password is too short" and then "password must contain a digit".'],
  ['i18n strings', '{"login": {"password": "Password", "forgot_password": "Forgot your password?", "password_too_short": "Password is too short", "new_password": "Mot de passe oublié"}}'],
  ['i18n strings as YAML', 'fr:\n  password: "Mot de passe"\n  password_confirmation: "Confirmer le mot de passe"\n  secret_question: "Quel est le nom de votre premier animal ?"'],
  ['Python reads the password from env', 'import os\npassword = os.environ["DB_PASSWORD"]\nsecret = os.getenv("APP_SECRET", "")\nconn = psycopg2.connect(host=host, password=password)'],
  ['Node reads the password from env', 'const password = process.env.DB_PASSWORD;\nconst token = await getToken({ scope: "read write" });\nif (!password) throw new Error("DB_PASSWORD is not set");'],
  ['Go reads the password from env', 'password := os.Getenv("DB_PASSWORD")\nif password == "" {\n\tlog.Fatal("missing password")\n}'],
  ['code comparing passwords', 'if (password !== confirmPassword) setError("passwords do not match");\nconst passwordStrength = zxcvbn(password).score;'],
  ['log message about a password reset', 'INFO 2024-06-01 auth: password reset requested for user id=4821 (token sent by email)'],
  ['quoted sentence under a secret key', 'secret: "the rotation job runs nightly at two"'],
  ['quoted message under a password key', 'password_error = "Please enter a valid password"'],
  // Found by scanning ~186 MiB of real files (node_modules, /usr/share/doc and man pages, /etc,
  // Python packages) with the new patterns: each was a finding before a rule below was added.
  ['code references to secrets (node_modules)', 'const token = process.env.GITHUB_TOKEN,\n    PERSONAL_TOKEN = process.env.PERSONAL_TOKEN;\ngetPrivateKey: options.getPrivateKey,\nsnapshot.usage.cache_read_input_tokens = event.usage.cache_read_input_tokens;'],
  ['an auth mechanism element (dbus-daemon.1)', 'Example: <auth>EXTERNAL</auth>\nExample: <auth>DBUS_COOKIE_SHA1</auth>'],
  ['an index expression in a list of paths', "redact({ paths: ['headers.authorization', 'headers[\"x-api-key\"]'], censor: '[x]' })"],
  ['minified JS after a label string', 'createElement("span",{className:"label"},"stickyauth: ",Y),U&&qr.createElement("span",{})'],
  ['a table of test strings', "['entropy alone is never a secret', 'blob Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB end', 'generic_secret'],"],
  ['a translated hint under a numbered key', '"login_password_2": "请输入您的新密码至少8位并包含字母和数字",'],
  ['translated diagnostics', '"Parser_expected_to_find_a_1_to_match_the_0_token_here_1007": "分析器预期在此处找到与“{0}”标记匹配的“{1}”。",'],
  // Session 16: the value before its name, named XML values, CDATA, short passwords of tools,
  // .netrc, .pgpass and connection strings. The lines marked (real) are from the ~428 MiB scan
  // (node_modules, /usr/share/doc, man and info pages, Python and Perl libraries) that the rules
  // were tuned on: each was a finding of a first draft.
  ['env list, value first, with a variable and non-secret names', 'env:\n  - value: ${DB_PASSWORD}\n    name: DB_PASSWORD\n  - value: "8080"\n    name: PORT\n  - value: /run/secrets/db_password\n    name: DB_PASSWORD_FILE'],
  ['env entry, value first, JSON in prose', 'set [{"value": "debug-verbose-2", "name": "LOG_LEVEL"}, {"value": "https://auth.example.com/token", "name": "TOKEN_URL"}]'],
  ['node-forge CSR attributes (real)', "attributes: [{\n  name: 'challengePassword',\n  value: 'password'\n}, {\n  name: 'unstructuredName',\n  value: 'My Company, Inc.'\n}]"],
  ['Hadoop properties that are not secrets', '<property>\n  <name>hadoop.security.credential.provider.path</name>\n  <value>jceks://hdfs/user/app/creds.jceks</value>\n</property>\n<property><name>dfs.block.access.token.enable</name><value>true</value></property>\n<property><name>hadoop.http.authentication.type</name><value>kerberos</value></property>\n<property><name>javax.jdo.option.ConnectionPassword</name><value>${env.HIVE_DB_PASSWORD}</value></property>'],
  ['property list keys that are not secrets', '<key>PasswordMinLength</key>\n<integer>12</integer>\n<key>TokenType</key>\n<string>Bearer</string>\n<key>AuthenticationPolicy</key>\n<string>DeviceOwnerAuthenticationWithBiometrics</string>'],
  ['Java properties XML that are not secrets', '<entry key="password.min.length">12</entry>\n<entry key="auth.method">LDAP-simple-bind</entry>\n<entry key="db.password">${db.password}</entry>'],
  ['CDATA with placeholders and prose', '<password><![CDATA[${DB_PASSWORD}]]></password>\n<password><![CDATA[]]></password>\n<passwordHint><![CDATA[Your password must be 12 characters & hold a digit]]></passwordHint>'],
  ['mysql -p with a word or a number', 'docker exec -it db mysql -uroot -proot\nmysql -u root -pPASSWORD app\nmysql -u app -p\'<password>\' app'],
  ['short options with words and variables', 'sshpass -p toor ssh -p 2225 root@127.0.0.1\nredis-cli -a foobared ping\nsshpass -p "$SSH_PASS" ssh host\nredis-cli -a $$REDIS_PASSWORD --no-auth-warning\ndocker login -u ci -p ****** registry.example.com'],
  ['changelog prose about --password (real)', 'Add documentation for\n\tthe new --password options.\n\t* NEWS: Mention the new --ftp-user, --ftp-password, --user and\n\t--password options, the name changes\n\t--remove-password (-r), --restrict (-R)'],
  ['gnupg info metavariables (real)', "'--change-passphrase USER-ID'\n'--passwd USER-ID'\n     Change the passphrase of the secret key.\n'--passphrase STRING'\n     Use STRING as the passphrase."],
  ['.netrc examples from documentation (real)', 'machine example.com\nlogin daniel\npassword qwerty\n\nmachine example.org login apt password debian\ndefault login anonymous password user@site\nmachine host.domain.com login myself password secret'],
  ['.netrc with a variable, prose about a machine', 'machine api.example.com login ci password $NETRC_PASSWORD\nLog in to the machine with password S3cret!x to continue.'],
  ['.pgpass header, placeholders and look-alikes (real)', 'hostname:port:database:username:password\n*:*:*:postgres:$PGPASSWORD\nlocalhost:5432:*:postgres:changeme\n12:30:45:10:UTC+0100\n                    74:50:1c:d8:7d\n    19:5:12345#4:true!1:0#]'],
  ['format strings after password= (real)', "print(f\"password={password!r}\")\nr += '' if self.password is None else ', password={0.password!r}'.format(self)\nlog(\"password={pwd:>8}\")"],
  ['connection strings with placeholders, words, a URL query', 'Server=db;User Id=sa;Password=<password>;\nData Source=db;User ID=sa;Password=rootpass;\nServer=db;Database=app;Password={your_password};\nsee https://example.com/login?user=bob&password=abc123x'],
  // Test logs (session 16): `PASS:` is the key shape `pass: value`, and the value was a path.
  ['automake and TAP test logs', 'PASS: tests/test-base64.sh\nPASS: t/io/open.t\nPASS: src/app/server.test.ts\nFAIL: test/unit/dlp/x.test.js\nPASS: ./tests/run_all.py\nPASS: test/unit/dlp/inspect-fastpath.test.js\nPASS: src/components/Button.test.tsx'],
  ['pytest and JUnit summaries', 'PASS: tests/test_auth.py::test_login_with_password\nPassed: src/test/java/com/example/PasswordValidatorTest.java\nPasses: lib/passwd/check_passwords.rb'],
  ['words that hold pass', 'bypass_cache: Xk9mP2vLq7ZZab3\npassport_number: Xk9mP2vLq7ZZab3\ncompass-heading=Xk9mP2vLq7ZZab3\npassthrough_mode: Xk9mP2vLq7ZZab3'],
];

function body(kind: 'text' | 'chat', text: string): InspectRequest {
  return kind === 'text'
    ? request(text, { 'content-type': 'text/plain' })
    : request(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: text }] }));
}

for (const [name, text] of clean) {
  for (const kind of ['text', 'chat'] as const) {
    test(`no generic secret in ${name} (${kind})`, () => {
      const found = engine.inspect(body(kind, text), pol).findings
        .filter((f) => f.type === 'generic_secret' && f.action !== 'log')
        .map((f) => `${f.type}@${f.where}`);
      assert.deepEqual(found, []);
    });
  }
}

/** Not even logged: a format field after `password=` is code, not an ODBC `{…}` password. */
const unlogged: Array<[name: string, text: string]> = [
  ['Python format fields after password= (real)', "r += '' if self.password is None else ', password={0.password!r}'.format(self)\nprint(f\"password={password!r}\")\nlog(\"Server={host};pwd={self.pwd}\")"],
];

for (const [name, text] of unlogged) {
  test(`no generic secret, not even logged, in ${name}`, () => {
    const found = engine.inspect(body('text', text), pol).findings.filter((f) => f.type === 'generic_secret').map((f) => `${f.type}@${f.where}:${f.action}`);
    assert.deepEqual(found, []);
  });
}

/** The test-log rules above must not cost real findings: a `pass` key, a word beside one, a value with `/`. */
test('pass keys and slashed values still count (session 16 test-log rules)', () => {
  for (const text of ['DB_PASS: Xk9mP2vLq7ZZab3', 'bypass_password=Xk9mP2vLq7ZZab3', 'password: ab/cd/Xk9mP2vLq7ZZab3', 'passwd=Xk9mP2/vLq7ZZab3.jsx9']) {
    const found = engine.inspect(body('text', text), pol).findings.filter((f) => f.type === 'generic_secret' && f.action !== 'log');
    assert.equal(found.length, 1, text);
  }
});
