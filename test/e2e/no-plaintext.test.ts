/**
 * Issue 3.8 / 5.7: no planted value ever reaches any output. A real `warden start` (audit to a
 * file and to stdout, operational log at debug level) receives planted values through every
 * path; then the audit file, stdout and stderr are searched for each value, raw and base64.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ProxyAgent, request, WebSocket } from 'undici';
import { ROOT } from '../../proxy/paths.js';
import { createTestPki } from '../fixtures/pki.js';
import { rawConnect, startUpstream, type Upstream } from '../integration/harness.js';

const PLANTED = {
  ssn: '536-22-8143',
  card: '4666176031372159',
  honey: 'WARDEN-CANARY-93d1e0c4aa',
  aws: 'AKIA7ZNGSOKPXYIZFMSR',
  github: 'ghp_' + 'x9K2mQ7vLp4TbN8wRc3ZyH6jDf1sAe5Ug0Wi'.slice(0, 36),
  token: 'agent-secret-token-5b8c1e',
  key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]!,
};

let dir: string;
let up: Upstream;
let child: ReturnType<typeof spawn>;
let out = '';
let port = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-plain-'));
  const pki = createTestPki();
  writeFileSync(join(dir, 'up.pem'), pki.caPem);
  up = await startUpstream(pki);
  writeFileSync(join(dir, 'warden.yaml'), `listen: "127.0.0.1:0"
ca_dir: ${dir}/ca
auth: optional
agents:
  - { id: bot, token_sha256: "${createHash('sha256').update(PLANTED.token).digest('hex')}" }
upstream:
  ca_file: ${dir}/up.pem
  allow_private: ["127.0.0.0/8"]
  connect_to: { "*.test.local:443": "127.0.0.1:${up.port}", "*.test.local:80": "127.0.0.1:${up.port}" }
profiles:
  default:
    allow: [api.test.local, { host: plain.test.local, ports: [80] }]
honeytokens:
  - { id: canary, value: "${PLANTED.honey}" }
audit:
  file: ${dir}/audit.jsonl
  stdout: true
`);
  child = spawn(process.execPath, [join(ROOT, 'dist/proxy/cli.js'), 'start', '--config', join(dir, 'warden.yaml')], {
    env: { ...process.env, WARDEN_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  for (let i = 0; i < 300 && port === 0; i++) {
    const m = /"listen":"127\.0\.0\.1:(\d+)"/.exec(out);
    if (m) port = Number(m[1]);
    else await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(port > 0, 'warden started');
});

after(async () => {
  if (child.exitCode === null) {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
  }
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

test('planted values sent through every path appear in no output', async () => {
  const ca = readFileSync(join(dir, 'ca', 'ca.pem'), 'utf8');
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${port}`, requestTls: { ca: [ca] }, keepAliveTimeout: 100 });
  const all = Object.values(PLANTED).filter((v) => v !== PLANTED.token).join(' ');
  const send = async (url: string, init: Parameters<typeof request>[1]) => {
    const r = await request(url, { dispatcher: agent, ...init });
    await r.body.dump();
  };
  try {
    await send(`https://api.test.local/v1/chat/completions?q=${encodeURIComponent(PLANTED.ssn)}&k=${PLANTED.aws}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-note': PLANTED.card },
      body: JSON.stringify({ messages: [{ role: 'user', content: all }], tool: { arguments: JSON.stringify({ k: PLANTED.github }) } }),
    });
    await send('https://api.test.local/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ attachment: Buffer.from(all).toString('base64') }) });
    await send('https://api.test.local/v1/responses', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ input: all })) });
    const boundary = 'b0undary';
    await send('https://api.test.local/v1/files', {
      method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n\r\n${all}\r\n--${boundary}--\r\n`,
    });
    await send('http://plain.test.local/echo', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: all });
    await send('https://api.test.local/v1/x', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `a=${encodeURIComponent(all)}` });
    const ws = new WebSocket('wss://api.test.local/ws?token=' + PLANTED.aws, { dispatcher: agent } as unknown as string[]);
    await new Promise<void>((resolve) => {
      ws.addEventListener('open', () => ws.close());
      ws.addEventListener('close', () => resolve());
      ws.addEventListener('error', () => resolve());
    });
    // A wrong token for a real agent id, and a right one.
    await rawConnect(port, 'api.test.local:443', `Proxy-Authorization: Basic ${Buffer.from(`bot:${PLANTED.token}x`).toString('base64')}\r\n`);
    await rawConnect(port, 'api.test.local:443', `Proxy-Authorization: Basic ${Buffer.from(`bot:${PLANTED.token}`).toString('base64')}\r\n`);
  } finally {
    await agent.close();
  }
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
  const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
  assert.ok(audit.split('\n').length > 8, 'requests were audited');
  assert.ok(/"findings":\[/.test(audit), 'findings were recorded');
  for (const [name, value] of Object.entries(PLANTED)) {
    for (const form of [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)]) {
      assert.ok(!audit.includes(form), `${name} found in the audit file`);
      assert.ok(!out.includes(form), `${name} found in stdout/stderr`);
    }
  }
});
