import pino from 'pino';
import type { AuditSink } from './sink.js';

/** Anything with a string `write`, e.g. a capture in tests. */
export interface LineWriter {
  write(s: string): unknown;
}

/**
 * The audit stream on standard output (container log collectors pick it up).
 *
 * Synchronous writes (pino.destination sync: true, i.e. SonicBoom over fd 1): a line buffered
 * in user space is lost if the process crashes, and an audit line must not be. The cost is that
 * a stalled reader of the pipe stalls the proxy, which is the right failure for an audit trail.
 * If the operational log also goes to stdout, give it the same destination or send it to stderr,
 * or an asynchronous writer may interleave with these lines.
 */
export class StdoutSink implements AuditSink {
  readonly name = 'stdout';
  private readonly out: LineWriter;

  constructor(out?: LineWriter) {
    this.out = out ?? pino.destination({ dest: 1, sync: true });
  }

  write(line: string): void {
    this.out.write(line);
  }
}
