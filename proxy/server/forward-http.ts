/**
 * One HTTP request, plain (absolute-form) or decrypted inside a MITM tunnel:
 *
 *   admit ──▶ parse ──▶ decide ──▶ resolve ──▶ inspect ──▶ forward ──▶ record
 *   407/429   400       403        403/502     403/413     502/504     (always)
 *
 * Fail closed: an exception before forward becomes `internal_error` (500), audited, never an allow.
 * The response is streamed back chunk by chunk (SSE arrives event by event); nothing is buffered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { AuditFinding, AuditRecordInput, UpstreamTls } from '../audit/events.js';
import { absoluteAuthority } from '../audit/mask-host.js';
import { maskUrl } from '../audit/mask-url.js';
import type { CompiledProfile } from '../config/types.js';
import { REFUSALS, WardenError, type RefusalCode } from '../errors.js';
import type { InspectResult } from '../dlp/types.js';
import { decideRequest, refusedOverride } from '../policy/decide.js';
import { alertRule } from '../limits/detect.js';
import { profileLimitRule } from '../limits/limiter.js';
import { hostHeaderFor, normalizeHost, parseHostPort } from '../policy/host-match.js';
import { upstreamErrorCode, upstreamErrorDetail, type DialTarget } from '../upstream/forward.js';
import { baseRecord, findingsInUrl, hostHoldsFinding, identify, noteScan, profileOf, requestIdFrom, type ClientIdentity, type ProxyCore, type Runtime, type TunnelInfo } from './context.js';
import { inspectOffLoop, type SharedBodyArena } from './inspect-pool.js';
import { endToEndHeaders, hasBody, overrideDetail, rawHeaderNames, refuseResponse, requestHeadBytes } from './respond.js';

interface Target {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** Origin-form path and query. */
  readonly path: string;
  /** The checked authority (hostHeaderFor), never the agent's spelling: forwarded and recorded. */
  readonly hostHeader: string;
}

/** Responses up to this size with a Content-Length are sent in one write (SSE never is). */
const SMALL_RESPONSE_BYTES = 64 * 1024;

/**
 * A large inspected body goes upstream in slices of this size: one write would encrypt all of it
 * in a single event-loop turn (~10 ms per 8 MiB), holding up every other connection.
 */
const WRITE_SLICE_BYTES = 256 * 1024;

/**
 * The slices of a body for the upstream. Slices of shared memory (an arena buffer) are copied
 * out, and the buffer goes back to the arena after the last one: the upstream write then never
 * reads memory that another request may be writing into.
 */
function* upstreamSlices(buf: Buffer, copy: boolean, release: () => void): Generator<Buffer> {
  try {
    for (let at = 0; at < buf.length; at += WRITE_SLICE_BYTES) {
      const part = buf.subarray(at, at + WRITE_SLICE_BYTES);
      yield copy ? Buffer.from(part) : part;
    }
  } finally {
    release();
  }
}

/**
 * A large or arena-backed body as the upstream request's stream. Readable.from pulls the next
 * slice only when the last one has been taken (undici takes one per socket write and pauses when
 * the socket is full), so a slow upstream holds at most about two slices of copies per request.
 */
export function upstreamBodyStream(buf: Buffer, arena: SharedBodyArena | null): Readable {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    arena?.release(buf);
  };
  const stream = Readable.from(upstreamSlices(buf, arena !== null, release));
  // A generator's `finally` runs only once it has started: a stream destroyed before its first
  // read (the upstream connection failed, or the client left while it was made) gives the buffer
  // back here. Once only: by then another request may hold the same buffer.
  stream.once('close', release);
  return stream;
}

/**
 * One AbortController per client connection, aborted when it closes: pipelined requests all
 * wait on the same socket (one listener each would trip Node's leak warning at the eleventh),
 * and a controller per request cost ~4% of a keep-alive GET's CPU (bench (a)).
 */
const leaving = new WeakMap<object, AbortController>();

