/**
 * `warden explain` and `warden scan`: the same decisions the proxy takes, run offline over a
 * described request or a file, so admins can test a policy change before it goes live.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { CompiledConfig } from './config/types.js';
import { loadOrCreateFingerprintKey } from './keys.js';
import { WardenError } from './errors.js';
import type { LimitUsage } from './limits/limiter.js';
import { decideDestination, decideRequest } from './policy/decide.js';
import { normalizeHost, parseHostPort } from './policy/host-match.js';
import { createResolver } from './upstream/resolve.js';
import { buildDlpEngine } from './server/proxy.js';

export interface CommandIo {
  out(s: string): void;
  err(s: string): void;
  readConfig(file: string | undefined): CompiledConfig | null;
}

function readInput(file: string): Buffer {
  return file === '-' ? readFileSync(0) : readFileSync(file);
}

function contentTypeFor(file: string, body: Buffer): string {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') return 'application/json';
  if (ext === '.txt' || ext === '.md' || ext === '.log') return 'text/plain; charset=utf-8';
  const first = body.subarray(0, 64).toString('utf8').trimStart();
  if (first.startsWith('{') || first.startsWith('[')) return 'application/json';
  return 'application/octet-stream';
}

export async function explainCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      agent: { type: 'string' },
      body: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      admin: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 2) {
    io.err("usage: warden explain [--config FILE] [--agent ID] [--admin URL] METHOD URL [--body FILE] [--header 'K: V']...");
    return 2;
  }
  const cfg = io.readConfig(values.config);
  if (!cfg) return 2;
  const method = positionals[0]!.toUpperCase();
  let url: URL;
  try {
    url = new URL(positionals[1]!);
  } catch {
    io.err(`not an absolute URL: ${positionals[1]}`);
    return 2;
  }
  const scheme = url.protocol === 'https:' ? 'https' : url.protocol === 'http:' ? 'http' : null;
  const host = normalizeHost(url.hostname);
  if (!scheme || !host) {
    io.err('the URL must be http:// or https:// with a valid host');
    return 2;
  }
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  const agent = values.agent ? cfg.agents.find((a) => a.id === values.agent) : null;
  if (values.agent && !agent) {
    io.err(`unknown agent "${values.agent}"`);
    return 2;
  }
  if (!agent && cfg.auth === 'required') {
    io.out(JSON.stringify({ decision: 'block', reason: 'auth_required', detail: 'auth is required: pass --agent ID' }, null, 2));
    return 1;
  }
  const profileName = agent?.profile ?? 'default';
  const profile = cfg.profiles.get(profileName);
  if (!profile) {
    io.err(`profile "${profileName}" does not exist`);
    return 2;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) {
      io.err(`--header must be 'Name: value', got '${h}'`);
      return 2;
    }
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const body = values.body ? readInput(values.body) : Buffer.alloc(0);
  if (values.body && !headers['content-type']) headers['content-type'] = contentTypeFor(values.body, body);
  if (body.length) headers['content-length'] = String(body.length);

  const report: Record<string, unknown> = {
    agent: agent?.id ?? null,
    profile: profileName,
    mode: cfg.mode,
    target: { scheme, host: host.host, port, path: url.pathname + url.search },
  };
  const finish = (decision: string, reason: string, extra: Record<string, unknown> = {}): number => {
    io.out(JSON.stringify({ decision, reason, ...report, ...extra }, null, 2));
    return decision === 'block' ? 1 : 0;
  };

  const dest = decideDestination(profile, host.host, port);
  report['destination'] = { action: dest.action, reason: dest.reason, rule: dest.ruleId, inspect: dest.inspect };
  if (dest.action === 'deny') return finish('block', dest.reason, { rule: dest.ruleId });
  // The address guard, as the proxy's resolver applies it, without a DNS lookup: IP literals and
  // `connect_to` targets are checked here; names that need DNS are checked at connect time.
  let needsDns = false;
  const resolver = createResolver({
    allowPrivate: cfg.upstream.allowPrivate,
    connectTo: cfg.upstream.connectTo,
    lookup: () => {
      needsDns = true;
      return Promise.reject(new Error('explain sends nothing'));
    },
  });
  try {
    const r = await resolver.resolve(host.host, port);
    if (r.connectTo) report['address_guard'] = `connect_to ${r.dialHost}:${r.dialPort}: allowed`;
  } catch (err) {
    if (!needsDns) return finish('block', err instanceof WardenError ? err.code : 'private_address', { detail: (err as Error).message });
    report['address_guard'] = 'checked at connect time against the resolved addresses';
  }
  // Inside the CONNECT tunnel, the Host header must name the tunnel's host (forward-http.ts).
  if (scheme === 'https' && headers['host'] !== undefined) {
    const hp = parseHostPort(headers['host'], port);
    if (!hp || hp.host !== host.host || hp.port !== port) return finish('block', 'host_mismatch');
  }
  const req = decideRequest(profile, host.host, port, method, url.pathname);
  report['rule'] = req.ruleId;
  if (req.action === 'deny') return finish('block', req.reason === 'allowlisted' ? 'not_allowlisted' : req.reason);

  // Limits: configured values, or live usage from a running proxy's admin port.
  const limits: Record<string, unknown> = {
    max_body_bytes: profile.limits.maxBodyBytes,
    upload: profile.limits.upload,
    requests: profile.limits.requests,
    destination_requests: req.rule?.requests ?? null,
  };
  const adminUrl = values.admin ?? (cfg.admin ? `http://${cfg.admin.host.includes(':') ? `[${cfg.admin.host}]` : cfg.admin.host}:${cfg.admin.port}` : null);
  if (adminUrl) {
    try {
      const res = await fetch(`${adminUrl}/limits?agent=${encodeURIComponent(agent?.id ?? '')}`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) limits['live'] = await res.json();
    } catch {
      limits['live'] = 'admin port not reachable: showing configured values';
    }
  }
  report['limits'] = limits;
  // Live figures decide as the proxy would for this request now (limiter.ts).
  const live = limits['live'] as { usage?: LimitUsage; quarantined?: unknown } | string | undefined;
  if (typeof live === 'object' && live !== null) {
    if (live.quarantined) return finish('block', 'quarantined');
    const { requests, upload } = live.usage ?? { requests: null, upload: null };
    if (requests && requests.used >= requests.limit) return finish('block', 'rate_limited');
    if (upload && upload.usedBytes + body.length > upload.limitBytes) return finish('block', 'upload_budget');
  }
  if (profile.limits.maxBodyBytes !== null && body.length > profile.limits.maxBodyBytes) return finish('block', 'body_too_large');

  if (scheme === 'https' && !dest.inspect) return finish('allow', 'allowlisted', { note: 'passthrough tunnel: not decrypted, no DLP' });
  const engine = buildDlpEngine(cfg, loadOrCreateFingerprintKey(cfg.caDir));
  const result = engine.inspect({ method, url: url.pathname + url.search, headers, body, skipHeaders: req.rule?.credentialHeaders ?? [] }, profile.dlp);
  const extra: Record<string, unknown> = { findings: result.findings };
  if (result.uninspectableDetail) extra['detail'] = result.uninspectableDetail;
  if (result.decision === 'redact') {
    if (result.body) {
      const enc = result.headers?.['content-encoding'] ?? headers['content-encoding'];
      if (enc) extra['redacted_body_encoding'] = enc;
      else extra['redacted_body'] = result.body.toString('utf8');
    }
    if (result.url) extra['redacted_url'] = result.url;
    return finish('redact', 'dlp', extra);
  }
  if (result.decision === 'block') return finish('block', result.reason ?? 'dlp', extra);
  return finish('allow', result.reason ?? 'allowlisted', extra);
}

export async function scanCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, packs: { type: 'string' }, profile: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) {
    io.err('usage: warden scan [--config FILE] [--packs a,b] [--profile NAME] FILE|-');
    return 2;
  }
  const cfg = io.readConfig(values.config);
  if (!cfg) return 2;
  const profile = cfg.profiles.get(values.profile ?? 'default') ?? [...cfg.profiles.values()][0];
  if (!profile) {
    io.err('the config has no profile');
    return 2;
  }
  const engine = buildDlpEngine(cfg, loadOrCreateFingerprintKey(cfg.caDir));
  const packs = values.packs ? values.packs.split(',').map((s) => s.trim()).filter(Boolean) : profile.dlp.packs;
  for (const p of packs) {
    if (!engine.detectors.packNames.includes(p)) {
      io.err(`unknown pack "${p}" (known: ${engine.detectors.packNames.join(', ')})`);
      return 2;
    }
  }
  const file = positionals[0]!;
  let body: Buffer;
  try {
    body = readInput(file);
  } catch (e) {
    io.err(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    return 2;
  }
  // A file is scanned like a request body with no size cap beyond the file itself.
  const policy = { ...profile.dlp, packs, maxInspectBytes: Math.max(profile.dlp.maxInspectBytes, body.length + 1), bulkPiiThreshold: null };
  const result = engine.inspect(
    { method: 'POST', url: '/', headers: { 'content-type': contentTypeFor(file, body), 'content-length': String(body.length) }, body, skipHeaders: [] },
    policy,
  );
  for (const f of result.findings) io.out(JSON.stringify({ type: f.type, action: f.action, where: f.where, sample: f.sample, fp: f.fp, count: f.count }));
  if (result.uninspectableDetail) {
    io.err(`${file}: not fully inspectable: ${result.uninspectableDetail}`);
    if (!result.findings.length) return 2;
  }
  return result.findings.length ? 1 : 0;
}
