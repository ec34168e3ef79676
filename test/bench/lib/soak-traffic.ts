// The soak benchmark's traffic (test/bench/soak.ts): one round of a varied mix through the proxy,
// every kind with its own small concurrency and an expected outcome. Each operation that ends
// otherwise — wrong status, reset, timeout — is counted as unexpected under a short label and
// never stops the round. Everything is sent to 127.0.0.1.
import { randomInt } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Pool } from 'undici';
import { makePool, openTls, openTunnel, requestOnce, type Route } from './client.js';
import { chatBody, uploadBody } from './payloads.js';
import { MiB, sleep } from './stats.js';

/** Operations per round for each kind (and their concurrency). */
export interface SoakLoad {
  /** keep-alive GET /1k over one undici Pool of `connections` */
  readonly keepAlive: { readonly requests: number; readonly connections: number };
  /** clean ~20 KiB chat completion (expect 200) */
  readonly chat: { readonly requests: number; readonly concurrency: number };
  /** the chat body with a planted AWS key pair (expect 403, x-warden-reason: dlp) */
  readonly secret: { readonly requests: number; readonly concurrency: number };
  /** the chat body with an e-mail address, to POST /echo (expect 200 with the body redacted) */
  readonly pii: { readonly requests: number; readonly concurrency: number };
  /** CONNECT + TLS + GET /1k + close per request */
  readonly newConn: { readonly requests: number; readonly concurrency: number };
  /** 8 MiB POST /echo */
  readonly uploads: { readonly count: number; readonly concurrency: number; readonly bytes: number };
  /** SSE streams read to the end, and as many destroyed halfway */
  readonly sse: { readonly full: number; readonly aborted: number; readonly events: number; readonly intervalMs: number; readonly concurrency: number };
  /** uploads announcing `bytes`, destroyed after 1 MiB */
  readonly uploadAbort: { readonly count: number; readonly concurrency: number };
  /** each of the five broken-input kinds this many times */
  readonly broken: { readonly each: number; readonly concurrency: number };
  /** passthrough tunnels to tunnel.bench.test: open, one GET, close */
  readonly passthrough: { readonly count: number; readonly concurrency: number };
  /** WebSocket sessions to /ws: clean and e-mail messages echoed (the e-mail redacted), and as many that send the key pair (closed with 1008) */
  readonly ws: { readonly sessions: number; readonly concurrency: number };
  /** cold host names per round (new ones) and the fixed set reused every round */
  readonly cold: { readonly names: number; readonly concurrency: number };
}

export const KINDS = [
  'keepalive', 'chat', 'chat-secret', 'chat-pii', 'newconn', 'upload', 'sse', 'sse-abort', 'upload-abort',
  'bad-tls', 'bad-line', 'bad-head', 'denied', 'silent', 'passthrough', 'ws', 'ws-secret', 'cold-fixed', 'cold-new',
] as const;
export type Kind = (typeof KINDS)[number];

/** What each kind expects, for the report. */
export const EXPECTED: Readonly<Record<Kind, string>> = {
  keepalive: '200, 1 KiB body',
  chat: '200, chat.completion JSON',
  'chat-secret': '403, x-warden-reason: dlp',
  'chat-pii': '200, upstream received a body of another length (redacted)',
  newconn: '200',
  upload: '200, upstream received every byte',
  sse: 'every event and [DONE]',
  'sse-abort': 'half the events, then the client destroys the socket',
  'upload-abort': 'client destroys the socket after 1 MiB of the announced body',
  'bad-tls': 'proxy closes the tunnel after non-TLS bytes',
  'bad-line': '400 for a malformed request line inside the tunnel',
  'bad-head': 'closed (400 or no response) after a head without its final CRLF and a client EOF',
  denied: '403 at CONNECT (host not allowed)',
  silent: 'CONNECT 200, then nothing sent; the client closes after 200 ms',
  passthrough: '200 through an uninspected tunnel (client verifies the upstream with the test CA)',
  ws: 'WebSocket: 3 clean messages echoed as sent, 1 with an e-mail address echoed redacted, then a clean close',
  'ws-secret': 'WebSocket: a message with the AWS key pair; Warden closes with 1008, nothing echoed',
  'cold-fixed': '200 on a name from the fixed set (leaf cached after round 1)',
  'cold-new': '200 on a name never seen before (new leaf minted)',
};

