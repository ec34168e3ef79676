/**
 * Large bodies inspected on worker threads: the same answers as the inline engine, the body left
 * as it was, the event loop free while a worker scans, and fail-closed when a worker cannot
 * answer.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { CompiledDlpPolicy } from '../../proxy/config/types.js';
import { compileDetectors, readPackSources } from '../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../proxy/dlp/inspect.js';
import type { DetectorOptions, InspectRequest, InspectResult } from '../../proxy/dlp/types.js';
import { upstreamBodyStream } from '../../proxy/server/forward-http.js';
import { InspectPool, OFFLOAD_MIN_BYTES, SharedBodyArena, sharedBody } from '../../proxy/server/inspect-pool.js';

// Synthetic values (valid checksums, not real people or keys).
const SSN = '536-22-8143';
const CARD = '4666176031372159';
const HONEY = 'WARDEN-CANARY-0c5d7e9f3a21';
const AWS_KEY = 'AKIAZ4T7QW2NB5XK3LPM';

const spec: DetectorOptions = {
  packSources: readPackSources(),
  honeytokens: [{ id: 'canary', value: HONEY, sha256: null }],
  fingerprintKey: Buffer.alloc(32, 9),
};
const inline = createDlpEngine(compileDetectors(spec));

const policy = (over: Partial<CompiledDlpPolicy> = {}): CompiledDlpPolicy => ({
  packs: ['archives', 'pii', 'secrets'], actions: {}, defaultAction: null, bulkPiiThreshold: null,
  uninspectable: 'block', maxInspectBytes: 64 * 1024 * 1024, ...over,
});

const prose = (bytes: number): string => {
  const unit = 'The quarterly report covers revenue, churn and the new onboarding flow. ';
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
};
/** Hex digests in a chain: text that gzip cannot shrink much (a large body after compression). */
const hexNoise = (bytes: number): string => {
  let out = '';
  let h = 'seed';
  while (out.length < bytes) out += (h = createHash('sha256').update(h).digest('hex')) + ' ';
  return out.slice(0, bytes);
};
const chat = (bytes: number, tail: string): Buffer =>
  Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: prose(bytes) + tail }] }));

const json = { 'content-type': 'application/json' };
const cases: Array<[string, Record<string, string>, Buffer]> = [
  ['clean chat JSON, 1 MiB', json, chat(1 << 20, ' thanks')],
  ['an SSN at the end of 300 KiB of JSON (redact)', json, chat(300 * 1024, ` my SSN is ${SSN}`)],
  ['a card number in 512 KiB of text (redact)', { 'content-type': 'text/plain' }, Buffer.from(prose(512 * 1024) + ` card ${CARD} exp 09/29`)],
  ['a honeytoken in base64 (block)', json, chat(400 * 1024, ` ${Buffer.from(`token=${HONEY}`).toString('base64')}`)],
  ['an AWS key in a gzip-encoded body (re-encoded redaction or block)', { ...json, 'content-encoding': 'gzip' }, gzipSync(Buffer.from(JSON.stringify({ log: hexNoise(600 * 1024) + ` key ${AWS_KEY}` })))],
  ['a zip after 300 KiB of multipart (block)', { 'content-type': 'multipart/form-data; boundary=XyZ' }, Buffer.concat([
    Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="notes"\r\n\r\n${prose(300 * 1024)}\r\n--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    Buffer.from('504b0304140000000800', 'hex'), Buffer.alloc(64, 7), Buffer.from('\r\n--XyZ--\r\n'),
  ])],
];

const request = (headers: Record<string, string>, body: Buffer): InspectRequest =>
  ({ method: 'POST', url: '/v1/upload?x=1', headers, body, skipHeaders: [] });

/** Results compared as data: a redacted body by its bytes. */
const same = (a: InspectResult, b: InspectResult): void => {
  assert.deepEqual({ ...a, body: null }, { ...b, body: null });
  assert.equal(a.body === null, b.body === null);
  if (a.body && b.body) assert.ok(Buffer.from(a.body).equals(b.body), 'redacted bodies differ');
};

