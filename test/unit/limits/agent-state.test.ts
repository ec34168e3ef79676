import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { agentStateCache } from '../../../proxy/limits/agent-state.js';

test('agent state: at most maxAgents entries, the least recently used dropped first', () => {
  const cache = agentStateCache<number>(3);
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('c', 3);
  assert.equal(cache.get('a'), 1); // a is now the most recently used
  cache.set('d', 4);
  assert.equal(cache.size, 3);
  assert.equal(cache.has('b'), false, 'b was the least recently used');
  assert.deepEqual([...cache.keys()].sort(), ['a', 'c', 'd']);
  for (let i = 0; i < 1_000; i++) cache.set(`x${i}`, i);
  assert.equal(cache.size, 3);
});
