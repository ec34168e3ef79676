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

test('a pool not asked for within idleMs is closed by the sweep; one in use stays', async () => {
  let clock = 1_000_000;
  const up = new Upstream(cfg, { idleMs: 60_000, now: () => clock });
  try {
    const idle = up.pool(target('idle.example'));
    const busy = up.pool(target('busy.example'));
    clock += 40_000;
    assert.equal(up.pool(target('busy.example')), busy, 'asked for again: its idle time starts over');
    clock += 30_000; // idle.example: 70 s unused; busy.example: 30 s
    up.sweepIdle();
    await new Promise((r) => setImmediate(r));
    assert.equal(idle.closed, true, 'the idle pool is closed');
    assert.equal(busy.closed, false);
    assert.equal(up.pool(target('busy.example')), busy);
    const again = up.pool(target('idle.example'));
    assert.notEqual(again, idle, 'a name that comes back gets a new pool');
    assert.equal(again.closed, false);
  } finally {
    await up.close();
  }
});
