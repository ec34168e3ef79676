/**
 * Upstream pools: one per (origin, dialled address), bounded, the least recently used closed.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UpstreamConfig } from '../../../proxy/config/types.js';
import { Upstream, type DialTarget } from '../../../proxy/upstream/forward.js';

const cfg: UpstreamConfig = {
  caFile: null, connectTo: new Map(), allowPrivate: [], connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000,
};
const target = (host: string, dialHost = '127.0.0.1'): DialTarget => ({ scheme: 'https', host, port: 443, dialHost, dialPort: 443 });

test('one pool per origin and dialled address; past the bound the least recently used is closed', async () => {
  const up = new Upstream(cfg, { maxPools: 2 });
  try {
    const a = up.pool(target('a.example'));
    assert.equal(up.pool(target('a.example')), a, 'reused');
    assert.notEqual(up.pool(target('a.example', '127.0.0.2')), a, 'another dialled address is another pool');
    const b = up.pool(target('b.example')); // evicts a.example@127.0.0.1 (least recently used)
    await new Promise((r) => setImmediate(r));
    assert.equal(a.closed, true);
    assert.equal(b.closed, false);
    assert.notEqual(up.pool(target('a.example')), a, 'a new pool when the name comes back');
  } finally {
    await up.close();
  }
});
