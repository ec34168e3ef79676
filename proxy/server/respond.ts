/**
 * Refusals as the client sees them (DESIGN.md): a status, `X-Warden-Reason`, and the JSON body
 * of refusalBody(). For CONNECT they are written on the raw socket before any TLS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { REFUSALS, refusalBody, type RefusalCode } from '../errors.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 413: 'Payload Too Large',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export interface RefusalOptions {
  readonly retryAfterSeconds?: number;
  /** Extra fields of the error object (e.g. finding types); never values. */
  readonly extra?: Record<string, unknown>;
  readonly close?: boolean;
}

function refusalHeaders(code: RefusalCode, id: string, body: string, o: RefusalOptions): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'x-warden-reason': code,
    'x-request-id': id,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  };
  if (o.retryAfterSeconds !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(o.retryAfterSeconds)));
  if (code === 'auth_required') h['proxy-authenticate'] = 'Basic realm="warden"';
  if (o.close) h['connection'] = 'close';
  return h;
}

export function refuseResponse(res: ServerResponse, code: RefusalCode, id: string, o: RefusalOptions = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = refusalBody(code, id, o.extra);
  res.writeHead(REFUSALS[code].status, refusalHeaders(code, id, body, o));
  res.end(body);
}

/** The refusal's `detail` when an override header (decide.ts refusedOverride) names what the destination does not allow. */
export function overrideDetail(header: string): string {
  return `${header} names a method or path this destination does not allow`;
}

/** Write a refusal on a raw socket (CONNECT, upgrade) and close it. */
export function refuseSocket(socket: Duplex, code: RefusalCode, id: string, o: RefusalOptions = {}): void {
  if (socket.destroyed) return;
  const status = REFUSALS[code].status;
  const body = refusalBody(code, id, o.extra);
  const headers = refusalHeaders(code, id, body, { ...o, close: true });
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  socket.end(head + body);
}

/**
 * Bytes of a request head as Warden sends it upstream: the request line, one `name: value` line
 * per header value, the blank line. One byte per character: header text is latin1, as Node's
 * parser gives it and undici writes it. Counted in `bytes_up`, the upload budget and the
 * `upload_bytes` alerts with the body: a head carries agent text too (up to
 * `server.max_header_size` per request). The client's own framing (a chunked body's chunk
 * lines, hop-by-hop headers) is not what goes upstream and is not counted.
 */
export function requestHeadBytes(method: string, path: string, headers: Readonly<Record<string, string | readonly string[] | undefined>>): number {
  let n = method.length + 1 + path.length + ' HTTP/1.1\r\n'.length + 2;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const x of typeof v === 'string' ? [v] : v) n += k.length + 2 + x.length + 2;
  }
  return n;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'http2-settings',
]);

/** Copy headers minus hop-by-hop ones (and those named in Connection). */
export function endToEndHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  drop: readonly string[] = [],
): Record<string, string | string[]> {
  const named = new Set<string>();
  const conn = headers['connection'];
  for (const v of Array.isArray(conn) ? conn : conn ? [conn] : []) {
    for (const t of v.split(',')) named.add(t.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    const lk = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(lk) || named.has(lk) || drop.includes(lk)) continue;
    out[lk] = v;
  }
  return out;
}

/** Whether a request announces a body (a non-zero Content-Length, or any Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** The header names as the client wrote them (Node lower-cases `headers`' keys). */
export function rawHeaderNames(req: IncomingMessage): string[] {
  const names: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) names.push(req.rawHeaders[i]!);
  return names;
}
