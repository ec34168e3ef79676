/**
 * Unicode tag characters (U+E0020–U+E007E) mirror printable ASCII one for one and render as
 * nothing: "ASCII smuggling", a documented way to hide text from people in what a model reads
 * (and to have an agent exfiltrate through it). Normalisation strips them (normalize.ts), so a
 * value written in them would vanish from every view; this decodes them into a view of their
 * own, where, as for character references (decode-charref.ts), only a match that covers a
 * character they produced counts.
 */

function tagLow(c: number): boolean {
  return c >= 0xdc20 && c <= 0xdc7e; // U+E0020–U+E007E: space to `~`
}

/** Whether `s` holds a tag character that stands for printable ASCII (`\uDB40` is their high surrogate). */
export function hasTagChars(s: string): boolean {
  for (let p = s.indexOf('\uDB40'); p !== -1; p = s.indexOf('\uDB40', p + 1)) {
    if (tagLow(s.charCodeAt(p + 1))) return true;
  }
  return false;
}

/** UTF-8 of U+E0020–U+E007E: F3 A0 80 A0–BF, F3 A0 81 80–BE. */
export function hasTagCharsBytes(buf: Buffer): boolean {
  for (let p = buf.indexOf(0xf3); p !== -1; p = buf.indexOf(0xf3, p + 1)) {
    if (buf[p + 1] !== 0xa0) continue;
    const b2 = buf[p + 2];
    const b3 = buf[p + 3] ?? 0;
    if ((b2 === 0x80 && b3 >= 0xa0 && b3 <= 0xbf) || (b2 === 0x81 && b3 >= 0x80 && b3 <= 0xbe)) return true;
  }
  return false;
}

/**
 * `s` with each tag character replaced by the ASCII character it mirrors, and `spans`: pairs of
 * [start, end) offsets in the result of each run of them.
 */
export function decodeTagChars(s: string): { readonly text: string; readonly spans: readonly number[] } {
  let out = '';
  const spans: number[] = [];
  let from = 0;
  for (let p = s.indexOf('\uDB40'); p !== -1; p = s.indexOf('\uDB40', p + 1)) {
    const low = s.charCodeAt(p + 1);
    if (!tagLow(low)) continue;
    out += s.slice(from, p);
    if (spans.length > 0 && spans[spans.length - 1] === out.length) spans[spans.length - 1] = out.length + 1;
    else spans.push(out.length, out.length + 1);
    out += String.fromCharCode(low - 0xdc00);
    from = p + 2;
  }
  if (from === 0) return { text: s, spans };
  return { text: out + s.slice(from), spans };
}
