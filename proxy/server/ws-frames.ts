/**
 * RFC 6455 framing, sans-IO, for the client→upstream half of a WebSocket that Warden inspects:
 * bytes in, whole messages out, so that a message can be scanned before any of it goes
 * upstream. Warden strips `Sec-WebSocket-Extensions` from the handshake, so frames carry plain
 * payloads; a frame with an RSV bit set (compression the upstream enabled anyway) is a protocol
 * error, never passed on unread.
 *
 * Messages are framed again on the way out (one frame per message, a fresh mask): RFC 6455
 * §5.4 lets an intermediary change fragmentation when no extension is in use. A payload is
 * copied once, unmasked, into one growing buffer per message, so a message sent as a million
 * 1-byte fragments costs its bytes, not a million objects.
 */
import { randomFillSync } from 'node:crypto';

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Close codes Warden sends (RFC 6455 §7.4.1). */
export const CLOSE = { protocolError: 1002, policyViolation: 1008, tooBig: 1009, tryAgainLater: 1013 } as const;

export class WsProtocolError extends Error {
  constructor(readonly closeCode: number, message: string) {
    super(message);
    this.name = 'WsProtocolError';
  }
}

export type WsEvent =
  /** A whole data message (text or binary), unmasked, at most `maxMessageBytes`. */
  | { readonly kind: 'message'; readonly opcode: number; readonly payload: Buffer }
  /** A control frame (close, ping, pong), unmasked. */
  | { readonly kind: 'control'; readonly opcode: number; readonly payload: Buffer }
  /**
   * A frame's header says its data message will cross `maxMessageBytes`: `payload` is what came
   * before that frame, `declared` the message's length counting the whole new frame. Nothing of
   * that frame is read yet. The rest of the message follows as `more` events, the last with
   * `fin`; it is not buffered.
   */
  | { readonly kind: 'oversize'; readonly opcode: number; readonly payload: Buffer; readonly declared: number }
  | { readonly kind: 'more'; readonly payload: Buffer; readonly fin: boolean };

const MAX_HEADER = 14;
/** Largest buffer taken on a frame's declared length alone, before its bytes arrive. */
const PRESIZE_MAX = 1 << 20;

/** Reads the frames a WebSocket client sends (masked, no extensions). */
export class WsClientReader {
  readonly #maxMessage: number;
  readonly #head = Buffer.alloc(MAX_HEADER);
  #headLen = 0;
  // the frame being read
  #inPayload = false;
  #fin = false;
  #opcode = 0;
  #remaining = 0;
  #mask = Buffer.alloc(4);
  #maskPos = 0;
  // the data message being assembled
  #msgOpcode = -1;
  #msg: Buffer | null = null;
  #msgLen = 0;
  #oversize = false;
  #control: Buffer[] = [];
  #failed: WsProtocolError | null = null;

  constructor(opts: { readonly maxMessageBytes: number }) {
    this.#maxMessage = opts.maxMessageBytes;
  }

  /** Bytes held for the message being assembled (what the caller reserves against its budget). */
  get buffered(): number {
    return this.#msg?.length ?? 0;
  }

