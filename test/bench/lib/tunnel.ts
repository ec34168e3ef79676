/**
 * The passthrough tunnel the Node peers (node-bare, http-mitm-proxy) open for
 * `tunnel.bench.test`, the (g) workload's uninspected destination: answer the CONNECT once the
 * upstream is dialled, then splice bytes both ways; either side closing or failing ends both.
 */
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export function spliceTunnel(client: Duplex, head: Buffer, upstreamPort: number): Socket {
  const up = connect({ host: '127.0.0.1', port: upstreamPort }, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) up.write(head);
    client.pipe(up);
    up.pipe(client);
  });
  up.on('error', () => client.destroy());
  client.on('error', () => up.destroy());
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
  return up;
}