/** Outcome counts of one round: per kind, the expected count and the unexpected ones by label. */
export class Tally {
  readonly ok = new Map<Kind, number>();
  readonly bad = new Map<Kind, Map<string, number>>();

  pass(kind: Kind): void {
    this.ok.set(kind, (this.ok.get(kind) ?? 0) + 1);
  }

  fail(kind: Kind, what: string): void {
    const m = this.bad.get(kind) ?? new Map<string, number>();
    // Labels are short and carry no body: statuses, error codes, our own messages.
    const label = what.replace(/\s+/g, ' ').slice(0, 120);
    m.set(label, (m.get(label) ?? 0) + 1);
    this.bad.set(kind, m);
  }

  okCount(kind?: Kind): number {
    if (kind) return this.ok.get(kind) ?? 0;
    let n = 0;
    for (const v of this.ok.values()) n += v;
    return n;
  }

  badCount(kind?: Kind): number {
    let n = 0;
    for (const [k, m] of this.bad) if (!kind || k === kind) for (const v of m.values()) n += v;
    return n;
  }
}

export interface TrafficCtx {
  readonly proxyPort: number;
  /** trusts Warden's CA: inspected hosts */
  readonly route: Route;
  /** trusts the test CA: the passthrough host */
  readonly tunnelRoute: Route;
  readonly tally: Tally;
  /** bound on one operation */
  readonly opTimeoutMs: number;
}

/**
 * Runs `count` operations with `concurrency` workers. An operation resolves with null when the
 * outcome was the expected one, or with a label for an unexpected one; a throw is unexpected too.
 */
