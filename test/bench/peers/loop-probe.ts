// Preloaded (`node --import`) into the Node peers (warden, node-bare, http-mitm-proxy) to measure
// event-loop stalls for workload (c) at 1 ms resolution. prom-client's lag gauge samples every
// 10 ms, so its max only bounds a stall within 10 ms; this one bounds it within 1 ms.
// SIGUSR2 toggles: the first starts a fresh window, the second stops it and writes
// {"max_ms", "p99_ms", "resolution_ms"} to $WARDEN_BENCH_LOOP_FILE. Inert without that variable.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env['WARDEN_BENCH_LOOP_FILE'];
if (out) {
  const RESOLUTION_MS = 1;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  let on = false;
  process.on('SIGUSR2', () => {
    if (!on) {
      h.reset();
      h.enable();
      on = true;
      return;
    }
    h.disable();
    on = false;
    writeFileSync(out, JSON.stringify({ max_ms: h.max / 1e6, p99_ms: h.percentile(99) / 1e6, resolution_ms: RESOLUTION_MS }) + '\n');
  });
}
