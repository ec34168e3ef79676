/**
 * Config pipeline: every broken shape names FILE:LINE:COL and the key path; valid configs
 * compile to frozen values with units parsed and hosts normalised.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileConfigText, ConfigError, formatIssue, issueAt } from '../../../proxy/config/load.js';
import { DEFAULT_CONFIG } from '../../../proxy/paths.js';
import { loadConfig } from '../../../proxy/config/load.js';
import { defaultDlpWorkers } from '../../../proxy/config/compile.js';
import { configWarnings, restartOnlyChanges } from '../../../proxy/config/reload.js';
import { DEFAULT_CERT_CACHE_MAX } from '../../../proxy/tls/cert-cache.js';

const OK_PROFILE = 'profiles:\n  default:\n    allow: [api.openai.com]\n';

function issues(yaml: string): string[] {
  try {
    compileConfigText(yaml, '/etc/warden/test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.issues.map(formatIssue);
  }
  return [];
}

// [name, yaml, expected line (FILE:LINE:COL path: message-fragment)]
const broken: Array<[string, string, RegExp]> = [
  ['unknown top-level key', `${OK_PROFILE}lisen: "127.0.0.1:8080"\n`, /^\/etc\/warden\/test\.yaml:4:1 lisen: unknown key "lisen"$/],
  ['unknown key in an allow entry', 'profiles:\n  default:\n    allow:\n      - api.openai.com\n      - { host: x.example.com, inspekt: false }\n', /:5:32 profiles\.default\.allow\[1\]\.inspekt: unknown key/],
  ['wildcard on a bare TLD', 'profiles:\n  default:\n    allow: ["*.com"]\n', /:3:13 profiles\.default\.allow\[0\]: .*/],
  ['wildcard in the middle', 'profiles:\n  default:\n    allow:\n      - { host: "a.*.example.com" }\n', /:4:17 profiles\.default\.allow\[0\]\.host: /],
  ['bad size', `${OK_PROFILE}    limits: { max_body: 10 parsecs }\n`, /profiles\.default\.limits\.max_body: invalid size/],
  ['bad rate', `${OK_PROFILE}    limits: { upload: "lots" }\n`, /profiles\.default\.limits\.upload: invalid rate/],
  ['bad mode', `${OK_PROFILE}mode: audit\n`, /:4:7 mode: /],
  ['keep-alive timeout without a unit word', `${OK_PROFILE}server: { keep_alive_timeout: soon }\n`, /^\/etc\/warden\/test\.yaml:4:31 server\.keep_alive_timeout: invalid duration "soon"/],
  ['keep-alive timeout of 0', `${OK_PROFILE}server:\n  keep_alive_timeout: 0s\n`, /^\/etc\/warden\/test\.yaml:5:23 server\.keep_alive_timeout: must be more than 0/],
  ['keep-alive timeout past a day', `${OK_PROFILE}server: { keep_alive_timeout: 2d }\n`, /:4:31 server\.keep_alive_timeout: must be at most 1d/],
  ['listen without port', `${OK_PROFILE}listen: "127.0.0.1"\n`, /:4:9 listen: expected "host:port"/],
  ['port 65536', `${OK_PROFILE}listen: "127.0.0.1:65536"\n`, /listen: expected "host:port"/],
  ['plaintext agent token', `${OK_PROFILE}agents:\n  - { id: a1, token: "s3cr3t-value", profile: default }\n`, /:5:15 agents\[0\]\.token: plaintext tokens are refused/],
  ['agent with unknown profile', `${OK_PROFILE}agents:\n  - { id: a1, token_sha256: "${'a'.repeat(64)}", profile: nope }\n`, /agents\[0\]\.profile: unknown profile "nope"/],
  ['short token digest', `${OK_PROFILE}agents:\n  - { id: a1, token_sha256: "abc" }\n`, /agents\[0\]\.token_sha256: must be 64 hex/],
  ['bad CIDR', `${OK_PROFILE}upstream:\n  allow_private: ["10.0.0.0/33"]\n`, /:5:19 upstream\.allow_private\[0\]: /],
  ['honeytoken with both forms', `${OK_PROFILE}honeytokens:\n  - { id: h1, value: x, sha256: "${'0'.repeat(64)}" }\n`, /honeytokens\[0\]: give exactly one of value or sha256/],
  ['honeytoken value too short', `${OK_PROFILE}honeytokens:\n  - { id: h1, value: ab }\n`, /:5:22 honeytokens\[0\]\.value: a honeytoken value needs at least 8 characters/],
  ['duplicate honeytoken id', `${OK_PROFILE}honeytokens:\n  - { id: h1, value: canary-one-1 }\n  - { id: h1, value: canary-two-2 }\n`, /:6:11 honeytokens\[1\]\.id: duplicate id "h1" \(also honeytokens\[0\]\)/],
  ['duplicate alert name', `${OK_PROFILE}alerts:\n  - { name: x, when: dlp_blocks, at_least: 2, within: 1m }\n  - { name: x, when: dlp_blocks, at_least: 3, within: 1m }\n`, /alerts\[1\]\.name: duplicate name "x"/],
  ['alert at_least 0', `${OK_PROFILE}alerts:\n  - { name: x, when: dlp_blocks, at_least: 0, within: 1m }\n`, /alerts\[0\]\.at_least: must be at least 1/],
  ['alert without threshold', `${OK_PROFILE}alerts:\n  - { name: x, when: dlp_blocks, within: 1m }\n`, /alerts\[0\]: give exactly one of over or at_least/],
  ['alert with a bad action', `${OK_PROFILE}alerts:\n  - { name: x, when: dlp_blocks, at_least: 2, within: 1m, action: "quarantine" }\n`, /alerts\[0\]\.action: expected "alert" or "block <duration>"/],
  ['no default profile', 'profiles:\n  other:\n    allow: [a.example.com]\n', /profiles: a "default" profile is required/],
  ['unknown DLP pack', `${OK_PROFILE}    dlp: { packs: [pii, nonsense] }\n`, /profiles\.default\.dlp\.packs\[1\]: unknown pack "nonsense"/],
  ['wrong type', `${OK_PROFILE}auth: true\n`, /:4:7 auth: /],
  ['YAML syntax error', 'profiles: [\n', /^\/etc\/warden\/test\.yaml:\d+:\d+ \(root\): YAML: /],
  ['duplicate key', `${OK_PROFILE}mode: enforce\nmode: report\n`, /YAML: .*[Dd]uplicate|unique/],
  ['negative DLP workers', `${OK_PROFILE}dlp: { workers: -1 }\n`, /:4:17 dlp\.workers: /],
  ['fractional DLP workers', `${OK_PROFILE}dlp: { workers: 1.5 }\n`, /:4:17 dlp\.workers: /],
  ['zero cached leaves', `${OK_PROFILE}server: { max_cached_leaves: 0 }\n`, /:4:30 server\.max_cached_leaves: /],
  ['fractional cached leaves', `${OK_PROFILE}server: { max_cached_leaves: 2.5 }\n`, /:4:30 server\.max_cached_leaves: /],
  ['path glob without slash', 'profiles:\n  default:\n    allow:\n      - { host: a.example.com, paths: ["v1/*"] }\n', /profiles\.default\.allow\[0\]\.paths\[0\]: a path glob starts with "\/"/],
];

