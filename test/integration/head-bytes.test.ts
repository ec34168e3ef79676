/**
 * server.max_header_size holds the bytes of a request head as the client sends them, on the
 * plain listener and inside CONNECT tunnels (TLS and plain HTTP). Node's parser counts only
 * the target, names and values: a head of `X: `, 256 MiB of spaces and `v` was read whole
 * within headers_timeout and forwarded (red team; so were empty lines before the request line
 * and spaces before the target). Now such a head gets 431 once past the limit, the connection
 * is closed, and the proxy has read a bounded amount of it.
 */
import { strict as assert } from 'node:assert';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Harness } from './harness.js';
import { acceptedSockets, collect, openVia, statuses, twoUpstreams, until, VIAS, wardenFor, type TwoUpstreams } from './raw-client.js';

const MAX_HEADER_BYTES = 16 * 1024;
/** The most one socket read hands over (libuv's 64 KiB buffer; TLS reads are 16 KiB). */
const READ_BYTES = 64 * 1024;
/**
 * What the proxy may read of a flooding head: the limit, the read that crossed it (checked
 * after each read) and one read the paused socket still buffers, unparsed; plus the CONNECT
 * and the TLS handshake. The flood offers 8 MiB.
 */
const READ_BOUND = MAX_HEADER_BYTES + 2 * READ_BYTES + 4096;
const FLOOD_BYTES = 8 * 1024 * 1024;

/** Writes `piece` until `total` bytes are written or the connection is closed; returns what was written. */
async function flood(s: Socket, piece: Buffer, total: number): Promise<number> {
  let sent = 0;
  let closed = s.destroyed;
  s.once('close', () => void (closed = true));
  while (sent < total && !closed && s.writable) {
    sent += piece.length;
    if (!s.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        s.once('drain', done);
        s.once('close', done);
      });
    }
  }
  return sent;
}

describe('max_header_size counts the bytes of a head as received', { concurrency: true }, () => {
  let s: TwoUpstreams;
  let h: Harness;
  let accepted: (client: Socket) => Promise<Socket>;
  before(async () => {
    s = await twoUpstreams('warden-head-bytes-');
    h = await wardenFor(s, `server: { max_header_size: ${MAX_HEADER_BYTES / 1024}KiB }\n`);
    accepted = acceptedSockets(h);
  });
  after(async () => {
    await h.close();
    await s.close();
  });

  /** [what the flood is, the head up to it, the filler, the rest of the head]. */
  const shapes: Array<[string, (target: string) => string, string, (target: string) => string]> = [
    ['leading spaces of a header value', (t) => `GET ${t} HTTP/1.1\r\nHost: api.test.local\r\nX: `, ' ', () => 'v\r\n\r\n'],
    ['empty lines before the request line', () => '', '\r\n', (t) => `GET ${t} HTTP/1.1\r\nHost: api.test.local\r\n\r\n`],
    ['spaces before the request target', () => 'GET', ' ', (t) => `${t} HTTP/1.1\r\nHost: api.test.local\r\n\r\n`],
  ];

  for (const via of VIAS) {
    for (const [what, start, filler, rest] of shapes) {
      test(`${via}: ${what}, 8 MiB of them: 431 past the limit, the connection closed, at most ${READ_BOUND} bytes read`, async () => {
        const { s: sock, tcp, target } = await openVia(h, via);
        const server = await accepted(tcp);
        const c = collect(sock);
        if (start(target('/1k'))) sock.write(start(target('/1k')));
        const sent = await flood(sock, Buffer.alloc(16 * 1024, filler), FLOOD_BYTES);
        if (sent >= FLOOD_BYTES && sock.writable) sock.write(rest(target('/1k')));
        await until(() => c.closedAt() !== null, 5000);
        sock.destroy();
        assert.deepEqual(statuses(c.got()), ['HTTP/1.1 431'], `one 431 answer (the flood wrote ${sent} bytes)`);
        assert.match(c.got(), /x-warden-reason: bad_request/);
        assert.notEqual(c.closedAt(), null, 'the connection is closed');
        await until(() => server.destroyed, 2000);
        assert.ok(server.bytesRead <= READ_BOUND, `the proxy read ${server.bytesRead} bytes`);
      });
    }

    for (const [size, expect] of [[MAX_HEADER_BYTES, 'HTTP/1.1 200'], [MAX_HEADER_BYTES + 1, 'HTTP/1.1 431']] as const) {
      test(`${via}: a head of ${size} bytes, nearly all of them a value's leading spaces, gets ${expect.slice(9)}`, async () => {
        const { s: sock, target } = await openVia(h, via);
        const c = collect(sock);
        const before = `GET ${target('/1k')} HTTP/1.1\r\nHost: api.test.local\r\nConnection: close\r\nX: `;
        const after = 'v\r\n\r\n';
        const head = before + ' '.repeat(size - before.length - after.length) + after;
        assert.equal(Buffer.byteLength(head), size);
        sock.write(head);
        await until(() => c.closedAt() !== null, 5000);
        sock.destroy();
        assert.deepEqual(statuses(c.got()), [expect]);
      });
    }

    if (via === 'plain listener') {
      for (const [size, expect] of [[MAX_HEADER_BYTES, 'HTTP/1.1 200'], [MAX_HEADER_BYTES + 1, 'HTTP/1.1 431']] as const) {
        test(`${via}: a CONNECT head of ${size} bytes, nearly all of them a value's leading spaces, gets ${expect.slice(9)}`, async () => {
          const { s: sock } = await openVia(h, via);
          const c = collect(sock);
          const before = 'CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\nX: ';
          const after = 'v\r\n\r\n';
          sock.write(before + ' '.repeat(size - before.length - after.length) + after);
          await until(() => statuses(c.got()).length > 0, 5000);
          sock.destroy();
          assert.deepEqual(statuses(c.got()), [expect]);
        });
      }
    }

    test(`${via}: a body is not a head: a POST of 4 times the limit, then a GET on the same connection`, async () => {
      const { s: sock, target } = await openVia(h, via);
      const c = collect(sock);
      const body = 'b'.repeat(4 * MAX_HEADER_BYTES);
      sock.write(`POST ${target('/echo')} HTTP/1.1\r\nHost: api.test.local\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      await until(() => statuses(c.got()).length === 1 && c.got().includes(`"length":${body.length}`), 5000);
      sock.write(`GET ${target('/1k')} HTTP/1.1\r\nHost: api.test.local\r\nConnection: close\r\n\r\n`);
      await until(() => c.closedAt() !== null, 5000);
      sock.destroy();
      assert.deepEqual(statuses(c.got()), ['HTTP/1.1 200', 'HTTP/1.1 200']);
    });
  }
});
