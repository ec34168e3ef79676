/**
 * The check for agent-chosen text that an audit record would otherwise hold as sent: the request
 * id, path segments, query keys, host names (server/context.ts, audit/mask-url.ts,
 * audit/mask-host.ts). Text is sensitive where a detector finds anything above low confidence,
 * or a honeytoken, read as the engine reads a view: normalised (zero-width characters dropped,
 * NFKC: `536<U+200B>-22-8143` is an SSN), and through base64 or hex runs decoded, nested up to
 * the engine's depth (an encoded value is as readable as the value: `/v1/files/<base64 of a
 * key>`, an id that is the hex of the base64 of a key).
 */
import { decodableRuns, decodeRun, MIN_BASE64_RUN, textReading } from './decode-base64.js';
import { normalizeText } from './normalize.js';
import type { Detectors } from './types.js';
import { MAX_DEPTH } from './views.js';

/** The spans `[start, end)` of `text` that hold something sensitive (a decoded run: the whole run). */
export function sensitiveSpans(detectors: Detectors): (text: string) => [number, number][] {
  const spansIn = (text: string, depth: number): [number, number][] => {
    const norm = normalizeText(text);
    const spans = detectors.scan({ text: norm.text, where: 'audit', key: null }, null)
      .filter((m) => m.confidence !== 'low' || m.honeytokenId !== undefined)
      .map((m) => norm.toOriginal(m.start, m.end));
    if (text.length < MIN_BASE64_RUN || depth >= MAX_DEPTH) return spans;
    for (const run of decodableRuns(text, (start, end) => textReading(text, start, end), true)) {
      const decoded = decodeRun(text.slice(run.start, run.end), run.reading).toString('utf8');
      if (spansIn(decoded, depth + 1).length > 0) spans.push([run.start, run.end]);
    }
    return spans;
  };
  return (text) => spansIn(text, 0);
}

/** Whether a sensitiveSpans() check finds anything in `text`. */
export function sensitiveTo(spans: (text: string) => readonly unknown[]): (text: string) => boolean {
  return (text) => spans(text).length > 0;
}
