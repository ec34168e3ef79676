/**
 * Issue 2.1: Warden works as HTTPS_PROXY for real clients — the official OpenAI and Anthropic
 * SDKs, undici's EnvHttpProxyAgent configured from the environment, Python requests and git —
 * each trusting only Warden's CA, against a local upstream that answers for the model hosts.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { EnvHttpProxyAgent, fetch as undiciFetch, request, type Dispatcher } from 'undici';
import { createTestPki } from '../fixtures/pki.js';
import { startUpstream, startWarden, type Harness, type Upstream } from './harness.js';

const run = promisify(execFile);

/** The first python3 that has `requests` (pyenv's, or Debian's python3-requests), or null. */
async function pythonWithRequests(): Promise<string | null> {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      await run(py, ['-c', 'import requests']);
      return py;
    } catch {
      /* try the next */
    }
  }
  return null;
}

describe('real clients through Warden', () => {
  let up: Upstream;
  let h: Harness;
  let dir: string;
  before(async () => {
    const pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'warden-clients-'));
    writeFileSync(join(dir, 'up.pem'), pki.caPem);
    up = await startUpstream(pki, ['api.openai.com', 'api.anthropic.com', 'example.org']);
    h = await startWarden({
      yaml: `listen: "127.0.0.1:0"
ca_dir: "{{DIR}}/ca"
upstream:
  ca_file: "${join(dir, 'up.pem')}"
  allow_private: ["127.0.0.0/8"]
  connect_to:
    "api.openai.com:443": "127.0.0.1:${up.port}"
    "api.anthropic.com:443": "127.0.0.1:${up.port}"
profiles:
  default:
    allow: [api.openai.com, api.anthropic.com]
audit: { file: null }
`,
    });
  });
  after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const viaWarden = (): typeof fetch => {
    const dispatcher: Dispatcher = h.agent();
    return ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as typeof fetch;
  };

  test('OpenAI SDK (openai@6): chat.completions.create goes through, the API key is forwarded untouched', async () => {
    const client = new OpenAI({ apiKey: 'sk-test-openai-key-not-real', fetch: viaWarden(), maxRetries: 0 });
    const res = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] })) as unknown as { method: string; url: string };
    assert.equal(res.method, 'POST');
    assert.equal(res.url, '/v1/chat/completions');
    const seen = up.seen.findLast((s) => s.url === '/v1/chat/completions');
    assert.equal(seen?.headers['authorization'], 'Bearer sk-test-openai-key-not-real');
    assert.ok(h.audit.find((r) => r.event === 'request' && r.host === 'api.openai.com' && r.decision === 'allow'));
  });

  test('Anthropic SDK: messages.create goes through with its credential header untouched', async () => {
    const client = new Anthropic({ apiKey: 'sk-ant-test-key-not-real', fetch: viaWarden(), maxRetries: 0 });
    const res = (await client.messages.create({ model: 'claude-test-model', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] })) as unknown as { url: string };
    assert.equal(res.url, '/v1/messages');
    const seen = up.seen.findLast((s) => s.url === '/v1/messages');
    // SDK 1.x sends the key as a bearer token (0.x used x-api-key); both are credential headers, never scanned.
    assert.ok(seen?.headers['authorization'] === 'Bearer sk-ant-test-key-not-real' || seen?.headers['x-api-key'] === 'sk-ant-test-key-not-real');
  });

  test('undici EnvHttpProxyAgent from HTTPS_PROXY / NO_PROXY', async () => {
    const saved = { ...process.env };
    process.env['HTTPS_PROXY'] = h.url;
    process.env['NO_PROXY'] = 'localhost';
    try {
      const agent = new EnvHttpProxyAgent({ requestTls: { ca: [h.wardenCa] } } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
      const res = await request('https://api.openai.com/v1/models', { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      await agent.close();
    } finally {
      process.env = saved;
    }
  });

  test('Python requests with HTTPS_PROXY and REQUESTS_CA_BUNDLE', async (t) => {
    const py = await pythonWithRequests();
    if (!py) return t.skip('no python3 with the requests module (.ci/run installs python3-requests)');
    const script = "import requests,sys\nr = requests.post('https://api.openai.com/v1/embeddings', json={'input': 'hi'})\nprint(r.status_code, r.json()['url'])\nd = requests.get('https://example.org/')\n";
    const { stdout, stderr } = await run(py, ['-c', script], {
      env: { ...process.env, HTTPS_PROXY: h.url, REQUESTS_CA_BUNDLE: h.wardenCaFile, NO_PROXY: '' },
    }).catch((e: { stdout: string; stderr: string }) => e);
    assert.match(stdout, /^200 \/v1\/embeddings$/m, stderr);
    // The second request was refused at CONNECT: requests raises a ProxyError naming the 403.
    assert.match(stderr, /403/);
  });

  test('git honours HTTPS_PROXY and GIT_SSL_CAINFO (refused host: 403 at CONNECT)', async (t) => {
    try {
      await run('git', ['--version']);
    } catch {
      return t.skip('git not installed');
    }
    const r = await run('git', ['ls-remote', 'https://github.com/example/repo.git'], {
      env: { ...process.env, HTTPS_PROXY: h.url, GIT_SSL_CAINFO: h.wardenCaFile, GIT_TERMINAL_PROMPT: '0' },
      timeout: 15_000,
    }).catch((e: { stderr: string }) => e);
    assert.match((r as { stderr: string }).stderr, /403/);
    assert.ok(h.audit.find((x) => x.event === 'connect' && x.host === 'github.com' && x.reason === 'not_allowlisted'));
  });
});
