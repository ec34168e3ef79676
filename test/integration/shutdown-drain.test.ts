/**
 * Graceful drain on close() (SIGTERM), with real sockets, on the plain listener and inside
 * CONNECT tunnels (TLS and plain HTTP). close() used to wait for a snapshot of the requests in
 * flight when it began: a request that started during the drain on a kept-alive connection was
 * not in it, and was cut mid-flight by the final closeAllConnections once the snapshot settled.
 * Now:
 * - the drain waits for every request and answer in flight, those started during it too;
 * - answers written during the drain say `Connection: close`, and a connection left idle by an
 *   answer that said keep-alive before the drain is ended as soon as that answer is done;
 * - what still runs at the deadline is cut, and close() returns by about the deadline.
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { acceptedSockets, collect, openVia, sleep, statuses, twoUpstreams, until, VIAS, wardenFor, type TwoUpstreams } from './raw-client.js';

/** The Connection header of each answer, in order ('' when absent). */
const connections = (text: string): string[] =>
  text.split(/^(?=HTTP\/1\.1 \d{3})/m).filter((a) => a.startsWith('HTTP/1.1')).map((a) => /^connection:\s*(\S+)/im.exec(a.split('\r\n\r\n')[0]!)?.[1]?.toLowerCase() ?? '');
const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: api.test.local\r\n\r\n`;
const ended1k = (text: string): boolean => text.includes('x'.repeat(1024)) && /(x{64}|\r\n0\r\n\r\n)$/.test(text);
const endedLate = (text: string, n: number): boolean => (text.match(/late(\r\n0\r\n\r\n)?/g) ?? []).length >= n && /late(\r\n0\r\n\r\n)?$/.test(text);

describe('close() drains every request in flight, those started during the drain too', { concurrency: true }, () => {
  let s: TwoUpstreams;
  before(async () => {
    s = await twoUpstreams('warden-drain-');
  });
  after(async () => {
    await s.close();
  });

  for (const via of VIAS) {
    test(`${via}: a request that starts during the drain on a kept-alive connection gets its whole answer, with connection: close`, async () => {
      const h = await wardenFor(s);
      try {
        // A: kept alive after a first answer, then the start of a second head (not idle).
        const a = await openVia(h, via);
        const ca = collect(a.s);
        a.s.write(get(a.target('/1k')));
        await until(() => ended1k(ca.got()), 3000);
        assert.deepEqual(connections(ca.got()), ['keep-alive'], 'kept alive before the drain');
        const headA = get(a.target('/delay?ms=600'));
        a.s.write(headA.slice(0, 10));
        // B: in flight when the drain begins, its head not yet written; done at ~200 ms.
        const b = await openVia(h, via);
        const cb = collect(b.s);
        b.s.write(get(b.target('/delay?ms=200')));
        await sleep(50);

        const since = Date.now();
        const closing = h.proxy.close(2000);
        await sleep(50);
        a.s.write(headA.slice(10)); // A's request starts during the drain
        await closing;
        const took = Date.now() - since;
        await until(() => ca.closedAt() !== null && cb.closedAt() !== null, 1000);
        a.s.destroy();
        b.s.destroy();
        assert.deepEqual(statuses(ca.got()), ['HTTP/1.1 200', 'HTTP/1.1 200'], `A's second request is answered, not cut: ${JSON.stringify(ca.got().slice(-200))}`);
        assert.deepEqual(connections(ca.got()), ['keep-alive', 'close'], 'and its answer says connection: close');
        assert.ok(endedLate(ca.got(), 1), 'A whole');
        assert.notEqual(ca.closedAt(), null, 'A is closed after its answer');
        assert.ok(took >= 550 && took < 1500, `close() waited for A (~650 ms), not for the deadline (${took} ms)`);
        assert.deepEqual(statuses(cb.got()), ['HTTP/1.1 200'], 'B is answered');
        assert.deepEqual(connections(cb.got()), ['close'], 'B, answered during the drain, says connection: close');
        assert.ok(endedLate(cb.got(), 1), 'B whole');
      } finally {
        rmSync(h.dir, { recursive: true, force: true });
      }
    });

    test(`${via}: a connection whose keep-alive answer ends during the drain is closed at once, not at the end of the drain`, async () => {
      const h = await wardenFor(s);
      try {
        // A streams /sse (5 events, 150 ms apart): its head said keep-alive before the drain.
        const a = await openVia(h, via);
        const ca = collect(a.s);
        a.s.write(get(a.target('/sse')));
        await until(() => ca.got().includes('data: '), 3000);
        // B keeps the drain going until ~1000 ms.
        const b = await openVia(h, via);
        const cb = collect(b.s);
        b.s.write(get(b.target('/delay?ms=1000')));
        await sleep(50);

        const since = Date.now();
        const closing = h.proxy.close(2000);
        let endedAt = 0;
        await until(() => {
          if (!endedAt && ca.got().endsWith('0\r\n\r\n')) endedAt = Date.now();
          return ca.closedAt() !== null;
        }, 2000);
        assert.equal(ca.got().split('data: ').length - 1, 5, 'every event of A');
        assert.deepEqual(connections(ca.got()), ['keep-alive']);
        assert.notEqual(ca.closedAt(), null, 'A is closed');
        assert.ok(ca.closedAt()! - endedAt < 300, `A is closed as its answer ends (${ca.closedAt()! - endedAt} ms after)`);
        assert.ok(ca.closedAt()! - since < 900, `before the drain ends (${ca.closedAt()! - since} ms)`);
        await closing;
        await until(() => cb.closedAt() !== null, 1000);
        a.s.destroy();
        b.s.destroy();
        assert.deepEqual(statuses(cb.got()), ['HTTP/1.1 200']);
        assert.deepEqual(connections(cb.got()), ['close']);
      } finally {
        rmSync(h.dir, { recursive: true, force: true });
      }
    });

    test(`${via}: a request still running at the deadline is cut, and close() returns by the deadline`, async () => {
      const h = await wardenFor(s);
      try {
        const a = await openVia(h, via);
        const ca = collect(a.s);
        a.s.write(get(a.target('/slow')));
        await sleep(100);
        const since = Date.now();
        await h.proxy.close(1000);
        const took = Date.now() - since;
        await until(() => ca.closedAt() !== null, 1000);
        a.s.destroy();
        assert.ok(took >= 950 && took < 1400, `close() took ${took} ms for a 1000 ms drain`);
        assert.notEqual(ca.closedAt(), null, 'the connection is cut');
        assert.ok(!ca.got().includes('HTTP/1.1 200'), 'no answer');
      } finally {
        rmSync(h.dir, { recursive: true, force: true });
      }
    });
  }
});