describe('inspection worker pool', () => {
  let pool: InspectPool;
  before(() => {
    pool = new InspectPool(spec, 2);
  });
  after(async () => {
    await pool.close();
  });

  for (const [name, headers, body] of cases) {
    test(`same result as inline: ${name}`, async () => {
      assert.ok(body.length >= OFFLOAD_MIN_BYTES, 'each case is large enough to be offloaded');
      const want = inline.inspect(request(headers, body), policy());
      // Once from ordinary memory (copied to shared memory), once from shared memory.
      const copy = Buffer.from(body);
      same(await pool.inspect(request(headers, copy), policy()), want);
      assert.ok(copy.equals(body), 'the caller\'s body is unchanged');
      const shared = sharedBody(body.length);
      body.copy(shared);
      same(await pool.inspect(request(headers, shared), policy()), want);
      assert.ok(shared.equals(body), 'the shared body is unchanged');
    });
  }

  test('the cases cover allow, redact and block', () => {
    const decisions = new Set(cases.map(([, h, b]) => inline.inspect(request(h, b), policy()).decision));
    assert.deepEqual([...decisions].sort(), ['allow', 'block', 'redact']);
  });

  test('a redacted body comes back as a Buffer', async () => {
    const [, headers, body] = cases[1]!;
    const r = await pool.inspect(request(headers, body), policy());
    assert.equal(r.decision, 'redact');
    assert.ok(Buffer.isBuffer(r.body));
    assert.ok(!r.body.includes(SSN));
  });

  test('the event loop keeps turning while a worker scans', async () => {
    const body = Buffer.from(prose(8 << 20));
    let turns = 0;
    let settled = false;
    const tick = (): void => {
      turns++;
      if (!settled) setImmediate(tick);
    };
    setImmediate(tick);
    const r = await pool.inspect(request({ 'content-type': 'text/plain' }, body), policy());
    settled = true;
    assert.equal(r.decision, 'allow');
    assert.ok(turns > 0, 'no event-loop turn ran during the scan');
  });

  test('jobs spread over the workers, and answers match their requests', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => chat(300 * 1024, i % 2 ? ` SSN ${SSN}` : ' clean'));
    const results = await Promise.all(bodies.map((b) => pool.inspect(request(json, b), policy())));
    assert.equal(pool.workers, 2);
    assert.deepEqual(results.map((r) => r.decision), ['allow', 'redact', 'allow', 'redact', 'allow', 'redact']);
    assert.equal(pool.inFlight, 0);
  });

  test('only bodies of OFFLOAD_MIN_BYTES and more are wanted', () => {
    assert.equal(pool.wants(OFFLOAD_MIN_BYTES - 1), false);
    assert.equal(pool.wants(OFFLOAD_MIN_BYTES), true);
  });
});

