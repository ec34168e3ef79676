/**
 * The built `warden` CLI as a child process, as a newcomer or an admin uses it: check, start,
 * curl through it, reload (bad file rejected, good file applied), SIGTERM drain, audit verify
 * across a restart, env, ca export, scan and explain.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../../proxy/paths.js';
import { createTestPki } from '../fixtures/pki.js';
import { startUpstream, type Upstream } from '../integration/harness.js';

const CLI = join(ROOT, 'dist', 'proxy', 'cli.js');
const execFileP = promisify(execFile);

async function warden(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function configYaml(dir: string, upPort: number, extraAllow = ''): string {
  return `listen: "127.0.0.1:0"
ca_dir: ${dir}/ca
upstream:
  ca_file: ${dir}/up.pem
  allow_private: ["127.0.0.0/8"]
  connect_to: { "*.test.local:443": "127.0.0.1:${upPort}" }
profiles:
  default:
    allow:
      - api.test.local
${extraAllow}
audit:
  file: ${dir}/audit/audit.jsonl
  checkpoint_every: 5
`;
}

class Running {
  port = 0;
  out = '';
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (c: Buffer) => (this.out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.out += c.toString()));
  }
  async waitFor(re: RegExp, ms = 15_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; output:\n${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const done = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    return done;
  }
}

async function startWardenProcess(file: string): Promise<Running> {
  const r = new Running(spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const m = await r.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/);
  r.port = Number(m[1]);
  return r;
}

async function curl(port: number, caFile: string, url: string, fmt = '%{http_code}'): Promise<string> {
  const res = await execFileP('curl', ['-sS', '-x', `http://127.0.0.1:${port}`, '--cacert', caFile, '-o', '/dev/null', '-w', fmt, url]).catch((e: { stdout: string }) => e);
  return res.stdout;
}

describe('warden CLI end to end', () => {
  let dir: string;
  let up: Upstream;
  let file: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-e2e-'));
    const pki = createTestPki();
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    file = join(dir, 'warden.yaml');
    writeFileSync(file, configYaml(dir, up.port));
  });
  after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('check: the built-in config is valid; a broken one lists FILE:LINE:COL key.path lines and exits 2', async () => {
    const ok = await warden(['check']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^ok: /);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'profiles:\n  default:\n    allow:\n      - "*.com"\n      - { host: a.example.com, port: 443 }\nmode: sometimes\n');
    const r = await warden(['check', '--config', bad]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.some((l) => l === `${bad}:5:32 profiles.default.allow[1].port: unknown key "port"`), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`${bad}:6:7 mode: `)), r.stderr);
    assert.ok(!/at .*\.js:\d+/.test(r.stderr), 'no stack trace');
  });

  test('start → curl allowed and denied → reload (bad rejected, good applied) → SIGTERM → verify → restart continues the chain', async () => {
    let w = await startWardenProcess(file);
    const caFile = join(dir, 'ca', 'ca.pem');
    assert.match(w.out, /created a new CA|CA/i);
    assert.match(w.out, /"v8Flags":\["--no-incremental-marking"\]/);
    try {
      assert.equal(await curl(w.port, caFile, 'https://api.test.local/1k'), '200');
      assert.equal(await curl(w.port, caFile, 'https://other.test.local/1k', '%{http_connect}'), '403');

      // A broken edit is rejected; the old policy keeps serving.
      writeFileSync(file, configYaml(dir, up.port) + 'bogus_key: 1\n');
      await w.waitFor(/config rejected/);
      assert.equal(await curl(w.port, caFile, 'https://api.test.local/1k'), '200');

      // A good edit (and SIGHUP) applies.
      writeFileSync(file, configYaml(dir, up.port, '      - other.test.local'));
      await w.waitFor(/config reloaded/);
      w.child.kill('SIGHUP');
      await w.waitFor(/"why":"SIGHUP"[^\n]*config reloaded|config reloaded[^\n]*"why":"SIGHUP"/);
      assert.equal(await curl(w.port, caFile, 'https://other.test.local/1k'), '200');
    } finally {
      assert.equal(await w.stop(), 0);
    }
    const audit = join(dir, 'audit', 'audit.jsonl');
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason?: string; host?: string });
    assert.ok(lines.some((l) => l.event === 'config' && l.reason === 'invalid_config'));
    assert.ok(lines.some((l) => l.event === 'config' && l.reason === 'reloaded'));
    assert.ok(lines.some((l) => l.event === 'connect' && l.host === 'other.test.local' && l.reason === 'not_allowlisted'));
    assert.ok(lines.some((l) => l.event === 'checkpoint'));
    let v = await warden(['audit', 'verify', '--config', file, audit]);
    assert.equal(v.code, 0, v.stdout + v.stderr);

    // Restart: the chain continues in the same file and still verifies.
    w = await startWardenProcess(file);
    try {
      assert.equal(await curl(w.port, caFile, 'https://api.test.local/1k'), '200');
    } finally {
      assert.equal(await w.stop(), 0);
    }
    v = await warden(['audit', 'verify', '--config', file, audit]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // Tamper with one record: verify names it.
    const text = readFileSync(audit, 'utf8').split('\n');
    const idx = Math.floor(text.length / 2);
    text[idx] = text[idx]!.replace('"event":"', '"event":"x');
    writeFileSync(audit, text.join('\n'));
    v = await warden(['audit', 'verify', '--config', file, audit]);
    assert.equal(v.code, 1);
    assert.match(v.stdout + v.stderr, new RegExp(`${audit.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${idx + 1} seq \\d+: `));
  });

  test('two processes on one audit file: the second waits until the first has drained, then continues its chain', async () => {
    const d2 = join(dir, 'overlap');
    mkdirSync(d2);
    writeFileSync(join(d2, 'up.pem'), readFileSync(join(dir, 'up.pem')));
    const f2 = join(d2, 'warden.yaml');
    writeFileSync(f2, configYaml(d2, up.port));
    const caFile = join(d2, 'ca', 'ca.pem');
    const a = await startWardenProcess(f2);
    let b: Running | null = null;
    try {
      assert.equal(await curl(a.port, caFile, 'https://api.test.local/1k'), '200');
      b = new Running(spawn(process.execPath, [CLI, 'start', '--config', f2], { stdio: ['ignore', 'pipe', 'pipe'] }));
      await b.waitFor(/audit file is locked by another Warden process; waiting for it to finish/);
      assert.doesNotMatch(b.out, /warden listening/);
      assert.equal(await curl(a.port, caFile, 'https://api.test.local/1k?again'), '200');
      assert.equal(await a.stop(), 0);
      const m = await b.waitFor(/"listen":"127\.0\.0\.1:(\d+)"/);
      assert.equal(await curl(Number(m[1]), caFile, 'https://api.test.local/1k?b'), '200');
      assert.equal(await b.stop(), 0);
    } finally {
      await a.stop();
      await b?.stop();
    }
    const audit = join(d2, 'audit', 'audit.jsonl');
    const v = await warden(['audit', 'verify', '--config', f2, audit]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const recs = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; event: string; url?: string });
    assert.deepEqual(recs.map((r) => r.seq), recs.map((_, i) => i + 1), 'one chain, no seq written twice');
    assert.equal(recs.filter((r) => r.event === 'config').length, 2, 'both processes wrote to it');
    assert.ok(!readdirSync(join(d2, 'audit')).some((n) => n.endsWith('.lock')), 'the lock is gone after both stopped');
  });

  test('a Kubernetes ConfigMap update (the ..data symlink swapped) reloads the running proxy', async () => {
    // The layout the kubelet writes: NAME -> ..data/NAME, ..data -> ..<timestamp>/, and an update
    // renames a new ..data symlink over the old one; the config's own name never changes.
    const cm = join(dir, 'configmap');
    const version = (name: string, extraAllow: string): void => {
      mkdirSync(join(cm, name), { recursive: true });
      writeFileSync(join(cm, name, 'warden.yaml'), configYaml(dir, up.port, extraAllow).replace(`${dir}/audit/`, `${dir}/audit-cm/`));
    };
    version('..v1', '');
    symlinkSync('..v1', join(cm, '..data'));
    symlinkSync('..data/warden.yaml', join(cm, 'warden.yaml'));
    const w = await startWardenProcess(join(cm, 'warden.yaml'));
    const caFile = join(dir, 'ca', 'ca.pem');
    try {
      assert.equal(await curl(w.port, caFile, 'https://other.test.local/1k', '%{http_connect}'), '403');
      version('..v2', '      - other.test.local');
      symlinkSync('..v2', join(cm, '..data_tmp'));
      renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
      await w.waitFor(/"why":"file changed"[^\n]*config reloaded|config reloaded[^\n]*"why":"file changed"/);
      assert.equal(await curl(w.port, caFile, 'https://other.test.local/1k'), '200');
    } finally {
      assert.equal(await w.stop(), 0);
    }
  });

  test('env prints the sandbox lines with a <token> placeholder; ca export prints the CA', async () => {
    const agents = join(dir, 'agents.yaml');
    writeFileSync(agents, configYaml(dir, up.port) + `agents:\n  - { id: ci-bot, token_sha256: "${'ab'.repeat(32)}" }\n`);
    const r = await warden(['env', '--config', agents, '--agent', 'ci-bot']);
    assert.equal(r.code, 0, r.stderr);
    for (const v of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO']) {
      assert.match(r.stdout, new RegExp(`^export ${v}='`, 'm'));
    }
    assert.match(r.stdout, /HTTPS_PROXY='http:\/\/ci-bot:<token>@127\.0\.0\.1:0'/);
    const ca = await warden(['ca', 'export', '--config', file]);
    assert.equal(ca.code, 0);
    assert.match(ca.stdout, /^-----BEGIN CERTIFICATE-----/);
  });

  test('scan: findings as masked JSON lines (exit 1), clean input exit 0; explain: allow 0, block 1', async () => {
    const dirty = join(dir, 'dirty.txt');
    writeFileSync(dirty, 'customer 536-22-8143 paid with 4666176031372159\n');
    const s = await warden(['scan', '--config', file, dirty]);
    assert.equal(s.code, 1, s.stderr);
    const findings = s.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; sample: string; fp: string });
    assert.ok(findings.some((f) => f.type === 'us_ssn'));
    assert.ok(findings.some((f) => f.type === 'credit_card'));
    assert.ok(!s.stdout.includes('536-22-8143') && !s.stdout.includes('4666176031372159'), 'scan output is masked');
    const clean = await warden(['scan', '--config', file, '-'], 'nothing to see here\n');
    assert.equal(clean.code, 0, clean.stderr);

    const allow = await warden(['explain', '--config', file, 'GET', 'https://api.test.local/v1/models']);
    assert.equal(allow.code, 0, allow.stderr);
    assert.equal((JSON.parse(allow.stdout) as { decision: string }).decision, 'allow');
    const deny = await warden(['explain', '--config', file, 'GET', 'https://evil.example.com/']);
    assert.equal(deny.code, 1);
    assert.equal((JSON.parse(deny.stdout) as { reason: string }).reason, 'not_allowlisted');
    const body = join(dir, 'body.json');
    writeFileSync(body, JSON.stringify({ messages: [{ role: 'user', content: 'ssn 536-22-8143' }] }));
    const red = await warden(['explain', '--config', file, 'POST', 'https://api.test.local/v1/chat/completions', '--body', body]);
    assert.equal(red.code, 0, red.stderr);
    const j = JSON.parse(red.stdout) as { decision: string; redacted_body: string };
    assert.equal(j.decision, 'redact');
    assert.ok(!j.redacted_body.includes('536-22-8143'));
    assert.ok(JSON.parse(j.redacted_body));
  });

  test('custom packs from config: a pattern failing its examples is refused by check; a good one is used by scan', async () => {
    const bad = join(dir, 'acme-bad.yaml');
    writeFileSync(bad, `pack: acmebad\npatterns:\n  - id: acme_token\n    type: vendor_api_key\n    pattern: '\\b(ACME-[0-9a-f]{32})\\b'\n    action: block\n    examples:\n      match: ['ACME-not-hex-at-all-zzzzzzzzzzzzzzzzzzzzzz']\n      no_match: []\n`);
    const badCfg = join(dir, 'custom-bad.yaml');
    writeFileSync(badCfg, configYaml(dir, up.port) + `dlp:\n  packs: [${bad}]\n`);
    const r = await warden(['check', '--config', badCfg]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /acme-bad\.yaml/);
    assert.match(r.stderr, /acme_token/);
    // FILE:LINE:COL of the dlp.packs entry that names the failing pack, not of the file's start.
    const packsLine = (configYaml(dir, up.port) + 'dlp:\n').split('\n').length;
    assert.match(r.stderr, new RegExp(`custom-bad\\.yaml:${packsLine}:11 dlp\\.packs\\[0\\]: `), r.stderr);
    assert.ok(!r.stderr.includes('ACME-not-hex'), 'the example value is not echoed');

    const good = join(dir, 'acme.yaml');
    writeFileSync(good, `pack: acme\npatterns:\n  - id: acme_token\n    type: vendor_api_key\n    pattern: '\\b(ACME-[0-9a-f]{32})\\b'\n    action: block\n    confidence: high\n    examples:\n      match: ['ACME-5d9d149acfa9a9d1c387fcb74c15ea90']\n      no_match: ['ACME-123']\n`);
    const goodCfg = join(dir, 'custom-good.yaml');
    writeFileSync(goodCfg, configYaml(dir, up.port) + `dlp:\n  packs: [${good}]\n`);
    assert.equal((await warden(['check', '--config', goodCfg])).code, 0);
    const f = join(dir, 'acme-input.txt');
    writeFileSync(f, 'deploy token ACME-0123456789abcdef0123456789abcdef please\n');
    const s = await warden(['scan', '--config', goodCfg, f]);
    assert.equal(s.code, 1, s.stderr);
    const lines = s.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; action: string });
    assert.ok(lines.some((l) => l.type === 'vendor_api_key' && l.action === 'block'), s.stdout);
    assert.ok(!s.stdout.includes('0123456789abcdef0123456789abcdef'));
  });
});
