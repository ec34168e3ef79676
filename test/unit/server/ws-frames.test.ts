/**
 * RFC 6455 client framing as Warden reads it: whole messages out of any fragmentation and any
 * chunking, protocol errors named with their close code, frames Warden writes read back.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CLOSE, WsClientReader, WsFrameBoundary, WsProtocolError, clientClose, clientFrame, serverClose, type WsEvent } from '../../../proxy/server/ws-frames.js';

/** A frame as a client writes it, built here independently of the code under test. */
function frame(opcode: number, payload: Buffer | string, o: { fin?: boolean; masked?: boolean; rsv?: number; mask?: number[] } = {}): Buffer {
  const p = Buffer.from(payload);
  const masked = o.masked ?? true;
  const mask = Buffer.from(o.mask ?? [0xa1, 0xb2, 0xc3, 0xd4]);
  const len = p.length;
  const ext = len < 126 ? Buffer.alloc(0) : len < 65536 ? Buffer.from([len >> 8, len & 0xff]) : Buffer.from([0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]);
  const b0 = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode;
  const b1 = (masked ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  const body = masked ? Buffer.from(p.map((x, i) => x ^ mask[i % 4]!)) : p;
  return Buffer.concat([Buffer.from([b0, b1]), ext, masked ? mask : Buffer.alloc(0), body]);
}

/** Feed `bytes` in pieces of `step` bytes (0 = at once) and collect the events. */
function read(bytes: Buffer, step = 0, max = 1 << 20): WsEvent[] {
  const r = new WsClientReader({ maxMessageBytes: max });
  if (step === 0) return r.push(bytes);
  const out: WsEvent[] = [];
  for (let i = 0; i < bytes.length; i += step) out.push(...r.push(bytes.subarray(i, i + step)));
  return out;
}

const show = (evs: WsEvent[]): string[] => evs.map((e) => `${e.kind}:${'opcode' in e ? e.opcode : e.fin ? 'fin' : '-'}:${e.payload.toString('latin1')}`);

describe('WsClientReader: messages', () => {
  const big = 'x'.repeat(70_000);
  const cases: [string, Buffer, string[]][] = [
    ['one text frame', frame(1, 'hello'), ['message:1:hello']],
    ['an empty text frame', frame(1, ''), ['message:1:']],
    ['a binary frame', frame(2, Buffer.from([0, 1, 2, 255])), ['message:2:\u0000\u0001\u0002\u00ff']],
    ['a 16-bit length', frame(1, 'y'.repeat(300)), [`message:1:${'y'.repeat(300)}`]],
    ['a 64-bit length', frame(1, big), [`message:1:${big}`]],
    ['three fragments', Buffer.concat([frame(1, 'ab', { fin: false }), frame(0, 'cd', { fin: false }), frame(0, 'ef')]), ['message:1:abcdef']],
    ['a ping between fragments comes out first', Buffer.concat([frame(2, 'ab', { fin: false }), frame(9, 'p'), frame(0, 'cd')]), ['control:9:p', 'message:2:abcd']],
    ['control frames', Buffer.concat([frame(9, ''), frame(10, 'pong'), frame(8, Buffer.from([0x03, 0xe8]))]), ['control:9:', 'control:10:pong', 'control:8:\u0003\u00e8']],
    ['two messages in one chunk', Buffer.concat([frame(1, 'one'), frame(1, 'two')]), ['message:1:one', 'message:1:two']],
    ['a mask with zero bytes', frame(1, 'zero mask', { mask: [0, 0, 0, 0] }), ['message:1:zero mask']],
  ];
  for (const [name, bytes, want] of cases) {
    for (const step of [0, 1, 3, 7]) {
      test(`${name}, in pieces of ${step || 'all'}`, () => assert.deepEqual(show(read(bytes, step)), want));
    }
  }

  test('frames Warden writes read back as they were sent', () => {
    for (const size of [0, 1, 125, 126, 65535, 65536, 200_000]) {
      const payload = Buffer.alloc(size, 0x5a);
      const evs = read(Buffer.concat([clientFrame(2, payload, false), clientFrame(0, Buffer.from('!'))]));
      assert.equal(evs.length, 1);
      assert.equal(evs[0]!.payload.length, size + 1);
      assert.deepEqual(evs[0]!.payload, Buffer.concat([payload, Buffer.from('!')]));
    }
    const close = read(clientClose(1008, 'bye'))[0]!;
    assert.equal(close.kind, 'control');
    assert.equal(close.payload.readUInt16BE(0), 1008);
    assert.equal(close.payload.subarray(2).toString(), 'bye');
  });

  test('two frames of one message get different masks', () => {
    const a = clientFrame(1, Buffer.from('same'));
    const b = clientFrame(1, Buffer.from('same'));
    assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6));
  });

  test('serverClose: unmasked, code then reason, at most 125 bytes', () => {
    const f = serverClose(1009, 'r'.repeat(500));
    assert.equal(f[0], 0x88);
    assert.equal(f[1], 125);
    assert.equal(f.readUInt16BE(2), 1009);
    assert.equal(f.length, 127);
  });
});

