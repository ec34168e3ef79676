/**
 * Integration harness: a real HTTPS upstream with its own test CA on 127.0.0.1, Warden
 * in-process on port 0 with a throwaway ca_dir, audit records captured in memory, and small
 * raw-socket helpers for the cases where a real client hides what we need to see.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ProxyAgent } from 'undici';
import type { AuditRecordInput, AuditWriter } from '../../proxy/audit/events.js';
import { compileConfigText } from '../../proxy/config/load.js';
import { loadOrCreateFingerprintKey } from '../../proxy/keys.js';
import { WardenProxy } from '../../proxy/server/proxy.js';
import { loadOrCreateCa } from '../../proxy/tls/ca.js';
import type { LookupFn } from '../../proxy/upstream/resolve.js';
import { createMetrics, type Metrics } from '../../proxy/admin/metrics.js';
import type { TestPki } from '../fixtures/pki.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export class MemoryAudit implements AuditWriter {
  readonly records: AuditRecordInput[] = [];
  write(rec: AuditRecordInput): void {
    // Serialise like a sink would, so tests see exactly what would be written.
    this.records.push(JSON.parse(JSON.stringify(rec)) as AuditRecordInput);
  }
  find(pred: (r: AuditRecordInput) => boolean): AuditRecordInput | undefined {
    return this.records.find(pred);
  }
  byId(id: string): AuditRecordInput[] {
    return this.records.filter((r) => r.id === id);
  }
  text(): string {
    return this.records.map((r) => JSON.stringify(r)).join('\n');
  }
}

export interface Upstream {
  readonly port: number;
  readonly seen: SeenRequest[];
  readonly server: HttpsServer | HttpServer;
  close(): Promise<void>;
}

/** An HTTPS (or plain) upstream: /echo, /1k, /sse, /delay?ms=, /slow, /reset, and a WebSocket echo on /ws. */
export async function startUpstream(pki: TestPki | null, names = ['api.test.local', '*.test.local', 'localhost', '127.0.0.1']): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const handler = (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/1k') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end('x'.repeat(1024));
      }
      if (path === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let i = 0;
        const tick = (): void => {
          res.write(`data: ${JSON.stringify({ i, sent: Date.now() })}\n\n`);
          if (++i < 5) setTimeout(tick, 150);
          else res.end();
        };
        return tick();
      }
      if (path === '/delay') {
        // Answers after ?ms= milliseconds (default 300): a head that is not written yet.
        const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 300);
        const t = setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('late');
        }, ms);
        res.once('close', () => clearTimeout(t));
        return;
      }
      if (path === '/slow') return; // never answers: upstream timeout tests
      if (path === '/reset') return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(JSON.stringify({ method: req.method, url: req.url, length: body.length, sha256: createHash('sha256').update(body).digest('hex') }));
    });
  };
  const leaf = pki?.issue(names);
  const server = pki && leaf
    ? createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem, keepAliveTimeout: 2000 }, handler)
    : createHttpServer({ keepAliveTimeout: 2000 }, handler);
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    // Echo small masked text frames back unmasked.
    socket.on('data', (buf: Buffer) => {
      if (buf.length < 6) return;
      if ((buf[0]! & 0x0f) === 0x8) return void socket.end(Buffer.from([0x88, 0x00])); // close handshake
      const len = buf[1]! & 0x7f;
      if (len > 125) return;
      const mask = buf.subarray(2, 6);
      const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    server,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export interface Harness {
  readonly proxy: WardenProxy;
  readonly port: number;
  readonly url: string;
  readonly audit: MemoryAudit;
  /** Warden's CA (what clients trust). */
  readonly wardenCa: string;
  readonly wardenCaFile: string;
  readonly dir: string;
  readonly metrics: Metrics;
  agent(opts?: { auth?: string }): ProxyAgent;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** YAML config; `{{DIR}}` is replaced with the temp dir. */
  readonly yaml: string;
  readonly lookup?: LookupFn;
  readonly now?: () => number;
  /** Extra files to write into the temp dir before loading (name → content). */
  readonly files?: Record<string, string>;
}

export async function startWarden(o: HarnessOptions): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-it-'));
  for (const [name, content] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), content);
  const file = join(dir, 'warden.yaml');
  const yaml = o.yaml.replaceAll('{{DIR}}', dir);
  writeFileSync(file, yaml);
  const config = compileConfigText(yaml, file);
  const { ca } = await loadOrCreateCa(join(dir, 'ca'));
  const audit = new MemoryAudit();
  const log = pino({ level: process.env['WARDEN_TEST_LOG'] ?? 'silent' });
  const metrics = createMetrics();
  const proxy = new WardenProxy({
    config, audit, log, ca, metrics, fingerprintKey: loadOrCreateFingerprintKey(join(dir, 'ca')),
    ...(o.lookup ? { lookup: o.lookup } : {}), ...(o.now ? { now: o.now } : {}),
  });
  const addr = await proxy.listen();
  const agents: ProxyAgent[] = [];
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    proxy, port: addr.port, url, audit, dir, metrics, wardenCa: ca.certPem, wardenCaFile: join(dir, 'ca', 'ca.pem'),
    agent(opts = {}) {
      const a = new ProxyAgent({
        uri: url,
        requestTls: { ca: [ca.certPem] },
        ...(opts.auth ? { token: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {}),
        keepAliveTimeout: 500,
      });
      agents.push(a);
      return a;
    },
    async close() {
      await Promise.allSettled(agents.map((a) => a.close()));
      await proxy.close(200);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Config for the harness upstream: every *.test.local name dials the upstream. */
export function baseYaml(upstreamPort: number, upstreamCaFile: string, profile: string, extra = ''): string {
  return `
listen: "127.0.0.1:0"
ca_dir: "{{DIR}}/ca"
auth: optional
upstream:
  ca_file: "${upstreamCaFile}"
  allow_private: ["127.0.0.0/8"]
  connect_to:
    "*.test.local:443": "127.0.0.1:${upstreamPort}"
    "*.test.local:80": "127.0.0.1:${upstreamPort}"
  headers_timeout: 2s
profiles:
${profile}
audit:
  file: null
${extra}`;
}

/** Send raw bytes to the proxy and collect everything until close (or timeout). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', done);
    s.on('error', done);
    s.write(data);
  });
}

/** Send a CONNECT and return the status line and headers of the proxy's answer (first block). */
export async function rawConnect(port: number, authority: string, headers = ''): Promise<{ status: number; head: string; body: string }> {
  const text = await rawExchange(port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${headers}\r\n`, 1500);
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head, body };
}

export function header(head: string, name: string): string | null {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head);
  return m ? m[1]!.trim() : null;
}

export function tmpFile(name: string, content: string | Buffer): { path: string; cleanup: () => void } {
  const d = mkdtempSync(join(tmpdir(), 'warden-f-'));
  const path = join(d, name);
  writeFileSync(path, content);
  return { path, cleanup: () => rmSync(d, { recursive: true, force: true }) };
}

/** CONNECT to `authority` over a raw socket (`headers`: more header lines, each ending in CRLF); resolves once the proxy's answer head has arrived (bytes after it stay unread). */
export async function openTunnel(port: number, authority: string, headers = ''): Promise<Socket> {
  const tcp = netConnect(port, '127.0.0.1');
  tcp.on('error', () => undefined);
  tcp.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${headers}\r\n`);
  await new Promise<void>((resolve) => {
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      tcp.off('data', onData);
      resolve();
    };
    tcp.on('data', onData);
  });
  return tcp;
}