for (const [name, yaml, expected] of broken) {
  test(`refused: ${name}`, () => {
    const got = issues(yaml);
    assert.ok(got.some((line) => expected.test(line)), `no issue matched ${expected}\n got:\n  ${got.join('\n  ')}`);
  });
}

test('a plaintext token is never echoed in the error', () => {
  const got = issues(`${OK_PROFILE}agents:\n  - { id: a1, token: "s3cr3t-value" }\n`);
  assert.ok(got.length > 0);
  assert.ok(!got.join('\n').includes('s3cr3t-value'));
});

test('every error is reported, not only the first', () => {
  const got = issues(`${OK_PROFILE}lisen: x\nmode: nope\nauth: 5\n`);
  assert.ok(got.length >= 3, got.join('\n'));
});

test('errors the schema finds do not hide the others: every error in one run, in file order', () => {
  // The schema's errors (unknown keys, wrong types) used to stop the check before the compile
  // stage, so a `*.com` or a plaintext token showed only once those were fixed.
  const yaml = [
    'listen: "127.0.0.1:8080"',
    'listen_typo: 1',
    'profiles:',
    '  default:',
    '    allow: ["*.com", { host: a.example.com, inspekt: true }, { host: "a.*.b.com" }, 7]',
    '  second:',
    '    allow: [b.example.com]',
    '    limits: { max_body: 10 parsecs }',
    'agents:',
    '  - { id: a1, token: "s3cr3t-value" }',
    'mode: audit',
  ].join('\n');
  const got = issues(yaml).map((l) => l.replace('/etc/warden/test.yaml:', ''));
  const expected = [
    /^2:1 listen_typo: unknown key/,
    /^5:\d+ profiles\.default\.allow\[3\]: /,
    /^8:\d+ profiles\.second\.limits\.max_body: invalid size/,
    /^10:15 agents\[0\]\.token: plaintext tokens are refused/,
    /^11:7 mode: /,
  ];
  for (const e of expected) assert.ok(got.some((l) => e.test(l)), `no issue matched ${e}\n got:\n  ${got.join('\n  ')}`);
  // Sorted by line, then column.
  const pos = got.map((l) => l.split(' ')[0]!.split(':').map(Number) as [number, number]);
  assert.deepEqual(pos, [...pos].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
  assert.ok(!got.join('\n').includes('s3cr3t-value'));
  // What the cut list held is not reported again as a consequence ("a default profile is required").
  assert.ok(!got.some((l) => /profiles: a "default" profile is required/.test(l)), got.join('\n'));
});

test('a valid config compiles with units parsed, hosts normalised and deep-frozen values', () => {
  const cfg = compileConfigText(
    `listen: "127.0.0.1:9999"\nprofiles:\n  default:\n    allow:\n      - API.OpenAI.com.\n      - { host: "*.Example.org", ports: [8443], methods: [get], paths: ["/v1/*"], requests: "10 per 1s" }\n    limits: { max_body: 10MiB, upload: "50MiB per 2m", requests: "600 per 1m" }\nupstream:\n  connect_to: { "api.openai.com:443": "127.0.0.1:8443" }\n`,
    '/tmp/x/warden.yaml',
  );
  const p = cfg.profiles.get('default')!;
  assert.equal(cfg.listen.port, 9999);
  assert.equal(p.allow[0]!.host, 'api.openai.com');
  assert.deepEqual(p.allow[0]!.ports, [443, 80]);
  assert.equal(p.allow[1]!.host, '*.example.org');
  assert.deepEqual(p.allow[1]!.methods, ['GET']);
  assert.deepEqual(p.allow[1]!.requests, { amount: 10, windowMs: 1000 });
  assert.equal(p.limits.maxBodyBytes, 10 * 1024 * 1024);
  assert.deepEqual(p.limits.upload, { bytes: 50 * 1024 * 1024, windowMs: 120_000 });
  assert.deepEqual(p.limits.requests, { amount: 600, windowMs: 60_000 });
  assert.deepEqual(cfg.upstream.connectTo.get('api.openai.com:443'), { host: '127.0.0.1', port: 8443 });
  assert.equal(cfg.caDir, '/tmp/certs');
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(p) && Object.isFrozen(p.allow[0]));
  assert.throws(() => {
    (p.allow as unknown as unknown[]).push({});
  });
});

