/** Shared fixtures for the audit tests (not a test file itself). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import type { AuditConfig, AuditFileConfig, AuditHttpConfig } from '../../../proxy/config/types.js';
import type { AuditRecordInput } from '../../../proxy/audit/events.js';

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix = 'warden-audit-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An operational logger whose lines are kept in memory. */
export function memoryLogger(): { log: Logger; lines: string[]; entries: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { log, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** An AuditConfig rooted in `dir`; file sink on unless `file: null`. */
export function auditConfig(
  dir: string,
  over: { file?: Partial<AuditFileConfig> | null; http?: Partial<AuditHttpConfig> & { url: string } | null } & Partial<Omit<AuditConfig, 'file' | 'http'>> = {},
): AuditConfig {
  const { file, http, ...rest } = over;
  return {
    file: file === null ? null : { path: join(dir, 'audit.jsonl'), rotateBytes: null, rotateDaily: false, fsync: 'checkpoint', ...file },
    stdout: false,
    http: http
      ? {
          format: 'json',
          tokenEnv: null,
          spoolDir: join(dir, 'spool'),
          spoolMaxBytes: 64 * 1024 * 1024,
          batchSize: 100,
          flushIntervalMs: 20,
          caFile: null,
          ...http,
        }
      : null,
    signKeyPath: join(dir, 'keys', 'audit-sign.pem'),
    checkpointEvery: 100,
    checkpointIntervalMs: 0,
    format: 'warden',
    ...rest,
  };
}

/** A typical request record with two masked findings. */
export function requestRecord(i: number): AuditRecordInput {
  return {
    event: 'request',
    id: `req-${i}`,
    agent: 'agent-7',
    profile: 'default',
    method: 'POST',
    url: 'https://api.openai.com/v1/chat/completions?user=***',
    host: 'api.openai.com',
    port: 443,
    dest_ip: '104.18.7.192',
    tls: { subject: 'CN=api.openai.com', issuer: 'CN=WE1,O=Google Trust Services', fingerprint256: 'AB:CD:EF:01', valid_to: 'Jan  1 00:00:00 2027 GMT' },
    decision: 'redact',
    reason: 'dlp',
    rule: 'profiles.default.allow[0]',
    findings: [
      { type: 'us_ssn', count: 1, action: 'redact', where: 'body.messages[0].content', sample: '***-**-6789', fp: 'a1b2c3d4e5f60718' },
      { type: 'aws_access_key_id', count: 2, action: 'redact', where: 'body.messages[1].content', sample: 'AKIA************MPLE', fp: '0f1e2d3c4b5a6978' },
    ],
    bytes_up: 2048 + i,
    bytes_down: 4096,
    status: 200,
    duration_ms: 123,
  };
}
