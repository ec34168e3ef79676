/**
 * WebSocket (HTTP Upgrade) inside a MITM tunnel, or absolute-form ws:// on the plain port:
 * the handshake request is checked like any request (Host, method/path rules, quarantine,
 * rate, DLP of headers and query). After it, every message the client sends is read whole and
 * scanned like a request body before any of it goes upstream (ws-frames.ts): a finding that
 * blocks closes the connection with 1008 and the message never leaves, a redaction rewrites
 * the message. Messages over `dlp.max_inspect_bytes` follow `dlp.uninspectable`, over
 * `limits.max_body` close with 1009. What the upstream sends is passed on untouched. Bytes
 * sent upstream count against the agent's upload budget; crossing it closes the connection.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WardenError, type RefusalCode } from '../errors.js';
import { alertRule } from '../limits/detect.js';
import { profileLimitRule } from '../limits/limiter.js';
import { decideRequest, refusedOverride } from '../policy/decide.js';
import { hostHeaderFor, parseHostPort } from '../policy/host-match.js';
import { baseRecord, findingsInUrl, hostHoldsFinding, identify, noteScan, profileOf, requestIdFrom, type ClientIdentity, type ProxyCore, type TunnelInfo } from './context.js';
import { endToEndHeaders, hasBody, overrideDetail, rawHeaderNames, refuseSocket } from './respond.js';
import { absoluteAuthority } from '../audit/mask-host.js';
import { maskUrl } from '../audit/mask-url.js';
import { FindingTally, relabelFindings as relabel } from '../dlp/findings.js';
import type { InspectResult } from '../dlp/types.js';
import { CLOSE, OPCODE, WsClientReader, WsFrameBoundary, WsProtocolError, clientClose, clientFrame, serverClose, type WsEvent } from './ws-frames.js';
import { inspectOffLoop } from './inspect-pool.js';

/**
 * The handshake as the upstream gets it, one `name: value` per line, from untrusted `headers`:
 * exactly the end-to-end headers (endToEndHeaders, as the plain HTTP path forwards them), since
 * the DLP scan skips hop-by-hop headers and those named in Connection (views.ts addHeaders) and
 * forwarding them would send text upstream that was never read; `Connection: Upgrade, X-Exfil`
 * drops X-Exfil, and a Sec-WebSocket-* header named there too (the upgrade then fails upstream).
 * No extension is offered upstream: permessage-deflate would hide the payloads from the scan.
 * Host is `hostHeader`, the checked authority in Warden's spelling (hostHeaderFor), never the
 * agent's Host or absolute-form authority, and the request id is Warden's.
 */
