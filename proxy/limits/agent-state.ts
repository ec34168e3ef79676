/**
 * Per-agent state bounded by a count of agents, least recently used dropped first.
 *
 * lru-cache preallocates storage for `max` entries when the cache is made: two arrays of
 * `max` slots and three typed arrays. At the default of 50,000 agents, the limiter's and the
 * detector's four caches held 3.1 MB of empty slots in the proxy's heap, which every full
 * mark-compact walks (+1.05 ms on a 12.25 ms full GC in a micro-test), for the handful of agents
 * a sandbox runs. `maxSize` with a size of 1 per entry keeps the same bound (lru-cache's
 * documented alternative: "a safe limit on the maximum storage consumed, but without ...
 * pre-allocation"), and the storage grows with the agents actually seen.
 */
import { LRUCache } from 'lru-cache';

export function agentStateCache<V extends {}>(maxAgents: number): LRUCache<string, V> {
  return new LRUCache<string, V>({ maxSize: maxAgents, sizeCalculation: () => 1 });
}
