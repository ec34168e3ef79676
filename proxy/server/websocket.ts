/**
 * WebSocket (HTTP Upgrade) inside a MITM tunnel, or absolute-form ws:// on the plain port:
 * the handshake request is checked like any request (Host, method/path rules, quarantine,
 * rate, DLP of headers and query), then bytes are spliced both ways. Frames sent upstream
 * count against the agent's upload budget; crossing it closes the connection.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WardenError } from '../errors.js';
import { decideRequest } from '../policy/decide.js';
import { parseHostPort } from '../policy/host-match.js';
import { baseRecord, identify, profileOf, requestIdFrom, type ClientIdentity, type ProxyCore, type TunnelInfo } from './context.js';
import { refuseSocket } from './respond.js';
import { splice } from './splice.js';
import { maskUrl } from '../audit/mask-url.js';

export async function handleUpgrade(core: ProxyCore, req: IncomingMessage, client: Duplex, head: Buffer, tunnel: TunnelInfo | null): Promise<void> {
  client.on('error', () => undefined);
  const startedMs = performance.now();
  const rt = core.runtime();
  const id = requestIdFrom(req.headers);
  let identity: ClientIdentity | null = tunnel?.identity ?? null;
  if (!identity) {
    const who = identify(core, req);
    if (!who.ok) return refuseSocket(client, 'auth_required', id);
    identity = who.identity;
  }
  let scheme: 'http' | 'https' = 'https';
  let host: string;
  let port: number;
  let path = req.url ?? '/';
  if (tunnel) {
    const hp = parseHostPort(req.headers.host ?? '', tunnel.port);
    if (!hp || hp.host !== tunnel.host || hp.port !== tunnel.port) return refuseSocket(client, 'host_mismatch', id);
    host = tunnel.host;
    port = tunnel.port;
    scheme = tunnel.scheme;
  } else {
    let u: URL;
    try {
      u = new URL(path);
    } catch {
      return refuseSocket(client, 'bad_request', id);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'ws:') return refuseSocket(client, 'bad_request', id);
    scheme = 'http';
    const hp = parseHostPort(u.host, 80);
    if (!hp) return refuseSocket(client, 'bad_request', id);
    host = hp.host;
    port = hp.port;
    path = u.pathname + u.search;
  }
  const profile = profileOf(rt, identity);
  const report = rt.config.mode === 'report';
  const rec = (decision: 'allow' | 'block', reason: string, extra: Record<string, unknown> = {}): void =>
    core.audit.write({
      event: 'request', ...baseRecord(id, identity, identity!.profileName), method: req.method ?? 'GET',
      url: maskUrl(`${scheme === 'https' ? 'wss' : 'ws'}://${host}:${port}${path}`), host, port, decision, reason,
      duration_ms: Math.round(performance.now() - startedMs), ...extra,
    });
  if (!profile) {
    refuseSocket(client, 'not_allowlisted', id);
    return rec('block', 'not_allowlisted');
  }
  const d = decideRequest(profile, host, port, req.method ?? 'GET', path.split('?', 1)[0] ?? '/');
  if (d.action === 'deny' && !report) {
    const code = d.reason === 'allowlisted' ? 'not_allowlisted' : d.reason;
    refuseSocket(client, code, id);
    return rec('block', code, { rule: d.ruleId });
  }
  if (core.detection.isQuarantined(identity.agentKey) && !report) {
    refuseSocket(client, 'quarantined', id);
    return rec('block', 'quarantined');
  }
  const adm = core.limiter.admitRequest(identity.agentKey, profile, d.rule);
  if (!adm.ok && !report) {
    refuseSocket(client, adm.code, id, { retryAfterSeconds: adm.retryAfterSeconds });
    return rec('block', adm.code);
  }
  const scan = rt.engine.inspect({ method: req.method ?? 'GET', url: path, headers: req.headers, body: Buffer.alloc(0), skipHeaders: d.rule?.credentialHeaders ?? [] }, profile.dlp);
  if (scan.decision !== 'allow' && !report) {
    const code = scan.reason ?? 'dlp';
    refuseSocket(client, code, id, { extra: { findings: [...new Set(scan.findings.map((f) => f.type))] } });
    return rec('block', code, { findings: scan.findings });
  }
  let dial;
  try {
    dial = await rt.resolver.resolve(host, port);
  } catch (err) {
    const code = err instanceof WardenError ? err.code : 'dns_error';
    refuseSocket(client, code, id);
    return rec('block', code);
  }
  const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
  const up: Socket = scheme === 'https'
    ? tlsConnect({ host: dial.dialHost, port: dial.dialPort, servername, secureContext: rt.upstream.secureContext, ALPNProtocols: ['http/1.1'] })
    : netConnect({ host: dial.dialHost, port: dial.dialPort });
  up.setNoDelay(true);
  let bytesUp = 0;
  let bytesDown = 0;
  let reason = 'allowlisted';
  let decision: 'allow' | 'block' = 'allow';
  let done = false;
  const finish = (status: number): void => {
    if (done) return;
    done = true;
    client.destroy();
    up.destroy();
    rec(decision, reason, { rule: d.ruleId, dest_ip: dial.dialHost, bytes_up: bytesUp, bytes_down: bytesDown, status });
  };
  up.on('error', () => {
    if (bytesDown === 0) {
      reason = 'upstream_error';
      refuseSocket(client, 'upstream_error', id);
    }
    finish(502);
  });
  up.on(scheme === 'https' ? 'secureConnect' : 'connect', () => {
    const headers = Object.entries(req.headers)
      .filter(([k]) => !/^proxy-/i.test(k))
      .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : v === undefined ? [] : [`${k}: ${v}`]));
    up.write(`${req.method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\nx-request-id: ${id}\r\n\r\n`);
    if (head.length) up.write(head);
    splice(client, up, {
      onClientBytes: (n) => {
        bytesUp += n;
        const st = core.countUpload(identity!, profile, n, { host }, id);
        if (!st.withinBudget && !report) {
          decision = 'block';
          reason = 'upload_budget';
          finish(101);
          return false;
        }
        return true;
      },
      onUpstreamBytes: (n) => void (bytesDown += n),
    });
  });
  client.on('close', () => finish(101));
  up.on('close', () => finish(101));
}
