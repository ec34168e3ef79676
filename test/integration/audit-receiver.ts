/** A SIEM stand-in for the audit integration tests: node:http on 127.0.0.1, port 0. */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | '503';

/** What one accepted POST carried. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Parses each POST according to `format` and keeps the records of the ones it answered 2xx.
 * `stop()` closes the listening socket and every connection (the SIEM is down); `start()`
 * listens again on the same port.
 */
export class SiemReceiver {
  readonly records: Array<Record<string, unknown>> = [];
  readonly accepted: Received[] = [];
  /** Every request body seen, accepted or not (for the plaintext check). */
  readonly rawBodies: string[] = [];
  mode: ReceiverMode = 'ok';
  /** After accepting this many POSTs, answer 503 (a SIEM failing mid-stream). */
  acceptLimit = Infinity;
  requests = 0;
  /** Requests answered 503. */
  rejected = 0;
  private server: Server | null = null;
  private portNo = 0;
  private readonly format: 'json' | 'splunk-hec' | 'elastic-bulk';

  constructor(format: 'json' | 'splunk-hec' | 'elastic-bulk' = 'json') {
    this.format = format;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNo}/ingest?channel=warden`;
  }

  /** seq of every accepted record, in arrival order. */
  seqs(): number[] {
    return this.records.map((r) => r['seq'] as number);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const body = Buffer.concat(chunks).toString('utf8');
        this.rawBodies.push(body);
        if (this.mode === '503' || this.accepted.length >= this.acceptLimit) {
          this.rejected++;
          res.writeHead(503).end('down for maintenance');
          return;
        }
        this.records.push(...this.parse(body));
        this.accepted.push({ headers: req.headers, body });
        const answer = this.format === 'elastic-bulk' ? JSON.stringify({ errors: false, items: [] }) : '{"text":"Success","code":0}';
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNo, '127.0.0.1', () => resolve());
    });
    this.portNo = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private parse(body: string): Array<Record<string, unknown>> {
    switch (this.format) {
      case 'json':
        return JSON.parse(body) as Array<Record<string, unknown>>;
      case 'splunk-hec':
        return body.split('\n').map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
      case 'elastic-bulk': {
        const lines = body.split('\n').filter(Boolean);
        const out: Array<Record<string, unknown>> = [];
        for (let i = 0; i < lines.length; i += 2) out.push(JSON.parse(lines[i + 1]!) as Record<string, unknown>);
        return out;
      }
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

/** Resolve when `cond()` holds, or reject after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** 1..n */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
