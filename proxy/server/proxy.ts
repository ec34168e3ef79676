/**
 * The proxy: one listener for absolute-form HTTP and CONNECT, one in-process HTTP server for
 * decrypted traffic, and the shared state (limits, detection, certificates). The config is
 * one reference to a Runtime, swapped on reload; each request reads it once when it starts
 * and keeps it, so in-flight requests finish under the policy they started with.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Metrics } from '../admin/metrics.js';
import type { AuditWriter } from '../audit/events.js';
import { AuthorityMasker } from '../audit/mask-host.js';
import type { CompiledConfig, CompiledProfile, ServerLimits } from '../config/types.js';
import { compileDetectors, readPackSources } from '../dlp/detectors.js';
import { createDlpEngine } from '../dlp/inspect.js';
import type { DetectorOptions, DlpEngine } from '../dlp/types.js';
import { alertRule, DetectionEngine, type DetectionEvent } from '../limits/detect.js';
import { InspectBudget } from '../limits/inspect-budget.js';
import { Limiter, type UploadStatus } from '../limits/limiter.js';
import { CertCache } from '../tls/cert-cache.js';
import type { CertificateAuthority } from '../tls/ca.js';
import { Upstream } from '../upstream/forward.js';
import { createResolver, type LookupFn } from '../upstream/resolve.js';
import { handleConnect, type ConnectDeps } from './connect.js';
import { HeadMeter } from './head-meter.js';
import { sensitiveSpans, sensitiveTo } from '../dlp/sensitive.js';
import { configuredHosts, type ClientIdentity, type ProxyCore, type Runtime, type TunnelInfo } from './context.js';
import { handleHttpRequest } from './forward-http.js';
import { InspectPool, SharedBodyArena } from './inspect-pool.js';
import { refuseResponse, refuseSocket } from './respond.js';
import { handleUpgrade } from './websocket.js';

/** What the parser raises for a head over maxHeaderSize; raised by the head meter too. */
function headOverflow(): Error & { code: string } {
  return Object.assign(new Error('request head larger than server.max_header_size'), { code: 'HPE_HEADER_OVERFLOW' });
}

export interface ProxyOptions {
  readonly config: CompiledConfig;
  readonly audit: AuditWriter;
  readonly log: Logger;
  readonly ca: CertificateAuthority;
  /** HMAC key for finding fingerprints (kept in ca_dir). */
  readonly fingerprintKey: Buffer;
  readonly metrics?: Metrics | null;
  /** DNS lookup override (tests: rebinding names). */
  readonly lookup?: LookupFn;
  /** Clock for limits and detection (tests). */
  readonly now?: () => number;
}

/** What a config's DLP engine is built from: every pack's text, read once, honeytokens and key. */
function dlpSpec(config: CompiledConfig, fingerprintKey: Buffer): DetectorOptions {
  return { packSources: readPackSources(config.dlp.packFiles), honeytokens: config.honeytokens, fingerprintKey };
}

/** The DLP engine for a config (shipped + custom packs, honeytokens). Throws when a pack fails its examples. */
export function buildDlpEngine(config: CompiledConfig, fingerprintKey: Buffer): DlpEngine {
  return createDlpEngine(compileDetectors(dlpSpec(config, fingerprintKey)));
}

