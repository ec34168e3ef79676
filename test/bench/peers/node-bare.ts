// Reference peer "node-bare": the smallest TLS-intercepting proxy built from the same Node parts
// as Warden (CONNECT on node:http, an in-process TLSSocket handed to an http.Server, undici Pools
// with keep-alive and setNoDelay both sides), with nothing else: no policy, DLP, audit, limits,
// metrics, leaf minting (it presents the upstream's own *.bench.test certificate) or address
// checks. It is not a product to compare against; it measures what the platform alone costs on
// each workload, so the report can say how much of Warden's gap to Squid is Node and how much is
// Warden's own work.
//   node node-bare.js --port N --cert FILE --key FILE --cold-dir DIR --upstream-ca FILE --upstream-port N
// For workload (c)'s names (one parent domain each) it presents each name's own certificate, as the
// upstream does (lib/certs.ts makeColdCerts): a reference with no leaf minting.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { Pool } from 'undici';
import { coldContexts } from '../lib/certs.js';
import { spliceTunnel } from '../lib/tunnel.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    process.stderr.write(`node-bare: missing --${name}\n`);
    process.exit(2);
  }
  return v;
}

const port = Number(arg('port'));
const upstreamPort = Number(arg('upstream-port'));
const serverKey = readFileSync(arg('key'));
const serverContext = createSecureContext({ cert: readFileSync(arg('cert')), key: serverKey });
const coldContext = coldContexts(arg('cold-dir'), serverKey);
const contextFor = (servername: string): SecureContext => coldContext(servername) ?? serverContext;
const upstreamContext = createSecureContext({ ca: readFileSync(arg('upstream-ca')) }); // parsed once, as Warden does
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

const pools = new Map<string, Pool>();
function poolFor(host: string): Pool {
  let p = pools.get(host);
  if (!p) {
    p = new Pool(`https://${host}`, {
      connect: (_opts, cb) => {
        const s = tlsConnect({ host: '127.0.0.1', port: upstreamPort, servername: host, secureContext: upstreamContext, ALPNProtocols: ['http/1.1'] });
        s.setNoDelay(true);
        s.once('secureConnect', () => cb(null, s));
        s.once('error', (err) => cb(err, null));
      },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
    pools.set(host, p);
  }
  return p;
}

async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = (req.headers.host ?? '').replace(/:443$/, '');
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const up = await poolFor(host).request({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null });
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  res.writeHead(up.statusCode, out);
  res.flushHeaders();
  up.body.on('data', (c: Buffer) => {
    if (!res.write(c)) up.body.pause();
  });
  res.on('drain', () => up.body.resume());
  up.body.on('end', () => res.end());
  up.body.on('error', () => res.destroy());
}

const inner = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  forward(req, res).catch((err: unknown) => {
    process.stderr.write(`node-bare: ${String(err)}\n`);
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
});

const outer = createServer();
outer.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  const target = req.url ?? '';
  if (target.startsWith('tunnel.bench.test:')) {
    spliceTunnel(socket, head, upstreamPort);
    return;
  }
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext: serverContext,
    SNICallback: (name, cb) => cb(null, contextFor(name)),
    ALPNProtocols: ['http/1.1'],
  });
  tls.on('error', () => socket.destroy());
  inner.emit('connection', tls);
});
outer.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${port}\n`));
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
