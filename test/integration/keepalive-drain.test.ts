/**
 * Red team leftovers on the request path (session 16), on the plain listener and inside CONNECT
 * tunnels (TLS and plain HTTP), with real sockets:
 * - after a chunked upload, an idle keep-alive connection was closed after server.headers_timeout
 *   inside tunnels, not after the keep-alive timeout (the emulated head clock could not size a
 *   chunked body, so it started the clock: fail closed, but a new handshake for the agent);
 * - a pipelined head refused by the parser (too large, written `Name:value`; malformed) was
 *   answered at once, ahead of the request before it: its 431/400 read as that request's answer
 *   (which still went upstream), or a streamed answer cut;
 * - shutdown: closeIdleConnections() / closeAllConnections() did nothing on the MITM server (it
 *   never listens), so an idle decrypted connection outlived close() and kept the process up;
 * - framing that could smuggle a second request (CL+TE, `gzip, chunked`, obs-fold, bare LF…):
 *   a precise 400, one answer, nothing upstream.
 * Timeouts are set low (headers_timeout 1 s, keep-alive 1.5 s, to which Node adds 1 s).
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Harness } from './harness.js';
import { collect, openVia, sleep, statuses, twoUpstreams, until, VIAS, wardenFor, type TwoUpstreams } from './raw-client.js';

const HEADERS_TIMEOUT_MS = 1000;
const KEEP_ALIVE_MS = 1500;
/** Node closes an idle keep-alive connection this long after the advertised timeout. */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
const MAX_HEADER_BYTES = 4096;

/** Warden with the test timeouts; port 80 of *.test.local dials the plain upstream. */
async function warden(s: TwoUpstreams): Promise<Harness> {
  return wardenFor(s, `server: { headers_timeout: ${HEADERS_TIMEOUT_MS / 1000}s, max_header_size: ${MAX_HEADER_BYTES / 1024}KiB, keep_alive_timeout: ${KEEP_ALIVE_MS}ms }\n`);
}

