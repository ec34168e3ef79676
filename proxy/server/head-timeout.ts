/**
 * `server.headers_timeout` for connections handed to an http.Server that never listens (the
 * MITM server gets its sockets by `emit('connection')`). Node enforces `headersTimeout` from an
 * interval it starts on 'listening', so without this a decrypted connection that sent half a
 * head, or nothing, was kept for ever (slowloris inside a tunnel).
 *
 * Per connection, with documented events and properties only ('connection', 'request',
 * 'upgrade', response 'close', `socket.bytesRead`, `request.rawHeaders`), one timer that is
 * re-armed (`refresh()`) and never made per request:
 *
 *   connected ──▶ head clock runs ──(head complete: 'request')──▶ in flight ──(answered, body read)──┐
 *                     │  └─ past headersTimeout: onTimeout (the caller closes it)                     │
 *                     │                                   bytes past the last request: pipelined ◀────┤
 *                     └───────────────────── a byte of the next head arrives ◀── idle ◀─── otherwise ─┘
 *
 * Where the next head begins is counted in `bytesRead` terms: each request moves the mark by the
 * size of its head (as its rawHeaders spell it: "Name: value\r\n") and of its Content-Length
 * body. When the exchange is over, bytes read past the mark are the start of a next head that
 * came with the last request (pipelining: the parser holds them, and nothing more may come): its
 * clock starts there. A chunked body's size on the wire is not known: after one, the clock
 * starts too, so an idle connection is closed after headersTimeout instead of Node's keep-alive
 * timer (fail closed). A head written without the space after a colon is one byte shorter than
 * counted per header: that many bytes of a pipelined head go unseen, and such a connection is
 * held until the keep-alive timer, as an idle one is.
 *
 * A new connection's clock starts when it is handed over, so does a pipelined head's, and those
 * are cut after headersTimeout. A head that starts on an idle connection is seen at the next
 * check, so it is cut between one and two headersTimeout after it began. An idle keep-alive
 * connection is left to Node's keep-alive timer (it works here: it is a socket timeout). An
 * upgraded connection is no longer HTTP and is not watched.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One connection's head clock. */
class Watch {
  timer: NodeJS.Timeout;
  /** The period `timer` runs with (headersTimeout when it was made). */
  ms: number;
  /** Requests whose head is complete and whose exchange is not over. */
  inFlight = 0;
  /** `bytesRead` where the next head begins; NaN after a body of unknown size, until the exchange is over. */
  next: number;
  /** A head has begun (bytes of it have arrived, or the connection is new) and is not complete. */
  started = true;
  /** The head clock has run a whole period: past headersTimeout at the next check. */
  due = true;

  constructor(readonly socket: Socket, readonly server: Server, readonly onTimeout: (socket: Socket) => void, ms: number) {
    this.ms = ms;
    // Bytes already buffered (a tunnel's first bytes, given back with unshift) are the first head's.
    this.next = socket.bytesRead - socket.readableLength;
    this.timer = setTimeout(check, ms, this).unref();
  }
}

/** "Name: value\r\n" for each header, the request line and the empty line, as rawHeaders spell them. */
function headBytes(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  // "METHOD SP target SP HTTP/1.1 CRLF" ... CRLF
  let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 14;
  for (let i = 0; i < raw.length; i++) n += raw[i]!.length + 2;
  return n;
}

/** Bytes of the body on the wire: Content-Length, 0 without one, NaN when chunked. */
function bodyBytes(req: IncomingMessage): number {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return NaN;
  const cl = h['content-length'];
  return cl === undefined ? 0 : Number(cl);
}

/** The watched connections (one server's sockets are never another's). */
const watches = new WeakMap<object, Watch>();

function unwatch(socket: Socket): void {
  const w = watches.get(socket);
  if (!w) return;
  clearTimeout(w.timer);
  watches.delete(socket);
}

function check(w: Watch): void {
  const { socket } = w;
  if (socket.destroyed || watches.get(socket) !== w) return;
  const ms = w.server.headersTimeout;
  if (!ms) return unwatch(socket);
  if (w.inFlight > 0) w.due = false;
  else if (w.started || socket.bytesRead !== w.next) {
    if (w.due) return w.onTimeout(socket);
    w.started = true;
    w.due = true;
  } else w.due = false;
  // A reload's value applies from the next check, as Node's does.
  if (ms !== w.ms) {
    clearTimeout(w.timer);
    w.ms = ms;
    w.timer = setTimeout(check, ms, w).unref();
  } else w.timer.refresh();
}

/** The exchange of one request is over: the answer is out and the body read. */
function over(w: Watch): void {
  if (--w.inFlight > 0 || watches.get(w.socket) !== w) return;
  const read = w.socket.bytesRead;
  if (read <= w.next) {
    w.next = read;
    w.started = false;
    w.due = false;
    return;
  }
  // Bytes past the last request (a pipelined head), or a body of unknown size: the clock runs from now.
  if (Number.isNaN(w.next)) w.next = read;
  w.started = true;
  w.due = true;
  w.timer.refresh();
}

function onResponseClose(this: ServerResponse): void {
  const req = this.req;
  const w = watches.get(req.socket);
  if (!w) return;
  // Node reads an unread body after the answer: only then can the next head begin.
  if (req.complete) over(w);
  else req.once('end', onRequestEnd);
}

function onRequestEnd(this: IncomingMessage): void {
  const w = watches.get(this.socket);
  if (w) over(w);
}

function onSocketClose(this: Socket): void {
  unwatch(this);
}

export class HeadTimeouts {
  /** `onTimeout` gets the socket whose head did not arrive in time (and should close it). */
  constructor(private readonly server: Server, private readonly onTimeout: (socket: Socket) => void) {
    server.on('connection', (socket: Socket) => this.watch(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage) => unwatch(req.socket));
  }

  private watch(socket: Socket): void {
    const ms = this.server.headersTimeout;
    if (!ms || socket.destroyed) return;
    watches.set(socket, new Watch(socket, this.server, this.onTimeout, ms));
    socket.once('close', onSocketClose);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const w = watches.get(req.socket);
    if (!w) return;
    w.inFlight++;
    w.started = false;
    w.due = false;
    w.next += headBytes(req) + bodyBytes(req);
    res.on('close', onResponseClose);
  }
}