describe('inspection worker pool: failures', () => {
  test('closing with a job out answers it as uninspectable: blocked, or allowed when the policy says so', async () => {
    for (const uninspectable of ['block', 'allow'] as const) {
      const pool = new InspectPool(spec, 1);
      const pending = pool.inspect(request(json, chat(1 << 20, ` ${SSN}`)), policy({ uninspectable }));
      await pool.close();
      const r = await pending;
      assert.equal(r.reason, 'uninspectable');
      assert.equal(r.decision, uninspectable);
      assert.match(r.uninspectableDetail ?? '', /inspection worker/);
      assert.equal(pool.wants(OFFLOAD_MIN_BYTES), false, 'a closed pool takes no jobs');
    }
  });

  test('a worker that cannot build its engine fails the job closed and the pool stops offloading', async () => {
    const reasons: string[] = [];
    const bad: DetectorOptions = { ...spec, packSources: [{ file: '/nowhere/broken.yaml', text: 'pack: [unclosed' }] };
    const pool = new InspectPool(bad, 1, { onFailure: (why) => reasons.push(why) });
    try {
      const r = await pool.inspect(request(json, chat(300 * 1024, ` ${SSN}`)), policy());
      assert.equal(r.decision, 'block');
      assert.equal(r.reason, 'uninspectable');
      assert.equal(pool.wants(OFFLOAD_MIN_BYTES), false);
      assert.equal(reasons.length, 1);
      assert.match(reasons[0]!, /^inspection worker failed to start: /);
      assert.ok(!reasons[0]!.includes(SSN));
    } finally {
      await pool.close();
    }
  });

  test('a retired pool answers what it holds, then stops its workers', async () => {
    const pool = new InspectPool(spec, 1);
    const pending = pool.inspect(request(json, chat(1 << 20, ` ${SSN}`)), policy());
    pool.retire();
    assert.equal(pool.wants(OFFLOAD_MIN_BYTES), false);
    const r = await pending;
    assert.equal(r.decision, 'redact');
    assert.equal(pool.workers, 0);
    await pool.close();
  });

  test('the queue gauge follows jobs in and out', async () => {
    const seen: number[] = [];
    const pool = new InspectPool(spec, 1, { onQueue: (n) => seen.push(n) });
    try {
      await Promise.all([1, 2].map(() => pool.inspect(request(json, chat(300 * 1024, '')), policy())));
      assert.deepEqual(seen, [1, 2, 1, 0]);
    } finally {
      await pool.close();
    }
  });

  test('scan and wait are reported apart: the second of two bodies on one worker waits for the first', async () => {
    const seen: { scan: number; wait: number }[] = [];
    const pool = new InspectPool(spec, 1, { onScan: (scan, wait) => seen.push({ scan, wait }) });
    try {
      await pool.inspect(request(json, chat(300 * 1024, '')), policy()); // the worker is started and warm
      seen.length = 0;
      const bodies = [chat(8 << 20, ''), chat(300 * 1024, ' ')];
      const t0 = performance.now();
      await Promise.all(bodies.map((b) => pool.inspect(request(json, b), policy())));
      const elapsed = (performance.now() - t0) / 1000;
      assert.equal(seen.length, 2);
      for (const s of seen) {
        assert.ok(s.scan > 0 && s.wait >= 0, `scan ${s.scan} wait ${s.wait}`);
        assert.ok(s.scan + s.wait <= elapsed + 0.001, 'each job within the time the two took');
      }
      // One worker: the small second job queued behind the large first one's scan.
      assert.ok(seen[1]!.wait >= seen[0]!.scan * 0.5, `second waited ${seen[1]!.wait}, first scanned ${seen[0]!.scan}`);
      assert.ok(seen[1]!.wait > seen[0]!.wait);
    } finally {
      await pool.close();
    }
  });

  test('a pool needs at least one worker', () => {
    assert.throws(() => new InspectPool(spec, 0), RangeError);
  });
});

