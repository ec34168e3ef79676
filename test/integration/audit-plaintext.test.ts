/**
 * Never plaintext: the audit stream writes only what it is given, and the request path gives it
 * masked findings and masked URLs. Planted raw values (an SSN, an AWS key id, an email, the SIEM
 * token) must not appear in any output: audit files, stdout, the spool, the SIEM, the
 * operational log.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openAuditLog, MemorySink } from '../../proxy/audit/log.js';
import { maskUrl } from '../../proxy/audit/mask-url.js';
import { listStreamFiles } from '../../proxy/audit/files.js';
import type { AuditFinding, AuditRecordInput } from '../../proxy/audit/events.js';
import { auditConfig, memoryLogger, tempDir } from '../unit/audit/audit-fixtures.js';
import { SiemReceiver } from './audit-receiver.js';

const SSN = '123-45-6789';
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const EMAIL = 'jane.doe@example.org';
const TOKEN = 'siem-token-5f1c0ffee';
const PLANTED = [SSN, AWS_KEY, EMAIL, TOKEN, '123456789', 'IOSFODNN7'];

const FP_KEY = Buffer.from('test fingerprint key');

/** What the DLP stage hands the audit record: type, where, masked sample, keyed fingerprint. */
function finding(type: string, value: string, where: string, sample: string): AuditFinding {
  return { type, count: 1, action: 'redact', where, sample, fp: createHmac('sha256', FP_KEY).update(value).digest('hex').slice(0, 16) };
}

function recordFor(i: number): AuditRecordInput {
  const body = JSON.stringify({ messages: [{ role: 'user', content: `my ssn is ${SSN}, key ${AWS_KEY}, mail ${EMAIL}` }] });
  assert.ok(body.includes(SSN)); // the raw values exist in this test, just not in the audit stream
  return {
    event: 'request',
    id: `req-${i}`,
    agent: 'agent-7',
    profile: 'default',
    method: 'POST',
    url: maskUrl(`https://user:pw@api.example.com/v1/chat?email=${encodeURIComponent(EMAIL)}&ssn=${SSN}`),
    host: 'api.example.com',
    port: 443,
    decision: 'redact',
    reason: 'dlp',
    findings: [
      finding('us_ssn', SSN, 'body.messages[0].content', '***-**-6789'),
      finding('aws_access_key_id', AWS_KEY, 'body.messages[0].content', 'AKIA************MPLE'),
      finding('email', EMAIL, 'query:email', 'j***@e******.org'),
    ],
    bytes_up: body.length,
    status: 200,
  };
}

function leaks(text: string): string[] {
  return PLANTED.filter((v) => text.includes(v));
}

function readDir(dir: string): string {
  return readdirSync(dir).map((n) => readFileSync(join(dir, n), 'utf8')).join('\n');
}

for (const format of ['warden', 'ocsf'] as const) {
  test(`no planted raw value reaches any sink (${format} format)`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const siem = new SiemReceiver('splunk-hec');
    await siem.start();
    siem.mode = '503';
    t.after(() => siem.stop());
    const { log, lines: opLog } = memoryLogger();
    const stdout: string[] = [];
    const mem = new MemorySink();
    const cfg = {
      ...auditConfig(dir, { format, file: { rotateBytes: 4096 }, checkpointEvery: 7, http: { url: siem.url, format: 'splunk-hec', tokenEnv: 'SIEM_TOKEN', batchSize: 5 } }),
      stdout: true,
    };
    const audit = await openAuditLog(cfg, { log, sinks: [mem], stdout: { write: (s: string) => stdout.push(s) }, env: { SIEM_TOKEN: TOKEN }, http: { retryInitialMs: 10, retryMaxMs: 50 } });
    for (let i = 0; i < 40; i++) audit.write(recordFor(i));
    await new Promise((r) => setTimeout(r, 50)); // some POSTs refused: records sit in the spool
    const spooled = readDir(cfg.http!.spoolDir);
    assert.ok(spooled.includes('***-**-6789'), 'the spool holds the records');
    siem.mode = 'ok';
    await audit.close();

    const outputs: Array<[string, string]> = [
      ['audit files', listStreamFiles(cfg.file!.path).map((f) => readFileSync(f, 'utf8')).join('')],
      ['stdout', stdout.join('')],
      ['memory sink', mem.lines.join('\n')],
      ['spool', spooled],
      ['SIEM requests', siem.rawBodies.join('\n')],
      ['operational log', opLog.join('')],
    ];
    assert.ok(outputs[0]![1].includes('***-**-6789') && outputs[0]![1].includes('ssn=***'), 'masked forms are written');
    assert.ok(siem.records.length > 40);
    for (const [name, text] of outputs) assert.deepEqual(leaks(text), [], `${name} must not contain a planted value`);
  });
}

test('the leak check itself works: a raw value passed to the log would be found', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mem = new MemorySink();
  const audit = await openAuditLog(auditConfig(dir, { file: null }), { log: memoryLogger().log, sinks: [mem] });
  audit.write({ event: 'config', id: 'c', agent: null, profile: null, detail: { oops: SSN } });
  await audit.close();
  assert.ok(leaks(mem.lines.join('\n')).includes(SSN));
});
