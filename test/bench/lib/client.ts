// Client side of the benchmark: TLS connections to a bench host either straight to the upstream
// ("direct") or through a proxy's CONNECT tunnel, plus undici pools built on them.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Pool } from 'undici';

export interface Route {
  /** proxy listen port on 127.0.0.1, or null to dial the upstream directly */
  readonly proxyPort: number | null;
  /** upstream port on 127.0.0.1 (direct route) */
  readonly upstreamPort: number;
  /** PEM(s) the client trusts: the proxy's CA, or the test CA for direct/passthrough */
  readonly ca: string;
}

export const CONNECT_TIMEOUT_MS = 30_000;

/** Opens a CONNECT tunnel to `target` ("host:port") through the proxy. */
export function openTunnel(proxyPort: number, target: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: proxyPort });
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`CONNECT ${target}: timeout`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16_384) fail(new Error(`CONNECT ${target}: response head too large`));
        return;
      }
      sock.off('data', onData);
      sock.off('error', fail);
      sock.off('close', onClose);
      const head = buf.toString('latin1', 0, end);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m || m[1] !== '200') {
        fail(new Error(`CONNECT ${target}: ${head.split('\r\n')[0] ?? '?'}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      sock.on('error', () => undefined); // the TLS socket on top reports errors
      sock.pause();
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) sock.unshift(rest);
      resolve(sock);
    };
    const onClose = (): void => fail(new Error(`CONNECT ${target}: closed by proxy`));
    sock.on('data', onData);
    sock.on('error', fail);
    sock.on('close', onClose);
    sock.once('connect', () => {
      sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    });
  });
}

/** A TLS connection to host:443 (via the route), handshake completed. */
export async function openTls(route: Route, host: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<TLSSocket> {
  const base: Socket | null = route.proxyPort === null ? null : await openTunnel(route.proxyPort, `${host}:443`, timeoutMs);
  return new Promise((resolve, reject) => {
    const opts = {
      servername: host,
      ca: route.ca,
      ALPNProtocols: ['http/1.1'],
    };
    const s: TLSSocket =
      base === null
        ? tlsConnect({ ...opts, host: '127.0.0.1', port: route.upstreamPort })
        : tlsConnect({ ...opts, socket: base });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`TLS ${host}: handshake timeout`));
    }, timeoutMs);
    s.setNoDelay(true);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.off('error', onErr);
      s.on('error', () => s.destroy()); // users add their own handlers; never an unhandled 'error'
      resolve(s);
    });
    const onErr = (err: Error): void => {
      clearTimeout(timer);
      s.destroy();
      base?.destroy();
      reject(new Error(`TLS ${host}: ${err.message}`));
    };
    s.once('error', onErr);
  });
}

/**
 * One HTTP/1.1 GET on a fresh connection; resolves with the status once the whole response body
 * has arrived. By default with "Connection: close" and the socket is closed afterwards; with
 * keepOpen the connection stays open and idle (for the memory workload).
 */
export function requestOnce(
  sock: TLSSocket,
  host: string,
  path: string,
  opts: { keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<number> {
  const keepOpen = opts.keepOpen ?? false;
  const timeoutMs = opts.timeoutMs ?? CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let head: string | null = null;
    let status = 0;
    let need = -1; // body bytes still expected (content-length), -1 unknown
    let chunked = false;
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeAllListeners('data');
      sock.removeListener('end', onEnd);
      sock.removeListener('error', onError);
      sock.on('error', () => sock.destroy()); // late resets after the response are not failures
      if (!(keepOpen && !err)) {
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      }
      if (err) reject(err);
      else resolve(status);
    };
    const timer = setTimeout(() => finish(new Error(`GET ${host}${path}: timeout`)), timeoutMs);
    sock.on('data', (d: Buffer) => {
      if (head === null) {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.toString('latin1', 0, end);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        status = m ? Number(m[1]) : 0;
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
        need = cl ? Number(cl[1]) : -1;
        d = buf.subarray(end + 4);
        buf = Buffer.alloc(0);
      }
      if (need >= 0) {
        need -= d.length;
        if (need <= 0) finish(null);
      } else if (chunked) {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n') finish(null);
      }
    });
    const onEnd = (): void =>
      head !== null ? finish(null) : finish(new Error(`GET ${host}${path}: closed before response`));
    const onError = (err: Error): void => finish(err);
    sock.once('end', onEnd);
    sock.once('error', onError);
    const conn = keepOpen ? '' : 'Connection: close\r\n';
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: warden-bench\r\n${conn}\r\n`);
  });
}

/** An undici pool for https://<host> whose connections are made by openTls (direct or tunnelled). */
export function makePool(route: Route, host: string, connections: number): Pool {
  return new Pool(`https://${host}`, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 300_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
    connect: (opts, callback) => {
      openTls(route, opts.servername || host).then(
        (s) => callback(null, s),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
      );
    },
  });
}