describe('WsClientReader: the inspection cap', () => {
  test('a message over the cap: known from the header of the frame that crosses it; the rest unbuffered, then the end', () => {
    const bytes = Buffer.concat([frame(1, 'abcd', { fin: false }), frame(0, 'efgh', { fin: false }), frame(0, 'ij'), frame(1, 'ok')]);
    const evs = read(bytes, 0, 6);
    assert.deepEqual(show(evs), ['oversize:1:abcd', 'more:-:efgh', 'more:-:ij', 'more:fin:', 'message:1:ok']);
    assert.equal(evs[0]!.kind === 'oversize' && evs[0]!.declared, 8);
  });

  test('a frame declared over the cap is reported on its header alone, before its payload arrives', () => {
    const r = new WsClientReader({ maxMessageBytes: 1000 });
    const f = frame(2, Buffer.alloc(300_000));
    const evs = r.push(f.subarray(0, 14)); // 2 + 8-byte length + 4-byte mask
    assert.equal(evs.length, 1);
    assert.equal(evs[0]!.kind, 'oversize');
    assert.equal(evs[0]!.kind === 'oversize' && evs[0]!.declared, 300_000);
    assert.equal(r.buffered, 0, 'nothing taken for it');
  });

  test('a single frame over the cap streams in the pieces it arrives in', () => {
    const evs = read(frame(2, 'z'.repeat(40)), 16, 10);
    assert.equal(evs[0]!.kind, 'oversize');
    assert.equal(evs.filter((e) => e.kind === 'more' && e.fin).length, 1);
    assert.equal(evs.reduce((n, e) => n + e.payload.length, 0), 40);
  });

  test('buffered: what an unfinished message holds, nothing once it is out', () => {
    const r = new WsClientReader({ maxMessageBytes: 1 << 20 });
    r.push(frame(1, 'a'.repeat(1000), { fin: false }));
    assert.ok(r.buffered >= 1000 && r.buffered <= 2048);
    r.push(frame(0, 'b'));
    assert.equal(r.buffered, 0);
  });
});

describe('WsClientReader: protocol errors', () => {
  const cases: [string, Buffer, number, RegExp][] = [
    ['an unmasked frame', frame(1, 'x', { masked: false }), CLOSE.protocolError, /unmasked/],
    ['RSV1 (compression) without an extension', frame(1, 'x', { rsv: 4 }), CLOSE.protocolError, /RSV/],
    ['RSV3', frame(1, 'x', { rsv: 1 }), CLOSE.protocolError, /RSV/],
    ['a reserved data opcode', frame(3, 'x'), CLOSE.protocolError, /reserved opcode 0x3/],
    ['a reserved control opcode', frame(0xb, 'x'), CLOSE.protocolError, /reserved opcode 0xb/],
    ['a fragmented control frame', frame(9, 'x', { fin: false }), CLOSE.protocolError, /fragmented control/],
    ['a control frame over 125 bytes', frame(9, 'x'.repeat(126)), CLOSE.protocolError, /over 125/],
    ['a continuation with nothing to continue', frame(0, 'x'), CLOSE.protocolError, /no message to continue/],
    ['a new message inside a fragmented one', Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]), CLOSE.protocolError, /before the last one ended/],
    ['a length over 2^53', Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), CLOSE.tooBig, /2\^53/],
  ];
  for (const [name, bytes, code, message] of cases) {
    test(name, () => {
      const r = new WsClientReader({ maxMessageBytes: 1 << 20 });
      assert.throws(() => r.push(bytes), (e: unknown) => e instanceof WsProtocolError && e.closeCode === code && message.test(e.message));
      assert.throws(() => r.push(frame(1, 'after')), WsProtocolError, 'a failed reader stays failed');
    });
  }
});

describe('WsFrameBoundary', () => {
  const head = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n';
  const serverFrame = (payload: string): Buffer => frame(1, payload, { masked: false });
  const cases: [string, Buffer, number, boolean][] = [
    ['only the head', Buffer.from(head), 0, true],
    ['half the head', Buffer.from(head.slice(0, 20)), 0, false],
    ['head and one frame', Buffer.concat([Buffer.from(head), serverFrame('hello')]), 0, true],
    ['head and one frame, byte by byte', Buffer.concat([Buffer.from(head), serverFrame('hello')]), 1, true],
    ['head and a frame cut short', Buffer.concat([Buffer.from(head), serverFrame('hello')]).subarray(0, head.length + 4), 0, false],
    ['a frame header cut short', Buffer.concat([Buffer.from(head), serverFrame('y'.repeat(300)).subarray(0, 3)]), 0, false],
    ['a 64-bit frame, in pieces of 5', Buffer.concat([Buffer.from(head), serverFrame('z'.repeat(70_000)), serverFrame('a')]), 5, true],
    ['a refusal instead of 101: never a boundary', Buffer.from('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n'), 0, false],
  ];
  for (const [name, bytes, step, want] of cases) {
    test(name, () => {
      const b = new WsFrameBoundary();
      if (step === 0) b.push(bytes);
      else for (let i = 0; i < bytes.length; i += step) b.push(bytes.subarray(i, i + step));
      assert.equal(b.atBoundary, want);
    });
  }
});
