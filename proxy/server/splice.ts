/**
 * Bytes both ways between a client and an upstream socket, with backpressure and half-close,
 * for passthrough tunnels. Every chunk the client sends is offered to
 * `onClientBytes` before it is written upstream: returning false stops the splice (budget
 * exceeded) and that chunk is never sent.
 */
import type { Duplex } from 'node:stream';

export interface SpliceHooks {
  /** Called per client→upstream chunk before it is written; false = stop (the caller closes both). */
  onClientBytes(n: number): boolean;
  onUpstreamBytes(n: number): void;
}

export function splice(client: Duplex, upstream: Duplex, hooks: SpliceHooks): void {
  client.on('data', (c: Buffer) => {
    if (!hooks.onClientBytes(c.length)) return;
    if (!upstream.write(c)) client.pause();
  });
  upstream.on('drain', () => client.resume());
  upstream.on('data', (c: Buffer) => {
    hooks.onUpstreamBytes(c.length);
    if (!client.write(c)) upstream.pause();
  });
  client.on('drain', () => upstream.resume());
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.resume();
}
