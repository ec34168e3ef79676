/**
 * A client that leaves (closes, or half-closes) before or while the upstream answers (red team,
 * HTTP mechanics, finding 2): the upstream request is aborted and its socket released, and the
 * forwarded request gets exactly one audit record, on the plain listener and inside a tunnel.
 * Before the fix a streamed answer (no Content-Length) paused on a gone client for ever with no
 * record, and an unanswered request was held until upstream.headers_timeout.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { until } from './audit-receiver.js';
import { startWarden, type Harness } from './harness.js';

interface Exchange {
  /** The upstream's response closed before it finished (Warden aborted it). */
  aborted: boolean;
  responseClosed: boolean;
  socketClosed: boolean;
  remotePort: number;
}

const socketExchanges = new WeakMap<object, Exchange[]>();

/** Upstream routes: /drip answers after 300 ms and streams 1 KiB chunks for 10 s; /hang never answers; /ok is small. */
function upstreamHandler(seen: Map<string, Exchange>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const id = String(req.headers['x-request-id'] ?? '');
    const ex: Exchange = { aborted: false, responseClosed: false, socketClosed: false, remotePort: req.socket.remotePort ?? 0 };
    seen.set(id, ex);
    res.on('close', () => {
      ex.responseClosed = true;
      ex.aborted = !res.writableFinished;
    });
    // Once per upstream connection (it is pooled): the exchanges on it learn of its close.
    let onSocket = socketExchanges.get(req.socket);
    if (!onSocket) {
      const list: Exchange[] = [];
      socketExchanges.set(req.socket, list);
      req.socket.once('close', () => { for (const e of list) e.socketClosed = true; });
      onSocket = list;
    }
    onSocket.push(ex);
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ok') return void res.end(JSON.stringify({ ok: true }));
    if (path === '/chunked') {
      res.write('a');
      return void res.end('b');
    }
    if (path === '/flood') {
      // As fast as the connection takes it, until 128 MiB or the response is cut.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let n = 0;
      const pump = (): void => {
        while (!res.destroyed && n < 2048) {
          n++;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      return pump();
    }
    if (path === '/drip') {
      let n = 0;
      const timer = setInterval(() => {
        if (res.destroyed || ++n > 200) {
          clearInterval(timer);
          if (!res.destroyed) res.end();
          return;
        }
        if (n === 1) res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('x'.repeat(1024));
      }, 50);
      timer.unref();
      res.on('close', () => clearInterval(timer));
    }
    // /hang: never answers
  };
}

describe('a client that leaves before or while the upstream answers', () => {
  const seen = new Map<string, Exchange>();
  let https: Server;
  let http: Server;
  let h: Harness;
  let dir: string;
  let n = 0;

  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-leaves-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const leaf = pki.issue(['api.test.local']);
    https = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem, keepAliveTimeout: 5000 }, upstreamHandler(seen));
    http = createHttpServer({ keepAliveTimeout: 5000 }, upstreamHandler(seen));
    for (const s of [https, http]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    // upstream.headers_timeout far beyond the bounds below: only the client's leaving can end /hang.
    h = await startWarden({
      yaml: `
listen: "127.0.0.1:0"
ca_dir: "{{DIR}}/ca"
auth: optional
upstream:
  ca_file: "${join(dir, 'up.pem')}"
  allow_private: ["127.0.0.0/8"]
  connect_to:
    "api.test.local:443": "127.0.0.1:${(https.address() as AddressInfo).port}"
    "api.test.local:80": "127.0.0.1:${(http.address() as AddressInfo).port}"
  headers_timeout: 60s
profiles:
  default:
    allow: [api.test.local]
server:
  idle_timeout: 1s
audit:
  file: null
`,
    });
  });
  after(async () => {
    await h.close();
    for (const s of [https, http]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** A decrypted connection to api.test.local through a CONNECT tunnel. */
  const tunnel = async (): Promise<TLSSocket> => {
    const tcp = netConnect(h.port, '127.0.0.1');
    tcp.on('error', () => undefined);
    tcp.write('CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\n\r\n');
    await new Promise<void>((resolve, reject) => {
      let head = '';
      const onData = (c: Buffer): void => {
        head += c.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        tcp.off('data', onData);
        if (head.startsWith('HTTP/1.1 200')) resolve();
        else reject(new Error(head));
      };
      tcp.on('data', onData);
    });
    const t = tlsConnect({ socket: tcp, servername: 'api.test.local', ca: h.wardenCa });
    t.on('error', () => undefined);
    await new Promise<void>((resolve) => t.once('secureConnect', () => resolve()));
    return t;
  };

  /** Send GET `path` with a fresh X-Request-Id; returns the socket and the id once the upstream has the request. */
  const send = async (via: 'plain' | 'mitm', path: string): Promise<{ s: Socket; id: string; got: () => string }> => {
    const id = `leaves-${via}-${++n}`;
    let s: Socket;
    if (via === 'mitm') {
      s = await tunnel();
      s.write(`GET ${path} HTTP/1.1\r\nHost: api.test.local\r\nX-Request-Id: ${id}\r\n\r\n`);
    } else {
      s = netConnect(h.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write(`GET http://api.test.local${path} HTTP/1.1\r\nHost: api.test.local\r\nX-Request-Id: ${id}\r\n\r\n`);
    }
    let got = '';
    s.on('data', (c: Buffer) => void (got += c.toString('latin1')));
    await until(() => seen.has(id), 3000, `the upstream to get ${id}`);
    return { s, id, got: () => got };
  };

  /** The upstream's exchange is cut and its socket closed soon, and one request record says why. */
  const assertReleased = async (id: string, status: number, error: string): Promise<void> => {
    const ex = seen.get(id)!;
    await until(() => ex.responseClosed && ex.socketClosed, 3000, `the upstream request ${id} to be aborted and its socket closed`);
    assert.equal(ex.aborted, true, 'the upstream response was cut, not finished');
    await until(() => h.audit.byId(id).some((r) => r.event === 'request'), 3000, `a request record for ${id}`);
    await new Promise((r) => setTimeout(r, 150));
    const recs = h.audit.byId(id).filter((r) => r.event === 'request');
    assert.equal(recs.length, 1, 'exactly one request record');
    const rec = recs[0]!;
    assert.deepEqual([rec.decision, rec.reason, rec.status, (rec.detail as { error?: string } | undefined)?.error], ['allow', 'allowlisted', status, error]);
  };

  for (const via of ['plain', 'mitm'] as const) {
    test(`${via}: closed before a streamed (chunked) answer`, async () => {
      const { s, id } = await send(via, '/drip');
      s.destroy();
      await assertReleased(id, 499, 'client closed before the response');
    });

    test(`${via}: half-closed before a streamed answer`, async () => {
      const { s, id } = await send(via, '/drip');
      s.end();
      await assertReleased(id, 499, 'client closed before the response');
      s.destroy();
    });

    test(`${via}: closed while the upstream has not answered at all`, async () => {
      const { s, id } = await send(via, '/hang');
      s.destroy();
      await assertReleased(id, 499, 'client closed before the response');
    });

    test(`${via}: closed in the middle of a streamed answer`, async () => {
      const { s, id, got } = await send(via, '/drip');
      await until(() => got().includes('xxxx'), 3000, 'the first chunk');
      s.destroy();
      await assertReleased(id, 200, 'client closed');
    });
  }

  test('mitm: closed with two pipelined requests unanswered (the second waits behind the first)', async () => {
    const s = await tunnel();
    const ids = [`leaves-pipe-${++n}`, `leaves-pipe-${++n}`];
    s.write(ids.map((id) => `GET /hang HTTP/1.1\r\nHost: api.test.local\r\nX-Request-Id: ${id}\r\n\r\n`).join(''));
    await until(() => ids.every((id) => seen.has(id)), 3000, 'the upstream to get both requests');
    s.destroy();
    for (const id of ids) await assertReleased(id, 499, 'client closed before the response');
  });

  for (const via of ['plain', 'mitm'] as const) {
    test(`${via}: a client that stops reading a streamed answer is cut after server.idle_timeout`, async () => {
      // It held the upstream, paused, for ever (helper-16's note, session 14).
      const { s, id } = await send(via, '/flood');
      s.pause();
      await assertReleased(id, 200, 'client stopped reading');
      s.destroy();
    });
  }

  test('many streamed answers on one kept-alive client connection leave no listener behind', async () => {
    // The signal is the client connection's: each streamed answer's listener must go with it.
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const agent = h.agent();
    try {
      // 30: the agent may spread them over two connections; more than 10 on one trips Node's warning.
      for (let i = 0; i < 30; i++) {
        const res = await request('https://api.test.local/chunked', { dispatcher: agent, headers: { 'x-request-id': `leaves-many-${i}` } });
        assert.equal(await res.body.text(), 'ab');
      }
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('requests whose answer is taken still share one pooled upstream connection', async () => {
    const agent = h.agent();
    const ids = ['leaves-pool-1', 'leaves-pool-2', 'leaves-pool-3'];
    for (const [i, id] of ids.entries()) {
      const res = await request(`https://api.test.local/${i === 1 ? 'ok' : 'chunked'}`, { dispatcher: agent, headers: { 'x-request-id': id } });
      assert.equal(res.statusCode, 200);
      await res.body.text();
    }
    const ports = new Set(ids.map((id) => seen.get(id)!.remotePort));
    assert.equal(ports.size, 1, 'one upstream connection served all three');
    assert.equal(ids.some((id) => seen.get(id)!.aborted), false);
    for (const id of ids) assert.deepEqual(h.audit.byId(id).filter((r) => r.event === 'request').map((r) => r.status), [200]);
  });
});