/**
 * A signal that aborts when the client's connection closes: closed, reset, or half-closed
 * (Node's server ends a half-closed connection, so no answer can reach it). Node gives a
 * response still queued behind a pipelined one no 'close' of its own, so the socket's is
 * watched. A response finished before that has been recorded already, so the connection's
 * signal serves every request on it.
 */
function clientGone(socket: IncomingMessage['socket']): AbortSignal {
  let ac = leaving.get(socket);
  if (!ac) {
    const controller = new AbortController();
    if (socket.destroyed) controller.abort();
    else socket.once('close', () => controller.abort());
    leaving.set(socket, controller);
    ac = controller;
  }
  return ac.signal;
}

/** What a record says of a client that left before the answer (status 499, as nginx logs it). */
const CLIENT_CLOSED = 499;

type BodyRead =
  | { kind: 'ok'; body: Buffer }
  | { kind: 'too_large' }
  | { kind: 'overloaded' }
  | { kind: 'over_inspect'; head: Buffer[]; headBytes: number }
  | { kind: 'aborted' };

/** Parse the request target: absolute-form for plain proxying, origin-form + Host inside a tunnel. */
function parseTarget(req: IncomingMessage, tunnel: TunnelInfo | null): Target | WardenError {
  const raw = req.url ?? '';
  // RFC 9112 §3.2 has no fragment in a request target. Node's parser lets one through, and it
  // would go upstream in the request line: text outside the path and query that DLP reads.
  if (raw.includes('#')) return new WardenError('bad_request', 'a fragment (#) is not allowed in a request target');
  if (tunnel) {
    let path = raw;
    let authority = req.headers.host ?? '';
    if (!raw.startsWith('/')) {
      // absolute-form inside a tunnel is legal (RFC 9112 §3.2.2); its authority must match too
      try {
        const u = new URL(raw);
        authority = u.host;
        path = u.pathname + u.search;
      } catch {
        return new WardenError('bad_request', 'invalid request target');
      }
    }
    const hp = parseHostPort(authority, tunnel.port);
    if (!hp || hp.host !== tunnel.host || hp.port !== tunnel.port) return new WardenError('host_mismatch');
    return { scheme: tunnel.scheme, host: tunnel.host, port: tunnel.port, path, hostHeader: hostHeaderFor(tunnel.scheme, tunnel.host, tunnel.port) };
    // (Host is checked before anything else: no pivoting to another host through an allowed tunnel.)
  }
  if (!/^http:\/\//i.test(raw)) {
    return new WardenError('bad_request', /^https:/i.test(raw) ? 'use CONNECT for https' : 'send an absolute-form http:// URL');
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return new WardenError('bad_request', 'invalid URL');
  }
  const n = normalizeHost(u.hostname);
  if (!n || u.username || u.password) return new WardenError('bad_request', 'invalid host');
  const port = u.port ? Number(u.port) : 80;
  return { scheme: 'http', host: n.host, port, path: (u.pathname || '/') + u.search, hostHeader: hostHeaderFor('http', n.host, port) };
}

/**
 * Read the body under the caps. Never buffers past maxBody or the inspection cap. Uses listeners,
 * not `for await`: leaving an async iterator early destroys the stream, and past the inspection
 * cap the rest of the body must stay readable (paused) for streaming upstream.
 */
