/**
 * CONNECT host:port: admit, decide and resolve before answering, so a refusal is a plain
 * HTTP status with X-Warden-Reason and never reaches TLS. Then either intercept (MITM, an
 * in-process TLSSocket on this very socket: no second port, no loopback hop) or pass the bytes
 * through after checking that the ClientHello's SNI names the CONNECT host.
 */
import type { IncomingMessage, Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { AuditRecordInput } from '../audit/events.js';
import type { CertCache } from '../tls/cert-cache.js';
import { REFUSALS, WardenError, type RefusalCode } from '../errors.js';
import { decideDestination } from '../policy/decide.js';
import { alertRule } from '../limits/detect.js';
import { profileLimitRule } from '../limits/limiter.js';
import { parseHostPort } from '../policy/host-match.js';
import { parseClientHello, sniFitsConnectHost } from './client-hello.js';
import { baseRecord, hostHoldsFinding, identify, profileOf, requestIdFrom, type ClientIdentity, type ProxyCore, type TunnelInfo } from './context.js';
import { refuseSocket } from './respond.js';
import { splice } from './splice.js';

const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ConnectDeps {
  readonly core: ProxyCore;
  readonly certCache: CertCache;
  /** The in-process HTTP server that decrypted sockets are handed to. */
  readonly mitm: Server;
  readonly tunnels: WeakMap<object, TunnelInfo>;
  readonly openTunnels: Set<Socket>;
  /** Whether the proxy is draining (close()): no new tunnel is opened then. */
  readonly draining: () => boolean;
}

export function handleConnect(deps: ConnectDeps, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const { core } = deps;
  socket.on('error', () => undefined); // clients may vanish at any point; errors are handled where they matter
  socket.setNoDelay(true);
  const startedMs = performance.now();
  const rt = core.runtime();
  const cfg = rt.config;
  const report = cfg.mode === 'report';
  const id = requestIdFrom(req.headers, rt.sensitive);
  core.metrics?.requests.inc({ kind: 'connect' });

  const connectRecord = (identity: ClientIdentity | null, rec: Partial<AuditRecordInput>): void => {
    core.audit.write({ event: 'connect', ...baseRecord(id, identity, identity?.profileName ?? null), method: 'CONNECT', url: req.url ?? '', ...rec });
    if (rec.reason) core.metrics?.decisions.inc({ reason: rec.reason, decision: rec.decision ?? 'allow' });
  };
  const refuse = (identity: ClientIdentity | null, code: RefusalCode, rec: Partial<AuditRecordInput>, retryAfterSeconds?: number): void => {
    refuseSocket(socket, code, id, { retryAfterSeconds });
    // A drain does not wait for the client to close its side: the connection ends once the refusal is out.
    if (code === 'shutting_down') socket.once('finish', () => socket.destroy());
    connectRecord(identity, { decision: 'block', reason: code, ...rec, status: REFUSALS[code].status });
  };

  const who = identify(core, req);
  if (!who.ok) return refuse(null, 'auth_required', {});
  const identity = who.identity;
  const target = parseHostPort(req.url ?? '');
  if (!target) return refuse(identity, 'bad_request', {});
  const { host, port } = target;
  // A CONNECT on a connection kept alive into a drain (shutdown): a tunnel opened now would hold
  // the process until the drain's deadline and then be cut, so none is opened (Envoy's drain
  // likewise closes connections rather than take new streams on them).
  if (deps.draining()) return refuse(identity, 'shutting_down', { host, port });
  const profile = profileOf(rt, identity);
  if (!profile) return refuse(identity, 'not_allowlisted', { host, port });

  const d = decideDestination(profile, host, port);
  let wouldBlock: RefusalCode | null = null;
  if (d.action === 'deny') {
    if (!report) return refuse(identity, d.reason === 'allowlisted' ? 'not_allowlisted' : d.reason, { host, port, rule: d.ruleId });
    wouldBlock = d.reason === 'allowlisted' ? 'not_allowlisted' : d.reason;
  } else if (hostHoldsFinding(rt, d.rule, host, req.url)) {
    // Refused before the name is resolved: the DNS query would carry it.
    if (!report) return refuse(identity, 'dlp', { host, port, rule: d.ruleId, detail: { error: 'the host name holds sensitive data' } });
    wouldBlock = 'dlp';
  }
  // The config key that would refuse, when it is not the allow entry (an alert's quarantine, a limit).
  let wouldRule: string | null = null;
  const q = core.detection.isQuarantined(identity.agentKey);
  if (q) {
    if (!report) return refuse(identity, 'quarantined', { host, port, rule: alertRule(q.rule) });
    if (wouldBlock === null) {
      wouldBlock = 'quarantined';
      wouldRule = alertRule(q.rule);
    }
  }
  // Passthrough tunnels are one "request" for the rate limit; intercepted ones count each request inside.
  const inspect = d.action === 'allow' ? d.inspect : false;
  if (!inspect) {
    const adm = core.limiter.admitRequest(identity.agentKey, profile, d.rule);
    if (!adm.ok) {
      if (!report) return refuse(identity, adm.code, { host, port, rule: adm.rule }, adm.retryAfterSeconds);
      if (wouldBlock === null) {
        wouldBlock = adm.code;
        wouldRule = adm.rule;
      }
    }
  }
  // In report mode a CONNECT refused anyway (the name does not resolve, a private address) is
  // recorded with the verdict enforce mode would have given first, the refusal in `detail`.
  const asReported = (code: RefusalCode): Partial<AuditRecordInput> =>
    wouldBlock === null ? {} : { reason: wouldBlock, mode: 'report', detail: { refused: code } };

  const work = (async () => {
    let resolved;
    try {
      resolved = await rt.resolver.resolve(host, port);
    } catch (err) {
      const code = err instanceof WardenError ? err.code : 'dns_error';
      return refuse(identity, code, { host, port, rule: wouldRule ?? d.ruleId, ...asReported(code) });
    }
    if (socket.destroyed) return;
    // The drain began while the name was being resolved.
    if (deps.draining()) return refuse(identity, 'shutting_down', { host, port, dest_ip: resolved.dialHost, rule: wouldRule ?? d.ruleId });
    connectRecord(identity, {
      host, port, dest_ip: resolved.dialHost, decision: wouldBlock ? 'block' : 'allow', reason: wouldBlock ?? 'allowlisted',
      rule: wouldRule ?? d.ruleId, status: 200, ...(wouldBlock ? { mode: 'report' as const } : {}),
      detail: { inspect },
    });
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    const tunnel: TunnelInfo = { id, host, port, identity, sni: null, scheme: 'https', wouldBlock, rule: wouldRule ?? d.ruleId };
    if (inspect) intercept(deps, socket, tunnel, startedMs);
    else passthrough(deps, socket, tunnel, resolved.dialHost, resolved.dialPort, startedMs);
  })();
  void core.track(work).catch((err: unknown) => {
    core.log.error({ err: { message: (err as Error).message }, id }, 'internal error in CONNECT');
    socket.destroy();
  });
}

/**
 * Look at the first byte the client sends in the tunnel: a TLS handshake record (0x16) is
 * intercepted; anything else is plain HTTP (clients such as undici tunnel http:// through
 * CONNECT too) and goes to the same HTTP server, checked the same way.
 */
function intercept(deps: ConnectDeps, socket: Socket, tunnel: TunnelInfo, startedMs: number): void {
  const timer = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('readable', () => {
    clearTimeout(timer);
    const first = socket.read(1) as Buffer | null;
    if (!first) return void socket.destroy();
    socket.unshift(first);
    if (first[0] === 0x16) return interceptTls(deps, socket, tunnel, startedMs);
    deps.tunnels.set(socket, { ...tunnel, scheme: 'http' });
    deps.mitm.emit('connection', socket);
  });
}

/**
 * Terminate the client's TLS on this socket and hand the decrypted stream to the MITM HTTP server.
 * The leaf always names the CONNECT host: a ClientHello without SNI gets it too, and a client
 * that asks for another name fails its own verification (no fronting through us). A leaf not yet
 * cached is minted in a later loop turn (CertCache.contextFor); the ClientHello waits in the
 * socket meanwhile.
 */
function interceptTls(deps: ConnectDeps, socket: Socket, tunnel: TunnelInfo, startedMs: number): void {
  // Until the TLSSocket takes over (and sets its own), a client that never gets its leaf is
  // closed by this timer.
  const waiting = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
  waiting.unref();
  socket.once('close', () => clearTimeout(waiting));
  deps.certCache.contextFor(tunnel.host, () => !socket.destroyed, (err, context) => {
    clearTimeout(waiting);
    if (socket.destroyed) return;
    if (err || !context) return cannotIntercept(deps, socket, tunnel, err ?? new Error('no certificate context'));
    startTls(deps, socket, tunnel, startedMs, context);
  });
}

function cannotIntercept(deps: ConnectDeps, socket: Socket, tunnel: TunnelInfo, err: Error): void {
  deps.core.log.error({ err: { message: err.message }, id: tunnel.id }, 'cannot set up TLS interception');
  socket.destroy();
}

function startTls(deps: ConnectDeps, socket: Socket, tunnel: TunnelInfo, startedMs: number, secureContext: SecureContext): void {
  const { core } = deps;
  let tlsSocket: TLSSocket;
  try {
    tlsSocket = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
  } catch (err) {
    cannotIntercept(deps, socket, tunnel, err as Error);
    return;
  }
  let secure = false;
  const timer = setTimeout(() => {
    if (!secure) tlsSocket.destroy();
  }, HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  tlsSocket.on('error', (err: Error & { code?: string }) => {
    if (!secure) {
      core.metrics?.tlsHandshakeFailures.inc({ side: 'client' });
      core.audit.write({
        event: 'tunnel_close', ...baseRecord(tunnel.id, tunnel.identity, tunnel.identity.profileName),
        host: tunnel.host, port: tunnel.port, decision: 'block', reason: 'bad_request',
        duration_ms: Math.round(performance.now() - startedMs),
        detail: { error: 'client TLS handshake failed', code: err.code ?? 'tls_error' },
      });
    }
    tlsSocket.destroy();
  });
  tlsSocket.on('secure', () => {
    secure = true;
    clearTimeout(timer);
    tlsSocket.setNoDelay(true);
    const sni = (tlsSocket as TLSSocket & { servername?: string | false }).servername || null;
    deps.tunnels.set(tlsSocket, { ...tunnel, sni });
    deps.mitm.emit('connection', tlsSocket);
  });
}

/** Check the SNI, then splice bytes both ways, counting them against the upload budget. */
function passthrough(deps: ConnectDeps, client: Socket, tunnel: TunnelInfo, dialHost: string, dialPort: number, startedMs: number): void {
  const { core } = deps;
  const rt = core.runtime();
  const report = rt.config.mode === 'report';
  const profile = profileOf(rt, tunnel.identity);
  let bytesUp = 0;
  let bytesDown = 0;
  // In report mode the record of the tunnel's end repeats the verdict of its CONNECT record.
  let closeReason: RefusalCode | 'allowlisted' = tunnel.wouldBlock ?? 'allowlisted';
  let closeDecision: 'allow' | 'block' = tunnel.wouldBlock ? 'block' : 'allow';
  let closed = false;
  let upstream: Socket | null = null;
  const finish = (detail?: Record<string, string | number | boolean | null>): void => {
    if (closed) return;
    closed = true;
    deps.openTunnels.delete(client);
    core.metrics?.activeTunnels.dec();
    client.destroy();
    upstream?.destroy();
    core.audit.write({
      event: 'tunnel_close', ...baseRecord(tunnel.id, tunnel.identity, tunnel.identity.profileName),
      host: tunnel.host, port: tunnel.port, dest_ip: dialHost, decision: closeDecision, reason: closeReason,
      rule: (closeReason !== 'allowlisted' && profile ? profileLimitRule(profile, closeReason) : null) ?? tunnel.rule ?? null,
      bytes_up: bytesUp, bytes_down: bytesDown, duration_ms: Math.round(performance.now() - startedMs),
      ...(report && closeDecision === 'block' ? { mode: 'report' as const } : {}), ...(detail ? { detail } : {}),
    });
  };
  deps.openTunnels.add(client);
  core.metrics?.activeTunnels.inc();
  client.setTimeout(rt.config.server.idleTimeoutMs, () => finish({ error: 'idle timeout' }));

  const hello: Buffer[] = [];
  let helloBytes = 0;
  const timer = setTimeout(() => finish({ error: 'no TLS ClientHello in time' }), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  // The CONNECT socket allows half-open connections: a client that ends before its ClientHello
  // would otherwise hold the tunnel (and its record) until the timer.
  const onEndBeforeHello = (): void => finish({ error: 'client closed before a TLS ClientHello' });
  const onHello = (chunk: Buffer): void => {
    hello.push(chunk);
    helloBytes += chunk.length;
    const r = parseClientHello(hello.length === 1 ? hello[0]! : Buffer.concat(hello, helloBytes));
    if (r.kind === 'need_more') return;
    client.off('data', onHello);
    client.off('end', onEndBeforeHello);
    client.pause();
    clearTimeout(timer);
    if (r.kind === 'not_tls' || !sniFitsConnectHost(r.sni, tunnel.host)) {
      if (closeDecision !== 'block' || r.kind === 'not_tls') closeReason = r.kind === 'not_tls' ? 'bad_request' : 'sni_mismatch';
      closeDecision = 'block';
      if (!report || r.kind === 'not_tls') return finish({ error: r.kind === 'not_tls' ? 'not a TLS ClientHello' : 'SNI does not fit the CONNECT host' });
    }
    connectUpstream(Buffer.concat(hello, helloBytes));
  };
  client.on('data', onHello);
  client.once('end', onEndBeforeHello);
  client.on('close', () => finish());

  const connectUpstream = (first: Buffer): void => {
    const up = netConnect({ host: dialHost, port: dialPort });
    upstream = up;
    up.setNoDelay(true);
    up.setTimeout(rt.config.upstream.connectTimeoutMs, () => {
      if (up.connecting) {
        closeReason = 'upstream_timeout';
        finish({ error: 'upstream connect timeout' });
      }
    });
    up.on('error', (err: Error & { code?: string }) => {
      if (closeReason === 'allowlisted') closeReason = 'upstream_error';
      finish({ error: err.code ?? 'upstream error' });
    });
    up.on('close', () => finish());
    up.on('connect', () => {
      up.setTimeout(0);
      const count = (n: number): boolean => {
        bytesUp += n;
        if (!profile) return true;
        const st = core.countUpload(tunnel.identity, profile, n, { host: tunnel.host }, tunnel.id);
        if (!st.withinBudget) {
          if (closeDecision !== 'block') closeReason = 'upload_budget';
          closeDecision = 'block';
          if (report) return true;
          finish({ error: 'upload budget exceeded' });
          return false;
        }
        return true;
      };
      if (!count(first.length)) return;
      up.write(first);
      splice(client, up, { onClientBytes: count, onUpstreamBytes: (n) => void (bytesDown += n) });
    });
  };
}
