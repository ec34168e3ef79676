import { test, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { openAuditLog } from '../../../proxy/audit/log.js';
import { AuditPathError, expandAuditPaths, listStreamFiles } from '../../../proxy/audit/files.js';
import { canonicalJson } from '../../../proxy/audit/canonical.js';
import { sha256Hex } from '../../../proxy/audit/chain.js';
import { formatVerifyResult, verifyAuditFiles } from '../../../proxy/audit/verify.js';
import type { VerifyFailure } from '../../../proxy/audit/verify.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

// One valid rotated stream, written across a restart, copied afresh for each tampering test.
let root: { dir: string; cleanup: () => void };
let streamDir: string;
let files: string[];
let publicKeyPem: string;

before(async () => {
  root = tempDir();
  streamDir = join(root.dir, 'stream');
  const cfg = auditConfig(streamDir, { file: { rotateBytes: 16 * 1024 }, checkpointEvery: 25 });
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 150; i++) a1.write(requestRecord(i));
  await a1.close();
  const a2 = await openAuditLog(cfg, { log: memoryLogger().log }); // restart: chain continues
  for (let i = 150; i < 260; i++) a2.write(requestRecord(i));
  await a2.close();
  publicKeyPem = a2.publicKeyPem;
  files = listStreamFiles(cfg.file!.path);
});
after(() => root.cleanup());

