/**
 * `server.headers_timeout` for a head that starts after a previous request on the same
 * connection (red team, session 14, HTTP leftovers): a complete request followed, in the same
 * write, by half of a second head was cut only by Node's keep-alive timer (61 s) inside tunnels,
 * and on the plain listener at Node's next 30 s check. Now both cut it about headers_timeout
 * after it began, and an idle keep-alive connection is still left to the keep-alive timer.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { Harness } from './harness.js';
import { collect, openVia, twoUpstreams, until, VIAS, wardenFor, type TwoUpstreams } from './raw-client.js';

const HEADERS_TIMEOUT_MS = 1000;
const BODY_1K = 'x'.repeat(1024);

describe('server.headers_timeout after a previous request on the connection', () => {
  let ups: TwoUpstreams;
  let h: Harness;
  before(async () => {
    ups = await twoUpstreams('warden-pipe-');
    h = await wardenFor(ups, 'server: { headers_timeout: 1s }\n');
  });
  after(async () => {
    await h.close();
    await ups.close();
  });

  const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: api.test.local\r\n\r\n`;
  const halfHead = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: api.test.local\r\nX-A: `;
  const count = (text: string, what: string): number => text.split(what).length - 1;

  for (const via of VIAS) {
    test(`${via}: a request and half of the next head in one write: answered, then closed after headers_timeout`, async () => {
      const { s, target } = await openVia(h, via);
      const c = collect(s);
      const since = Date.now();
      s.write(get(target('/1k')) + halfHead(target('/1k')));
      // Two checks of 1 s past the timeout and some slack; the keep-alive timer would take 60 s.
      await until(() => c.closedAt() !== null, HEADERS_TIMEOUT_MS * 3 + 1000);
      s.destroy();
      assert.equal(count(c.got(), 'HTTP/1.1 200'), 1, 'the complete request is answered');
      assert.ok(c.got().includes(BODY_1K), 'with its body');
      assert.notEqual(c.closedAt(), null, 'the connection is closed while the next head is incomplete');
      assert.ok(c.closedAt()! - since >= HEADERS_TIMEOUT_MS - 100, `not before the timeout (${c.closedAt()! - since} ms)`);
    });

    test(`${via}: a request with a body and half of the next head in one write: closed after headers_timeout`, async () => {
      const { s, target } = await openVia(h, via);
      const c = collect(s);
      const body = 'y'.repeat(300);
      s.write(`POST ${target('/echo')} HTTP/1.1\r\nHost: api.test.local\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}${halfHead(target('/1k'))}`);
      await until(() => c.closedAt() !== null, HEADERS_TIMEOUT_MS * 3 + 1000);
      s.destroy();
      assert.equal(count(c.got(), 'HTTP/1.1 200'), 1);
      assert.match(c.got(), /"length":300/);
      assert.notEqual(c.closedAt(), null, 'closed');
    });

    test(`${via}: after answered requests (pipelined, with a body), an idle connection stays open past headers_timeout`, async () => {
      const { s, target } = await openVia(h, via);
      const c = collect(s);
      // Two complete requests in one write, then one with a body: all answered, nothing left over.
      s.write(get(target('/1k')) + get(target('/1k')));
      await until(() => count(c.got(), BODY_1K) === 2, 3000);
      s.write(`POST ${target('/echo')} HTTP/1.1\r\nHost: api.test.local\r\nContent-Length: 5\r\n\r\nhello`);
      await until(() => c.got().includes('"length":5'), 3000);
      assert.equal(count(c.got(), 'HTTP/1.1 200'), 3);
      await new Promise((r) => setTimeout(r, HEADERS_TIMEOUT_MS * 2 + 500));
      assert.equal(c.closedAt(), null, 'idle keep-alive is left to the keep-alive timer');
      s.write(get(target('/1k')));
      await until(() => count(c.got(), 'HTTP/1.1 200') === 4, 3000);
      s.destroy();
      assert.equal(count(c.got(), 'HTTP/1.1 200'), 4, 'the connection is still usable');
    });
  }
});
