/**
 * A process-wide cap on request bytes buffered for inspection across all in-flight requests
 * (`server.maxInspectBufferBytes`). Per-request caps alone do not bound memory: a thousand
 * concurrent 10 MiB bodies are 10 GB. When {@link InspectBudget.tryReserve} fails the server
 * answers 503 `overloaded` with Retry-After instead of buffering.
 *
 * Single-threaded bookkeeping (one event loop), so plain arithmetic is enough. Callers must
 * release exactly what they reserved, on every path (finally), or the budget leaks.
 */
export class InspectBudget {
  #inUseBytes = 0;
  #maxBytes = 0;

  /** @param maxBytes the cap; a reservation that brings the total exactly to it is accepted. */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The cap. Lowering it (a config reload) refuses new reservations until enough are released; none is revoked. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  set maxBytes(maxBytes: number) {
    if (!(maxBytes >= 0) || !Number.isFinite(maxBytes)) throw new RangeError(`maxBytes must be a non-negative number, got ${maxBytes}`);
    this.#maxBytes = maxBytes;
  }

  /** Bytes currently reserved. */
  get inUse(): number {
    return this.#inUseBytes;
  }

  /**
   * Reserve `bytes` if the total stays within the cap; false (and nothing reserved) if not.
   * A reservation of 0 or less always succeeds and reserves nothing.
   */
  tryReserve(bytes: number): boolean {
    if (!(bytes > 0)) return true;
    if (this.#inUseBytes + bytes > this.#maxBytes) return false;
    this.#inUseBytes += bytes;
    return true;
  }

  /** Give back `bytes` from an earlier reservation. Never drops below zero (a double release is a bug, not a credit). */
  release(bytes: number): void {
    if (!(bytes > 0)) return;
    this.#inUseBytes = Math.max(0, this.#inUseBytes - bytes);
  }
}