export function upstreamHandshakeHeaders(headers: IncomingHttpHeaders, hostHeader: string, id: string): string[] {
  const kept = Object.entries(endToEndHeaders(headers, ['host', 'sec-websocket-extensions', 'x-request-id']))
    .filter(([k]) => !k.startsWith('proxy-'));
  return [
    `host: ${hostHeader}`,
    ...kept.flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`])),
    'connection: Upgrade',
    'upgrade: websocket',
    `x-request-id: ${id}`,
  ];
}

export async function handleUpgrade(core: ProxyCore, req: IncomingMessage, client: Duplex, head: Buffer, tunnel: TunnelInfo | null): Promise<void> {
  client.on('error', () => undefined);
  const startedMs = performance.now();
  const rt = core.runtime();
  const id = requestIdFrom(req.headers, rt.sensitive);
  let identity: ClientIdentity | null = tunnel?.identity ?? null;
  /** Refused before the target is known: recorded with the request target as sent. */
  const refuseEarly = (code: RefusalCode): void => {
    refuseSocket(client, code, id);
    core.audit.write({
      event: 'request', ...baseRecord(id, identity, identity?.profileName ?? null), method: req.method ?? 'GET',
      url: maskUrl(req.url ?? '', rt.sensitive), decision: 'block', reason: code, duration_ms: Math.round(performance.now() - startedMs),
      ...(tunnel ? { host: tunnel.host, port: tunnel.port } : {}),
    });
  };
  if (!identity) {
    const who = identify(core, req);
    if (!who.ok) return refuseEarly('auth_required');
    identity = who.identity;
  }
  let scheme: 'http' | 'https' = 'https';
  let host: string;
  let port: number;
  let hostHeader: string;
  let path = req.url ?? '/';
  if (path.includes('#')) return refuseEarly('bad_request'); // no fragment in a request target (forward-http.ts parseTarget)
  if (tunnel) {
    let authority = req.headers.host ?? '';
    if (!path.startsWith('/')) {
      // Absolute-form names its own authority, which a server must prefer to Host (RFC 9112
      // §3.2.2): it has to match the tunnel too, and only origin-form goes upstream.
      let u: URL;
      try {
        u = new URL(path);
      } catch {
        return refuseEarly('bad_request');
      }
      authority = u.host;
      path = u.pathname + u.search;
    }
    const hp = parseHostPort(authority, tunnel.port);
    if (!hp || hp.host !== tunnel.host || hp.port !== tunnel.port) return refuseEarly('host_mismatch');
    host = tunnel.host;
    port = tunnel.port;
    scheme = tunnel.scheme;
    hostHeader = hostHeaderFor(scheme, host, port);
  } else {
    let u: URL;
    try {
      u = new URL(path);
    } catch {
      return refuseEarly('bad_request');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'ws:') return refuseEarly('bad_request');
    scheme = 'http';
    const hp = parseHostPort(u.host, 80);
    if (!hp) return refuseEarly('bad_request');
    host = hp.host;
    port = hp.port;
    hostHeader = hostHeaderFor('http', host, port);
    path = u.pathname + u.search;
  }
  const profile = profileOf(rt, identity);
  const report = rt.config.mode === 'report';
  let handshake: InspectResult | null = null; // the DLP scan of the handshake, once it has run
  const rec = (decision: 'allow' | 'redact' | 'block', reason: string, extra: Record<string, unknown> = {}): void =>
    core.audit.write({
      event: 'request', ...baseRecord(id, identity, identity!.profileName), method: req.method ?? 'GET',
      url: maskUrl(`${scheme === 'https' ? 'wss' : 'ws'}://${host}:${port}${path}`, !handshake || findingsInUrl(handshake.findings) ? rt.sensitive : undefined),
      host, port, decision, reason,
      duration_ms: Math.round(performance.now() - startedMs), ...extra,
    });
  const withBody = hasBody(req);
  if ((req.headers.upgrade ?? '').trim().toLowerCase() !== 'websocket' || withBody) {
    // Another protocol after a 101 (h2c, a raw stream) would reach the upstream unread; a
    // handshake has no body, and the upstream would read the frames after it as one.
    const error = withBody ? 'a WebSocket handshake has no body' : 'only WebSocket upgrades are proxied';
    refuseSocket(client, 'bad_request', id, { extra: { detail: error } });
    return rec('block', 'bad_request', { detail: { error } });
  }
  if (!profile) {
    refuseSocket(client, 'not_allowlisted', id);
    return rec('block', 'not_allowlisted');
  }
  const pathOnly = path.split('?', 1)[0] ?? '/';
  // Report mode: the first refusal enforce mode would have made, recorded when the connection ends.
  let wouldBe: { decision: 'redact' | 'block'; reason: string } | null = null;
  const wouldHave = (decision: 'redact' | 'block', reason: string): void => {
    if (wouldBe === null || (wouldBe.decision === 'redact' && decision === 'block')) wouldBe = { decision, reason };
  };
  const method = req.method ?? 'GET';
  const d = decideRequest(profile, host, port, method, pathOnly);
  // The path an upstream honouring X-Original-URL / X-Rewrite-URL would route the handshake to
  // must be allowed too (forward-http.ts). Method overrides are checked with them although a
  // handshake is a GET (RFC 6455 §4.1) and the usual override middlewares only rewrite POSTs:
  // a server that did honour one would run another method's handler on it, no client sends one
  // on a handshake, and the check costs nothing when the headers are absent.
  const alt = d.action === 'allow' ? refusedOverride(profile, host, port, req.headers, method, pathOnly) : null;
  if (d.action === 'deny') {
    const code = d.reason === 'allowlisted' ? 'not_allowlisted' : d.reason;
    if (!report) {
      refuseSocket(client, code, id);
      return rec('block', code, { rule: d.ruleId });
    }
    wouldHave('block', code);
  } else if (alt) {
    const error = overrideDetail(alt.header);
    if (!report) {
      refuseSocket(client, alt.reason, id, { extra: { detail: error } });
      return rec('block', alt.reason, { rule: d.ruleId, detail: { error } });
    }
    wouldHave('block', alt.reason);
  } else if (hostHoldsFinding(rt, d.rule, host, tunnel ? undefined : absoluteAuthority(req.url ?? ''))) {
    if (!report) {
      refuseSocket(client, 'dlp', id, { extra: { detail: 'the host name holds sensitive data' } });
      return rec('block', 'dlp', { rule: d.ruleId });
    }
    wouldHave('block', 'dlp');
  }
  const q = core.detection.isQuarantined(identity.agentKey);
  if (q) {
    if (!report) {
      refuseSocket(client, 'quarantined', id);
      return rec('block', 'quarantined', { rule: alertRule(q.rule) });
    }
    wouldHave('block', 'quarantined');
  }
  const adm = core.limiter.admitRequest(identity.agentKey, profile, d.rule);
  if (!adm.ok) {
    if (!report) {
      refuseSocket(client, adm.code, id, { retryAfterSeconds: adm.retryAfterSeconds });
      return rec('block', adm.code, { rule: adm.rule });
    }
    wouldHave('block', adm.code);
  }
  // The handshake's URL and headers; a finding that would be redacted refuses it (it has no body to rewrite).
  const scan = rt.engine.inspect({ method: req.method ?? 'GET', url: path, headers: req.headers, body: Buffer.alloc(0), skipHeaders: d.rule?.credentialHeaders ?? [], rawHeaderNames: rawHeaderNames(req) }, profile.dlp);
  handshake = scan;
  if (scan.decision !== 'allow') {
    const code = scan.reason ?? 'dlp';
    if (!report) {
      refuseSocket(client, code, id, { extra: { findings: [...new Set(scan.findings.map((f) => f.type))] } });
      return rec('block', code, { findings: scan.findings });
    }
    wouldHave('block', code);
  }
  // The handshake goes upstream as a request head: counted as one is (forward-http.ts), in
  // bytes_up once written, and in the upload budget now.
  const upstreamHead = `${req.method} ${path} HTTP/1.1\r\n${upstreamHandshakeHeaders(req.headers, hostHeader, id).join('\r\n')}\r\n\r\n`;
  const headBudget = core.countUpload(identity, profile, upstreamHead.length, { host, path: pathOnly }, id);
  if (!headBudget.withinBudget) {
    if (!report) {
      refuseSocket(client, 'upload_budget', id, { retryAfterSeconds: headBudget.retryAfterSeconds });
      return rec('block', 'upload_budget', { rule: profileLimitRule(profile, 'upload_budget') ?? d.ruleId });
    }
    wouldHave('block', 'upload_budget');
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
  let reason: string = 'allowlisted';
  let decision: 'allow' | 'redact' | 'block' = 'allow';
  const findings = new FindingTally();
  findings.add(scan.findings, 'message'); // the handshake's (query, header:…), logged ones included
  let done = false;
  let closing = false; // refused: close frames sent, waiting for the sockets to close
  let detail: string | null = null;
  let refusedBy: string | null = null; // the config key that refused, when not the allow entry (a limit)
  let reserved = 0; // bytes of an unfinished message held against the global inspection cap
  const finish = (status: number): void => {
    if (done) return;
    done = true;
    client.destroy();
    up.destroy();
    core.inspectBudget.release(reserved);
    reserved = 0;
    const outcome = report && wouldBe ? { decision: wouldBe.decision, reason: wouldBe.reason, mode: 'report' as const } : { decision, reason };
    rec(outcome.decision, outcome.reason, {
      rule: refusedBy ?? d.ruleId, dest_ip: dial.dialHost, bytes_up: bytesUp, bytes_down: bytesDown, status,
      ...(findings.size ? { findings: findings.list() } : {}), ...('mode' in outcome ? { mode: outcome.mode } : {}),
      ...(detail ? { detail: { error: detail } } : {}),
    });
  };
  // Warden's own close frame reaches the client only between two upstream frames; else the connection just drops.
  const downstream = new WsFrameBoundary();
  // Refusing closes both sides with a close frame and waits (briefly) for them to go out.
  const refuse = (closeCode: number, code: RefusalCode, why: string | null = null): void => {
    if (done || closing) return;
    closing = true;
    decision = 'block';
    reason = code;
    detail = why;
    refusedBy = profileLimitRule(profile, code);
    client.pause();
    up.pause();
    if (!up.destroyed && up.writable) up.end(clientClose(closeCode, ''));
    if (downstream.atBoundary && !client.destroyed) client.end(serverClose(closeCode, `egress_blocked: ${code}`));
    else client.destroy();
    setTimeout(() => finish(101), 2000).unref();
  };
  // The messages the client sends are read whole, scanned, and framed again (see ws-frames.ts).
  const reader = new WsClientReader({ maxMessageBytes: profile.dlp.maxInspectBytes });
  const maxBody = profile.limits.maxBodyBytes;
  let oversizeBytes = 0;
  const pending: WsEvent[] = [];
  let busy = false;
  const inspectPayload = (payload: Buffer): InspectResult | Promise<InspectResult> => {
    const ireq = { method: req.method ?? 'GET', url: '/', headers: {}, body: payload, skipHeaders: [] };
    return inspectOffLoop(rt.engine, rt.inspectPool, ireq, profile.dlp, (s) => core.metrics?.dlpScanSeconds.observe(s));
  };
  /** Apply one scan result; returns the payload to forward, or null when the connection is refused. */
  const apply = (r: InspectResult, payload: Buffer, label: string): Buffer | null => {
    findings.add(r.findings, label);
    noteScan(core, r, relabel(r.findings, label), { id, identity: identity!, profile: identity!.profileName, host, port, path: pathOnly, report });
    if (r.decision === 'block') {
      const code: RefusalCode = r.reason ?? 'dlp';
      if (report) {
        wouldHave('block', code);
        return payload;
      }
      refuse(CLOSE.policyViolation, code, r.uninspectableDetail ?? null);
      return null;
    }
    if (r.decision === 'redact') {
      if (report) {
        wouldHave('redact', 'dlp');
        return payload;
      }
      if (decision === 'allow') {
        decision = 'redact';
        reason = 'dlp';
      }
      if (r.body === null) {
        // A redaction that did not produce a message: never forward the original.
        refuse(CLOSE.policyViolation, 'dlp');
        return null;
      }
      return r.body;
    }
    if (r.reason === 'uninspectable' && decision === 'allow') reason = 'uninspectable';
    return payload;
  };
  const handle = (ev: WsEvent): void | Promise<void> => {
    if (ev.kind === 'more') {
      oversizeBytes += ev.payload.length;
      if (maxBody !== null && oversizeBytes > maxBody && !report) return refuse(CLOSE.tooBig, 'body_too_large');
      write(clientFrame(OPCODE.continuation, ev.payload, ev.fin));
      return;
    }
    if (ev.kind === 'oversize') {
      // Larger than the inspection cap: never buffered whole, so never scanned. Refused on the
      // length a frame header declares, before any of that frame is read or anything is sent.
      oversizeBytes = ev.payload.length;
      if (maxBody !== null && ev.declared > maxBody && !report) return refuse(CLOSE.tooBig, 'body_too_large');
      if (profile.dlp.uninspectable === 'block') {
        if (!report) return refuse(CLOSE.tooBig, 'uninspectable', 'message exceeds the inspection cap');
        wouldHave('block', 'uninspectable');
      } else if (decision === 'allow') reason = 'uninspectable';
      write(clientFrame(ev.opcode, ev.payload, false));
      return;
    }
    const label = ev.kind === 'message' ? 'message' : ev.opcode === OPCODE.close ? 'close' : ev.opcode === OPCODE.ping ? 'ping' : 'pong';
    if (ev.payload.length === 0 || (ev.kind === 'control' && ev.opcode === OPCODE.close && ev.payload.length <= 2)) {
      write(clientFrame(ev.opcode, ev.payload));
      return;
    }
    if (maxBody !== null && ev.payload.length > maxBody && !report) return refuse(CLOSE.tooBig, 'body_too_large');
    const send = (r: InspectResult): void => {
      const out = apply(r, ev.payload, label);
      if (out !== null) write(clientFrame(ev.opcode, out));
    };
    const r = inspectPayload(ev.payload);
    if (r instanceof Promise) return r.then(send);
    send(r);
  };
  const write = (frame: Buffer): void => {
    if (!done && !closing && !up.write(frame)) client.pause();
  };
  let clientEnded = false;
  // Bytes held for this connection count against the global inspection cap: the reader's
  // unfinished message, and whole messages queued or being scanned.
  let queued = 0;
  const account = (): boolean => {
    if (done) return true; // finish() gave everything back
    const held = reader.buffered + queued;
    if (held > reserved && !core.inspectBudget.tryReserve(held - reserved)) return false;
    if (held < reserved) core.inspectBudget.release(reserved - held);
    reserved = held;
    return true;
  };
  const drain = (): void => {
    while (!busy && !done && !closing && pending.length) {
      const ev = pending.shift()!;
      let p: void | Promise<void>;
      try {
        p = handle(ev);
      } catch {
        // An exception while inspecting refuses the message, as it refuses a request (fail closed).
        return refuse(CLOSE.policyViolation, 'internal_error', 'inspection failed');
      }
      if (p) {
        busy = true;
        client.pause();
        p.then(
          () => {
            busy = false;
            queued -= ev.payload.length;
            account();
            if (!done && !closing) client.resume();
            drain();
          },
          () => {
            // As in the synchronous case: refuse, never an unhandled rejection.
            busy = false;
            refuse(CLOSE.policyViolation, 'internal_error', 'inspection failed');
          },
        );
        return;
      }
      queued -= ev.payload.length;
    }
    account();
    if (clientEnded && !busy && !done && !closing) up.end();
  };
  const fromClient = (c: Buffer): void => {
    if (done || closing) return;
    bytesUp += c.length;
    const st = core.countUpload(identity!, profile, c.length, { host, path: pathOnly }, id);
    if (!st.withinBudget && !report) return refuse(CLOSE.policyViolation, 'upload_budget');
    let events: WsEvent[];
    try {
      events = reader.push(c);
    } catch (err) {
      if (!(err instanceof WsProtocolError)) throw err;
      return refuse(err.closeCode, 'bad_request', `WebSocket protocol error: ${err.message}`);
    }
    for (const ev of events) {
      queued += ev.payload.length;
      pending.push(ev);
    }
    if (!account()) return refuse(CLOSE.tryAgainLater, 'overloaded');
    drain();
  };
  up.on('error', () => {
    if (bytesDown === 0) {
      reason = 'upstream_error';
      refuseSocket(client, 'upstream_error', id);
    }
    finish(502);
  });
  up.on(scheme === 'https' ? 'secureConnect' : 'connect', () => {
    // latin1: header text is one character per byte, as the client sent it (and as undici writes it).
    up.write(upstreamHead, 'latin1');
    bytesUp += upstreamHead.length;
    up.on('drain', () => {
      if (!busy && !done && !closing) client.resume();
    });
    up.on('data', (c: Buffer) => {
      bytesDown += c.length;
      downstream.push(c);
      if (!client.write(c)) up.pause();
    });
    client.on('drain', () => up.resume());
    up.on('end', () => client.end());
    client.on('end', () => {
      clientEnded = true;
      drain();
    });
    client.on('data', fromClient);
    if (head.length) fromClient(head);
    client.resume();
  });
  client.on('close', () => finish(101));
  up.on('close', () => {
    if (!closing) finish(101);
  });
}