describe('a CONNECT on a connection kept alive into the drain opens no tunnel', () => {
  let s: TwoUpstreams;
  before(async () => {
    s = await twoUpstreams('warden-drain-connect-');
  });
  after(async () => {
    await s.close();
  });

  // A tunnel opened during the drain was not tracked: it held the process until the deadline
  // and was then cut. Now it is refused in the refusal format, audited, and its connection closed.
  for (const port of [443, 80]) {
    test(`CONNECT api.test.local:${port} during the drain: 503 shutting_down, audited, the connection closed`, async () => {
      const h = await wardenFor(s);
      try {
        const accepted = acceptedSockets(h);
        const a = await openVia(h, 'plain listener');
        const server = await accepted(a.tcp);
        const ca = collect(a.s);
        a.s.write(get(a.target('/1k')));
        await until(() => ended1k(ca.got()), 3000);
        assert.deepEqual(connections(ca.got()), ['keep-alive'], 'kept alive before the drain');
        const head = `CONNECT api.test.local:${port} HTTP/1.1\r\nHost: api.test.local:${port}\r\nX-Request-Id: drain-connect-${port}\r\n\r\n`;
        a.s.write(head.slice(0, 10)); // not idle once read: the drain does not close it at once
        await until(() => server.bytesRead === get(a.target('/1k')).length + 10, 3000);
        // B: in flight when the drain begins (its answer ~300 ms later), so the drain lasts.
        const b = await openVia(h, 'plain listener');
        const cb = collect(b.s);
        b.s.write(get(b.target(`/delay?ms=300&for=${port}`)));
        await until(() => s.plainUp.seen.some((r) => r.url === `/delay?ms=300&for=${port}`), 3000);
        const closing = h.proxy.close(3000);
        a.s.write(head.slice(10)); // the CONNECT arrives during the drain
        await until(() => ca.closedAt() !== null, 3000);
        a.s.destroy();
        await closing;
        await until(() => cb.closedAt() !== null, 3000);
        b.s.destroy();
        assert.deepEqual(statuses(cb.got()), ['HTTP/1.1 200'], 'B is answered');
        assert.deepEqual(statuses(ca.got()), ['HTTP/1.1 200', 'HTTP/1.1 503'], 'refused, no tunnel established');
        const refusal = ca.got().slice(ca.got().indexOf('HTTP/1.1 503'));
        assert.match(refusal, /^x-warden-reason: shutting_down\r$/m);
        assert.match(refusal, /^connection: close\r$/m);
        const body = JSON.parse(refusal.slice(refusal.indexOf('\r\n\r\n') + 4)) as { error: Record<string, string> };
        assert.deepEqual(body.error, {
          type: 'egress_blocked', code: 'shutting_down', request_id: `drain-connect-${port}`,
          message: 'Warden is shutting down and opens no new tunnel; retry on a new connection.',
        });
        assert.notEqual(ca.closedAt(), null, 'the connection is closed');
        const recs = h.audit.byId(`drain-connect-${port}`);
        assert.equal(recs.length, 1, 'one audit record');
        assert.deepEqual(
          { event: recs[0]!.event, method: recs[0]!.method, host: recs[0]!.host, port: recs[0]!.port, decision: recs[0]!.decision, reason: recs[0]!.reason, status: recs[0]!.status },
          { event: 'connect', method: 'CONNECT', host: 'api.test.local', port, decision: 'block', reason: 'shutting_down', status: 503 },
        );
      } finally {
        rmSync(h.dir, { recursive: true, force: true });
      }
    });
  }
});
