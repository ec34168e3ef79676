/**
 * The bytes of request heads as the client sends them, held to `server.max_header_size` on
 * every HTTP connection Warden parses: the listener's, a decrypted tunnel's, a plain-HTTP
 * tunnel's.
 *
 * Why: Node's parser (llhttp) counts the request target, header names and values against
 * `maxHeaderSize`, but not the bytes it skips: a value's leading whitespace, spaces before the
 * target, empty lines before the request line. A head of `X: `, 256 MiB of spaces and `v` was
 * read whole within headers_timeout. The meter counts every byte that arrives outside a body.
 *
 *   read ──► before(): note it ──► Node's parser ──► headEnded() for each head it completes
 *                                                  ──► after(): count it; over the limit: onOverflow
 *
 * Exact where the boundaries are known: a read that starts in a head (or between requests)
 * counts whole, and a head completed by a read counts up to its blank line, so it is refused
 * at `max_header_size + 1` bytes. A head that begins inside a read, after the previous request
 * ended in that read (pipelining), is counted from the next read on: such a head can run over
 * by up to one read (64 KiB on TCP, 16 KiB in TLS) before it is refused.
 *
 * It relies on Node's server emitting 'request' / 'connect' / 'upgrade' inside the 'data'
 * listener that feeds the parser, and on a request's `complete` turning true when its body has
 * been parsed (both public behaviour). Listening for 'data' moves the socket from Node's native
 * parser feed to JS 'data' events (about 2 µs per request on a bare Node server, measured).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const BLANK_LINE = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** Offset in `read` just past the first `\r\n\r\n` of `tail + read` (-1: none); `tail` is at most 3 bytes. */
export function blankLineEnd(tail: Buffer, read: Buffer): number {
  if (tail.length > 0) {
    const i = Buffer.concat([tail, read.subarray(0, 3)]).indexOf(BLANK_LINE);
    if (i >= 0) return i + BLANK_LINE.length - tail.length;
  }
  const i = read.indexOf(BLANK_LINE);
  return i < 0 ? -1 : i + BLANK_LINE.length;
}

/** The last `n` bytes of `prev + next`. */
function lastBytes(prev: Buffer, next: Buffer, n: number): Buffer {
  if (next.length >= n) return Buffer.from(next.subarray(next.length - n));
  return Buffer.from(Buffer.concat([prev, next]).subarray(-n));
}

export interface HeadMeterOptions {
  /** The limit in bytes, read at each check (a reload changes it). */
  readonly maxBytes: () => number;
  /** A head still under way has passed the limit; the socket has been paused. */
  readonly onOverflow: (socket: Duplex) => void;
}

/** Internals read when present: Node's parser knows of heads it answers itself (417, a missing Host). */
type ParsedSocket = Duplex & { parser?: { incoming?: IncomingMessage | null } | null };

export class HeadMeter {
  /** Bytes of the head under way (with any empty lines before it) in the reads before the current one. */
  private counted = 0;
  /** The last request whose head completed: until it is `complete`, reads are its body. */
  private last: IncomingMessage | null = null;
  private read: Buffer = EMPTY;
  /** Whether the current read began outside a body: in a head, or between requests. */
  private readStartsOutsideBody = true;
  private headsInRead = 0;
  /** The previous read's last 3 bytes: a blank line can straddle two reads. */
  private tail: Buffer = EMPTY;
  private attached = true;
  /** Set when a head passed the limit: nothing more may be parsed (a head the parser completes anyway is dropped). */
  overflowed = false;

  constructor(private readonly socket: Duplex, private readonly opts: HeadMeterOptions) {
    // Before Node's own listener (the parser), and after it.
    socket.prependListener('data', this.before);
    socket.on('data', this.after);
  }

  /** Stop counting (the connection became a tunnel or a WebSocket, or is being refused). */
  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.socket.off('data', this.before);
    this.socket.off('data', this.after);
  }

  /**
   * A head completed (a request, CONNECT or upgrade), while its last read is being parsed.
   * Returns its size in bytes as far as measured (0 for a head that began inside this read,
   * after another message), to be held to the limit by the caller.
   */
  headEnded(req: IncomingMessage): number {
    this.last = req;
    this.headsInRead++;
    if (!this.attached || this.headsInRead > 1 || !this.readStartsOutsideBody) return 0;
    const end = blankLineEnd(this.tail, this.read);
    return this.counted + Math.max(0, end);
  }

  /** Whether a completed head of `bytes` is over the limit (see headEnded). */
  isOver(bytes: number): boolean {
    return bytes > this.opts.maxBytes();
  }

  private readonly before = (chunk: Buffer): void => {
    if (!this.attached) return;
    if (this.overflowed) {
      // Something resumed the paused socket (a pipelined request's body being read): the
      // parser must not see the rest of the refused head.
      this.socket.destroy();
      return;
    }
    this.read = chunk;
    this.headsInRead = 0;
    this.readStartsOutsideBody = this.last === null || this.last.complete;
  };

  private readonly after = (chunk: Buffer): void => {
    if (!this.attached || this.overflowed) return;
    const incoming = (this.socket as ParsedSocket).parser?.incoming ?? null;
    if (incoming !== null && incoming !== this.last) {
      this.last = incoming;
      this.headsInRead++;
    }
    const inBody = this.last !== null && !this.last.complete;
    // A head under way now that began inside this read is counted from the next read on.
    if (inBody || this.headsInRead > 0 || !this.readStartsOutsideBody) this.counted = 0;
    else this.counted += chunk.length;
    this.tail = lastBytes(this.tail, chunk, BLANK_LINE.length - 1);
    this.read = EMPTY;
    if (this.counted > this.opts.maxBytes()) {
      this.overflowed = true;
      // Nothing more is read: the refusal is written, then the connection closed.
      this.socket.pause();
      this.opts.onOverflow(this.socket);
    }
  };
}