test('the built-in default config is valid and allows the major model APIs only', () => {
  const cfg = loadConfig(DEFAULT_CONFIG);
  assert.equal(`${cfg.listen.host}:${cfg.listen.port}`, '127.0.0.1:8080');
  const hosts = cfg.profiles.get('default')!.allow.map((a) => a.host);
  for (const h of ['api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', '*.openai.azure.com', 'api.mistral.ai', 'api.groq.com', 'openrouter.ai']) {
    assert.ok(hosts.includes(h), h);
  }
  assert.ok(cfg.alerts.some((a) => a.name === 'bulk_upload' && a.over === 50 * 1024 * 1024 && a.windowMs === 120_000));
});

test('credential_headers: the default list (Cookie included), or the entry\'s own, lower-cased', () => {
  const cfg = compileConfigText(
    'profiles:\n  default:\n    allow:\n      - api.openai.com\n      - { host: api.example.com, credential_headers: [Authorization, X-Custom-Key] }\n',
    '/etc/warden/t.yaml',
  );
  const [plain, own] = cfg.profiles.get('default')!.allow;
  assert.deepEqual(plain!.credentialHeaders, ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie']);
  assert.deepEqual(own!.credentialHeaders, ['authorization', 'x-custom-key'], 'cookie left out: scanned like any other header');
});

test('dlp.workers: given, 0 for inline inspection, or one less than the CPUs (1 to 4)', () => {
  assert.equal(compileConfigText(`${OK_PROFILE}dlp: { workers: 3 }\n`, '/etc/warden/t.yaml').dlp.workers, 3);
  assert.equal(compileConfigText(`${OK_PROFILE}dlp: { workers: 0 }\n`, '/etc/warden/t.yaml').dlp.workers, 0);
  assert.equal(compileConfigText(OK_PROFILE, '/etc/warden/t.yaml').dlp.workers, defaultDlpWorkers());
  for (const [cpus, want] of [[1, 1], [2, 1], [3, 2], [5, 4], [64, 4]] as const) assert.equal(defaultDlpWorkers(cpus), want, `${cpus} CPUs`);
});

test('server.keep_alive_timeout: given, or 60 s', () => {
  assert.equal(compileConfigText(`${OK_PROFILE}server: { keep_alive_timeout: 1500ms }\n`, '/etc/warden/t.yaml').server.keepAliveTimeoutMs, 1500);
  assert.equal(compileConfigText(`${OK_PROFILE}server: { keep_alive_timeout: 5m }\n`, '/etc/warden/t.yaml').server.keepAliveTimeoutMs, 300_000);
  assert.equal(compileConfigText(OK_PROFILE, '/etc/warden/t.yaml').server.keepAliveTimeoutMs, 60_000);
});

test('server.max_cached_leaves: given, or the leaf cache default (1,000)', () => {
  assert.equal(compileConfigText(`${OK_PROFILE}server: { max_cached_leaves: 250 }\n`, '/etc/warden/t.yaml').server.maxCachedLeaves, 250);
  assert.equal(compileConfigText(OK_PROFILE, '/etc/warden/t.yaml').server.maxCachedLeaves, DEFAULT_CERT_CACHE_MAX);
  assert.equal(DEFAULT_CERT_CACHE_MAX, 1_000);
});

// [name, the YAML appended to the running config's, restart-only keys a reload to it reports]
const reloads: Array<[string, string, string[]]> = [
  ['nothing changed', '', []],
  ['policy only', '    limits: { max_body: 1MiB }\n', []],
  ['server limits applied in place', 'server: { max_connections: 5, max_header_size: 4KiB, headers_timeout: 5s, max_inspect_buffer: 1MiB, keep_alive_timeout: 5s }\n', []],
  ['listen', 'listen: "127.0.0.1:9999"\n', ['listen']],
  ['admin', 'admin: "127.0.0.1:9998"\n', ['admin']],
  ['ca_dir (which also holds the audit signing key)', 'ca_dir: /var/lib/warden\n', ['ca_dir', 'audit']],
  ['audit', 'audit: { file: /var/log/warden.jsonl }\n', ['audit']],
  ['leaf cache size', 'server: { max_cached_leaves: 50 }\n', ['server.max_cached_leaves']],
];

for (const [name, extra, want] of reloads) {
  test(`reload warns about restart-only keys: ${name}`, () => {
    const running = compileConfigText(OK_PROFILE, '/etc/warden/t.yaml');
    const next = compileConfigText(OK_PROFILE + extra, '/etc/warden/t.yaml');
    assert.deepEqual(restartOnlyChanges(running, next), want);
  });
}

test('issueAt: a check made after compiling points at its key in the file, or at 1:1 when it cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-issue-'));
  try {
    const file = join(dir, 'warden.yaml');
    writeFileSync(file, `${OK_PROFILE}dlp:\n  packs:\n    - packs/a.yaml\n    - packs/b.yaml\n`);
    assert.equal(formatIssue(issueAt(file, ['dlp', 'packs', 1], 'broken')), `${file}:7:7 dlp.packs[1]: broken`);
    assert.equal(formatIssue(issueAt(file, ['dlp'], 'broken')), `${file}:5:3 dlp: broken`, 'a mapping: its first entry');
    assert.equal(formatIssue(issueAt(join(dir, 'gone.yaml'), ['dlp'], 'broken')), `${join(dir, 'gone.yaml')}:1:1 dlp: broken`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's configuration example is valid, and its server block lists the real defaults", () => {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const start = section.indexOf('```yaml\n') + '```yaml\n'.length;
  const yaml = section.slice(start, section.indexOf('```', start));
  assert.match(yaml, /^server:/m);
  const cfg = compileConfigText(yaml, '/etc/warden/warden.yaml');
  assert.deepEqual(cfg.server, compileConfigText(OK_PROFILE, '/etc/warden/t.yaml').server);
});

