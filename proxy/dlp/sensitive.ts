/**
 * The check for agent-chosen text that an audit record would otherwise hold as sent: the request
 * id, path segments, query keys, host names (server/context.ts, audit/mask-url.ts,
 * audit/mask-host.ts). Text is sensitive where a detector finds anything above low confidence,
 * or a honeytoken, in the text itself or in a base64 or hex run of it decoded once: an encoded
 * value is as readable as the value (`/v1/files/<base64 of a key>`, `<hex>.attacker.example`).
 */
import { decodableRuns, decodeRun, MIN_BASE64_RUN, textReading } from './decode-base64.js';
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
    for (const run of decodableRuns(text, (start, end) => textReading(text, start, end), true)) {
      const decoded = decodeRun(text.slice(run.start, run.end), run.reading).toString('utf8');
      if (found(decoded).length > 0) spans.push([run.start, run.end]);
    }
    return spans;
  };
}

/** Whether a sensitiveSpans() check finds anything in `text`. */
export function sensitiveTo(spans: (text: string) => readonly unknown[]): (text: string) => boolean {
  return (text) => spans(text).length > 0;
}
