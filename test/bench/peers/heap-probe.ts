// Preloaded (`node --import`) into Warden by the soak benchmark (test/bench/soak.ts) to read the
// live heap after a full collection, which `/proc` cannot show: RSS keeps pages the allocator
// has not returned, so only the heap after GC tells retained objects from freed ones.
// Inert unless the process has an IPC channel (`process.send`, i.e. it was spawned with 'ipc'
// in its stdio) AND WARDEN_BENCH_HEAP_PROBE=1. Then, over that channel:
//   {type:'heap'}           → two full GCs (a setImmediate between them, so that finalizers and
//                             weak callbacks queued by the first run before the second), a 50 ms
//                             pause and a third GC; replies {type:'heap', heapUsed, external,
//                             arrayBuffers, rss, resources} with process.getActiveResourcesInfo()
//                             counted by type (only ref'ed handles and timers appear there).
//   {type:'snapshot', path} → one GC, v8.writeHeapSnapshot(path); replies {type:'snapshot', path}.
// The channel is unref'ed at once, so the probe never keeps the proxy alive, and the proxy gets
// `gc` from a fresh context (`--expose-gc` set at run time) without any flag on its command line.
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What the probe answers to {type:'heap'}; sizes in bytes. */
export interface HeapReply {
  readonly type: 'heap';
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
  /** process.getActiveResourcesInfo() counted by type, e.g. { TCPSocketWrap: 2, Timeout: 3 } */
  readonly resources: Record<string, number>;
}

export interface SnapshotReply {
  readonly type: 'snapshot';
  readonly path: string;
  readonly error?: string;
}

const send = process.send?.bind(process);
if (send && process.env['WARDEN_BENCH_HEAP_PROBE'] === '1') {
  process.channel?.unref();
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  const heap = async (): Promise<HeapReply> => {
    gc();
    await tick();
    gc();
    await pause(50);
    gc();
    const m = process.memoryUsage();
    const resources: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    return { type: 'heap', heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, resources };
  };

  process.on('message', (msg: unknown) => {
    const m = msg as { type?: unknown; path?: unknown } | null;
    if (m?.type === 'heap') {
      void heap().then((r) => send(r));
    } else if (m?.type === 'snapshot' && typeof m.path === 'string') {
      const path = m.path;
      gc();
      let reply: SnapshotReply;
      try {
        reply = { type: 'snapshot', path: writeHeapSnapshot(path) };
      } catch (err) {
        reply = { type: 'snapshot', path, error: (err as Error).message };
      }
      send(reply);
    }
  });
}
