// Request bodies: a realistic ~20 KiB OpenAI chat request and a text upload. Deterministic, and
// free of anything the DLP packs should flag (no keys, cards, e-mail addresses, phone numbers).

const PROSE = [
  'The service reads its configuration once at start-up and keeps an immutable copy in memory.',
  'When a request arrives, the handler validates the payload, looks up the tenant and forwards it.',
  'We noticed that latency grows with the number of open connections, mostly in the TLS layer.',
  'Could you explain why the retry loop below never backs off, and suggest a cleaner structure?',
  'The integration tests pass locally but fail in the pipeline with a timeout after thirty seconds.',
  'Please keep the public interface unchanged; only the internals of the cache may be rewritten.',
  'Our team prefers small pure functions, table-driven tests and explicit error types over strings.',
  'The batch job processes roughly forty thousand records per minute and spends most time parsing.',
];

const CODE = [
  'export async function fetchWithRetry(url: string, attempts = 5): Promise<Response> {',
  '  let lastError: unknown;',
  '  for (let i = 0; i < attempts; i++) {',
  '    try {',
  '      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });',
  '      if (res.ok) return res;',
  '      lastError = new Error(`status ${res.status}`);',
  '    } catch (err) {',
  '      lastError = err;',
  '    }',
  '    await new Promise((r) => setTimeout(r, 100 * 2 ** i));',
  '  }',
  '  throw lastError;',
  '}',
  'def parse_rows(lines):',
  '    for line in lines:',
  '        fields = line.rstrip("\\n").split(",")',
  '        if len(fields) < 4:',
  '            continue',
  '        yield {"name": fields[0], "count": int(fields[1]), "ratio": float(fields[2])}',
];

function block(seed: number, lines: readonly string[], count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(lines[(seed + i * 3) % lines.length] ?? '');
  return out.join('\n');
}

/** An OpenAI-style chat completion request of about `targetBytes` bytes (JSON). */
export function chatBody(targetBytes = 20 * 1024): Buffer {
  const messages: Array<{ role: string; content: string }> = [
    {
      role: 'system',
      content:
        'You are a careful senior engineer. Answer with short explanations and complete code. ' +
        'Prefer standard library solutions and point out edge cases.',
    },
  ];
  let turn = 0;
  const size = (): number => Buffer.byteLength(JSON.stringify({ model: 'gpt-4o-mini', messages }));
  while (size() < targetBytes - 1200) {
    const user =
      block(turn, PROSE, 4) + '\n\n```ts\n' + block(turn, CODE, 14) + '\n```\n\n' + block(turn + 5, PROSE, 2);
    messages.push({ role: 'user', content: user });
    messages.push({
      role: 'assistant',
      content: block(turn + 2, PROSE, 3) + '\n\n```python\n' + block(turn + 14, CODE, 6) + '\n```',
    });
    turn++;
  }
  messages.push({ role: 'user', content: block(turn, PROSE, 3) });
  return Buffer.from(
    JSON.stringify({ model: 'gpt-4o-mini', messages, temperature: 0.2, max_tokens: 512, stream: false }),
  );
}

/** A text upload (prose, code and CSV-like rows) of exactly `bytes` bytes. */
export function uploadBody(bytes: number): Buffer {
  const unit = Buffer.from(
    block(1, PROSE, 8) + '\n' + block(0, CODE, 20) + '\n' +
      Array.from({ length: 40 }, (_, i) => `row-${i},${(i * 7919) % 1000},${((i * 31) % 97) / 97},ok`).join('\n') +
      '\n',
  );
  const out = Buffer.allocUnsafe(bytes);
  for (let off = 0; off < bytes; off += unit.length) unit.copy(out, off, 0, Math.min(unit.length, bytes - off));
  return out;
}