/** Build everything that depends on the config. Throws (e.g. a custom pack failing its examples): the caller keeps the old one. */
export function buildRuntime(
  config: CompiledConfig,
  opts: Pick<ProxyOptions, 'fingerprintKey' | 'lookup'> & { readonly log?: Logger; readonly metrics?: Metrics | null; readonly arena?: SharedBodyArena },
  generation: number,
): Runtime {
  const spec = dlpSpec(config, opts.fingerprintKey);
  const engine = createDlpEngine(compileDetectors(spec));
  const spans = sensitiveSpans(engine.detectors);
  return {
    config,
    engine,
    auditHosts: new AuthorityMasker(spans, configuredHosts(config)),
    sensitive: sensitiveTo(spans),
    // Workers compile the very spec the inline engine was built from (and proven on its examples).
    inspectPool: config.dlp.workers > 0
      ? new InspectPool(spec, config.dlp.workers, {
        ...(opts.arena ? { arena: opts.arena } : {}),
        onFailure: (reason) => opts.log?.error({ generation }, reason),
        onQueue: (n) => opts.metrics?.dlpWorkerJobs.set(n),
        onScan: (scan, wait) => {
          opts.metrics?.dlpScanSeconds.observe(scan);
          opts.metrics?.dlpWorkerWaitSeconds.observe(wait);
        },
      })
      : null,
    resolver: createResolver({
      allowPrivate: config.upstream.allowPrivate,
      connectTo: config.upstream.connectTo,
      ...(opts.lookup ? { lookup: opts.lookup } : {}),
    }),
    upstream: new Upstream(config.upstream),
    generation,
  };
}

export class WardenProxy implements ProxyCore {
  readonly server: Server;
  readonly mitm: Server;
  readonly limiter: Limiter;
  detection: DetectionEngine;
  readonly inspectBudget: InspectBudget;
  readonly sharedBodies: SharedBodyArena;
  readonly certCache: CertCache;
  readonly audit: AuditWriter;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  private current: Runtime;
  private readonly tunnels = new WeakMap<object, TunnelInfo>();
  /** The bytes of each head as received, per HTTP connection on either server (head-meter.ts). */
  private readonly heads = new WeakMap<Duplex, HeadMeter>();
  private readonly openTunnels = new Set<Socket>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Answers not yet closed (whole, or cut), on either server: a drain waits for them too. */
  private readonly responses = new Set<ServerResponse>();
  /** Set by close(): answers from now on end their connection. */
  private draining = false;
  /** close()'s wake-up, called when the last request and answer in flight are done. */
  private onQuiet: (() => void) | null = null;
  private readonly opts: ProxyOptions;