async function repeat(ctx: TrafficCtx, kind: Kind, count: number, concurrency: number, op: (i: number) => Promise<string | null>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        const problem = await op(i);
        if (problem === null) ctx.tally.pass(kind);
        else ctx.tally.fail(kind, problem);
      } catch (err) {
        ctx.tally.fail(kind, err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

// ------------------------------------------------------------------------------ request bodies
const AWS_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const pick = (chars: string, n: number): string => Array.from({ length: n }, () => chars[randomInt(chars.length)] ?? 'A').join('');

/** The bodies of one run; the planted values are random per run and never printed. */
export interface SoakBodies {
  readonly chat: Buffer;
  /** chat + an AWS access key id and secret access key in a user turn (DLP: block) */
  readonly secret: Buffer;
  /** chat + an e-mail address in a user turn (DLP: redact) */
  readonly pii: Buffer;
  readonly upload: Buffer;
  /** WebSocket messages: the key pair (block) and the e-mail address (redact) */
  readonly wsSecret: Buffer;
  readonly wsPii: Buffer;
}

export function makeBodies(uploadBytes: number): SoakBodies {
  const chat = chatBody();
  const withTurn = (content: string): Buffer => {
    const req = JSON.parse(chat.toString('utf8')) as { messages: Array<{ role: string; content: string }> };
    req.messages.push({ role: 'user', content });
    return Buffer.from(JSON.stringify(req));
  };
  // A key id from AWS's alphabet and a 40-character secret with all three character classes,
  // as the secrets pack's validators ask (dlp-patterns/secrets.yaml aws_*).
  const keyId = `AKIA${pick(AWS_ID_CHARS, 16)}`;
  const secretKey = `${pick(B64_CHARS, 37)}Q7k`;
  const mailbox = `${pick('abcdefghijklmnopqrstuvwxyz', 8)}.${pick('abcdefghijklmnopqrstuvwxyz', 6)}@fastmail.com`;
  return {
    chat,
    secret: withTurn(`Deploy with these:\naws_access_key_id = ${keyId}\naws_secret_access_key = ${secretKey}\n`),
    pii: withTurn(`Please forward the summary to ${mailbox} before Friday.`),
    upload: uploadBody(uploadBytes),
    wsSecret: Buffer.from(JSON.stringify({ type: 'input_text', text: `aws_access_key_id = ${keyId}\naws_secret_access_key = ${secretKey}` })),
    wsPii: Buffer.from(JSON.stringify({ type: 'input_text', text: `mail ${mailbox} today` })),
  };
}

// ------------------------------------------------------------------------------ raw-socket helpers
/** Resolves with the status of the first response head on `sock`, or null if it closes first. */
function readStatus(sock: Socket | TLSSocket, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (v: number | null, err?: Error): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(v);
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m) done(Number(m[1]));
      else if (buf.length > 64 && !buf.startsWith('HTTP/')) done(0);
    };
    const onClose = (): void => done(null);
    const timer = setTimeout(() => done(null, new Error(`no response or close in ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.on('error', () => undefined);
    sock.resume();
  });
}

/** Resolves true once `sock` closes, false if it is still open after `timeoutMs`. */
function waitClosed(sock: Socket | TLSSocket, timeoutMs: number): Promise<boolean> {
  if (sock.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    sock.on('error', () => undefined);
    sock.resume();
  });
}

/** CONNECT `target` and return the status of the proxy's answer; the socket is closed after. */
function connectStatus(proxyPort: number, target: string, timeoutMs: number): Promise<number | null> {
  const sock = netConnect({ host: '127.0.0.1', port: proxyPort });
  sock.on('error', () => undefined);
  sock.once('connect', () => sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
  return readStatus(sock, timeoutMs).finally(() => sock.destroy());
}

// ------------------------------------------------------------------------------ one round
async function expect200(pool: Pool, path: string, check: (text: string) => string | null): Promise<string | null> {
  const res = await pool.request({ method: 'GET', path });
  const text = await res.body.text();
  if (res.statusCode !== 200) return `HTTP ${res.statusCode}`;
  return check(text);
}

async function post(pool: Pool, path: string, body: Buffer, contentType: string): Promise<{ status: number; reason: string | null; text: string }> {
  const res = await pool.request({ method: 'POST', path, headers: { 'content-type': contentType }, body });
  const text = await res.body.text();
  const r = res.headers['x-warden-reason'];
  return { status: res.statusCode, reason: typeof r === 'string' ? r : null, text };
}

/** One GET on a fresh CONNECT + TLS connection, closed after. */
async function oneShot(route: Route, host: string, timeoutMs: number): Promise<string | null> {
  const sock = await openTls(route, host, timeoutMs);
  try {
    const status = await requestOnce(sock, host, '/1k', { timeoutMs });
    return status === 200 ? null : `HTTP ${status}`;
  } finally {
    sock.destroy();
  }
}

/** Reads an SSE response on a fresh connection; `abortAfter` events (or the whole stream when null). */
async function sseStream(ctx: TrafficCtx, events: number, intervalMs: number, abortAfter: number | null): Promise<string | null> {
  const sock = await openTls(ctx.route, 'bench.test', ctx.opTimeoutMs);
  try {
    return await new Promise<string | null>((resolve) => {
      let text = '';
      let settled = false;
      const finish = (v: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const count = (): number => text.split('data: {"i":').length - 1;
      const timer = setTimeout(() => finish(`timeout after ${count()} events`), ctx.opTimeoutMs);
      sock.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (!text.startsWith('HTTP/1.1 200')) {
          if (text.length >= 12) finish(`HTTP ${text.slice(9, 12)}`);
          return;
        }
        if (abortAfter !== null && count() >= abortAfter) finish(null); // destroyed mid-stream
        else if (text.includes('data: [DONE]') && /\r\n0\r\n\r\n$/.test(text)) finish(count() === events ? null : `${count()} of ${events} events`);
      });
      sock.once('close', () => finish(abortAfter === null && count() === events && text.includes('[DONE]') ? null : `closed after ${count()} events`));
      sock.write(
        `GET /sse?n=${events}&interval=${intervalMs} HTTP/1.1\r\nHost: bench.test\r\nAccept: text/event-stream\r\n` +
          'User-Agent: warden-bench\r\nConnection: close\r\n\r\n',
      );
    });
  } finally {
    sock.destroy();
  }
}

/** An upload that announces `bytes`, sends 1 MiB and is destroyed. */
async function abortedUpload(ctx: TrafficCtx, bytes: number, chunk: Buffer): Promise<string | null> {
  const sock = await openTls(ctx.route, 'bench.test', ctx.opTimeoutMs);
  try {
    sock.write(
      `POST /echo HTTP/1.1\r\nHost: bench.test\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes}\r\n` +
        'User-Agent: warden-bench\r\n\r\n',
    );
    await new Promise<void>((resolve) => sock.write(chunk, () => resolve()));
    await sleep(20); // let the proxy start forwarding what it got
    return null;
  } finally {
    sock.destroy();
  }
}

const BROKEN = ['bad-tls', 'bad-line', 'bad-head', 'denied', 'silent'] as const;

async function broken(ctx: TrafficCtx, kind: (typeof BROKEN)[number]): Promise<string | null> {
  const t = ctx.opTimeoutMs;
  switch (kind) {
    case 'bad-tls': {
      // CONNECT accepted, then bytes that are not a TLS ClientHello.
      const sock = await openTunnel(ctx.proxyPort, 'bench.test:443', t);
      try {
        sock.write('GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n' + 'not a client hello '.repeat(8));
        return (await waitClosed(sock, 5000)) ? null : 'tunnel still open 5 s after non-TLS bytes';
      } finally {
        sock.destroy();
      }
    }
    case 'bad-line': {
      const sock = await openTls(ctx.route, 'bench.test', t);
      try {
        sock.write('HELLO\x01WORLD /1k HTTP/1.1\r\nHost: bench.test\r\n\r\n');
        const status = await readStatus(sock, 5000);
        return status === 400 ? null : status === null ? 'closed without a response' : `HTTP ${status}`;
      } finally {
        sock.destroy();
      }
    }
    case 'bad-head': {
      const sock = await openTls(ctx.route, 'bench.test', t);
      try {
        sock.end('GET /1k HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: warden-bench\r\n'); // no final CRLF, then EOF
        const status = await readStatus(sock, 5000);
        if (status !== null && status !== 400) return `HTTP ${status}`;
        return (await waitClosed(sock, 5000)) ? null : 'still open 5 s after the client EOF';
      } finally {
        sock.destroy();
      }
    }
    case 'denied': {
      const status = await connectStatus(ctx.proxyPort, 'denied.soak.invalid:443', t);
      return status === 403 ? null : status === null ? 'closed without a response' : `HTTP ${status}`;
    }
    case 'silent': {
      const sock = await openTunnel(ctx.proxyPort, 'bench.test:443', t);
      await sleep(200);
      sock.destroy();
      return null;
    }
  }
}

// ------------------------------------------------------------------------------ WebSocket
/** A masked client frame (RFC 6455 §5.2), FIN set. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const mask = Buffer.from([randomInt(256), randomInt(256), randomInt(256), randomInt(256)]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!))]);
}

/**
 * Reads unmasked server frames after the 101 head: `next()` resolves with the next frame, or
 * null once the socket has closed.
 */
function frameReader(sock: TLSSocket, timeoutMs: number): { head: Promise<string>; next(): Promise<{ opcode: number; payload: Buffer } | null> } {
  let buf = Buffer.alloc(0);
  let headDone = false;
  let closed = false;
  let wake: (() => void) | null = null;
  let headResolve: (h: string) => void = () => undefined;
  const head = new Promise<string>((r) => (headResolve = r));
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!headDone) {
      const at = buf.indexOf('\r\n\r\n');
      if (at < 0) return;
      headDone = true;
      headResolve(buf.subarray(0, at).toString('latin1'));
      buf = buf.subarray(at + 4);
    }
    wake?.();
  });
  sock.once('close', () => {
    closed = true;
    if (!headDone) headResolve('');
    wake?.();
  });
  const take = (): { opcode: number; payload: Buffer } | null => {
    if (!headDone || buf.length < 2) return null;
    let len = buf[1]! & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) return null;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) return null;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    if (buf.length < at + len) return null;
    const f = { opcode: buf[0]! & 0x0f, payload: Buffer.from(buf.subarray(at, at + len)) };
    buf = buf.subarray(at + len);
    return f;
  };
  return {
    head,
    async next() {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const f = take();
        if (f) return f;
        if (closed) return null;
        if (Date.now() > end) throw new Error('no WebSocket frame in time');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
        wake = null;
      }
    },
  };
}

/** One WebSocket session through the proxy (see EXPECTED ws / ws-secret). */
async function wsSession(ctx: TrafficCtx, bodies: SoakBodies, secret: boolean): Promise<string | null> {
  const sock = await openTls(ctx.route, 'bench.test', ctx.opTimeoutMs);
  try {
    const frames = frameReader(sock, 5000);
    sock.write(`GET /ws HTTP/1.1\r\nHost: bench.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: ${Buffer.from(Array.from({ length: 16 }, () => randomInt(256))).toString('base64')}\r\n\r\n`);
    const head = await frames.head;
    if (!/^HTTP\/1\.1 101 /.test(head)) return `upgrade: ${head.split('\r\n')[0] || 'closed'}`;
    if (secret) {
      sock.write(clientFrame(0x1, bodies.wsSecret));
      const f = await frames.next();
      if (f === null) return 'closed without a close frame';
      if (f.opcode !== 0x8) return `got opcode ${f.opcode} instead of a close`;
      const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 0;
      return code === 1008 ? null : `closed with ${code}`;
    }
    const clean = [0, 1, 2].map((i) => Buffer.from(JSON.stringify({ type: 'input_text', text: `clean message ${i}` })));
    for (const m of [...clean, bodies.wsPii]) sock.write(clientFrame(0x1, m));
    for (const m of clean) {
      const f = await frames.next();
      if (f === null || f.opcode !== 0x1 || !f.payload.equals(m)) return f === null ? 'closed early' : 'clean message changed';
    }
    const pii = await frames.next();
    if (pii === null || pii.opcode !== 0x1) return 'no echo of the e-mail message';
    if (pii.payload.equals(bodies.wsPii)) return 'e-mail message not redacted';
    sock.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
    const close = await frames.next();
    return close?.opcode === 0x8 ? null : 'no close frame back';
  } finally {
    sock.destroy();
  }
}

/** One round's mix, every kind at once (each with its own concurrency). Cold names run apart: see coldNames. */
export async function runMix(ctx: TrafficCtx, load: SoakLoad, bodies: SoakBodies): Promise<void> {
  const ka = makePool(ctx.route, 'bench.test', load.keepAlive.connections);
  const chatPool = makePool(ctx.route, 'bench.test', load.chat.concurrency);
  const dlpPool = makePool(ctx.route, 'bench.test', load.secret.concurrency + load.pii.concurrency);
  const upPool = makePool(ctx.route, 'bench.test', load.uploads.concurrency);
  const sseP = load.sse;
  const oneMiB = bodies.upload.subarray(0, Math.min(MiB, bodies.upload.length));
  try {
    await Promise.all([
      repeat(ctx, 'keepalive', load.keepAlive.requests, load.keepAlive.connections, () =>
        expect200(ka, '/1k', (text) => (text.length === 1024 ? null : `${text.length} B body`))),
      repeat(ctx, 'chat', load.chat.requests, load.chat.concurrency, async () => {
        const r = await post(chatPool, '/v1/chat/completions', bodies.chat, 'application/json');
        if (r.status !== 200) return `HTTP ${r.status}${r.reason ? ` ${r.reason}` : ''}`;
        return r.text.includes('chat.completion') ? null : 'unexpected response body';
      }),
      repeat(ctx, 'chat-secret', load.secret.requests, load.secret.concurrency, async () => {
        const r = await post(dlpPool, '/v1/chat/completions', bodies.secret, 'application/json');
        return r.status === 403 && r.reason === 'dlp' ? null : `HTTP ${r.status} reason ${String(r.reason)}`;
      }),
      repeat(ctx, 'chat-pii', load.pii.requests, load.pii.concurrency, async () => {
        const r = await post(dlpPool, '/echo', bodies.pii, 'application/json');
        if (r.status !== 200) return `HTTP ${r.status}${r.reason ? ` ${r.reason}` : ''}`;
        const got = (JSON.parse(r.text) as { bytes?: number }).bytes;
        return got !== undefined && got > 0 && got !== bodies.pii.length ? null : 'upstream received the body unchanged';
      }),
      repeat(ctx, 'newconn', load.newConn.requests, load.newConn.concurrency, () => oneShot(ctx.route, 'bench.test', ctx.opTimeoutMs)),
      repeat(ctx, 'upload', load.uploads.count, load.uploads.concurrency, async () => {
        const r = await post(upPool, '/echo', bodies.upload, 'text/plain; charset=utf-8');
        if (r.status !== 200) return `HTTP ${r.status}${r.reason ? ` ${r.reason}` : ''}`;
        const got = (JSON.parse(r.text) as { bytes?: number }).bytes;
        return got === bodies.upload.length ? null : `upstream received ${String(got)} bytes`;
      }),
      repeat(ctx, 'sse', sseP.full, sseP.concurrency, () => sseStream(ctx, sseP.events, sseP.intervalMs, null)),
      repeat(ctx, 'sse-abort', sseP.aborted, sseP.concurrency, () => sseStream(ctx, sseP.events, sseP.intervalMs, Math.floor(sseP.events / 2))),
      repeat(ctx, 'upload-abort', load.uploadAbort.count, load.uploadAbort.concurrency, () =>
        abortedUpload(ctx, load.uploads.bytes, oneMiB)),
      ...BROKEN.map((kind) => repeat(ctx, kind, load.broken.each, load.broken.concurrency, () => broken(ctx, kind))),
      repeat(ctx, 'passthrough', load.passthrough.count, load.passthrough.concurrency, () =>
        oneShot(ctx.tunnelRoute, 'tunnel.bench.test', ctx.opTimeoutMs)),
      repeat(ctx, 'ws', load.ws.sessions, load.ws.concurrency, () => wsSession(ctx, bodies, false)),
      repeat(ctx, 'ws-secret', load.ws.sessions, load.ws.concurrency, () => wsSession(ctx, bodies, true)),
    ]);
  } finally {
    await Promise.all([ka, chatPool, dlpPool, upPool].map((p) => p.destroy().catch(() => undefined)));
  }
}

/** One connection (CONNECT + TLS + GET /1k + close) to each name, `concurrency` at a time. */
export function coldNames(ctx: TrafficCtx, kind: 'cold-fixed' | 'cold-new', names: readonly string[], concurrency: number): Promise<void> {
  return repeat(ctx, kind, names.length, concurrency, (i) => oneShot(ctx.route, names[i] ?? 'bench.test', ctx.opTimeoutMs));
}