function readBody(core: ProxyCore, rt: Runtime, req: IncomingMessage, maxBody: number | null, maxInspect: number): Promise<BodyRead & { reserved: number }> {
  // A body whose declared length fits the caps is copied into one buffer as it arrives (the
  // parser delivers no more than Content-Length): into shared memory when a worker will inspect
  // it, so it needs no copy there. The buffer is taken at the second chunk, so a client that
  // declares a length and sends nothing holds none; the budget counts only the bytes received.
  const declared = Number(req.headers['content-length']);
  const whole = Number.isSafeInteger(declared) && declared > 0 && declared <= maxInspect && (maxBody === null || declared <= maxBody) ? declared : 0;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let into: Buffer | null = null;
    let total = 0;
    let reserved = 0;
    let settled = false;
    const done = (r: BodyRead): void => {
      if (settled) return;
      settled = true;
      if (r.kind !== 'ok' && into) core.sharedBodies.release(into);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve({ ...r, reserved });
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (maxBody !== null && total > maxBody) return done({ kind: 'too_large' });
      if (!core.inspectBudget.tryReserve(chunk.length)) return done({ kind: 'overloaded' });
      reserved += chunk.length;
      if (into && total <= into.length) {
        into.set(chunk, total - chunk.length);
        return;
      }
      if (into) {
        // More than declared (the parser prevents this): fall back to the list.
        chunks.push(into.subarray(0, total - chunk.length));
        into = null;
      }
      if (whole && chunks.length === 1 && total <= whole) {
        // A body an inspection worker will read goes straight into memory it can share.
        into = rt.inspectPool?.wants(whole) ? core.sharedBodies.acquire(whole) : Buffer.allocUnsafe(whole);
        into.set(chunks[0]!, 0);
        into.set(chunk, total - chunk.length);
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
      if (total > maxInspect) {
        req.pause();
        done({ kind: 'over_inspect', head: chunks, headBytes: total });
      }
    };
    const onEnd = (): void => {
      if (!req.complete) return done({ kind: 'aborted' });
      const body = into ? into.subarray(0, total) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      done({ kind: 'ok', body });
    };
    const onAbort = (): void => done({ kind: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) done({ kind: 'aborted' });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

export async function handleHttpRequest(core: ProxyCore, req: IncomingMessage, res: ServerResponse, tunnel: TunnelInfo | null): Promise<void> {
  const startedMs = performance.now();
  const rt = core.runtime(); // in-flight requests keep the runtime they started with
  const cfg = rt.config;
  const report = cfg.mode === 'report';
  const id = requestIdFrom(req.headers, rt.sensitive);
  const method = req.method ?? 'GET';
  let identity: ClientIdentity | null = tunnel?.identity ?? null;
  let profile: CompiledProfile | null = null;
  let target: Target | null = null;
  let reserved = 0;
  let shared: Buffer | null = null;
  let bytesUp = 0;
  let bytesDown = 0;
  let findings: readonly AuditFinding[] = [];
  let inspected = false; // the URL went through DLP with the request
  let decision: AuditRecordInput['decision'] = 'allow';
  let reason = 'allowlisted';
  let rule: string | null = null;
  let dialTarget: DialTarget | null = null;
  // Read when the response starts: a long stream may outlive its pool (closed idle or evicted).
  let upstreamTls: UpstreamTls | null = null;
  let wouldBlock: RefusalCode | null = null; // report mode: what enforce would have done
  // Aborts the upstream request when the client leaves: without it a request whose answer was
  // not taken held its upstream socket (and its record) until a timeout, or for ever once paused.
  const gone = clientGone(req.socket);
  core.metrics?.requests.inc({ kind: tunnel ? 'mitm' : 'http' });

  const record = (status: number, extra: Partial<AuditRecordInput> = {}): void => {
    core.audit.write({
      event: 'request',
      ...baseRecord(id, identity, profile?.name ?? identity?.profileName ?? null),
      method,
      // The path and query keys were scanned with the request; scanned again only to star what was found, or when the request was refused before.
      url: maskUrl(target ? `${target.scheme}://${target.hostHeader}${target.path}` : req.url ?? '', !inspected || findingsInUrl(findings) ? rt.sensitive : undefined),
      host: target?.host,
      port: target?.port,
      dest_ip: dialTarget?.dialHost ?? null,
      tls: upstreamTls ?? (dialTarget && dialTarget.scheme === 'https' ? rt.upstream.certFor(dialTarget) : null),
      decision,
      reason,
      rule,
      findings: findings.length ? findings : undefined,
      bytes_up: bytesUp,
      bytes_down: bytesDown,
      status,
      duration_ms: Math.round((performance.now() - startedMs) * 100) / 100,
      ...(report && wouldBlock ? { mode: 'report' as const } : {}),
      ...extra,
    });
    core.metrics?.decisions.inc({ reason, decision: decision ?? 'allow' });
  };

  /** Refuse (enforce) or note and continue (report). Returns true when the request must stop. */
  // `rule`: the config key that refused, when it is not the allow entry (an entry's own rate, an
  // alert's quarantine); a profile limit's is found from the code.
  const refuse = (code: RefusalCode, o: { retryAfterSeconds?: number; extra?: Record<string, unknown>; close?: boolean; force?: boolean; rule?: string } = {}): boolean => {
    const refusedBy = o.rule ?? (profile === null ? null : profileLimitRule(profile, code));
    if (report && !o.force) {
      // Record what enforce mode would have done: it stops at the first refusal, so that one wins.
      if (wouldBlock === null) {
        wouldBlock = code;
        decision = 'block';
        reason = code;
        rule = refusedBy ?? rule;
      }
      return false;
    }
    decision = 'block';
    reason = code;
    rule = refusedBy ?? rule;
    refuseResponse(res, code, id, o);
    // The refusal's own sentence (what was uninspectable, what was malformed) is written by
    // Warden; checked anyway, as everything agent-near that an audit record holds.
    const detail = o.extra?.['detail'];
    record(gone.aborted ? CLIENT_CLOSED : res.statusCode, typeof detail === 'string' ? { detail: { error: rt.sensitive(detail) ? 'withheld: it holds a sensitive value' : detail } } : {});
    return true;
  };

  /**
   * A refusal counts against the profile's request rate too, or an agent could send refused
   * requests (a denied path, another Host) without end, each an audit record (red team, session
   * 14: 20,000 records in 2.8 s under `10 per 1m`). Past the rate, the refusal is `rate_limited`
   * and the connection is closed, which ends a pipelined flood. True when that refused it.
   */
  const overRate = (): boolean => {
    const p = profile ?? (identity ? profileOf(rt, identity) : null);
    if (!identity || !p) return false;
    const adm = core.limiter.admitRequest(identity.agentKey, p, null);
    return !adm.ok && adm.code === 'rate_limited' && refuse('rate_limited', { rule: adm.rule, retryAfterSeconds: adm.retryAfterSeconds, close: true });
  };

  try {
    // admit (plain requests carry their own credentials; tunnelled ones were admitted at CONNECT)
    if (!identity) {
      const who = identify(core, req);
      if (!who.ok) {
        refuse('auth_required', { force: true });
        return;
      }
      identity = who.identity;
    }
    // parse
    const t = parseTarget(req, tunnel);
    if (t instanceof WardenError) {
      // Even in report mode: a request whose Host differs from the tunnel's cannot be sent
      // anywhere without either pivoting or misdelivering it.
      if (overRate()) return;
      refuse(t.code, { force: true, ...(t.message !== REFUSALS[t.code].message ? { extra: { detail: t.message } } : {}) });
      return;
    }
    target = t;
    // Node's parser undoes `chunked` only: with `gzip, chunked` (or deflate, …) the body arrives
    // still compressed, where no pattern can see into it, and would go upstream that way.
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
      refuse('bad_request', { force: true, close: true, extra: { detail: 'only Transfer-Encoding: chunked is accepted' } });
      return;
    }
    profile = profileOf(rt, identity);
    if (!profile) {
      refuse('not_allowlisted', { force: true });
      return;
    }
    // decide
    const pathOnly = target.path.split('?', 1)[0] ?? '/';
    const d = decideRequest(profile, target.host, target.port, method, pathOnly);
    rule = d.ruleId;
    if (d.action === 'deny' && (overRate() || refuse(d.reason === 'allowlisted' ? 'not_allowlisted' : d.reason))) return;
    // The method or path an upstream honouring an override header would act on must be allowed too.
    const alt = d.action === 'allow' ? refusedOverride(profile, target.host, target.port, req.headers, method, pathOnly) : null;
    if (alt && (overRate() || refuse(alt.reason, { extra: { detail: overrideDetail(alt.header) } }))) return;
    // Plain http://: the authority as written too (inside a tunnel, CONNECT checked it).
    const rawAuthority = tunnel ? undefined : absoluteAuthority(req.url ?? '');
    if (hostHoldsFinding(rt, d.rule, target.host, rawAuthority) && (overRate() || refuse('dlp', { extra: { detail: 'the host name holds sensitive data' } }))) return;
    const q = core.detection.isQuarantined(identity.agentKey);
    if (q && (overRate() || refuse('quarantined', { rule: alertRule(q.rule), extra: { until: new Date(q.untilMs).toISOString() } }))) return;
    const adm = core.limiter.admitRequest(identity.agentKey, profile, d.rule);
    if (!adm.ok && refuse(adm.code, { rule: adm.rule, retryAfterSeconds: adm.retryAfterSeconds })) return;
    core.observe({ kind: 'request', host: target.host, path: pathOnly }, id, identity);

    // limits on the declared body
    const cl = req.headers['content-length'];
    const declared = cl === undefined ? null : Number(cl);
    const size = core.limiter.checkBodySize(profile, declared);
    if (!size.ok && refuse('body_too_large', { close: true })) return;

    // resolve
    try {
      const r = await rt.resolver.resolve(target.host, target.port);
      dialTarget = { scheme: target.scheme, host: target.host, port: target.port, dialHost: r.dialHost, dialPort: r.dialPort };
    } catch (err) {
      const code = err instanceof WardenError ? err.code : 'dns_error';
      refuse(code, { force: true });
      return;
    }

    // inspect
    let body: Buffer | null = null;
    let bodyStream: Readable | null = null;
    const headers = endToEndHeaders(req.headers, ['host', 'expect', 'content-length']);
    let path = target.path;
    // Headers and query are scanned on every request; the body when there is one.
    let read: (BodyRead & { reserved: number }) | null = null;
    if (hasBody(req)) {
      read = await readBody(core, rt, req, report ? null : profile.limits.maxBodyBytes, profile.dlp.maxInspectBytes);
      reserved = read.reserved;
      if (read.kind === 'aborted') {
        decision = 'block';
        reason = 'bad_request';
        record(499, { detail: { error: 'client aborted the request body' } });
        return;
      }
      // Past these caps nothing was kept, so even report mode cannot forward the body.
      if (read.kind === 'too_large') return void refuse('body_too_large', { close: true, force: true });
      if (read.kind === 'overloaded') return void refuse('overloaded', { retryAfterSeconds: 1, close: true, force: true });
    }
    // A body read into the arena goes back to it once nothing reads it (see upstreamSlices).
    if (read?.kind === 'ok' && read.body.buffer instanceof SharedArrayBuffer) shared = read.body;
    const inspectBody = read?.kind === 'ok' ? read.body : Buffer.alloc(0);
    const inspectReq = { method, url: target.path, headers: req.headers, body: inspectBody, skipHeaders: d.rule?.credentialHeaders ?? [], rawHeaderNames: rawHeaderNames(req) };
    // Large bodies, and smaller ones that prove costly, off the event loop (inspect-pool.ts); the
    // pool reports its own scan and wait times.
    let result: InspectResult = await inspectOffLoop(rt.engine, rt.inspectPool, inspectReq, profile.dlp, (s) => core.metrics?.dlpScanSeconds.observe(s));
    if (read?.kind === 'over_inspect') {
      // The body is larger than the inspection cap: the headers/query were scanned, the body cannot be.
      result = profile.dlp.uninspectable === 'allow'
        ? { ...result, reason: result.reason ?? 'uninspectable', uninspectableDetail: 'body exceeds the inspection cap' }
        : { ...result, decision: 'block', reason: 'uninspectable', uninspectableDetail: 'body exceeds the inspection cap' };
    }
    findings = result.findings;
    inspected = true;
    noteScan(core, result, findings, { id, identity, profile: profile.name, host: target.host, port: target.port, path: pathOnly, report });
    if (result.decision === 'block') {
      const code: RefusalCode = result.reason ?? 'dlp';
      // Name the types that blocked; a bulk-PII block has only redact-level findings, so then name them all.
      const blocking = findings.filter((f) => f.action === 'block');
      const types = [...new Set((blocking.length ? blocking : findings).map((f) => f.type))];
      if (refuse(code, { extra: { findings: types, ...(result.uninspectableDetail ? { detail: result.uninspectableDetail } : {}) }, close: read?.kind === 'over_inspect' })) return;
    } else if (result.decision === 'redact') {
      if (report) {
        if (wouldBlock === null) {
          wouldBlock = 'dlp';
          decision = 'redact';
          reason = 'dlp';
        }
      } else {
        decision = 'redact';
        reason = 'dlp';
        if (result.body) body = result.body;
        if (result.url) path = result.url;
        if (result.headers) {
          for (const [k, v] of Object.entries(result.headers)) {
            if (v === null) delete headers[k];
            else headers[k] = v;
          }
        }
      }
    } else if (result.reason === 'uninspectable' && wouldBlock === null) {
      reason = 'uninspectable';
    }
    if (read?.kind === 'ok' && body === null) body = read.body;
    if (read?.kind === 'over_inspect') {
      // Streamed past the inspection cap (uninspectable: allow): still capped, still counted.
      const who = identity;
      const prof = profile;
      const where = { host: target.host, path: pathOnly };
      bodyStream = Readable.from(concatStream(read.head, req, report ? null : prof.limits.maxBodyBytes, read.headBytes, (n) => {
        bytesUp += n;
        return core.countUpload(who, prof, n, where, id).withinBudget || report;
      }));
    }
    if (body) {
      headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
    }
    if (bodyStream) delete headers['content-length'];
    headers['host'] = target.hostHeader;
    headers['x-request-id'] = id;

    // budget: count what goes upstream, the head as well as the body (a body streamed past the
    // inspection cap is counted chunk by chunk as it goes)
    const upNow = requestHeadBytes(method, path, headers) + (body?.length ?? 0);
    bytesUp += upNow;
    const up = core.countUpload(identity, profile, upNow, { host: target.host, path: pathOnly }, id);
    if (!up.withinBudget && refuse('upload_budget', { retryAfterSeconds: up.retryAfterSeconds })) return;
    if (reserved) {
      core.inspectBudget.release(reserved);
      reserved = 0;
    }

    // forward
    if (gone.aborted) {
      // Left while the request was read, resolved or inspected: nothing goes upstream.
      bytesUp = 0;
      record(CLIENT_CLOSED, { detail: { error: 'client closed before the request was sent' } });
      return;
    }
    let upstreamBody: Readable | null = null;
    if (body && (body === shared || body.length > WRITE_SLICE_BYTES)) {
      const fromArena = body === shared;
      upstreamBody = upstreamBodyStream(body, fromArena ? core.sharedBodies : null);
      if (fromArena) shared = null; // released by upstreamSlices once it is copied out
    }
    const pool = rt.upstream.pool(dialTarget);
    let upstreamRes;
    try {
      upstreamRes = await pool.request({
        method,
        path,
        headers,
        body: bodyStream ?? upstreamBody ?? body ?? (hasBody(req) ? Buffer.alloc(0) : null),
        signal: gone,
      });
    } catch (err) {
      if (gone.aborted) {
        // The request was sent (or was being sent); the decision stands, no answer was given.
        record(CLIENT_CLOSED, { detail: { error: 'client closed before the response' } });
        return;
      }
      const code = upstreamErrorCode(err);
      core.metrics?.upstreamErrors.inc({ code });
      if (code === 'upstream_tls') core.metrics?.tlsHandshakeFailures.inc({ side: 'upstream' });
      decision = 'block';
      reason = code;
      // A limit crossed while the body streamed (concatStream) refused it, not the allow entry.
      rule = profileLimitRule(profile, code) ?? rule;
      refuseResponse(res, code, id);
      record(res.statusCode, { detail: { error: upstreamErrorDetail(err) } });
      return;
    }
    if (dialTarget.scheme === 'https') upstreamTls = rt.upstream.certFor(dialTarget);
    const outHeaders = endToEndHeaders(upstreamRes.headers as Record<string, string | string[]>);
    const status = upstreamRes.statusCode;
    const down = upstreamRes.body;
    const declaredDown = Number(upstreamRes.headers['content-length'] ?? NaN);
    const contentType = String(upstreamRes.headers['content-type'] ?? '');
    if (declaredDown <= SMALL_RESPONSE_BYTES && !contentType.startsWith('text/event-stream')) {
      // A small body of known length: send headers and body in one write (one TLS record,
      // one syscall) instead of three. It is already on its way, so nothing waits on it.
      try {
        const buf = Buffer.from(await down.arrayBuffer());
        bytesDown = buf.length;
        if (gone.aborted) {
          record(CLIENT_CLOSED, { detail: { error: 'client closed before the response' } });
          return;
        }
        res.writeHead(status, outHeaders);
        res.end(buf);
      } catch (err) {
        if (gone.aborted) {
          record(CLIENT_CLOSED, { detail: { error: 'client closed before the response' } });
          return;
        }
        if (!res.headersSent) refuseResponse(res, upstreamErrorCode(err), id);
        else res.destroy();
        record(status, { detail: { error: upstreamErrorDetail(err) } });
        return;
      }
      record(status);
      return;
    }
    if (gone.aborted) {
      down.destroy(); // unread: undici closes the upstream connection rather than pool it
      record(CLIENT_CLOSED, { detail: { error: 'client closed before the response' } });
      return;
    }
    // Streaming (SSE, chunked, large): headers now, then each chunk as it arrives, never buffered.
    res.writeHead(status, outHeaders);
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      let done = false;
      // A client that stops reading would hold the upstream (paused) for ever: past
      // server.idle_timeout without a drain, the answer is cut.
      let stalled: NodeJS.Timeout | null = null;
      const onGone = (): void => finish('client closed');
      const finish = (error: string | null): void => {
        if (done) return;
        done = true;
        // The signal is the connection's: its listener goes with this response.
        gone.removeEventListener('abort', onGone);
        if (stalled) clearTimeout(stalled);
        if (error) {
          down.destroy();
          res.destroy();
          record(status, { detail: { error } });
        } else record(status);
        resolve();
      };
      down.on('data', (c: Buffer) => {
        bytesDown += c.length;
        if (!res.write(c)) {
          down.pause();
          stalled ??= setTimeout(() => finish('client stopped reading'), rt.config.server.idleTimeoutMs);
        }
      });
      res.on('drain', () => {
        if (stalled) clearTimeout(stalled);
        stalled = null;
        down.resume();
      });
      down.on('end', () => res.end(() => finish(null)));
      // A client that leaves aborts the upstream body too (its 'error'): that is the client's
      // leaving, not an upstream failure.
      gone.addEventListener('abort', onGone, { once: true });
      down.on('error', (err: Error) => (gone.aborted ? onGone() : finish(upstreamErrorDetail(err))));
      res.on('close', () => {
        if (!res.writableFinished) finish('client closed');
      });
    });
  } catch (err) {
    // fail closed
    core.log.error({ err: { code: (err as { code?: string }).code, name: (err as Error).name, message: (err as Error).message }, id }, 'internal error while handling a request');
    decision = 'block';
    reason = 'internal_error';
    if (!res.headersSent) refuseResponse(res, 'internal_error', id);
    else res.destroy();
    record(500);
  } finally {
    if (reserved) core.inspectBudget.release(reserved);
    if (shared) core.sharedBodies.release(shared); // not forwarded as it was: nothing reads it now
  }
}

/**
 * Re-emit the buffered head, then the rest of the request, still under the body cap. Every chunk
 * is offered to `onChunk` (upload budget) before it is sent; false aborts the upstream request.
 */
async function* concatStream(
  head: Buffer[], rest: IncomingMessage, maxBody: number | null, already: number, onChunk: (n: number) => boolean,
): AsyncGenerator<Buffer> {
  for (const c of head) {
    if (!onChunk(c.length)) throw new WardenError('upload_budget');
    yield c;
  }
  let total = already;
  for await (const c of rest as AsyncIterable<Buffer>) {
    total += c.length;
    if (maxBody !== null && total > maxBody) throw new WardenError('body_too_large');
    if (!onChunk(c.length)) throw new WardenError('upload_budget');
    yield c;
  }
}