/** The last answer of /1k is whole (Warden streams it chunked or with its length). */
const ended1k = (text: string): boolean => text.includes('x'.repeat(1024)) && /(x{64}|\r\n0\r\n\r\n)$/.test(text);
const get = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: api.test.local\r\n${extra}\r\n`;
const chunkedPost = (target: string): string =>
  `POST ${target} HTTP/1.1\r\nHost: api.test.local\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`;

describe('keep-alive after a chunked upload', { concurrency: true }, () => {
  let s: TwoUpstreams;
  let h: Harness;
  before(async () => {
    s = await twoUpstreams('warden-ka-');
    h = await warden(s);
  });
  after(async () => {
    await h.close();
    await s.close();
  });

  for (const via of VIAS) {
    test(`${via}: idle past headers_timeout the connection is still usable; idle past the keep-alive timeout it is closed`, async () => {
      const { s: sock, target } = await openVia(h, via);
      const c = collect(sock);
      sock.write(chunkedPost(target('/echo')));
      await until(() => c.got().includes('"length":11'), 3000);
      assert.equal(statuses(c.got()).length, 1, 'the chunked upload is answered');
      // Past headers_timeout and Node's next check (1 s): the emulated clock cut it at ~1 s here.
      await sleep(HEADERS_TIMEOUT_MS * 2 + 100);
      assert.equal(c.closedAt(), null, 'an idle connection is not cut by headers_timeout');
      sock.write(get(target('/1k')));
      await until(() => statuses(c.got()).length === 2 && ended1k(c.got()), 3000);
      assert.deepEqual(statuses(c.got()), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'the connection is still usable');
      const idleSince = Date.now();
      await until(() => c.closedAt() !== null, KEEP_ALIVE_MS + NODE_KEEP_ALIVE_BUFFER_MS + 1500);
      sock.destroy();
      assert.notEqual(c.closedAt(), null, 'closed by the keep-alive timer');
      const idle = c.closedAt()! - idleSince;
      assert.ok(idle >= KEEP_ALIVE_MS, `not before the keep-alive timeout (${idle} ms)`);
    });

    test(`${via}: a chunked upload and half of the next head in one write: closed after headers_timeout`, async () => {
      const { s: sock, target } = await openVia(h, via);
      const c = collect(sock);
      const since = Date.now();
      sock.write(chunkedPost(target('/echo')) + `GET ${target('/1k')} HTTP/1.1\r\nHost: api.test.local\r\nX-A: `);
      await until(() => c.closedAt() !== null, HEADERS_TIMEOUT_MS * 3);
      sock.destroy();
      assert.deepEqual(statuses(c.got()), ['HTTP/1.1 200'], 'the upload is answered');
      assert.notEqual(c.closedAt(), null, 'the half head is cut (the keep-alive timer would take 2.5 s)');
      assert.ok(c.closedAt()! - since >= HEADERS_TIMEOUT_MS - 100, `not before headers_timeout (${c.closedAt()! - since} ms)`);
    });
  }
});

describe('a pipelined head that is refused (too large written Name:value, malformed) is answered after the requests before it', { concurrency: true }, () => {
  let s: TwoUpstreams;
  let h: Harness;
  before(async () => {
    s = await twoUpstreams('warden-ka-');
    h = await warden(s);
  });
  after(async () => {
    await h.close();
    await s.close();
  });

  /**
   * A head of 500 `Xnnnn:v` lines and a `Pad` header. Node's parser (llhttp) counts the request
   * target, each name and each value against max_header_size, and refuses a count that reaches
   * it: `counted` is that count. The bytes on the wire are ~1.4 times as many.
   */
  const bigHead = (target: string, counted: number): string => {
    let head = `GET ${target} HTTP/1.1\r\nHost:api.test.local\r\nConnection:close\r\n`;
    let n = target.length + 'Host'.length + 'api.test.local'.length + 'Connection'.length + 'close'.length;
    for (let i = 0; i < 500; i++) {
      head += `X${String(i).padStart(4, '0')}:v\r\n`;
      n += 6;
    }
    return `${head}Pad:${'p'.repeat(counted - n - 3)}\r\n\r\n`;
  };

  for (const via of VIAS) {
    for (const [counted, expect] of [[MAX_HEADER_BYTES - 1, 'HTTP/1.1 200'], [MAX_HEADER_BYTES, 'HTTP/1.1 431']] as const) {
      test(`${via}: after a complete request, a head counting ${counted} of ${MAX_HEADER_BYTES} gets ${expect.slice(9)}`, async () => {
        const { s: sock, target } = await openVia(h, via);
        const c = collect(sock);
        const head = bigHead(target('/1k'), counted);
        assert.ok(Buffer.byteLength(head) > MAX_HEADER_BYTES, 'the wire head is larger than the limit');
        sock.write(get(target('/1k')) + head);
        await until(() => c.closedAt() !== null, 3000);
        sock.destroy();
        assert.deepEqual(statuses(c.got()), ['HTTP/1.1 200', expect]);
        if (expect.endsWith('431')) assert.match(c.got(), /x-warden-reason: bad_request/);
      });
    }
  }
  for (const via of VIAS) {
    test(`${via}: a malformed head pipelined behind a streamed answer: the answer whole, then 400`, async () => {
      const { s: sock, target } = await openVia(h, via);
      const c = collect(sock);
      sock.write(get(target('/sse')) + 'GARBAGE\r\n\r\n');
      await until(() => c.closedAt() !== null, 3000);
      sock.destroy();
      assert.deepEqual(statuses(c.got()), ['HTTP/1.1 200', 'HTTP/1.1 400']);
      assert.equal(c.got().split('data: ').length - 1, 5, 'every event of the streamed answer');
    });
  }
});

describe('framing that could smuggle a second request gets 400, and nothing reaches the upstream', { concurrency: true }, () => {
  let s: TwoUpstreams;
  let h: Harness;
  before(async () => {
    s = await twoUpstreams('warden-ka-');
    h = await warden(s);
  });
  after(async () => {
    await h.close();
    await s.close();
  });

  const post = (target: string, id: string, headers: string, body: string): string =>
    `POST ${target} HTTP/1.1\r\nHost: api.test.local\r\nX-Request-Id: ${id}\r\n${headers}\r\n${body}`;
  // [name, the request as sent, followed by a smuggled GET in the same write]
  const shapes: Array<[string, (target: string, id: string, smuggled: string) => string]> = [
    ['Transfer-Encoding: chunked then Content-Length', (t, id, sm) => post(t, id, 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${sm}`)],
    ['Content-Length then Transfer-Encoding: chunked', (t, id, sm) => post(t, id, `Content-Length: ${5 + sm.length}\r\nTransfer-Encoding: chunked\r\n`, `0\r\n\r\n${sm}`)],
    ['Transfer-Encoding: gzip, chunked', (t, id, sm) => post(t, id, 'Transfer-Encoding: gzip, chunked\r\n', `0\r\n\r\n${sm}`)],
    ['Transfer-Encoding on two lines (gzip, then chunked)', (t, id, sm) => post(t, id, 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${sm}`)],
    ['Transfer-Encoding: chunked, identity with Content-Length', (t, id, sm) => post(t, id, 'Transfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n', `0\r\n\r\n${sm}`)],
    ['Transfer-Encoding folded onto an obs-fold line', (t, id, sm) => post(t, id, 'Transfer-Encoding: gzip,\r\n chunked\r\n', `0\r\n\r\n${sm}`)],
    ['Content-Length hidden in an obs-fold line', (t, id, sm) => post(t, id, `X-A: a\r\n Content-Length: 0\r\nContent-Length: ${sm.length}\r\n`, sm)],
    ['an obs-fold line in a GET', (t, id, sm) => `GET ${t} HTTP/1.1\r\nHost: api.test.local\r\nX-Request-Id: ${id}\r\nX-A: a\r\n\tb\r\n\r\n${sm}`],
    ['Transfer-Encoding with a space before the colon', (t, id, sm) => post(t, id, 'Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${sm}`)],
    ['bare LF line ends', (t, id, sm) => `GET ${t} HTTP/1.1\nHost: api.test.local\nX-Request-Id: ${id}\n\n${sm}`],
  ];

  for (const via of VIAS) {
    test(`${via}: each shape gets one 400 and is closed`, async () => {
      for (const [i, [name, build]] of shapes.entries()) {
        const { s: sock, target } = await openVia(h, via);
        const c = collect(sock);
        const id = `smuggle-${via.replaceAll(' ', '-')}-${i}`;
        sock.write(build(target('/echo'), id, get(target(`/smuggled-${id}`))));
        await until(() => c.closedAt() !== null, 2000);
        sock.destroy();
        assert.deepEqual(statuses(c.got()), ['HTTP/1.1 400'], `${name}: ${JSON.stringify(c.got().slice(0, 120))}`);
        assert.match(c.got(), /x-warden-reason: bad_request/i, name);
        assert.notEqual(c.closedAt(), null, `${name}: closed`);
        const seen = [...s.up.seen, ...s.plainUp.seen];
        assert.ok(!seen.some((r) => r.url.includes(id) || r.headers['x-request-id'] === id), `${name}: nothing reached the upstream`);
      }
    });
  }
});

