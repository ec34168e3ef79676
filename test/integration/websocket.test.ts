/**
 * WebSocket messages are inspected like request bodies: through the running proxy, against an
 * independent WebSocket server (the `ws` package, permessage-deflate on), with undici's client
 * and with frames written by hand for what a well-behaved client never sends.
 */
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'undici';
import { WebSocketServer } from 'ws';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, rawExchange, startWarden, type Harness } from './harness.js';

// Synthetic values (valid checksums, not real people or keys).
const SSN = '536-22-8143';
const HONEY = 'WARDEN-CANARY-5b8e0d7c3a1f';
const PRIVATE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const CARD = '4556737586899855';
const KEY_LINE = PRIVATE_KEY.split('\n')[1]!;
const PLANTED = [SSN, CARD, HONEY, KEY_LINE];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Received { readonly path: string; readonly data: Buffer; readonly binary: boolean }

describe('WebSocket messages are inspected', { timeout: 30_000 }, () => {
  let h: Harness;
  let server: Server;
  let plain: HttpServer;
  let wss: WebSocketServer;
  let dir: string;
  let upstreamPort = 0;
  const received: Received[] = [];
  const upgrades: Record<string, string | string[] | undefined>[] = [];
  const rawUp = new Map<string, Buffer[]>(); // bytes each upstream connection read after its upgrade head

  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-ws-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const leaf = pki.issue(['api.test.local']);
    server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem });
    // permessage-deflate on: if Warden let the client offer it, frames would arrive compressed.
    wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
    plain = createHttpServer();
    const onUpgrade = (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
      upgrades.push(req.headers);
      const raw: Buffer[] = [Buffer.from(head)];
      rawUp.set(req.url ?? '', raw);
      socket.on('data', (c: Buffer) => raw.push(c));
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data: Buffer, binary: boolean) => {
          received.push({ path: req.url ?? '', data: Buffer.from(data), binary });
          ws.send(data, { binary });
        });
        ws.on('ping', (data: Buffer) => received.push({ path: req.url ?? '', data: Buffer.from(data), binary: true }));
        ws.on('error', () => undefined);
      });
    };
    server.on('upgrade', onUpgrade);
    plain.on('upgrade', onUpgrade);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const plainPort = (plain.address() as AddressInfo).port;
    upstreamPort = port;
    const profiles = `  default:
    allow: [api.test.local, { host: plainws.test.local, ports: [80] }, { host: "*.wild.test.local", ports: [80] }]
  small:
    allow: [api.test.local]
    dlp: { max_inspect: 64KiB }
  loose:
    allow: [api.test.local]
    limits: { max_body: 256KiB }
    dlp: { max_inspect: 64KiB, uninspectable: allow }
`;
    h = await startWarden({
      yaml: baseYaml(port, join(dir, 'up.pem'), profiles).replace('    "*.test.local:80"', `    "plainws.test.local:80": "127.0.0.1:${plainPort}"\n    "*.test.local:80"`) +
        // The global inspection buffer, smaller than one message of the overload test.
        'server:\n  max_inspect_buffer: 256KiB\n' +
        `honeytokens:\n  - { id: canary-ws, value: "${HONEY}" }\nagents:\n` +
        `  - { id: small, token_sha256: "${sha('small-token')}", profile: small }\n` +
        `  - { id: loose, token_sha256: "${sha('loose-token')}", profile: loose }\n`,
    });
  });
  after(async () => {
    const text = h.audit.text();
    // Every connection is closed by now: each one gave back what it held of the global inspection buffer.
    const released = await waitFor(() => h.proxy.inspectBudget.inUse === 0 || undefined).catch(() => false);
    await h.close();
    for (const c of wss.clients) c.terminate();
    wss.close();
    for (const s of [server, plain]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    rmSync(dir, { recursive: true, force: true });
    for (const v of PLANTED) assert.ok(!text.includes(v), 'a planted value reached the audit stream');
    assert.ok(released, 'the global inspection buffer is back at 0');
  });

  const seenOn = (path: string): Received[] => received.filter((r) => r.path === path);
  const record = (path: string) => h.audit.records.find((r) => r.event === 'request' && (r.url ?? '').startsWith(`wss://api.test.local:443${path}`));
  const waitFor = async <T>(f: () => T | undefined, ms = 4000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** undici's WebSocket through the proxy; resolves with what it received and how it closed. */
  const session = (path: string, send: (ws: WebSocket) => void, expect: number, auth?: string) =>
    new Promise<{ messages: (string | Buffer)[]; code: number | null }>((resolve, reject) => {
      const ws = new WebSocket(`wss://api.test.local${path}`, { dispatcher: h.agent(auth ? { auth } : {}) } as unknown as string[]);
      ws.binaryType = 'arraybuffer';
      const messages: (string | Buffer)[] = [];
      const timer = setTimeout(() => reject(new Error(`websocket ${path}: timeout`)), 5000);
      ws.addEventListener('open', () => send(ws));
      ws.addEventListener('message', (e) => {
        messages.push(typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer));
        if (messages.length === expect) ws.close(1000);
      });
      ws.addEventListener('close', (e) => {
        clearTimeout(timer);
        resolve({ messages, code: e.code });
      });
    });

  test('clean text and binary messages arrive byte for byte; no compression is negotiated', async () => {
    const bin = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff));
    const text = JSON.stringify({ type: 'response.create', response: { instructions: 'é'.repeat(40_000) } });
    const r = await session('/clean', (ws) => {
      ws.send('hello');
      ws.send(bin);
      ws.send(text);
    }, 3);
    assert.equal(r.messages[0], 'hello');
    assert.deepEqual(r.messages[1], bin);
    assert.equal(r.messages[2], text);
    assert.deepEqual(seenOn('/clean').map((m) => m.data.toString('latin1')), ['hello', bin.toString('latin1'), Buffer.from(text).toString('latin1')]);
    assert.deepEqual(seenOn('/clean').map((m) => m.binary), [false, true, false]);
    const offered = upgrades.find((u) => u['sec-websocket-key'] !== undefined)!;
    assert.equal(offered['sec-websocket-extensions'], undefined, 'permessage-deflate is not offered upstream');
    const rec = await waitFor(() => record('/clean'));
    assert.equal(rec.decision, 'allow');
    assert.equal(rec.findings, undefined);
  });

  test('a private key in a message closes the connection with 1008 and never reaches the upstream', async () => {
    const r = await session('/key', (ws) => {
      ws.send('first, a clean message');
      setTimeout(() => ws.send(JSON.stringify({ type: 'conversation.item.create', item: { content: [{ type: 'input_text', text: `use ${PRIVATE_KEY}` }] } })), 50);
    }, 99);
    assert.equal(r.code, 1008);
    assert.deepEqual(r.messages, ['first, a clean message']);
    assert.deepEqual(seenOn('/key').map((m) => m.data.toString()), ['first, a clean message']);
    const rec = await waitFor(() => record('/key'));
    assert.equal(rec.decision, 'block');
    assert.equal(rec.reason, 'dlp');
    const f = rec.findings?.find((x) => x.action === 'block');
    assert.ok(f, 'a blocking finding is recorded');
    assert.match(f.where, /^message\.item\.content\[0\]\.text/);
  });

  test('an SSN in a JSON message arrives redacted and the JSON still parses', async () => {
    const msg = JSON.stringify({ type: 'conversation.item.create', item: { content: [{ type: 'input_text', text: `My SSN is ${SSN}.` }] } });
    const r = await session('/ssn', (ws) => ws.send(msg), 1);
    assert.equal(r.code, 1000);
    const seen = seenOn('/ssn');
    assert.equal(seen.length, 1);
    const parsed = JSON.parse(seen[0]!.data.toString()) as { item: { content: { text: string }[] } };
    assert.equal(parsed.item.content[0]!.text, 'My SSN is [REDACTED:us_ssn].');
    const rec = await waitFor(() => record('/ssn'));
    assert.equal(rec.decision, 'redact');
    assert.equal(rec.findings?.[0]?.type, 'us_ssn');
    assert.equal(rec.findings?.[0]?.count, 1);
  });

  test('findings of many messages add up in the one record of the connection', async () => {
    const msg = JSON.stringify({ text: `SSN ${SSN}` });
    await session('/many', (ws) => {
      for (let i = 0; i < 5; i++) ws.send(msg);
    }, 5);
    const rec = await waitFor(() => record('/many'));
    assert.equal(rec.decision, 'redact');
    assert.deepEqual(rec.findings?.map((f) => [f.type, f.where, f.count]), [['us_ssn', 'message.text', 5]]);
  });

  /** A TLS connection through Warden's tunnel after a hand-written upgrade; returns the socket and what it reads. */
  const rawSocket = async (path: string, auth?: string, o: { plain?: boolean; upgrade?: string; status?: number; headers?: string; connection?: string; host?: string } = {}): Promise<{ tls: Duplex; bytes: () => Buffer; closed: Promise<void> }> => {
    const tcp = netConnect(h.port, '127.0.0.1');
    await new Promise<void>((r) => tcp.once('connect', () => r()));
    const proxyAuth = auth ? `proxy-authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n` : '';
    let tls: Duplex = tcp;
    if (!o.plain) {
      tcp.write(`CONNECT api.test.local:443 HTTP/1.1\r\nhost: api.test.local:443\r\n${proxyAuth}\r\n`);
      await new Promise<void>((r) => tcp.once('data', () => r()));
      const t = tlsConnect({ socket: tcp, servername: 'api.test.local', ca: h.wardenCa });
      await new Promise<void>((r) => t.once('secureConnect', () => r()));
      tls = t;
    }
    const chunks: Buffer[] = [];
    tls.on('data', (c: Buffer) => chunks.push(c));
    tls.on('error', () => undefined);
    const closed = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        tls.destroy();
        reject(new Error(`${path}: Warden did not close the connection`));
      }, 5000);
      tls.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    const target = o.plain ? `ws://plainws.test.local${path}` : path;
    const hostName = o.host ?? (o.plain ? 'plainws.test.local' : 'api.test.local');
    tls.write(`GET ${target} HTTP/1.1\r\nhost: ${hostName}\r\n${o.plain ? proxyAuth : ''}upgrade: ${o.upgrade ?? 'websocket'}\r\n${o.headers ?? ''}connection: ${o.connection ?? 'Upgrade'}\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\n\r\n`);
    await waitFor(() => Buffer.concat(chunks).includes('\r\n\r\n'));
    assert.match(Buffer.concat(chunks).toString('latin1'), new RegExp(`^HTTP/1\\.1 ${o.status ?? 101} `));
    return { tls, bytes: () => Buffer.concat(chunks), closed };
  };
  /** A client frame: masked unless told otherwise. */
  const frame = (opcode: number, payload: Buffer, o: { fin?: boolean; masked?: boolean; rsv1?: boolean } = {}): Buffer => {
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const len = payload.length;
    const ext = len < 126 ? Buffer.alloc(0) : len < 65536 ? Buffer.from([len >> 8, len & 0xff]) : (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })();
    const b0 = ((o.fin ?? true) ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | opcode;
    const b1 = ((o.masked ?? true) ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
    const body = (o.masked ?? true) ? Buffer.from(payload.map((x, i) => x ^ mask[i % 4]!)) : payload;
    return Buffer.concat([Buffer.from([b0, b1]), ext, (o.masked ?? true) ? mask : Buffer.alloc(0), body]);
  };
  /** The close code of the close frame Warden sent after the 101 head, or null when there is none. */
  const closeCode = (bytes: Buffer): number | null => {
    const at = bytes.indexOf('\r\n\r\n') + 4;
    const f = bytes.subarray(at);
    for (let i = 0; i + 4 <= f.length;) {
      const len = f[i + 1]! & 0x7f;
      if ((f[i]! & 0x0f) === 0x8) return f.readUInt16BE(i + 2);
      i += 2 + len;
    }
    return null;
  };

  test('a message split over fragments with a ping between them is read whole: the key is caught', async () => {
    const s = await rawSocket('/fragments');
    const text = Buffer.from(`key: ${PRIVATE_KEY}`);
    const half = Math.floor(text.length / 2);
    s.tls.write(Buffer.concat([
      frame(0x1, text.subarray(0, half), { fin: false }),
      frame(0x9, Buffer.from('keepalive')),
      frame(0x0, text.subarray(half)),
    ]));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1008);
    assert.ok(!seenOn('/fragments').some((m) => m.data.toString().includes(KEY_LINE.slice(0, 20))));
    assert.equal((await waitFor(() => record('/fragments'))).reason, 'dlp');
  });

  test('a honeytoken in a ping payload is refused and alerted', async () => {
    const s = await rawSocket('/ping');
    s.tls.write(frame(0x9, Buffer.from(`x ${HONEY} x`)));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1008);
    assert.equal(seenOn('/ping').length, 0);
    const rec = await waitFor(() => record('/ping'));
    assert.equal(rec.reason, 'honeytoken');
    assert.equal(rec.findings?.[0]?.where, 'ping');
    assert.ok(h.audit.records.some((r) => r.event === 'alert' && r.reason === 'honeytoken' && r.id === rec.id));
  });

  const protocolErrors: [string, Buffer][] = [
    ['an unmasked frame', frame(0x1, Buffer.from('hello'), { masked: false })],
    ['a compressed frame (RSV1) when no extension was negotiated', frame(0x1, Buffer.from('hello'), { rsv1: true })],
    ['a continuation with no message to continue', frame(0x0, Buffer.from('hello'))],
    ['a reserved opcode', frame(0x3, Buffer.from('hello'))],
  ];
  for (const [name, bytes] of protocolErrors) {
    test(`${name}: closed with 1002, nothing forwarded`, async () => {
      const path = `/proto-${protocolErrors.findIndex(([n]) => n === name)}`;
      const s = await rawSocket(path);
      s.tls.write(bytes);
      await s.closed;
      assert.equal(closeCode(s.bytes()), 1002);
      assert.equal(seenOn(path).length, 0);
      assert.ok(!Buffer.concat(rawUp.get(path) ?? []).includes(bytes), 'the frame never reaches the upstream');
      const rec = await waitFor(() => record(path));
      assert.equal(rec.decision, 'block');
      assert.equal(rec.reason, 'bad_request');
      assert.match(String((rec.detail as { error?: string } | undefined)?.error), /^WebSocket protocol error: /);
    });
  }

  test('a message over the inspection cap is refused with 1009 (uninspectable: block)', async () => {
    const s = await rawSocket('/big', 'small:small-token');
    s.tls.write(frame(0x2, Buffer.alloc(100_000, 0x61)));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1009);
    assert.equal(seenOn('/big').length, 0);
    const rec = await waitFor(() => record('/big'));
    assert.equal(rec.decision, 'block');
    assert.equal(rec.reason, 'uninspectable');
    assert.deepEqual(rec.detail, { error: 'message exceeds the inspection cap' });
  });

  test('with uninspectable: allow, a larger message streams through unscanned, and max_body still closes with 1009', async () => {
    const r = await session('/stream', (ws) => ws.send(Buffer.alloc(100_000, 0x62)), 1, 'loose:loose-token');
    assert.equal((r.messages[0] as Buffer).length, 100_000);
    assert.equal(seenOn('/stream')[0]?.data.length, 100_000);
    assert.equal((await waitFor(() => record('/stream'))).reason, 'uninspectable');

    const s = await rawSocket('/too-big', 'loose:loose-token');
    s.tls.write(frame(0x2, Buffer.alloc(300_000, 0x63)));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1009);
    assert.equal(seenOn('/too-big').length, 0);
    // Refused on the frame's declared length: none of it went upstream, only Warden's close frame.
    assert.ok(Buffer.concat(rawUp.get('/too-big') ?? []).length <= 8, 'no payload byte reached the upstream');
    const tooBig = await waitFor(() => record('/too-big'));
    assert.equal(tooBig.reason, 'body_too_large');
    assert.equal(tooBig.rule, 'profiles.loose.limits.max_body');
  });

  test('past the global inspection buffer (server.max_inspect_buffer) a message is refused with 1013', async () => {
    const s = await rawSocket('/overload');
    s.tls.write(frame(0x2, Buffer.alloc(300_000, 0x64)));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1013);
    assert.equal(seenOn('/overload').length, 0);
    assert.equal((await waitFor(() => record('/overload'))).reason, 'overloaded');
    assert.equal(h.proxy.inspectBudget.inUse, 0, 'the reservation is given back');
  });

  test('ws:// on the plain port: messages are inspected the same way', async () => {
    const s = await rawSocket('/plain', undefined, { plain: true });
    s.tls.write(Buffer.concat([frame(0x1, Buffer.from('clean')), frame(0x1, Buffer.from(`key ${PRIVATE_KEY}`))]));
    await s.closed;
    assert.equal(closeCode(s.bytes()), 1008);
    assert.deepEqual(seenOn('/plain').map((m) => m.data.toString()), ['clean']);
    const rec = await waitFor(() => h.audit.records.find((r) => r.event === 'request' && r.url === 'ws://plainws.test.local:80/plain'));
    assert.equal(rec.reason, 'dlp');
  });

  test('ws:// to a name admitted by a wildcard that holds sensitive data is refused (dlp) before it is dialled', async () => {
    const before = upgrades.length;
    const text = await rawExchange(h.port, `GET ws://${SSN}.wild.test.local/w HTTP/1.1\r\nhost: ${SSN}.wild.test.local\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
      `sec-websocket-version: 13\r\nsec-websocket-key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nx-request-id: ws-wild-ssn\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.match(text, /"code":"dlp"/);
    assert.equal(upgrades.length, before);
    const rec = h.audit.byId('ws-wild-ssn').find((r) => r.event === 'request');
    assert.equal(rec?.reason, 'dlp');
    assert.equal(rec?.host, '*.wild.test.local');
    // A case-sensitive pattern matches the authority as written (the name leaves lower-cased).
    const aws = await rawExchange(h.port, 'GET ws://AKIAQWERTYUIOPASDFGH.wild.test.local/w HTTP/1.1\r\nhost: AKIAQWERTYUIOPASDFGH.wild.test.local\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
      `sec-websocket-version: 13\r\nsec-websocket-key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\n\r\n`);
    assert.match(aws, /^HTTP\/1\.1 403 [^]*"code":"dlp"/);
    assert.equal(upgrades.length, before);
  });

  test('an upgrade to anything but WebSocket, with a fragment in its target or with a body, is refused with 400 before the upstream is dialled', async () => {
    const before = upgrades.length;
    const s = await rawSocket('/h2c', undefined, { upgrade: 'h2c', status: 400 });
    await s.closed;
    assert.match(s.bytes().toString(), /"code":"bad_request"/);
    const f = await rawSocket('/ws#frag', undefined, { status: 400 });
    await f.closed;
    const b = await rawSocket('/with-body', undefined, { status: 400, headers: 'content-length: 6\r\n' });
    await b.closed;
    assert.match(b.bytes().toString(), /a WebSocket handshake has no body/);
    assert.equal(upgrades.length, before);
  });

  test('report mode: a message that would be blocked is forwarded as it was, and recorded as a block', async () => {
    const r = await startWarden({ yaml: `${baseYaml(upstreamPort, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n')}mode: report\n` });
    try {
      const msg = JSON.stringify({ text: `key ${PRIVATE_KEY}`, ssn: SSN });
      const got = await new Promise<{ code: number }>((resolve, reject) => {
        const ws = new WebSocket('wss://api.test.local/report', { dispatcher: r.agent() } as unknown as string[]);
        const timer = setTimeout(() => reject(new Error('timeout')), 5000);
        ws.addEventListener('open', () => ws.send(msg));
        ws.addEventListener('message', () => ws.close(1000));
        ws.addEventListener('close', (e) => {
          clearTimeout(timer);
          resolve({ code: e.code });
        });
      });
      assert.equal(got.code, 1000);
      assert.equal(seenOn('/report')[0]?.data.toString(), msg, 'forwarded unchanged');
      const rec = await waitFor(() => r.audit.records.find((x) => x.event === 'request' && (x.url ?? '').includes('/report')));
      assert.equal(rec.decision, 'block');
      assert.equal(rec.reason, 'dlp');
      assert.equal(rec.mode, 'report');
      // A handshake enforce mode would refuse (an SSN in its query) goes through, recorded with its finding.
      const hs = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`wss://api.test.local/report-query?ssn=${SSN}`, { dispatcher: r.agent() } as unknown as string[]);
        const timer = setTimeout(() => reject(new Error('timeout')), 5000);
        ws.addEventListener('open', () => ws.close(1000));
        ws.addEventListener('close', (e) => {
          clearTimeout(timer);
          resolve(e.code);
        });
      });
      assert.equal(hs, 1000);
      const q = await waitFor(() => r.audit.records.find((x) => x.event === 'request' && (x.url ?? '').includes('/report-query')));
      assert.deepEqual([q.decision, q.reason, q.mode], ['block', 'dlp', 'report']);
      assert.equal(q.findings?.[0]?.where, 'query');
      for (const v of PLANTED) assert.ok(!r.audit.text().includes(v));
    } finally {
      await r.close();
    }
  });

  test('a message of 256 KiB and more is scanned on a worker, and messages keep their order', async () => {
    // Its own proxy: this file's shares a 256 KiB global inspection buffer.
    const r = await startWarden({ yaml: baseYaml(upstreamPort, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') });
    try {
      const big = JSON.stringify({ filler: 'lorem ipsum '.repeat(50_000), text: `SSN ${SSN}` });
      const got = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket('wss://api.test.local/order', { dispatcher: r.agent() } as unknown as string[]);
        const timer = setTimeout(() => reject(new Error('timeout')), 8000);
        let n = 0;
        ws.addEventListener('open', () => {
          ws.send('one');
          ws.send(big);
          ws.send('three');
        });
        ws.addEventListener('message', () => {
          if (++n === 3) ws.close(1000);
        });
        ws.addEventListener('close', () => {
          clearTimeout(timer);
          resolve(n);
        });
      });
      assert.equal(got, 3);
      const seen = seenOn('/order').map((m) => m.data.toString());
      assert.equal(seen.length, 3);
      assert.equal(seen[0], 'one');
      assert.equal(seen[2], 'three');
      assert.equal((JSON.parse(seen[1]!) as { text: string }).text, 'SSN [REDACTED:us_ssn]');
      const rec = await waitFor(() => r.audit.records.find((x) => x.event === 'request' && (x.url ?? '').includes('/order')));
      assert.equal(rec.decision, 'redact');
      assert.ok(r.proxy.runtime().inspectPool!.workers >= 1, 'the big message went to a worker');
    } finally {
      await r.close();
    }
  });

  test('hop-by-hop headers of the handshake and those named in Connection are not forwarded (DLP does not read them)', async () => {
    const s = await rawSocket('/hop', undefined, {
      connection: 'Upgrade, X-Exfil',
      headers: `x-test-case: hop\r\nx-exfil: ssn ${SSN}\r\nkeep-alive: card ${CARD}\r\nte: x-${SSN}\r\ntrailer: x-${CARD}\r\n`,
    });
    s.tls.write(frame(0x1, Buffer.from('hi')));
    await waitFor(() => seenOn('/hop').length === 1 || undefined);
    s.tls.destroy();
    const got = upgrades.find((u) => u['x-test-case'] === 'hop')!;
    for (const name of ['x-exfil', 'keep-alive', 'te', 'trailer', 'sec-websocket-extensions']) assert.equal(got[name], undefined, name);
    assert.equal(got['connection'], 'Upgrade');
    assert.equal(got['upgrade'], 'websocket');
    assert.equal(got['sec-websocket-version'], '13');
    assert.ok(!JSON.stringify(got).includes(SSN) && !JSON.stringify(got).includes(CARD), 'no planted value reached the upstream');
    assert.equal((await waitFor(() => record('/hop'))).decision, 'allow');
  });

  // Host is not scanned (the authority it must match is): an absolute-form request's own Host is neither.
  for (const [name, target, origin, plain, authority] of [
    ['absolute-form inside the tunnel', 'https://api.test.local/host-abs', '/host-abs', false, 'api.test.local'],
    ['ws:// on the plain port', '/host-plain', '/host-plain', true, 'plainws.test.local'],
  ] as const) {
    test(`${name}: the upstream gets the checked authority as Host, not the request's own Host header`, async () => {
      const s = await rawSocket(target, undefined, { plain, host: `x-${SSN}.example`, headers: `x-test-case: ${origin}\r\n` });
      s.tls.write(frame(0x1, Buffer.from('hi')));
      await waitFor(() => seenOn(origin).length === 1 || undefined);
      s.tls.destroy();
      assert.equal(upgrades.find((u) => u['x-test-case'] === origin)?.host, authority);
    });
  }

  test('absolute-form inside the tunnel: its authority must be the tunnel host, and origin-form goes upstream', async () => {
    const denied = await rawSocket('https://other.test.local/abs', undefined, { status: 403 });
    await denied.closed;
    assert.match(denied.bytes().toString(), /x-warden-reason: host_mismatch/i);
    assert.equal(rawUp.has('https://other.test.local/abs'), false);
    assert.equal(rawUp.has('/abs'), false);
    const rec = await waitFor(() => h.audit.records.find((r) => r.reason === 'host_mismatch' && r.url === 'https://other.test.local/abs'));
    assert.equal(rec.decision, 'block');

    const ok = await rawSocket('https://api.test.local/abs-ok');
    ok.tls.write(frame(0x1, Buffer.from('hi')));
    await waitFor(() => seenOn('/abs-ok').length === 1 || undefined);
    ok.tls.destroy();
  });

  test('an inspection worker that fails while a large message is inspected: 1008, the proxy keeps serving', async () => {
    const r = await startWarden({ yaml: baseYaml(upstreamPort, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') });
    try {
      const pool = r.proxy.runtime().inspectPool as unknown as { inspect: (...a: unknown[]) => Promise<unknown> };
      pool.inspect = () => Promise.reject(new Error('boom'));
      const code = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket('wss://api.test.local/worker-fails', { dispatcher: r.agent() } as unknown as string[]);
        const timer = setTimeout(() => reject(new Error('timeout')), 5000);
        ws.addEventListener('open', () => ws.send('x'.repeat(300_000)));
        ws.addEventListener('close', (e) => {
          clearTimeout(timer);
          resolve(e.code);
        });
      });
      assert.equal(code, 1008);
      assert.equal(seenOn('/worker-fails').length, 0);
      const rec = await waitFor(() => r.audit.records.find((x) => x.event === 'request' && (x.url ?? '').includes('/worker-fails')));
      assert.equal(rec.reason, 'internal_error');
    } finally {
      await r.close();
    }
  });

  test('an exception while a message is inspected refuses it with 1008 (fail closed)', async () => {
    // Both ways in: inspect(), and inspectWithin() when a worker pool could take over.
    const engine = h.proxy.runtime().engine as { inspect: (...a: unknown[]) => unknown; inspectWithin: (...a: unknown[]) => unknown };
    const real = { inspect: engine.inspect, inspectWithin: engine.inspectWithin };
    const s = await rawSocket('/throws'); // the handshake is inspected with the real engine
    engine.inspect = engine.inspectWithin = () => {
      throw new Error('boom');
    };
    try {
      s.tls.write(frame(0x1, Buffer.from('anything')));
      await s.closed;
    } finally {
      Object.assign(engine, real);
    }
    assert.equal(closeCode(s.bytes()), 1008);
    assert.equal(seenOn('/throws').length, 0);
    assert.equal((await waitFor(() => record('/throws'))).reason, 'internal_error');
  });
});
