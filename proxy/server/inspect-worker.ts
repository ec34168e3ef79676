/**
 * An inspection worker thread (see inspect-pool.ts): builds the DLP engine from the pool's spec
 * and answers one job at a time. The engine is the same pure code the proxy runs inline.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { compileDetectors } from '../dlp/detectors.js';
import { createDlpEngine } from '../dlp/inspect.js';
import type { DetectorOptions } from '../dlp/types.js';
import type { JobMessage, ReplyMessage } from './inspect-pool.js';

const port = parentPort;
if (!port) throw new Error('inspect-worker runs as a worker thread');

const engine = createDlpEngine(compileDetectors(workerData as DetectorOptions));
port.postMessage({ ready: true } satisfies ReplyMessage);

/**
 * A shared body is freed only once both threads have collected their handles on it, and V8 does
 * not count shared memory when it decides to collect. This thread allocates little, so without
 * help it would keep every body it has read (measured: resident memory +8 MiB per 8 MiB body,
 * without bound). A full collection of this thread's small heap after every COLLECT_EVERY bytes
 * read bounds that (~3 ms per 64 MiB). `gc` is exposed for this thread's use only through a
 * fresh context, as leak detectors do; the proxy's own heap is left to V8.
 */
const COLLECT_EVERY = 64 * 1024 * 1024;
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
let readSinceCollect = 0;

port.on('message', (job: JobMessage) => {
  // A view of the proxy's shared memory: read, never written (the engine does not modify its input).
  const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  const t0 = performance.now();
  const result = engine.inspect({ ...job.req, body }, job.policy);
  port.postMessage({ id: job.id, result, scanSeconds: (performance.now() - t0) / 1000 } satisfies ReplyMessage);
  readSinceCollect += body.length;
  if (readSinceCollect >= COLLECT_EVERY) {
    readSinceCollect = 0;
    setImmediate(collect); // after this handler, which still holds the job
  }
});