let copies = 0;
function copyStream(): string[] {
  const dir = join(root.dir, `copy-${copies++}`);
  mkdirSync(dir);
  return files.map((f) => {
    const to = join(dir, basename(f));
    copyFileSync(f, to);
    return to;
  });
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

function failure(r: ReturnType<typeof verifyAuditFiles>): VerifyFailure {
  assert.equal(r.ok, false, 'verify should fail');
  return r as VerifyFailure;
}

test('a valid rotated set written across a restart verifies', () => {
  assert.ok(files.length >= 4, `${files.length} files`);
  const r = verifyAuditFiles(files, { publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.firstSeq, 1);
  assert.equal(r.records, r.lastSeq);
  assert.equal(r.records, 260 + 10 + 1); // 6 + 4 periodic checkpoints (every 25), 1 at the second close
  assert.equal(r.unsignedTail, 0);
  assert.equal(r.signaturesChecked, true);
  assert.match(formatVerifyResult(r), /^ok: 271 records \(seq 1\.\.271\) in \d+ file\(s\), 11 signed checkpoint\(s\) verified with key [0-9a-f]{16}/);
});

test('a directory expands to its stream in rotation order', () => {
  assert.deepEqual(expandAuditPaths([streamDir]), files);
  assert.ok(verifyAuditFiles(expandAuditPaths([streamDir]), { publicKeyPem }).ok);
});

test('flipping one byte in the middle of a rotated file names that record', () => {
  const set = copyStream();
  const target = set[1]!;
  const buf = readFileSync(target);
  let at = Math.floor(buf.length / 2);
  while (buf[at] === 0x0a || buf[at - 1] === 0x0a) at++;
  buf[at] = buf[at]! ^ 0x01;
  writeFileSync(target, buf);
  const lineNo = buf.subarray(0, at).toString('latin1').split('\n').length;
  const f = failure(verifyAuditFiles(set, { publicKeyPem }));
  assert.equal(f.file, target);
  assert.equal(f.line, lineNo);
  assert.match(formatVerifyResult(f), new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${lineNo} seq \\d+: `));
});

test('changing a value names the record: hash mismatch', () => {
  const set = copyStream();
  const target = set[2]!;
  const ls = lines(target);
  const victim = JSON.parse(ls[3]!) as { seq: number };
  ls[3] = ls[3]!.replace('"status":200', '"status":201');
  writeFileSync(target, ls.join('\n') + '\n');
  const f = failure(verifyAuditFiles(set, { publicKeyPem }));
  assert.deepEqual([f.file, f.line, f.seq], [target, 4, victim.seq]);
  assert.match(f.message, /hash mismatch/);
});

test('deleting a line names the record after the gap', () => {
  const set = copyStream();
  const target = set[1]!;
  const ls = lines(target);
  const removed = JSON.parse(ls[5]!) as { seq: number };
  ls.splice(5, 1);
  writeFileSync(target, ls.join('\n') + '\n');
  const f = failure(verifyAuditFiles(set, { publicKeyPem }));
  assert.deepEqual([f.file, f.line, f.seq], [target, 6, removed.seq + 1]);
  assert.match(f.message, new RegExp(`record ${removed.seq} is missing`));
});

test('two files in the wrong order: the first misplaced file is named', () => {
  const set = copyStream();
  const swapped = [set[0]!, set[2]!, set[1]!, ...set.slice(3)];
  const f = failure(verifyAuditFiles(swapped, { publicKeyPem }));
  assert.deepEqual([f.file, f.line], [set[2], 1]);
  assert.match(f.message, /missing/);
});

test('a missing middle file is named', () => {
  const set = copyStream();
  const f = failure(verifyAuditFiles([set[0]!, ...set.slice(2)], { publicKeyPem }));
  assert.deepEqual([f.file, f.line], [set[2], 1]);
});

test('a torn last line is reported as truncation, not as tampering', () => {
  const set = copyStream();
  const last = set[set.length - 1]!;
  appendFileSync(last, '{"agent":"agent-7","by');
  const r = verifyAuditFiles(set, { publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.truncated.length, 1);
  assert.equal(r.truncated[0]!.file, last);
  assert.match(formatVerifyResult(r), /truncated record at .+:\d+ \(crash during a write; skipped\)/);
});

test('a re-hashed (forged) chain is caught by the checkpoint signature', () => {
  const set = copyStream();
  // The attacker changes a record and recomputes every later hash and prev: only the
  // signature, which needs the private key, still tells.
  let prevHash: string | null = null;
  let changed = false;
  for (const file of set) {
    const out = lines(file).map((l) => {
      const rec = JSON.parse(l) as Record<string, unknown> & { detail?: Record<string, unknown> };
      if (!changed && rec['seq'] === 30) {
        rec['status'] = 500;
        changed = true;
      }
      if (prevHash !== null) rec['prev'] = prevHash;
      if (rec['event'] === 'checkpoint' && prevHash !== null) rec.detail = { ...rec.detail, last_hash: prevHash };
      delete rec['hash'];
      rec['hash'] = sha256Hex(canonicalJson(rec));
      prevHash = rec['hash'] as string;
      return JSON.stringify(rec);
    });
    writeFileSync(file, out.join('\n') + '\n');
  }
  const f = failure(verifyAuditFiles(set, { publicKeyPem }));
  assert.equal(f.seq, 52, 'the first checkpoint after seq 30');
  assert.match(f.message, /checkpoint signature does not verify/);
  // Without the public key, the forgery passes the hash chain: signatures are what protect it.
  const unsigned = verifyAuditFiles(set, {});
  assert.ok(unsigned.ok);
  assert.equal(unsigned.signaturesChecked, false);
  assert.match(formatVerifyResult(unsigned), /signatures NOT checked/);
});

test('a different public key is named at the first checkpoint', () => {
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const f = failure(verifyAuditFiles(files, { publicKeyPem: other }));
  assert.equal(f.seq, 26);
  assert.match(f.message, /signed by key [0-9a-f]{16}, not by the given key/);
});

test('records after the last checkpoint are counted as unsigned', () => {
  const set = copyStream();
  const last = set[set.length - 1]!;
  const ls = lines(last);
  writeFileSync(last, ls.slice(0, -1).join('\n') + '\n'); // drop the final checkpoint
  const r = verifyAuditFiles(set, { publicKeyPem });
  assert.ok(r.ok);
  assert.ok(r.unsignedTail > 0);
  assert.match(formatVerifyResult(r), new RegExp(`${r.unsignedTail} record\\(s\\) after the last checkpoint are not yet signed`));
});

const malformed: Array<[name: string, line: string, message: RegExp]> = [
  ['garbage', 'hello', /not valid JSON/],
  ['empty line', '', /empty line/],
  ['no chain fields', '{"event":"request"}', /seq/],
];
for (const [name, bad, message] of malformed) {
  test(`an inserted ${name} line is named`, () => {
    const set = copyStream();
    const ls = lines(set[0]!);
    ls.splice(2, 0, bad);
    writeFileSync(set[0]!, ls.join('\n') + '\n');
    const f = failure(verifyAuditFiles(set, { publicKeyPem }));
    assert.deepEqual([f.file, f.line, f.seq], [set[0], 3, 3]);
    assert.match(f.message, message);
  });
}

test('a directory holding two streams is a usage error', () => {
  const dir = join(root.dir, 'two');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.jsonl'), '');
  writeFileSync(join(dir, 'b.jsonl'), '');
  assert.throws(() => expandAuditPaths([dir]), AuditPathError);
  assert.throws(() => expandAuditPaths([join(root.dir, 'nope')]), /no such file/);
});
