/**
 * The check for agent-chosen text that an audit record would otherwise hold as sent: the request
 * id, path segments, query keys, host names (server/context.ts, audit/mask-url.ts,
 * audit/mask-host.ts). Text is sensitive where a detector finds anything above low confidence,
 * or a honeytoken, in the text itself or in a base64 or hex run of it decoded once: an encoded
 * value is as readable as the value (`/v1/files/<base64 of a key>`, `<hex>.attacker.example`).
 */
import { decodableRuns, decodeBase64, isPrintableBase64, MIN_BASE64_RUN } from './decode-base64.js';
import { isPrintableHex } from './decode-hex.js';
import type { Detectors } from './types.js';

/** The spans `[start, end)` of `text` that hold something sensitive (a decoded run: the whole run). */
export function sensitiveSpans(detectors: Detectors): (text: string) => [number, number][] {
  const found = (text: string): [number, number][] =>
    detectors.scan({ text, where: 'audit', key: null }, null)
      .filter((m) => m.confidence !== 'low' || m.honeytokenId !== undefined)
      .map((m) => [m.start, m.end]);
  return (text) => {
    const spans = found(text);
    if (text.length < MIN_BASE64_RUN) return spans;
    const readable = (start: number, end: number): boolean => isPrintableHex(text, start, end) || isPrintableBase64(text, start, end);
    for (const run of decodableRuns(text, readable, true)) {
      const hex = isPrintableHex(text, run.start, run.end);
      const encoded = text.slice(run.start, run.end);
      const decoded = (hex ? Buffer.from(encoded, 'hex') : decodeBase64(encoded)).toString('utf8');
      if (found(decoded).length > 0) spans.push([run.start, run.end]);
    }
    return spans;
  };
}

/** Whether sensitiveSpans() finds anything in `text`. */
export function sensitiveTo(detectors: Detectors): (text: string) => boolean {
  const spans = sensitiveSpans(detectors);
  return (text) => spans(text).length > 0;
}
