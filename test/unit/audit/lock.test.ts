/**
 * The lock on the audit file and the spool (lock.ts): one writer per chain. A second holder
 * waits, then gives up with a clear error; abandoned locks (dead pid on this host, this pid
 * from an earlier run, not renewed on another host) are taken over; a holder whose lock is
 * removed or taken over is told, and its audit log writes nothing more.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock, LockBusyError, MarkerWatch, takeOver } from '../../../proxy/audit/lock.js';
import { openAuditLog } from '../../../proxy/audit/log.js';
import { verifyAuditFiles } from '../../../proxy/audit/verify.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

const fast = { waitMs: 400, staleMs: 2_000, heartbeatMs: 40, pollMs: 20 };

function leaveLock(target: string, owner: { pid: number; host: string }, ageMs = 0): string {
  const dir = `${target}.lock`;
  mkdirSync(dir);
  writeFileSync(join(dir, 'owner.json'), JSON.stringify({ ...owner, token: 'someone-else', since: '2026-11-23T00:00:00.000Z' }));
  if (ageMs !== 0) {
    const t = new Date(Date.now() - ageMs);
    utimesSync(dir, t, t);
  }
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

test('acquire writes <path>.lock/owner.json with this pid and host; release removes it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const lock = await acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => {}, tuning: fast });
  assert.equal(lock.path, `${target}.lock`);
  const owner = JSON.parse(readFileSync(join(lock.path, 'owner.json'), 'utf8')) as { pid: number; host: string };
  assert.equal(owner.pid, process.pid);
  assert.equal(owner.host, hostname());
  lock.release();
  assert.ok(!existsSync(lock.path));
  lock.release(); // idempotent
});

test('a held lock: a second acquire waits, then fails naming the holder and the lock', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const first = await acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => {}, tuning: fast });
  t.after(() => first.release());
  const { log, entries } = memoryLogger();
  const t0 = Date.now();
  await assert.rejects(acquireLock(target, { what: 'audit file', log, onLost: () => {}, tuning: fast }), (e: unknown) => {
    assert.ok(e instanceof LockBusyError);
    assert.match(e.message, new RegExp(`audit file ${target} is in use by another Warden process \\(pid ${process.pid} on host `));
    assert.match(e.message, /audit\.file and audit\.http\.spool_dir/);
    assert.equal(e.lockPath, `${target}.lock`);
    return true;
  });
  assert.ok(Date.now() - t0 >= fast.waitMs);
  assert.ok(entries().some((e) => String(e['msg']).includes('waiting for it to finish')));
  assert.ok(existsSync(first.path), 'the holder keeps its lock');
});

test('a waiting acquire gets the lock once the holder releases it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'spool');
  const first = await acquireLock(target, { what: 'audit spool', log: memoryLogger().log, onLost: () => {}, tuning: fast });
  setTimeout(() => first.release(), 100);
  const second = await acquireLock(target, { what: 'audit spool', log: memoryLogger().log, onLost: () => {}, tuning: { ...fast, waitMs: 5_000 } });
  t.after(() => second.release());
  const owner = JSON.parse(readFileSync(join(second.path, 'owner.json'), 'utf8')) as { token: string };
  assert.ok(owner.token.length > 0);
});

// name, owner, age of the lock's mtime, why, and how long the takeover waits: on this host the
// pid says at once; from another host only watching it unchanged for staleMs does (its mtime is
// the holder's clock, which need not agree with ours: an hour old here, and still a wait).
const abandonedCases: Array<[string, () => { pid: number; host: string }, number, RegExp, 'at once' | 'after staleMs']> = [
  ['its pid no longer runs on this host', () => ({ pid: deadPid(), host: hostname() }), 0, /no longer runs/, 'at once'],
  ['it names this process\'s pid (a restarted container\'s pid 1)', () => ({ pid: process.pid, host: hostname() }), 0, /earlier process with this process's pid/, 'at once'],
  ['another host, left unchanged (its mtime an hour old)', () => ({ pid: 1, host: 'elsewhere.invalid' }), 3_600_000, /not renewed for \d+ s/, 'after staleMs'],
  ['another host, left unchanged (its mtime an hour ahead)', () => ({ pid: 1, host: 'elsewhere.invalid' }), -3_600_000, /not renewed for \d+ s/, 'after staleMs'],
];
for (const [name, owner, ageMs, why, when] of abandonedCases) {
  test(`an abandoned lock is taken over ${when}: ${name}`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const target = join(dir, 'audit.jsonl');
    leaveLock(target, owner(), ageMs);
    const { log, entries } = memoryLogger();
    const t0 = Date.now();
    const lock = await acquireLock(target, { what: 'audit file', log, onLost: () => {}, tuning: { ...fast, waitMs: 5_000 } });
    t.after(() => lock.release());
    const waited = Date.now() - t0;
    if (when === 'at once') assert.ok(waited < 1_000, `waited ${waited} ms`);
    else assert.ok(waited >= fast.staleMs && waited < fast.staleMs + 1_000, `waited ${waited} ms`);
    const taken = entries().find((e) => String(e['msg']).includes('taking over an abandoned lock'));
    assert.ok(taken);
    assert.match(String(taken['why']), why);
    assert.equal((JSON.parse(readFileSync(join(lock.path, 'owner.json'), 'utf8')) as { pid: number }).pid, process.pid);
  });
}

test('a holder on another host whose clock is an hour behind keeps its lock while it renews it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const left = leaveLock(target, { pid: 1, host: 'elsewhere.invalid' }, 3_600_000);
  let n = 0;
  const renew = setInterval(() => {
    const at = new Date(Date.now() - 3_600_000 + ++n * 1000);
    utimesSync(left, at, at);
  }, 100);
  t.after(() => clearInterval(renew));
  await assert.rejects(acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => {}, tuning: { ...fast, waitMs: 3_000 } }), LockBusyError);
  assert.match(readFileSync(join(left, 'owner.json'), 'utf8'), /someone-else/);
});

test('a live lock on another host is waited for, not taken over', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const left = leaveLock(target, { pid: 1, host: 'elsewhere.invalid' });
  await assert.rejects(acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => {}, tuning: fast }), LockBusyError);
  assert.match(readFileSync(join(left, 'owner.json'), 'utf8'), /someone-else/);
});

const lostCases: Array<[string, (lockDir: string) => void, RegExp]> = [
  ['removed', (d) => rmSync(d, { recursive: true, force: true }), /the lock was removed/],
  ['taken over', (d) => writeFileSync(join(d, 'owner.json'), JSON.stringify({ pid: 4242, host: 'elsewhere.invalid', token: 'x', since: 'now' })), /taken over by pid 4242 on host elsewhere\.invalid/],
];
for (const [name, act, why] of lostCases) {
  test(`a holder whose lock is ${name} is told once`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const lost: string[] = [];
    const lock = await acquireLock(join(dir, 'audit.jsonl'), { what: 'audit file', log: memoryLogger().log, onLost: (w) => lost.push(w), tuning: fast });
    t.after(() => lock.release());
    act(lock.path);
    await sleep(fast.heartbeatMs * 5);
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, why);
  });
}

test('the holder renews its lock: a contender does not take it over after staleMs', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const tuning = { waitMs: 2_600, staleMs: 2_000, heartbeatMs: 100, pollMs: 50 };
  const first = await acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => assert.fail('lost'), tuning });
  t.after(() => first.release());
  // Make the lock look like it belongs to another host: only its age could free it.
  const owner = JSON.parse(readFileSync(join(first.path, 'owner.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(first.path, 'owner.json'), JSON.stringify({ ...owner, host: 'elsewhere.invalid' }));
  await assert.rejects(acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: () => {}, tuning }), LockBusyError);
});

test('openAuditLog: a second log on the same file fails while the first is open, and continues its chain after', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir);
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log, lockTuning: fast });
  for (let i = 0; i < 3; i++) a1.write(requestRecord(i));
  await assert.rejects(openAuditLog(cfg, { log: memoryLogger().log, lockTuning: fast }), LockBusyError);
  a1.write(requestRecord(3));
  await a1.close();
  const a2 = await openAuditLog(cfg, { log: memoryLogger().log, lockTuning: fast });
  assert.equal(a2.lastSeq, a1.lastSeq);
  a2.write(requestRecord(4));
  await a2.close();
  const r = verifyAuditFiles([cfg.file!.path], { publicKeyPem: a2.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
});

test('openAuditLog: a spool folder shared by two audit files is refused, and the first lock is released', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg1 = auditConfig(dir, { http: { url: 'http://127.0.0.1:9/never' } });
  const a1 = await openAuditLog(cfg1, { log: memoryLogger().log, lockTuning: fast, http: { closeTimeoutMs: 50 } });
  t.after(() => a1.close());
  const cfg2 = { ...cfg1, file: { ...cfg1.file!, path: join(dir, 'other.jsonl') } };
  await assert.rejects(openAuditLog(cfg2, { log: memoryLogger().log, lockTuning: fast }), (e: unknown) => {
    assert.ok(e instanceof LockBusyError);
    assert.match(e.message, /^audit spool /);
    return true;
  });
  assert.ok(!existsSync(join(dir, 'other.jsonl.lock')), 'the file lock taken first was released');
});

test('openAuditLog: once another process takes the lock over, nothing more is written and onLockLost is called', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { checkpointEvery: 1000 });
  const lost: string[] = [];
  const { log, entries } = memoryLogger();
  const audit = await openAuditLog(cfg, { log, lockTuning: fast, onLockLost: (w) => lost.push(w) });
  audit.write(requestRecord(1));
  const before = readFileSync(cfg.file!.path, 'utf8');
  writeFileSync(join(`${cfg.file!.path}.lock`, 'owner.json'), JSON.stringify({ pid: 4242, host: 'elsewhere.invalid', token: 'x', since: 'now' }));
  await sleep(fast.heartbeatMs * 5);
  assert.equal(lost.length, 1);
  audit.write(requestRecord(2));
  audit.checkpoint();
  await audit.close();
  assert.equal(readFileSync(cfg.file!.path, 'utf8'), before, 'no record and no checkpoint after the lock was lost');
  assert.ok(entries().some((e) => String(e['msg']).includes('another process now writes this audit stream')));
  assert.ok(existsSync(`${cfg.file!.path}.lock`), 'the new holder\'s lock is left alone');
});

// Two processes that take over one abandoned lock at the same moment (two replicas restarted
// together both see the dead pid) must not both hold it: only the one that creates the takeover
// marker removes it, and only while it still holds the owner token it judged abandoned.
test('a takeover verdict acted on after the lock was taken over and made anew removes nothing', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const target = join(dir, 'audit.jsonl');
  const lockDir = leaveLock(target, { pid: deadPid(), host: hostname() });
  const lost: string[] = [];
  // Process A takes the abandoned lock over; process B judged the same lock abandoned just
  // before and acts on that verdict now.
  const a = await acquireLock(target, { what: 'audit file', log: memoryLogger().log, onLost: (w) => lost.push(w), tuning: fast });
  t.after(() => a.release());
  const mine = readFileSync(join(lockDir, 'owner.json'), 'utf8');
  assert.equal(takeOver(lockDir, 'someone-else', new MarkerWatch(), fast.staleMs), false);
  assert.equal(readFileSync(join(lockDir, 'owner.json'), 'utf8'), mine, 'A\'s lock is left as it was');
  assert.deepEqual(readdirSync(lockDir), ['owner.json'], 'no marker left behind');
  await sleep(fast.heartbeatMs * 4);
  assert.deepEqual(lost, [], 'A still holds it');
});

test('while another process holds the takeover marker, a takeover waits; a marker left for staleMs is passed over', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const lockDir = leaveLock(join(dir, 'audit.jsonl'), { pid: deadPid(), host: hostname() });
  writeFileSync(join(lockDir, 'takeover-1'), '');
  const watch = new MarkerWatch();
  const staleMs = 300;
  assert.equal(takeOver(lockDir, 'someone-else', watch, staleMs), false, 'another process is taking it over');
  assert.ok(existsSync(join(lockDir, 'owner.json')));
  await sleep(staleMs + 50);
  assert.equal(takeOver(lockDir, 'someone-else', watch, staleMs), true, 'its holder died in the middle: passed over');
  assert.ok(!existsSync(lockDir));
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('audit.jsonl.')), [], 'nothing left beside it');
});

test('processes racing to take over an abandoned lock: exactly one holds it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const ROUNDS = 20;
  const CHILDREN = 3;
  const ROUND_MS = 250;
  const dead = deadPid();
  const targets = Array.from({ length: ROUNDS }, (_, i) => {
    const target = join(dir, `audit-${i}.jsonl`);
    leaveLock(target, { pid: dead, host: hostname() });
    return target;
  });
  const child = fileURLToPath(new URL('./lock-race-child.js', import.meta.url));
  const first = Date.now() + 1_500; // every child is up and waiting by then
  const runs = Array.from({ length: CHILDREN }, () => new Promise<string[]>((resolve, reject) => {
    const p = spawn(process.execPath, [child, JSON.stringify(targets), String(first), String(ROUND_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => void (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`child exited ${code}`))));
  }));
  const results = await Promise.all(runs);
  const holders = targets.map((_, i) => results.filter((r) => r[i] === 'held').length);
  assert.deepEqual(holders, targets.map(() => 1), `holders per round: ${holders.join(' ')}`);
});
