/**
 * The `server` limits: a reload applies them to the running proxy (the next connection, request
 * head and inspected body are held to the new values, on the plain port and inside MITM tunnels
 * alike), and `max_cached_leaves` bounds the leaf cache.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { compileConfigText } from '../../proxy/config/load.js';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, rawExchange, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

describe('reload applies server limits in place', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  let yaml: (server: string) => string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-reload-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    const profile = '  default:\n    allow: [api.test.local]\n';
    yaml = (server) => baseYaml(up.port, join(dir, 'up.pem'), profile) + server;
    h = await startWarden({ yaml: yaml('') });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const reload = (server: string): void => {
    h.proxy.reload(compileConfigText(yaml(server).replaceAll('{{DIR}}', h.dir), join(h.dir, 'warden.yaml')));
  };
  const plainGet = (headerBytes: number): Promise<string> =>
    // A host outside the allowlist: Warden answers 403 itself, once it has parsed the head.
    rawExchange(h.port, `GET http://denied.test.local/ HTTP/1.1\r\nHost: denied.test.local\r\nConnection: close\r\nX-Pad: ${'a'.repeat(headerBytes)}\r\n\r\n`, 2000);
  const tunnelGet = async (headerBytes: number): Promise<number> => {
    const res = await request('https://api.test.local/1k', { dispatcher: h.agent(), headers: { 'x-pad': 'a'.repeat(headerBytes) } });
    await res.body.dump();
    return res.statusCode;
  };
  const inspectedPost = async (bytes: number): Promise<number> => {
    const res = await request('https://api.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: Buffer.alloc(bytes, 120), headers: { 'content-type': 'text/plain' } });
    await res.body.dump();
    return res.statusCode;
  };

  const connectionsDrop = async (to: number): Promise<void> => {
    const count = (): Promise<number> => new Promise((resolve, reject) => h.proxy.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    const deadline = Date.now() + 5000;
    while ((await count()) > to) {
      assert.ok(Date.now() < deadline, `the proxy still holds more than ${to} client connection(s)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('max_connections: a connection past the new bound is closed unanswered, one within it is served', async () => {
    // First in this file: no pooled client connection counts against the bound yet.
    reload('server: { max_connections: 1 }\n');
    const held: Socket = netConnect(h.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => held.once('connect', resolve).once('error', reject));
      await new Promise((r) => setTimeout(r, 50)); // the server has accepted it
      assert.equal(await plainGet(10), '', 'the second connection is dropped');
    } finally {
      held.destroy();
    }
    await connectionsDrop(0);
    assert.match(await plainGet(10), /^HTTP\/1\.1 403/);
    reload('');
  });

  test('max_header_size, max_inspect_buffer: a smaller value refuses what the old one let through', async () => {
    assert.match(await plainGet(6 * 1024), /^HTTP\/1\.1 403/);
    assert.equal(await tunnelGet(6 * 1024), 200);
    assert.equal(await inspectedPost(16 * 1024), 200);

    reload('server: { max_header_size: 4KiB, max_inspect_buffer: 4KiB }\n');
    assert.match(await plainGet(6 * 1024), /^HTTP\/1\.1 431/);
    assert.equal(await tunnelGet(6 * 1024), 431);
    assert.equal(await inspectedPost(16 * 1024), 503);
    assert.match(await plainGet(1024), /^HTTP\/1\.1 403/);

    reload('');
    assert.match(await plainGet(6 * 1024), /^HTTP\/1\.1 403/);
    assert.equal(await inspectedPost(16 * 1024), 200);
  });

  test('keep_alive_timeout: an idle client connection is closed after the new value (Node adds 1 s)', async () => {
    reload('server: { keep_alive_timeout: 1s }\n');
    try {
      const s = netConnect(h.port, '127.0.0.1');
      s.on('error', () => undefined);
      let got = '';
      s.on('data', (c: Buffer) => void (got += c.toString('latin1')));
      const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now())));
      s.write('GET http://denied.test.local/ HTTP/1.1\r\nHost: denied.test.local\r\n\r\n');
      while (!got.includes('"request_id"')) await new Promise((r) => setTimeout(r, 10));
      const idleSince = Date.now();
      assert.match(got, /^HTTP\/1\.1 403/);
      assert.match(got, /keep-alive: timeout=1\r\n/i, 'the answer advertises the new timeout');
      const closedAt = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      s.destroy();
      assert.notEqual(closedAt, null, 'closed by the keep-alive timer (60 s before the reload)');
      assert.ok(closedAt! - idleSince >= 1000, `not before the timeout (${closedAt! - idleSince} ms)`);
    } finally {
      reload('');
    }
  });
});

describe('server.max_cached_leaves', () => {
  test('bounds the leaf cache: least recently used names are evicted and minted again when they return', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'warden-leaves-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    const up = await startUpstream(pki, ['*.a.test.local', '*.b.test.local', '*.c.test.local']);
    // Names under different parents, so sibling sharing cannot serve two from one leaf.
    const h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: ["*.test.local"]\n') + 'server: { max_cached_leaves: 2 }\n' });
    try {
      const get = async (host: string): Promise<void> => {
        const agent = h.agent();
        const res = await request(`https://${host}/1k`, { dispatcher: agent });
        assert.equal(res.statusCode, 200, host);
        await res.body.dump();
        await agent.close();
      };
      for (const host of ['x.a.test.local', 'x.b.test.local', 'x.c.test.local', 'x.a.test.local']) await get(host);
      const stats = h.proxy.certCache.stats();
      assert.equal(stats.size, 2);
      assert.equal(stats.mints, 4, 'x.a was evicted by x.c and minted again');
    } finally {
      await h.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
