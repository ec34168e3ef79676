/**
 * Raw HTTP/1.1 over a socket to Warden, the same way on the plain listener and inside CONNECT
 * tunnels (TLS and plain HTTP), for tests that write heads byte by byte (pipelining, timeouts,
 * drains). The setup gives *.test.local:443 a TLS upstream and *.test.local:80 a plain one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createTestPki, type TestPki } from '../fixtures/pki.js';
import { baseYaml, openTunnel, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

export type Via = 'plain listener' | 'TLS tunnel' | 'plain HTTP tunnel';
export const VIAS: readonly Via[] = ['plain listener', 'TLS tunnel', 'plain HTTP tunnel'];

/** A TLS and a plain upstream, and a temp dir holding the TLS one's CA. */
export interface TwoUpstreams {
  readonly pki: TestPki;
  readonly dir: string;
  readonly up: Upstream;
  readonly plainUp: Upstream;
  close(): Promise<void>;
}

export async function twoUpstreams(prefix: string): Promise<TwoUpstreams> {
  const pki = createTestPki();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'up.pem'), pki.caPem);
  const up = await startUpstream(pki);
  const plainUp = await startUpstream(null);
  return {
    pki, dir, up, plainUp,
    async close() {
      await up.close();
      await plainUp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Warden allowing api.test.local, with `extraYaml` appended; port 80 dials the plain upstream. */
export function wardenFor(s: TwoUpstreams, extraYaml = ''): Promise<Harness> {
  const yaml = baseYaml(s.up.port, join(s.dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') + extraYaml;
  return startWarden({ yaml: yaml.replace(`"*.test.local:80": "127.0.0.1:${s.up.port}"`, `"*.test.local:80": "127.0.0.1:${s.plainUp.port}"`) });
}

/**
 * A connection to the proxy that requests go over, the request target to use on it, and the
 * TCP connection under it (the TLS one's; the same socket otherwise).
 */
export async function openVia(h: Harness, via: Via): Promise<{ s: Socket; tcp: Socket; target: (path: string) => string }> {
  if (via === 'plain listener') {
    const tcp = netConnect(h.port, '127.0.0.1');
    tcp.on('error', () => undefined);
    await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
    return { s: tcp, tcp, target: (p) => `http://api.test.local${p}` };
  }
  const tcp = await openTunnel(h.port, `api.test.local:${via === 'TLS tunnel' ? 443 : 80}`);
  if (via === 'plain HTTP tunnel') return { s: tcp, tcp, target: (p) => p };
  const t = tlsConnect({ socket: tcp, servername: 'api.test.local', ca: h.wardenCa });
  t.on('error', () => undefined);
  await new Promise<void>((resolve) => t.once('secureConnect', () => resolve()));
  return { s: t, tcp, target: (p) => p };
}

/** The proxy's side of each client connection on its listener, by the client's port. */
export function acceptedSockets(h: Harness): (client: Socket) => Promise<Socket> {
  const byPort = new Map<number, Socket>();
  const waiting = new Map<number, (s: Socket) => void>();
  h.proxy.server.on('connection', (s: Socket) => {
    byPort.set(s.remotePort ?? 0, s);
    waiting.get(s.remotePort ?? 0)?.(s);
  });
  // The client may see its connection established before the server's 'connection' event.
  return (client) => new Promise((resolve) => {
    const s = byPort.get(client.localPort ?? -1);
    if (s) resolve(s);
    else waiting.set(client.localPort ?? -1, resolve);
  });
}

/** Collects what arrives; `closedAt` is set when the connection closes. */
export function collect(s: Socket): { got: () => string; closedAt: () => number | null } {
  let got = '';
  let closedAt: number | null = null;
  s.on('data', (c: Buffer) => void (got += c.toString('latin1')));
  s.once('close', () => void (closedAt = Date.now()));
  return { got: () => got, closedAt: () => closedAt };
}

/** Polls `cond` every 10 ms for up to `ms`. */
export async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The status lines of the answers in `text`, in order. */
export const statuses = (text: string): string[] => text.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];