test("the Docker image's config (docker/warden.yaml) is valid and listens on all interfaces of the container", () => {
  const cfg = loadConfig(fileURLToPath(new URL('../../../../docker/warden.yaml', import.meta.url)));
  assert.equal(`${cfg.listen.host}:${cfg.listen.port}`, '0.0.0.0:8080');
  assert.ok(cfg.profiles.has('default'));
});

test('configWarnings: auth optional with an agent outside profile default (red team, session 14: dropping credentials gave it default)', () => {
  const agent = (profile: string): string => `agents:\n  - { id: builder, token_sha256: "${'a'.repeat(64)}", profile: ${profile} }\n`;
  const narrow = `${OK_PROFILE}  narrow:\n    allow: [api.anthropic.com]\n`;
  const warned = configWarnings(compileConfigText(`auth: optional\n${narrow}${agent('narrow')}`, '/etc/warden/t.yaml'));
  assert.equal(warned.length, 1);
  assert.match(warned[0] ?? '', /auth is optional: .*profile default.*\(builder\)/);
  assert.deepEqual(configWarnings(compileConfigText(`auth: required\n${narrow}${agent('narrow')}`, '/etc/warden/t.yaml')), []);
  assert.deepEqual(configWarnings(compileConfigText(`auth: optional\n${narrow}${agent('default')}`, '/etc/warden/t.yaml')), []);
});
