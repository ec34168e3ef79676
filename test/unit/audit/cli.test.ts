import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditCommand } from '../../../proxy/audit/cli.js';
import { openAuditLog } from '../../../proxy/audit/log.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

async function run(argv: string[], signKeyPath: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await auditCommand(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) }, { signKeyPath });
  return { code, out, err };
}

async function stream(t: { after: (fn: () => void) => void }): Promise<{ dir: string; file: string; key: string; pem: string }> {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { checkpointEvery: 10 });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 30; i++) audit.write(requestRecord(i));
  await audit.close();
  return { dir, file: cfg.file!.path, key: cfg.signKeyPath, pem: audit.publicKeyPem };
}

test('verify: exit 0 with a one-line summary (key from the config\'s sign key)', async (t) => {
  const s = await stream(t);
  const r = await run(['verify', s.file], s.key);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok: 33 records \(seq 1\.\.33\) in 1 file\(s\), 3 signed checkpoint\(s\) verified with key/);
  assert.equal(r.out.split('\n').length, 2);
});

test('verify --pubkey FILE and a directory argument', async (t) => {
  const s = await stream(t);
  const pub = join(s.dir, 'pub.pem');
  writeFileSync(pub, s.pem);
  const r = await run(['verify', '--pubkey', pub, s.dir], join(s.dir, 'missing.pem'));
  assert.equal(r.code, 0, r.err);
  const j = await run(['verify', `--pubkey=${pub}`, '--json', s.file], join(s.dir, 'missing.pem'));
  assert.equal(JSON.parse(j.out).ok, true);
});

test('verify: exit 1 naming FILE:LINE seq N', async (t) => {
  const s = await stream(t);
  const ls = readFileSync(s.file, 'utf8').split('\n');
  ls[4] = ls[4]!.replace('"status":200', '"status":404');
  writeFileSync(s.file, ls.join('\n'));
  const r = await run(['verify', s.file], s.key);
  assert.equal(r.code, 1);
  assert.equal(r.err, `${s.file}:5 seq 5: hash mismatch: the record was altered\n`);
});

const usage: Array<[name: string, argv: string[]]> = [
  ['no subcommand', []],
  ['unknown subcommand', ['frobnicate']],
  ['no files', ['verify']],
  ['unknown option', ['verify', '--nope', 'x']],
  ['--pubkey without a file', ['verify', '--pubkey']],
  ['missing file', ['verify', '/nonexistent/audit.jsonl']],
];
for (const [name, argv] of usage) {
  test(`usage error (exit 2): ${name}`, async (t) => {
    const s = await stream(t);
    const r = await run(argv, s.key);
    assert.equal(r.code, 2);
    assert.notEqual(r.err, '');
  });
}

test('verify without any public key: exit 2 with a clear message', async (t) => {
  const s = await stream(t);
  const r = await run(['verify', s.file], join(s.dir, 'no-key.pem'));
  assert.equal(r.code, 2);
  assert.match(r.err, /no public key: --pubkey not given and no signing key at/);
});

test('pubkey prints the public key; a missing key is exit 2 and creates nothing', async (t) => {
  const s = await stream(t);
  const ok = await run(['pubkey'], s.key);
  assert.equal(ok.code, 0);
  assert.equal(ok.out, s.pem);
  assert.doesNotMatch(ok.out, /PRIVATE/);
  const missing = join(s.dir, 'absent', 'key.pem');
  const r = await run(['pubkey'], missing);
  assert.equal(r.code, 2);
  assert.match(r.err, /no audit signing key at .*absent\/key\.pem/);
  assert.equal(existsSync(missing), false);
  assert.equal(existsSync(join(s.dir, 'absent')), false);
});

test('--help prints usage and exits 0', async (t) => {
  const s = await stream(t);
  const r = await run(['--help'], s.key);
  assert.equal(r.code, 0);
  assert.match(r.out, /warden audit verify/);
});