  /** Feed bytes from the client; returns what completed, in order. Throws WsProtocolError, then keeps throwing it. */
  push(chunk: Buffer): WsEvent[] {
    if (this.#failed) throw this.#failed;
    const out: WsEvent[] = [];
    try {
      let at = 0;
      while (at < chunk.length) {
        if (!this.#inPayload) {
          at = this.#readHeader(chunk, at, out);
          if (!this.#inPayload) break; // header incomplete: wait for more bytes
          if (this.#remaining === 0) this.#endFrame(out);
          continue;
        }
        const n = Math.min(this.#remaining, chunk.length - at);
        this.#payload(chunk.subarray(at, at + n), out);
        at += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#endFrame(out);
      }
    } catch (err) {
      if (err instanceof WsProtocolError) this.#failed = err;
      throw err;
    }
    return out;
  }

  #readHeader(chunk: Buffer, at: number, out: WsEvent[]): number {
    while (at < chunk.length) {
      this.#head[this.#headLen++] = chunk[at++]!;
      const need = headerLength(this.#head, this.#headLen);
      if (need !== null && this.#headLen === need) {
        this.#startFrame(need, out);
        return at;
      }
    }
    return at;
  }

  #startFrame(len: number, out: WsEvent[]): void {
    const h = this.#head;
    this.#headLen = 0;
    const b0 = h[0]!;
    const b1 = h[1]!;
    this.#fin = (b0 & 0x80) !== 0;
    this.#opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) throw new WsProtocolError(CLOSE.protocolError, 'a frame with RSV bits set: no extension was negotiated');
    if ((b1 & 0x80) === 0) throw new WsProtocolError(CLOSE.protocolError, 'an unmasked frame from the client');
    const size = payloadLength(h);
    if (size > Number.MAX_SAFE_INTEGER) throw new WsProtocolError(CLOSE.tooBig, 'a frame length over 2^53');
    h.copy(this.#mask, 0, len - 4, len);
    this.#maskPos = 0;
    this.#remaining = size;
    const control = this.#opcode >= 0x8;
    if (control) {
      if (this.#opcode > OPCODE.pong) throw new WsProtocolError(CLOSE.protocolError, `reserved opcode 0x${this.#opcode.toString(16)}`);
      if (!this.#fin) throw new WsProtocolError(CLOSE.protocolError, 'a fragmented control frame');
      if (size > 125) throw new WsProtocolError(CLOSE.protocolError, 'a control frame over 125 bytes');
    } else if (this.#opcode === OPCODE.continuation) {
      if (this.#msgOpcode === -1) throw new WsProtocolError(CLOSE.protocolError, 'a continuation frame with no message to continue');
    } else {
      if (this.#opcode > OPCODE.binary) throw new WsProtocolError(CLOSE.protocolError, `reserved opcode 0x${this.#opcode.toString(16)}`);
      if (this.#msgOpcode !== -1) throw new WsProtocolError(CLOSE.protocolError, 'a new message before the last one ended');
      this.#msgOpcode = this.#opcode;
      this.#msgLen = 0;
      this.#oversize = false;
    }
    if (!control && !this.#oversize && this.#msgLen + size > this.#maxMessage) {
      // Known from the header: the caller can refuse before any byte of this frame is read.
      this.#oversize = true;
      const head = this.#msg ? this.#msg.subarray(0, this.#msgLen) : Buffer.alloc(0);
      out.push({ kind: 'oversize', opcode: this.#msgOpcode, payload: head, declared: this.#msgLen + size });
      this.#msg = null;
      this.#msgLen = 0;
    }
    // Size the buffer from the declared length, up to PRESIZE_MAX: a client that declares a large
    // frame and sends nothing makes Warden hold no more than that.
    if (!control && !this.#oversize && this.#msg === null && size > 0) {
      this.#msg = Buffer.allocUnsafe(Math.min(size, PRESIZE_MAX));
    }
    this.#inPayload = true;
  }

  #payload(masked: Buffer, out: WsEvent[]): void {
    const pos = this.#maskPos;
    this.#maskPos = (pos + masked.length) & 3;
    if (this.#opcode < 0x8 && !this.#oversize) {
      // The usual case: unmasked in place, in the message's buffer (within the cap: #startFrame).
      const at = this.#msgLen;
      this.#append(masked);
      xorMask(this.#msg!.subarray(at, this.#msgLen), this.#mask, pos);
      return;
    }
    const bytes = Buffer.from(masked);
    xorMask(bytes, this.#mask, pos);
    if (this.#opcode >= 0x8) this.#control.push(bytes);
    else if (bytes.length) out.push({ kind: 'more', payload: bytes, fin: false });
  }

  #append(bytes: Buffer): void {
    const need = this.#msgLen + bytes.length;
    if (this.#msg === null || need > this.#msg.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxMessage, Math.max(need, 2 * (this.#msg?.length ?? 0), 256)));
      if (this.#msg) this.#msg.copy(grown, 0, 0, this.#msgLen);
      this.#msg = grown;
    }
    bytes.copy(this.#msg, this.#msgLen);
    this.#msgLen = need;
  }

  #endFrame(out: WsEvent[]): void {
    this.#inPayload = false;
    if (this.#opcode >= 0x8) {
      const payload = this.#control.length === 1 ? this.#control[0]! : Buffer.concat(this.#control);
      this.#control = [];
      out.push({ kind: 'control', opcode: this.#opcode, payload });
      return;
    }
    if (!this.#fin) return;
    if (this.#oversize) out.push({ kind: 'more', payload: Buffer.alloc(0), fin: true });
    else {
      const payload = this.#msg ? this.#msg.subarray(0, this.#msgLen) : Buffer.alloc(0);
      out.push({ kind: 'message', opcode: this.#msgOpcode, payload });
    }
    this.#msg = null;
    this.#msgLen = 0;
    this.#msgOpcode = -1;
    this.#oversize = false;
  }
}

/** The payload length a complete header declares (7-bit, 16-bit or 64-bit; past 2^53 it is not exact). */
function payloadLength(h: Buffer): number {
  const size = h[1]! & 0x7f;
  return size === 126 ? h.readUInt16BE(2) : size === 127 ? Number(h.readBigUInt64BE(2)) : size;
}

/** Header length once enough of it is known (2, then 2 + extended length + 4-byte mask); null before. */
function headerLength(h: Buffer, have: number): number | null {
  if (have < 2) return null;
  const size = h[1]! & 0x7f;
  const masked = (h[1]! & 0x80) !== 0 ? 4 : 0;
  return 2 + (size === 126 ? 2 : size === 127 ? 8 : 0) + masked;
}

/**
 * XOR `buf` in place with the 4-byte `mask`, starting at mask byte `pos`: a word at a time
 * where the memory is aligned (~20× faster than a byte loop; `ws` uses a native addon here).
 */
export function xorMask(buf: Buffer, mask: Buffer, pos: number): void {
  let i = 0;
  const n = buf.length;
  const off = buf.byteOffset;
  for (; i < n && ((off + i) & 3) !== 0; i++) buf[i]! ^= mask[(pos + i) & 3]!;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const m = (pos + i) & 3;
    WORD_BYTES[0] = mask[m]!;
    WORD_BYTES[1] = mask[(m + 1) & 3]!;
    WORD_BYTES[2] = mask[(m + 2) & 3]!;
    WORD_BYTES[3] = mask[(m + 3) & 3]!;
    const w = WORD[0]!;
    const u32 = new Uint32Array(buf.buffer, off + i, words);
    for (let k = 0; k < words; k++) u32[k]! ^= w;
    i += words * 4;
  }
  for (; i < n; i++) buf[i]! ^= mask[(pos + i) & 3]!;
}
const WORD = new Uint32Array(1);
const WORD_BYTES = new Uint8Array(WORD.buffer);

function frameHeader(fin: boolean, opcode: number, length: number, masked: boolean): Buffer {
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const h = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = (masked ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) h.writeUInt16BE(length, 2);
  else if (ext === 8) h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** One masked frame as a client sends it (towards the upstream), with a fresh random mask. */
export function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const h = frameHeader(fin, opcode, payload.length, true);
  const out = Buffer.allocUnsafe(h.length + payload.length);
  h.copy(out);
  const mask = randomFillSync(Buffer.allocUnsafe(4));
  mask.copy(out, h.length - 4);
  payload.copy(out, h.length);
  xorMask(out.subarray(h.length), mask, 0);
  return out;
}

/** A close frame's payload: the code, then `reason` (ASCII, cut to the 123 bytes a control frame leaves). */
function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 123), 'latin1');
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/** An unmasked close frame as a server sends it (towards the client). */
export function serverClose(code: number, reason: string): Buffer {
  const payload = closePayload(code, reason);
  return Buffer.concat([frameHeader(true, OPCODE.close, payload.length, false), payload]);
}

/** A masked close frame towards the upstream. */
export function clientClose(code: number, reason: string): Buffer {
  return clientFrame(OPCODE.close, closePayload(code, reason));
}

/**
 * Where the frames a server sends begin and end, without keeping their bytes: Warden may
 * write its own close frame to the client only between two upstream frames. The stream starts
 * with the upstream's HTTP response; after anything but `101` there are no frames, and no
 * boundary.
 */
export class WsFrameBoundary {
  readonly #head = Buffer.alloc(MAX_HEADER);
  #headLen = 0;
  #remaining = 0;
  /** In the HTTP response head: its first bytes (for the status) and its last 3 (a terminator may straddle chunks). */
  #inHttp = true;
  #httpStart = '';
  #httpTail = Buffer.alloc(0);
  #httpBytes = 0;
  #frames = true;

  /** True when the bytes seen so far end exactly at the end of a frame. */
  get atBoundary(): boolean {
    return this.#frames && !this.#inHttp && this.#headLen === 0 && this.#remaining === 0;
  }

  push(chunk: Buffer): void {
    if (!this.#frames) return;
    let at = 0;
    if (this.#inHttp) {
      at = this.#readHttpHead(chunk);
      if (this.#inHttp || !this.#frames) return;
    }
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - at);
        this.#remaining -= n;
        at += n;
        continue;
      }
      this.#head[this.#headLen++] = chunk[at++]!;
      const need = headerLength(this.#head, this.#headLen);
      if (need === null || this.#headLen < need) continue;
      this.#remaining = payloadLength(this.#head);
      this.#headLen = 0;
    }
  }

  /** Reads up to the end of the response head; returns where the frames start in `chunk`. */
  #readHttpHead(chunk: Buffer): number {
    const carry = this.#httpTail.length;
    const text = carry ? Buffer.concat([this.#httpTail, chunk]) : chunk;
    if (this.#httpStart.length < 13) this.#httpStart += chunk.subarray(0, 13 - this.#httpStart.length).toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    this.#httpBytes += chunk.length;
    if (end === -1) {
      this.#httpTail = Buffer.from(text.subarray(Math.max(0, text.length - 3)));
      if (this.#httpBytes > 64 * 1024) this.#frames = false;
      return chunk.length;
    }
    this.#inHttp = false;
    if (!/^HTTP\/1\.[01] 101/.test(this.#httpStart)) this.#frames = false;
    return end + 4 - carry;
  }
}