describe('shutdown closes idle connections inside tunnels, and lets in-flight requests finish', { concurrency: true }, () => {
  let s: TwoUpstreams;
  before(async () => {
    s = await twoUpstreams('warden-ka-');
  });
  after(async () => {
    await s.close();
  });

  for (const via of VIAS) {
    test(`${via}: an idle keep-alive connection closes at once; a streaming answer in flight is whole`, async () => {
      const h = await warden(s);
      try {
        const idle = await openVia(h, via);
        const ci = collect(idle.s);
        idle.s.write(get(idle.target('/1k')));
        await until(() => ended1k(ci.got()), 3000);
        assert.deepEqual(statuses(ci.got()), ['HTTP/1.1 200']);

        const busy = await openVia(h, via);
        const cb = collect(busy.s);
        busy.s.write(get(busy.target('/sse')));
        await until(() => cb.got().includes('data: '), 3000);

        const since = Date.now();
        const closing = h.proxy.close(5000);
        await until(() => ci.closedAt() !== null, 1000);
        assert.notEqual(ci.closedAt(), null, 'the idle connection is closed by close()');
        assert.ok(ci.closedAt()! - since < 500, `promptly (${ci.closedAt()! - since} ms)`);
        await closing;
        await until(() => cb.closedAt() !== null, 1000);
        idle.s.destroy();
        busy.s.destroy();
        // /sse sends 5 events 150 ms apart and ends: all of them, and the chunked terminator.
        assert.equal(cb.got().split('data: ').length - 1, 5, 'every event of the answer in flight arrived');
        assert.ok(cb.got().endsWith('0\r\n\r\n'), 'and its end');
        assert.notEqual(cb.closedAt(), null, 'then the connection is closed');
        assert.ok(Date.now() - since < 3000, 'close() did not wait for the drain deadline');
      } finally {
        rmSync(h.dir, { recursive: true, force: true });
      }
    });
  }
});
