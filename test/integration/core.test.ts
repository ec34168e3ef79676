/**
 * Issue 2: the request path end to end over real sockets — allowlists before TLS, MITM with a
 * minted leaf, Host pinning inside tunnels, passthrough with SNI check, address guard, plain
 * HTTP, SSE streaming, WebSocket, upstream failures, and the audit record of each.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { request, WebSocket } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { baseYaml, header, rawConnect, rawExchange, startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

const run = promisify(execFile);

const PROFILE = `  default:
    allow:
      - api.test.local
      - { host: "*.svc.test.local", ports: [443] }
      - { host: narrow.test.local, methods: [GET], paths: ["/v1/*"] }
      - { host: tunnel.test.local, inspect: false }
      - { host: plain.test.local, ports: [80] }
      - { host: "*.wild.test.local" }
    deny:
      - blocked.wild.test.local
`;

describe('core request path', () => {
  let up: Upstream;
  let other: Upstream; // presents a certificate from a CA Warden does not trust
  let plain: Upstream;
  let h: Harness;
  let dir: string;
  let upstreamCaFile: string;
  const pki = createTestPki();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-core-'));
    upstreamCaFile = join(dir, 'upstream-ca.pem');
    writeFileSync(upstreamCaFile, pki.caPem);
    up = await startUpstream(pki);
    other = await startUpstream(createTestPki());
    plain = await startUpstream(null);
    h = await startWarden({
      yaml: baseYaml(up.port, upstreamCaFile, PROFILE).replace(
        '    "*.test.local:80"',
        `    "untrusted.svc.test.local:443": "127.0.0.1:${other.port}"\n    "wrongname.svc.test.local:443": "127.0.0.1:${up.port}"\n    "plain.test.local:80": "127.0.0.1:${plain.port}"\n    "*.test.local:80"`,
      ),
    });
  });
  after(async () => {
    await h.close();
    await Promise.all([up.close(), other.close(), plain.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an allowed host is intercepted, forwarded and audited with the upstream certificate', async () => {
    const agent = h.agent();
    const res = await request('https://api.test.local/echo?q=secret-value&x=1', {
      dispatcher: agent, method: 'POST', body: '{"hello":"world"}',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-core-1' },
    });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { length: number };
    assert.equal(body.length, 17);
    const seen = up.seen.find((s) => s.headers['x-request-id'] === 'req-core-1');
    assert.ok(seen, 'upstream received the request with the client X-Request-Id');
    const rec = h.audit.byId('req-core-1').find((r) => r.event === 'request');
    assert.ok(rec);
    assert.equal(rec.decision, 'allow');
    assert.equal(rec.reason, 'allowlisted');
    assert.equal(rec.rule, 'profiles.default.allow[0]');
    assert.equal(rec.host, 'api.test.local');
    assert.equal(rec.dest_ip, '127.0.0.1');
    assert.equal(rec.status, 200);
    assert.ok((rec.bytes_up ?? 0) > 17 + 100, 'the body and the request head (red-team-http.test.ts counts it exactly)');
    assert.ok((rec.bytes_down ?? 0) > 0);
    assert.match(rec.url ?? '', /^https:\/\/api\.test\.local\/echo\?q=\*\*\*&x=\*\*\*$/);
    assert.ok(!h.audit.text().includes('secret-value'), 'query values never reach the audit');
    assert.ok(rec.tls?.fingerprint256 && rec.tls.issuer.includes('Warden Test CA'));
    assert.ok(h.audit.records.some((r) => r.event === 'connect' && r.host === 'api.test.local' && r.decision === 'allow'));
  });

  test('a host off the allowlist gets 403 and X-Warden-Reason before any TLS', async () => {
    const r = await rawConnect(h.port, 'evil.example.com:443');
    assert.equal(r.status, 403);
    assert.equal(header(r.head, 'x-warden-reason'), 'not_allowlisted');
    const body = JSON.parse(r.body) as { error: { type: string; code: string; request_id: string } };
    assert.equal(body.error.type, 'egress_blocked');
    assert.equal(body.error.code, 'not_allowlisted');
    assert.ok(h.audit.find((x) => x.event === 'connect' && x.host === 'evil.example.com' && x.decision === 'block' && x.reason === 'not_allowlisted'));
  });

  const connectCases: Array<[string, string, number, string]> = [
    ['deny wins over a wildcard allow', 'blocked.wild.test.local:443', 403, 'denylisted'],
    ['wildcard does not match the apex', 'wild.test.local:443', 403, 'not_allowlisted'],
    ['a port outside the entry', 'api.test.local:8443', 403, 'not_allowlisted'],
    ['no port', 'api.test.local', 400, 'bad_request'],
    ['port 0', 'api.test.local:0', 400, 'bad_request'],
    ['port 65536', 'api.test.local:65536', 400, 'bad_request'],
    ['empty host', ':443', 400, 'bad_request'],
    ['uppercase and trailing dot are normalised', 'API.TEST.LOCAL.:443', 200, ''],
  ];
  for (const [name, authority, status, reason] of connectCases) {
    test(`CONNECT ${name}`, async () => {
      const r = await rawConnect(h.port, authority);
      assert.equal(r.status, status);
      if (reason) assert.equal(header(r.head, 'x-warden-reason'), reason);
    });
  }

  test('inside a tunnel, method and path rules apply per request', async () => {
    const agent = h.agent();
    const ok = await request('https://narrow.test.local/v1/models', { dispatcher: agent });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    const bad = await request('https://narrow.test.local/v2/models', { dispatcher: agent });
    assert.equal(bad.statusCode, 403);
    assert.equal(bad.headers['x-warden-reason'], 'request_not_allowed');
    const j = (await bad.body.json()) as { error: { code: string } };
    assert.equal(j.error.code, 'request_not_allowed');
    const post = await request('https://narrow.test.local/v1/models', { dispatcher: agent, method: 'POST', body: 'x' });
    assert.equal(post.statusCode, 403);
    await post.body.dump();
  });

  test('a Host header naming another host is refused inside the tunnel (no pivoting)', async () => {
    const agent = h.agent();
    const res = await request('https://api.test.local/echo', { dispatcher: agent, headers: { host: 'other.svc.test.local' }, method: 'POST', body: 'x' });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-warden-reason'], 'host_mismatch');
    await res.body.dump();
    assert.ok(h.audit.find((r) => r.event === 'request' && r.reason === 'host_mismatch'));
  });

  test('Server-Sent Events reach the client one at a time', async () => {
    const agent = h.agent();
    const res = await request('https://api.test.local/sse', { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    const arrivals: Array<{ i: number; sent: number; got: number }> = [];
    let buf = '';
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let idx;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const ev = JSON.parse(buf.slice(6, idx)) as { i: number; sent: number };
        arrivals.push({ ...ev, got: Date.now() });
        buf = buf.slice(idx + 2);
      }
    }
    assert.equal(arrivals.length, 5);
    // Events are sent 150 ms apart: each must arrive long before the next is sent.
    for (const a of arrivals) assert.ok(a.got - a.sent < 100, `event ${a.i} delayed ${a.got - a.sent} ms`);
    assert.ok(arrivals[0]!.got < arrivals[4]!.sent, 'first event arrived before the last was sent');
  });

  test('a stream that outlives its upstream pool (closed idle or evicted) keeps the certificate in its record', async () => {
    const res = await request('https://api.test.local/sse', { dispatcher: h.agent(), headers: { 'x-request-id': 'sse-pool-closed' } });
    assert.equal(res.statusCode, 200);
    // Every pool closed mid-stream: the in-flight response finishes, the pool's details are gone.
    const closing = h.proxy.runtime().upstream.close();
    await res.body.text();
    await closing;
    const rec = await waitFor(() => h.audit.byId('sse-pool-closed').find((r) => r.event === 'request'));
    assert.equal(rec.status, 200);
    assert.match(rec.tls?.fingerprint256 ?? '', /^[0-9A-F:]{95}$/);
  });

  test('passthrough tunnel: bytes spliced untouched (client sees the upstream certificate), audited on close', async () => {
    const agent = new (await import('undici')).ProxyAgent({ uri: h.url, requestTls: { ca: [pki.caPem] }, keepAliveTimeout: 100 });
    try {
      const res = await request('https://tunnel.test.local/echo', { dispatcher: agent, method: 'POST', body: 'abc' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await agent.close();
    }
    await waitFor(() => h.audit.find((r) => r.event === 'tunnel_close' && r.host === 'tunnel.test.local'));
    const rec = h.audit.find((r) => r.event === 'tunnel_close' && r.host === 'tunnel.test.local')!;
    assert.equal(rec.reason, 'allowlisted');
    assert.ok((rec.bytes_up ?? 0) > 100 && (rec.bytes_down ?? 0) > 100);
  });

  test('passthrough tunnel: a ClientHello naming another host is refused (sni_mismatch)', async () => {
    const { connect } = await import('node:net');
    const sock = connect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('CONNECT tunnel.test.local:443 HTTP/1.1\r\nHost: tunnel.test.local:443\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    const closed = await new Promise<string>((resolve) => {
      const t = tlsConnect({ socket: sock, servername: 'other.example.com', ca: pki.caPem });
      t.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      t.on('secureConnect', () => resolve('handshake completed'));
    });
    assert.notEqual(closed, 'handshake completed');
    await waitFor(() => h.audit.find((r) => r.event === 'tunnel_close' && r.reason === 'sni_mismatch'));
  });

  test('garbage instead of TLS after CONNECT: a broken handshake is closed and audited, plain garbage gets 400', async () => {
    // A TLS record header followed by a malformed handshake.
    const tlsGarbage = Buffer.concat([Buffer.from('CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\nX-Request-Id: garbage-tls\r\n\r\n'), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef])]);
    const out = await rawExchange(h.port, tlsGarbage, 2000);
    assert.match(out, /^HTTP\/1\.1 200/);
    await waitFor(() => h.audit.find((r) => r.event === 'tunnel_close' && r.id === 'garbage-tls' && r.decision === 'block'));
    const plain = await rawExchange(h.port, 'CONNECT api.test.local:443 HTTP/1.1\r\nHost: api.test.local:443\r\n\r\nthis is not TLS at all\r\n\r\n', 2000);
    assert.match(plain, /^HTTP\/1\.1 200[^]*HTTP\/1\.1 400/);
    const agent = h.agent();
    const res = await request('https://api.test.local/1k', { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });

  test('an upstream certificate from an untrusted CA is a 502 upstream_tls, never a fallback', async () => {
    const res = await request('https://untrusted.svc.test.local/echo', { dispatcher: h.agent() });
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['x-warden-reason'], 'upstream_tls');
    await res.body.dump();
    assert.ok(h.audit.find((r) => r.event === 'request' && r.host === 'untrusted.svc.test.local' && r.reason === 'upstream_tls'));
  });

  test('an upstream certificate for another name is a 502 upstream_tls', async () => {
    // wrongname.svc.test.local dials the upstream whose certificate covers *.test.local — one label only.
    const res = await request('https://wrongname.svc.test.local/echo', { dispatcher: h.agent() });
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['x-warden-reason'], 'upstream_tls');
    await res.body.dump();
  });

  test('an upstream that resets is a 502, one that hangs is a 504', async () => {
    const agent = h.agent();
    const reset = await request('https://api.test.local/reset', { dispatcher: agent });
    assert.equal(reset.statusCode, 502);
    assert.equal(reset.headers['x-warden-reason'], 'upstream_error');
    await reset.body.dump();
    const slow = await request('https://api.test.local/slow', { dispatcher: agent });
    assert.equal(slow.statusCode, 504);
    assert.equal(slow.headers['x-warden-reason'], 'upstream_timeout');
    await slow.body.dump();
  });

  test('plain HTTP in absolute form is proxied; origin form to the proxy is a 400', async () => {
    const res = await request('http://plain.test.local/echo', { dispatcher: h.agent(), method: 'POST', body: 'hi' });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as { length: number }).length, 2);
    const raw = await rawExchange(h.port, 'GET /echo HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(raw, /x-warden-reason: bad_request/i);
  });

  test('WebSocket upgrades to an allowed host pass through the MITM tunnel', async () => {
    const ws = new WebSocket('wss://api.test.local/ws', { dispatcher: h.agent() } as unknown as string[]);
    const msg = await new Promise<string>((resolve, reject) => {
      ws.addEventListener('open', () => ws.send('ping-1'));
      ws.addEventListener('message', (e) => resolve(String(e.data)));
      ws.addEventListener('error', () => reject(new Error('websocket error')));
      setTimeout(() => reject(new Error('websocket timeout')), 4000).unref();
    });
    assert.equal(msg, 'ping-1');
    ws.close();
    await waitFor(() => h.audit.find((r) => r.event === 'request' && (r.url ?? '').startsWith('wss://api.test.local') && (r.bytes_up ?? 0) > 0));
  });

  test('curl through the proxy: allowed host 200, denied host refused at CONNECT', async () => {
    const ok = await run('curl', ['-sS', '-x', h.url, '--cacert', h.wardenCaFile, '-o', '/dev/null', '-w', '%{http_code}', 'https://api.test.local/1k']);
    assert.equal(ok.stdout, '200');
    const denied = await run('curl', ['-sS', '-x', h.url, '--cacert', h.wardenCaFile, '-o', '/dev/null', '-w', '%{http_connect}', 'https://denied.example.org/']).catch((e: { stdout: string; code: number }) => e);
    assert.equal((denied as { stdout: string }).stdout, '403');
  });
});

describe('address guard', () => {
  let h: Harness;
  before(async () => {
    h = await startWarden({
      // No allow_private: every non-public answer is refused. The lookup stands in for DNS.
      yaml: `listen: "127.0.0.1:0"\nca_dir: "{{DIR}}/ca"\nprofiles:\n  default:\n    allow: [rebind.example.com, "*.example.net", "127.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "169.254.169.254", mixed.example.com]\naudit: { file: null }\n`,
      lookup: async (host) => {
        if (host === 'rebind.example.com') return [{ address: '127.0.0.1', family: 4 }];
        if (host === 'mixed.example.com') return [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }];
        if (host === 'meta.example.net') return [{ address: '169.254.169.254', family: 4 }];
        throw Object.assign(new Error('no such host'), { code: 'ENOTFOUND' });
      },
    });
  });
  after(() => h.close());

  const cases: Array<[string, string, number, string]> = [
    ['a name that rebinds to loopback', 'rebind.example.com:443', 403, 'private_address'],
    ['a name with one private answer among public ones', 'mixed.example.com:443', 403, 'private_address'],
    ['a name resolving to the metadata address', 'meta.example.net:443', 403, 'private_address'],
    ['a loopback literal', '127.0.0.1:443', 403, 'private_address'],
    ['a decimal IPv4 literal', '2130706433:443', 403, 'private_address'],
    ['an IPv4-mapped IPv6 literal', '[::ffff:127.0.0.1]:443', 403, 'private_address'],
    ['the metadata literal', '169.254.169.254:443', 403, 'private_address'],
    ['a name that does not resolve', 'nx.example.net:443', 502, 'dns_error'],
  ];
  for (const [name, authority, status, reason] of cases) {
    test(`refuses ${name}`, async () => {
      const r = await rawConnect(h.port, authority);
      assert.equal(r.status, status);
      assert.equal(header(r.head, 'x-warden-reason'), reason);
      assert.ok(h.audit.find((x) => x.event === 'connect' && x.reason === reason));
    });
  }
});

describe('report mode', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-rep-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki);
    h = await startWarden({ yaml: baseYaml(up.port, join(dir, 'up.pem'), `  default:\n    allow: [{ host: api.test.local, paths: ["/v1/*"] }]\n`) + 'mode: report\n' });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('what would be refused is forwarded and audited with mode: report', async () => {
    const res = await request('https://api.test.local/v2/other', { dispatcher: h.agent() });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const rec = h.audit.find((r) => r.event === 'request' && (r.url ?? '').includes('/v2/other'));
    assert.equal(rec?.decision, 'block');
    assert.equal(rec?.reason, 'request_not_allowed');
    assert.equal(rec?.mode, 'report');
    // Two would-be refusals: enforce mode stops at the first (the path), so that is what is recorded,
    // with the DLP finding attached; the body is forwarded unchanged.
    const ssn = '536-22-8143';
    const both = await request('https://api.test.local/v2/upload', { dispatcher: h.agent(), method: 'POST', body: `ssn ${ssn}`, headers: { 'content-type': 'text/plain', 'x-request-id': 'report-both' } });
    assert.equal(both.statusCode, 200);
    await both.body.dump();
    assert.equal(up.seen.find((x) => x.headers['x-request-id'] === 'report-both')?.body.toString(), `ssn ${ssn}`);
    const rb = h.audit.byId('report-both').find((r) => r.event === 'request');
    assert.equal(rb?.decision, 'block');
    assert.equal(rb?.reason, 'request_not_allowed');
    assert.equal(rb?.mode, 'report');
    assert.ok(rb?.findings?.some((f) => f.type === 'us_ssn'));
    assert.ok(!h.audit.text().includes(ssn));
    const tunnel = await rawConnect(h.port, 'unlisted.test.local:443');
    assert.equal(tunnel.status, 200);
    assert.ok(h.audit.find((r) => r.event === 'connect' && r.host === 'unlisted.test.local' && r.mode === 'report' && r.reason === 'not_allowlisted'));
    // The record of the tunnel's end repeats that verdict (it said allow / allowlisted).
    const closed = await waitFor(() => h.audit.find((r) => r.event === 'tunnel_close' && r.host === 'unlisted.test.local'));
    assert.deepEqual([closed.decision, closed.reason, closed.mode], ['block', 'not_allowlisted', 'report']);
  });

  test('a CONNECT refused anyway (a private address) is recorded with the verdict enforce mode would have given', async () => {
    // The address guard is not relaxed in report mode; the record said only private_address, and
    // lost that enforce mode would have refused the host as not allowlisted.
    const r = await rawConnect(h.port, '10.200.0.1:443');
    assert.equal(r.status, 403);
    assert.match(r.head, /x-warden-reason: private_address/i);
    const rec = await waitFor(() => h.audit.find((x) => x.event === 'connect' && x.host === '10.200.0.1'));
    assert.deepEqual([rec.decision, rec.reason, rec.mode, rec.status], ['block', 'not_allowlisted', 'report', 403]);
    assert.deepEqual(rec.detail, { refused: 'private_address' });
  });
});

async function waitFor<T>(fn: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