describe('shared body arena', () => {
  test('a released buffer is handed out again, best fit first, as a zero-offset view of the size asked', () => {
    const arena = new SharedBodyArena(64 << 20);
    const big = arena.acquire(3 << 20);
    const small = arena.acquire(300 * 1024);
    assert.equal(arena.out, 2);
    assert.equal(big.length, 3 << 20);
    assert.ok(big.buffer instanceof SharedArrayBuffer);
    arena.release(big);
    arena.release(small);
    assert.equal(arena.out, 0);
    const again = arena.acquire(200 * 1024);
    assert.equal(again.buffer, small.buffer, 'the smaller kept buffer that fits');
    assert.equal(again.byteOffset, 0);
    assert.equal(again.length, 200 * 1024);
    assert.equal(arena.acquire(2 << 20).buffer, big.buffer);
    assert.notEqual(arena.acquire(5 << 20).buffer, big.buffer, 'none fits: a new one');
  });

  test('a buffer released twice is kept once (never handed to two bodies)', () => {
    const arena = new SharedBodyArena(64 << 20);
    const a = arena.acquire(1 << 20);
    arena.release(a);
    arena.release(a);
    assert.equal(arena.kept, a.buffer.byteLength);
    const x = arena.acquire(1 << 20);
    const y = arena.acquire(1 << 20);
    assert.notEqual(x.buffer, y.buffer);
  });

  test('foreign buffers are ignored, and no more than maxKeptBytes is kept', () => {
    const arena = new SharedBodyArena(3 << 20);
    arena.release(Buffer.alloc(1 << 20));
    arena.release(sharedBody(1 << 20));
    assert.equal(arena.kept, 0);
    const bufs = [1, 2, 3].map(() => arena.acquire(1 << 20));
    for (const b of bufs) arena.release(b);
    assert.equal(arena.kept, 3 << 20);
    const four = [1, 2, 3, 4].map(() => arena.acquire(1 << 20));
    for (const b of four) arena.release(b);
    assert.equal(arena.kept, 3 << 20, 'the fourth is left to the collector');
  });

  test('a pool copies ordinary bodies into the arena and gives the copy back after the answer', async () => {
    const arena = new SharedBodyArena(64 << 20);
    const pool = new InspectPool(spec, 1, { arena });
    try {
      const r = await pool.inspect(request(json, chat(300 * 1024, ` ${SSN}`)), policy());
      assert.equal(r.decision, 'redact');
      assert.equal(arena.out, 0);
      assert.ok(arena.kept >= 300 * 1024);
    } finally {
      await pool.close();
    }
  });
});

describe('upstream body stream', () => {
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const numbered = (buf: Buffer): Buffer => {
    for (let at = 0; at + 4 <= buf.length; at += 4) buf.writeUInt32LE(at, at);
    return buf;
  };

  test('an arena body is copied out a slice at a time as it is read, and its buffer goes back after the last', async () => {
    const arena = new SharedBodyArena(32 << 20);
    const body = numbered(arena.acquire(8 << 20));
    const expected = Buffer.from(body);
    const stream = upstreamBodyStream(body, arena);
    const chunks: Buffer[] = [];
    // An upstream that takes one slice and then stalls: no more than one more is copied ahead.
    await new Promise((resolve) => stream.once('readable', resolve));
    chunks.push(stream.read() as Buffer);
    for (let i = 0; i < 5; i++) await tick();
    assert.ok(stream.readableLength <= 1, `${stream.readableLength} slices copied ahead of the reader`);
    assert.equal(arena.out, 1, 'the arena buffer stays out while slices remain');
    for await (const c of stream) chunks.push(c as Buffer);
    for (const c of chunks) {
      assert.ok(!(c.buffer instanceof SharedArrayBuffer), 'a slice never points into shared memory');
      assert.ok(c.length <= 256 * 1024);
    }
    assert.ok(Buffer.concat(chunks).equals(expected));
    assert.equal(arena.out, 0);
    assert.equal(arena.kept, 8 << 20);
  });

  test('an arena body whose stream is destroyed before its first read goes back to the arena', async () => {
    const arena = new SharedBodyArena(32 << 20);
    const stream = upstreamBodyStream(arena.acquire(1 << 20), arena);
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    assert.equal(arena.out, 0);
    assert.equal(arena.kept, 1 << 20);
  });

  test('an ordinary body goes out as views on itself, in order', async () => {
    const body = numbered(Buffer.alloc(1 << 20));
    const chunks: Buffer[] = [];
    for await (const c of upstreamBodyStream(body, null)) chunks.push(c as Buffer);
    assert.ok(chunks.length > 1);
    assert.ok(chunks.every((c) => c.buffer === body.buffer), 'no copies of a private body');
    assert.ok(Buffer.concat(chunks).equals(body));
  });
});
