// The benchmark's upstream: a keep-alive HTTPS origin on 127.0.0.1, run as a child process
// so its CPU stays out of the load generator's. Usage:
//   node upstream-server.js --cert FILE --key FILE [--cold-dir DIR] [--port N] [--keep-alive-ms N]
// Prints one line "READY <port> <pid>" on stdout once listening. --keep-alive-ms (default
// 300000) is the server's idle keep-alive timeout, announced as `Keep-Alive: timeout=<s>`; the
// soak benchmark shortens it so that every idle upstream connection is closed between rounds.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { coldContexts } from './certs.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) {
    process.stderr.write(`upstream: missing --${name}\n`);
    process.exit(2);
  }
  return v;
}

const ONE_K = Buffer.alloc(1024, 'x');

function drain(req: IncomingMessage, done: (bytes: number) => void): void {
  let n = 0;
  req.on('data', (c: Buffer) => {
    n += c.length;
  });
  req.on('end', () => done(n));
  req.on('error', () => done(-1));
}

function chatResponse(bytesIn: number): string {
  return JSON.stringify({
    id: 'chatcmpl-bench0001',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content:
            'The function allocates a new buffer on every call; hoist the allocation out of the ' +
            'loop and reuse it, then the benchmark should show fewer minor GCs. ' +
            `(received ${bytesIn} bytes)`,
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: Math.round(bytesIn / 4), completion_tokens: 48, total_tokens: Math.round(bytesIn / 4) + 48 },
    system_fingerprint: 'fp_bench',
  });
}

function sse(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const n = Math.min(10_000, Math.max(1, Number(url.searchParams.get('n') ?? '100')));
  const interval = Math.min(1000, Math.max(1, Number(url.searchParams.get('interval') ?? '10')));
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
  });
  res.flushHeaders();
  let i = 0;
  const pad = 'tok '.repeat(12);
  const timer = setInterval(() => {
    if (i >= n || res.destroyed) {
      clearInterval(timer);
      if (!res.destroyed) res.end('data: [DONE]\n\n');
      return;
    }
    const t = process.hrtime.bigint().toString();
    res.write(`data: {"i":${i},"t":"${t}","delta":{"content":"${pad}"}}\n\n`);
    i++;
  }, interval);
  req.on('close', () => clearInterval(timer));
}

const upstreamKey = readFileSync(arg('key'));
const coldDir = arg('cold-dir', '');
/** Workload (c)'s names get their own certificate (certs.ts makeColdCerts). */
const coldContext = coldDir === '' ? (): null => null : coldContexts(coldDir, upstreamKey);

const server = createServer(
  {
    cert: readFileSync(arg('cert')),
    key: upstreamKey,
    SNICallback: (servername, cb) => cb(null, coldContext(servername) ?? undefined),
    keepAliveTimeout: Number(arg('keep-alive-ms', '300000')),
    requestTimeout: 0,
    headersTimeout: 60_000,
    ALPNProtocols: ['http/1.1'],
  },
  (req, res) => {
    const url = new URL(req.url ?? '/', 'https://bench.test');
    if (req.method === 'GET' && url.pathname === '/1k') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ONE_K.length });
      res.end(ONE_K);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/whoami') {
      const sock = req.socket as typeof req.socket & { servername?: string | false };
      const body = JSON.stringify({ host: req.headers.host ?? null, sni: sock.servername || null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/echo') {
      drain(req, (n) => {
        const body = JSON.stringify({ bytes: n });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
      drain(req, (n) => {
        const body = chatResponse(n);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/sse') {
      sse(req, res, url);
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 9 });
    res.end('not found');
  },
);
// /ws: a WebSocket echo (the soak's WebSocket sessions). permessage-deflate on, as most servers
// have it: Warden must not let it be negotiated.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
  if (new URL(req.url ?? '/', 'https://bench.test').pathname !== '/ws') return void socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary }));
    ws.on('error', () => ws.terminate());
  });
});
server.maxConnections = 100_000;
server.on('clientError', (_err, socket) => socket.destroy());
server.on('error', (err) => {
  process.stderr.write(`upstream: ${err.message}\n`);
  process.exit(3);
});
server.listen({ host: '127.0.0.1', port: Number(arg('port', '0')) }, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`READY ${port} ${process.pid}\n`);
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
