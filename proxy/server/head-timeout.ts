/**
 * `server.headers_timeout` for connections handed to an http.Server that never listens (the
 * MITM server gets its sockets by `emit('connection')`). Node enforces `headersTimeout` from an
 * interval it starts on 'listening', so without this a decrypted connection that sent half a
 * head, or nothing, was kept for ever (slowloris inside a tunnel).
 *
 * Per connection, with documented events and properties only ('connection', 'request',
 * 'upgrade', `socket.bytesRead`):
 *
 *   connected ──▶ head clock runs ──(head complete: 'request')──▶ in flight ──(answered, body read)──▶ idle
 *                     │  └─ past headersTimeout: clientError ERR_HTTP_REQUEST_TIMEOUT                 │
 *                     └──────────────────────────── a byte of the next head arrives ◀────────────────┘
 *
 * As on the plain listener, a new connection's clock starts when it is handed over, and an idle
 * keep-alive connection is left to Node's keep-alive timer (it works here: it is a socket
 * timeout). A next head's first byte is seen at the next check, so it is cut between one and two
 * headersTimeout after it began (the plain listener's checks run every 30 s). An upgraded
 * connection is no longer HTTP and is not watched.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Watch {
  timer: NodeJS.Timeout | null;
  /** Requests whose head is complete and whose exchange is not over. */
  inFlight: number;
  /** The head clock runs (bytes of a head have arrived, or the connection is new). */
  started: boolean;
  /** `bytesRead` when the connection went idle. */
  idleBytes: number;
}

export class HeadTimeouts {
  private readonly watched = new WeakMap<object, Watch>();

  /** `onTimeout` gets the socket whose head did not arrive in time (and should close it). */
  constructor(private readonly server: Server, private readonly onTimeout: (socket: Socket) => void) {
    server.on('connection', (socket: Socket) => this.watch(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage) => this.unwatch(req.socket));
  }

  private watch(socket: Socket): void {
    const w: Watch = { timer: null, inFlight: 0, started: true, idleBytes: 0 };
    this.watched.set(socket, w);
    socket.once('close', () => this.unwatch(socket));
    this.arm(socket, w);
  }

  private unwatch(socket: Socket): void {
    const w = this.watched.get(socket);
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    this.watched.delete(socket);
  }

  private arm(socket: Socket, w: Watch): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    // Read at each arming: a reload's value applies from the next check, as Node's does.
    const ms = this.server.headersTimeout;
    if (!ms || w.inFlight > 0 || socket.destroyed) return;
    w.timer = setTimeout(() => this.check(socket, w), ms);
    w.timer.unref();
  }

  private check(socket: Socket, w: Watch): void {
    w.timer = null;
    if (w.inFlight > 0 || socket.destroyed || this.watched.get(socket) !== w) return;
    if (w.started) return this.onTimeout(socket);
    // Idle since the last exchange: a byte since then starts the clock.
    if (socket.bytesRead !== w.idleBytes) w.started = true;
    this.arm(socket, w);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const w = this.watched.get(socket);
    if (!w) return;
    w.inFlight++;
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    // Over when the answer is out and the body read (Node reads an unread one after the answer):
    // only then can the next head begin.
    res.once('close', () => {
      const over = (): void => {
        if (--w.inFlight > 0 || this.watched.get(socket) !== w) return;
        w.started = false;
        w.idleBytes = socket.bytesRead;
        this.arm(socket, w);
      };
      if (req.complete) over();
      else req.once('end', over);
    });
  }
}