  constructor(opts: ProxyOptions) {
    this.opts = opts;
    // Every record that names a host passes the runtime's masker (audit/mask-host.ts).
    this.audit = { write: (r) => opts.audit.write(this.current.auditHosts.maskRecord(r)) };
    this.log = opts.log;
    this.metrics = opts.metrics ?? null;
    const cfg = opts.config;
    // Kept for reuse: what 4 concurrent 8 MiB bodies need, within the inspection buffer cap.
    this.sharedBodies = new SharedBodyArena(Math.min(32 * 1024 * 1024, cfg.server.maxInspectBufferBytes));
    this.current = buildRuntime(cfg, { ...opts, arena: this.sharedBodies }, 1);
    this.limiter = new Limiter(opts.now ? { now: opts.now } : {});
    this.detection = new DetectionEngine(cfg.alerts, opts.now ? { now: opts.now } : {});
    this.inspectBudget = new InspectBudget(cfg.server.maxInspectBufferBytes);
    this.certCache = new CertCache(opts.ca, {
      max: cfg.server.maxCachedLeaves,
      onMint: () => this.metrics?.leafCerts.inc(),
      onMintQueue: (waiting) => this.metrics?.leafCertsQueued.set(waiting),
      shareSiblings: true,
    });

    const serverOpts = {
      maxHeaderSize: cfg.server.maxHeaderBytes,
      headersTimeout: cfg.server.headersTimeoutMs,
      // How often the listener checks heads against headersTimeout (Node's default, 30 s, let a
      // half head, a pipelined one too, live up to 30 s past it). One call a second walks the
      // connections with a message under way: nothing per request.
      connectionsCheckingInterval: 1_000,
      requestTimeout: 0, // bodies may stream for long (uploads); idle sockets are cut by keepAliveTimeout / socket timeouts
      keepAliveTimeout: cfg.server.keepAliveTimeoutMs,
      noDelay: true,
      // Reject ambiguous framing (CL+TE, duplicate CL): Node's llhttp does so unless insecureHTTPParser is set; never set it.
      insecureHTTPParser: false,
    };
    this.mitm = createServer(serverOpts, (req, res) => this.onRequest(req, res, this.tunnels.get(req.socket) ?? null));
    this.mitm.on('connection', (s: Duplex) => this.meterHeads(s));
    this.mitm.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const t = this.tunnels.get(socket);
      if (!this.headLeavesHttp(req, socket)) return;
      if (!t) socket.destroy();
      else void this.track(handleUpgrade(this, req, socket, head, t));
    });
    this.mitm.on('clientError', (err, socket) => this.onClientError(err, socket));
    // The MITM server never listens: decrypted sockets are handed to it with emit('connection').
    // Node builds an http.Server's connection list on 'listening' (lib/_http_server.js:
    // `this.on('listening', setupConnectionsTracking)`, read in Node 20.20; later versions keep
    // it), and that list is what enforces headersTimeout (each head timed from its first byte, as the parser sees it, a
    // pipelined one too; an idle keep-alive connection left to keepAliveTimeout) and what
    // closeIdleConnections / closeAllConnections walk. Without it, inside tunnels, a half head
    // lived for ever and shutdown closed no decrypted connection. The event is emitted here,
    // before any connection, so every parser joins the list. It starts no socket: `listening`
    // stays false. Tests: mitm-head-timeout, pipelined-head-timeout, keepalive-drain.
    this.mitm.emit('listening');

    this.server = createServer(serverOpts, (req, res) => this.onRequest(req, res, null));
    this.server.maxConnections = cfg.server.maxConnections;
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.headLeavesHttp(req, socket)) handleConnect(this.connectDeps(), req, socket as Socket, head);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.headLeavesHttp(req, socket)) void this.track(handleUpgrade(this, req, socket, head, null));
    });
    this.server.on('clientError', (err, socket) => this.onClientError(err, socket));
    this.server.on('connection', (s: Socket) => {
      this.meterHeads(s);
      this.metrics?.activeConnections.inc();
      s.once('close', () => this.metrics?.activeConnections.dec());
    });
  }

  private connectDeps(): ConnectDeps {
    return { core: this, certCache: this.certCache, mitm: this.mitm, tunnels: this.tunnels, openTunnels: this.openTunnels, draining: () => this.draining };
  }

  runtime(): Runtime {
    return this.current;
  }

  get config(): CompiledConfig {
    return this.current.config;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, tunnel: TunnelInfo | null): void {
    this.watchResponse(req, res);
    if (!this.headFits(req)) {
      if (req.socket.destroyed) return void res.destroy();
      // Answered in order after any pipelined requests before it; the connection ends after it.
      this.log.warn({ code: 'HPE_HEADER_OVERFLOW' }, 'malformed request from client');
      res.shouldKeepAlive = false;
      res.writeHead(431, { 'content-length': '0', 'x-warden-reason': 'bad_request' });
      res.end();
      return;
    }
    void this.track(handleHttpRequest(this, req, res, tunnel)).catch((err: unknown) => {
      this.log.error({ err: { message: (err as Error).message } }, 'unhandled request error');
      if (!res.headersSent) refuseResponse(res, 'internal_error', 'unknown');
    });
  }

  /** Count the bytes of each head on an HTTP connection of either server (head-meter.ts). */
  private meterHeads(socket: Duplex): void {
    this.heads.set(socket, new HeadMeter(socket, {
      maxBytes: () => this.current.config.server.maxHeaderBytes,
      onOverflow: (s) => this.onClientError(headOverflow(), s),
    }));
  }

  /**
   * Hold a completed head to max_header_size as received. False when it is over: the
   * caller answers 431 (or the connection is already cut, when the meter had refused it).
   */
  private headFits(req: IncomingMessage): boolean {
    const meter = this.heads.get(req.socket);
    if (!meter) return true;
    if (meter.overflowed) {
      req.socket.destroy();
      return false;
    }
    return !meter.isOver(meter.headEnded(req));
  }

  /** A CONNECT or upgrade head: held to the limit like a request's, then the connection stops being HTTP. */
  private headLeavesHttp(req: IncomingMessage, socket: Duplex): boolean {
    const fits = this.headFits(req);
    this.heads.get(socket)?.detach();
    this.heads.delete(socket);
    if (fits) return true;
    // Node has taken its listeners off the socket, its error listener too.
    socket.on('error', () => undefined);
    if (!socket.destroyed) this.onClientError(headOverflow(), socket);
    return false;
  }

  /** Malformed HTTP (bad request line, oversized or invalid headers, smuggling shapes): a precise status, then close. */
  private onClientError(err: Error & { code?: string }, socket: Duplex): void {
    const code = err.code ?? '';
    // The connection is refused from here on: its heads are no longer counted (an overflow
    // counted twice, by the parser and the meter, would cut the 431 being written).
    this.heads.get(socket)?.detach();
    // The rest of an oversized head is not read (nor parsed again, which would raise this anew).
    if (code === 'HPE_HEADER_OVERFLOW') socket.pause();
    // A parse error in a body (e.g. a bad chunk size) arrives while a response object exists;
    // answer 400 as long as none of it has been written (node's docs check `_httpMessage` too).
    const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    // The error is in a later, pipelined head when the request being answered came whole: the
    // requests before it are answered first, in order, then the refusal (written at once, it
    // was read as the answer to the first request, which still went upstream, and cut a
    // streamed answer). The parser has stopped: nothing after the bad head is read. A timeout
    // (headers_timeout runs on the bad head) still closes the connection meanwhile.
    if (pending && pending.req.complete && socket.writable && code !== 'ERR_HTTP_REQUEST_TIMEOUT' && code !== 'ECONNRESET') {
      pending.once('close', () => this.onClientError(err, socket));
      return;
    }
    if (!socket.writable || (pending && pending.headersSent)) {
      socket.destroy();
      return;
    }
    this.log.warn({ code }, 'malformed request from client');
    if (code === 'HPE_HEADER_OVERFLOW') {
      // Closed once the answer is out: the rest of the head is not read (head-meter.ts paused it).
      socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\nx-warden-reason: bad_request\r\n\r\n', () => socket.destroy());
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ECONNRESET') {
      socket.destroy();
    } else {
      refuseSocket(socket, 'bad_request', 'none');
    }
  }

  observe(ev: Omit<DetectionEvent, 'agent'>, id: string, identity: ClientIdentity): void {
    for (const a of this.detection.observe({ ...ev, agent: identity.agentKey })) {
      // Under `auth: optional`, an agent that drops its credentials is anonymous, keyed by its
      // address: a quarantine holds there too, or dropping Proxy-Authorization would lift it.
      if (a.quarantineUntilMs !== null && identity.agent !== null) this.detection.extendTo(`ip:${identity.clientIp}`, a.quarantineUntilMs, a.rule);
      this.audit.write({
        event: 'alert', id, agent: identity.agent, profile: identity.profileName, decision: 'alert', reason: a.rule,
        rule: alertRule(a.rule), severity: a.severity,
        detail: { value: a.value, threshold: a.threshold, window_ms: a.windowMs, quarantine_until: a.quarantineUntilMs === null ? null : new Date(a.quarantineUntilMs).toISOString(), agent_key: a.agent },
      });
    }
  }

  countUpload(identity: ClientIdentity, profile: CompiledProfile, bytes: number, where: { host: string; path?: string }, id: string): UploadStatus {
    const status = this.limiter.recordUpload(identity.agentKey, profile, bytes);
    this.observe({ kind: 'upload', bytes, ...where }, id, identity);
    return status;
  }

  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => {
      this.inflight.delete(p);
      this.quietCheck();
    }).catch(() => undefined);
    return p;
  }

  /**
   * Keeps the answer in `responses` until it closes. During a drain, an answer whose head is
   * not yet written says `Connection: close` (Node then ends the connection after it), and a
   * connection left idle by an answer that said keep-alive before the drain began is ended as
   * soon as that answer is done: clients stop reusing connections that are about to be cut.
   */
  private watchResponse(req: IncomingMessage, res: ServerResponse): void {
    if (this.draining) res.shouldKeepAlive = false;
    this.responses.add(res);
    const socket = req.socket as Socket & { _httpMessage?: ServerResponse | null };
    // 'close' follows Node's own 'finish' handler, which has moved the socket on to the next
    // pipelined answer, if any (lib/_http_server.js resOnFinish, Node 20).
    res.once('close', () => {
      this.responses.delete(res);
      if (this.draining && !socket._httpMessage && socket.writable) socket.destroySoon();
      this.quietCheck();
    });
  }

  private quietCheck(): void {
    if (this.onQuiet && this.inflight.size === 0 && this.responses.size === 0) this.onQuiet();
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.current.config.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Swap in a new config. Throws when the runtime cannot be built (the old one stays).
   * Lifts quarantines ("an admin lifts it with SIGHUP/reload").
   */
  reload(config: CompiledConfig): Runtime {
    const next = buildRuntime(config, { ...this.opts, arena: this.sharedBodies }, this.current.generation + 1);
    const old = this.current;
    this.current = next;
    this.applyServerLimits(config.server);
    // Detection starts afresh with the new rules: windows reset and quarantines are lifted
    // ("an admin lifts it with SIGHUP/reload").
    this.detection = new DetectionEngine(config.alerts, this.opts.now ? { now: this.opts.now } : {});
    // Let requests that still hold the old runtime finish on its pools, then close them.
    setTimeout(() => void old.upstream.close(), 60_000).unref();
    old.inspectPool?.retire();
    return next;
  }

  /**
   * The `server` limits a reload can change in place: Node reads `maxConnections` at each
   * accept, `maxHeaderSize` when a connection's parser is set up, `headersTimeout` at each
   * expiry check and `keepAliveTimeout` when a response ends (and starts the idle timer), so
   * new values apply to the next connection, check or response. `max_cached_leaves`
   * sizes the leaf cache once, at start (cli.ts warns when a reload changes it).
   */
  private applyServerLimits(limits: ServerLimits): void {
    this.server.maxConnections = limits.maxConnections;
    for (const s of [this.server, this.mitm]) {
      // Set by the constructor's `maxHeaderSize` option and read back per connection; @types/node omits it.
      (s as typeof s & { maxHeaderSize?: number }).maxHeaderSize = limits.maxHeaderBytes;
      s.headersTimeout = limits.headersTimeoutMs;
      s.keepAliveTimeout = limits.keepAliveTimeoutMs;
    }
    this.inspectBudget.maxBytes = limits.maxInspectBufferBytes;
  }

  /**
   * Stop accepting, let in-flight requests finish up to `drainMs`, then cut what is left.
   * "In flight" is live, not a snapshot: a request that starts during the drain on a connection
   * that was kept alive (on the listener or in a tunnel) is waited for too, and answered with
   * `Connection: close`.
   */
  async close(drainMs = this.current.config.server.drainTimeoutMs): Promise<void> {
    this.draining = true;
    for (const res of this.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    // server.close() closes the listener's idle keep-alive connections; decrypted ones are the
    // MITM server's (its connection list exists since the constructor's 'listening').
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.mitm.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
      timer.unref();
    });
    const quiet = new Promise<void>((resolve) => {
      this.onQuiet = resolve;
      this.quietCheck();
    });
    await Promise.race([quiet, deadline]);
    this.onQuiet = null;
    for (const s of this.openTunnels) s.destroy();
    this.server.closeAllConnections();
    this.mitm.closeAllConnections();
    // Stops the MITM server's head-timeout checks (it has no socket of its own to close).
    this.mitm.close();
    await Promise.race([closed, deadline]);
    clearTimeout(timer);
    await this.current.inspectPool?.close();
    await this.current.upstream.close();
  }
}
